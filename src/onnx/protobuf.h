/* protobuf.h - protobuf wire format, bounds-checked reading and growable
 * writing. Used by the model loader, the TensorProto (.pb) reader/writer and
 * the model converter.
 *
 * Reading: a pb_reader walks one message (a byte range). Every varint, length
 * and fixed-width value is checked against the end of that range; errors name
 * the byte offset from the start of the outermost buffer.
 */
#ifndef KH_ONNX_PROTOBUF_H
#define KH_ONNX_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum pb_wire_type {
    PB_VARINT = 0,
    PB_FIXED64 = 1,
    PB_LEN = 2,
    PB_START_GROUP = 3,
    PB_END_GROUP = 4,
    PB_FIXED32 = 5,
};

typedef struct pb_reader {
    const uint8_t *base; /* start of the whole buffer (for offsets) */
    const uint8_t *p;    /* next byte */
    const uint8_t *end;  /* end of this message */
} pb_reader;

/* One decoded field. For PB_LEN, data/len is the payload (bounds-checked). */
typedef struct pb_field {
    uint32_t number;
    enum pb_wire_type wire;
    uint64_t varint;        /* PB_VARINT, PB_FIXED64, PB_FIXED32 value */
    const uint8_t *data;    /* PB_LEN */
    size_t len;
    size_t offset;          /* offset of the field's tag from base */
} pb_field;

void pb_reader_init(pb_reader *r, const void *buf, size_t len);
/* A reader over a PB_LEN field's payload, offsets still relative to parent's
 * base. */
void pb_reader_sub(pb_reader *sub, const pb_reader *parent,
                   const pb_field *f);
bool pb_reader_done(const pb_reader *r);
size_t pb_reader_offset(const pb_reader *r);

/* Reads the next field. Returns 1 with *f filled, 0 at the end of the
 * message, or a negative KH_EFORMAT with err naming the offset. Groups are
 * refused (not used by ONNX). */
int pb_next(pb_reader *r, pb_field *f, kh_error *err);

/* Packed repeated scalars in a PB_LEN payload: counts elements (checking the
 * payload is well formed) and decodes them. */
int pb_packed_varint_count(const pb_field *f, size_t *count, kh_error *err);
int pb_packed_varint_read(const pb_field *f, uint64_t *out, size_t count,
                          kh_error *err);

static inline float pb_fixed32_as_float(uint64_t v) {
    union { uint32_t u; float f; } c = {(uint32_t)v};
    return c.f;
}
static inline double pb_fixed64_as_double(uint64_t v) {
    union { uint64_t u; double d; } c = {v};
    return c.d;
}

/* Little-endian loads from possibly unaligned bytes (no pointer casts). */
static inline uint32_t pb_load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t pb_load_le64(const uint8_t *p) {
    return (uint64_t)pb_load_le32(p) | (uint64_t)pb_load_le32(p + 4) << 32;
}

/* Writing. A pb_writer is a growable byte buffer; nested messages are built
 * in their own writer and appended with pb_write_message. On allocation
 * failure the writer remembers the error (w->failed) and later calls do
 * nothing; check once at the end. */
typedef struct pb_writer {
    uint8_t *buf;
    size_t len, cap;
    bool failed;
} pb_writer;

void pb_writer_init(pb_writer *w);
void pb_writer_free(pb_writer *w);
/* Detaches the buffer (caller frees with free()); the writer is reset. */
uint8_t *pb_writer_take(pb_writer *w, size_t *len);

void pb_write_varint_field(pb_writer *w, uint32_t number, uint64_t v);
void pb_write_sint64_field(pb_writer *w, uint32_t number, int64_t v); /* int64 as varint (two's complement) */
void pb_write_float_field(pb_writer *w, uint32_t number, float v);
void pb_write_bytes_field(pb_writer *w, uint32_t number, const void *data,
                          size_t len);
void pb_write_string_field(pb_writer *w, uint32_t number, const char *s);
void pb_write_message(pb_writer *w, uint32_t number, const pb_writer *msg);
void pb_write_packed_int64(pb_writer *w, uint32_t number, const int64_t *v,
                           size_t n);
void pb_write_packed_float(pb_writer *w, uint32_t number, const float *v,
                           size_t n);
/* Raw bytes (used by the above). */
void pb_write_raw(pb_writer *w, const void *data, size_t len);
void pb_write_varint(pb_writer *w, uint64_t v);

#endif
