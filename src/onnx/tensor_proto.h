/* tensor_proto.h - TensorProto decoding and encoding shared by the model
 * loader, the .pb reader/writer (tensor_io.h) and the model writer.
 * Engine-internal. */
#ifndef KH_ONNX_TENSOR_PROTO_H
#define KH_ONNX_TENSOR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "onnx/onnx.h"
#include "onnx/protobuf.h"

typedef struct onnx_decoded_tensor {
    const uint8_t *name; /* points into the decoded buffer; not terminated */
    size_t name_len;
    onnx_dtype dtype;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    size_t numel;
    void *data; /* 64-byte aligned, at least 64 bytes; free() it */
} onnx_decoded_tensor;

/* Decodes the TensorProto message in bytes [msg, msg+len) (offsets in errors
 * are relative to base). Data may come from raw_data (little-endian, possibly
 * unaligned) or the typed fields; bool values become 0/1. On success out->data
 * is owned by the caller. Errors name the tensor (`what` when it has no
 * name): KH_EUNSUPPORTED for element types the engine does not hold, segments
 * and external data; KH_EFORMAT for malformed messages and data whose size
 * does not match the dims; KH_ESHAPE for negative or overflowing dims. */
int onnx_tensorproto_decode(const uint8_t *base, const uint8_t *msg,
                            size_t len, const char *what,
                            onnx_decoded_tensor *out, kh_error *err);

/* Appends the fields of a TensorProto (dims, data_type, name, raw_data) to w;
 * wrap it with pb_write_message to nest it. name may be NULL. data holds
 * numel elements of dtype in host order. */
void onnx_tensorproto_encode(pb_writer *w, const char *name, onnx_dtype dtype,
                             int rank, const int64_t *dims, const void *data);

#endif
