/* file_util.c - whole-file reading and atomic writing for the converter. */
#include "convert/file_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int convert_read_file(const char *path, size_t max_bytes, uint8_t **data,
                      size_t *len, kh_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kh_error_set(err, errno == ENOENT ? KH_ENOTFOUND : KH_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return kh_error_set(err, KH_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return kh_error_set(err, KH_ELIMIT,
                            "%s: %lld bytes, more than the limit of %zu",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory (%zu bytes)",
                            path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        free(buf);
        return kh_error_set(err, KH_EIO, "%s: read %zu of %zu bytes", path,
                            got, size);
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return KH_OK;
}

int convert_write_file(const char *path, const void *data, size_t len,
                       kh_error *err) {
    size_t need = strlen(path) + 32;
    char *tmp = malloc(need);
    if (!tmp)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    snprintf(tmp, need, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = kh_error_set(err, KH_EIO, "%s: cannot create: %s", tmp,
                              strerror(errno));
        free(tmp);
        return rc;
    }
    size_t put = fwrite(data, 1, len, f);
    int failed = put != len || fflush(f) != 0;
    failed |= fclose(f) != 0;
    if (failed || rename(tmp, path) != 0) {
        int rc = kh_error_set(err, KH_EIO, "%s: cannot write: %s", path,
                              strerror(errno));
        remove(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return KH_OK;
}
