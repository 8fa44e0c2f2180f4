/* obs_text.c - see obs_text.h. */
#include "obs/obs_text.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void obs_text_init(obs_text *t) {
    memset(t, 0, sizeof *t);
}

void obs_text_init_fixed(obs_text *t, char *buf, size_t cap) {
    memset(t, 0, sizeof *t);
    t->data = buf;
    t->cap = cap;
    t->fixed = true;
    if (cap > 0)
        buf[0] = '\0';
    else
        t->truncated = true;
}

void obs_text_free(obs_text *t) {
    if (!t->fixed)
        free(t->data);
    t->data = NULL;
    t->len = t->cap = 0;
}

char *obs_text_take(obs_text *t, size_t *len) {
    if (t->fixed || t->failed) {
        obs_text_free(t);
        return NULL;
    }
    if (!t->data)
        obs_text_append(t, "", 0); /* an empty, allocated string */
    char *data = t->data;
    if (len)
        *len = t->len;
    t->data = NULL;
    t->len = t->cap = 0;
    return data;
}

/* Room for n more bytes plus the terminator; false when it cannot be made. */
static bool reserve(obs_text *t, size_t n) {
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

void obs_text_append(obs_text *t, const char *s, size_t n) {
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
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void obs_text_puts(obs_text *t, const char *s) {
    obs_text_append(t, s, strlen(s));
}

void obs_text_putc(obs_text *t, char c) {
    obs_text_append(t, &c, 1);
}

void obs_text_printf(obs_text *t, const char *fmt, ...) {
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
        obs_text_append(t, small, (size_t)n);
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
    obs_text_append(t, big, (size_t)n);
    free(big);
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
        unsigned char hi = c == 0xed ? 0x9f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

static const char replacement_character[] = "\xef\xbf\xbd";

void obs_text_json_string(obs_text *t, const char *s) {
    if (!s) {
        obs_text_puts(t, "null");
        return;
    }
    obs_text_putc(t, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            obs_text_append(t, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        switch (*p) {
        case '"': obs_text_puts(t, "\\\""); p++; continue;
        case '\\': obs_text_puts(t, "\\\\"); p++; continue;
        case '\n': obs_text_puts(t, "\\n"); p++; continue;
        case '\r': obs_text_puts(t, "\\r"); p++; continue;
        case '\t': obs_text_puts(t, "\\t"); p++; continue;
        default: break;
        }
        if (*p < 0x20) {
            obs_text_printf(t, "\\u%04x", *p);
            p++;
            continue;
        }
        size_t n = utf8_sequence(p);
        if (n == 0) {
            obs_text_puts(t, replacement_character);
            p++;
        } else {
            obs_text_append(t, (const char *)p, n);
            p += n;
        }
    }
    obs_text_putc(t, '"');
}

void obs_text_prom_label_value(obs_text *t, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            obs_text_append(t, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"') {
            obs_text_puts(t, "\\\"");
            p++;
        } else if (*p == '\\') {
            obs_text_puts(t, "\\\\");
            p++;
        } else if (*p == '\n') {
            obs_text_puts(t, "\\n");
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            obs_text_puts(t, replacement_character);
            p++;
        } else {
            size_t n = utf8_sequence(p);
            if (n == 0) {
                obs_text_puts(t, replacement_character);
                p++;
            } else {
                obs_text_append(t, (const char *)p, n);
                p += n;
            }
        }
    }
}

void obs_text_prom_help(obs_text *t, const char *s) {
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            obs_text_puts(t, "\\\\");
        else if (*p == '\n')
            obs_text_puts(t, "\\n");
        else
            obs_text_putc(t, *p);
    }
}

void obs_text_double(obs_text *t, double v) {
    if (isnan(v)) {
        obs_text_puts(t, "NaN");
        return;
    }
    if (isinf(v)) {
        obs_text_puts(t, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char buf[40];
    /* Whole numbers (counts) read best without an exponent. */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, sizeof buf, "%.0f", v);
        obs_text_puts(t, buf);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    obs_text_puts(t, buf);
}

void obs_hex_encode(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- random bytes ---- */

#define RANDOM_BUFFER_BYTES 256

static _Thread_local struct {
    uint8_t bytes[RANDOM_BUFFER_BYTES];
    size_t used; /* bytes already handed out */
    bool filled;
} thread_random;

static pthread_once_t random_fork_once = PTHREAD_ONCE_INIT;

/* Only the forking thread lives on in the child: dropping its buffer makes
 * parent and child draw different ids. */
static void random_after_fork_child(void) {
    thread_random.filled = false;
    thread_random.used = 0;
}

static void random_register_fork_handler(void) {
    pthread_atfork(NULL, NULL, random_after_fork_child);
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_fill_fallback(uint8_t *out, size_t n) {
    static _Atomic uint64_t counter;
    uint64_t count = atomic_fetch_add(&counter, 0x632be59bd9b4e019ull);
    uint64_t state = (uint64_t)obs_now_unix_ns() ^
                     ((uint64_t)(uintptr_t)out << 17) ^ count;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = splitmix64(&state);
        size_t take = n - i < 8 ? n - i : 8;
        memcpy(out + i, &v, take);
    }
}

static void random_refill(void) {
    size_t got = 0;
    while (got < RANDOM_BUFFER_BYTES) {
        ssize_t n = getrandom(thread_random.bytes + got,
                              RANDOM_BUFFER_BYTES - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            random_fill_fallback(thread_random.bytes + got,
                                 RANDOM_BUFFER_BYTES - got);
            break;
        }
        got += (size_t)n;
    }
    thread_random.used = 0;
    thread_random.filled = true;
}

void obs_random_bytes(uint8_t *out, size_t n) {
    pthread_once(&random_fork_once, random_register_fork_handler);
    while (n > 0) {
        if (!thread_random.filled || thread_random.used == RANDOM_BUFFER_BYTES)
            random_refill();
        size_t left = RANDOM_BUFFER_BYTES - thread_random.used;
        size_t take = n < left ? n : left;
        memcpy(out, thread_random.bytes + thread_random.used, take);
        /* Used bytes are wiped so a later memory disclosure cannot
         * reveal ids handed out before. */
        memset(thread_random.bytes + thread_random.used, 0, take);
        thread_random.used += take;
        out += take;
        n -= take;
    }
}

int64_t obs_now_unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t obs_now_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
