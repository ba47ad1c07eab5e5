/*
 * test_timestamp.c - event-time parsing (src/codec/timestamp.c): RFC 3339
 * variants and ranges, Unix seconds and milliseconds.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "codec/timestamp.h"

struct ts_case {
    const char *text;
    int64_t ms;
};

Test(timestamp, rfc3339_accepted_forms)
{
    static const struct ts_case cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-04-30T10:01:00Z", 1746007260000},
        {"2025-04-30t10:01:00z", 1746007260000},
        {"2025-04-30 10:01:00Z", 1746007260000},
        {"2025-04-30T10:01:00.2Z", 1746007260200},
        {"2025-04-30T10:01:00.25Z", 1746007260250},
        {"2025-04-30T10:01:00.250Z", 1746007260250},
        {"2025-04-30T10:01:00.2509Z", 1746007260250},
        {"2025-04-30T10:01:00.999999999Z", 1746007260999},
        {"2025-04-30T12:01:00+02:00", 1746007260000},
        {"2025-04-30T05:31:00-04:30", 1746007260000},
        {"2025-04-30T10:01:00.5+00:00", 1746007260500},
        {"2025-04-30T10:01:00-00:00", 1746007260000},
        {"2024-02-29T00:00:00Z", 1709164800000},
        {"2000-02-29T00:00:00Z", 951782400000},
        {"1969-12-31T23:59:59.999Z", -1},
        {"1969-12-31T23:59:59Z", -1000},
        {"1900-01-01T00:00:00Z", -2208988800000},
        {"0000-01-01T00:00:00Z", -62167219200000},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        {"2016-12-31T23:59:60Z", 1483228800000}, /* leap second = next second */
        {"1970-01-01T00:00:00+23:59", -86340000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        cr_expect(eddy__ts_parse_rfc3339(cases[i].text, strlen(cases[i].text), &ms), "%s",
                  cases[i].text);
        cr_expect_eq(ms, cases[i].ms, "%s: got %lld", cases[i].text, (long long)ms);
    }
}

Test(timestamp, rfc3339_rejected_forms)
{
    static const char *const bad[] = {
        "",
        "2025-04-30T10:01:00",        /* no offset */
        "2025-04-30T10:01Z",          /* no seconds */
        "2025-04-30T10:01:00.Z",      /* empty fraction */
        "2025-04-30T10:01:00.1234567890Z", /* 10 fraction digits */
        "2025-04-30T10:01:00ZZ",
        "2025-04-30T10:01:00Z ",
        "2025-04-30X10:01:00Z",
        "2025-4-30T10:01:00Z",
        "25-04-30T10:01:00Z",
        "+2025-04-30T10:01:00Z",
        "2025-00-10T10:01:00Z",
        "2025-13-10T10:01:00Z",
        "2025-04-00T10:01:00Z",
        "2025-04-31T10:01:00Z",
        "2025-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2025-04-30T24:00:00Z",
        "2025-04-30T23:60:00Z",
        "2025-04-30T23:59:61Z",
        "2025-04-30T10:01:00+24:00",
        "2025-04-30T10:01:00+02:60",
        "2025-04-30T10:01:00+0200",
        "2025-04-30T10:01:00+02",
        "2025-04-30T1a:01:00Z",
        "1746007260",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        cr_expect(!eddy__ts_parse_rfc3339(bad[i], strlen(bad[i]), &ms), "%s accepted", bad[i]);
    }
}

Test(timestamp, rfc3339_respects_the_given_length)
{
    const char *s = "2025-04-30T10:01:00Zjunk";
    int64_t ms;
    cr_assert(eddy__ts_parse_rfc3339(s, 20, &ms));
    cr_assert_eq(ms, 1746007260000);
    cr_assert(!eddy__ts_parse_rfc3339(s, 19, &ms));
}

static struct eddy_value int_value(int64_t i)
{
    return (struct eddy_value){.type = EDDY_V_INT, .as.i = i};
}

static struct eddy_value num_value(double n)
{
    return (struct eddy_value){.type = EDDY_V_NUM, .as.n = n};
}

Test(timestamp, unix_seconds)
{
    struct {
        struct eddy_value v;
        int64_t ms;
    } cases[] = {
        {int_value(0), 0},
        {int_value(1746007260), 1746007260000},
        {int_value(-1), -1000},
        {int_value(100000000000), 100000000000000},
        {int_value(-100000000000), -100000000000000},
        {num_value(1746007260.25), 1746007260250},
        {num_value(1746007260.001), 1746007260001},
        {num_value(1.001), 1001},
        {num_value(0.9999), 999},
        {num_value(-1.5), -1500},
        {num_value(-0.0005), -1},
        {num_value(-0.001), -1},
        {num_value(-1746007260.25), -1746007260250},
        {num_value(1e11), 100000000000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        cr_expect(eddy__ts_from_value(&cases[i].v, EDDY_TS_UNIX_S, &ms), "case %zu", i);
        cr_expect_eq(ms, cases[i].ms, "case %zu: got %lld", i, (long long)ms);
    }
}

Test(timestamp, unix_milliseconds)
{
    int64_t ms = 42;
    struct eddy_value v = int_value(1746007260250);
    cr_assert(eddy__ts_from_value(&v, EDDY_TS_UNIX_MS, &ms));
    cr_assert_eq(ms, 1746007260250);
    v = int_value(-5);
    cr_assert(eddy__ts_from_value(&v, EDDY_TS_UNIX_MS, &ms));
    cr_assert_eq(ms, -5);
    v = num_value(1746007260250.0);
    cr_assert(eddy__ts_from_value(&v, EDDY_TS_UNIX_MS, &ms));
    cr_assert_eq(ms, 1746007260250);
    v = int_value(100000000000000);
    cr_assert(eddy__ts_from_value(&v, EDDY_TS_UNIX_MS, &ms));
    cr_assert_eq(ms, 100000000000000);
}

Test(timestamp, rejected_values)
{
    struct eddy_value str = {.type = EDDY_V_STR, .as.s = {"1746007260", 10}};
    struct eddy_value good_str = {.type = EDDY_V_STR, .as.s = {"2025-04-30T10:01:00Z", 20}};
    struct eddy_value boolean = {.type = EDDY_V_BOOL, .as.b = true};
    struct eddy_value null = {.type = EDDY_V_NULL};
    struct {
        struct eddy_value v;
        enum eddy_ts_format fmt;
    } cases[] = {
        {str, EDDY_TS_UNIX_S},
        {str, EDDY_TS_UNIX_MS},
        {str, EDDY_TS_RFC3339},
        {good_str, EDDY_TS_UNIX_S},
        {int_value(1746007260), EDDY_TS_RFC3339},
        {boolean, EDDY_TS_UNIX_S},
        {null, EDDY_TS_UNIX_MS},
        {null, EDDY_TS_RFC3339},
        {int_value(100000000001), EDDY_TS_UNIX_S},
        {int_value(-100000000001), EDDY_TS_UNIX_S},
        {num_value(1.5e11), EDDY_TS_UNIX_S},
        {num_value(1.0 / 0.0), EDDY_TS_UNIX_S},
        {num_value(0.0 / 0.0), EDDY_TS_UNIX_S},
        {int_value(100000000000001), EDDY_TS_UNIX_MS},
        {int_value(INT64_MIN), EDDY_TS_UNIX_MS},
        {num_value(1746007260250.5), EDDY_TS_UNIX_MS},
        {num_value(1e15), EDDY_TS_UNIX_MS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        cr_expect(!eddy__ts_from_value(&cases[i].v, cases[i].fmt, &ms), "case %zu accepted", i);
    }
    int64_t ms;
    cr_assert(eddy__ts_from_value(&good_str, EDDY_TS_RFC3339, &ms));
    cr_assert_eq(ms, 1746007260000);
}
