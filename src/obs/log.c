/* log.c - see log.h. A line is built in a stack buffer and written with one
 * write(2) (or one sink call) under a mutex, so lines never interleave. */
#include "obs/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "obs/obs_text.h"
#include "obs/trace.h"

#define MESSAGE_MAX 1024
#define FIELD_MAX 256
#define SERVICE_MAX 128
/* Escaping grows a byte to at most 6 ("\u0001"), so the longest message,
 * service and fields always fit whole: a line is never cut, and a JSON line
 * is always a complete object. */
_Static_assert((MESSAGE_MAX + 3 * FIELD_MAX + SERVICE_MAX) * 6 + 256 <=
                   KH_LOG_LINE_MAX,
               "a worst-case line fits");

static _Atomic int log_threshold = KH_LOG_INFO;
static _Atomic int log_format = KH_LOG_TEXT;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char default_service[SERVICE_MAX] = "khappy";
static kh_log_sink log_sink;
static void *log_sink_user;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};
_Static_assert(sizeof level_names / sizeof *level_names == KH_LOG_OFF + 1,
               "a name for every level");

const char *kh_log_level_name(kh_log_level level) {
    if ((int)level < 0 || level > KH_LOG_OFF)
        return "unknown";
    return level_names[level];
}

int kh_log_parse_format(const char *name, kh_log_format *out, kh_error *err) {
    if (name && strcmp(name, "text") == 0)
        *out = KH_LOG_TEXT;
    else if (name && strcmp(name, "json") == 0)
        *out = KH_LOG_JSON;
    else
        return kh_error_set(err, KH_EINVAL,
                            "log format '%s': expected text or json",
                            name ? name : "(none)");
    return KH_OK;
}

int kh_log_parse_level(const char *name, kh_log_level *out, kh_error *err) {
    if (name) {
        for (int i = 0; i <= KH_LOG_OFF; i++) {
            if (strcasecmp(name, level_names[i]) == 0) {
                *out = (kh_log_level)i;
                return KH_OK;
            }
        }
        if (strcasecmp(name, "warning") == 0) {
            *out = KH_LOG_WARN;
            return KH_OK;
        }
        if (strcasecmp(name, "quiet") == 0) {
            *out = KH_LOG_OFF;
            return KH_OK;
        }
    }
    return kh_error_set(err, KH_EINVAL,
                        "log level '%s': expected debug, info, warn, error "
                        "or off",
                        name ? name : "(none)");
}

void kh_log_set_format(kh_log_format format) {
    atomic_store(&log_format, (int)format);
}

void kh_log_set_level(kh_log_level threshold) {
    atomic_store(&log_threshold, (int)threshold);
}

void kh_log_set_service(const char *service) {
    pthread_mutex_lock(&log_lock);
    snprintf(default_service, sizeof default_service, "%s",
             service && *service ? service : "khappy");
    pthread_mutex_unlock(&log_lock);
}

void kh_log_set_sink(kh_log_sink sink, void *user) {
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_user = user;
    pthread_mutex_unlock(&log_lock);
}

bool kh_log_enabled(kh_log_level level) {
    return level >= KH_LOG_DEBUG && level < KH_LOG_OFF &&
           (int)level >= atomic_load_explicit(&log_threshold,
                                              memory_order_relaxed);
}

/* A value cut at `max` bytes without splitting a UTF-8 sequence. */
static void cut_copy(char *dst, size_t max, const char *src) {
    size_t len = strnlen(src, max);
    if (src[len] != '\0') {
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--; /* do not end inside a multi-byte character */
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* s was cut at max bytes by vsnprintf: drops a UTF-8 sequence left
 * incomplete at the end. */
static void cut_in_place(char *s, size_t max) {
    size_t len = strnlen(s, max);
    size_t lead = len;
    while (lead > 0 && len - lead < 4 &&
           ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0)
        return;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (len - (lead - 1) < need)
        s[lead - 1] = '\0';
}

/* Text form of a value: JSON's escapes without the quotes, so a value can
 * hold no line break and no control character. */
static void put_text_value(kh_text *line, const char *value) {
    char escaped[FIELD_MAX * 6 + 3];
    kh_text tmp;
    kh_text_init_fixed(&tmp, escaped, sizeof escaped);
    obs_text_json_string(&tmp, value);
    /* Strip the quotes; keep \" as " is harmless in text. */
    if (tmp.len >= 2)
        kh_text_append(line, escaped + 1, tmp.len - 2);
}

static void put_text_message(kh_text *line, const char *message) {
    char escaped[MESSAGE_MAX * 6 + 3];
    kh_text tmp;
    kh_text_init_fixed(&tmp, escaped, sizeof escaped);
    obs_text_json_string(&tmp, message);
    if (tmp.len >= 2)
        kh_text_append(line, escaped + 1, tmp.len - 2);
}

static void format_time(char out[64]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* The date part changes once a second: formatted once per thread. */
    static _Thread_local time_t cached_second = -1;
    static _Thread_local char date[40];
    if (ts.tv_sec != cached_second) {
        struct tm utc;
        gmtime_r(&ts.tv_sec, &utc);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
        cached_second = ts.tv_sec;
    }
    snprintf(out, 64, "%s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void write_line(kh_log_level level, const kh_log_fields *fields,
                       const char *message) {
    char time_text[64];
    format_time(time_text);
    char service[SERVICE_MAX];
    char field_values[3][FIELD_MAX + 1];
    const char *raw[3] = {fields ? fields->event_id : NULL,
                          fields ? fields->picture_id : NULL,
                          fields ? fields->trace_id : NULL};
    for (int i = 0; i < 3; i++) {
        if (raw[i])
            cut_copy(field_values[i], FIELD_MAX, raw[i]);
    }
    static const char *const json_keys[3] = {"event_id", "picture_id",
                                             "trace_id"};
    static const char *const text_keys[3] = {"event", "picture", "trace"};

    char buffer[KH_LOG_LINE_MAX + 1];
    kh_text line;
    kh_text_init_fixed(&line, buffer, sizeof buffer - 1); /* room for \n */

    pthread_mutex_lock(&log_lock);
    cut_copy(service, sizeof service - 1,
             fields && fields->service ? fields->service : default_service);
    if (atomic_load(&log_format) == KH_LOG_JSON) {
        kh_text_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\"",
                      time_text, kh_log_level_name(level));
        kh_text_puts(&line, ",\"service\":");
        obs_text_json_string(&line, service);
        kh_text_puts(&line, ",\"message\":");
        obs_text_json_string(&line, message);
        for (int i = 0; i < 3; i++) {
            if (!raw[i])
                continue;
            kh_text_printf(&line, ",\"%s\":", json_keys[i]);
            obs_text_json_string(&line, field_values[i]);
        }
        kh_text_putc(&line, '}');
    } else {
        char upper[8];
        const char *name = kh_log_level_name(level);
        size_t i = 0;
        for (; name[i] && i < sizeof upper - 1; i++)
            upper[i] = (char)(name[i] - 'a' + 'A');
        upper[i] = '\0';
        kh_text_printf(&line, "%s %-5s ", time_text, upper);
        put_text_value(&line, service);
        kh_text_puts(&line, ": ");
        put_text_message(&line, message);
        for (int k = 0; k < 3; k++) {
            if (!raw[k])
                continue;
            kh_text_printf(&line, " %s=", text_keys[k]);
            put_text_value(&line, field_values[k]);
        }
    }
    if (log_sink) {
        log_sink(log_sink_user, level, buffer, line.len);
    } else {
        buffer[line.len] = '\n';
        const char *p = buffer;
        size_t left = line.len + 1;
        while (left > 0) {
            ssize_t n = write(STDERR_FILENO, p, left);
            if (n <= 0)
                break; /* nowhere to report it */
            p += n;
            left -= (size_t)n;
        }
    }
    pthread_mutex_unlock(&log_lock);
}

static void log_v(kh_log_level level, const kh_log_fields *fields,
                  const char *fmt, va_list ap) {
    char message[MESSAGE_MAX + 1];
    int n = vsnprintf(message, sizeof message, fmt, ap);
    if (n < 0)
        snprintf(message, sizeof message, "(unformattable message)");
    else if ((size_t)n >= sizeof message)
        cut_in_place(message, MESSAGE_MAX);
    write_line(level, fields, message);
}

void kh_log(kh_log_level level, const kh_log_fields *fields, const char *fmt,
            ...) {
    if (!kh_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fields, fmt, ap);
    va_end(ap);
}

void kh_log_event(kh_log_level level, const char *service,
                  const kh_cloudevent *ev, const char *fmt, ...) {
    if (!kh_log_enabled(level))
        return;
    kh_log_fields fields = {.service = service};
    char trace_hex[KH_TRACE_ID_HEX_SIZE];
    if (ev) {
        fields.event_id = ev->id;
        fields.picture_id = kh_cloudevent_get(ev, "pictureid");
        kh_span_context ctx;
        if (kh_trace_extract_event(ev, &ctx)) {
            kh_trace_id_hex(&ctx, trace_hex);
            fields.trace_id = trace_hex;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    log_v(level, &fields, fmt, ap);
    va_end(ap);
}
