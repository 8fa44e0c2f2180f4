/* obs_text.h - internal to src/obs: an append-only text buffer (growable, or
 * fixed for log lines built on the stack) with the escaping every output of
 * this module needs: JSON strings and Prometheus label values. Outside data
 * (event ids, paths, tag values) goes through these, so a hostile byte can
 * never break a JSON document, a log line or an exposition line: control
 * characters are escaped and invalid UTF-8 becomes U+FFFD.
 */
#ifndef KH_OBS_TEXT_H
#define KH_OBS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct obs_text {
    char *data;      /* NUL-terminated while !failed */
    size_t len;
    size_t cap;
    bool fixed;      /* caller's buffer: never grown, output truncated */
    bool truncated;  /* fixed buffer full: later appends dropped */
    bool failed;     /* out of memory (growable buffers) */
} obs_text;

/* Growable, heap-backed; obs_text_free releases it. */
void obs_text_init(obs_text *t);
/* Fixed, over buf[0..cap) (cap >= 1); nothing to free. */
void obs_text_init_fixed(obs_text *t, char *buf, size_t cap);
void obs_text_free(obs_text *t);
/* Hands the heap buffer to the caller (free()); NULL after a failure. */
char *obs_text_take(obs_text *t, size_t *len);

void obs_text_append(obs_text *t, const char *s, size_t n);
void obs_text_puts(obs_text *t, const char *s);
void obs_text_putc(obs_text *t, char c);
void obs_text_printf(obs_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "..." with JSON escapes; NULL writes null. */
void obs_text_json_string(obs_text *t, const char *s);
/* Prometheus label value body (no quotes): \\, \", \n escaped, other control
 * characters and invalid UTF-8 replaced by U+FFFD. */
void obs_text_prom_label_value(obs_text *t, const char *s);
/* Prometheus HELP text: \\ and \n escaped. */
void obs_text_prom_help(obs_text *t, const char *s);
/* Shortest text that reads back as the same double; NaN, +Inf, -Inf. */
void obs_text_double(obs_text *t, double v);

/* Lower-case hex of bytes. */
void obs_hex_encode(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);

/* n random bytes from the kernel's generator (getrandom), served from a
 * per-thread buffer so a span id costs a syscall only every few spans; the
 * buffer is discarded in a forked child. Never fails: should getrandom be
 * unavailable, a clock-seeded mix stands in (ids stay unique in practice,
 * not unpredictable). */
void obs_random_bytes(uint8_t *out, size_t n);

/* Wall-clock time in nanoseconds since the epoch; monotonic nanoseconds. */
int64_t obs_now_unix_ns(void);
int64_t obs_now_mono_ns(void);

/* Span internals the facade (obs.c) needs; trace_export.c. */
struct kh_span;
const char *obs_span_service(const struct kh_span *span);
/* Replaces the name (cut at 127 characters); NULL span: no-op. */
void obs_span_rename(struct kh_span *span, const char *name);

#endif
