/*
 * time.h - event-time arithmetic. Event time is int64 milliseconds since the
 * Unix epoch (UTC), as in Kafka. Durations in topologies are "<n><unit>" with
 * unit ms, s, m, h or d, optionally repeated ("1h30m").
 */
#ifndef EDDY_CORE_TIME_H
#define EDDY_CORE_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a duration; false on syntax error, overflow or an empty string. */
bool eddy_duration_parse(const char *s, int64_t *out_ms);
/* Formats a duration compactly ("10m", "1h30m", "250ms") into @out. */
void eddy_duration_format(int64_t ms, char *out, size_t outlen);

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
int64_t eddy_days_from_civil(int64_t y, unsigned m, unsigned d);

/* "2025-04-30T10:01:00Z", or "...:00.250Z" when milliseconds are non-zero.
 * @out needs 32 bytes; returns the length written. */
size_t eddy_time_format(int64_t ms, char *out);

/* Floor division for window alignment of negative times. */
static inline int64_t eddy_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Milliseconds of the wall clock (CLOCK_REALTIME) and of a monotonic clock. */
int64_t eddy_now_ms(void);
int64_t eddy_mono_ns(void);

#endif
