/* blob.h - where picture and crop bytes live: put/get/delete by key.
 *
 * One interface (kh_blob_store_ops) with one adapter today, a folder on the
 * local disk (kh_blob_store_open_dir); an object store can be added as a
 * second adapter without touching callers.
 *
 * Keys are hostile input (they travel through events and the database):
 * every operation validates its key first. A valid key is 1..KH_BLOB_KEY_MAX-1
 * characters of [a-z0-9/._-], made of '/'-separated segments that are not
 * empty and do not start with '.' (so no "..", no ".", no hidden or temporary
 * files), and does not start or end with '/'.
 *
 * The folder adapter never follows a symbolic link below its root (every
 * path component is opened with O_NOFOLLOW), so a link planted inside the
 * data folder cannot make it read or write outside. Writes are atomic: a
 * temporary file in the same folder, fsync, rename, fsync of the folder; a
 * reader sees the old bytes or the new ones, never a mix. Safe for use from
 * several threads at once.
 */
#ifndef KH_STORAGE_BLOB_H
#define KH_STORAGE_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define KH_BLOB_KEY_MAX 256 /* buffer size, NUL included */

/* Default refusal size for kh_blob_get when max_len is 0. */
#define KH_BLOB_DEFAULT_MAX_BYTES ((size_t)64 << 20)

/* True when key follows the rules above. NULL is not valid. */
bool kh_blob_key_valid(const char *key);

/* Makes a fresh random key "<prefix>/<2 hex>/<32 hex><suffix>", e.g.
 * ("crops", ".jpg") -> "crops/3f/3fa1...c2.jpg". prefix and suffix must
 * themselves be made of valid key characters; suffix may be "" or NULL.
 * Returns KH_EINVAL when the result would not be a valid key. */
int kh_blob_key_generate(const char *prefix, const char *suffix,
                         char key[KH_BLOB_KEY_MAX], kh_error *err);

/* The adapter interface. Every function returns a kh_status and fills err.
 * get: *bytes is malloc'd and owned by the caller (free()); a blob larger
 * than max_len is refused with KH_ELIMIT; a missing key is KH_ENOTFOUND.
 * del: deleting a missing key succeeds (deletion is idempotent). */
typedef struct kh_blob_store_ops {
    const char *name; /* "dir" */
    int (*put)(void *impl, const char *key, const void *bytes, size_t len,
               kh_error *err);
    int (*get)(void *impl, const char *key, size_t max_len, void **bytes,
               size_t *len, kh_error *err);
    int (*del)(void *impl, const char *key, kh_error *err);
    void (*close)(void *impl);
} kh_blob_store_ops;

typedef struct kh_blob_store kh_blob_store;

/* Wraps an adapter. The store owns impl from then on (ops->close frees it,
 * also when this call fails). *out is owned by the caller
 * (kh_blob_store_close). */
int kh_blob_store_create(const kh_blob_store_ops *ops, void *impl,
                         kh_blob_store **out, kh_error *err);

/* The folder adapter: blobs are files under root, which is created (one
 * level, mode 0755) when missing. */
int kh_blob_store_open_dir(const char *root, kh_blob_store **out,
                           kh_error *err);

/* NULL is a no-op. */
void kh_blob_store_close(kh_blob_store *store);

int kh_blob_put(kh_blob_store *store, const char *key, const void *bytes,
                size_t len, kh_error *err);
/* max_len 0 means KH_BLOB_DEFAULT_MAX_BYTES. *bytes: see the ops comment
 * (NUL-terminated for convenience, the NUL not counted in *len). */
int kh_blob_get(kh_blob_store *store, const char *key, size_t max_len,
                void **bytes, size_t *len, kh_error *err);
int kh_blob_delete(kh_blob_store *store, const char *key, kh_error *err);

#endif
