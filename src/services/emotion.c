/* emotion.c - face.cropped -> emotion.scored. The crop is the face's box
 * clipped to the picture and floored (kh_face_crop_of), so classifying the
 * whole crop builds exactly the network input that classifying the box on the
 * picture builds: same pixels, same square padding, same resize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/obs.h"
#include "services/event_data.h"
#include "services/services.h"
#include "vision/classifier.h"
#include "vision/image.h"

#define DEFAULT_SOURCE "/khappy/emotion"

static bool transient(int rc) {
    return rc == KH_EIO || rc == KH_ENOMEM || rc == KH_EINTERNAL;
}

static int classify_crop(const kh_emotion_service *svc, const kh_span *span,
                         kh_event_payload *p, kh_error *err) {
    void *bytes = NULL;
    size_t len = 0;
    int rc = kh_blob_get(svc->blobs, p->crop_key, KH_SERVICE_MAX_PICTURE_BYTES,
                         &bytes, &len, err);
    if (rc != KH_OK)
        return rc;
    kh_image crop = {0};
    kh_decode_options opts = {.channels = 3};
    rc = kh_image_decode(bytes, len, p->crop_key, &opts, &crop, NULL, NULL,
                         NULL, err);
    free(bytes);
    if (rc != KH_OK)
        return rc;
    kh_face whole = p->face;
    whole.box = (kh_box){0, 0, (float)crop.width, (float)crop.height};
    void *instance = NULL;
    rc = kh_model_pool_acquire(svc->classifiers, &instance, err);
    if (rc == KH_OK) {
        kh_classifier *classifier = instance;
        kh_span *inference = kh_obs_child_span(span, "inference");
        kh_span_tag(inference, "model", classifier->name);
        double t0 = kh_obs_clock();
        rc = kh_classifier_classify(classifier, &crop, 1.0f, &whole, 1,
                                    &p->scores, err);
        kh_obs_inference(classifier->name, kh_obs_clock() - t0);
        snprintf(p->scores.model, sizeof p->scores.model, "%s",
                 classifier->name);
        kh_model_pool_release(svc->classifiers, instance);
        if (rc != KH_OK)
            kh_span_set_error(inference, err->message);
        kh_span_end(inference);
    }
    kh_image_free(&crop);
    return rc;
}

/* A face without a crop (its box outside the picture) is scored with no
 * class present, so that its picture still completes. */
static int model_name(const kh_emotion_service *svc, char out[KH_NAME_MAX],
                      kh_error *err) {
    void *instance = NULL;
    int rc = kh_model_pool_acquire(svc->classifiers, &instance, err);
    if (rc != KH_OK)
        return rc;
    snprintf(out, KH_NAME_MAX, "%s", ((kh_classifier *)instance)->name);
    kh_model_pool_release(svc->classifiers, instance);
    return KH_OK;
}

static int handle(const kh_emotion_service *svc, const kh_cloudevent *in,
                  const kh_span *span, kh_cloudevent *reply, kh_error *err) {
    const char *source = svc->source ? svc->source : DEFAULT_SOURCE;
    const char *element = kh_cloudevent_get(in, KH_EXT_ELEMENT);
    if (!kh__event_is(in, KH_EVENT_FACE_CROPPED) || !element ||
        strcmp(element, "face") != 0)
        return kh_error_set(err, KH_EINVAL, "emotion: takes %s events with "
                            "element=face, not '%.100s' (element %.20s)",
                            KH_EVENT_FACE_CROPPED, in->type,
                            element ? element : "absent");
    kh_event_payload p;
    kh_error problem = {0};
    int rc = kh__payload_decode(in, &p, &problem);
    if (rc == KH_OK && !p.has_face)
        rc = kh_error_set(&problem, KH_EINVAL, "event %.100s: a cropped face "
                          "event needs the face", in->id);
    if (rc != KH_OK && !p.picture.id[0]) {
        *err = problem;
        return rc;
    }
    if (rc == KH_OK) {
        memset(&p.scores, 0, sizeof p.scores);
        rc = p.has_crop ? classify_crop(svc, span, &p, &problem)
                        : model_name(svc, p.scores.model, &problem);
        if (rc != KH_OK && transient(rc)) {
            *err = problem;
            kh_error_prefix(err, "emotion");
            return 503;
        }
    }
    if (rc != KH_OK) {
        char stage[KH_EVENT_ID_MAX];
        snprintf(stage, sizeof stage, "%s.face.%d.emotion",
                 p.has_face ? p.face.detector : "unknown", p.face_index);
        return kh__reply_failed(stage, source, in, span, &p, problem.message,
                                reply, &svc->sink, err);
    }
    p.has_scores = true;
    char suffix[KH_NAME_MAX + 2], id[KH_EVENT_ID_MAX];
    snprintf(suffix, sizeof suffix, ".%s", p.scores.model);
    kh__face_event_id(&p, suffix, id);
    kh_cloudevent ev;
    rc = kh__event_build(&ev, id, KH_EVENT_EMOTION_SCORED, source, in, span,
                         &p, true, err);
    if (rc != KH_OK) {
        kh_cloudevent_free(&ev);
        return rc;
    }
    return kh__deliver_reply(&ev, reply, &svc->sink, err);
}

int kh_emotion_handle(void *service, const kh_cloudevent *in,
                      kh_cloudevent *reply, kh_error *err) {
    kh_span *span = kh_obs_event_span("emotion", in);
    kh_obs_event_received(in, NULL);
    int rc = handle(service, in, span, reply, err);
    kh__event_done(span, "emotion", in, reply, rc, err);
    return rc;
}
