/* clock.c - see clock.h. */
#include "common/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t kh_clock_wall_ns(void) {
    return clock_ns(CLOCK_REALTIME);
}

int64_t kh_clock_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kh_clock_mono_ns(void) {
    return clock_ns(CLOCK_MONOTONIC);
}

bool kh_time_format_utc_ms(int64_t unix_ms, char out[KH_TIME_TEXT_SIZE]) {
    /* Floor division: a time before 1970 still has 0..999 milliseconds. */
    int64_t secs = unix_ms / 1000;
    int64_t millis = unix_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        out[0] = '\0';
        return false;
    }
    snprintf(out, KH_TIME_TEXT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)millis);
    return true;
}
