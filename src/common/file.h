/* file.h - reading a whole file into memory (models' manifests and weight
 * shards, trigger files), with a size limit so a wrong path or a hostile
 * file cannot ask for gigabytes.
 *
 * Files too large to copy, like ONNX models, are mapped instead
 * (src/onnx/file_map.h).
 */
#ifndef KH_COMMON_FILE_H
#define KH_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Reads the file at path into *data, a malloc'd buffer the caller frees,
 * with one NUL byte after the *len bytes (text can be parsed in place). A
 * regular file, or a stream such as a pipe or /dev/stdin, is read to its
 * end; more than max_bytes is refused. On failure *data is NULL, *len 0,
 * and the message starts with path:
 *   KH_ENOTFOUND  no such file ("<path>: cannot open: <why>")
 *   KH_EIO        cannot open or read it, or a directory, socket or block
 *                 device ("<path>: not a regular file")
 *   KH_ELIMIT     more than max_bytes
 *   KH_ENOMEM     out of memory */
int kh_file_read(const char *path, size_t max_bytes, uint8_t **data,
                 size_t *len, kh_error *err);

#endif
