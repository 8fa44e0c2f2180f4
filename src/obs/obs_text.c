/* obs_text.c - see obs_text.h. */
#include "obs/obs_text.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json_text.h"
#include "common/random.h"
#include "common/utf8.h"

void obs_text_json_string(kh_text *t, const char *s) {
    if (!s) {
        kh_text_puts(t, "null");
        return;
    }
    kh_json_string(t, s, strlen(s), KH_JSON_REPLACE_BAD_UTF8);
}

void obs_text_prom_label_value(kh_text *t, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + strlen(s);
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            kh_text_append(t, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"') {
            kh_text_puts(t, "\\\"");
            p++;
        } else if (*p == '\\') {
            kh_text_puts(t, "\\\\");
            p++;
        } else if (*p == '\n') {
            kh_text_puts(t, "\\n");
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            kh_text_puts(t, KH_UTF8_REPLACEMENT_TEXT);
            p++;
        } else {
            size_t n = kh_utf8_decode(p, (size_t)(end - p), NULL);
            if (n == 0) {
                kh_text_puts(t, KH_UTF8_REPLACEMENT_TEXT);
                p++;
            } else {
                kh_text_append(t, (const char *)p, n);
                p += n;
            }
        }
    }
}

void obs_text_prom_help(kh_text *t, const char *s) {
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            kh_text_puts(t, "\\\\");
        else if (*p == '\n')
            kh_text_puts(t, "\\n");
        else
            kh_text_putc(t, *p);
    }
}

void obs_text_double(kh_text *t, double v) {
    if (isnan(v)) {
        kh_text_puts(t, "NaN");
        return;
    }
    if (isinf(v)) {
        kh_text_puts(t, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char buf[40];
    /* Whole numbers (counts) read best without an exponent. */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, sizeof buf, "%.0f", v);
        kh_text_puts(t, buf);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    kh_text_puts(t, buf);
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
    uint64_t state = (uint64_t)kh_clock_wall_ns() ^
                     ((uint64_t)(uintptr_t)out << 17) ^ count;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = splitmix64(&state);
        size_t take = n - i < 8 ? n - i : 8;
        memcpy(out + i, &v, take);
    }
}

static void random_refill(void) {
    if (kh_random_bytes(thread_random.bytes, RANDOM_BUFFER_BYTES, NULL) !=
        KH_OK)
        random_fill_fallback(thread_random.bytes, RANDOM_BUFFER_BYTES);
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
