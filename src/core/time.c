/*
 * time.c - see time.h.
 */
#include "core/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static bool unit_ms(const char *u, size_t n, int64_t *ms)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
            *ms = units[i].ms;
            return true;
        }
    return false;
}

bool eddy_duration_parse(const char *s, int64_t *out_ms)
{
    int64_t total = 0;
    if (!s || !*s)
        return false;
    while (*s) {
        if (*s < '0' || *s > '9')
            return false;
        int64_t n = 0;
        while (*s >= '0' && *s <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                return false;
            n = n * 10 + (*s++ - '0');
        }
        const char *u = s;
        while ((*s >= 'a' && *s <= 'z'))
            s++;
        int64_t mult;
        if (!unit_ms(u, (size_t)(s - u), &mult))
            return false;
        if (n > (INT64_MAX - total) / mult)
            return false;
        total += n * mult;
    }
    *out_ms = total;
    return true;
}

void eddy_duration_format(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t pos = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    for (size_t i = 0; i < 5 && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(out + pos, outlen - pos, "%lld%s", (long long)(ms / units[i].ms),
                             units[i].name);
            if (n < 0 || (size_t)n >= outlen - pos)
                return;
            pos += (size_t)n;
            ms %= units[i].ms;
        }
    }
}

int64_t eddy_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t eddy_time_format(int64_t ms, char *out)
{
    int64_t secs = eddy_floor_div(ms, 1000);
    int64_t millis = ms - secs * 1000;
    int64_t days = eddy_floor_div(secs, 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* outside 4-digit years: the general path */
        int n;
        if (millis)
            n = snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                         (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)millis);
        else
            n = snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                         (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
        return n < 0 ? 0 : (size_t)n;
    }
    /* every result row carries two of these: digits by hand, not snprintf */
    unsigned h = (unsigned)(sod / 3600), mi = (unsigned)(sod / 60 % 60), se = (unsigned)(sod % 60);
    unsigned yy = (unsigned)y;
    char *o = out;
    *o++ = (char)('0' + yy / 1000);
    *o++ = (char)('0' + yy / 100 % 10);
    *o++ = (char)('0' + yy / 10 % 10);
    *o++ = (char)('0' + yy % 10);
    *o++ = '-';
    *o++ = (char)('0' + m / 10);
    *o++ = (char)('0' + m % 10);
    *o++ = '-';
    *o++ = (char)('0' + d / 10);
    *o++ = (char)('0' + d % 10);
    *o++ = 'T';
    *o++ = (char)('0' + h / 10);
    *o++ = (char)('0' + h % 10);
    *o++ = ':';
    *o++ = (char)('0' + mi / 10);
    *o++ = (char)('0' + mi % 10);
    *o++ = ':';
    *o++ = (char)('0' + se / 10);
    *o++ = (char)('0' + se % 10);
    if (millis) {
        unsigned ms3 = (unsigned)millis;
        *o++ = '.';
        *o++ = (char)('0' + ms3 / 100);
        *o++ = (char)('0' + ms3 / 10 % 10);
        *o++ = (char)('0' + ms3 % 10);
    }
    *o++ = 'Z';
    *o = '\0';
    return (size_t)(o - out);
}

int64_t eddy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t eddy_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
