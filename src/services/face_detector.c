/* face_detector.c - picture.stored -> one face.detected per face, and the
 * face count (picture.detected) or the reason the picture cannot be read
 * (picture.failed) as the reply, for report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "obs/obs.h"
#include "services/event_data.h"
#include "services/services.h"
#include "services/sha256.h"
#include "vision/image.h"

#define DEFAULT_SOURCE "/khappy/face-detector"

/* The picture as it arrived: a reference into the blob store (JSON data) or
 * the bytes themselves (a producer outside khappy). */
static bool data_is_picture_bytes(const kh_cloudevent *in) {
    const char *type = in->datacontenttype;
    if (type && (strncasecmp(type, "image/jpeg", 10) == 0 ||
                 strncasecmp(type, "image/png", 9) == 0))
        return true;
    /* No content type: sniff, JSON never starts like a JPEG or PNG. */
    return !type && in->data &&
           kh_picture_sniff(in->data, in->data_len, NULL, NULL) != NULL;
}

/* A picture that came inside an event: its id and key are derived from the
 * event's (source, id), never from what the event claims, so that an event
 * cannot overwrite another picture's bytes; a redelivery writes the same
 * bytes under the same key. */
static int store_inline_picture(const kh_face_detector_service *svc,
                                const kh_cloudevent *in, kh_event_payload *p,
                                kh_error *err) {
    kh_sha256 h;
    uint8_t digest[32];
    kh_sha256_init(&h);
    kh_sha256_update(&h, in->source, strlen(in->source) + 1);
    kh_sha256_update(&h, in->id, strlen(in->id));
    kh_sha256_final(&h, digest);
    char hex[33];
    kh_sha256_hex(digest, 32, hex);
    snprintf(p->picture.id, sizeof p->picture.id, "ce-%s", hex);

    int width = 0, height = 0;
    const char *type = kh_picture_sniff(in->data, in->data_len, &width,
                                        &height);
    if (!type)
        return kh_error_set(err, KH_EUNSUPPORTED, "picture %s: the event's "
                            "data (%zu bytes) is not a JPEG or PNG",
                            p->picture.id, in->data_len);
    snprintf(p->picture.key, sizeof p->picture.key, "pictures/%.2s/%s.%s",
             hex, p->picture.id, strcmp(type, "image/png") == 0 ? "png" : "jpg");
    snprintf(p->picture.content_type, sizeof p->picture.content_type, "%s",
             type);
    if (in->subject)
        snprintf(p->picture.name, sizeof p->picture.name, "%s", in->subject);
    p->picture.size = (int64_t)in->data_len;
    p->picture.width = width;
    p->picture.height = height;
    return kh_blob_put(svc->blobs, p->picture.key, in->data, in->data_len,
                       err);
}

static int detect(const kh_face_detector_service *svc, const kh_span *span,
                  const kh_image *img, kh_face **faces, size_t *n,
                  kh_error *err) {
    void *instance = NULL;
    int rc = kh_model_pool_acquire(svc->detectors, &instance, err);
    if (rc != KH_OK)
        return rc;
    kh_span *inference = kh_obs_child_span(span, "inference");
    kh_span_tag(inference, "model", svc->detector);
    double t0 = kh_obs_clock();
    rc = kh_detector_detect(instance, img, 1.0f, faces, n, err);
    kh_obs_inference(svc->detector, kh_obs_clock() - t0);
    kh_model_pool_release(svc->detectors, instance);
    if (rc != KH_OK)
        kh_span_set_error(inference, err->message);
    kh_span_end(inference);
    if (rc == KH_OK)
        kh_obs_faces_detected(svc->detector, *n);
    return rc;
}

/* Failures of the store or the machine (not of the picture): retry. */
static bool transient(int rc) {
    return rc == KH_EIO || rc == KH_ENOMEM || rc == KH_ENETWORK ||
           rc == KH_ETIMEOUT || rc == KH_EDB || rc == KH_EINTERNAL;
}

static int handle(const kh_face_detector_service *svc, const kh_cloudevent *in,
                  const kh_span *span, kh_cloudevent *reply, kh_error *err) {
    const char *source = svc->source ? svc->source : DEFAULT_SOURCE;
    if (!kh__event_is(in, KH_EVENT_PICTURE_STORED))
        return kh_error_set(err, KH_EINVAL, "face-detector: events of type "
                            "'%.100s' are not for this service", in->type);
    kh_event_payload p;
    kh__payload_init(&p);
    void *bytes = NULL;
    size_t len = 0;
    kh_image img = {0};
    kh_face *faces = NULL;
    size_t n_faces = 0;
    kh_error problem = {0};
    int rc;

    if (data_is_picture_bytes(in)) {
        rc = store_inline_picture(svc, in, &p, &problem);
        if (rc != KH_OK && transient(rc))
            goto retry;
        if (rc == KH_OK) {
            bytes = in->data;
            len = in->data_len;
        }
    } else {
        rc = kh__payload_decode(in, &p, &problem);
        if (rc != KH_OK && !p.picture.id[0]) {
            /* Nothing to mark failed: the event itself is bad. */
            *err = problem;
            return rc;
        }
        if (rc == KH_OK && !p.picture.key[0])
            rc = kh_error_set(&problem, KH_EINVAL, "picture %s: the event "
                              "names no blob key", p.picture.id);
        if (rc == KH_OK) {
            rc = kh_blob_get(svc->blobs, p.picture.key,
                             KH_SERVICE_MAX_PICTURE_BYTES, &bytes, &len,
                             &problem);
            if (rc != KH_OK && transient(rc))
                goto retry;
        }
    }
    if (rc == KH_OK) {
        const bool gray = strcmp(svc->detector, "pico") == 0;
        kh_decode_options opts = {.channels = gray ? 1 : 3};
        int orig_w = 0, orig_h = 0;
        rc = kh_image_decode(bytes, len, p.picture.id, &opts, &img, NULL,
                             &orig_w, &orig_h, &problem);
        if (rc == KH_OK) {
            p.picture.width = orig_w;
            p.picture.height = orig_h;
            p.picture.size = (int64_t)len;
            rc = detect(svc, span, &img, &faces, &n_faces, &problem);
            if (rc != KH_OK && transient(rc))
                goto retry;
        }
    }
    if (bytes != in->data)
        free(bytes);
    kh_image_free(&img);
    if (rc != KH_OK) {
        free(faces);
        return kh__reply_failed(svc->detector, source, in, span, &p,
                                problem.message, reply, &svc->sink, err);
    }

    /* One event per face to the sink, then the count as the reply: the
     * count reaches report only once every face is queued. */
    p.face_count = (int)n_faces;
    for (size_t i = 0; i < n_faces; i++) {
        kh_event_payload face = p;
        face.has_face = true;
        face.face_index = (int)i;
        face.face = faces[i];
        snprintf(face.face.detector, sizeof face.face.detector, "%s",
                 svc->detector);
        char id[KH_EVENT_ID_MAX];
        kh__face_event_id(&face, "", id);
        kh_cloudevent ev;
        rc = kh__event_build(&ev, id, KH_EVENT_FACE_DETECTED, source, in,
                             span, &face, true, err);
        if (rc == KH_OK)
            rc = svc->sink.send ? svc->sink.send(svc->sink.user, &ev, err)
                                : kh_error_set(err, KH_ESTATE, "face-detector: "
                                               "no sink for face events");
        kh_cloudevent_free(&ev);
        if (rc != KH_OK) {
            free(faces);
            kh_error_prefix(err, "face-detector: picture %s, face %zu",
                            p.picture.id, i);
            return 503;
        }
    }
    free(faces);
    snprintf(p.detector, sizeof p.detector, "%s", svc->detector);
    char id[KH_EVENT_ID_MAX];
    snprintf(id, sizeof id, "%s.%s.detected", p.picture.id, svc->detector);
    kh_cloudevent ev;
    rc = kh__event_build(&ev, id, KH_EVENT_PICTURE_DETECTED, source, in, span,
                         &p, false, err);
    if (rc != KH_OK) {
        kh_cloudevent_free(&ev);
        return rc;
    }
    return kh__deliver_reply(&ev, reply, &svc->sink, err);

retry:
    if (bytes != in->data)
        free(bytes);
    kh_image_free(&img);
    free(faces);
    *err = problem;
    kh_error_prefix(err, "face-detector");
    return 503;
}

int kh_face_detector_handle(void *service, const kh_cloudevent *in,
                            kh_cloudevent *reply, kh_error *err) {
    kh_span *span = kh_obs_event_span("face-detector", in);
    kh_obs_event_received(in, NULL);
    int rc = handle(service, in, span, reply, err);
    kh__event_done(span, "face-detector", in, reply, rc, err);
    return rc;
}
