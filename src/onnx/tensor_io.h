/* tensor_io.h - ONNX TensorProto files (.pb), as in the ONNX backend test
 * data: read one into an onnx_tensor_view, write one from a view. */
#ifndef KH_ONNX_TENSOR_IO_H
#define KH_ONNX_TENSOR_IO_H

#include <stddef.h>

#include "common/error.h"
#include "onnx/onnx.h"

/* Reads the TensorProto in file `path`. On success out->data is malloc'd and
 * owned by the caller (free()), and *name (if name is non-NULL) is a malloc'd
 * copy of the tensor's name ("" when it has none; caller frees). On failure
 * nothing is allocated; err names the file and what is wrong. Element types
 * the engine does not hold give KH_EUNSUPPORTED. */
int onnx_tensorproto_read_file(const char *path, onnx_tensor_view *out,
                               char **name, kh_error *err);

/* Same, from bytes in memory. */
int onnx_tensorproto_read_buffer(const void *buf, size_t len,
                                 onnx_tensor_view *out, char **name,
                                 kh_error *err);

/* Writes t as a TensorProto (raw_data, little-endian) to `path`, replacing
 * the file. name may be NULL. */
int onnx_tensorproto_write_file(const char *path, const char *name,
                                const onnx_tensor_view *t, kh_error *err);

#endif
