/* ingest.c - what an upload does before the pipeline sees it: recognise the
 * format, keep the bytes, record a pending picture. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/random.h"
#include "storage/storage.h"

static unsigned be16(const uint8_t *p) {
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Walks the marker segments up to the first start-of-frame. Every length is
 * checked against what is left; gives up (0x0) on anything odd. */
static void jpeg_size(const uint8_t *b, size_t len, int *w, int *h) {
    size_t i = 2;
    while (i + 4 <= len) {
        if (b[i] != 0xff)
            return;
        uint8_t marker = b[i + 1];
        if (marker == 0xff) { /* fill byte */
            i++;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
            i += 2; /* no length */
            continue;
        }
        if (marker == 0xd9 || marker == 0xda)
            return; /* end of image or scan data before any frame */
        unsigned seg = be16(b + i + 2);
        if (seg < 2 || seg > len - i - 2)
            return;
        bool is_frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 &&
                        marker != 0xc8 && marker != 0xcc;
        if (is_frame) {
            if (seg < 7)
                return;
            *h = (int)be16(b + i + 5);
            *w = (int)be16(b + i + 7);
            return;
        }
        i += 2 + seg;
    }
}

const char *kh_picture_sniff(const void *bytes, size_t len, int *width,
                             int *height) {
    const uint8_t *b = bytes;
    int w = 0, h = 0;
    const char *type = NULL;
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n',
                                         0x1a, '\n'};
    if (b && len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        type = "image/jpeg";
        jpeg_size(b, len, &w, &h);
    } else if (b && len >= 8 && memcmp(b, png_magic, 8) == 0) {
        type = "image/png";
        /* IHDR is the first chunk: length 13, "IHDR", width, height. */
        if (len >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
            uint32_t pw = be32(b + 16), ph = be32(b + 20);
            if (pw > 0 && pw <= INT32_MAX && ph > 0 && ph <= INT32_MAX) {
                w = (int)pw;
                h = (int)ph;
            }
        }
    }
    if (!type || w <= 0 || h <= 0)
        w = h = 0;
    if (width)
        *width = w;
    if (height)
        *height = h;
    return type;
}

int kh_store_picture_ingest(kh_store *store, kh_blob_store *blobs,
                            const void *bytes, size_t len, const char *name,
                            char id_out[KH_ID_MAX], kh_error *err) {
    int width, height;
    const char *type = kh_picture_sniff(bytes, len, &width, &height);
    if (!type)
        return kh_error_set(err, KH_EUNSUPPORTED, "picture '%.80s': not a JPEG "
                            "or PNG (%zu bytes)", name ? name : "", len);
    char id[KH_ID_MAX];
    int rc = kh_random_hex(id, 16, err);
    if (rc != KH_OK)
        return rc;
    char key[KH_BLOB_KEY_MAX];
    snprintf(key, sizeof key, "pictures/%.2s/%s.%s", id, id,
             strcmp(type, "image/png") == 0 ? "png" : "jpg");
    if ((rc = kh_blob_put(blobs, key, bytes, len, err)) != KH_OK)
        return rc;
    kh_picture_new pic = {
        .id = id,
        .name = name,
        .content_type = type,
        .blob_key = key,
        .size_bytes = (int64_t)len,
        .width = width,
        .height = height,
    };
    if ((rc = kh_store_picture_create(store, &pic, id_out, err)) != KH_OK) {
        kh_blob_delete(blobs, key, NULL);
        return rc;
    }
    return KH_OK;
}
