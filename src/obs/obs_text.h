/* obs_text.h - internal to src/obs: the escaping every output of this module
 * needs on top of common/text.h: JSON strings and Prometheus label values.
 * Outside data (event ids, paths, tag values) goes through these, so a
 * hostile byte can never break a JSON document, a log line or an exposition
 * line: control characters are escaped and invalid UTF-8 becomes U+FFFD.
 */
#ifndef KH_OBS_TEXT_H
#define KH_OBS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/text.h"

/* "..." with JSON escapes, invalid UTF-8 as U+FFFD; NULL writes null. */
void obs_text_json_string(kh_text *t, const char *s);
/* Prometheus label value body (no quotes): \\, \", \n escaped, other control
 * characters and invalid UTF-8 replaced by U+FFFD. */
void obs_text_prom_label_value(kh_text *t, const char *s);
/* Prometheus HELP text: \\ and \n escaped. */
void obs_text_prom_help(kh_text *t, const char *s);
/* Shortest text that reads back as the same double; NaN, +Inf, -Inf. */
void obs_text_double(kh_text *t, double v);

/* n random bytes from the kernel's generator (common/random.h), served from
 * a per-thread buffer so a span id costs a syscall only every few spans; the
 * buffer is discarded in a forked child. Never fails: should getrandom be
 * unavailable, a clock-seeded mix stands in (ids stay unique in practice,
 * not unpredictable). */
void obs_random_bytes(uint8_t *out, size_t n);

/* Span internals the facade (obs.c) needs; trace_export.c. */
struct kh_span;
const char *obs_span_service(const struct kh_span *span);
/* Replaces the name (cut at 127 characters); NULL span: no-op. */
void obs_span_rename(struct kh_span *span, const char *name);

#endif
