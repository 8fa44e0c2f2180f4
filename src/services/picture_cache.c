/* picture_cache.c - decoded pictures shared by the faces of one picture.
 *
 * A slot holds the blob's bytes and their decoding. A look-up by key counts
 * only when the bytes read now equal the bytes kept (same length, memcmp):
 * the cache saves decoding, never trusts a key. While one thread decodes a
 * picture, the others that want it wait on the slot; a full cache (every
 * slot in use) decodes without keeping. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/services.h"
#include "vision/image.h"

struct kh_picture_cache_entry {
    char key[KH_BLOB_KEY_MAX];
    uint8_t *bytes;     /* what the picture was decoded from */
    size_t len;
    kh_image picture;
    bool loading;       /* a thread is decoding into it */
    bool loaded;
    int users;          /* handed out and not released */
    uint64_t last_used;
    bool uncached;      /* made for one caller: freed on release */
};

struct kh_picture_cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded;
    size_t capacity;
    uint64_t clock;
    kh_picture_cache_entry *slots;
};

int kh_picture_cache_create(size_t capacity, kh_picture_cache **out,
                            kh_error *err) {
    if (capacity == 0 || capacity > 256)
        return kh_error_set(err, KH_EINVAL, "picture cache: capacity %zu out "
                            "of 1..256", capacity);
    kh_picture_cache *cache = calloc(1, sizeof *cache);
    kh_picture_cache_entry *slots = calloc(capacity, sizeof *slots);
    if (!cache || !slots) {
        free(cache);
        free(slots);
        return kh_error_set(err, KH_ENOMEM, "picture cache: out of memory");
    }
    pthread_mutex_init(&cache->lock, NULL);
    pthread_cond_init(&cache->loaded, NULL);
    cache->capacity = capacity;
    cache->slots = slots;
    *out = cache;
    return KH_OK;
}

static void entry_clear(kh_picture_cache_entry *e) {
    free(e->bytes);
    kh_image_free(&e->picture);
    memset(e, 0, sizeof *e);
}

void kh_picture_cache_destroy(kh_picture_cache *cache) {
    if (!cache)
        return;
    for (size_t i = 0; i < cache->capacity; i++)
        entry_clear(&cache->slots[i]);
    pthread_cond_destroy(&cache->loaded);
    pthread_mutex_destroy(&cache->lock);
    free(cache->slots);
    free(cache);
}

static int decode(const char *key, const void *bytes, size_t len,
                  kh_image *picture, kh_error *err) {
    kh_decode_options opts = {.channels = 3};
    return kh_image_decode(bytes, len, key, &opts, picture, NULL, NULL, NULL,
                           err);
}

/* For a caller the cache cannot serve (no cache, every slot busy). */
static int decode_uncached(const char *key, const void *bytes, size_t len,
                           const kh_image **picture,
                           kh_picture_cache_entry **handle, kh_error *err) {
    kh_picture_cache_entry *e = calloc(1, sizeof *e);
    if (!e)
        return kh_error_set(err, KH_ENOMEM, "picture cache: out of memory");
    int rc = decode(key, bytes, len, &e->picture, err);
    if (rc != KH_OK) {
        free(e);
        return rc;
    }
    e->uncached = true;
    *picture = &e->picture;
    *handle = e;
    return KH_OK;
}

/* The slot holding these exact bytes under key, or NULL. Under the lock. */
static kh_picture_cache_entry *find(kh_picture_cache *cache, const char *key,
                                    const void *bytes, size_t len) {
    for (size_t i = 0; i < cache->capacity; i++) {
        kh_picture_cache_entry *e = &cache->slots[i];
        if ((e->loaded || e->loading) && e->len == len &&
            strcmp(e->key, key) == 0 && memcmp(e->bytes, bytes, len) == 0)
            return e;
    }
    return NULL;
}

/* An empty slot, else the least recently used idle one. Under the lock. */
static kh_picture_cache_entry *victim(kh_picture_cache *cache) {
    kh_picture_cache_entry *best = NULL;
    for (size_t i = 0; i < cache->capacity; i++) {
        kh_picture_cache_entry *e = &cache->slots[i];
        if (!e->loaded && !e->loading)
            return e;
        if (e->loaded && e->users == 0 &&
            (!best || e->last_used < best->last_used))
            best = e;
    }
    return best;
}

int kh_picture_cache_decode(kh_picture_cache *cache, const char *key,
                            const void *bytes, size_t len,
                            const kh_image **picture,
                            kh_picture_cache_entry **handle, kh_error *err) {
    if (!cache || strlen(key) >= KH_BLOB_KEY_MAX)
        return decode_uncached(key, bytes, len, picture, handle, err);
    pthread_mutex_lock(&cache->lock);
    for (;;) {
        kh_picture_cache_entry *e = find(cache, key, bytes, len);
        if (!e)
            break;
        if (e->loading) {
            /* Another face of this picture is decoding it. */
            pthread_cond_wait(&cache->loaded, &cache->lock);
            continue; /* it may have failed, or been replaced */
        }
        e->users++;
        e->last_used = ++cache->clock;
        pthread_mutex_unlock(&cache->lock);
        *picture = &e->picture;
        *handle = e;
        return KH_OK;
    }
    kh_picture_cache_entry *e = victim(cache);
    uint8_t *copy = e ? malloc(len ? len : 1) : NULL;
    if (!copy) {
        pthread_mutex_unlock(&cache->lock);
        return decode_uncached(key, bytes, len, picture, handle, err);
    }
    entry_clear(e);
    snprintf(e->key, sizeof e->key, "%s", key);
    memcpy(copy, bytes, len);
    e->bytes = copy;
    e->len = len;
    e->loading = true;
    e->users = 1;
    pthread_mutex_unlock(&cache->lock);

    kh_image decoded = {0};
    int rc = decode(key, bytes, len, &decoded, err);

    pthread_mutex_lock(&cache->lock);
    e->loading = false;
    if (rc == KH_OK) {
        e->picture = decoded;
        e->loaded = true;
        e->last_used = ++cache->clock;
    } else {
        entry_clear(e);
    }
    pthread_cond_broadcast(&cache->loaded);
    pthread_mutex_unlock(&cache->lock);
    if (rc != KH_OK)
        return rc;
    *picture = &e->picture;
    *handle = e;
    return KH_OK;
}

void kh_picture_cache_release(kh_picture_cache *cache,
                              kh_picture_cache_entry *handle) {
    if (!handle)
        return;
    if (handle->uncached) {
        kh_image_free(&handle->picture);
        free(handle);
        return;
    }
    pthread_mutex_lock(&cache->lock);
    handle->users--;
    pthread_mutex_unlock(&cache->lock);
}
