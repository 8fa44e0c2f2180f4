/* text.h - an append-only text buffer: growable on the heap, or fixed over a
 * caller's array (log lines built on the stack).
 *
 * Appends never fail loudly, so a writer can append many pieces and check
 * once at the end: an allocation that fails sets `failed` and a full fixed
 * buffer sets `truncated` (keeping what fit); later appends then do nothing.
 * A zero-initialised kh_text (`kh_text t = {0};`) is an empty growable
 * buffer, the same as after kh_text_init.
 */
#ifndef KH_COMMON_TEXT_H
#define KH_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kh_text {
    char *data;      /* NUL-terminated while !failed; NULL until the first
                        append to a growable buffer */
    size_t len;
    size_t cap;
    bool fixed;      /* caller's buffer: never grown, output truncated */
    bool truncated;  /* fixed buffer full: later appends dropped */
    bool failed;     /* out of memory (growable buffers) */
} kh_text;

/* Growable, heap-backed; kh_text_free releases it. */
void kh_text_init(kh_text *t);
/* Fixed, over buf[0..cap); nothing to free. cap 0 starts truncated. */
void kh_text_init_fixed(kh_text *t, char *buf, size_t cap);
/* Releases a growable buffer and leaves t an empty growable buffer; a fixed
 * one is only forgotten. NULL: no-op. */
void kh_text_free(kh_text *t);
/* Hands the heap buffer to the caller, who free()s it; an empty text gives
 * an allocated "". NULL (and t freed) after a failure or for a fixed
 * buffer. *len (may be NULL) is its length. */
char *kh_text_take(kh_text *t, size_t *len);

void kh_text_append(kh_text *t, const void *s, size_t n);
void kh_text_puts(kh_text *t, const char *s);
void kh_text_putc(kh_text *t, char c);
void kh_text_printf(kh_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
