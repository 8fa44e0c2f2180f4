/* file_util.c - atomic writing for the converter. */
#include "convert/file_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
