/* file_map.h - a read-only memory map of a whole file (engine-internal). */
#ifndef KH_ONNX_FILE_MAP_H
#define KH_ONNX_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct onnx_file_map {
    const uint8_t *data; /* never NULL after a successful open */
    size_t len;
    void *mapping;       /* NULL for an empty file */
    size_t mapped_len;
} onnx_file_map;

/* Maps `path` read-only. max_bytes 0 means 2 GiB. Errors name the path. */
int onnx_file_map_open(const char *path, size_t max_bytes, onnx_file_map *m,
                       kh_error *err);
void onnx_file_map_close(onnx_file_map *m);

#endif
