/* The store's behaviour, one set of test functions run against every
 * adapter: SQLite always (a fresh file per test), PostgreSQL when
 * KHAPPY_TEST_PG_URL names a server (a fresh schema per test; see
 * pg-test.sh, which starts a throwaway server and sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage.h"

typedef struct fixture {
    const char *backend; /* "sqlite" or "postgres" */
    char dir[256];       /* temporary folder: database file and blobs */
    char url[1024];
    char schema[64];     /* postgres: the schema made for this test */
    kh_store *store;
    kh_blob_store *blobs;
} fixture;

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void quiet_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* Runs one statement on the admin connection of the PostgreSQL test
 * server (schema set-up only; never with outside input). */
static void pg_admin(const char *sql) {
    PGconn *pg = PQconnectdb(getenv("KHAPPY_TEST_PG_URL"));
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("postgres admin: %s", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("postgres admin: %s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

static int open_store(fixture *f) {
    kh_error err = {0};
    int rc = kh_store_open(f->url, &f->store, &err);
    if (rc != KH_OK)
        fprintf(stderr, "open %s: %s\n", f->backend, err.message);
    return rc;
}

static int setup(void **state, const char *backend) {
    fixture *f = calloc(1, sizeof *f);
    f->backend = backend;
    snprintf(f->dir, sizeof f->dir, "/tmp/khappy-storage-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    if (strcmp(backend, "sqlite") == 0) {
        snprintf(f->url, sizeof f->url, "sqlite://%s/khappy.db", f->dir);
    } else {
        static int counter;
        snprintf(f->schema, sizeof f->schema, "t_%d_%d", (int)getpid(),
                 ++counter);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
        pg_admin(sql);
        const char *base = getenv("KHAPPY_TEST_PG_URL");
        snprintf(f->url, sizeof f->url, "%s%soptions=-csearch_path%%3D%s",
                 base, strchr(base, '?') ? "&" : "?", f->schema);
    }
    char blob_dir[300];
    snprintf(blob_dir, sizeof blob_dir, "%s/blobs", f->dir);
    kh_error err = {0};
    if (open_store(f) != KH_OK ||
        kh_blob_store_open_dir(blob_dir, &f->blobs, &err) != KH_OK)
        return -1;
    *state = f;
    return 0;
}

static int setup_sqlite(void **state) { return setup(state, "sqlite"); }
static int setup_postgres(void **state) { return setup(state, "postgres"); }

static int teardown(void **state) {
    fixture *f = *state;
    kh_store_close(f->store);
    kh_blob_store_close(f->blobs);
    if (f->schema[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", f->schema);
        pg_admin(sql);
    }
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

#define CHECK_OK(call)                                                         \
    do {                                                                       \
        kh_error check_err_ = {0};                                             \
        int check_rc_ = (call);                                                \
        if (check_rc_ != KH_OK)                                                \
            fail_msg("%s -> %s: %s", #call, kh_err_name(check_rc_),           \
                     check_err_.message);                                      \
    } while (0)
/* The call must use `&check_err_` as its kh_error. */
#define E (&check_err_)

static void add_picture(fixture *f, const char *id, int64_t received_at) {
    kh_picture_new pic = {.id = id, .name = "p.jpg",
                          .content_type = "image/jpeg",
                          .received_at_ms = received_at};
    CHECK_OK(kh_store_picture_create(f->store, &pic, NULL, E));
}

static bool add_face(fixture *f, const char *picture, const char *face_id,
                     int index, const char *event) {
    kh_face_new face = {.id = face_id, .picture_id = picture,
                        .face_index = index, .event_id = event,
                        .face = {.box = {10.0f * index, 20, 30, 40},
                                 .score = 0.9f, .detector = "pico"}};
    bool inserted = false;
    CHECK_OK(kh_store_face_add(f->store, &face, NULL, &inserted, E));
    return inserted;
}

static kh_emotion_scores scores_with_top(kh_emotion top, const char *model) {
    kh_emotion_scores s = {0};
    snprintf(s.model, sizeof s.model, "%s", model);
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        s.present[e] = true;
        s.p[e] = e == (int)top ? 0.65f : 0.05f;
    }
    return s;
}

static bool add_scores(fixture *f, const char *picture, const char *face_id,
                       kh_emotion top, const char *event) {
    kh_emotion_scores s = scores_with_top(top, "ferplus");
    kh_emotions_new em = {.picture_id = picture, .face_id = face_id,
                          .scores = &s, .event_id = event};
    bool inserted = false;
    CHECK_OK(kh_store_emotions_add(f->store, &em, &inserted, E));
    return inserted;
}

static kh_picture_record get_picture(fixture *f, const char *id) {
    kh_picture_record p;
    CHECK_OK(kh_store_picture_get(f->store, id, &p, NULL, NULL, E));
    return p;
}

/* ---- tests -------------------------------------------------------------- */

static void migrates_at_open_and_reopening_changes_nothing(void **state) {
    fixture *f = *state;
    int version = 0;
    CHECK_OK(kh_store_schema_version(f->store, &version, E));
    assert_int_equal(version, kh_store_schema_latest());
    assert_string_equal(kh_store_backend(f->store), f->backend);
    add_picture(f, "kept", 1000);

    kh_store_close(f->store);
    f->store = NULL;
    assert_int_equal(open_store(f), KH_OK);
    CHECK_OK(kh_store_schema_version(f->store, &version, E));
    assert_int_equal(version, kh_store_schema_latest());
    assert_int_equal(get_picture(f, "kept").received_at_ms, 1000);
}

static void picture_round_trips_with_sanitised_name(void **state) {
    fixture *f = *state;
    kh_picture_new pic = {.name = "../../etc/sm\x01ile\xff.jpg",
                          .content_type = "image/png",
                          .blob_key = "pictures/ab/c.png", .size_bytes = 1234,
                          .width = 640, .height = 480,
                          .received_at_ms = 1700000000123};
    char id[KH_ID_MAX];
    CHECK_OK(kh_store_picture_create(f->store, &pic, id, E));
    assert_int_equal(strlen(id), 32);
    assert_true(kh_store_id_valid(id));

    kh_picture_record p = get_picture(f, id);
    assert_string_equal(p.id, id);
    assert_string_equal(p.name, "sm_ile_.jpg");
    assert_string_equal(p.content_type, "image/png");
    assert_string_equal(p.blob_key, "pictures/ab/c.png");
    assert_int_equal(p.size_bytes, 1234);
    assert_int_equal(p.width, 640);
    assert_int_equal(p.height, 480);
    assert_int_equal(p.received_at_ms, 1700000000123);
    assert_int_equal(p.status, KH_PICTURE_PENDING);
    assert_string_equal(kh_picture_status_name(p.status), "pending");
    assert_int_equal(p.expected_faces, -1);
    assert_int_equal(p.face_count, 0);

    kh_error err = {0};
    pic.id = id;
    assert_int_equal(kh_store_picture_create(f->store, &pic, NULL, &err),
                     KH_EEXIST);
    assert_int_equal(kh_store_picture_get(f->store, "nope", &p, NULL, NULL,
                                          &err),
                     KH_ENOTFOUND);
}

static void same_face_event_twice_stores_one_face(void **state) {
    fixture *f = *state;
    add_picture(f, "pic", 1);
    assert_true(add_face(f, "pic", "face0", 0, "evt-face-0"));
    assert_false(add_face(f, "pic", "face0", 0, "evt-face-0"));
    /* A second event for the same face of the picture is a repeat too, and
     * answers with the id stored first. */
    kh_face_new again = {.picture_id = "pic", .face_index = 0,
                         .event_id = "evt-face-0-redetected",
                         .face = {.box = {1, 2, 3, 4}, .detector = "pico"}};
    char id[KH_ID_MAX];
    bool inserted = true;
    CHECK_OK(kh_store_face_add(f->store, &again, id, &inserted, E));
    assert_false(inserted);
    assert_string_equal(id, "face0");
    assert_int_equal(get_picture(f, "pic").face_count, 1);
}

static void same_emotion_event_twice_stores_it_once(void **state) {
    fixture *f = *state;
    add_picture(f, "pic", 1);
    add_face(f, "pic", "face0", 0, "evt-face-0");
    assert_true(add_scores(f, "pic", "face0", KH_EMOTION_HAPPINESS, "evt-em-0"));
    kh_picture_record before = get_picture(f, "pic");
    assert_false(add_scores(f, "pic", "face0", KH_EMOTION_HAPPINESS, "evt-em-0"));
    /* A different event with the same model for the face: still a repeat. */
    assert_false(add_scores(f, "pic", "face0", KH_EMOTION_ANGER, "evt-em-1"));
    kh_picture_record after = get_picture(f, "pic");
    assert_int_equal(after.updated_at_ms, before.updated_at_ms);

    kh_face_record face;
    CHECK_OK(kh_store_face_get(f->store, "face0", &face, E));
    assert_int_equal(face.n_models, 1);
    assert_int_equal(face.top_emotion, KH_EMOTION_HAPPINESS);
    kh_store_stats stats;
    CHECK_OK(kh_store_stats_get(f->store, NULL, &stats, E));
    assert_int_equal(stats.faces, 1);
    assert_int_equal(stats.faces_by_emotion[KH_EMOTION_HAPPINESS], 1);
}

static void picture_is_done_when_every_detected_face_has_scores(void **state) {
    fixture *f = *state;
    add_picture(f, "pic", 1);
    CHECK_OK(kh_store_picture_detected(f->store, "pic", 2, 800, 600, E));
    add_face(f, "pic", "f0", 0, "e-f0");
    add_scores(f, "pic", "f0", KH_EMOTION_NEUTRAL, "e-s0");
    assert_int_equal(get_picture(f, "pic").status, KH_PICTURE_PENDING);
    /* Scores before their face: the face's arrival completes the picture. */
    add_scores(f, "pic", "f1", KH_EMOTION_SADNESS, "e-s1");
    assert_int_equal(get_picture(f, "pic").status, KH_PICTURE_PENDING);
    add_face(f, "pic", "f1", 1, "e-f1");
    kh_picture_record p = get_picture(f, "pic");
    assert_int_equal(p.status, KH_PICTURE_DONE);
    assert_int_equal(p.expected_faces, 2);
    assert_int_equal(p.face_count, 2);
    assert_int_equal(p.scored_faces, 2);
    assert_int_equal(p.width, 800);

    kh_face_record face;
    CHECK_OK(kh_store_face_get(f->store, "f1", &face, E));
    assert_int_equal(face.top_emotion, KH_EMOTION_SADNESS);

    /* A repeated detection with another count changes nothing. */
    CHECK_OK(kh_store_picture_detected(f->store, "pic", 5, 0, 0, E));
    assert_int_equal(get_picture(f, "pic").expected_faces, 2);
}

static void picture_without_faces_is_done_at_detection(void **state) {
    fixture *f = *state;
    add_picture(f, "empty", 1);
    CHECK_OK(kh_store_picture_detected(f->store, "empty", 0, 0, 0, E));
    assert_int_equal(get_picture(f, "empty").status, KH_PICTURE_DONE);
}

static void failed_picture_keeps_its_message(void **state) {
    fixture *f = *state;
    add_picture(f, "bad", 1);
    CHECK_OK(kh_store_picture_fail(f->store, "bad", "not a JPEG at byte 0\x01",
                                   E));
    kh_picture_record p = get_picture(f, "bad");
    assert_int_equal(p.status, KH_PICTURE_FAILED);
    assert_string_equal(p.error, "not a JPEG at byte 0_");
    /* A late failure report does not undo done. */
    add_picture(f, "good", 2);
    CHECK_OK(kh_store_picture_detected(f->store, "good", 0, 0, 0, E));
    CHECK_OK(kh_store_picture_fail(f->store, "good", "late", E));
    assert_int_equal(get_picture(f, "good").status, KH_PICTURE_DONE);
    kh_error err = {0};
    assert_int_equal(kh_store_picture_fail(f->store, "unknown", "x", &err),
                     KH_ENOTFOUND);
}

static void pictures_list_newest_first_in_pages(void **state) {
    fixture *f = *state;
    /* Two share a time: the id breaks the tie, and no page repeats or
     * skips one. */
    add_picture(f, "a", 100);
    add_picture(f, "b", 300);
    add_picture(f, "c", 200);
    add_picture(f, "d", 300);
    add_picture(f, "e", 50);
    const char *expected[] = {"d", "b", "c", "a", "e"};
    char cursor[KH_CURSOR_MAX] = "";
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        kh_picture_record *list;
        size_t n;
        char next[KH_CURSOR_MAX];
        CHECK_OK(kh_store_pictures_list(f->store, 2, cursor, &list, &n, next,
                                        E));
        for (size_t i = 0; i < n; i++)
            assert_string_equal(list[i].id, expected[seen + i]);
        seen += n;
        free(list);
        snprintf(cursor, sizeof cursor, "%s", next);
        if (page < 2)
            assert_true(cursor[0] != '\0');
    }
    assert_int_equal(seen, 5);
    assert_string_equal(cursor, "");

    kh_picture_record *list;
    size_t n;
    char next[KH_CURSOR_MAX];
    kh_error err = {0};
    assert_int_equal(kh_store_pictures_list(f->store, 2, "zz'--", &list, &n,
                                            next, &err),
                     KH_EINVAL);
    assert_int_equal(kh_store_pictures_list(f->store, 0, NULL, &list, &n, next,
                                            &err),
                     KH_EINVAL);
    assert_int_equal(kh_store_pictures_list(f->store, KH_STORE_PAGE_MAX + 1,
                                            NULL, &list, &n, next, &err),
                     KH_EINVAL);
}

static void faces_filter_by_top_emotion_in_pages(void **state) {
    fixture *f = *state;
    add_picture(f, "pic", 1);
    const kh_emotion tops[] = {KH_EMOTION_HAPPINESS, KH_EMOTION_ANGER,
                               KH_EMOTION_HAPPINESS, KH_EMOTION_HAPPINESS,
                               KH_EMOTION_NEUTRAL};
    for (int i = 0; i < 5; i++) {
        char face[16], ef[16], es[16];
        snprintf(face, sizeof face, "f%d", i);
        snprintf(ef, sizeof ef, "ef%d", i);
        snprintf(es, sizeof es, "es%d", i);
        add_face(f, "pic", face, i, ef);
        add_scores(f, "pic", face, tops[i], es);
        usleep(2000); /* distinct creation times: newest first is defined */
    }
    add_face(f, "pic", "unscored", 9, "ef9");

    kh_face_record *faces;
    size_t n;
    char next[KH_CURSOR_MAX];
    CHECK_OK(kh_store_faces_list(f->store, KH_EMOTION_HAPPINESS, 2, NULL,
                                 &faces, &n, next, E));
    assert_int_equal(n, 2);
    assert_string_equal(faces[0].id, "f3");
    assert_string_equal(faces[1].id, "f2");
    assert_int_equal(faces[0].n_models, 1);
    assert_string_equal(faces[0].models[0].model, "ferplus");
    assert_true(fabsf(faces[0].mean.p[KH_EMOTION_HAPPINESS] - 0.65f) < 1e-6f);
    free(faces);
    char cursor[KH_CURSOR_MAX];
    snprintf(cursor, sizeof cursor, "%s", next);
    CHECK_OK(kh_store_faces_list(f->store, KH_EMOTION_HAPPINESS, 2, cursor,
                                 &faces, &n, next, E));
    assert_int_equal(n, 1);
    assert_string_equal(faces[0].id, "f0");
    assert_string_equal(next, "");
    free(faces);

    CHECK_OK(kh_store_faces_list(f->store, KH_EMOTION_COUNT, 100, NULL, &faces,
                                 &n, next, E));
    assert_int_equal(n, 6);
    assert_string_equal(faces[0].id, "unscored");
    assert_int_equal(faces[0].top_emotion, KH_EMOTION_COUNT);
    free(faces);
    CHECK_OK(kh_store_faces_list(f->store, KH_EMOTION_FEAR, 10, NULL, &faces,
                                 &n, next, E));
    assert_int_equal(n, 0);
    assert_null(faces);
}

static void stats_count_faces_per_emotion_overall_and_per_picture(void **state) {
    fixture *f = *state;
    add_picture(f, "p1", 1);
    add_picture(f, "p2", 2);
    add_face(f, "p1", "a", 0, "ea");
    add_scores(f, "p1", "a", KH_EMOTION_HAPPINESS, "sa");
    add_face(f, "p1", "b", 1, "eb");
    add_scores(f, "p1", "b", KH_EMOTION_SURPRISE, "sb");
    add_face(f, "p2", "c", 0, "ec");
    add_scores(f, "p2", "c", KH_EMOTION_HAPPINESS, "sc");
    add_face(f, "p2", "d", 1, "ed");
    CHECK_OK(kh_store_picture_fail(f->store, "p2", "x", E));

    kh_store_stats all;
    CHECK_OK(kh_store_stats_get(f->store, NULL, &all, E));
    assert_int_equal(all.pictures, 2);
    assert_int_equal(all.pictures_by_status[KH_PICTURE_PENDING], 1);
    assert_int_equal(all.pictures_by_status[KH_PICTURE_FAILED], 1);
    assert_int_equal(all.faces, 4);
    assert_int_equal(all.faces_unscored, 1);
    assert_int_equal(all.faces_by_emotion[KH_EMOTION_HAPPINESS], 2);
    assert_int_equal(all.faces_by_emotion[KH_EMOTION_SURPRISE], 1);
    assert_int_equal(all.faces_by_emotion[KH_EMOTION_ANGER], 0);

    kh_store_stats one;
    CHECK_OK(kh_store_stats_get(f->store, "p1", &one, E));
    assert_int_equal(one.pictures, 1);
    assert_int_equal(one.faces, 2);
    assert_int_equal(one.faces_by_emotion[KH_EMOTION_HAPPINESS], 1);
    kh_error err = {0};
    assert_int_equal(kh_store_stats_get(f->store, "p3", &one, &err),
                     KH_ENOTFOUND);
}

static void top_emotion_is_that_of_the_mean_over_models(void **state) {
    fixture *f = *state;
    add_picture(f, "pic", 1);
    add_face(f, "pic", "face", 0, "ef");
    /* Model A: happiness 0.6, anger 0.4. Model B (no contempt): anger 0.9,
     * happiness 0.1. Mean: anger 0.65 > happiness 0.35. */
    kh_emotion_scores a = {.model = "a"}, b = {.model = "b"};
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        a.present[e] = true;
        b.present[e] = e != KH_EMOTION_CONTEMPT;
    }
    a.p[KH_EMOTION_HAPPINESS] = 0.6f;
    a.p[KH_EMOTION_ANGER] = 0.4f;
    a.p[KH_EMOTION_CONTEMPT] = 0.3f;
    b.p[KH_EMOTION_HAPPINESS] = 0.1f;
    b.p[KH_EMOTION_ANGER] = 0.9f;
    kh_emotions_new ea = {"pic", "face", &a, "ea"}, eb = {"pic", "face", &b, "eb"};
    CHECK_OK(kh_store_emotions_add(f->store, &ea, NULL, E));
    kh_face_record face;
    CHECK_OK(kh_store_face_get(f->store, "face", &face, E));
    assert_int_equal(face.top_emotion, KH_EMOTION_HAPPINESS);
    CHECK_OK(kh_store_emotions_add(f->store, &eb, NULL, E));
    CHECK_OK(kh_store_face_get(f->store, "face", &face, E));
    assert_int_equal(face.top_emotion, KH_EMOTION_ANGER);
    assert_int_equal(face.n_models, 2);
    assert_string_equal(face.models[0].model, "a");
    assert_false(face.models[1].present[KH_EMOTION_CONTEMPT]);
    /* Contempt's mean comes from model a alone. */
    assert_true(face.mean.present[KH_EMOTION_CONTEMPT]);
    assert_true(fabsf(face.mean.p[KH_EMOTION_CONTEMPT] - 0.3f) < 1e-6f);
    assert_true(fabsf(face.mean.p[KH_EMOTION_ANGER] - 0.65f) < 1e-6f);

    /* At most KH_STORE_MODELS_MAX models per face. */
    for (int m = 2; m < KH_STORE_MODELS_MAX; m++) {
        kh_emotion_scores more = scores_with_top(KH_EMOTION_FEAR, "m");
        snprintf(more.model, sizeof more.model, "m%d", m);
        char event[16];
        snprintf(event, sizeof event, "em%d", m);
        kh_emotions_new em = {"pic", "face", &more, event};
        CHECK_OK(kh_store_emotions_add(f->store, &em, NULL, E));
    }
    kh_emotion_scores extra = scores_with_top(KH_EMOTION_FEAR, "extra");
    kh_emotions_new em = {"pic", "face", &extra, "e-extra"};
    kh_error err = {0};
    assert_int_equal(kh_store_emotions_add(f->store, &em, NULL, &err),
                     KH_ELIMIT);
}

/* Scores name their picture: scores claimed for a face id under one picture
 * never count for a face of that id stored under another. */
static void scores_never_cross_pictures(void **state) {
    fixture *f = *state;
    add_picture(f, "a", 1);
    add_picture(f, "b", 2);
    CHECK_OK(kh_store_picture_detected(f->store, "b", 1, 0, 0, E));
    add_scores(f, "a", "shared", KH_EMOTION_FEAR, "e-a");
    add_face(f, "b", "shared", 0, "f-b");
    kh_face_record face;
    CHECK_OK(kh_store_face_get(f->store, "shared", &face, E));
    assert_int_equal(face.n_models, 0);
    assert_int_equal(face.top_emotion, KH_EMOTION_COUNT);
    kh_picture_record b = get_picture(f, "b");
    assert_int_equal(b.scored_faces, 0);
    assert_int_equal(b.status, KH_PICTURE_PENDING);
    /* Now that the face is known, scores for it under "a" are refused. */
    kh_emotion_scores s = scores_with_top(KH_EMOTION_FEAR, "other");
    kh_emotions_new em = {"a", "shared", &s, "e-a2"};
    kh_error err = {0};
    assert_int_equal(kh_store_emotions_add(f->store, &em, NULL, &err),
                     KH_EINVAL);
    add_scores(f, "b", "shared", KH_EMOTION_ANGER, "e-b");
    CHECK_OK(kh_store_face_get(f->store, "shared", &face, E));
    assert_int_equal(face.n_models, 1);
    assert_int_equal(face.top_emotion, KH_EMOTION_ANGER);
    assert_int_equal(get_picture(f, "b").status, KH_PICTURE_DONE);
}

static void deleting_a_picture_removes_its_rows_and_files(void **state) {
    fixture *f = *state;
    static const uint8_t png[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                    0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                    0, 0, 0, 2, 0, 0, 0, 3};
    char id[KH_ID_MAX];
    CHECK_OK(kh_store_picture_ingest(f->store, f->blobs, png, sizeof png,
                                     "tiny.png", id, E));
    kh_picture_record p = get_picture(f, id);
    assert_string_equal(p.content_type, "image/png");
    assert_int_equal(p.width, 2);
    assert_int_equal(p.height, 3);
    assert_int_equal(p.size_bytes, sizeof png);
    CHECK_OK(kh_blob_put(f->blobs, "crops/a.png", "crop-a", 6, E));
    CHECK_OK(kh_blob_put(f->blobs, "crops/b.png", "crop-b", 6, E));
    kh_face_new face = {.id = "fa", .picture_id = id, .face_index = 0,
                        .crop_key = "crops/a.png", .event_id = "eva",
                        .face = {.box = {0, 0, 1, 1}, .detector = "pico"}};
    CHECK_OK(kh_store_face_add(f->store, &face, NULL, NULL, E));
    face = (kh_face_new){.id = "fb", .picture_id = id, .face_index = 1,
                         .crop_key = "crops/b.png", .event_id = "evb",
                         .face = {.box = {0, 0, 1, 1}, .detector = "pico"}};
    CHECK_OK(kh_store_face_add(f->store, &face, NULL, NULL, E));
    add_scores(f, id, "fa", KH_EMOTION_FEAR, "esa");
    add_picture(f, "other", 5);
    add_face(f, "other", "fo", 0, "evo");

    CHECK_OK(kh_store_picture_delete(f->store, f->blobs, id, E));

    kh_error err = {0};
    assert_int_equal(kh_store_picture_get(f->store, id, &p, NULL, NULL, &err),
                     KH_ENOTFOUND);
    kh_face_record fr;
    assert_int_equal(kh_store_face_get(f->store, "fa", &fr, &err), KH_ENOTFOUND);
    void *bytes;
    size_t len;
    assert_int_equal(kh_blob_get(f->blobs, p.blob_key, 0, &bytes, &len, &err),
                     KH_ENOTFOUND);
    assert_int_equal(kh_blob_get(f->blobs, "crops/a.png", 0, &bytes, &len,
                                 &err),
                     KH_ENOTFOUND);
    assert_int_equal(kh_blob_get(f->blobs, "crops/b.png", 0, &bytes, &len,
                                 &err),
                     KH_ENOTFOUND);
    kh_store_stats stats;
    CHECK_OK(kh_store_stats_get(f->store, NULL, &stats, E));
    assert_int_equal(stats.pictures, 1);
    assert_int_equal(stats.faces, 1);
    /* The score row went too: the same ids and events insert afresh. */
    add_picture(f, id, 9);
    assert_true(add_face(f, id, "fa", 0, "eva"));
    assert_true(add_scores(f, id, "fa", KH_EMOTION_FEAR, "esa"));
    assert_int_equal(kh_store_picture_delete(f->store, f->blobs, "gone", &err),
                     KH_ENOTFOUND);
}

static void hostile_text_is_stored_verbatim(void **state) {
    fixture *f = *state;
    const char *evil = "x'); DROP TABLE pictures; --";
    kh_picture_new pic = {.id = "evil", .name = evil,
                          .content_type = "image/jpeg'--"};
    CHECK_OK(kh_store_picture_create(f->store, &pic, NULL, E));
    kh_face_new face = {.id = "f", .picture_id = "evil", .face_index = 0,
                        .event_id = "'; DELETE FROM faces; --",
                        .face = {.box = {1, 2, 3, 4}, .detector = "O'Brien"}};
    CHECK_OK(kh_store_face_add(f->store, &face, NULL, NULL, E));
    kh_emotion_scores s = scores_with_top(KH_EMOTION_ANGER, "m\"; --");
    kh_emotions_new em = {"evil", "f", &s, "? $1 '?'"};
    CHECK_OK(kh_store_emotions_add(f->store, &em, NULL, E));
    kh_picture_record p;
    kh_face_record *faces;
    size_t n;
    CHECK_OK(kh_store_picture_get(f->store, "evil", &p, &faces, &n, E));
    assert_string_equal(p.name, evil);
    assert_string_equal(p.content_type, "image/jpeg'--");
    assert_int_equal(n, 1);
    assert_string_equal(faces[0].face.detector, "O'Brien");
    assert_string_equal(faces[0].models[0].model, "m\"; --");
    free(faces);
    /* Refused outright: ids outside the alphabet, bad blob keys, NaN. */
    kh_error err = {0};
    pic = (kh_picture_new){.id = "../x"};
    assert_int_equal(kh_store_picture_create(f->store, &pic, NULL, &err),
                     KH_EINVAL);
    pic = (kh_picture_new){.id = "ok", .blob_key = "../../etc/passwd"};
    assert_int_equal(kh_store_picture_create(f->store, &pic, NULL, &err),
                     KH_EINVAL);
    face.face.box.w = NAN;
    face.event_id = "nan";
    face.face_index = 1;
    assert_int_equal(kh_store_face_add(f->store, &face, NULL, NULL, &err),
                     KH_EINVAL);
    face.face.box.w = 1;
    face.event_id = "";
    assert_int_equal(kh_store_face_add(f->store, &face, NULL, NULL, &err),
                     KH_EINVAL);
    kh_picture_record unused;
    assert_int_equal(kh_store_picture_get(f->store, "a b", &unused, NULL, NULL,
                                          &err),
                     KH_EINVAL);
}

/* Several threads add the faces and scores of one picture at once: the
 * picture is done exactly when the last scores land, whichever that is. */
typedef struct writer_args {
    fixture *f;
    int first, step, faces;
    int failures;
} writer_args;

static void *writer(void *arg) {
    writer_args *w = arg;
    for (int i = w->first; i < w->faces; i += w->step) {
        char face[16], ef[16], es[16];
        snprintf(face, sizeof face, "f%d", i);
        snprintf(ef, sizeof ef, "ef%d", i);
        snprintf(es, sizeof es, "es%d", i);
        kh_face_new fn = {.id = face, .picture_id = "pic", .face_index = i,
                          .event_id = ef,
                          .face = {.box = {1, 1, 1, 1}, .detector = "pico"}};
        kh_emotion_scores s = scores_with_top((kh_emotion)(i % 8), "ferplus");
        kh_emotions_new em = {"pic", face, &s, es};
        kh_error err = {0};
        if (kh_store_face_add(w->f->store, &fn, NULL, NULL, &err) != KH_OK ||
            kh_store_emotions_add(w->f->store, &em, NULL, &err) != KH_OK) {
            fprintf(stderr, "writer: %s\n", err.message);
            w->failures++;
        }
    }
    return NULL;
}

static void concurrent_writers_complete_the_picture_once(void **state) {
    fixture *f = *state;
    enum { THREADS = 4, FACES = 24 };
    add_picture(f, "pic", 1);
    CHECK_OK(kh_store_picture_detected(f->store, "pic", FACES, 0, 0, E));
    pthread_t threads[THREADS];
    writer_args args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (writer_args){f, t, THREADS, FACES, 0};
        pthread_create(&threads[t], NULL, writer, &args[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    kh_picture_record p = get_picture(f, "pic");
    assert_int_equal(p.face_count, FACES);
    assert_int_equal(p.scored_faces, FACES);
    assert_int_equal(p.status, KH_PICTURE_DONE);
}

static void unknown_urls_and_pictures_are_refused(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_store *other = NULL;
    assert_int_equal(kh_store_open("mysql://x", &other, &err),
                     KH_EUNSUPPORTED);
    assert_null(other);
    assert_int_equal(kh_store_open("", &other, &err), KH_EINVAL);
    char bad_path[300];
    snprintf(bad_path, sizeof bad_path, "%s/missing/dir/k.db", f->dir);
    assert_int_equal(kh_store_open(bad_path, &other, &err), KH_EDB);
    kh_face_new face = {.picture_id = "nobody", .event_id = "e",
                        .face = {.detector = "pico"}};
    assert_int_equal(kh_store_face_add(f->store, &face, NULL, NULL, &err),
                     KH_ENOTFOUND);
    assert_int_equal(kh_store_picture_detected(f->store, "nobody", 1, 0, 0,
                                               &err),
                     KH_ENOTFOUND);
    kh_store_close(NULL);
}

#define STORE_TESTS(setup_fn)                                                  \
    cmocka_unit_test_setup_teardown(                                           \
        migrates_at_open_and_reopening_changes_nothing, setup_fn, teardown),   \
        cmocka_unit_test_setup_teardown(                                       \
            picture_round_trips_with_sanitised_name, setup_fn, teardown),      \
        cmocka_unit_test_setup_teardown(                                       \
            same_face_event_twice_stores_one_face, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(                                       \
            same_emotion_event_twice_stores_it_once, setup_fn, teardown),      \
        cmocka_unit_test_setup_teardown(                                       \
            picture_is_done_when_every_detected_face_has_scores, setup_fn,     \
            teardown),                                                         \
        cmocka_unit_test_setup_teardown(                                       \
            picture_without_faces_is_done_at_detection, setup_fn, teardown),   \
        cmocka_unit_test_setup_teardown(failed_picture_keeps_its_message,      \
                                        setup_fn, teardown),                   \
        cmocka_unit_test_setup_teardown(pictures_list_newest_first_in_pages,   \
                                        setup_fn, teardown),                   \
        cmocka_unit_test_setup_teardown(faces_filter_by_top_emotion_in_pages,  \
                                        setup_fn, teardown),                   \
        cmocka_unit_test_setup_teardown(                                       \
            stats_count_faces_per_emotion_overall_and_per_picture, setup_fn,   \
            teardown),                                                         \
        cmocka_unit_test_setup_teardown(                                       \
            top_emotion_is_that_of_the_mean_over_models, setup_fn, teardown),  \
        cmocka_unit_test_setup_teardown(scores_never_cross_pictures, setup_fn, \
                                        teardown),                             \
        cmocka_unit_test_setup_teardown(                                       \
            deleting_a_picture_removes_its_rows_and_files, setup_fn,           \
            teardown),                                                         \
        cmocka_unit_test_setup_teardown(hostile_text_is_stored_verbatim,       \
                                        setup_fn, teardown),                   \
        cmocka_unit_test_setup_teardown(                                       \
            concurrent_writers_complete_the_picture_once, setup_fn, teardown), \
        cmocka_unit_test_setup_teardown(                                       \
            unknown_urls_and_pictures_are_refused, setup_fn, teardown)

int main(void) {
    const struct CMUnitTest sqlite_tests[] = {STORE_TESTS(setup_sqlite)};
    const struct CMUnitTest postgres_tests[] = {STORE_TESTS(setup_postgres)};
    int failed = cmocka_run_group_tests_name("storage/sqlite", sqlite_tests,
                                             NULL, NULL);
    const char *pg = getenv("KHAPPY_TEST_PG_URL");
    if (pg && *pg)
        failed += cmocka_run_group_tests_name("storage/postgres",
                                              postgres_tests, NULL, NULL);
    else
        printf("storage/postgres: skipped (KHAPPY_TEST_PG_URL not set; "
               "tests/storage/pg-test.sh sets it)\n");
    return failed;
}
