/* blob.c - the blob store interface and its folder adapter. */
#include "storage/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/random.h"

struct kh_blob_store {
    const kh_blob_store_ops *ops;
    void *impl;
};

static bool key_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '.' || c == '_' || c == '-';
}

bool kh_blob_key_valid(const char *key) {
    if (!key)
        return false;
    size_t len = strnlen(key, KH_BLOB_KEY_MAX);
    if (len == 0 || len >= KH_BLOB_KEY_MAX)
        return false;
    bool segment_start = true;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!key_char_ok(c))
            return false;
        if (segment_start && (c == '/' || c == '.'))
            return false; /* empty segment, leading '/', '.', '..', hidden */
        segment_start = c == '/';
    }
    return !segment_start; /* no trailing '/' */
}

int kh_blob_key_generate(const char *prefix, const char *suffix,
                         char key[KH_BLOB_KEY_MAX], kh_error *err) {
    char hex[33];
    int rc = kh_random_hex(hex, 16, err);
    if (rc != KH_OK)
        return rc;
    if (!prefix)
        prefix = "blobs";
    if (!suffix)
        suffix = "";
    int n = snprintf(key, KH_BLOB_KEY_MAX, "%s/%.2s/%s%s", prefix, hex, hex,
                     suffix);
    if (n < 0 || n >= KH_BLOB_KEY_MAX || !kh_blob_key_valid(key)) {
        key[0] = '\0';
        return kh_error_set(err, KH_EINVAL, "blob key from prefix '%.64s' and "
                            "suffix '%.32s' is not a valid key", prefix,
                            suffix);
    }
    return KH_OK;
}

int kh_blob_store_create(const kh_blob_store_ops *ops, void *impl,
                         kh_blob_store **out, kh_error *err) {
    *out = NULL;
    kh_blob_store *store = calloc(1, sizeof *store);
    if (!store) {
        ops->close(impl);
        return kh_error_set(err, KH_ENOMEM, "blob store: out of memory");
    }
    store->ops = ops;
    store->impl = impl;
    *out = store;
    return KH_OK;
}

void kh_blob_store_close(kh_blob_store *store) {
    if (!store)
        return;
    store->ops->close(store->impl);
    free(store);
}

static int refuse_key(const char *key, kh_error *err) {
    return kh_error_set(err, KH_EINVAL, "blob key '%.80s' is not valid "
                        "(allowed: [a-z0-9/._-], no empty or dot-led "
                        "segments)", key ? key : "(null)");
}

int kh_blob_put(kh_blob_store *store, const char *key, const void *bytes,
                size_t len, kh_error *err) {
    if (!kh_blob_key_valid(key))
        return refuse_key(key, err);
    if (!bytes && len)
        return kh_error_set(err, KH_EINVAL, "blob '%s': NULL bytes", key);
    return store->ops->put(store->impl, key, bytes, len, err);
}

int kh_blob_get(kh_blob_store *store, const char *key, size_t max_len,
                void **bytes, size_t *len, kh_error *err) {
    *bytes = NULL;
    *len = 0;
    if (!kh_blob_key_valid(key))
        return refuse_key(key, err);
    return store->ops->get(store->impl, key,
                           max_len ? max_len : KH_BLOB_DEFAULT_MAX_BYTES,
                           bytes, len, err);
}

int kh_blob_delete(kh_blob_store *store, const char *key, kh_error *err) {
    if (!kh_blob_key_valid(key))
        return refuse_key(key, err);
    return store->ops->del(store->impl, key, err);
}

/* ---- folder adapter ---------------------------------------------------- */

typedef struct dir_store {
    int root_fd;
    char root[512];
} dir_store;

/* Opens the folder that holds key's last segment, walking each component
 * with O_NOFOLLOW (a symlink anywhere below root fails with ELOOP/ENOTDIR).
 * With create, missing folders are made. *name points at the last segment
 * inside key. Returns an fd or -1 with errno set. */
static int open_parent(const dir_store *ds, const char *key, bool create,
                       const char **name) {
    int fd = dup(ds->root_fd);
    if (fd < 0)
        return -1;
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        if (!slash)
            break;
        char part[KH_BLOB_KEY_MAX];
        size_t n = (size_t)(slash - seg);
        memcpy(part, seg, n);
        part[n] = '\0';
        int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, part, 0755) != 0 && errno != EEXIST) {
                int saved = errno;
                close(fd);
                errno = saved;
                return -1;
            }
            next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
        }
        int saved = errno;
        close(fd);
        if (next < 0) {
            errno = saved;
            return -1;
        }
        fd = next;
        seg = slash + 1;
    }
    *name = seg;
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int dir_put(void *impl, const char *key, const void *bytes, size_t len,
                   kh_error *err) {
    dir_store *ds = impl;
    const char *name;
    int dir_fd = open_parent(ds, key, true, &name);
    if (dir_fd < 0)
        return kh_error_set(err, KH_EIO, "blob '%s' in %s: folder: %s", key,
                            ds->root, strerror(errno));
    /* The temporary name starts with '.', which no valid key segment does,
     * so it can never collide with or be read as a blob. */
    char tmp[64] = ".tmp-";
    int rc = kh_random_hex(tmp + 5, 12, err);
    if (rc != KH_OK) {
        close(dir_fd);
        return rc;
    }
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                     O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kh_error_set(err, KH_EIO, "blob '%s' in %s: create: %s", key,
                          ds->root, strerror(errno));
        close(dir_fd);
        return rc;
    }
    if (write_all(fd, bytes, len) != 0 || fsync(fd) != 0) {
        rc = kh_error_set(err, KH_EIO, "blob '%s' in %s: write: %s", key,
                          ds->root, strerror(errno));
        close(fd);
        unlinkat(dir_fd, tmp, 0);
        close(dir_fd);
        return rc;
    }
    if (close(fd) != 0 || renameat(dir_fd, tmp, dir_fd, name) != 0) {
        rc = kh_error_set(err, KH_EIO, "blob '%s' in %s: rename: %s", key,
                          ds->root, strerror(errno));
        unlinkat(dir_fd, tmp, 0);
        close(dir_fd);
        return rc;
    }
    /* The rename is durable only once the folder entry is. */
    if (fsync(dir_fd) != 0) {
        rc = kh_error_set(err, KH_EIO, "blob '%s' in %s: fsync folder: %s",
                          key, ds->root, strerror(errno));
        close(dir_fd);
        return rc;
    }
    close(dir_fd);
    return KH_OK;
}

static int dir_get(void *impl, const char *key, size_t max_len, void **bytes,
                   size_t *len, kh_error *err) {
    dir_store *ds = impl;
    const char *name;
    int dir_fd = open_parent(ds, key, false, &name);
    if (dir_fd < 0) {
        if (errno == ENOENT)
            return kh_error_set(err, KH_ENOTFOUND, "blob '%s' not found", key);
        return kh_error_set(err, KH_EIO, "blob '%s' in %s: folder: %s", key,
                            ds->root, strerror(errno));
    }
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(dir_fd);
    if (fd < 0) {
        if (saved == ENOENT)
            return kh_error_set(err, KH_ENOTFOUND, "blob '%s' not found", key);
        return kh_error_set(err, KH_EIO, "blob '%s' in %s: open: %s", key,
                            ds->root, strerror(saved));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kh_error_set(err, KH_EIO, "blob '%s' in %s: not a regular file",
                            key, ds->root);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return kh_error_set(err, KH_ELIMIT, "blob '%s': %lld bytes, limit %zu",
                            key, (long long)st.st_size, max_len);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return kh_error_set(err, KH_ENOMEM, "blob '%s': %zu bytes", key, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int rc = kh_error_set(err, KH_EIO, "blob '%s': read at byte %zu: %s",
                                  key, got, n < 0 ? strerror(errno)
                                                  : "file shrank");
            free(buf);
            close(fd);
            return rc;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = '\0';
    *bytes = buf;
    *len = size;
    return KH_OK;
}

static int dir_del(void *impl, const char *key, kh_error *err) {
    dir_store *ds = impl;
    const char *name;
    int dir_fd = open_parent(ds, key, false, &name);
    if (dir_fd < 0) {
        if (errno == ENOENT)
            return KH_OK;
        return kh_error_set(err, KH_EIO, "blob '%s' in %s: folder: %s", key,
                            ds->root, strerror(errno));
    }
    int rc = KH_OK;
    if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT)
        rc = kh_error_set(err, KH_EIO, "blob '%s' in %s: delete: %s", key,
                          ds->root, strerror(errno));
    close(dir_fd);
    return rc;
}

static void dir_close(void *impl) {
    dir_store *ds = impl;
    if (!ds)
        return;
    if (ds->root_fd >= 0)
        close(ds->root_fd);
    free(ds);
}

static const kh_blob_store_ops dir_ops = {
    .name = "dir",
    .put = dir_put,
    .get = dir_get,
    .del = dir_del,
    .close = dir_close,
};

int kh_blob_store_open_dir(const char *root, kh_blob_store **out,
                           kh_error *err) {
    *out = NULL;
    if (!root || !*root)
        return kh_error_set(err, KH_EINVAL, "blob store: empty folder name");
    dir_store *ds = calloc(1, sizeof *ds);
    if (!ds)
        return kh_error_set(err, KH_ENOMEM, "blob store: out of memory");
    ds->root_fd = -1;
    snprintf(ds->root, sizeof ds->root, "%s", root);
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        int rc = kh_error_set(err, KH_EIO, "blob store: mkdir %s: %s", root,
                              strerror(errno));
        dir_close(ds);
        return rc;
    }
    ds->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ds->root_fd < 0) {
        int rc = kh_error_set(err, KH_EIO, "blob store: open %s: %s", root,
                              strerror(errno));
        dir_close(ds);
        return rc;
    }
    return kh_blob_store_create(&dir_ops, ds, out, err);
}
