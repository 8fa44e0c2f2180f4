/* clock.h - reading the clocks and writing a time as text.
 *
 * Wall-clock time (CLOCK_REALTIME) is for timestamps that leave the process
 * (rows, events, logs); monotonic time (CLOCK_MONOTONIC) is for durations
 * and deadlines, which must not jump when the wall clock is set.
 */
#ifndef KH_COMMON_CLOCK_H
#define KH_COMMON_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Wall-clock time since the Unix epoch. */
int64_t kh_clock_wall_ns(void);
int64_t kh_clock_wall_ms(void);
/* Monotonic time from an unspecified start. */
int64_t kh_clock_mono_ns(void);

/* Room for any text kh_time_format_utc_ms writes, NUL included. */
#define KH_TIME_TEXT_SIZE 64

/* Writes unix_ms as RFC 3339 UTC with milliseconds,
 * "2024-05-01T12:34:56.789Z", into out. False (out = "") when the year does
 * not fit the calendar functions. */
bool kh_time_format_utc_ms(int64_t unix_ms, char out[KH_TIME_TEXT_SIZE]);

#endif
