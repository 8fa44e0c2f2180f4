/* web.h - the HTTP query API over the store, and the UI, as one handler for
 * kh_http_server. The routes and their JSON are documented in docs/API.md:
 *
 *   GET    /api/pictures?limit&cursor     newest first, paged
 *   POST   /api/pictures[?name=]          body = picture bytes -> 202 {"id"}
 *   GET    /api/pictures/{id}             picture with faces and emotions
 *   DELETE /api/pictures/{id}             rows, picture and crops -> 204
 *   GET    /api/pictures/{id}/image       the original bytes
 *   GET    /api/faces?emotion&limit&cursor  newest first, paged, filtered
 *   GET    /api/faces/{id}/crop           the crop's bytes
 *   GET    /api/stats[?picture=id]        counts per status and emotion
 *   GET    /, /app.js, /style.css         the UI (embedded in the binary)
 *
 * Errors are {"error": "..."}: 400 bad parameter, 404 unknown id or route,
 * 405 wrong method (with Allow), 413/415 refused upload, 500 otherwise.
 * Knows the store and the blob store; knows nothing of the pipeline, which
 * it reaches only through the ingest hook.
 */
#ifndef KH_WEB_WEB_H
#define KH_WEB_WEB_H

#include <stddef.h>

#include "common/error.h"
#include "net/http.h"
#include "storage/blob.h"
#include "storage/storage.h"

/* Takes an uploaded picture into the pipeline; fills id with the picture's
 * id (which GET /api/pictures/{id} then answers for). May be called from
 * several threads at once. Its status picks the HTTP answer:
 * KH_EUNSUPPORTED/KH_EFORMAT -> 415, KH_EINVAL -> 400, KH_ELIMIT -> 413,
 * anything else -> 500; err's message goes to the client. */
typedef int (*kh_web_ingest_fn)(void *user, const void *bytes, size_t len,
                                const char *name, char id[KH_ID_MAX],
                                kh_error *err);

typedef struct kh_web_hooks {
    kh_web_ingest_fn ingest; /* NULL: POST /api/pictures answers 503 */
    void *user;
} kh_web_hooks;

#define KH_WEB_PAGE_DEFAULT 24
#define KH_WEB_PAGE_MAX 100

typedef struct kh_web kh_web;

/* store and blobs are borrowed and must outlive the router; hooks is copied
 * (may be NULL). *out is owned by the caller (kh_web_destroy). */
int kh_web_create(kh_store *store, kh_blob_store *blobs,
                  const kh_web_hooks *hooks, kh_web **out, kh_error *err);
/* NULL is a no-op. */
void kh_web_destroy(kh_web *web);

/* A kh_http_handler: pass kh_web_handle and the kh_web as its user. */
void kh_web_handle(void *web, const kh_http_request *req,
                   kh_http_response *res);

/* The embedded UI files, for tests and for whoever wants to list them. */
typedef struct kh_web_asset {
    const char *path;         /* "/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *bytes;
    size_t len;
    const char *etag;         /* quoted SHA-1 of the bytes */
} kh_web_asset;

extern const kh_web_asset kh_web_assets[];
extern const size_t kh_web_asset_count;

#endif
