/* read_file.h - reading a picture or cascade file (vision-internal):
 * kh_file_read, with one status, KH_EIO, for a file that cannot be read, a
 * missing one included, as image.h and pico.h promise. */
#ifndef KH_VISION_READ_FILE_H
#define KH_VISION_READ_FILE_H

#include "common/file.h"

static inline int kh_vision_read_file(const char *path, size_t max_bytes,
                                      uint8_t **data, size_t *len,
                                      kh_error *err) {
    int rc = kh_file_read(path, max_bytes, data, len, err);
    if (rc != KH_ENOTFOUND)
        return rc;
    if (err)
        err->code = KH_EIO;
    return KH_EIO;
}

#endif
