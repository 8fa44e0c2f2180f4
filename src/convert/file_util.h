/* file_util.h - atomic writing for the converter (reading is
 * common/file.h). */
#ifndef KH_CONVERT_FILE_UTIL_H
#define KH_CONVERT_FILE_UTIL_H

#include <stddef.h>

#include "common/error.h"

/* Writes len bytes to path through a temporary file in the same folder and a
 * rename, so readers never see half a file. */
int convert_write_file(const char *path, const void *data, size_t len,
                       kh_error *err);

#endif
