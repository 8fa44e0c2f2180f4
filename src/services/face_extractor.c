/* face_extractor.c - face.detected -> face.cropped: cuts the face out of the
 * picture as face-api does and keeps it as a lossless PNG in the blob store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/obs.h"
#include "services/event_data.h"
#include "services/services.h"
#include "services/sha256.h"
#include "vision/classifier.h"
#include "vision/image.h"

#define DEFAULT_SOURCE "/khappy/face-extractor"

/* "crops/<2 hex>/<32 hex>.png" from (picture, detector, face index): the same
 * face always lands on the same key, whatever characters the ids use. */
static void crop_key_of(const kh_event_payload *p, char key[KH_BLOB_KEY_MAX]) {
    char index[16];
    snprintf(index, sizeof index, "%d", p->face_index);
    kh_sha256 h;
    uint8_t digest[32];
    kh_sha256_init(&h);
    kh_sha256_update(&h, p->picture.id, strlen(p->picture.id) + 1);
    kh_sha256_update(&h, p->face.detector, strlen(p->face.detector) + 1);
    kh_sha256_update(&h, index, strlen(index));
    kh_sha256_final(&h, digest);
    char hex[33];
    kh_sha256_hex(digest, 32, hex);
    snprintf(key, KH_BLOB_KEY_MAX, "crops/%.2s/%s.png", hex, hex);
}

static bool transient(int rc) {
    return rc == KH_EIO || rc == KH_ENOMEM || rc == KH_EINTERNAL;
}

/* Decodes the picture fully (no DCT scaling: face-api crops from the whole
 * picture; the cache shares one decoding between the faces of a picture)
 * and stores the crop. p->has_crop stays false when the box lies outside. */
static int cut_face(const kh_face_extractor_service *svc, kh_event_payload *p,
                    kh_error *err) {
    void *bytes = NULL;
    size_t len = 0;
    int rc = kh_blob_get(svc->blobs, p->picture.key,
                         KH_SERVICE_MAX_PICTURE_BYTES, &bytes, &len, err);
    if (rc != KH_OK)
        return rc;
    const kh_image *picture = NULL;
    kh_picture_cache_entry *decoded = NULL;
    rc = kh_picture_cache_decode(svc->cache, p->picture.key, bytes, len,
                                 &picture, &decoded, err);
    free(bytes);
    if (rc != KH_OK)
        return rc;
    kh_face_crop crop;
    if (!kh_face_crop_of(&p->face.box, picture->width, picture->height,
                         &crop)) {
        kh_picture_cache_release(svc->cache, decoded);
        return KH_OK;
    }
    kh_image face = {0};
    uint8_t *png = NULL;
    size_t png_len = 0;
    rc = kh_image_crop(picture, crop.x, crop.y, crop.w, crop.h, &face, err);
    kh_picture_cache_release(svc->cache, decoded);
    /* Lossless; zlib's fastest level: a quarter of the default's time for
     * files some 15% larger. */
    if (rc == KH_OK)
        rc = kh_image_encode_png_level(&face, 1, &png, &png_len, err);
    kh_image_free(&face);
    if (rc == KH_OK) {
        crop_key_of(p, p->crop_key);
        rc = kh_blob_put(svc->blobs, p->crop_key, png, png_len, err);
    }
    free(png);
    if (rc == KH_OK) {
        p->has_crop = true;
        p->crop_width = crop.w;
        p->crop_height = crop.h;
    }
    return rc;
}

static int handle(const kh_face_extractor_service *svc,
                  const kh_cloudevent *in, const kh_span *span,
                  kh_cloudevent *reply, kh_error *err) {
    const char *source = svc->source ? svc->source : DEFAULT_SOURCE;
    const char *element = kh_cloudevent_get(in, KH_EXT_ELEMENT);
    if (!kh__event_is(in, KH_EVENT_FACE_DETECTED) || !element ||
        strcmp(element, "face") != 0)
        return kh_error_set(err, KH_EINVAL, "face-extractor: takes %s events "
                            "with element=face, not '%.100s' (element %.20s)",
                            KH_EVENT_FACE_DETECTED, in->type,
                            element ? element : "absent");
    kh_event_payload p;
    kh_error problem = {0};
    int rc = kh__payload_decode(in, &p, &problem);
    if (rc == KH_OK && (!p.has_face || !p.picture.key[0]))
        rc = kh_error_set(&problem, KH_EINVAL, "event %.100s: a face event "
                          "needs the face and the picture's key", in->id);
    if (rc != KH_OK && !p.picture.id[0]) {
        *err = problem;
        return rc;
    }
    if (rc == KH_OK) {
        rc = cut_face(svc, &p, &problem);
        if (rc != KH_OK && transient(rc)) {
            *err = problem;
            kh_error_prefix(err, "face-extractor");
            return 503;
        }
    }
    if (rc != KH_OK) {
        char stage[KH_EVENT_ID_MAX];
        snprintf(stage, sizeof stage, "%s.face.%d.crop",
                 p.has_face ? p.face.detector : "unknown", p.face_index);
        return kh__reply_failed(stage, source, in, span, &p, problem.message,
                                reply, &svc->sink, err);
    }
    char id[KH_EVENT_ID_MAX];
    kh__face_event_id(&p, ".cropped", id);
    kh_cloudevent ev;
    rc = kh__event_build(&ev, id, KH_EVENT_FACE_CROPPED, source, in, span, &p,
                         true, err);
    if (rc != KH_OK) {
        kh_cloudevent_free(&ev);
        return rc;
    }
    return kh__deliver_reply(&ev, reply, &svc->sink, err);
}

int kh_face_extractor_handle(void *service, const kh_cloudevent *in,
                             kh_cloudevent *reply, kh_error *err) {
    kh_span *span = kh_obs_event_span("face-extractor", in);
    kh_obs_event_received(in, NULL);
    int rc = handle(service, in, span, reply, err);
    kh__event_done(span, "face-extractor", in, reply, rc, err);
    return rc;
}
