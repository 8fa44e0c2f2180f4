/* file_util.h - whole-file reading and atomic writing for the converter. */
#ifndef KH_CONVERT_FILE_UTIL_H
#define KH_CONVERT_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Reads the regular file at path (at most max_bytes) into *data, a malloc'd
 * buffer the caller frees, with one NUL byte after the *len bytes. */
int convert_read_file(const char *path, size_t max_bytes, uint8_t **data,
                      size_t *len, kh_error *err);

/* Writes len bytes to path through a temporary file in the same folder and a
 * rename, so readers never see half a file. */
int convert_write_file(const char *path, const void *data, size_t len,
                       kh_error *err);

#endif
