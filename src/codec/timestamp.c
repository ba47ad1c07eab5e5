/*
 * timestamp.c - RFC 3339 and Unix event times; contract in timestamp.h.
 */
#include "codec/timestamp.h"

#include <math.h>
#include <string.h>

#include "core/time.h"

/* Reads exactly @n digits at s; -1 if one is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Parses ".F" at s[*i] (if present) into milliseconds. */
static bool fraction_ms(const char *s, size_t len, size_t *i, int *ms)
{
    *ms = 0;
    if (*i >= len || s[*i] != '.')
        return true;
    size_t start = ++*i;
    int scale = 100;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        *ms += (s[*i] - '0') * scale;
        scale /= 10;
        ++*i;
    }
    size_t n = *i - start;
    return n >= 1 && n <= 9;
}

/* Parses "Z", "z" or "+HH:MM"/"-HH:MM" ending exactly at len. */
static bool offset_minutes(const char *s, size_t len, size_t i, int *minutes)
{
    *minutes = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
        return true;
    if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
        return false;
    int hh = digits(s + i + 1, 2), mm = digits(s + i + 4, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
        return false;
    *minutes = (hh * 60 + mm) * (s[i] == '-' ? -1 : 1);
    return true;
}

/* The usual form, "YYYY-MM-DDTHH:MM:SS.mmmZ", read with fewer checks; the
 * date part is mostly the same as in the previous call, so its day number
 * is remembered per thread (keyed by its 10 bytes, validated when first
 * seen). False for anything it does not take, which the general parser then
 * reads: the result is the same either way. */
static bool parse_common(const char *s, int64_t *ms)
{
    static _Thread_local uint64_t last_date8; /* bytes 0-7 of the date */
    static _Thread_local uint16_t last_date2; /* bytes 8-9 */
    static _Thread_local int64_t last_days;
    static _Thread_local bool have_last;
    uint64_t date8;
    uint16_t date2;
    memcpy(&date8, s, 8);
    memcpy(&date2, s + 8, 2);
    const unsigned char *u = (const unsigned char *)s;
    if (u[10] != 'T' || u[13] != ':' || u[16] != ':' || u[19] != '.' || u[23] != 'Z')
        return false;
    unsigned h1 = u[11] - '0', h2 = u[12] - '0', m1 = u[14] - '0', m2 = u[15] - '0';
    unsigned s1 = u[17] - '0', s2 = u[18] - '0', f1 = u[20] - '0', f2 = u[21] - '0',
             f3 = u[22] - '0';
    if ((h1 > 9) | (h2 > 9) | (m1 > 9) | (m2 > 9) | (s1 > 9) | (s2 > 9) | (f1 > 9) | (f2 > 9) |
        (f3 > 9))
        return false; /* a byte below '0' wraps around too */
    unsigned h = h1 * 10 + h2, mi = m1 * 10 + m2, sec = s1 * 10 + s2;
    if (h > 23 || mi > 59 || sec > 60)
        return false;
    int64_t days;
    if (have_last && date8 == last_date8 && date2 == last_date2) {
        days = last_days;
    } else {
        if (u[4] != '-' || u[7] != '-')
            return false;
        int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
            return false;
        days = eddy_days_from_civil(y, (unsigned)mo, (unsigned)d);
        last_date8 = date8;
        last_date2 = date2;
        last_days = days;
        have_last = true;
    }
    *ms = (days * 86400 + h * 3600 + mi * 60 + sec) * 1000 + f1 * 100 + f2 * 10 + f3;
    return true;
}

bool eddy__ts_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    if (len == 24 && parse_common(s, ms))
        return true;
    if (len < 20)
        return false;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return false;
    size_t i = 19;
    int frac, off;
    if (!fraction_ms(s, len, &i, &frac) || !offset_minutes(s, len, i, &off))
        return false;
    int64_t days = eddy_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    *ms = secs * 1000 + frac;
    return true;
}

/* Whole milliseconds of seconds @v, rounded toward negative infinity, with a
 * value within the double's precision of a whole millisecond snapped to it. */
static int64_t seconds_to_ms(double v)
{
    double whole = floor(v);
    double frac_ms = (v - whole) * 1000.0; /* v - whole is exact */
    double nearest = nearbyint(frac_ms);
    double ulp_ms = (nextafter(fabs(v), INFINITY) - fabs(v)) * 1000.0;
    double ms = fabs(frac_ms - nearest) <= ulp_ms ? nearest : floor(frac_ms);
    return (int64_t)whole * 1000 + (int64_t)ms;
}

bool eddy__ts_from_value(const struct eddy_value *v, enum eddy_ts_format fmt, int64_t *ms)
{
    switch (fmt) {
    case EDDY_TS_RFC3339:
        return v->type == EDDY_V_STR && eddy__ts_parse_rfc3339(v->as.s.ptr, v->as.s.len, ms);
    case EDDY_TS_UNIX_S:
        if (v->type == EDDY_V_INT) {
            if (v->as.i > (int64_t)EDDY_TS_MAX_UNIX_S || v->as.i < -(int64_t)EDDY_TS_MAX_UNIX_S)
                return false;
            *ms = v->as.i * 1000;
            return true;
        }
        if (v->type != EDDY_V_NUM || !(fabs(v->as.n) <= EDDY_TS_MAX_UNIX_S))
            return false;
        *ms = seconds_to_ms(v->as.n);
        return true;
    case EDDY_TS_UNIX_MS:
        if (v->type == EDDY_V_INT) {
            if (v->as.i > (int64_t)EDDY_TS_MAX_UNIX_MS || v->as.i < -(int64_t)EDDY_TS_MAX_UNIX_MS)
                return false;
            *ms = v->as.i;
            return true;
        }
        if (v->type != EDDY_V_NUM || !(fabs(v->as.n) <= EDDY_TS_MAX_UNIX_MS) ||
            v->as.n != floor(v->as.n))
            return false;
        *ms = (int64_t)v->as.n;
        return true;
    }
    return false;
}
