#include "onnx/protobuf.h"

#include <stdlib.h>
#include <string.h>

void pb_reader_init(pb_reader *r, const void *buf, size_t len) {
    r->base = buf;
    r->p = buf;
    r->end = r->p + len;
}

void pb_reader_sub(pb_reader *sub, const pb_reader *parent,
                   const pb_field *f) {
    sub->base = parent->base;
    sub->p = f->data;
    sub->end = f->data + f->len;
}

bool pb_reader_done(const pb_reader *r) { return r->p >= r->end; }

size_t pb_reader_offset(const pb_reader *r) {
    return (size_t)(r->p - r->base);
}

static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && (b & 0x7e))
            return -2; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -2;
}

int pb_next(pb_reader *r, pb_field *f, kh_error *err) {
    if (r->p >= r->end)
        return 0;
    size_t off = pb_reader_offset(r);
    uint64_t tag;
    int rc = read_varint(&r->p, r->end, &tag);
    if (rc)
        return kh_error_set(err, KH_EFORMAT, "byte %zu: %s field tag", off,
                            rc == -1 ? "truncated" : "overlong");
    uint64_t number = tag >> 3;
    if (number == 0 || number > 0x1fffffff)
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: invalid field number %llu", off,
                            (unsigned long long)number);
    f->number = (uint32_t)number;
    f->wire = (enum pb_wire_type)(tag & 7);
    f->offset = off;
    f->data = NULL;
    f->len = 0;
    f->varint = 0;
    size_t left;
    switch (f->wire) {
    case PB_VARINT:
        rc = read_varint(&r->p, r->end, &f->varint);
        if (rc)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: %s varint", off,
                                f->number,
                                rc == -1 ? "truncated" : "overlong");
        return 1;
    case PB_FIXED64:
        if ((size_t)(r->end - r->p) < 8)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: truncated fixed64", off,
                                f->number);
        f->varint = pb_load_le64(r->p);
        r->p += 8;
        return 1;
    case PB_FIXED32:
        if ((size_t)(r->end - r->p) < 4)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: truncated fixed32", off,
                                f->number);
        f->varint = pb_load_le32(r->p);
        r->p += 4;
        return 1;
    case PB_LEN: {
        uint64_t len;
        rc = read_varint(&r->p, r->end, &len);
        if (rc)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: %s length", off,
                                f->number,
                                rc == -1 ? "truncated" : "overlong");
        left = (size_t)(r->end - r->p);
        if (len > left)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: length %llu runs past "
                                "the end of its message (%zu bytes left)",
                                off, f->number, (unsigned long long)len, left);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: field %u: unsupported wire type %d",
                            off, f->number, (int)f->wire);
    }
}

int pb_packed_varint_count(const pb_field *f, size_t *count, kh_error *err) {
    const uint8_t *p = f->data, *end = f->data + f->len;
    size_t n = 0;
    while (p < end) {
        uint64_t v;
        if (read_varint(&p, end, &v))
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: bad packed varint",
                                f->offset, f->number);
        n++;
    }
    *count = n;
    return KH_OK;
}

int pb_packed_varint_read(const pb_field *f, uint64_t *out, size_t count,
                          kh_error *err) {
    const uint8_t *p = f->data, *end = f->data + f->len;
    for (size_t i = 0; i < count; i++)
        if (read_varint(&p, end, &out[i]))
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: field %u: bad packed varint",
                                f->offset, f->number);
    return KH_OK;
}

/* ---- writing ---- */

void pb_writer_init(pb_writer *w) { memset(w, 0, sizeof *w); }

void pb_writer_free(pb_writer *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

uint8_t *pb_writer_take(pb_writer *w, size_t *len) {
    uint8_t *b = w->buf;
    if (len)
        *len = w->len;
    memset(w, 0, sizeof *w);
    return b;
}

void pb_write_raw(pb_writer *w, const void *data, size_t len) {
    if (w->failed || len == 0)
        return;
    if (len > SIZE_MAX - w->len) {
        w->failed = true;
        return;
    }
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + len) {
            if (cap > SIZE_MAX / 2) {
                w->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->failed = true;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void pb_write_varint(pb_writer *w, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        tmp[n++] = b | (v ? 0x80 : 0);
    } while (v);
    pb_write_raw(w, tmp, n);
}

static void write_tag(pb_writer *w, uint32_t number, enum pb_wire_type t) {
    pb_write_varint(w, (uint64_t)number << 3 | (uint64_t)t);
}

void pb_write_varint_field(pb_writer *w, uint32_t number, uint64_t v) {
    write_tag(w, number, PB_VARINT);
    pb_write_varint(w, v);
}

void pb_write_sint64_field(pb_writer *w, uint32_t number, int64_t v) {
    pb_write_varint_field(w, number, (uint64_t)v);
}

void pb_write_float_field(pb_writer *w, uint32_t number, float v) {
    union { float f; uint32_t u; } c = {v};
    uint8_t b[4] = {(uint8_t)c.u, (uint8_t)(c.u >> 8), (uint8_t)(c.u >> 16),
                    (uint8_t)(c.u >> 24)};
    write_tag(w, number, PB_FIXED32);
    pb_write_raw(w, b, 4);
}

void pb_write_bytes_field(pb_writer *w, uint32_t number, const void *data,
                          size_t len) {
    write_tag(w, number, PB_LEN);
    pb_write_varint(w, len);
    pb_write_raw(w, data, len);
}

void pb_write_string_field(pb_writer *w, uint32_t number, const char *s) {
    pb_write_bytes_field(w, number, s, strlen(s));
}

void pb_write_message(pb_writer *w, uint32_t number, const pb_writer *msg) {
    if (msg->failed) {
        w->failed = true;
        return;
    }
    pb_write_bytes_field(w, number, msg->buf, msg->len);
}

void pb_write_packed_int64(pb_writer *w, uint32_t number, const int64_t *v,
                           size_t n) {
    pb_writer tmp;
    pb_writer_init(&tmp);
    for (size_t i = 0; i < n; i++)
        pb_write_varint(&tmp, (uint64_t)v[i]);
    if (n)
        pb_write_message(w, number, &tmp);
    pb_writer_free(&tmp);
}

void pb_write_packed_float(pb_writer *w, uint32_t number, const float *v,
                           size_t n) {
    if (!n)
        return;
    write_tag(w, number, PB_LEN);
    pb_write_varint(w, (uint64_t)n * 4);
    for (size_t i = 0; i < n; i++) {
        union { float f; uint32_t u; } c = {v[i]};
        uint8_t b[4] = {(uint8_t)c.u, (uint8_t)(c.u >> 8),
                        (uint8_t)(c.u >> 16), (uint8_t)(c.u >> 24)};
        pb_write_raw(w, b, 4);
    }
}
