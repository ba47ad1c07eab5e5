/*
 * timestamp.h - event-time extraction: RFC 3339 strings and Unix numbers to
 * int64 milliseconds since the epoch (UTC). Nothing here allocates.
 *
 * RFC 3339 accepted form: YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.F](Z|z|+HH:MM|-HH:MM)
 *   - F is 1..9 digits, truncated to milliseconds (toward the past: ".9999"
 *     is 999 ms);
 *   - month 1-12, day within its month (Feb 29 only in Gregorian leap
 *     years), hour 0-23 (24:00 is rejected), minute 0-59, offset hours 0-23
 *     and minutes 0-59;
 *   - second 60 (a leap second) is accepted and counts as the first
 *     millisecond after second 59, i.e. 23:59:60Z equals 00:00:00Z of the
 *     next day (Unix time has no leap seconds).
 */
#ifndef EDDY_CODEC_TIMESTAMP_H
#define EDDY_CODEC_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/record.h"
#include "eddy/topology.h"

/* Bounds of Unix numbers accepted by eddy__ts_from_value. */
#define EDDY_TS_MAX_UNIX_S 1e11
#define EDDY_TS_MAX_UNIX_MS 1e14

/* Parses @s[0..len) as RFC 3339 into *ms; false on any syntax or range error. */
bool eddy__ts_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/*
 * Event time of a projected value:
 *   EDDY_TS_RFC3339  needs EDDY_V_STR;
 *   EDDY_TS_UNIX_S   accepts INT or NUM with |v| <= 1e11; a fraction becomes
 *                    milliseconds rounded toward negative infinity (-0.0005
 *                    is -1 ms); a double within its own precision of a whole
 *                    millisecond counts as that millisecond (1.001 is 1001);
 *   EDDY_TS_UNIX_MS  accepts INT, or NUM with an integral value, |v| <= 1e14.
 * Returns false for any other type or range.
 */
bool eddy__ts_from_value(const struct eddy_value *v, enum eddy_ts_format fmt, int64_t *ms);

#endif
