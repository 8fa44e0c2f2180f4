/* tensor_proto.c - see tensor_proto.h. */
#include "onnx/tensor_proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/proto_fields.h"

#define TENSOR_ALIGN 64

/* What the first pass over a TensorProto found. */
typedef struct tensor_scan {
    bool has_dtype;
    int64_t dtype;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    bool has_raw;
    const uint8_t *raw;
    size_t raw_len;
    size_t typed_count; /* elements in the typed field for dtype */
    uint32_t typed_field;
    bool external;
    bool segment;
    bool string_data;
} tensor_scan;

static int tensor_label(char *buf, size_t len, const onnx_decoded_tensor *t,
                        const char *what) {
    if (t->name_len) {
        int n = t->name_len > 200 ? 200 : (int)t->name_len;
        return snprintf(buf, len, "tensor '%.*s'", n, (const char *)t->name);
    }
    return snprintf(buf, len, "%s", what ? what : "tensor");
}

static uint32_t typed_field_for(int64_t dtype) {
    switch (dtype) {
    case ONNX_FLOAT: return TENSOR_FLOAT_DATA;
    case ONNX_INT32:
    case ONNX_INT8:
    case ONNX_UINT8:
    case ONNX_BOOL:
        return TENSOR_INT32_DATA;
    case ONNX_INT64: return TENSOR_INT64_DATA;
    default: return 0;
    }
}

/* Counts the dims first (their count limits the rank), everything else is
 * located, not copied. */
static int scan_tensor(pb_reader *r, onnx_decoded_tensor *out,
                       tensor_scan *s, const char *what, kh_error *err) {
    pb_field f;
    int rc;
    char label[256];
    while ((rc = pb_next(r, &f, err)) == 1) {
        switch (f.number) {
        case TENSOR_DIMS:
            if (f.wire == PB_VARINT) {
                if (s->rank >= ONNX_MAX_RANK)
                    goto too_many_dims;
                s->dims[s->rank++] = (int64_t)f.varint;
            } else if (f.wire == PB_LEN) {
                size_t count;
                if ((rc = pb_packed_varint_count(&f, &count, err)))
                    return rc;
                if (count > (size_t)(ONNX_MAX_RANK - s->rank))
                    goto too_many_dims;
                uint64_t v[ONNX_MAX_RANK];
                if ((rc = pb_packed_varint_read(&f, v, count, err)))
                    return rc;
                for (size_t i = 0; i < count; i++)
                    s->dims[s->rank++] = (int64_t)v[i];
            } else {
                goto bad_wire;
            }
            break;
        case TENSOR_DATA_TYPE:
            if (f.wire != PB_VARINT)
                goto bad_wire;
            s->has_dtype = true;
            s->dtype = (int64_t)f.varint;
            break;
        case TENSOR_NAME:
            if (f.wire != PB_LEN)
                goto bad_wire;
            out->name = f.data;
            out->name_len = f.len;
            break;
        case TENSOR_RAW_DATA:
            if (f.wire != PB_LEN)
                goto bad_wire;
            s->has_raw = true;
            s->raw = f.data;
            s->raw_len = f.len;
            break;
        case TENSOR_SEGMENT:
            s->segment = true;
            break;
        case TENSOR_STRING_DATA:
            s->string_data = true;
            break;
        case TENSOR_EXTERNAL_DATA:
            s->external = true;
            break;
        case TENSOR_DATA_LOCATION:
            if (f.wire != PB_VARINT)
                goto bad_wire;
            if (f.varint == TENSOR_LOCATION_EXTERNAL)
                s->external = true;
            break;
        case TENSOR_FLOAT_DATA:
            if (f.wire == PB_FIXED32)
                s->typed_count++;
            else if (f.wire == PB_LEN) {
                if (f.len % 4) {
                    tensor_label(label, sizeof label, out, what);
                    return kh_error_set(err, KH_EFORMAT,
                                        "byte %zu: %s: float_data of %zu "
                                        "bytes is not a multiple of 4",
                                        f.offset, label, f.len);
                }
                s->typed_count += f.len / 4;
            } else
                goto bad_wire;
            break;
        case TENSOR_INT32_DATA:
        case TENSOR_INT64_DATA:
        case TENSOR_UINT64_DATA:
            if (f.wire == PB_VARINT)
                s->typed_count++;
            else if (f.wire == PB_LEN) {
                size_t count;
                if ((rc = pb_packed_varint_count(&f, &count, err)))
                    return rc;
                s->typed_count += count;
            } else
                goto bad_wire;
            break;
        default:
            break; /* doc_string, double_data (type refused below), ... */
        }
        /* typed_count sums every typed field; the data type picks one, and a
         * tensor mixing typed fields is malformed anyway (checked below). */
        if (f.number == TENSOR_FLOAT_DATA || f.number == TENSOR_INT32_DATA ||
            f.number == TENSOR_INT64_DATA || f.number == TENSOR_UINT64_DATA) {
            if (s->typed_field && s->typed_field != f.number) {
                tensor_label(label, sizeof label, out, what);
                return kh_error_set(err, KH_EFORMAT,
                                    "byte %zu: %s: data in two typed fields "
                                    "(%u and %u)",
                                    f.offset, label, s->typed_field,
                                    f.number);
            }
            s->typed_field = f.number;
        }
    }
    return rc;
too_many_dims:
    tensor_label(label, sizeof label, out, what);
    return kh_error_set(err, KH_EUNSUPPORTED,
                        "byte %zu: %s: more than %d dimensions", f.offset,
                        label, ONNX_MAX_RANK);
bad_wire:
    tensor_label(label, sizeof label, out, what);
    return kh_error_set(err, KH_EFORMAT,
                        "byte %zu: %s: field %u has wire type %d", f.offset,
                        label, f.number, (int)f.wire);
}

static void store_element(onnx_dtype dtype, void *data, size_t i,
                          int64_t v) {
    switch (dtype) {
    case ONNX_INT64: ((int64_t *)data)[i] = v; break;
    case ONNX_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
    case ONNX_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
    case ONNX_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case ONNX_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    default: break;
    }
}

static int copy_typed(pb_reader *r, onnx_decoded_tensor *out,
                      uint32_t field, kh_error *err) {
    pb_field f;
    int rc;
    size_t i = 0;
    while ((rc = pb_next(r, &f, err)) == 1) {
        if (f.number != field)
            continue;
        if (field == TENSOR_FLOAT_DATA) {
            float *dst = out->data;
            if (f.wire == PB_FIXED32) {
                dst[i++] = pb_fixed32_as_float(f.varint);
            } else {
                for (size_t k = 0; k < f.len / 4; k++)
                    dst[i++] = pb_fixed32_as_float(pb_load_le32(f.data + 4 * k));
            }
        } else if (f.wire == PB_VARINT) {
            store_element(out->dtype, out->data, i++, (int64_t)f.varint);
        } else {
            const uint8_t *p = f.data, *end = f.data + f.len;
            while (p < end) {
                /* Already validated by the scan; decode inline. */
                uint64_t v = 0;
                for (int shift = 0; p < end && shift < 64; shift += 7) {
                    uint8_t b = *p++;
                    v |= (uint64_t)(b & 0x7f) << shift;
                    if (!(b & 0x80))
                        break;
                }
                store_element(out->dtype, out->data, i++, (int64_t)v);
            }
        }
    }
    return rc;
}

static void copy_raw(onnx_decoded_tensor *out, const uint8_t *raw) {
    size_t n = out->numel;
    switch (out->dtype) {
    case ONNX_FLOAT: {
        float *dst = out->data;
        for (size_t i = 0; i < n; i++)
            dst[i] = pb_fixed32_as_float(pb_load_le32(raw + 4 * i));
        break;
    }
    case ONNX_INT32: {
        int32_t *dst = out->data;
        for (size_t i = 0; i < n; i++)
            dst[i] = (int32_t)pb_load_le32(raw + 4 * i);
        break;
    }
    case ONNX_INT64: {
        int64_t *dst = out->data;
        for (size_t i = 0; i < n; i++)
            dst[i] = (int64_t)pb_load_le64(raw + 8 * i);
        break;
    }
    case ONNX_BOOL: {
        uint8_t *dst = out->data;
        for (size_t i = 0; i < n; i++)
            dst[i] = raw[i] != 0;
        break;
    }
    default:
        memcpy(out->data, raw, n);
        break;
    }
}

int onnx_tensorproto_decode(const uint8_t *base, const uint8_t *msg,
                            size_t len, const char *what,
                            onnx_decoded_tensor *out, kh_error *err) {
    memset(out, 0, sizeof *out);
    pb_reader r = {.base = base, .p = msg, .end = msg + len};
    tensor_scan s = {0};
    int rc = scan_tensor(&r, out, &s, what, err);
    if (rc)
        return rc;
    char label[256];
    tensor_label(label, sizeof label, out, what);
    size_t at = (size_t)(msg - base);
    if (s.external)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "%s: external data (data_location EXTERNAL) is "
                            "not supported",
                            label);
    if (s.segment)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "%s: segmented tensors are not supported", label);
    if (!s.has_dtype || s.dtype == ONNX_UNDEFINED)
        return kh_error_set(err, KH_EFORMAT, "byte %zu: %s: no data_type",
                            at, label);
    if (s.dtype < 0 || s.dtype > 64)
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: %s: invalid data_type %" PRId64, at,
                            label, s.dtype);
    onnx_dtype dtype = (onnx_dtype)s.dtype;
    size_t esize = onnx_dtype_size(dtype);
    if (esize == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s: %s", label,
                            onnx_dtype_name(dtype));
    size_t numel = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dims[i] < 0)
            return kh_error_set(err, KH_ESHAPE,
                                "byte %zu: %s: dimension %d is negative "
                                "(%" PRId64 ")",
                                at, label, i, s.dims[i]);
        if (s.dims[i] && numel > (SIZE_MAX / esize) / (uint64_t)s.dims[i])
            return kh_error_set(err, KH_ESHAPE,
                                "byte %zu: %s: element count overflows", at,
                                label);
        numel *= (size_t)s.dims[i];
    }
    uint32_t want_field = typed_field_for(dtype);
    if (s.has_raw) {
        if (s.raw_len != numel * esize)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: %s: raw_data has %zu bytes, "
                                "dims need %zu",
                                at, label, s.raw_len, numel * esize);
    } else {
        if (s.typed_count && s.typed_field != want_field)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: %s: data in field %u does not "
                                "match type %s",
                                at, label, s.typed_field,
                                onnx_dtype_name(dtype));
        if (s.typed_count != numel)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: %s: %zu values, dims need %zu", at,
                                label, s.typed_count, numel);
    }
    size_t bytes = numel * esize;
    size_t alloc = (bytes + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    if (alloc < bytes)
        return kh_error_set(err, KH_ELIMIT, "%s: too large", label);
    if (alloc == 0)
        alloc = TENSOR_ALIGN;
    void *data = NULL;
    if (posix_memalign(&data, TENSOR_ALIGN, alloc))
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory (%zu bytes)",
                            label, bytes);
    memset((uint8_t *)data + bytes, 0, alloc - bytes);
    out->dtype = dtype;
    out->rank = s.rank;
    memcpy(out->dims, s.dims, sizeof s.dims);
    out->numel = numel;
    out->data = data;
    if (s.has_raw) {
        copy_raw(out, s.raw);
    } else if (numel) {
        pb_reader r2 = {.base = base, .p = msg, .end = msg + len};
        if ((rc = copy_typed(&r2, out, want_field, err))) {
            free(data);
            out->data = NULL;
            return rc;
        }
    }
    return KH_OK;
}

void onnx_tensorproto_encode(pb_writer *w, const char *name, onnx_dtype dtype,
                             int rank, const int64_t *dims, const void *data) {
    size_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            w->failed = true;
            return;
        }
        numel *= (size_t)dims[i];
    }
    pb_write_packed_int64(w, TENSOR_DIMS, dims, (size_t)rank);
    pb_write_varint_field(w, TENSOR_DATA_TYPE, (uint64_t)dtype);
    if (name)
        pb_write_string_field(w, TENSOR_NAME, name);
    size_t esize = onnx_dtype_size(dtype);
    if (esize == 0) {
        w->failed = true;
        return;
    }
    size_t bytes = numel * esize;
    pb_write_varint(w, (uint64_t)TENSOR_RAW_DATA << 3 | PB_LEN);
    pb_write_varint(w, bytes);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    pb_write_raw(w, data, bytes);
#else
    const uint8_t *src = data;
    for (size_t i = 0; i < numel; i++)
        for (size_t b = 0; b < esize; b++)
            pb_write_raw(w, src + i * esize + (esize - 1 - b), 1);
#endif
}
