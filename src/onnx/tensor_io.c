/* tensor_io.c - see tensor_io.h. */
#include "onnx/tensor_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/file_map.h"
#include "onnx/protobuf.h"
#include "onnx/tensor_proto.h"

int onnx_tensorproto_read_buffer(const void *buf, size_t len,
                                 onnx_tensor_view *out, char **name,
                                 kh_error *err) {
    memset(out, 0, sizeof *out);
    if (name)
        *name = NULL;
    onnx_decoded_tensor t;
    int rc = onnx_tensorproto_decode(buf, buf, len, "tensor", &t, err);
    if (rc)
        return rc;
    if (name) {
        *name = malloc(t.name_len + 1);
        if (!*name) {
            free(t.data);
            return kh_error_set(err, KH_ENOMEM, "tensor name: out of memory");
        }
        if (t.name_len)
            memcpy(*name, t.name, t.name_len);
        (*name)[t.name_len] = '\0';
    }
    out->dtype = t.dtype;
    out->rank = t.rank;
    memcpy(out->dims, t.dims, sizeof out->dims);
    out->data = t.data;
    return KH_OK;
}

int onnx_tensorproto_read_file(const char *path, onnx_tensor_view *out,
                               char **name, kh_error *err) {
    memset(out, 0, sizeof *out);
    if (name)
        *name = NULL;
    onnx_file_map map;
    int rc = onnx_file_map_open(path, 0, &map, err);
    if (rc)
        return rc;
    rc = onnx_tensorproto_read_buffer(map.data, map.len, out, name, err);
    onnx_file_map_close(&map);
    if (rc)
        kh_error_prefix(err, "%s", path);
    return rc;
}

int onnx_tensorproto_write_file(const char *path, const char *name,
                                const onnx_tensor_view *t, kh_error *err) {
    if (!t || t->rank < 0 || t->rank > ONNX_MAX_RANK)
        return kh_error_set(err, KH_EINVAL, "%s: bad tensor rank", path);
    if (onnx_dtype_size(t->dtype) == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s: cannot write type %s",
                            path, onnx_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return kh_error_set(err, KH_EINVAL,
                                "%s: dimension %d is negative", path, i);
    pb_writer w;
    pb_writer_init(&w);
    onnx_tensorproto_encode(&w, name, t->dtype, t->rank, t->dims, t->data);
    if (w.failed) {
        pb_writer_free(&w);
        return kh_error_set(err, KH_ENOMEM, "%s: cannot encode tensor", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        pb_writer_free(&w);
        return kh_error_set(err, KH_EIO, "%s: %s", path, strerror(e));
    }
    size_t want = w.len;
    size_t wrote = want ? fwrite(w.buf, 1, want, f) : 0;
    int close_rc = fclose(f);
    pb_writer_free(&w);
    if (wrote != want || close_rc != 0)
        return kh_error_set(err, KH_EIO, "%s: write failed", path);
    return KH_OK;
}
