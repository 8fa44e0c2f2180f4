/* The broker's durable store: the stored event form (round trip, hostile
 * bytes), accept/complete/failure bookkeeping, persistence across reopen,
 * group commit under concurrent writers, one broker per database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/broker_store.h"

static void must(int rc, const kh_error *err, const char *what) {
    if (rc != KH_OK)
        fail_msg("%s: expected OK, got %s: %s", what, kh_err_name(rc),
                 err->message);
}

static void make_event(kh_cloudevent *ev, const char *id) {
    kh_error err = {0};
    kh_cloudevent_init(ev);
    must(kh_cloudevent_set(ev, "id", id, &err), &err, "id");
    must(kh_cloudevent_set(ev, "source", "/test", &err), &err, "source");
    must(kh_cloudevent_set(ev, "specversion", "1.0", &err), &err, "sv");
    must(kh_cloudevent_set(ev, "type", "dev.khappy.picture.stored", &err),
         &err, "type");
}

static void temp_db(char *path, size_t len) {
    char dir[] = "/tmp/kh-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(path, len, "%s/broker.db", dir);
}

static void remove_db(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
}

static void encoding_round_trips_everything(void **state) {
    (void)state;
    kh_cloudevent ev, back;
    kh_error err = {0};
    make_event(&ev, "abc-1");
    must(kh_cloudevent_set(&ev, "subject", "picture 7", &err), &err, "subj");
    must(kh_cloudevent_set(&ev, "time", "2024-05-01T10:00:00Z", &err), &err,
         "time");
    must(kh_cloudevent_set(&ev, "dataschema", "https://khappy.dev/s", &err),
         &err, "schema");
    must(kh_cloudevent_set(&ev, "pictureid", "7", &err), &err, "ext");
    must(kh_cloudevent_set(&ev, "traceparent",
                           "00-0af7651916cd43dd8448eb211c80319c-"
                           "b7ad6b7169203331-01",
                           &err),
         &err, "ext2");
    const uint8_t bytes[] = {0xff, 0x00, 0xd8, 0x10, 0x00};
    must(kh_cloudevent_set_data(&ev, bytes, sizeof bytes, "image/jpeg", &err),
         &err, "data");
    ev.data_is_base64_in_json = true;

    uint8_t *blob = NULL;
    size_t len = 0;
    must(kh_broker_event_encode(&ev, &blob, &len, &err), &err, "encode");
    must(kh_broker_event_decode(blob, len, &back, &err), &err, "decode");
    const char *names[] = {"id",          "source",     "specversion",
                           "type",        "subject",    "time",
                           "dataschema",  "pictureid",  "traceparent",
                           "datacontenttype"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_string_equal(kh_cloudevent_get(&back, names[i]),
                            kh_cloudevent_get(&ev, names[i]));
    assert_int_equal(back.n_extensions, 2);
    assert_string_equal(back.extensions[0].name, "pictureid"); /* order */
    assert_int_equal(back.data_len, sizeof bytes);
    assert_memory_equal(back.data, bytes, sizeof bytes);
    assert_true(back.data_is_base64_in_json);
    kh_cloudevent_free(&back);

    /* Present-but-empty data stays present; absent data stays absent. */
    must(kh_cloudevent_set_data(&ev, "", 0, NULL, &err), &err, "empty");
    free(blob);
    must(kh_broker_event_encode(&ev, &blob, &len, &err), &err, "encode2");
    must(kh_broker_event_decode(blob, len, &back, &err), &err, "decode2");
    assert_non_null(back.data);
    assert_int_equal(back.data_len, 0);
    kh_cloudevent_free(&back);
    must(kh_cloudevent_set_data(&ev, NULL, 0, NULL, &err), &err, "none");
    free(blob);
    must(kh_broker_event_encode(&ev, &blob, &len, &err), &err, "encode3");
    must(kh_broker_event_decode(blob, len, &back, &err), &err, "decode3");
    assert_null(back.data);
    kh_cloudevent_free(&back);
    free(blob);
    kh_cloudevent_free(&ev);
}

static void decoding_refuses_hostile_bytes(void **state) {
    (void)state;
    kh_cloudevent ev, back;
    kh_error err = {0};
    make_event(&ev, "x");
    must(kh_cloudevent_set(&ev, "element", "face", &err), &err, "ext");
    must(kh_cloudevent_set_data(&ev, "{}", 2, "application/json", &err),
         &err, "data");
    uint8_t *blob = NULL;
    size_t len = 0;
    must(kh_broker_event_encode(&ev, &blob, &len, &err), &err, "encode");

    /* Every strict prefix is refused (a required attribute or a record is
     * missing), never read past. */
    size_t refused = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, blob, n);
        int rc = kh_broker_event_decode(copy, n, &back, &err);
        if (rc == KH_OK)
            kh_cloudevent_free(&back);
        else
            refused++;
        free(copy);
    }
    /* Some prefixes end exactly after a record and before an optional one;
     * those may decode. Most must fail. */
    assert_true(refused > len / 2);

    /* Flipping every byte to each of a few values never crashes. */
    const uint8_t values[] = {0x00, 0xff, 0x7f, 0x09, 0x0a};
    for (size_t i = 0; i < len; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, blob, len);
            copy[i] = values[v];
            if (kh_broker_event_decode(copy, len, &back, &err) == KH_OK)
                kh_cloudevent_free(&back);
            free(copy);
        }

    /* Specific refusals with their messages. */
    assert_int_equal(kh_broker_event_decode((const uint8_t *)"JUNK!", 5,
                                            &back, &err),
                     KH_EFORMAT);
    assert_non_null(strstr(err.message, "not a version 1"));
    uint8_t huge[] = {'K', 'H', 'E', 'V', 1, 1, 0xff, 0xff, 0xff, 0x7f, 'a'};
    assert_int_equal(kh_broker_event_decode(huge, sizeof huge, &back, &err),
                     KH_EFORMAT);
    assert_non_null(strstr(err.message, "claims"));
    uint8_t unknown[] = {'K', 'H', 'E', 'V', 1, 99, 0, 0, 0, 0};
    assert_int_equal(
        kh_broker_event_decode(unknown, sizeof unknown, &back, &err),
        KH_EFORMAT);
    assert_non_null(strstr(err.message, "unknown record tag 99"));
    /* An extension record shorter than its own name length field. */
    uint8_t short_ext[] = {'K', 'H', 'E', 'V', 1, 9, 3, 0, 0, 0, 0x2b, 8, 0};
    assert_int_equal(
        kh_broker_event_decode(short_ext, sizeof short_ext, &back, &err),
        KH_EFORMAT);
    assert_non_null(strstr(err.message, "bad name length"));
    uint8_t nul[] = {'K', 'H', 'E', 'V', 1, 1, 3, 0, 0, 0, 'a', 0, 'b'};
    assert_int_equal(kh_broker_event_decode(nul, sizeof nul, &back, &err),
                     KH_EFORMAT);
    assert_non_null(strstr(err.message, "NUL"));
    free(blob);
    kh_cloudevent_free(&ev);
}

typedef struct collected {
    int64_t seq[16];
    char key[16][64];
    int attempts[16];
    int status[16];
    char body[16][64];
    size_t n;
} collected;

static int collect(void *user, const kh_pending_delivery *d) {
    collected *c = user;
    if (c->n == 16)
        return 1;
    c->seq[c->n] = d->seq;
    snprintf(c->key[c->n], sizeof c->key[0], "%s", d->trigger_key);
    c->attempts[c->n] = d->attempts;
    c->status[c->n] = d->last_status;
    snprintf(c->body[c->n], sizeof c->body[0], "%.*s", (int)d->last_body_len,
             (const char *)d->last_body);
    c->n++;
    return 0;
}

static void bookkeeping_and_persistence(void **state) {
    (void)state;
    char path[256];
    temp_db(path, sizeof path);
    kh_broker_store *store = NULL;
    kh_error err = {0};
    must(kh_broker_store_open(path, KH_STORE_SYNC_FULL, &store, &err), &err,
         "open");

    kh_cloudevent ev;
    make_event(&ev, "e1");
    const char *keys[] = {"default/detector", "default/report"};
    int64_t seq1 = 0, seq2 = 0;
    must(kh_broker_store_accept(store, &ev, keys, 2, 1000, &seq1, &err), &err,
         "accept");
    must(kh_broker_store_accept(store, &ev, keys, 1, 1000, &seq2, &err), &err,
         "accept2");
    assert_true(seq2 > seq1);
    assert_int_equal(kh_broker_store_accept(store, &ev, keys, 0, 0, NULL,
                                            &err),
                     KH_EINVAL);
    size_t events = 0, deliveries = 0;
    must(kh_broker_store_counts(store, &events, &deliveries, &err), &err,
         "counts");
    assert_int_equal(events, 2);
    assert_int_equal(deliveries, 3);

    const char body[] = "upstream said no";
    must(kh_broker_store_record_failure(store, seq1, keys[0], 2, 503,
                                        (const uint8_t *)body,
                                        sizeof body - 1, 5000, &err),
         &err, "failure");
    must(kh_broker_store_complete(store, seq1, keys[1], &err), &err,
         "complete");
    must(kh_broker_store_complete(store, seq2, keys[0], &err), &err,
         "complete2");
    must(kh_broker_store_counts(store, &events, &deliveries, &err), &err,
         "counts2");
    assert_int_equal(events, 1); /* seq2 had its only delivery done */
    assert_int_equal(deliveries, 1);
    kh_cloudevent loaded;
    assert_int_equal(kh_broker_store_load_event(store, seq2, &loaded, &err),
                     KH_ENOTFOUND);
    kh_broker_store_close(store);

    /* Reopened: the pending delivery and its failure record are there. */
    must(kh_broker_store_open(path, KH_STORE_SYNC_FULL, &store, &err), &err,
         "reopen");
    collected c = {0};
    must(kh_broker_store_pending(store, collect, &c, &err), &err, "pending");
    assert_int_equal(c.n, 1);
    assert_int_equal(c.seq[0], seq1);
    assert_string_equal(c.key[0], "default/detector");
    assert_int_equal(c.attempts[0], 2);
    assert_int_equal(c.status[0], 503);
    assert_string_equal(c.body[0], body);
    must(kh_broker_store_load_event(store, seq1, &loaded, &err), &err,
         "load");
    assert_string_equal(loaded.id, "e1");
    kh_cloudevent_free(&loaded);

    /* A new accept after reopen gets a larger sequence number. */
    int64_t seq3 = 0;
    must(kh_broker_store_accept(store, &ev, keys, 1, 0, &seq3, &err), &err,
         "accept3");
    assert_true(seq3 > seq2);

    /* A second broker on the same database is refused while this one runs. */
    kh_broker_store *second = NULL;
    int rc = kh_broker_store_open(path, KH_STORE_SYNC_FULL, &second, &err);
    if (rc == KH_OK)
        fail_msg("a second open of %s should fail", path);
    assert_null(second);
    if (!strstr(err.message, "in use"))
        fail_msg("expected \"in use\" in \"%s\"", err.message);

    kh_broker_store_close(store);
    kh_broker_store_close(NULL);
    kh_cloudevent_free(&ev);
    remove_db(path);
}

typedef struct writer_arg {
    kh_broker_store *store;
    int thread;
    int count;
    int64_t *seqs;
    int failures;
} writer_arg;

static void *writer(void *p) {
    writer_arg *a = p;
    kh_cloudevent ev;
    make_event(&ev, "w");
    const char *keys[] = {"ns/a", "ns/b"};
    for (int i = 0; i < a->count; i++) {
        kh_error err;
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", a->thread, i);
        kh_cloudevent_set(&ev, "id", id, &err);
        if (kh_broker_store_accept(a->store, &ev, keys, 2, 0, &a->seqs[i],
                                   &err) != KH_OK)
            a->failures++;
        /* Interleave completions, which ride along in group commits. */
        if (i % 2 == 0)
            kh_broker_store_complete(a->store, a->seqs[i], "ns/a", &err);
    }
    kh_cloudevent_free(&ev);
    return NULL;
}

static int compare_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void concurrent_writers_share_commits(void **state) {
    (void)state;
    enum { THREADS = 8, PER_THREAD = 150 };
    char path[256];
    temp_db(path, sizeof path);
    kh_broker_store *store = NULL;
    kh_error err = {0};
    /* NORMAL keeps this test quick on slow disks; the code path is the
     * same. */
    must(kh_broker_store_open(path, KH_STORE_SYNC_NORMAL, &store, &err), &err,
         "open");
    static int64_t seqs[THREADS * PER_THREAD];
    pthread_t threads[THREADS];
    writer_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (writer_arg){.store = store,
                               .thread = t,
                               .count = PER_THREAD,
                               .seqs = &seqs[t * PER_THREAD]};
        pthread_create(&threads[t], NULL, writer, &args[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    size_t events = 0, deliveries = 0;
    must(kh_broker_store_counts(store, &events, &deliveries, &err), &err,
         "counts");
    assert_int_equal(events, THREADS * PER_THREAD);
    /* Each event: two deliveries, every other one with "a" completed. */
    assert_int_equal(deliveries, THREADS * PER_THREAD * 2 -
                                     THREADS * ((PER_THREAD + 1) / 2));
    qsort(seqs, THREADS * PER_THREAD, sizeof seqs[0], compare_i64);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        if (seqs[i] == seqs[i - 1])
            fail_msg("sequence number %lld handed out twice",
                     (long long)seqs[i]);
    kh_broker_store_close(store);
    remove_db(path);
}

static void open_errors_name_the_path(void **state) {
    (void)state;
    kh_broker_store *store = NULL;
    kh_error err = {0};
    int rc = kh_broker_store_open("/nonexistent-dir/x/broker.db",
                                  KH_STORE_SYNC_FULL, &store, &err);
    assert_int_equal(rc, KH_EDB);
    assert_null(store);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x/broker.db"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoding_round_trips_everything),
        cmocka_unit_test(decoding_refuses_hostile_bytes),
        cmocka_unit_test(bookkeeping_and_persistence),
        cmocka_unit_test(concurrent_writers_share_commits),
        cmocka_unit_test(open_errors_name_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
