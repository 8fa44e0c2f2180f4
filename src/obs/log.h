/* log.h - khappy's log lines: one line per thing that happened (an event
 * handled, a picture done, a server started), readable text by default or
 * JSON (`--log-format json`), to stderr or to a sink function (tests).
 *
 * This module is the one place that writes log lines: library code never
 * prints; the services and the CLI call kh_log / kh_log_event. A line
 * carries time, level, service, message and, when known, the event id,
 * picture id and trace id. Nothing from picture data is logged: kh_log_event
 * reads only an event's id, its `pictureid` extension and its traceparent,
 * never its data, and messages must not quote payloads either. Values are
 * sanitised (control characters escaped, invalid UTF-8 replaced, long values
 * cut) so outside input cannot forge or break lines.
 *
 * Text:  2024-05-01T12:00:00.123Z INFO  face-detector: 2 faces
 *            event=ab12 picture=17 trace=4bf92f3577b34da6a3ce929d0e0e4736
 *        (one line; shown wrapped here)
 * JSON:  {"time":"2024-05-01T12:00:00.123Z","level":"info",
 *         "service":"face-detector","message":"2 faces","event_id":"ab12",
 *         "picture_id":"17","trace_id":"4bf9..."}
 *
 * Configuration is process-wide and meant to be set once at start; logging
 * is safe from any number of threads (each line is written whole).
 */
#ifndef KH_OBS_LOG_H
#define KH_OBS_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "events/cloudevent.h"

typedef enum kh_log_level {
    KH_LOG_DEBUG,
    KH_LOG_INFO,
    KH_LOG_WARN,
    KH_LOG_ERROR,
    KH_LOG_OFF, /* as a threshold: nothing is written */
} kh_log_level;

typedef enum kh_log_format {
    KH_LOG_TEXT,
    KH_LOG_JSON,
} kh_log_format;

/* Longest line written: messages are cut at 1 KiB, field values at 256
 * bytes and the service name at 127, so escaped they always fit. */
#define KH_LOG_LINE_MAX 16384

/* "text"/"json" and "debug"/"info"/"warn"/"error"/"off" (also "quiet" for
 * off, "warning" for warn): KH_EINVAL naming the value otherwise. */
int kh_log_parse_format(const char *name, kh_log_format *out, kh_error *err);
int kh_log_parse_level(const char *name, kh_log_level *out, kh_error *err);
const char *kh_log_level_name(kh_log_level level); /* "info", ... */

void kh_log_set_format(kh_log_format format);    /* default text */
void kh_log_set_level(kh_log_level threshold);   /* default info */
/* Service named by lines that do not name one (copied; NULL: "khappy"). */
void kh_log_set_service(const char *service);

/* Receives each complete line (no trailing newline), instead of stderr.
 * Called under the log's lock: lines arrive one at a time, in order. NULL
 * restores stderr. */
typedef void (*kh_log_sink)(void *user, kh_log_level level, const char *line,
                            size_t len);
void kh_log_set_sink(kh_log_sink sink, void *user);

/* True when a line at `level` would be written (skip costly formatting). */
bool kh_log_enabled(kh_log_level level);

/* What a line is about; every member may be NULL. */
typedef struct kh_log_fields {
    const char *service;    /* NULL: kh_log_set_service's */
    const char *event_id;
    const char *picture_id;
    const char *trace_id;   /* 32 hex digits */
} kh_log_fields;

void kh_log(kh_log_level level, const kh_log_fields *fields, const char *fmt,
            ...) __attribute__((format(printf, 3, 4)));

/* A line about an event: event_id from ev->id, picture_id from its
 * `pictureid` extension, trace_id from its traceparent. ev may be NULL. */
void kh_log_event(kh_log_level level, const char *service,
                  const kh_cloudevent *ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
