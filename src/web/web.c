/* web.c - routes, JSON and the embedded UI (see web.h and docs/API.md). */
#include "web/web.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"

struct kh_web {
    kh_store *store;
    kh_blob_store *blobs;
    kh_web_hooks hooks;
};

int kh_web_create(kh_store *store, kh_blob_store *blobs,
                  const kh_web_hooks *hooks, kh_web **out, kh_error *err) {
    *out = NULL;
    if (!store || !blobs)
        return kh_error_set(err, KH_EINVAL, "web: store and blob store are "
                            "required");
    kh_web *web = calloc(1, sizeof *web);
    if (!web)
        return kh_error_set(err, KH_ENOMEM, "web: out of memory");
    web->store = store;
    web->blobs = blobs;
    if (hooks)
        web->hooks = *hooks;
    *out = web;
    return KH_OK;
}

void kh_web_destroy(kh_web *web) {
    free(web);
}

/* ---- responses ----------------------------------------------------------- */

static void fail_500(kh_http_response *res, const char *what) {
    if (kh_http_response_error(res, 500, "%s", what) != KH_OK)
        res->status = 500;
}

/* Sends root (consumed) as the JSON body. */
static void send_json(kh_http_response *res, int status, json_t *root) {
    if (!root) {
        fail_500(res, "out of memory building the answer");
        return;
    }
    /* Six significant digits: scores and boxes, not float noise. */
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text) {
        fail_500(res, "out of memory encoding the answer");
        return;
    }
    if (kh_http_response_set_owned(res, status, "application/json", text,
                                   strlen(text)) != KH_OK) {
        free(text);
        fail_500(res, "out of memory");
        return;
    }
    kh_http_response_header(res, "Cache-Control", "no-store");
}

/* The status that a store or hook failure maps to. */
static int status_for(int code) {
    switch (code) {
    case KH_ENOTFOUND:
        return 404;
    case KH_EINVAL:
    case KH_EFORMAT:
    case KH_ERANGE:
        return 400;
    case KH_EEXIST:
        return 409;
    default:
        return 500;
    }
}

static void send_error(kh_http_response *res, int status, const kh_error *err) {
    if (kh_http_response_error(res, status, "%s", err->message) != KH_OK)
        res->status = status;
}

static void method_not_allowed(kh_http_response *res, const char *allow) {
    if (kh_http_response_error(res, 405, "method not allowed (allowed: %s)",
                               allow) != KH_OK)
        res->status = 405;
    kh_http_response_header(res, "Allow", allow);
}

/* ---- JSON of the domain ------------------------------------------------ */

/* "2024-05-01T12:34:56.789Z" */
static json_t *time_json(int64_t ms) {
    char text[KH_TIME_TEXT_SIZE];
    if (!kh_time_format_utc_ms(ms, text))
        return json_null();
    return json_string(text);
}

/* Strings from the store are valid UTF-8 (it sanitises them); a NULL from
 * jansson would still only drop the field. */
static void set_string(json_t *obj, const char *key, const char *value) {
    json_t *s = json_string(value ? value : "");
    json_object_set_new(obj, key, s ? s : json_string(""));
}

static json_t *scores_json(const kh_emotion_scores *s) {
    json_t *obj = json_object();
    for (int e = 0; e < KH_EMOTION_COUNT; e++)
        if (s->present[e])
            json_object_set_new(obj, kh_emotion_name((kh_emotion)e),
                                json_real(s->p[e]));
    return obj;
}

static json_t *face_json(const kh_face_record *f) {
    json_t *obj = json_object();
    char url[160];
    set_string(obj, "id", f->id);
    set_string(obj, "picture_id", f->picture_id);
    json_object_set_new(obj, "index", json_integer(f->face_index));
    json_object_set_new(obj, "box",
                        json_pack("[f,f,f,f]", (double)f->face.box.x,
                                  (double)f->face.box.y, (double)f->face.box.w,
                                  (double)f->face.box.h));
    json_object_set_new(obj, "score", json_real(f->face.score));
    set_string(obj, "detector", f->face.detector);
    json_object_set_new(obj, "top_emotion",
                        f->top_emotion == KH_EMOTION_COUNT
                            ? json_null()
                            : json_string(kh_emotion_name(f->top_emotion)));
    json_object_set_new(obj, "emotions", scores_json(&f->mean));
    json_t *models = json_object();
    for (size_t m = 0; m < f->n_models; m++)
        json_object_set_new(models, f->models[m].model,
                            scores_json(&f->models[m]));
    json_object_set_new(obj, "models", models);
    if (f->crop_key[0]) {
        snprintf(url, sizeof url, "/api/faces/%s/crop", f->id);
        set_string(obj, "crop_url", url);
    } else {
        json_object_set_new(obj, "crop_url", json_null());
    }
    snprintf(url, sizeof url, "/api/pictures/%s", f->picture_id);
    set_string(obj, "picture_url", url);
    json_object_set_new(obj, "created_at", time_json(f->created_at_ms));
    return obj;
}

static json_t *picture_json(const kh_picture_record *p) {
    json_t *obj = json_object();
    char url[160];
    set_string(obj, "id", p->id);
    set_string(obj, "name", p->name);
    set_string(obj, "content_type", p->content_type);
    json_object_set_new(obj, "size", json_integer(p->size_bytes));
    json_object_set_new(obj, "width",
                        p->width ? json_integer(p->width) : json_null());
    json_object_set_new(obj, "height",
                        p->height ? json_integer(p->height) : json_null());
    json_object_set_new(obj, "received_at", time_json(p->received_at_ms));
    json_object_set_new(obj, "updated_at", time_json(p->updated_at_ms));
    set_string(obj, "status", kh_picture_status_name(p->status));
    if (p->status == KH_PICTURE_FAILED)
        set_string(obj, "error", p->error);
    else
        json_object_set_new(obj, "error", json_null());
    json_object_set_new(obj, "expected_faces",
                        p->expected_faces >= 0 ? json_integer(p->expected_faces)
                                               : json_null());
    json_object_set_new(obj, "face_count", json_integer(p->face_count));
    json_object_set_new(obj, "scored_faces", json_integer(p->scored_faces));
    if (p->blob_key[0]) {
        snprintf(url, sizeof url, "/api/pictures/%s/image", p->id);
        set_string(obj, "image_url", url);
    } else {
        json_object_set_new(obj, "image_url", json_null());
    }
    return obj;
}

/* The faces as a JSON array; frees them. */
static json_t *faces_json(kh_face_record *faces, size_t n) {
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, face_json(&faces[i]));
    free(faces);
    return list;
}

static json_t *cursor_json(const char *next) {
    return next[0] ? json_string(next) : json_null();
}

/* ---- parameters --------------------------------------------------------- */

/* A list's page: limit and cursor. False (with a 400 answer) when the limit
 * is bad.
 * limit: absent -> default; else an integer 1..KH_WEB_PAGE_MAX.
 * cursor: absent -> first page; the store judges the rest. A cursor too
 * long for the buffer reads as absent here, so the buffer is larger than
 * any valid cursor and the store refuses what is too long. */
static bool read_page(const kh_http_request *req, size_t *limit,
                      char cursor[1024], kh_http_response *res) {
    if (!kh_http_request_query(req, "cursor", cursor, 1024))
        cursor[0] = '\0';
    char text[32];
    *limit = KH_WEB_PAGE_DEFAULT;
    if (!kh_http_request_query(req, "limit", text, sizeof text))
        return true;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > KH_WEB_PAGE_MAX) {
        kh_http_response_error(res, 400, "limit must be an integer from 1 to "
                               "%d", KH_WEB_PAGE_MAX);
        return false;
    }
    *limit = (size_t)v;
    return true;
}

/* ---- routes ---------------------------------------------------------------- */

static void list_pictures(kh_web *web, const kh_http_request *req,
                          kh_http_response *res) {
    size_t limit;
    char cursor[1024];
    if (!read_page(req, &limit, cursor, res))
        return;
    kh_picture_record *pictures;
    size_t n;
    char next[KH_CURSOR_MAX];
    kh_error err = {0};
    int rc = kh_store_pictures_list(web->store, limit, cursor, &pictures, &n,
                                    next, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, picture_json(&pictures[i]));
    free(pictures);
    send_json(res, 200, json_pack("{s:o,s:o}", "pictures", list, "next_cursor",
                                  cursor_json(next)));
}

static void get_picture(kh_web *web, const char *id, kh_http_response *res) {
    kh_picture_record picture;
    kh_face_record *faces;
    size_t n;
    kh_error err = {0};
    int rc = kh_store_picture_get(web->store, id, &picture, &faces, &n, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    json_t *obj = picture_json(&picture);
    json_object_set_new(obj, "faces", faces_json(faces, n));
    send_json(res, 200, obj);
}

static void delete_picture(kh_web *web, const char *id, kh_http_response *res) {
    kh_error err = {0};
    int rc = kh_store_picture_delete(web->store, web->blobs, id, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    res->status = 204;
}

static void post_picture(kh_web *web, const kh_http_request *req,
                         kh_http_response *res) {
    if (!web->hooks.ingest) {
        kh_http_response_error(res, 503, "this server takes no uploads");
        return;
    }
    if (!req->body || req->body_len == 0) {
        kh_http_response_error(res, 400, "the request body must be the "
                               "picture's bytes");
        return;
    }
    char name[KH_FILE_NAME_MAX] = "";
    if (!kh_http_request_query(req, "name", name, sizeof name)) {
        const char *header = kh_http_request_header(req, "X-Filename");
        snprintf(name, sizeof name, "%s", header ? header : "");
    }
    char id[KH_ID_MAX] = "";
    kh_error err = {0};
    int rc = web->hooks.ingest(web->hooks.user, req->body, req->body_len, name,
                               id, &err);
    if (rc != KH_OK) {
        int status = rc == KH_EUNSUPPORTED || rc == KH_EFORMAT ? 415
                     : rc == KH_EINVAL                         ? 400
                     : rc == KH_ELIMIT                         ? 413
                                                               : 500;
        send_error(res, status, &err);
        return;
    }
    if (!kh_store_id_valid(id)) {
        fail_500(res, "the ingest hook returned no valid picture id");
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "/api/pictures/%s", id);
    send_json(res, 202, json_pack("{s:s,s:s,s:s}", "id", id, "url", url,
                                  "status", "pending"));
    kh_http_response_header(res, "Location", url);
}

static void send_blob(kh_web *web, const char *key, const char *content_type,
                      const char *what, kh_http_response *res) {
    void *bytes;
    size_t len;
    kh_error err = {0};
    int rc = kh_blob_get(web->blobs, key, 0, &bytes, &len, &err);
    if (rc != KH_OK) {
        if (rc == KH_ENOTFOUND)
            kh_http_response_error(res, 404, "%s: file missing", what);
        else
            send_error(res, 500, &err);
        return;
    }
    const char *sniffed = kh_picture_sniff(bytes, len, NULL, NULL);
    if (!content_type || !*content_type)
        content_type = sniffed ? sniffed : "application/octet-stream";
    if (kh_http_response_set_owned(res, 200, content_type, bytes, len) !=
        KH_OK) {
        free(bytes);
        fail_500(res, "out of memory");
        return;
    }
    /* Bytes under an id never change: a picture is replaced by a new id. */
    kh_http_response_header(res, "Cache-Control", "private, max-age=86400");
}

static void get_image(kh_web *web, const char *id, kh_http_response *res) {
    kh_picture_record picture;
    kh_error err = {0};
    int rc = kh_store_picture_get(web->store, id, &picture, NULL, NULL, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    if (!picture.blob_key[0]) {
        kh_http_response_error(res, 404, "picture %s has no stored image", id);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "picture %s", id);
    /* Only the two types the store accepts; anything else is sniffed. */
    const char *type = strcmp(picture.content_type, "image/jpeg") == 0 ||
                               strcmp(picture.content_type, "image/png") == 0
                           ? picture.content_type
                           : NULL;
    send_blob(web, picture.blob_key, type, what, res);
}

static void get_crop(kh_web *web, const char *id, kh_http_response *res) {
    kh_face_record face;
    kh_error err = {0};
    int rc = kh_store_face_get(web->store, id, &face, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    if (!face.crop_key[0]) {
        kh_http_response_error(res, 404, "face %s has no stored crop", id);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "crop of face %s", id);
    send_blob(web, face.crop_key, NULL, what, res);
}

static void list_faces(kh_web *web, const kh_http_request *req,
                       kh_http_response *res) {
    size_t limit;
    char cursor[1024];
    if (!read_page(req, &limit, cursor, res))
        return;
    char name[256];
    kh_emotion emotion = KH_EMOTION_COUNT;
    if (kh_http_request_query(req, "emotion", name, sizeof name) && name[0] &&
        strcmp(name, "all") != 0) {
        emotion = kh_emotion_from_name(name);
        if (emotion == KH_EMOTION_COUNT) {
            kh_http_response_error(res, 400, "unknown emotion '%.40s' (one "
                                   "of neutral, happiness, surprise, sadness, "
                                   "anger, disgust, fear, contempt, all)",
                                   name);
            return;
        }
    }
    kh_face_record *faces;
    size_t n;
    char next[KH_CURSOR_MAX];
    kh_error err = {0};
    int rc = kh_store_faces_list(web->store, emotion, limit, cursor, &faces, &n,
                                 next, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    send_json(res, 200, json_pack("{s:o,s:o}", "faces", faces_json(faces, n),
                                  "next_cursor", cursor_json(next)));
}

/* ?picture=ID: the same counts over one picture. */
static void get_stats(kh_web *web, const kh_http_request *req,
                      kh_http_response *res) {
    char picture[KH_ID_MAX + 8];
    bool one = kh_http_request_query(req, "picture", picture, sizeof picture);
    if (one && !kh_store_id_valid(picture)) {
        kh_http_response_error(res, 404, "no picture '%.64s'", picture);
        return;
    }
    kh_store_stats stats;
    kh_error err = {0};
    int rc = kh_store_stats_get(web->store, one ? picture : NULL, &stats, &err);
    if (rc != KH_OK) {
        send_error(res, status_for(rc), &err);
        return;
    }
    json_t *pictures = json_pack("{s:I}", "total", (json_int_t)stats.pictures);
    for (int s = 0; s < KH_PICTURE_STATUS_COUNT; s++)
        json_object_set_new(pictures,
                            kh_picture_status_name((kh_picture_status)s),
                            json_integer(stats.pictures_by_status[s]));
    json_t *by_emotion = json_object();
    for (int e = 0; e < KH_EMOTION_COUNT; e++)
        json_object_set_new(by_emotion, kh_emotion_name((kh_emotion)e),
                            json_integer(stats.faces_by_emotion[e]));
    send_json(res, 200,
              json_pack("{s:o,s:{s:I,s:I,s:o}}", "pictures", pictures, "faces",
                        "total", (json_int_t)stats.faces, "unscored",
                        (json_int_t)stats.faces_unscored, "by_emotion",
                        by_emotion));
}

/* ---- the UI ---------------------------------------------------------------- */

static void send_asset(const kh_web_asset *asset, const kh_http_request *req,
                       kh_http_response *res) {
    const char *match = kh_http_request_header(req, "If-None-Match");
    if (match && strcmp(match, asset->etag) == 0) {
        res->status = 304;
    } else if (kh_http_response_set(res, 200, asset->content_type, asset->bytes,
                                    asset->len) != KH_OK) {
        fail_500(res, "out of memory");
        return;
    }
    kh_http_response_header(res, "ETag", asset->etag);
    kh_http_response_header(res, "Cache-Control", "no-cache");
    if (strncmp(asset->content_type, "text/html", 9) == 0) {
        /* Everything the page needs comes from here; nothing runs that the
         * binary did not ship. */
        kh_http_response_header(res, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: "
                                "data:; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'");
        kh_http_response_header(res, "Referrer-Policy", "no-referrer");
    }
}

static const kh_web_asset *find_asset(const char *path) {
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < kh_web_asset_count; i++)
        if (strcmp(kh_web_assets[i].path, path) == 0)
            return &kh_web_assets[i];
    return NULL;
}

/* ---- dispatch --------------------------------------------------------------- */

/* Splits "/api/pictures/ID/image" after the prefix into at most 3
 * segments; false when there are more or one is empty. */
static bool split_path(const char *rest, char seg[3][KH_ID_MAX + 16],
                       int *n) {
    *n = 0;
    if (*rest == '\0')
        return true;
    if (*rest != '/')
        return false;
    rest++;
    while (*n < 3) {
        size_t len = strcspn(rest, "/");
        if (len == 0 || len >= KH_ID_MAX + 16)
            return false;
        memcpy(seg[*n], rest, len);
        seg[*n][len] = '\0';
        (*n)++;
        rest += len;
        if (*rest == '\0')
            return true;
        rest++;
    }
    return false;
}

static void handle_api(kh_web *web, const kh_http_request *req,
                       kh_http_response *res, bool is_get) {
    const char *m = req->method;
    char seg[3][KH_ID_MAX + 16];
    int n;
    const char *path = req->path;
    if (strncmp(path, "/api/pictures", 13) == 0 && split_path(path + 13, seg, &n)) {
        if (n == 0) {
            if (is_get)
                list_pictures(web, req, res);
            else if (strcmp(m, "POST") == 0)
                post_picture(web, req, res);
            else
                method_not_allowed(res, "GET, HEAD, POST");
            return;
        }
        if (!kh_store_id_valid(seg[0])) {
            kh_http_response_error(res, 404, "no picture '%.64s'", seg[0]);
            return;
        }
        if (n == 1) {
            if (is_get)
                get_picture(web, seg[0], res);
            else if (strcmp(m, "DELETE") == 0)
                delete_picture(web, seg[0], res);
            else
                method_not_allowed(res, "GET, HEAD, DELETE");
            return;
        }
        if (n == 2 && strcmp(seg[1], "image") == 0) {
            if (is_get)
                get_image(web, seg[0], res);
            else
                method_not_allowed(res, "GET, HEAD");
            return;
        }
    } else if (strncmp(path, "/api/faces", 10) == 0 &&
               split_path(path + 10, seg, &n)) {
        if (n == 0) {
            if (is_get)
                list_faces(web, req, res);
            else
                method_not_allowed(res, "GET, HEAD");
            return;
        }
        if (n == 2 && strcmp(seg[1], "crop") == 0) {
            if (!kh_store_id_valid(seg[0]))
                kh_http_response_error(res, 404, "no face '%.64s'", seg[0]);
            else if (is_get)
                get_crop(web, seg[0], res);
            else
                method_not_allowed(res, "GET, HEAD");
            return;
        }
    } else if (strcmp(path, "/api/stats") == 0) {
        if (is_get)
            get_stats(web, req, res);
        else
            method_not_allowed(res, "GET, HEAD");
        return;
    }
    kh_http_response_error(res, 404, "no such route: %.128s", path);
}

void kh_web_handle(void *user, const kh_http_request *req,
                   kh_http_response *res) {
    kh_web *web = user;
    bool is_get = strcmp(req->method, "GET") == 0 ||
                  strcmp(req->method, "HEAD") == 0;
    if (strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0)
        handle_api(web, req, res, is_get);
    else {
        const kh_web_asset *asset = find_asset(req->path);
        if (!asset)
            kh_http_response_error(res, 404, "no such page: %.128s", req->path);
        else if (!is_get)
            method_not_allowed(res, "GET, HEAD");
        else
            send_asset(asset, req, res);
    }
    kh_http_response_header(res, "X-Content-Type-Options", "nosniff");
}
