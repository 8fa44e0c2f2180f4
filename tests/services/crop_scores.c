/* crop_scores - the emotion service classifies the crop that the
 * face-extractor stored; this checks that this gives the scores face-api's
 * way gives (the face's box on the whole picture), on the demo pictures with
 * the real models:
 *
 *   crop_scores MODELS_DIR PICTURE...
 *
 * For each picture: face-detector, face-extractor and emotion run as
 * services over a blob folder; each face's scores are then compared with
 * kh_classifier_classify on the decoded picture and the detector's box:
 * - the stored crop, classified whole, gives bit-identical scores;
 * - so do the scores in the emotion.scored event (JSON numbers with the
 *   9 digits that give back the same float).
 * Prints one line per face with both values. Exit 0 when all hold, 1 when
 * not, 77 when the models are missing. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/services.h"
#include "storage/blob.h"
#include "vision/classifier.h"
#include "vision/detector.h"
#include "vision/image.h"

#define MAX_EVENTS 64

typedef struct capture {
    kh_cloudevent events[MAX_EVENTS];
    size_t count;
} capture;

static int capture_send(void *user, const kh_cloudevent *event,
                        kh_error *err) {
    capture *c = user;
    if (c->count == MAX_EVENTS)
        return kh_error_set(err, KH_ELIMIT, "too many events");
    return kh_cloudevent_copy(&c->events[c->count++], event, err);
}

static int read_file(const char *path, void **bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    *bytes = malloc(size > 0 ? (size_t)size : 1);
    *len = fread(*bytes, 1, (size_t)size, f);
    fclose(f);
    return *len == (size_t)size ? 0 : -1;
}

static int check_picture(const char *path, kh_blob_store *blobs,
                         kh_model_pool *detectors, kh_model_pool *classifiers,
                         int *faces_checked) {
    kh_error err = {0};
    void *bytes = NULL;
    size_t len = 0;
    if (read_file(path, &bytes, &len) != 0) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char key[KH_BLOB_KEY_MAX];
    snprintf(key, sizeof key, "pictures/%s", base);
    if (kh_blob_put(blobs, key, bytes, len, &err) != KH_OK) {
        fprintf(stderr, "%s\n", err.message);
        free(bytes);
        return 1;
    }
    capture faces = {0};
    kh_event_sink sink = {.send = capture_send, .user = &faces};
    kh_face_detector_service detector = {.detector = "tinyface",
                                         .detectors = detectors,
                                         .blobs = blobs, .sink = sink};
    kh_face_extractor_service extractor = {.blobs = blobs, .sink = sink};
    kh_emotion_service emotion = {.classifiers = classifiers, .blobs = blobs,
                                  .sink = sink};
    kh_cloudevent stored, reply;
    kh_cloudevent_init(&stored);
    kh_cloudevent_init(&reply);
    char json[512];
    snprintf(json, sizeof json, "{\"picture\":{\"id\":\"p\",\"key\":\"%s\"}}",
             key);
    kh_cloudevent_set(&stored, "specversion", "1.0", NULL);
    kh_cloudevent_set(&stored, "id", "p.stored", NULL);
    kh_cloudevent_set(&stored, "source", "/crop-scores", NULL);
    kh_cloudevent_set(&stored, "type", KH_EVENT_PICTURE_STORED, NULL);
    kh_cloudevent_set_data(&stored, json, strlen(json), "application/json",
                           NULL);
    int failures = 0;
    int rc = kh_face_detector_handle(&detector, &stored, &reply, &err);
    if (rc != KH_OK || !reply.type ||
        strcmp(reply.type, KH_EVENT_PICTURE_DETECTED) != 0) {
        fprintf(stderr, "%s: face-detector: %d %s\n", base, rc, err.message);
        failures++;
        goto out;
    }

    /* face-api's way: the boxes on the whole decoded picture. */
    kh_image picture = {0};
    kh_decode_options opts = {.channels = 3};
    if (kh_image_decode(bytes, len, base, &opts, &picture, NULL, NULL, NULL,
                        &err) != KH_OK) {
        fprintf(stderr, "%s\n", err.message);
        failures++;
        goto out;
    }
    /* One instance here, the other for the emotion service (the pool has
     * two). */
    void *instance = NULL;
    kh_model_pool_acquire(classifiers, &instance, &err);
    for (size_t i = 0; i < faces.count; i++) {
        json_t *data = json_loadb((const char *)faces.events[i].data,
                                  faces.events[i].data_len, 0, NULL);
        json_t *box = json_object_get(json_object_get(data, "face"), "box");
        kh_face face = {.box = {json_number_value(json_array_get(box, 0)),
                                json_number_value(json_array_get(box, 1)),
                                json_number_value(json_array_get(box, 2)),
                                json_number_value(json_array_get(box, 3))}};
        json_decref(data);
        kh_emotion_scores on_picture, on_crop;
        kh_classifier_classify(instance, &picture, 1.0f, &face, 1, &on_picture,
                               &err);

        kh_cloudevent cropped, scored;
        kh_cloudevent_init(&cropped);
        kh_cloudevent_init(&scored);
        if (kh_face_extractor_handle(&extractor, &faces.events[i], &cropped,
                                     &err) != KH_OK ||
            kh_emotion_handle(&emotion, &cropped, &scored, &err) != KH_OK ||
            !scored.type ||
            strcmp(scored.type, KH_EVENT_EMOTION_SCORED) != 0) {
            fprintf(stderr, "%s face %zu: %s\n", base, i, err.message);
            failures++;
            kh_cloudevent_free(&cropped);
            kh_cloudevent_free(&scored);
            continue;
        }
        /* The stored crop, classified whole, outside the service too. */
        json_t *cdata = json_loadb((const char *)cropped.data,
                                   cropped.data_len, 0, NULL);
        const char *crop_key = json_string_value(
            json_object_get(json_object_get(cdata, "crop"), "key"));
        void *png = NULL;
        size_t png_len = 0;
        kh_image crop = {0};
        kh_blob_get(blobs, crop_key, 0, &png, &png_len, &err);
        kh_image_decode(png, png_len, crop_key, &opts, &crop, NULL, NULL, NULL,
                        &err);
        free(png);
        json_decref(cdata);
        kh_face whole = {.box = {0, 0, (float)crop.width, (float)crop.height}};
        kh_classifier_classify(instance, &crop, 1.0f, &whole, 1, &on_crop,
                               &err);
        kh_image_free(&crop);
        json_t *sdata =
            json_loadb((const char *)scored.data, scored.data_len, 0, NULL);
        json_t *emotions = json_object_get(sdata, "emotions");
        for (int e = 0; e < KH_EMOTION_COUNT; e++) {
            if (!on_picture.present[e])
                continue;
            const char *name = kh_emotion_name((kh_emotion)e);
            double from_event =
                json_number_value(json_object_get(emotions, name));
            bool same = on_crop.present[e] && on_crop.p[e] == on_picture.p[e];
            bool close = (float)from_event == on_picture.p[e];
            printf("%s face %zu %-9s picture %.7f crop %.7f event %.7f%s\n",
                   base, i, name, on_picture.p[e], on_crop.p[e], from_event,
                   same && close ? "" : "  MISMATCH");
            failures += !(same && close);
        }
        json_decref(sdata);
        kh_cloudevent_free(&cropped);
        kh_cloudevent_free(&scored);
        (*faces_checked)++;
    }
    kh_model_pool_release(classifiers, instance);
    kh_image_free(&picture);
out:
    for (size_t i = 0; i < faces.count; i++)
        kh_cloudevent_free(&faces.events[i]);
    kh_cloudevent_free(&stored);
    kh_cloudevent_free(&reply);
    free(bytes);
    return failures;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: crop_scores MODELS_DIR PICTURE...\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/expression.onnx", argv[1]);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("skipped: %s is missing (make models)\n", path);
        return 77;
    }
    char dir[] = "/tmp/khappy-crop-scores-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char root[64];
    snprintf(root, sizeof root, "%s/blobs", dir);
    kh_error err = {0};
    kh_blob_store *blobs = NULL;
    kh_model_pool *detectors = NULL, *classifiers = NULL;
    kh_detector_factory_options dopts = {"tinyface", argv[1]};
    kh_classifier_factory_options copts = {argv[1]};
    int failures = 0, faces = 0;
    if (kh_blob_store_open_dir(root, &blobs, &err) != KH_OK ||
        kh_model_pool_create(1, kh_detector_factory, &dopts,
                             kh_detector_factory_destroy, &detectors,
                             &err) != KH_OK ||
        kh_model_pool_create(2, kh_classifier_factory, &copts,
                             kh_classifier_factory_destroy, &classifiers,
                             &err) != KH_OK) {
        fprintf(stderr, "%s\n", err.message);
        failures = 1;
    }
    for (int i = 2; i < argc && !failures; i++)
        failures += check_picture(argv[i], blobs, detectors, classifiers,
                                  &faces);
    kh_model_pool_destroy(detectors);
    kh_model_pool_destroy(classifiers);
    kh_blob_store_close(blobs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%d faces checked, %d mismatches\n", faces, failures);
    return failures || faces == 0 ? 1 : 0;
}
