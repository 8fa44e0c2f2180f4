/* report.c - the only service that writes the database: faces and their
 * scores, the detector's face count, failures. Every write is idempotent by
 * event id (storage.h), so redelivered events change nothing. */
#include <stdio.h>
#include <string.h>

#include "obs/obs.h"
#include "services/event_data.h"
#include "services/services.h"

/* Store failures that may pass (a busy or unreachable database) ask for a
 * retry; anything else is an event the store refuses for good. */
static int status_for_store(int rc, kh_error *err) {
    if (rc == KH_EDB || rc == KH_ENOMEM || rc == KH_EIO || rc == KH_ETIMEOUT ||
        rc == KH_ENETWORK) {
        kh_error_prefix(err, "report");
        return 503;
    }
    return rc;
}

/* The picture's row from what the event says, when it is not there yet: a
 * picture that entered as an event, or an ingestion interrupted between
 * queueing picture.stored and writing the row. */
static int ensure_picture(kh_store *store, const kh_picture_ref *pic,
                          kh_error *err) {
    kh_picture_new row = {
        .id = pic->id,
        .name = pic->name[0] ? pic->name : NULL,
        .content_type = pic->content_type[0] ? pic->content_type : NULL,
        .blob_key = pic->key[0] ? pic->key : NULL,
        .size_bytes = pic->size,
        .width = pic->width,
        .height = pic->height,
    };
    kh_error ignored = {0};
    int rc = kh_store_picture_create(store, &row, NULL, &ignored);
    if (rc == KH_OK || rc == KH_EEXIST)
        return KH_OK;
    *err = ignored;
    return rc;
}

static int store_scored_face(kh_store *store, const kh_cloudevent *in,
                             const kh_event_payload *p, kh_error *err) {
    if (!p->has_face || !p->has_scores)
        return kh_error_set(err, KH_EINVAL, "report: event %.100s has no face "
                            "or no scores", in->id);
    kh_face_new face = {
        .picture_id = p->picture.id,
        .face_index = p->face_index,
        .face = p->face,
        .crop_key = p->has_crop ? p->crop_key : NULL,
        .event_id = in->id,
    };
    char face_id[KH_ID_MAX];
    int rc = kh_store_face_add(store, &face, face_id, NULL, err);
    if (rc != KH_OK)
        return rc;
    kh_emotions_new emotions = {
        .picture_id = p->picture.id,
        .face_id = face_id,
        .scores = &p->scores,
        .event_id = in->id,
    };
    return kh_store_emotions_add(store, &emotions, NULL, err);
}

/* khappy_pictures_processed_total and the pipeline latency: counted when
 * this event turned the picture from pending to done or failed (two reads,
 * only when metrics are on; two events finishing one picture at the same
 * instant may both count it). */
static bool picture_pending(kh_store *store, const char *id) {
    kh_picture_record pic;
    return kh_obs_metrics() &&
           kh_store_picture_get(store, id, &pic, NULL, NULL, NULL) == KH_OK &&
           pic.status == KH_PICTURE_PENDING;
}

static void count_if_finished(kh_store *store, const char *id) {
    kh_picture_record pic;
    if (kh_store_picture_get(store, id, &pic, NULL, NULL, NULL) != KH_OK ||
        pic.status == KH_PICTURE_PENDING)
        return;
    kh_obs_picture_finished(pic.status == KH_PICTURE_FAILED,
                            (double)(pic.updated_at_ms - pic.received_at_ms) /
                                1000.0);
}

static int handle(const kh_report_service *svc, const kh_cloudevent *in,
                  kh_error *err) {
    bool scored = kh__event_is(in, KH_EVENT_EMOTION_SCORED);
    bool detected = kh__event_is(in, KH_EVENT_PICTURE_DETECTED);
    bool failed = kh__event_is(in, KH_EVENT_PICTURE_FAILED);
    if (!scored && !detected && !failed)
        return kh_error_set(err, KH_EINVAL, "report: events of type '%.100s' "
                            "are not for this service", in->type);
    kh_event_payload p;
    int rc = kh__payload_decode(in, &p, err);
    if (rc != KH_OK)
        return rc;
    if (detected && p.face_count < 0)
        return kh_error_set(err, KH_EINVAL, "report: event %.100s has no face "
                            "count", in->id);
    if ((rc = ensure_picture(svc->store, &p.picture, err)) != KH_OK)
        return status_for_store(rc, err);
    bool was_pending = picture_pending(svc->store, p.picture.id);
    if (scored)
        rc = store_scored_face(svc->store, in, &p, err);
    else if (detected)
        rc = kh_store_picture_detected(svc->store, p.picture.id, p.face_count,
                                       p.picture.width, p.picture.height, err);
    else
        rc = kh_store_picture_fail(svc->store, p.picture.id,
                                   p.error[0] ? p.error : "failed", err);
    if (rc != KH_OK)
        return status_for_store(rc, err);
    if (was_pending)
        count_if_finished(svc->store, p.picture.id);
    return KH_OK;
}

int kh_report_handle(void *service, const kh_cloudevent *in,
                     kh_cloudevent *reply, kh_error *err) {
    (void)reply; /* report is the end of the flow */
    kh_span *span = kh_obs_event_span("report", in);
    kh_obs_event_received(in, NULL);
    int rc = handle(service, in, err);
    kh__event_done(span, "report", in, NULL, rc, err);
    return rc;
}
