/* file_map.c - see file_map.h. */
#include "onnx/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES ((size_t)2 << 30)

int onnx_file_map_open(const char *path, size_t max_bytes, onnx_file_map *m,
                       kh_error *err) {
    static const uint8_t empty[1];
    memset(m, 0, sizeof *m);
    if (!max_bytes)
        max_bytes = DEFAULT_MAX_BYTES;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kh_error_set(err, errno == ENOENT ? KH_ENOTFOUND : KH_EIO,
                            "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kh_error_set(err, KH_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kh_error_set(err, KH_EIO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return kh_error_set(err, KH_ELIMIT,
                            "%s: %lld bytes is over the limit of %zu", path,
                            (long long)st.st_size, max_bytes);
    }
    m->len = (size_t)st.st_size;
    if (m->len == 0) {
        close(fd);
        m->data = empty;
        return KH_OK;
    }
    void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return kh_error_set(err, KH_EIO, "%s: mmap: %s", path, strerror(e));
    m->mapping = p;
    m->mapped_len = m->len;
    m->data = p;
    return KH_OK;
}

void onnx_file_map_close(onnx_file_map *m) {
    if (m && m->mapping)
        munmap(m->mapping, m->mapped_len);
    if (m)
        memset(m, 0, sizeof *m);
}
