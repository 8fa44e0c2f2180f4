/* services.h - khappy's services: the steps from a stored picture to the
 * database of emotions, each a function of (incoming CloudEvent) -> (events
 * to emit, reply), over ports (blob store, store, detector, classifier, an
 * event sink). No HTTP in here: the same functions are the in-process
 * subscribers of `khappy serve`'s embedded broker and, behind a CloudEvents
 * receiver, the Knative services of `khappy service NAME`.
 *
 *   picture.stored --> face-detector --> face.detected (element: face) x N
 *                            \--reply--> picture.detected (N) | picture.failed
 *   face.detected  --> face-extractor --reply--> face.cropped
 *   face.cropped   --> emotion        --reply--> emotion.scored
 *   emotion.scored, picture.detected, picture.failed --> report --> store
 *
 * Only `report` writes the database (the Knative deployment gives only it
 * the database URL): the detector tells it the face count, or that a picture
 * cannot be read, with a reply event. Every event carries everything report
 * needs to create the picture's row when it is missing (pictures that enter
 * as events, or an ingestion that crashed between queueing the event and
 * writing the row). The blob store (pictures and crops) is shared by every
 * service: one folder on one machine, a shared volume on Knative.
 *
 * Every handler has kh_ce_event_handler's contract (ce_receiver.h): the reply
 * slot gets the event to answer with (NULL for batched HTTP requests: the
 * reply then goes to the sink); the return value is KH_OK, an HTTP status
 * (503: retry later) or a negative KH_E* (400 for events that are not for
 * this service or malformed). A permanent problem with a picture (bytes not
 * decodable, a key outside the blob store, a missing blob) is not an error
 * of the delivery: the reply is a picture.failed event, so that report marks
 * the picture failed with the message.
 *
 * Idempotence: every event a service emits has an id derived from the
 * picture id, the detector, the face index and the step, so a redelivered
 * event produces the same events again and the store (idempotent by event
 * id) keeps one copy. Crop keys are derived the same way.
 *
 * Event data (application/json); `picture` is in every event:
 *   "picture": {"id", "key", "name", "content_type", "size", "width",
 *               "height"}                (id required; others optional)
 *   picture.stored    {"picture"}  -- or the picture's bytes themselves
 *                     (datacontenttype image/jpeg or image/png: binary mode
 *                     body, or data_base64), for producers outside khappy;
 *                     the picture id is then derived from (source, id) and
 *                     the name taken from `subject`
 *   face.detected     {"picture", "faces": N, "face": {"index", "box":
 *                     [x,y,w,h], "score", "detector"}}
 *   face.cropped      ... + "crop": {"key", "width", "height"} (no crop when
 *                     the box lies outside the picture)
 *   emotion.scored    ... + "model", "emotions": {canonical name: p}
 *   picture.detected  {"picture", "faces": N, "detector"}
 *   picture.failed    {"picture", "error"}
 * Extensions: pictureid on every event, element=face on face events, and
 * the trace context (traceparent, tracestate: one trace per picture, started
 * at ingestion).
 *
 * Observability (src/obs/obs.h; every call is a no-op until kh_obs_init):
 * each handler runs in a CONSUMER span named after its service, child of
 * the event's traceparent, and the events it emits carry that span's
 * context; model runs are child spans and feed the inference histogram;
 * one log line per event handled (warn for failures).
 */
#ifndef KH_SERVICES_SERVICES_H
#define KH_SERVICES_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/domain.h"
#include "common/error.h"
#include "events/cloudevent.h"
#include "storage/blob.h"
#include "storage/storage.h"
#include "vision/classifier.h"
#include "vision/detector.h"

#define KH_EVENT_PICTURE_STORED "dev.khappy.picture.stored"
#define KH_EVENT_FACE_DETECTED "dev.khappy.face.detected"
#define KH_EVENT_FACE_CROPPED "dev.khappy.face.cropped"
#define KH_EVENT_EMOTION_SCORED "dev.khappy.emotion.scored"
#define KH_EVENT_PICTURE_DETECTED "dev.khappy.picture.detected"
#define KH_EVENT_PICTURE_FAILED "dev.khappy.picture.failed"

#define KH_EXT_PICTURE_ID "pictureid"
#define KH_EXT_ELEMENT "element"
#define KH_EXT_TRACEPARENT "traceparent"

/* Largest picture a service reads from the blob store. */
#define KH_SERVICE_MAX_PICTURE_BYTES ((size_t)64 << 20)

/* ---- ports --------------------------------------------------------------- */

/* Where a service puts the events it emits besides its reply: the embedded
 * broker's ingress in `khappy serve`, K_SINK over HTTP in `khappy service`.
 * send copies what it needs; it returns KH_OK once the event is accepted
 * (durable), a negative KH_E* otherwise (the caller then asks for a
 * retry). */
typedef struct kh_event_sink {
    int (*send)(void *user, const kh_cloudevent *event, kh_error *err);
    void *user;
} kh_event_sink;

/* A pool of model instances (detectors, classifiers), each used by one
 * thread at a time: acquire hands out an idle one, makes a new one while
 * fewer than `max` exist, or waits for one to be released. */
typedef struct kh_model_pool kh_model_pool;
typedef int (*kh_model_factory)(void *user, void **instance, kh_error *err);
typedef void (*kh_model_release_fn)(void *instance);

/* *out is owned by the caller (kh_model_pool_destroy). factory_user is
 * borrowed and must outlive the pool. max >= 1. */
int kh_model_pool_create(size_t max, kh_model_factory factory,
                         void *factory_user, kh_model_release_fn destroy,
                         kh_model_pool **out, kh_error *err);
/* Makes one instance now (and keeps it idle), so that a missing model file
 * shows at start, not at the first event. */
int kh_model_pool_warm(kh_model_pool *pool, kh_error *err);
int kh_model_pool_acquire(kh_model_pool *pool, void **instance,
                          kh_error *err);
void kh_model_pool_release(kh_model_pool *pool, void *instance);
/* Destroys every instance; none may be acquired. NULL is a no-op. */
void kh_model_pool_destroy(kh_model_pool *pool);

/* Factories for the models of models/ (factory_user is the options
 * struct, borrowed). */
typedef struct kh_detector_factory_options {
    const char *detector;    /* "tinyface" or "pico" */
    const char *models_dir;  /* tinyface.onnx, facefinder */
} kh_detector_factory_options;
int kh_detector_factory(void *options, void **instance, kh_error *err);
void kh_detector_factory_destroy(void *instance);

typedef struct kh_classifier_factory_options {
    const char *models_dir;  /* expression.onnx */
} kh_classifier_factory_options;
int kh_classifier_factory(void *options, void **instance, kh_error *err);
void kh_classifier_factory_destroy(void *instance);

/* ---- the services -------------------------------------------------------- */

/* face-detector: picture.stored -> face.detected per face (to the sink) and
 * picture.detected or picture.failed (the reply). */
typedef struct kh_face_detector_service {
    const char *detector;       /* "tinyface" or "pico": event ids, data */
    kh_model_pool *detectors;   /* of kh_detector */
    kh_blob_store *blobs;
    kh_event_sink sink;
    const char *source;         /* CloudEvents source; NULL: a default */
} kh_face_detector_service;
int kh_face_detector_handle(void *service, const kh_cloudevent *in,
                            kh_cloudevent *reply, kh_error *err);

/* Decoded pictures kept for the next face of the same picture: decoding a
 * photograph costs more than everything else the extractor does, and the
 * faces of one picture arrive together. An entry is used only when the
 * blob's bytes are the very bytes it was decoded from (compared in full),
 * so a cache can never answer with another picture. Faces of a picture being
 * decoded wait for it instead of decoding it again. Thread-safe. */
typedef struct kh_picture_cache kh_picture_cache;
/* capacity: decoded pictures kept (1..256). *out owned by the caller. */
int kh_picture_cache_create(size_t capacity, kh_picture_cache **out,
                            kh_error *err);
void kh_picture_cache_destroy(kh_picture_cache *cache); /* NULL: no-op */

/* The RGB decoding of `bytes` (a blob read under `key`), from the cache or
 * decoded now (kh_image_decode, no DCT scaling) and kept. *picture stays
 * valid until kh_picture_cache_release(cache, *handle); do not modify it.
 * cache NULL: decodes into a fresh picture that release frees. */
typedef struct kh_picture_cache_entry kh_picture_cache_entry;
int kh_picture_cache_decode(kh_picture_cache *cache, const char *key,
                            const void *bytes, size_t len,
                            const kh_image **picture,
                            kh_picture_cache_entry **handle, kh_error *err);
void kh_picture_cache_release(kh_picture_cache *cache,
                              kh_picture_cache_entry *handle);

/* face-extractor: face.detected (element: face) -> face.cropped. The crop is
 * face-api's (kh_face_crop_of on the fully decoded picture), stored as PNG
 * under a key derived from (picture, detector, face index). */
typedef struct kh_face_extractor_service {
    kh_blob_store *blobs;
    kh_picture_cache *cache;    /* may be NULL: decode for every face */
    kh_event_sink sink;         /* for the reply of batched requests */
    const char *source;
} kh_face_extractor_service;
int kh_face_extractor_handle(void *service, const kh_cloudevent *in,
                             kh_cloudevent *reply, kh_error *err);

/* emotion: face.cropped (element: face) -> emotion.scored. The whole crop is
 * classified: the same network input as the face's box on the picture. */
typedef struct kh_emotion_service {
    kh_model_pool *classifiers; /* of kh_classifier */
    kh_blob_store *blobs;
    kh_event_sink sink;
    const char *source;
} kh_emotion_service;
int kh_emotion_handle(void *service, const kh_cloudevent *in,
                      kh_cloudevent *reply, kh_error *err);

/* report: emotion.scored -> face and scores; picture.detected -> the face
 * count; picture.failed -> failed with the message. Idempotent by event id;
 * creates the picture's row when missing. Never replies. */
typedef struct kh_report_service {
    kh_store *store;
} kh_report_service;
int kh_report_handle(void *service, const kh_cloudevent *in,
                     kh_cloudevent *reply, kh_error *err);

/* ---- ingestion ----------------------------------------------------------- */

/* What takes pictures in (the upload API, the inbox, the demo pictures). */
typedef struct kh_ingest {
    kh_store *store;
    kh_blob_store *blobs;
    kh_event_sink sink; /* where picture.stored goes */
} kh_ingest;

typedef struct kh_ingest_request {
    const void *bytes;
    size_t len;
    const char *name;   /* file name; may be NULL */
    const char *id;     /* NULL or "": a fresh random id */
    const char *source; /* CloudEvents source, e.g. "/khappy/api" */
} kh_ingest_request;

/* Checks the bytes are a JPEG or PNG (KH_EUNSUPPORTED otherwise), writes
 * them to the blob store, queues picture.stored (in the trace of this
 * thread's current span, e.g. the upload's HTTP request, or a new trace)
 * and then records the pending picture, in that order: once this returns
 * KH_OK the picture will be processed, also after a crash at any point
 * (report creates a missing row from the events). With an id, KH_EEXIST
 * when a picture of that id is already stored (nothing done). id_out (may
 * be NULL) receives the id. */
int kh_ingest_picture(const kh_ingest *ingest, const kh_ingest_request *req,
                      char id_out[KH_ID_MAX], kh_error *err);

/* An id derived from content (and name when non-NULL): prefix + "-" + the
 * first 32 hex digits of SHA-256, for ingestion that must not store the same
 * picture twice (the demo pictures, the inbox). */
void kh_ingest_content_id(const char *prefix, const void *bytes, size_t len,
                          const char *name, char id[KH_ID_MAX]);

/* ---- inbox: a watched folder --------------------------------------------- */

/* Polls `dir` for new files (regular, not hidden), takes each one once its
 * size and modification time held still for one poll, ingests it (id from
 * name and content, so a file seen again after a crash is not stored twice)
 * and moves it to dir/done/ or dir/failed/. Reports each file through
 * on_file (called on the inbox thread): ok with the picture id, or not ok
 * with the message (picture_id ""). Failures of khappy itself (disk,
 * database, a full broker) leave the file in place for the next poll. */
typedef struct kh_inbox kh_inbox;
typedef void (*kh_inbox_report_fn)(void *user, const char *file, bool ok,
                                   const char *picture_id,
                                   const char *message);

typedef struct kh_inbox_options {
    const char *dir;
    long poll_ms;                 /* 0: 1000 */
    size_t max_bytes;             /* larger files fail; 0: 64 MiB */
    const kh_ingest *ingest;      /* borrowed */
    kh_inbox_report_fn on_file;   /* may be NULL */
    void *report_user;
} kh_inbox_options;

/* Creates dir, dir/done and dir/failed when missing and starts the thread.
 * *out is owned by the caller (kh_inbox_stop). */
int kh_inbox_start(const kh_inbox_options *opts, kh_inbox **out,
                   kh_error *err);
/* Stops the thread (after the file in progress) and frees. NULL: no-op. */
void kh_inbox_stop(kh_inbox *inbox);

/* ---- K_CE_OVERRIDES and the HTTP sink ------------------------------------- */

/* Extensions set on every event a service sends, as Knative's SinkBinding
 * asks with K_CE_OVERRIDES = {"extensions": {"name": "value", ...}}. */
typedef struct kh_ce_overrides {
    kh_ce_extension *extensions;
    size_t count;
} kh_ce_overrides;

/* Parses the JSON (NULL or "" is no override). Names must be valid
 * extension names and not core attributes; values strings. KH_EFORMAT /
 * KH_EINVAL otherwise. Free with kh_ce_overrides_free. */
int kh_ce_overrides_parse(const char *json, kh_ce_overrides *out,
                          kh_error *err);
void kh_ce_overrides_free(kh_ce_overrides *overrides); /* NULL-safe */
int kh_ce_overrides_apply(const kh_ce_overrides *overrides,
                          kh_cloudevent *event, kh_error *err);

/* The sink of `khappy service`: POSTs each event (binary mode) to url with
 * the overrides applied; a 2xx answer is success, anything else KH_ENETWORK
 * naming the status. Fields are borrowed. */
typedef struct kh_http_sink {
    const char *url;
    const kh_ce_overrides *overrides; /* may be NULL */
    long timeout_ms;                  /* 0: 30 s */
} kh_http_sink;
int kh_http_sink_send(void *http_sink, const kh_cloudevent *event,
                      kh_error *err);

/* ---- finding what ships with khappy --------------------------------------- */

/* A folder that ships with khappy (models/, triggers/): `name` in the working
 * directory, next to the executable, one or two levels above it (the checkout
 * of a build folder), or /usr/share/khappy/<name>. A candidate counts when it
 * holds `marker` (a file name; NULL: any folder). KH_OK with the path in out,
 * KH_ENOTFOUND naming the places tried. */
int kh_find_shipped_dir(const char *name, const char *marker, char *out,
                        size_t size, kh_error *err);

#endif
