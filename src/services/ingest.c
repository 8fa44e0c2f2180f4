/* ingest.c - how a picture enters the pipeline: bytes to the blob store, the
 * picture.stored event to the broker, the pending row to the store. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "services/event_data.h"
#include "services/services.h"
#include "services/sha256.h"

static int random_hex(char *out, size_t n_bytes, kh_error *err) {
    uint8_t raw[32];
    if (n_bytes > sizeof raw)
        return kh_error_set(err, KH_EINVAL, "random_hex: %zu bytes", n_bytes);
    size_t got = 0;
    while (got < n_bytes) {
        ssize_t n = getrandom(raw + got, n_bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kh_error_set(err, KH_EIO, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n_bytes] = '\0';
    return KH_OK;
}

void kh_ingest_content_id(const char *prefix, const void *bytes, size_t len,
                          const char *name, char id[KH_ID_MAX]) {
    kh_sha256 h;
    uint8_t digest[32];
    kh_sha256_init(&h);
    if (name)
        kh_sha256_update(&h, name, strlen(name) + 1);
    kh_sha256_update(&h, bytes, len);
    kh_sha256_final(&h, digest);
    char hex[33];
    kh_sha256_hex(digest, 32, hex);
    snprintf(id, KH_ID_MAX, "%.24s-%s", prefix, hex);
}

int kh_ingest_picture(const kh_ingest *ingest, const kh_ingest_request *req,
                      char id_out[KH_ID_MAX], kh_error *err) {
    int width = 0, height = 0;
    const char *type = kh_picture_sniff(req->bytes, req->len, &width, &height);
    if (!type)
        return kh_error_set(err, KH_EUNSUPPORTED, "picture '%.80s': not a JPEG "
                            "or PNG (%zu bytes)", req->name ? req->name : "",
                            req->len);
    kh_event_payload p;
    kh__payload_init(&p);
    kh_picture_ref *pic = &p.picture;
    int rc;
    if (req->id && *req->id) {
        if (!kh_store_id_valid(req->id))
            return kh_error_set(err, KH_EINVAL, "picture id '%.80s' is not "
                                "1..63 characters of [A-Za-z0-9_-]", req->id);
        kh_picture_record existing;
        rc = kh_store_picture_get(ingest->store, req->id, &existing, NULL,
                                  NULL, err);
        if (rc == KH_OK)
            return kh_error_set(err, KH_EEXIST, "picture %s is already stored",
                                req->id);
        if (rc != KH_ENOTFOUND)
            return rc;
        kh_error_clear(err);
        snprintf(pic->id, sizeof pic->id, "%s", req->id);
    } else if ((rc = random_hex(pic->id, 16, err)) != KH_OK) {
        return rc;
    }
    /* Keys are lowercase; an id may not be: the key hashes it. */
    kh_sha256 h;
    uint8_t digest[32];
    kh_sha256_init(&h);
    kh_sha256_update(&h, pic->id, strlen(pic->id));
    kh_sha256_final(&h, digest);
    char hex[33];
    kh_sha256_hex(digest, 32, hex);
    snprintf(pic->key, sizeof pic->key, "pictures/%.2s/%s.%s", hex, hex,
             strcmp(type, "image/png") == 0 ? "png" : "jpg");
    if (req->name) {
        /* The store keeps the last path component; so does the event. */
        const char *base = req->name;
        for (const char *c = req->name; *c; c++)
            if (*c == '/' || *c == '\\')
                base = c + 1;
        snprintf(pic->name, sizeof pic->name, "%s", base);
    }
    snprintf(pic->content_type, sizeof pic->content_type, "%s", type);
    pic->size = (int64_t)req->len;
    pic->width = width;
    pic->height = height;

    if ((rc = kh_blob_put(ingest->blobs, pic->key, req->bytes, req->len,
                          err)) != KH_OK)
        return rc;
    char event_id[KH_EVENT_ID_MAX];
    snprintf(event_id, sizeof event_id, "%s.stored", pic->id);
    /* No cause and no span: the trace of this thread's current span (the
     * upload's HTTP request) or a new one starts here. */
    kh_cloudevent ev;
    rc = kh__event_build(&ev, event_id, KH_EVENT_PICTURE_STORED,
                         req->source ? req->source : "/khappy/ingest", NULL,
                         NULL, &p, false, err);
    if (rc == KH_OK)
        rc = ingest->sink.send(ingest->sink.user, &ev, err);
    kh_cloudevent_free(&ev);
    if (rc != KH_OK) {
        /* Not queued: nothing refers to fresh bytes (a given id may have
         * been queued by an earlier, interrupted try: keep its bytes). */
        if (!(req->id && *req->id))
            kh_blob_delete(ingest->blobs, pic->key, NULL);
        return rc;
    }
    /* Queued: from here the picture will be processed whatever happens;
     * the row is for the API to answer at once. */
    kh_picture_new row = {
        .id = pic->id,
        .name = pic->name[0] ? pic->name : NULL,
        .content_type = type,
        .blob_key = pic->key,
        .size_bytes = pic->size,
        .width = width,
        .height = height,
    };
    rc = kh_store_picture_create(ingest->store, &row, NULL, err);
    if (rc == KH_EEXIST) { /* report was faster */
        kh_error_clear(err);
        rc = KH_OK;
    }
    if (rc != KH_OK)
        return rc;
    if (id_out)
        snprintf(id_out, KH_ID_MAX, "%s", pic->id);
    return KH_OK;
}
