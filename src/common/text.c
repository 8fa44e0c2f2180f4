/* text.c - see text.h. */
#include "common/text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kh_text_init(kh_text *t) {
    memset(t, 0, sizeof *t);
}

void kh_text_init_fixed(kh_text *t, char *buf, size_t cap) {
    memset(t, 0, sizeof *t);
    t->data = buf;
    t->cap = cap;
    t->fixed = true;
    if (cap > 0)
        buf[0] = '\0';
    else
        t->truncated = true;
}

void kh_text_free(kh_text *t) {
    if (!t)
        return;
    if (!t->fixed)
        free(t->data);
    memset(t, 0, sizeof *t);
}

char *kh_text_take(kh_text *t, size_t *len) {
    if (t->fixed || t->failed) {
        kh_text_free(t);
        return NULL;
    }
    if (!t->data)
        kh_text_append(t, "", 0); /* an empty, allocated string */
    if (t->failed) {
        kh_text_free(t);
        return NULL;
    }
    char *data = t->data;
    if (len)
        *len = t->len;
    memset(t, 0, sizeof *t);
    return data;
}

/* Room for n more bytes plus the terminator; false when it cannot be made. */
static bool reserve(kh_text *t, size_t n) {
    if (t->failed || t->truncated)
        return false;
    if (t->cap > t->len && n < t->cap - t->len)
        return true;
    if (t->fixed) {
        t->truncated = true;
        return false;
    }
    if (n > SIZE_MAX / 2 - t->len) {
        t->failed = true;
        return false;
    }
    size_t cap = t->cap ? t->cap : 256;
    while (cap - t->len <= n)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
        t->failed = true;
        return false;
    }
    t->data = grown;
    t->cap = cap;
    return true;
}

void kh_text_append(kh_text *t, const void *s, size_t n) {
    if (!reserve(t, n)) {
        /* A fixed buffer keeps what fits, so a long log line is cut, not
         * lost. */
        if (t->fixed && !t->failed && t->cap > t->len + 1) {
            size_t fits = t->cap - t->len - 1;
            memcpy(t->data + t->len, s, fits < n ? fits : n);
            t->len += fits < n ? fits : n;
            t->data[t->len] = '\0';
        }
        return;
    }
    if (n > 0)
        memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void kh_text_puts(kh_text *t, const char *s) {
    kh_text_append(t, s, strlen(s));
}

void kh_text_putc(kh_text *t, char c) {
    kh_text_append(t, &c, 1);
}

void kh_text_printf(kh_text *t, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        kh_text_append(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kh_text_append(t, big, (size_t)n);
    free(big);
}
