/* The services as functions of events, over real stores (SQLite, a blob
 * folder) and fake models (a detector that returns the faces a test sets, a
 * classifier that records what it was shown): the events each one emits and
 * answers, idempotence under redelivery, refusals of hostile keys, the
 * pipeline through the embedded broker with a subscriber that fails twice,
 * ingestion, the inbox and K_CE_OVERRIDES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events/broker.h"
#include "events/trigger.h"
#include "obs/log.h"
#include "services/services.h"
#include "services/sha256.h"
#include "storage/blob.h"
#include "storage/storage.h"
#include "vision/classifier.h"
#include "vision/image.h"

#ifndef KH_SOURCE_DIR
#error "KH_SOURCE_DIR must name the source tree"
#endif

/* ---- fake models ---------------------------------------------------------- */

static kh_face fake_faces[8];
static size_t fake_face_count;
static int detector_calls;
static kh_box classified_box;
static int classified_w, classified_h;

static int fake_detect(kh_detector *self, const kh_image *picture, float scale,
                       kh_face **faces, size_t *count, kh_error *err) {
    (void)self;
    (void)picture;
    (void)scale;
    (void)err;
    __atomic_add_fetch(&detector_calls, 1, __ATOMIC_SEQ_CST);
    *faces = NULL;
    *count = fake_face_count;
    if (fake_face_count) {
        *faces = malloc(fake_face_count * sizeof **faces);
        memcpy(*faces, fake_faces, fake_face_count * sizeof **faces);
    }
    return KH_OK;
}

static void fake_destroy(kh_detector *self) { free(self); }

static int fake_detector_factory(void *user, void **instance, kh_error *err) {
    (void)user;
    (void)err;
    kh_detector *d = calloc(1, sizeof *d);
    d->name = "tinyface";
    d->detect = fake_detect;
    d->destroy = fake_destroy;
    *instance = d;
    return KH_OK;
}

/* Scores that depend on the crop's mean brightness, so that a wrong crop
 * shows as wrong scores. */
static int fake_classify(kh_classifier *self, const kh_image *picture,
                         float scale, const kh_face *faces, size_t count,
                         kh_emotion_scores *scores, kh_error *err) {
    (void)self;
    (void)scale;
    (void)err;
    for (size_t i = 0; i < count; i++) {
        classified_box = faces[i].box;
        classified_w = picture->width;
        classified_h = picture->height;
        double sum = 0;
        size_t n = (size_t)picture->width * picture->height *
                   picture->channels;
        for (size_t k = 0; k < n; k++)
            sum += picture->pixels[k];
        float mean = (float)(sum / (double)n / 255.0);
        memset(&scores[i], 0, sizeof scores[i]);
        for (int e = 0; e < KH_EMOTION_CONTEMPT; e++) {
            scores[i].p[e] = e == KH_EMOTION_HAPPINESS ? mean : 0.01f * e;
            scores[i].present[e] = true;
        }
        snprintf(scores[i].model, sizeof scores[i].model, "expression");
    }
    return KH_OK;
}

static void fake_classifier_destroy(kh_classifier *self) { free(self); }

static int fake_classifier_factory(void *user, void **instance,
                                   kh_error *err) {
    (void)user;
    (void)err;
    kh_classifier *c = calloc(1, sizeof *c);
    c->name = "expression";
    c->classify = fake_classify;
    c->destroy = fake_classifier_destroy;
    *instance = c;
    return KH_OK;
}

static void destroy_detector(void *instance) { kh_detector_destroy(instance); }
static void destroy_classifier(void *instance) {
    kh_classifier_destroy(instance);
}

/* ---- a sink that keeps what it is given ----------------------------------- */

typedef struct capture_sink {
    pthread_mutex_t lock;
    kh_cloudevent events[64];
    size_t count;
    bool fail;
} capture_sink;

static int capture_send(void *user, const kh_cloudevent *event,
                        kh_error *err) {
    capture_sink *sink = user;
    if (sink->fail)
        return kh_error_set(err, KH_ENETWORK, "sink down (test)");
    pthread_mutex_lock(&sink->lock);
    assert_true(sink->count < 64);
    int rc = kh_cloudevent_copy(&sink->events[sink->count++], event, err);
    pthread_mutex_unlock(&sink->lock);
    return rc;
}

static void capture_clear(capture_sink *sink) {
    for (size_t i = 0; i < sink->count; i++)
        kh_cloudevent_free(&sink->events[i]);
    sink->count = 0;
}

/* ---- fixture --------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    kh_blob_store *blobs;
    kh_store *store;
    kh_model_pool *detectors, *classifiers;
    kh_picture_cache *pictures;
    capture_sink sink;
    kh_face_detector_service detector;
    kh_face_extractor_service extractor;
    kh_emotion_service emotion;
    kh_report_service report;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/khappy-services-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char path[128];
    kh_error err = {0};
    snprintf(path, sizeof path, "%s/blobs", f->dir);
    if (kh_blob_store_open_dir(path, &f->blobs, &err) != KH_OK)
        goto fail;
    snprintf(path, sizeof path, "%s/khappy.db", f->dir);
    if (kh_store_open(path, &f->store, &err) != KH_OK)
        goto fail;
    if (kh_model_pool_create(2, fake_detector_factory, NULL, destroy_detector,
                             &f->detectors, &err) != KH_OK ||
        kh_model_pool_create(2, fake_classifier_factory, NULL,
                             destroy_classifier, &f->classifiers,
                             &err) != KH_OK ||
        kh_picture_cache_create(2, &f->pictures, &err) != KH_OK)
        goto fail;
    pthread_mutex_init(&f->sink.lock, NULL);
    kh_event_sink sink = {.send = capture_send, .user = &f->sink};
    f->detector = (kh_face_detector_service){.detector = "tinyface",
                                             .detectors = f->detectors,
                                             .blobs = f->blobs,
                                             .sink = sink};
    f->extractor = (kh_face_extractor_service){
        .blobs = f->blobs, .cache = f->pictures, .sink = sink};
    f->emotion = (kh_emotion_service){.classifiers = f->classifiers,
                                      .blobs = f->blobs, .sink = sink};
    f->report = (kh_report_service){.store = f->store};
    fake_face_count = 0;
    detector_calls = 0;
    *state = f;
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err.message);
    return -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    capture_clear(&f->sink);
    pthread_mutex_destroy(&f->sink.lock);
    kh_model_pool_destroy(f->detectors);
    kh_model_pool_destroy(f->classifiers);
    kh_picture_cache_destroy(f->pictures);
    kh_store_close(f->store);
    kh_blob_store_close(f->blobs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* A w x h RGB picture whose pixels say where they are. */
static void make_picture(kh_image *img, int w, int h) {
    kh_error err = {0};
    assert_int_equal(kh_image_alloc(img, w, h, 3, &err), KH_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 3);
            p[1] = (uint8_t)(y * 5);
            p[2] = (uint8_t)((x + y) & 0xff);
        }
}

static void put_png(fixture *f, const char *key, int w, int h) {
    kh_image img;
    make_picture(&img, w, h);
    uint8_t *png = NULL;
    size_t len = 0;
    kh_error err = {0};
    assert_int_equal(kh_image_encode_png(&img, &png, &len, &err), KH_OK);
    assert_int_equal(kh_blob_put(f->blobs, key, png, len, &err), KH_OK);
    free(png);
    kh_image_free(&img);
}

static void set_faces(size_t n) {
    fake_face_count = n;
    for (size_t i = 0; i < n; i++)
        fake_faces[i] = (kh_face){.box = {10.5f + 20 * (float)i, 8.25f, 15.6f,
                                          17.9f},
                                  .score = 0.9f - 0.1f * (float)i,
                                  .detector = "tinyface"};
}

#define TRACEPARENT "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static void make_event(kh_cloudevent *ev, const char *id, const char *type,
                       const char *json) {
    kh_error err = {0};
    kh_cloudevent_init(ev);
    assert_int_equal(kh_cloudevent_set(ev, "specversion", "1.0", &err), 0);
    assert_int_equal(kh_cloudevent_set(ev, "id", id, &err), 0);
    assert_int_equal(kh_cloudevent_set(ev, "source", "/test", &err), 0);
    assert_int_equal(kh_cloudevent_set(ev, "type", type, &err), 0);
    assert_int_equal(kh_cloudevent_set(ev, "traceparent", TRACEPARENT, &err),
                     0);
    if (json)
        assert_int_equal(kh_cloudevent_set_data(ev, json, strlen(json),
                                                "application/json", &err),
                         0);
}

static void stored_event(kh_cloudevent *ev, const char *picture_id,
                         const char *key) {
    char json[512], id[128];
    snprintf(json, sizeof json, "{\"picture\":{\"id\":\"%s\",\"key\":\"%s\"}}",
             picture_id, key);
    snprintf(id, sizeof id, "%s.stored", picture_id);
    make_event(ev, id, KH_EVENT_PICTURE_STORED, json);
}

/* Runs a handler with a fresh reply slot; returns its status. */
static int call(kh_ce_event_handler handler, void *service,
                const kh_cloudevent *in, kh_cloudevent *reply,
                kh_error *err) {
    kh_cloudevent_init(reply);
    kh_error_clear(err);
    return handler(service, in, reply, err);
}

static json_t *data_of(const kh_cloudevent *ev) {
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->data, ev->data_len, 0, &jerr);
    if (!root)
        fail_msg("event %s: data is not JSON: %s", ev->id, jerr.text);
    return root;
}

static void assert_status(int rc, int expected, const kh_error *err) {
    if (rc != expected)
        fail_msg("status %d, expected %d (%s)", rc, expected,
                 err ? err->message : "");
}

/* The whole chain for one stored event, as a broker would deliver it:
 * detector, then each face through extractor, emotion and report, then the
 * detector's reply to report. `times` deliveries of every event. */
static void run_chain(fixture *f, const kh_cloudevent *stored, int times) {
    kh_error err = {0};
    for (int t = 0; t < times; t++) {
        capture_clear(&f->sink);
        kh_cloudevent reply;
        assert_status(call(kh_face_detector_handle, &f->detector, stored,
                           &reply, &err),
                      KH_OK, &err);
        for (size_t i = 0; i < f->sink.count; i++) {
            kh_cloudevent cropped, scored, none;
            assert_status(call(kh_face_extractor_handle, &f->extractor,
                               &f->sink.events[i], &cropped, &err),
                          KH_OK, &err);
            assert_string_equal(cropped.type, KH_EVENT_FACE_CROPPED);
            for (int r = 0; r < times; r++) {
                assert_status(call(kh_emotion_handle, &f->emotion, &cropped,
                                   &scored, &err),
                              KH_OK, &err);
                assert_string_equal(scored.type, KH_EVENT_EMOTION_SCORED);
                assert_status(call(kh_report_handle, &f->report, &scored,
                                   &none, &err),
                              KH_OK, &err);
                assert_null(none.id);
                kh_cloudevent_free(&scored);
            }
            kh_cloudevent_free(&cropped);
        }
        kh_cloudevent none;
        assert_status(call(kh_report_handle, &f->report, &reply, &none, &err),
                      KH_OK, &err);
        kh_cloudevent_free(&reply);
    }
}

static void get_picture(fixture *f, const char *id, kh_picture_record *pic,
                        kh_face_record **faces, size_t *n) {
    kh_error err = {0};
    int rc = kh_store_picture_get(f->store, id, pic, faces, n, &err);
    if (rc != KH_OK)
        fail_msg("picture %s: %s", id, err.message);
}

/* ---- tests ------------------------------------------------------------------ */

static void sha256_matches_fips_vectors(void **state) {
    (void)state;
    static const struct {
        const char *text;
        const char *hex;
    } vectors[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        kh_sha256 h;
        uint8_t digest[32];
        char hex[65];
        kh_sha256_init(&h);
        /* Byte by byte for one, at once for the others: same digest. */
        if (i == 2)
            for (const char *c = vectors[i].text; *c; c++)
                kh_sha256_update(&h, c, 1);
        else
            kh_sha256_update(&h, vectors[i].text, strlen(vectors[i].text));
        kh_sha256_final(&h, digest);
        kh_sha256_hex(digest, 64, hex);
        assert_string_equal(hex, vectors[i].hex);
    }
    /* A million 'a' (crosses many blocks). */
    kh_sha256 h;
    uint8_t digest[32];
    char hex[65], chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    kh_sha256_init(&h);
    for (int i = 0; i < 1000; i++)
        kh_sha256_update(&h, chunk, sizeof chunk);
    kh_sha256_final(&h, digest);
    kh_sha256_hex(digest, 64, hex);
    assert_string_equal(
        hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void detector_emits_one_event_per_face_with_stable_ids(void **state) {
    fixture *f = *state;
    put_png(f, "pictures/p1.png", 80, 60);
    set_faces(3);
    kh_cloudevent in, reply;
    stored_event(&in, "p1", "pictures/p1.png");
    kh_error err = {0};
    assert_status(call(kh_face_detector_handle, &f->detector, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_int_equal(f->sink.count, 3);
    for (size_t i = 0; i < 3; i++) {
        const kh_cloudevent *ev = &f->sink.events[i];
        char id[64];
        snprintf(id, sizeof id, "p1.tinyface.face.%zu", i);
        assert_string_equal(ev->id, id);
        assert_string_equal(ev->type, KH_EVENT_FACE_DETECTED);
        assert_string_equal(kh_cloudevent_get(ev, "element"), "face");
        assert_string_equal(kh_cloudevent_get(ev, "pictureid"), "p1");
        assert_string_equal(kh_cloudevent_get(ev, "traceparent"), TRACEPARENT);
        json_t *data = data_of(ev);
        json_t *face = json_object_get(data, "face");
        assert_int_equal(json_integer_value(json_object_get(face, "index")),
                         (json_int_t)i);
        assert_string_equal(
            json_string_value(json_object_get(face, "detector")), "tinyface");
        json_t *box = json_object_get(face, "box");
        assert_float_equal(json_number_value(json_array_get(box, 0)),
                           fake_faces[i].box.x, 0.01);
        assert_float_equal(json_number_value(json_array_get(box, 3)),
                           fake_faces[i].box.h, 0.01);
        assert_int_equal(json_integer_value(json_object_get(data, "faces")), 3);
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(data, "picture"), "key")),
                            "pictures/p1.png");
        json_decref(data);
    }
    assert_string_equal(reply.type, KH_EVENT_PICTURE_DETECTED);
    assert_string_equal(reply.id, "p1.tinyface.detected");
    assert_string_equal(kh_cloudevent_get(&reply, "traceparent"), TRACEPARENT);
    json_t *data = data_of(&reply);
    assert_int_equal(json_integer_value(json_object_get(data, "faces")), 3);
    json_t *pic = json_object_get(data, "picture");
    assert_int_equal(json_integer_value(json_object_get(pic, "width")), 80);
    assert_int_equal(json_integer_value(json_object_get(pic, "height")), 60);
    json_decref(data);

    /* A redelivery: the same ids again. */
    char first[3][64];
    for (size_t i = 0; i < 3; i++)
        snprintf(first[i], sizeof first[i], "%s", f->sink.events[i].id);
    capture_clear(&f->sink);
    kh_cloudevent_free(&reply);
    assert_status(call(kh_face_detector_handle, &f->detector, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_int_equal(f->sink.count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(f->sink.events[i].id, first[i]);
    assert_string_equal(reply.id, "p1.tinyface.detected");
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&in);
}

static void redelivered_chain_stores_every_face_once(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    put_png(f, "pictures/p2.png", 120, 50);
    kh_picture_new row = {.id = "p2", .name = "p2.png",
                          .blob_key = "pictures/p2.png"};
    assert_int_equal(kh_store_picture_create(f->store, &row, NULL, &err), 0);
    set_faces(4);
    kh_cloudevent in;
    stored_event(&in, "p2", "pictures/p2.png");
    run_chain(f, &in, 3); /* every event delivered three times */
    kh_cloudevent_free(&in);
    kh_picture_record pic;
    kh_face_record *faces = NULL;
    size_t n = 0;
    get_picture(f, "p2", &pic, &faces, &n);
    if (pic.status != KH_PICTURE_DONE)
        fail_msg("picture p2 is %s, expected done (expected %d faces, %d "
                 "stored, %d scored)",
                 kh_picture_status_name(pic.status), pic.expected_faces,
                 pic.face_count, pic.scored_faces);
    assert_int_equal(pic.expected_faces, 4);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(faces[i].face_index, (int)i);
        assert_int_equal(faces[i].n_models, 1);
        assert_float_equal(faces[i].face.box.x, fake_faces[i].box.x, 0.01);
        assert_float_equal(faces[i].face.box.w, fake_faces[i].box.w, 0.01);
        assert_string_equal(faces[i].face.detector, "tinyface");
        assert_true(faces[i].crop_key[0] != '\0');
        assert_true(faces[i].models[0].present[KH_EMOTION_HAPPINESS]);
        assert_false(faces[i].models[0].present[KH_EMOTION_CONTEMPT]);
    }
    free(faces);
    kh_store_stats stats;
    assert_int_equal(kh_store_stats_get(f->store, NULL, &stats, &err), 0);
    assert_int_equal(stats.faces, 4);
}

static void picture_without_faces_ends_done(void **state) {
    fixture *f = *state;
    put_png(f, "pictures/empty.png", 30, 30);
    set_faces(0);
    kh_cloudevent in;
    stored_event(&in, "empty", "pictures/empty.png");
    run_chain(f, &in, 1);
    kh_cloudevent_free(&in);
    assert_int_equal(f->sink.count, 0);
    kh_picture_record pic;
    get_picture(f, "empty", &pic, NULL, NULL);
    assert_int_equal(pic.status, KH_PICTURE_DONE);
    assert_int_equal(pic.expected_faces, 0);
    /* The row was made by report from the event: the key and size too. */
    assert_string_equal(pic.blob_key, "pictures/empty.png");
    assert_int_equal(pic.width, 30);
}

/* Delivers `in` to the detector, expects a picture.failed reply (and no face
 * event), hands it to report and returns the picture's error. */
static void expect_failed(fixture *f, const kh_cloudevent *in,
                          const char *picture_id, const char *needle) {
    kh_error err = {0};
    kh_cloudevent reply, none;
    capture_clear(&f->sink);
    int calls_before = detector_calls;
    assert_status(call(kh_face_detector_handle, &f->detector, in, &reply,
                       &err),
                  KH_OK, &err);
    assert_int_equal(f->sink.count, 0);
    assert_int_equal(detector_calls, calls_before);
    if (!reply.type || strcmp(reply.type, KH_EVENT_PICTURE_FAILED) != 0)
        fail_msg("reply to %s: %s, expected %s", in->id,
                 reply.type ? reply.type : "none", KH_EVENT_PICTURE_FAILED);
    assert_status(call(kh_report_handle, &f->report, &reply, &none, &err),
                  KH_OK, &err);
    kh_cloudevent_free(&reply);
    kh_picture_record pic;
    get_picture(f, picture_id, &pic, NULL, NULL);
    assert_int_equal(pic.status, KH_PICTURE_FAILED);
    if (!strstr(pic.error, needle))
        fail_msg("picture %s: error '%s' does not mention '%s'", picture_id,
                 pic.error, needle);
}

static void undecodable_picture_fails_with_the_decoder_message(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    /* JPEG magic, then garbage. */
    static const uint8_t broken[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F',
                                     'I', 'F', 0, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(kh_blob_put(f->blobs, "pictures/broken.jpg", broken,
                                 sizeof broken, &err),
                     0);
    kh_cloudevent in;
    stored_event(&in, "broken", "pictures/broken.jpg");
    expect_failed(f, &in, "broken", "broken");
    kh_cloudevent_free(&in);
    /* A key with no bytes behind it. */
    stored_event(&in, "missing", "pictures/missing.jpg");
    expect_failed(f, &in, "missing", "missing");
    kh_cloudevent_free(&in);
}

static void keys_outside_the_data_folder_fail_the_picture(void **state) {
    fixture *f = *state;
    static const char *const bad[] = {
        "{\"picture\":{\"id\":\"k1\",\"key\":\"../../etc/passwd\"}}",
        "{\"picture\":{\"id\":\"k2\",\"key\":\"/etc/passwd\"}}",
        "{\"picture\":{\"id\":\"k3\",\"url\":\"file:///etc/passwd\"}}",
        "{\"picture\":{\"id\":\"k4\",\"key\":\"pictures/../../x\"}}",
        "{\"picture\":{\"id\":\"k5\",\"key\":\"file:///etc/passwd\"}}",
        "{\"picture\":{\"id\":\"k6\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kh_cloudevent in;
        char id[16], picture[8];
        snprintf(id, sizeof id, "bad-%zu", i);
        snprintf(picture, sizeof picture, "k%zu", i + 1);
        make_event(&in, id, KH_EVENT_PICTURE_STORED, bad[i]);
        expect_failed(f, &in, picture, picture);
        kh_cloudevent_free(&in);
    }
    /* The face-extractor refuses the same keys in face events. */
    kh_cloudevent in, reply;
    kh_error err = {0};
    make_event(&in, "face-bad", KH_EVENT_FACE_DETECTED,
               "{\"picture\":{\"id\":\"k1\",\"key\":\"../etc/passwd\"},"
               "\"face\":{\"index\":0,\"box\":[1,1,5,5],\"score\":0.9,"
               "\"detector\":\"tinyface\"}}");
    kh_cloudevent_set(&in, "element", "face", NULL);
    assert_status(call(kh_face_extractor_handle, &f->extractor, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_string_equal(reply.type, KH_EVENT_PICTURE_FAILED);
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&in);
}

static void picture_bytes_inside_an_event_are_stored_and_detected(
    void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_image img;
    make_picture(&img, 40, 30);
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(kh_image_encode_png(&img, &png, &len, &err), 0);
    kh_image_free(&img);
    set_faces(1);
    kh_cloudevent in, reply, reply2;
    make_event(&in, "outside-1", KH_EVENT_PICTURE_STORED, NULL);
    assert_int_equal(kh_cloudevent_set_data(&in, png, len, "image/png", &err),
                     0);
    assert_int_equal(kh_cloudevent_set(&in, "subject", "holiday.png", &err), 0);
    /* A producer cannot choose the id (and so cannot overwrite bytes). */
    assert_int_equal(kh_cloudevent_set(&in, "pictureid", "p1", &err), 0);
    assert_status(call(kh_face_detector_handle, &f->detector, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_string_equal(reply.type, KH_EVENT_PICTURE_DETECTED);
    const char *id = kh_cloudevent_get(&reply, "pictureid");
    assert_non_null(id);
    assert_true(strncmp(id, "ce-", 3) == 0);
    assert_int_equal(f->sink.count, 1);
    /* Delivered again: the same picture. */
    assert_status(call(kh_face_detector_handle, &f->detector, &in, &reply2,
                       &err),
                  KH_OK, &err);
    assert_string_equal(kh_cloudevent_get(&reply2, "pictureid"), id);
    json_t *data = data_of(&reply);
    json_t *pic = json_object_get(data, "picture");
    const char *key = json_string_value(json_object_get(pic, "key"));
    assert_non_null(key);
    void *stored = NULL;
    size_t stored_len = 0;
    assert_int_equal(kh_blob_get(f->blobs, key, 0, &stored, &stored_len, &err),
                     0);
    assert_int_equal(stored_len, len);
    assert_memory_equal(stored, png, len);
    free(stored);
    assert_string_equal(json_string_value(json_object_get(pic, "name")),
                        "holiday.png");
    json_decref(data);
    /* Report makes the row from the reply. */
    kh_cloudevent none;
    assert_status(call(kh_report_handle, &f->report, &reply, &none, &err),
                  KH_OK, &err);
    kh_picture_record record;
    char id_copy[KH_ID_MAX];
    snprintf(id_copy, sizeof id_copy, "%s", id);
    get_picture(f, id_copy, &record, NULL, NULL);
    assert_string_equal(record.name, "holiday.png");
    assert_string_equal(record.content_type, "image/png");
    assert_int_equal(record.expected_faces, 1);
    free(png);
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&reply2);
    kh_cloudevent_free(&in);
}

static void crop_is_face_apis_crop_stored_as_png(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    put_png(f, "pictures/c.png", 64, 48);
    kh_cloudevent in, reply;
    /* A box that sticks out at the right: clipped, floored. */
    make_event(&in, "c.tinyface.face.0", KH_EVENT_FACE_DETECTED,
               "{\"picture\":{\"id\":\"c\",\"key\":\"pictures/c.png\"},"
               "\"faces\":1,\"face\":{\"index\":0,\"box\":[50.7,10.2,20.5,"
               "12.9],\"score\":0.8,\"detector\":\"tinyface\"}}");
    kh_cloudevent_set(&in, "element", "face", NULL);
    assert_status(call(kh_face_extractor_handle, &f->extractor, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_string_equal(reply.type, KH_EVENT_FACE_CROPPED);
    assert_string_equal(reply.id, "c.tinyface.face.0.cropped");
    assert_string_equal(kh_cloudevent_get(&reply, "element"), "face");
    json_t *data = data_of(&reply);
    json_t *crop = json_object_get(data, "crop");
    const char *key = json_string_value(json_object_get(crop, "key"));
    assert_non_null(key);
    assert_true(kh_blob_key_valid(key));
    assert_non_null(strstr(key, ".png"));

    kh_face_crop expected;
    kh_box box = {50.7f, 10.2f, 20.5f, 12.9f};
    assert_true(kh_face_crop_of(&box, 64, 48, &expected));
    assert_int_equal(json_integer_value(json_object_get(crop, "width")),
                     expected.w);
    assert_int_equal(json_integer_value(json_object_get(crop, "height")),
                     expected.h);
    void *bytes = NULL;
    size_t len = 0;
    assert_int_equal(kh_blob_get(f->blobs, key, 0, &bytes, &len, &err), 0);
    kh_image stored, picture, want;
    assert_int_equal(kh_image_decode(bytes, len, key, NULL, &stored, NULL,
                                     NULL, NULL, &err),
                     0);
    free(bytes);
    make_picture(&picture, 64, 48);
    assert_int_equal(kh_image_crop(&picture, expected.x, expected.y,
                                   expected.w, expected.h, &want, &err),
                     0);
    assert_int_equal(stored.width, want.width);
    assert_int_equal(stored.height, want.height);
    assert_memory_equal(stored.pixels, want.pixels,
                        (size_t)want.width * want.height * 3);
    kh_image_free(&stored);
    kh_image_free(&picture);
    kh_image_free(&want);

    /* The emotion service shows the classifier the whole crop. */
    kh_cloudevent scored;
    assert_status(call(kh_emotion_handle, &f->emotion, &reply, &scored, &err),
                  KH_OK, &err);
    assert_string_equal(scored.type, KH_EVENT_EMOTION_SCORED);
    assert_string_equal(scored.id, "c.tinyface.face.0.expression");
    assert_int_equal(classified_w, expected.w);
    assert_int_equal(classified_h, expected.h);
    assert_float_equal(classified_box.x, 0, 0);
    assert_float_equal(classified_box.y, 0, 0);
    assert_float_equal(classified_box.w, expected.w, 0);
    assert_float_equal(classified_box.h, expected.h, 0);
    json_t *scores = data_of(&scored);
    json_t *emotions = json_object_get(scores, "emotions");
    assert_int_equal(json_object_size(emotions), 7);
    assert_non_null(json_object_get(emotions, "happiness"));
    assert_null(json_object_get(emotions, "contempt"));
    assert_string_equal(json_string_value(json_object_get(scores, "model")),
                        "expression");
    /* The face data travels on. */
    assert_float_equal(json_number_value(json_array_get(
                           json_object_get(json_object_get(scores, "face"),
                                           "box"),
                           0)),
                       50.7, 0.01);
    json_decref(scores);
    json_decref(data);
    kh_cloudevent_free(&scored);
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&in);
}

static void face_outside_the_picture_is_scored_empty_and_completes(
    void **state) {
    fixture *f = *state;
    put_png(f, "pictures/o.png", 20, 20);
    fake_face_count = 1;
    fake_faces[0] = (kh_face){.box = {100, 100, 10, 10}, .score = 0.7f,
                              .detector = "tinyface"};
    kh_cloudevent in;
    stored_event(&in, "o", "pictures/o.png");
    run_chain(f, &in, 1);
    kh_cloudevent_free(&in);
    kh_picture_record pic;
    kh_face_record *faces = NULL;
    size_t n = 0;
    get_picture(f, "o", &pic, &faces, &n);
    assert_int_equal(pic.status, KH_PICTURE_DONE);
    assert_int_equal(n, 1);
    assert_string_equal(faces[0].crop_key, "");
    assert_int_equal(faces[0].top_emotion, KH_EMOTION_COUNT);
    free(faces);
}

static void events_for_other_services_and_bad_data_are_refused(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_cloudevent in, reply;
    /* Wrong type for each service: 400-class, no reply. */
    make_event(&in, "x1", "com.example.other", "{}");
    assert_int_equal(call(kh_face_detector_handle, &f->detector, &in, &reply,
                          &err),
                     KH_EINVAL);
    assert_null(reply.id);
    assert_int_equal(call(kh_face_extractor_handle, &f->extractor, &in,
                          &reply, &err),
                     KH_EINVAL);
    assert_int_equal(call(kh_emotion_handle, &f->emotion, &in, &reply, &err),
                     KH_EINVAL);
    assert_int_equal(call(kh_report_handle, &f->report, &in, &reply, &err),
                     KH_EINVAL);
    assert_non_null(strstr(err.message, "com.example.other"));
    kh_cloudevent_free(&in);
    /* A face event without element=face. */
    make_event(&in, "x2", KH_EVENT_FACE_DETECTED, "{}");
    assert_int_equal(call(kh_face_extractor_handle, &f->extractor, &in,
                          &reply, &err),
                     KH_EINVAL);
    kh_cloudevent_free(&in);
    /* Data that is not JSON, or has no usable picture id. */
    make_event(&in, "x3", KH_EVENT_PICTURE_STORED, "{not json");
    assert_int_equal(call(kh_face_detector_handle, &f->detector, &in, &reply,
                          &err),
                     KH_EFORMAT);
    kh_cloudevent_free(&in);
    make_event(&in, "x4", KH_EVENT_PICTURE_STORED,
               "{\"picture\":{\"id\":\"../x\",\"key\":\"pictures/a.jpg\"}}");
    assert_int_equal(call(kh_face_detector_handle, &f->detector, &in, &reply,
                          &err),
                     KH_EINVAL);
    kh_cloudevent_free(&in);
    /* Scores with a name that is no emotion, a non-finite box. */
    make_event(&in, "x5", KH_EVENT_EMOTION_SCORED,
               "{\"picture\":{\"id\":\"q\"},\"face\":{\"index\":0,\"box\":[1,"
               "1,2,2],\"score\":1,\"detector\":\"tinyface\"},\"model\":"
               "\"expression\",\"emotions\":{\"joy\":1}}");
    assert_int_equal(call(kh_report_handle, &f->report, &in, &reply, &err),
                     KH_EINVAL);
    kh_cloudevent_free(&in);
    make_event(&in, "x6", KH_EVENT_EMOTION_SCORED,
               "{\"picture\":{\"id\":\"q\"},\"face\":{\"index\":0,\"box\":[1,"
               "1,-2,2],\"score\":1,\"detector\":\"tinyface\"},\"model\":"
               "\"expression\",\"emotions\":{}}");
    assert_int_equal(call(kh_report_handle, &f->report, &in, &reply, &err),
                     KH_EINVAL);
    kh_cloudevent_free(&in);
    kh_picture_record pic;
    assert_int_equal(kh_store_picture_get(f->store, "q", &pic, NULL, NULL,
                                          &err),
                     KH_ENOTFOUND);
}

static void sink_failure_asks_for_a_retry(void **state) {
    fixture *f = *state;
    put_png(f, "pictures/s.png", 40, 40);
    set_faces(2);
    f->sink.fail = true;
    kh_cloudevent in, reply;
    kh_error err = {0};
    stored_event(&in, "s", "pictures/s.png");
    assert_int_equal(call(kh_face_detector_handle, &f->detector, &in, &reply,
                          &err),
                     503);
    assert_null(reply.id); /* no count before every face is out */
    assert_non_null(strstr(err.message, "sink down"));
    f->sink.fail = false;
    assert_status(call(kh_face_detector_handle, &f->detector, &in, &reply,
                       &err),
                  KH_OK, &err);
    assert_int_equal(f->sink.count, 2);
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&in);
}

static void report_creates_a_missing_picture_from_any_event(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_cloudevent in, none;
    /* Scores before the picture's row and before the face count. */
    make_event(&in, "late.tinyface.face.0.expression", KH_EVENT_EMOTION_SCORED,
               "{\"picture\":{\"id\":\"late\",\"key\":\"pictures/late.jpg\","
               "\"name\":\"late.jpg\",\"size\":1234},\"faces\":1,"
               "\"face\":{\"index\":0,\"box\":[1,2,3,4],\"score\":0.5,"
               "\"detector\":\"tinyface\"},\"model\":\"expression\","
               "\"emotions\":{\"neutral\":0.25,\"happiness\":0.75}}");
    assert_status(call(kh_report_handle, &f->report, &in, &none, &err), KH_OK,
                  &err);
    assert_status(call(kh_report_handle, &f->report, &in, &none, &err), KH_OK,
                  &err);
    kh_cloudevent_free(&in);
    kh_picture_record pic;
    kh_face_record *faces = NULL;
    size_t n = 0;
    get_picture(f, "late", &pic, &faces, &n);
    assert_int_equal(pic.status, KH_PICTURE_PENDING);
    assert_string_equal(pic.name, "late.jpg");
    assert_int_equal(n, 1);
    assert_int_equal(faces[0].top_emotion, KH_EMOTION_HAPPINESS);
    free(faces);
    make_event(&in, "late.tinyface.detected", KH_EVENT_PICTURE_DETECTED,
               "{\"picture\":{\"id\":\"late\",\"width\":640,\"height\":480},"
               "\"faces\":1,\"detector\":\"tinyface\"}");
    assert_status(call(kh_report_handle, &f->report, &in, &none, &err), KH_OK,
                  &err);
    kh_cloudevent_free(&in);
    get_picture(f, "late", &pic, NULL, NULL);
    assert_int_equal(pic.status, KH_PICTURE_DONE);
    assert_int_equal(pic.width, 640);
}

static void overrides_follow_k_ce_overrides(void **state) {
    (void)state;
    kh_ce_overrides o;
    kh_error err = {0};
    assert_int_equal(kh_ce_overrides_parse(NULL, &o, &err), KH_OK);
    assert_int_equal(o.count, 0);
    assert_int_equal(kh_ce_overrides_parse(
                         "{\"extensions\":{\"cluster\":\"eu1\",\"team\":\"a\"}}",
                         &o, &err),
                     KH_OK);
    assert_int_equal(o.count, 2);
    kh_cloudevent ev;
    make_event(&ev, "o1", "t", NULL);
    assert_int_equal(kh_ce_overrides_apply(&o, &ev, &err), KH_OK);
    assert_string_equal(kh_cloudevent_get(&ev, "cluster"), "eu1");
    assert_string_equal(kh_cloudevent_get(&ev, "team"), "a");
    kh_cloudevent_free(&ev);
    kh_ce_overrides_free(&o);
    static const char *const bad[] = {
        "not json", "[]", "{\"extensions\":{\"id\":\"x\"}}",
        "{\"extensions\":{\"Bad-Name\":\"x\"}}",
        "{\"extensions\":{\"n\":1}}", "{\"other\":{}}",
        "{\"extensions\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = kh_ce_overrides_parse(bad[i], &o, &err);
        if (rc == KH_OK)
            fail_msg("K_CE_OVERRIDES '%s' was accepted", bad[i]);
        assert_int_equal(o.count, 0);
    }
}

static void ingest_queues_the_event_then_records_the_picture(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_image img;
    make_picture(&img, 16, 12);
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(kh_image_encode_png(&img, &png, &len, &err), 0);
    kh_image_free(&img);
    kh_ingest ingest = {.store = f->store, .blobs = f->blobs,
                        .sink = {.send = capture_send, .user = &f->sink}};
    kh_ingest_request req = {.bytes = png, .len = len, .name = "dir/up.png",
                             .source = "/test"};
    char id[KH_ID_MAX];
    assert_status(kh_ingest_picture(&ingest, &req, id, &err), KH_OK, &err);
    assert_int_equal(f->sink.count, 1);
    const kh_cloudevent *ev = &f->sink.events[0];
    assert_string_equal(ev->type, KH_EVENT_PICTURE_STORED);
    assert_string_equal(kh_cloudevent_get(ev, "pictureid"), id);
    const char *trace = kh_cloudevent_get(ev, "traceparent");
    assert_non_null(trace);
    assert_int_equal(strlen(trace), 55);
    assert_true(strncmp(trace, "00-", 3) == 0 && trace[35] == '-' &&
                strcmp(trace + 52, "-01") == 0);
    kh_picture_record pic;
    get_picture(f, id, &pic, NULL, NULL);
    assert_int_equal(pic.status, KH_PICTURE_PENDING);
    assert_string_equal(pic.name, "up.png");
    assert_int_equal(pic.width, 16);
    json_t *data = data_of(ev);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(data, "picture"), "key")),
                        pic.blob_key);
    json_decref(data);

    /* Content ids: the same bytes twice are one picture. */
    char content_id[KH_ID_MAX];
    kh_ingest_content_id("demo", png, len, NULL, content_id);
    req.id = content_id;
    assert_status(kh_ingest_picture(&ingest, &req, NULL, &err), KH_OK, &err);
    assert_int_equal(kh_ingest_picture(&ingest, &req, NULL, &err), KH_EEXIST);
    assert_int_equal(f->sink.count, 2);
    /* Not a picture: refused, nothing queued. */
    req.id = NULL;
    req.bytes = "hello";
    req.len = 5;
    assert_int_equal(kh_ingest_picture(&ingest, &req, NULL, &err),
                     KH_EUNSUPPORTED);
    assert_int_equal(f->sink.count, 2);
    /* The broker refuses: no row, no bytes left behind. */
    f->sink.fail = true;
    req.bytes = png;
    req.len = len;
    assert_int_equal(kh_ingest_picture(&ingest, &req, id, &err),
                     KH_ENETWORK);
    f->sink.fail = false;
    kh_store_stats stats;
    assert_int_equal(kh_store_stats_get(f->store, NULL, &stats, &err), 0);
    assert_int_equal(stats.pictures, 2);
    free(png);
}

static void model_pool_reuses_instances_up_to_its_bound(void **state) {
    (void)state;
    kh_model_pool *pool = NULL;
    kh_error err = {0};
    assert_int_equal(kh_model_pool_create(2, fake_classifier_factory, NULL,
                                          destroy_classifier, &pool, &err),
                     0);
    void *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(kh_model_pool_acquire(pool, &a, &err), 0);
    assert_int_equal(kh_model_pool_acquire(pool, &b, &err), 0);
    assert_ptr_not_equal(a, b);
    kh_model_pool_release(pool, a);
    assert_int_equal(kh_model_pool_acquire(pool, &c, &err), 0);
    assert_ptr_equal(a, c);
    kh_model_pool_release(pool, b);
    kh_model_pool_release(pool, c);
    kh_model_pool_destroy(pool);
    assert_int_equal(kh_model_pool_create(0, fake_classifier_factory, NULL,
                                          destroy_classifier, &pool, &err),
                     KH_EINVAL);
}


static void encode(const kh_image *img, uint8_t **png, size_t *len) {
    kh_error err = {0};
    assert_int_equal(kh_image_encode_png(img, png, len, &err), KH_OK);
}

static void picture_cache_serves_only_the_same_bytes(void **state) {
    (void)state;
    kh_error err = {0};
    kh_picture_cache *cache = NULL;
    assert_int_equal(kh_picture_cache_create(1, &cache, &err), KH_OK);
    kh_image a, b;
    make_picture(&a, 20, 10);
    make_picture(&b, 20, 10);
    b.pixels[0] ^= 0xff; /* same size, one pixel differs */
    uint8_t *png_a = NULL, *png_b = NULL;
    size_t len_a = 0, len_b = 0;
    encode(&a, &png_a, &len_a);
    encode(&b, &png_b, &len_b);

    const kh_image *first = NULL, *again = NULL, *other = NULL, *third = NULL;
    kh_picture_cache_entry *h1 = NULL, *h2 = NULL, *h3 = NULL, *h4 = NULL;
    assert_int_equal(kh_picture_cache_decode(cache, "k", png_a, len_a, &first,
                                             &h1, &err),
                     KH_OK);
    assert_memory_equal(first->pixels, a.pixels, 20 * 10 * 3);
    /* Same key and bytes: the same decoding. */
    assert_int_equal(kh_picture_cache_decode(cache, "k", png_a, len_a, &again,
                                             &h2, &err),
                     KH_OK);
    assert_ptr_equal(first, again);
    /* Same key, other bytes: never the cached picture. The only slot is in
     * use, so this one is decoded for the caller alone. */
    assert_int_equal(kh_picture_cache_decode(cache, "k", png_b, len_b, &other,
                                             &h3, &err),
                     KH_OK);
    assert_ptr_not_equal(other, first);
    assert_int_equal(other->pixels[0], b.pixels[0]);
    kh_picture_cache_release(cache, h1);
    kh_picture_cache_release(cache, h2);
    kh_picture_cache_release(cache, h3);
    /* Now the slot is idle: the other picture takes it. */
    assert_int_equal(kh_picture_cache_decode(cache, "k", png_b, len_b, &third,
                                             &h4, &err),
                     KH_OK);
    assert_memory_equal(third->pixels, b.pixels, 20 * 10 * 3);
    kh_picture_cache_release(cache, h4);
    /* Bytes that are no picture: an error, nothing kept. */
    const kh_image *bad = NULL;
    kh_picture_cache_entry *h5 = NULL;
    assert_int_not_equal(kh_picture_cache_decode(cache, "bad", "nope", 4, &bad,
                                                 &h5, &err),
                         KH_OK);
    /* No cache at all works too. */
    assert_int_equal(kh_picture_cache_decode(NULL, "k", png_a, len_a, &bad,
                                             &h5, &err),
                     KH_OK);
    assert_memory_equal(bad->pixels, a.pixels, 20 * 10 * 3);
    kh_picture_cache_release(NULL, h5);
    kh_picture_cache_destroy(cache);
    kh_image_free(&a);
    kh_image_free(&b);
    free(png_a);
    free(png_b);
}

typedef struct cache_worker {
    kh_picture_cache *cache;
    const uint8_t *png;
    size_t len;
    const uint8_t *expected;
    int failures;
} cache_worker;

static void *cache_worker_main(void *arg) {
    cache_worker *w = arg;
    for (int i = 0; i < 50; i++) {
        const kh_image *img = NULL;
        kh_picture_cache_entry *h = NULL;
        kh_error err = {0};
        if (kh_picture_cache_decode(w->cache, "pictures/same", w->png, w->len,
                                    &img, &h, &err) != KH_OK ||
            memcmp(img->pixels, w->expected, 32 * 24 * 3) != 0)
            w->failures++;
        kh_picture_cache_release(w->cache, h);
    }
    return NULL;
}

static void picture_cache_is_shared_by_threads(void **state) {
    (void)state;
    kh_error err = {0};
    kh_picture_cache *cache = NULL;
    assert_int_equal(kh_picture_cache_create(2, &cache, &err), KH_OK);
    kh_image img;
    make_picture(&img, 32, 24);
    uint8_t *png = NULL;
    size_t len = 0;
    encode(&img, &png, &len);
    cache_worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (cache_worker){cache, png, len, img.pixels, 0};
        pthread_create(&threads[i], NULL, cache_worker_main, &workers[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].failures, 0);
    }
    kh_picture_cache_destroy(cache);
    kh_image_free(&img);
    free(png);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void inbox_takes_each_file_once(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    char dir[128], path[192];
    snprintf(dir, sizeof dir, "%s/inbox", f->dir);
    kh_ingest ingest = {.store = f->store, .blobs = f->blobs,
                        .sink = {.send = capture_send, .user = &f->sink}};
    kh_inbox_options opts = {.dir = dir, .poll_ms = 20, .ingest = &ingest};
    kh_inbox *inbox = NULL;
    assert_int_equal(kh_inbox_start(&opts, &inbox, &err), 0);
    kh_image img;
    make_picture(&img, 8, 8);
    snprintf(path, sizeof path, "%s/.a.png.tmp", dir);
    assert_int_equal(kh_image_save(&img, path, &err), 0);
    kh_image_free(&img);
    char final_path[192];
    snprintf(final_path, sizeof final_path, "%s/a.png", dir);
    assert_int_equal(rename(path, final_path), 0);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    FILE *txt = fopen(path, "w");
    fputs("not a picture", txt);
    fclose(txt);
    char done[192], failed[192];
    snprintf(done, sizeof done, "%s/done/a.png", dir);
    snprintf(failed, sizeof failed, "%s/failed/notes.txt", dir);
    for (int i = 0; i < 500 && !(file_exists(done) && file_exists(failed));
         i++)
        usleep(10000);
    kh_inbox_stop(inbox);
    if (!file_exists(done) || !file_exists(failed))
        fail_msg("inbox: done/a.png %s, failed/notes.txt %s",
                 file_exists(done) ? "there" : "missing",
                 file_exists(failed) ? "there" : "missing");
    assert_false(file_exists(final_path));
    assert_int_equal(f->sink.count, 1);
    kh_store_stats stats;
    assert_int_equal(kh_store_stats_get(f->store, NULL, &stats, &err), 0);
    assert_int_equal(stats.pictures, 1);
}

/* ---- through the embedded broker --------------------------------------------- */

/* Answers 503 to the first two deliveries of every event, then hands the
 * event to the real service. */
typedef struct flaky {
    kh_ce_event_handler handle;
    void *service;
    pthread_mutex_t lock;
    char ids[64][KH_EVENT_ID_MAX];
    int failures[64];
    size_t n;
    int total_failures;
} flaky;

static int flaky_handle(void *user, const kh_cloudevent *in,
                        kh_cloudevent *reply, kh_error *err) {
    flaky *fl = user;
    pthread_mutex_lock(&fl->lock);
    size_t i = 0;
    while (i < fl->n && strcmp(fl->ids[i], in->id) != 0)
        i++;
    if (i == fl->n && fl->n < 64)
        snprintf(fl->ids[fl->n++], KH_EVENT_ID_MAX, "%s", in->id);
    bool fail = i < 64 && fl->failures[i] < 2;
    if (fail) {
        fl->failures[i]++;
        fl->total_failures++;
    }
    pthread_mutex_unlock(&fl->lock);
    if (fail) {
        kh_error_set(err, KH_EIO, "failing on purpose");
        return 503;
    }
    return fl->handle(fl->service, in, reply, err);
}

static int broker_send(void *user, const kh_cloudevent *event,
                       kh_error *err) {
    return kh_broker_ingest(user, event, err);
}

static void broker_retries_a_failing_subscriber_and_stores_once(void **state) {
    fixture *f = *state;
    kh_error err = {0};
    kh_trigger_set *triggers = NULL;
    assert_int_equal(kh_trigger_set_create(&triggers, &err), 0);
    if (kh_trigger_set_load_dir(triggers, KH_SOURCE_DIR "/triggers", &err))
        fail_msg("%s", err.message);
    flaky report = {.handle = kh_report_handle, .service = &f->report};
    pthread_mutex_init(&report.lock, NULL);
    kh_broker_subscriber subscribers[] = {
        {.name = "khappy-face-detector-tinyface",
         .function = kh_face_detector_handle, .function_user = &f->detector},
        {.name = "khappy-face-extractor",
         .function = kh_face_extractor_handle, .function_user = &f->extractor},
        {.name = "khappy-emotion", .function = kh_emotion_handle,
         .function_user = &f->emotion},
        {.name = "khappy-report", .function = flaky_handle,
         .function_user = &report},
    };
    char store_path[128];
    snprintf(store_path, sizeof store_path, "%s/broker.db", f->dir);
    kh_broker_options opts = {.store_path = store_path,
                              .sync = KH_STORE_SYNC_NORMAL,
                              .triggers = triggers,
                              .subscribers = subscribers,
                              .n_subscribers = 4,
                              .workers = 4};
    kh_broker *broker = NULL;
    if (kh_broker_start(&opts, &broker, &err) != KH_OK)
        fail_msg("%s", err.message);
    kh_event_sink sink = {.send = broker_send, .user = broker};
    f->detector.sink = sink;
    f->extractor.sink = sink;
    f->emotion.sink = sink;
    kh_ingest ingest = {.store = f->store, .blobs = f->blobs, .sink = sink};

    set_faces(3);
    kh_image img;
    make_picture(&img, 100, 60);
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(kh_image_encode_png(&img, &png, &len, &err), 0);
    kh_image_free(&img);
    char ids[2][KH_ID_MAX];
    for (int i = 0; i < 2; i++) {
        kh_ingest_request req = {.bytes = png, .len = len, .name = "b.png",
                                 .source = "/test"};
        assert_status(kh_ingest_picture(&ingest, &req, ids[i], &err), KH_OK,
                      &err);
    }
    free(png);
    int rc = kh_broker_wait_idle(broker, 60000, &err);
    kh_broker_stats stats;
    kh_broker_get_stats(broker, &stats);
    kh_broker_stop(broker);
    kh_trigger_set_destroy(triggers);
    if (rc != KH_OK)
        fail_msg("broker not idle: %s", err.message);
    /* Report got 2 x (3 faces + 1 count) events, each failed twice. */
    assert_int_equal(report.n, 8);
    assert_int_equal(report.total_failures, 16);
    assert_true(stats.retries >= 16);
    assert_int_equal(stats.dropped, 0);
    for (int i = 0; i < 2; i++) {
        kh_picture_record pic;
        kh_face_record *faces = NULL;
        size_t n = 0;
        get_picture(f, ids[i], &pic, &faces, &n);
        assert_int_equal(pic.status, KH_PICTURE_DONE);
        assert_int_equal(n, 3);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(faces[k].n_models, 1);
        free(faces);
    }
    kh_store_stats totals;
    assert_int_equal(kh_store_stats_get(f->store, NULL, &totals, &err), 0);
    assert_int_equal(totals.faces, 6);
    pthread_mutex_destroy(&report.lock);
}

int main(void) {
    kh_log_set_level(KH_LOG_WARN); /* one info line per event is noise here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_matches_fips_vectors),
        cmocka_unit_test_setup_teardown(
            detector_emits_one_event_per_face_with_stable_ids, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            redelivered_chain_stores_every_face_once, setup, teardown),
        cmocka_unit_test_setup_teardown(picture_without_faces_ends_done,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            undecodable_picture_fails_with_the_decoder_message, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            keys_outside_the_data_folder_fail_the_picture, setup, teardown),
        cmocka_unit_test_setup_teardown(
            picture_bytes_inside_an_event_are_stored_and_detected, setup,
            teardown),
        cmocka_unit_test_setup_teardown(crop_is_face_apis_crop_stored_as_png,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            face_outside_the_picture_is_scored_empty_and_completes, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            events_for_other_services_and_bad_data_are_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(sink_failure_asks_for_a_retry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            report_creates_a_missing_picture_from_any_event, setup, teardown),
        cmocka_unit_test(overrides_follow_k_ce_overrides),
        cmocka_unit_test_setup_teardown(
            ingest_queues_the_event_then_records_the_picture, setup,
            teardown),
        cmocka_unit_test(model_pool_reuses_instances_up_to_its_bound),
        cmocka_unit_test(picture_cache_serves_only_the_same_bytes),
        cmocka_unit_test(picture_cache_is_shared_by_threads),
        cmocka_unit_test_setup_teardown(inbox_takes_each_file_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            broker_retries_a_failing_subscriber_and_stores_once, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
