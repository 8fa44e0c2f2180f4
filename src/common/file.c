/* file.c - see file.h. */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* First buffer for a stream, whose size is not known in advance. */
#define STREAM_FIRST_CAP ((size_t)64 << 10)

int kh_file_read(const char *path, size_t max_bytes, uint8_t **data,
                 size_t *len, kh_error *err) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kh_error_set(err, errno == ENOENT ? KH_ENOTFOUND : KH_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 ||
        !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) ||
          S_ISCHR(st.st_mode))) {
        close(fd);
        return kh_error_set(err, KH_EIO, "%s: not a regular file", path);
    }
    bool regular = S_ISREG(st.st_mode);
    if (regular && (unsigned long long)st.st_size > max_bytes) {
        close(fd);
        return kh_error_set(err, KH_ELIMIT,
                            "%s: %lld bytes, more than the limit of %zu",
                            path, (long long)st.st_size, max_bytes);
    }
    /* A regular file is read into one buffer of its size, one byte more to
     * see the end without growing, and the NUL. Should it grow meanwhile, or
     * for a stream, the buffer doubles up to one byte past the limit, which
     * is how "too large" is noticed. */
    size_t limit = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;
    size_t cap = regular ? (size_t)st.st_size + 2 : STREAM_FIRST_CAP;
    if (cap > limit + 1)
        cap = limit + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory (%zu bytes)",
                            path, cap);
    }
    size_t n = 0;
    for (;;) {
        if (n + 1 == cap) { /* full but for the NUL */
            if (n >= limit)
                break;
            size_t grown_cap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;
            uint8_t *grown = realloc(buf, grown_cap);
            if (!grown) {
                free(buf);
                close(fd);
                return kh_error_set(err, KH_ENOMEM,
                                    "%s: out of memory (%zu bytes)", path,
                                    grown_cap);
            }
            buf = grown;
            cap = grown_cap;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return kh_error_set(err, KH_EIO, "%s: cannot read: %s", path,
                                strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return kh_error_set(err, KH_ELIMIT,
                            "%s: more than the limit of %zu bytes", path,
                            max_bytes);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return KH_OK;
}
