/* Every route of the HTTP API and the UI, through a real kh_http_server on
 * 127.0.0.1 port 0 and the HTTP client, over a SQLite store in a temporary
 * folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/http.h"
#include "storage/storage.h"
#include "web/web.h"

/* A 24-byte PNG header is all the API needs: it stores and returns bytes. */
static const uint8_t tiny_png[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                     '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                     0, 0, 0, 40, 0, 0, 0, 30};

typedef struct fixture {
    char dir[64];
    kh_store *store;
    kh_blob_store *blobs;
    kh_web *web;
    kh_http_server *server;
    int ingest_calls;
    char last_name[KH_FILE_NAME_MAX];
    /* Seeded: picture 0 with two faces (happiness, anger), picture 1 with
     * one (happiness), picture 2 pending with none. */
    char pictures[3][KH_ID_MAX];
    char faces[3][KH_ID_MAX];
} fixture;

/* The test's ingest: store the picture, as the pipeline's would. */
static int test_ingest(void *user, const void *bytes, size_t len,
                       const char *name, char id[KH_ID_MAX], kh_error *err) {
    fixture *f = user;
    f->ingest_calls++;
    snprintf(f->last_name, sizeof f->last_name, "%s", name);
    return kh_store_picture_ingest(f->store, f->blobs, bytes, len, name, id,
                                   err);
}

static void seed_face(fixture *f, int picture, int index, int slot,
                      kh_emotion top) {
    char event[64], crop_key[KH_BLOB_KEY_MAX];
    kh_error err = {0};
    snprintf(crop_key, sizeof crop_key, "crops/face-%d.png", slot);
    assert_int_equal(kh_blob_put(f->blobs, crop_key, tiny_png, sizeof tiny_png,
                                 &err),
                     KH_OK);
    snprintf(event, sizeof event, "face-%d", slot);
    kh_face_new face = {.picture_id = f->pictures[picture], .face_index = index,
                        .crop_key = crop_key, .event_id = event,
                        .face = {.box = {10.0f + slot, 20, 30, 40},
                                 .score = 0.75f, .detector = "pico"}};
    assert_int_equal(kh_store_face_add(f->store, &face, f->faces[slot], NULL,
                                       &err),
                     KH_OK);
    kh_emotion_scores s = {.model = "ferplus"};
    for (int e = 0; e < KH_EMOTION_COUNT; e++) {
        s.present[e] = e != KH_EMOTION_CONTEMPT;
        s.p[e] = e == (int)top ? 0.8f : 0.02f;
    }
    snprintf(event, sizeof event, "emotions-%d", slot);
    kh_emotions_new em = {f->pictures[picture], f->faces[slot], &s, event};
    assert_int_equal(kh_store_emotions_add(f->store, &em, NULL, &err), KH_OK);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/khappy-web-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char url[128], blob_dir[128];
    snprintf(url, sizeof url, "%s/khappy.db", f->dir);
    snprintf(blob_dir, sizeof blob_dir, "%s/blobs", f->dir);
    kh_error err = {0};
    kh_web_hooks hooks = {.ingest = test_ingest, .user = f};
    kh_http_server_options opts = {.bind_addr = "127.0.0.1", .port = 0};
    if (kh_store_open(url, &f->store, &err) ||
        kh_blob_store_open_dir(blob_dir, &f->blobs, &err) ||
        kh_web_create(f->store, f->blobs, &hooks, &f->web, &err) ||
        kh_http_server_start(&opts, kh_web_handle, f->web, &f->server, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    for (int p = 0; p < 3; p++) {
        char name[32];
        snprintf(name, sizeof name, "picture-%d.png", p);
        /* Picture 0 has its bytes stored; the others have none. */
        kh_picture_new pic = {.name = name, .content_type = "image/png",
                              .blob_key = p == 0 ? "pictures/p0.png" : NULL,
                              .received_at_ms = 1000 + p};
        assert_int_equal(kh_store_picture_create(f->store, &pic, f->pictures[p],
                                                 &err),
                         KH_OK);
    }
    if (kh_blob_put(f->blobs, "pictures/p0.png", tiny_png, sizeof tiny_png,
                    &err))
        return -1;
    kh_store_picture_detected(f->store, f->pictures[0], 2, 640, 480, &err);
    seed_face(f, 0, 0, 0, KH_EMOTION_HAPPINESS);
    seed_face(f, 0, 1, 1, KH_EMOTION_ANGER);
    seed_face(f, 1, 0, 2, KH_EMOTION_HAPPINESS);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    kh_http_server_stop(f->server);
    kh_web_destroy(f->web);
    kh_store_close(f->store);
    kh_blob_store_close(f->blobs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* ---- HTTP helpers ------------------------------------------------------- */

typedef struct reply {
    int status;
    kh_http_response res;
    json_t *json; /* parsed when the body is JSON */
} reply;

static reply call(fixture *f, const char *method, const char *path,
                  const void *body, size_t len, const kh_http_header *headers,
                  size_t n_headers) {
    char url[1200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s",
             kh_http_server_port(f->server), path);
    kh_http_client_request req = {.method = method, .url = url,
                                  .headers = headers, .n_headers = n_headers,
                                  .body = body, .body_len = len};
    reply r = {0};
    kh_error err = {0};
    if (kh_http_client_do(&req, &r.res, &err) != KH_OK)
        fail_msg("%s %s: %s", method, path, err.message);
    r.status = r.res.status;
    const char *type = kh_http_response_header_get(&r.res, "Content-Type");
    if (type && strncmp(type, "application/json", 16) == 0) {
        json_error_t jerr;
        r.json = json_loadb((const char *)r.res.body, r.res.body_len, 0, &jerr);
        if (!r.json)
            fail_msg("%s %s: bad JSON: %s", method, path, jerr.text);
    }
    return r;
}

static reply get(fixture *f, const char *path) {
    return call(f, "GET", path, NULL, 0, NULL, 0);
}

static void done(reply *r) {
    json_decref(r->json);
    kh_http_response_free(&r->res);
}

static const char *str(json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        fail_msg("no string \"%s\" in the answer", key);
    return s;
}

/* An error answer: the status, and {"error": "..."} containing `needle`. */
static void expect_error(reply r, int status, const char *needle) {
    assert_int_equal(r.status, status);
    assert_non_null(r.json);
    const char *message = str(r.json, "error");
    if (needle && !strstr(message, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", message, needle);
    done(&r);
}

/* ---- tests -------------------------------------------------------------- */

static void ui_is_served_with_its_assets(void **state) {
    fixture *f = *state;
    reply r = get(f, "/");
    assert_int_equal(r.status, 200);
    assert_string_equal(kh_http_response_header_get(&r.res, "Content-Type"),
                        "text/html; charset=utf-8");
    assert_non_null(memmem(r.res.body, r.res.body_len, "<title>khappy", 13));
    assert_non_null(kh_http_response_header_get(&r.res,
                                                "Content-Security-Policy"));
    char etag[64];
    snprintf(etag, sizeof etag, "%s",
             kh_http_response_header_get(&r.res, "ETag"));
    done(&r);

    kh_http_header if_none = {"If-None-Match", etag};
    r = call(f, "GET", "/", NULL, 0, &if_none, 1);
    assert_int_equal(r.status, 304);
    done(&r);

    const char *assets[][2] = {{"/app.js", "text/javascript; charset=utf-8"},
                               {"/style.css", "text/css; charset=utf-8"},
                               {"/index.html", "text/html; charset=utf-8"}};
    for (size_t i = 0; i < 3; i++) {
        r = get(f, assets[i][0]);
        assert_int_equal(r.status, 200);
        assert_string_equal(kh_http_response_header_get(&r.res, "Content-Type"),
                            assets[i][1]);
        assert_true(r.res.body_len > 100);
        done(&r);
    }
    expect_error(get(f, "/nothing-here.js"), 404, "no such page");
    expect_error(call(f, "POST", "/", "x", 1, NULL, 0), 405, NULL);
}

static void pictures_list_newest_first_with_a_cursor(void **state) {
    fixture *f = *state;
    reply r = get(f, "/api/pictures?limit=2");
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "pictures");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(str(json_array_get(list, 0), "id"), f->pictures[2]);
    assert_string_equal(str(json_array_get(list, 1), "id"), f->pictures[1]);
    assert_string_equal(str(json_array_get(list, 1), "status"), "pending");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1),
                                                        "face_count")),
                     1);
    char path[400];
    snprintf(path, sizeof path, "/api/pictures?limit=2&cursor=%s",
             str(r.json, "next_cursor"));
    done(&r);
    r = get(f, path);
    assert_int_equal(r.status, 200);
    list = json_object_get(r.json, "pictures");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "id"), f->pictures[0]);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    done(&r);

    expect_error(get(f, "/api/pictures?limit=0"), 400, "limit");
    expect_error(get(f, "/api/pictures?limit=101"), 400, "limit");
    expect_error(get(f, "/api/pictures?limit=3x"), 400, "limit");
    expect_error(get(f, "/api/pictures?cursor=not-a-cursor"), 400, "cursor");
    expect_error(get(f, "/api/pictures?cursor=%27%3B--"), 400, "cursor");
}

static void picture_comes_with_faces_and_emotions(void **state) {
    fixture *f = *state;
    char path[200];
    snprintf(path, sizeof path, "/api/pictures/%s", f->pictures[0]);
    reply r = get(f, path);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "id"), f->pictures[0]);
    assert_string_equal(str(r.json, "status"), "done");
    assert_string_equal(str(r.json, "name"), "picture-0.png");
    assert_int_equal(json_integer_value(json_object_get(r.json, "width")), 640);
    json_t *faces = json_object_get(r.json, "faces");
    assert_int_equal(json_array_size(faces), 2);
    json_t *face = json_array_get(faces, 1);
    assert_string_equal(str(face, "id"), f->faces[1]);
    assert_string_equal(str(face, "detector"), "pico");
    assert_string_equal(str(face, "top_emotion"), "anger");
    json_t *box = json_object_get(face, "box");
    assert_int_equal(json_array_size(box), 4);
    assert_true(json_real_value(json_array_get(box, 0)) == 11.0);
    assert_true(json_real_value(json_array_get(box, 3)) == 40.0);
    json_t *emotions = json_object_get(face, "emotions");
    assert_true(json_real_value(json_object_get(emotions, "anger")) > 0.79);
    /* The model lacks contempt: absent, not zero. */
    assert_null(json_object_get(emotions, "contempt"));
    assert_non_null(json_object_get(json_object_get(face, "models"), "ferplus"));
    done(&r);

    expect_error(get(f, "/api/pictures/0123456789abcdef"), 404, "not found");
    expect_error(get(f, "/api/pictures/..%2F..%2Fetc"), 404, NULL);
    expect_error(get(f, "/api/pictures/a%20b"), 404, NULL);
    expect_error(get(f, "/api/pictures/x/y/z/w"), 404, "no such route");
}

static void images_and_crops_come_back_byte_for_byte(void **state) {
    fixture *f = *state;
    reply r = call(f, "POST", "/api/pictures?name=up.png", tiny_png,
                   sizeof tiny_png, NULL, 0);
    assert_int_equal(r.status, 202);
    char id[KH_ID_MAX], path[200];
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    done(&r);
    snprintf(path, sizeof path, "/api/pictures/%s/image", id);
    r = get(f, path);
    assert_int_equal(r.status, 200);
    assert_string_equal(kh_http_response_header_get(&r.res, "Content-Type"),
                        "image/png");
    assert_int_equal(r.res.body_len, sizeof tiny_png);
    assert_memory_equal(r.res.body, tiny_png, sizeof tiny_png);
    done(&r);

    snprintf(path, sizeof path, "/api/faces/%s/crop", f->faces[0]);
    r = get(f, path);
    assert_int_equal(r.status, 200);
    assert_string_equal(kh_http_response_header_get(&r.res, "Content-Type"),
                        "image/png");
    assert_memory_equal(r.res.body, tiny_png, sizeof tiny_png);
    done(&r);

    snprintf(path, sizeof path, "/api/pictures/%s/image", f->pictures[0]);
    r = get(f, path);
    assert_int_equal(r.status, 200);
    done(&r);
    snprintf(path, sizeof path, "/api/pictures/%s/image", f->pictures[1]);
    expect_error(get(f, path), 404, "no stored image");
    expect_error(get(f, "/api/pictures/nope/image"), 404, NULL);
    expect_error(get(f, "/api/faces/nope/crop"), 404, NULL);
    expect_error(get(f, "/api/faces/nope"), 404, "no such route");
    snprintf(path, sizeof path, "/api/pictures/%s/image", id);
    expect_error(call(f, "DELETE", path, NULL, 0, NULL, 0), 405, NULL);
}

static void faces_filter_by_emotion_and_page(void **state) {
    fixture *f = *state;
    reply r = get(f, "/api/faces?emotion=happiness&limit=1");
    assert_int_equal(r.status, 200);
    json_t *faces = json_object_get(r.json, "faces");
    assert_int_equal(json_array_size(faces), 1);
    assert_string_equal(str(json_array_get(faces, 0), "id"), f->faces[2]);
    assert_string_equal(str(json_array_get(faces, 0), "picture_id"),
                        f->pictures[1]);
    char path[400];
    snprintf(path, sizeof path, "/api/faces?emotion=happiness&limit=1&cursor=%s",
             str(r.json, "next_cursor"));
    done(&r);
    r = get(f, path);
    faces = json_object_get(r.json, "faces");
    assert_int_equal(json_array_size(faces), 1);
    assert_string_equal(str(json_array_get(faces, 0), "id"), f->faces[0]);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    done(&r);

    r = get(f, "/api/faces");
    assert_int_equal(json_array_size(json_object_get(r.json, "faces")), 3);
    done(&r);
    r = get(f, "/api/faces?emotion=all");
    assert_int_equal(json_array_size(json_object_get(r.json, "faces")), 3);
    done(&r);
    r = get(f, "/api/faces?emotion=fear");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "faces")), 0);
    done(&r);
    expect_error(get(f, "/api/faces?emotion=joy"), 400, "unknown emotion");
    expect_error(get(f, "/api/faces?limit=-1"), 400, "limit");
    expect_error(get(f, "/api/faces?cursor=00"), 400, "cursor");
    expect_error(call(f, "POST", "/api/faces", "x", 1, NULL, 0), 405, NULL);
}

static void stats_count_pictures_and_emotions(void **state) {
    fixture *f = *state;
    reply r = get(f, "/api/stats");
    assert_int_equal(r.status, 200);
    json_t *pictures = json_object_get(r.json, "pictures");
    assert_int_equal(json_integer_value(json_object_get(pictures, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(pictures, "done")), 1);
    assert_int_equal(json_integer_value(json_object_get(pictures, "pending")),
                     2);
    json_t *faces = json_object_get(r.json, "faces");
    assert_int_equal(json_integer_value(json_object_get(faces, "total")), 3);
    json_t *by = json_object_get(faces, "by_emotion");
    assert_int_equal(json_object_size(by), KH_EMOTION_COUNT);
    assert_int_equal(json_integer_value(json_object_get(by, "happiness")), 2);
    assert_int_equal(json_integer_value(json_object_get(by, "anger")), 1);
    assert_int_equal(json_integer_value(json_object_get(by, "fear")), 0);
    done(&r);

    char path[200];
    snprintf(path, sizeof path, "/api/stats?picture=%s", f->pictures[0]);
    r = get(f, path);
    assert_int_equal(r.status, 200);
    pictures = json_object_get(r.json, "pictures");
    assert_int_equal(json_integer_value(json_object_get(pictures, "total")), 1);
    by = json_object_get(json_object_get(r.json, "faces"), "by_emotion");
    assert_int_equal(json_integer_value(json_object_get(by, "happiness")), 1);
    assert_int_equal(json_integer_value(json_object_get(by, "anger")), 1);
    done(&r);
    expect_error(get(f, "/api/stats?picture=unknown"), 404, "not found");
    expect_error(get(f, "/api/stats?picture=..%2Fx"), 404, NULL);
    expect_error(call(f, "DELETE", "/api/stats", NULL, 0, NULL, 0), 405, NULL);
}

static void upload_goes_through_the_ingest_hook(void **state) {
    fixture *f = *state;
    reply r = call(f, "POST", "/api/pictures?name=caf%C3%A9.png", tiny_png,
                   sizeof tiny_png, NULL, 0);
    assert_int_equal(r.status, 202);
    assert_int_equal(f->ingest_calls, 1);
    assert_string_equal(f->last_name, "caf\xc3\xa9.png");
    char id[KH_ID_MAX], location[128];
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    snprintf(location, sizeof location, "/api/pictures/%s", id);
    assert_string_equal(kh_http_response_header_get(&r.res, "Location"),
                        location);
    done(&r);
    r = get(f, location);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "status"), "pending");
    assert_string_equal(str(r.json, "name"), "caf\xc3\xa9.png");
    done(&r);

    kh_http_header name = {"X-Filename", "from-header.png"};
    r = call(f, "POST", "/api/pictures", tiny_png, sizeof tiny_png, &name, 1);
    assert_int_equal(r.status, 202);
    assert_string_equal(f->last_name, "from-header.png");
    done(&r);

    expect_error(call(f, "POST", "/api/pictures", NULL, 0, NULL, 0), 400,
                 "body");
    expect_error(call(f, "POST", "/api/pictures", "GIF89a....", 10, NULL, 0),
                 415, "not a JPEG or PNG");
    expect_error(call(f, "PUT", "/api/pictures", "x", 1, NULL, 0), 405, NULL);
    r = call(f, "PATCH", "/api/pictures", "x", 1, NULL, 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(kh_http_response_header_get(&r.res, "Allow"),
                        "GET, HEAD, POST");
    done(&r);
}

static void delete_removes_the_picture_its_faces_and_files(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    char path[200];
    snprintf(path, sizeof path, "/api/pictures/%s", f->pictures[0]);
    reply r = call(f, "DELETE", path, NULL, 0, NULL, 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.res.body_len, 0);
    done(&r);
    expect_error(get(f, path), 404, "not found");
    expect_error(call(f, "DELETE", path, NULL, 0, NULL, 0), 404, "not found");
    for (int slot = 0; slot < 2; slot++) {
        snprintf(path, sizeof path, "/api/faces/%s/crop", f->faces[slot]);
        expect_error(get(f, path), 404, "not found");
        char key[64];
        void *bytes;
        size_t len;
        snprintf(key, sizeof key, "crops/face-%d.png", slot);
        assert_int_equal(kh_blob_get(f->blobs, key, 0, &bytes, &len, &err),
                         KH_ENOTFOUND);
    }
    void *bytes;
    size_t len;
    assert_int_equal(kh_blob_get(f->blobs, "pictures/p0.png", 0, &bytes, &len,
                                 &err),
                     KH_ENOTFOUND);
    /* The other pictures' faces stay. */
    r = get(f, "/api/stats");
    json_t *faces = json_object_get(r.json, "faces");
    assert_int_equal(json_integer_value(json_object_get(faces, "total")), 1);
    done(&r);
    snprintf(path, sizeof path, "/api/pictures/%s", f->pictures[1]);
    expect_error(call(f, "PUT", path, "x", 1, NULL, 0), 405, NULL);
}

static void unknown_api_routes_are_json_404s(void **state) {
    fixture *f = *state;
    expect_error(get(f, "/api/unknown"), 404, "no such route");
    expect_error(get(f, "/api"), 404, "no such route");
    expect_error(get(f, "/api/picturesX"), 404, "no such route");
    expect_error(get(f, "/api/pictures/"), 404, NULL);
}

/* Without an ingest hook (a read-only server), uploads are refused; called
 * on the handler directly, which is what kh_http_server does. */
static void server_without_ingest_refuses_uploads(void **state) {
    fixture *f = *state;
    kh_web *readonly = NULL;
    kh_error err = {0};
    assert_int_equal(kh_web_create(f->store, f->blobs, NULL, &readonly, &err),
                     KH_OK);
    kh_http_request req = {.method = "POST", .path = "/api/pictures",
                           .query = "", .body = tiny_png,
                           .body_len = sizeof tiny_png};
    kh_http_response res = {0};
    kh_web_handle(readonly, &req, &res);
    assert_int_equal(res.status, 503);
    kh_http_response_free(&res);
    kh_web_destroy(readonly);
    kh_web_destroy(NULL);
    assert_int_equal(kh_web_create(NULL, f->blobs, NULL, &readonly, &err),
                     KH_EINVAL);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(ui_is_served_with_its_assets),
        T(pictures_list_newest_first_with_a_cursor),
        T(picture_comes_with_faces_and_emotions),
        T(images_and_crops_come_back_byte_for_byte),
        T(faces_filter_by_emotion_and_page),
        T(stats_count_pictures_and_emotions),
        T(upload_goes_through_the_ingest_hook),
        T(delete_removes_the_picture_its_faces_and_files),
        T(unknown_api_routes_are_json_404s),
        T(server_without_ingest_refuses_uploads),
    };
    return cmocka_run_group_tests_name("web/api", tests, NULL, NULL);
}
