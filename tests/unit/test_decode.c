/*
 * test_decode.c - event decoding into slots (src/codec/decode.c) and the
 * dead-letter format (src/codec/deadletter.c), over the service-log schema of
 * SPEC.md section 6.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/decode.h"
#include "codec/deadletter.h"
#include "codec/json.h"
#include "core/buf.h"

static struct eddy_field service_fields[] = {
    {.name = "service", .type = EDDY_FT_STRING, .required = true},
    {.name = "status_code", .type = EDDY_FT_INT, .required = true},
    {.name = "latency_ms", .type = EDDY_FT_NUMBER, .required = true},
    {.name = "request_id", .type = EDDY_FT_STRING, .required = true},
    {.name = "tenant_id", .type = EDDY_FT_STRING, .required = false},
};

static struct eddy_source service_source = {
    .topic = "service-logs",
    .ts_path = "timestamp",
    .ts_format = EDDY_TS_RFC3339,
    .fields = service_fields,
    .n_fields = 5,
    .max_event_bytes = 1024,
};

#define GOOD                                                                                       \
    "{\"service\":\"auth-service\",\"timestamp\":\"2025-04-30T10:01:00Z\",\"status_code\":200,"    \
    "\"latency_ms\":350,\"error\":false,\"request_id\":\"req-0001\",\"tenant_id\":\"t-42\","       \
    "\"tenant_tier\":\"premium\",\"region\":\"EMEA\",\"endpoint\":\"/api/v1/login\","              \
    "\"user_id\":\"u-7\",\"bytes_out\":1234}"

struct decoded {
    enum eddy_dl_reason reason;
    struct eddy_value slots[5];
    int64_t ts_ms;
    char detail[256];
    char scratch[4096];
};

static struct decoded *decode_with(const struct eddy_source *src, const char *doc)
{
    static struct decoded d;
    struct eddy_decoder *dec;
    memset(&d, 0, sizeof d);
    cr_assert_eq(eddy__decoder_new(src, &dec), EDDY_OK);
    size_t len = strlen(doc);
    cr_assert_lt(len, sizeof d.scratch);
    d.reason = eddy__decode(dec, doc, len, d.slots, &d.ts_ms, d.scratch, NULL, d.detail,
                            sizeof d.detail);
    eddy__decoder_free(dec);
    return &d;
}

static struct decoded *decode(const char *doc)
{
    return decode_with(&service_source, doc);
}

static bool str_is(const struct eddy_value *v, const char *s)
{
    return v->type == EDDY_V_STR && v->as.s.len == strlen(s) && !memcmp(v->as.s.ptr, s, v->as.s.len);
}

Test(decode, good_record_fills_slots_and_event_time)
{
    struct decoded *d = decode(GOOD);
    cr_assert_eq(d->reason, 0, "%s", d->detail);
    cr_assert_str_eq(d->detail, "");
    cr_assert(str_is(&d->slots[0], "auth-service"));
    cr_assert(d->slots[1].type == EDDY_V_INT && d->slots[1].as.i == 200);
    cr_assert(d->slots[2].type == EDDY_V_INT && d->slots[2].as.i == 350);
    cr_assert(str_is(&d->slots[3], "req-0001"));
    cr_assert(str_is(&d->slots[4], "t-42"));
    cr_assert_eq(d->ts_ms, 1746007260000);
}

Test(decode, optional_field_absent_or_null_is_null_and_numbers_may_be_fractional)
{
    struct decoded *d = decode("{\"service\":\"a\\\"b\",\"timestamp\":\"2025-04-30T10:01:00.5+02:00\","
                               "\"status_code\":-1,\"latency_ms\":12.5,\"request_id\":\"r\"}");
    cr_assert_eq(d->reason, 0, "%s", d->detail);
    cr_assert(str_is(&d->slots[0], "a\"b"));
    cr_assert(d->slots[2].type == EDDY_V_NUM && d->slots[2].as.n == 12.5);
    cr_assert_eq(d->slots[4].type, EDDY_V_NULL);
    cr_assert_eq(d->ts_ms, 1746000060500);
    d = decode("{\"service\":\"a\",\"timestamp\":\"2025-04-30T10:01:00Z\",\"status_code\":1,"
               "\"latency_ms\":1e1,\"request_id\":\"r\",\"tenant_id\":null}");
    cr_assert_eq(d->reason, 0, "%s", d->detail);
    cr_assert(d->slots[2].type == EDDY_V_NUM && d->slots[2].as.n == 10.0);
    cr_assert_eq(d->slots[4].type, EDDY_V_NULL);
}

struct dl_case {
    const char *doc;
    enum eddy_dl_reason reason;
    const char *detail;
};

Test(decode, every_dead_letter_reason_with_exact_detail)
{
    static const struct dl_case cases[] = {
        {"{\"service\":\"a\",}", EDDY_DL_MALFORMED_JSON, "at byte 15: unexpected character '}'"},
        {"", EDDY_DL_MALFORMED_JSON, "at byte 0: empty input"},
        {"[]", EDDY_DL_MALFORMED_JSON, "at byte 0: top-level value is not an object"},
        {"{\"service\":\"\xc0\xaf\"}", EDDY_DL_MALFORMED_JSON,
         "at byte 12: invalid UTF-8 in string"},
        {"{\"timestamp\":\"2025-04-30T10:01:00Z\",\"status_code\":200}", EDDY_DL_MISSING_FIELD,
         "field 'service' is missing"},
        {"{\"service\":null,\"status_code\":\"x\"}", EDDY_DL_MISSING_FIELD,
         "field 'service' is missing"},
        {"{\"service\":\"a\",\"status_code\":\"200\"}", EDDY_DL_WRONG_TYPE,
         "field 'status_code': expected int, got string"},
        {"{\"service\":\"a\",\"status_code\":200.5}", EDDY_DL_WRONG_TYPE,
         "field 'status_code': expected int, got number"},
        {"{\"service\":\"a\",\"status_code\":2e2}", EDDY_DL_WRONG_TYPE,
         "field 'status_code': expected int, got number"},
        {"{\"service\":\"a\",\"status_code\":9223372036854775808}", EDDY_DL_WRONG_TYPE,
         "field 'status_code': expected int, got number"},
        {"{\"service\":5}", EDDY_DL_WRONG_TYPE, "field 'service': expected string, got number"},
        {"{\"service\":true}", EDDY_DL_WRONG_TYPE, "field 'service': expected string, got bool"},
        {"{\"service\":{\"name\":\"a\"}}", EDDY_DL_WRONG_TYPE,
         "field 'service': expected string, got object"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":\"3\"}", EDDY_DL_WRONG_TYPE,
         "field 'latency_ms': expected number, got string"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":[]}",
         EDDY_DL_WRONG_TYPE, "field 'request_id': expected string, got array"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3}", EDDY_DL_MISSING_FIELD,
         "field 'request_id' is missing"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"tenant_id\":7}",
         EDDY_DL_WRONG_TYPE, "field 'tenant_id': expected string, got number"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\"}",
         EDDY_DL_BAD_TIMESTAMP, "field 'timestamp' is missing"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":null}",
         EDDY_DL_BAD_TIMESTAMP, "field 'timestamp' is missing"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":\"2025-13-01T00:00:00Z\"}",
         EDDY_DL_BAD_TIMESTAMP, "field 'timestamp': cannot parse '2025-13-01T00:00:00Z' as rfc3339"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":1746007260}",
         EDDY_DL_BAD_TIMESTAMP, "field 'timestamp': expected string, got number"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefXYZ\"}",
         EDDY_DL_BAD_TIMESTAMP,
         "field 'timestamp': cannot parse "
         "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef...' as rfc3339"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\xc3\xa9\"}",
         EDDY_DL_BAD_TIMESTAMP,
         "field 'timestamp': cannot parse "
         "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde...' as rfc3339"},
        {"{\"service\":\"a\",\"status_code\":1,\"latency_ms\":3,\"request_id\":\"r\","
         "\"timestamp\":\"line\\nbreak\"}",
         EDDY_DL_BAD_TIMESTAMP, "field 'timestamp': cannot parse 'line\nbreak' as rfc3339"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct decoded *d = decode(cases[i].doc);
        cr_expect_eq(d->reason, cases[i].reason, "case %zu: reason %d (%s)", i, d->reason,
                     d->detail);
        cr_expect_str_eq(d->detail, cases[i].detail, "case %zu", i);
    }
}

Test(decode, too_large_is_checked_before_parsing)
{
    char *doc = malloc(2001);
    memset(doc, 'x', 2000);
    doc[2000] = '\0';
    struct decoded *d = decode(doc);
    cr_assert_eq(d->reason, EDDY_DL_TOO_LARGE);
    cr_assert_str_eq(d->detail, "record of 2000 bytes exceeds max_event_bytes 1024");
    free(doc);
    struct eddy_source unlimited = service_source;
    unlimited.max_event_bytes = 0;
    doc = malloc(3000);
    int n = snprintf(doc, 3000, "{\"pad\":\"%01500d\",%s", 0, &GOOD[1]);
    cr_assert_gt(n, 1500);
    d = decode_with(&unlimited, doc);
    cr_assert_eq(d->reason, 0, "%s", d->detail);
    free(doc);
}

static struct eddy_field unix_fields[] = {
    {.name = "device_type", .path = "properties.device_type", .type = EDDY_FT_STRING,
     .required = true},
    {.name = "ok", .type = EDDY_FT_BOOL, .required = false},
};

Test(decode, nested_paths_and_unix_seconds)
{
    struct eddy_source src = {.topic = "frames", .ts_path = "meta.ts", .ts_format = EDDY_TS_UNIX_S,
                              .fields = unix_fields, .n_fields = 2, .max_event_bytes = 0};
    struct decoded *d =
        decode_with(&src, "{\"meta\":{\"ts\":1746007260.25},\"properties\":{\"device_type\":\"tv\"},"
                          "\"ok\":true,\"device_type\":\"root is not it\"}");
    cr_assert_eq(d->reason, 0, "%s", d->detail);
    cr_assert(str_is(&d->slots[0], "tv"));
    cr_assert(d->slots[1].type == EDDY_V_BOOL && d->slots[1].as.b);
    cr_assert_eq(d->ts_ms, 1746007260250);

    d = decode_with(&src, "{\"properties\":{\"device_type\":\"tv\"},\"ok\":1}");
    cr_assert_eq(d->reason, EDDY_DL_WRONG_TYPE);
    cr_assert_str_eq(d->detail, "field 'ok': expected bool, got number");
    d = decode_with(&src, "{\"device_type\":\"tv\"}");
    cr_assert_eq(d->reason, EDDY_DL_MISSING_FIELD);
    cr_assert_str_eq(d->detail, "field 'device_type' is missing");

    static const struct dl_case ts_cases[] = {
        {"{\"meta\":{\"ts\":1e20}}", EDDY_DL_BAD_TIMESTAMP,
         "field 'meta.ts': cannot parse 1e+20 as unix_s"},
        {"{\"meta\":{\"ts\":100000000001}}", EDDY_DL_BAD_TIMESTAMP,
         "field 'meta.ts': cannot parse 100000000001 as unix_s"},
        {"{\"meta\":{\"ts\":\"1746007260\"}}", EDDY_DL_BAD_TIMESTAMP,
         "field 'meta.ts': cannot parse '1746007260' as unix_s"},
        {"{\"meta\":{\"ts\":{}}}", EDDY_DL_BAD_TIMESTAMP,
         "field 'meta.ts': expected number, got object"},
        {"{\"meta\":{\"ts\":false}}", EDDY_DL_BAD_TIMESTAMP,
         "field 'meta.ts': expected number, got bool"},
        {"{\"meta\":[{\"ts\":1}]}", EDDY_DL_BAD_TIMESTAMP, "field 'meta.ts' is missing"},
    };
    for (size_t i = 0; i < sizeof ts_cases / sizeof ts_cases[0]; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "{\"properties\":{\"device_type\":\"tv\"},%s", ts_cases[i].doc + 1);
        d = decode_with(&src, doc);
        cr_expect_eq(d->reason, ts_cases[i].reason, "case %zu", i);
        cr_expect_str_eq(d->detail, ts_cases[i].detail, "case %zu", i);
    }
    src.ts_format = EDDY_TS_UNIX_MS;
    d = decode_with(&src, "{\"properties\":{\"device_type\":\"tv\"},\"meta\":{\"ts\":12.5}}");
    cr_assert_eq(d->reason, EDDY_DL_BAD_TIMESTAMP);
    cr_assert_str_eq(d->detail, "field 'meta.ts': cannot parse 12.5 as unix_ms");
}

Test(decode, truncated_detail_keeps_whole_utf8_characters)
{
    struct eddy_field f = {.name = "\xc3\xa9t\xc3\xa9", .type = EDDY_FT_INT, .required = true};
    struct eddy_source src = {.ts_path = "ts", .ts_format = EDDY_TS_UNIX_MS, .fields = &f,
                              .n_fields = 1};
    struct eddy_decoder *dec;
    cr_assert_eq(eddy__decoder_new(&src, &dec), EDDY_OK);
    char detail[9], scratch[8];
    struct eddy_value slot;
    int64_t ts;
    cr_assert_eq(eddy__decode(dec, "{}", 2, &slot, &ts, scratch, NULL, detail, sizeof detail),
                 EDDY_DL_MISSING_FIELD);
    cr_assert_str_eq(detail, "field '"); /* not "field '\xc3" */
    char detail10[10];
    eddy__decode(dec, "{}", 2, &slot, &ts, scratch, NULL, detail10, sizeof detail10);
    cr_assert_str_eq(detail10, "field '\xc3\xa9");
    eddy__decoder_free(dec);
}

Test(decode, decoder_new_rejects_bad_sources)
{
    struct eddy_decoder *dec = (void *)1;
    struct eddy_source src = service_source;
    src.ts_path = NULL;
    cr_assert_eq(eddy__decoder_new(&src, &dec), EDDY_EINVAL);
    cr_assert_null(dec);
    struct eddy_field bad = {.name = "x", .path = "a..b", .type = EDDY_FT_INT};
    src = (struct eddy_source){.ts_path = "ts", .ts_format = EDDY_TS_UNIX_S, .fields = &bad,
                               .n_fields = 1};
    cr_assert_eq(eddy__decoder_new(&src, &dec), EDDY_EINVAL);
    static struct eddy_field many[EDDY_DECODE_MAX_FIELDS + 1];
    for (size_t i = 0; i <= EDDY_DECODE_MAX_FIELDS; i++)
        many[i] = (struct eddy_field){.name = "f", .type = EDDY_FT_INT};
    src.fields = many;
    src.n_fields = EDDY_DECODE_MAX_FIELDS + 1;
    cr_assert_eq(eddy__decoder_new(&src, &dec), EDDY_EINVAL);
    src.n_fields = EDDY_DECODE_MAX_FIELDS;
    cr_assert_eq(eddy__decoder_new(&src, &dec), EDDY_OK);
    eddy__decoder_free(dec);
    eddy__decoder_free(NULL);
}

/* ---- dead-letter format -------------------------------------------------- */

Test(deadletter, reason_names)
{
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_MALFORMED_JSON), "malformed_json");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_MISSING_FIELD), "missing_field");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_WRONG_TYPE), "wrong_type");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_BAD_TIMESTAMP), "bad_timestamp");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_TOO_LARGE), "too_large");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL_LATE), "late");
    cr_assert_str_eq(eddy__dl_reason_name(EDDY_DL__COUNT), "unknown");
    cr_assert_str_eq(eddy__dl_reason_name(0), "unknown");
}

Test(deadletter, format_exact_output)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    const char raw[] = "{\"status_code\":\"200\"}";
    eddy__dl_format(&b, EDDY_DL_WRONG_TYPE, "field 'status_code': expected int, got string",
                    "service-logs", 0, 17, raw, sizeof raw - 1);
    cr_assert_eq(eddy_buf_err(&b), EDDY_OK);
    cr_assert_str_eq(b.data, "{\"reason\":\"wrong_type\",\"detail\":\"field 'status_code': "
                             "expected int, got string\",\"source\":{\"topic\":\"service-logs\","
                             "\"partition\":0,\"offset\":17},\"raw\":\"{\\\"status_code\\\":"
                             "\\\"200\\\"}\"}");
    eddy_buf_reset(&b);
    const char raw2[] = "line one\nquote \" back\\slash\ttab\x01";
    eddy__dl_format(&b, EDDY_DL_MALFORMED_JSON, "at byte 0: unexpected character 'l'", "t", 3,
                    -1, raw2, sizeof raw2 - 1);
    cr_assert_str_eq(b.data, "{\"reason\":\"malformed_json\",\"detail\":\"at byte 0: unexpected "
                             "character 'l'\",\"source\":{\"topic\":\"t\",\"partition\":3,"
                             "\"offset\":-1},\"raw\":\"line one\\nquote \\\" back\\\\slash\\ttab"
                             "\\u0001\"}");
    eddy_buf_release(&b);
}

Test(deadletter, invalid_utf8_raw_is_base64)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    const char raw[] = "{\"a\":\"\xff\"}";
    eddy__dl_format(&b, EDDY_DL_MALFORMED_JSON, "at byte 6: invalid UTF-8 in string", NULL,
                    12, 9000000000LL, raw, sizeof raw - 1);
    cr_assert_str_eq(b.data, "{\"reason\":\"malformed_json\",\"detail\":\"at byte 6: invalid UTF-8 "
                             "in string\",\"source\":{\"topic\":null,\"partition\":12,"
                             "\"offset\":9000000000},\"raw_base64\":\"eyJhIjoi/yJ9\"}");
    eddy_buf_release(&b);
}

Test(deadletter, decoder_detail_round_trips_into_the_record)
{
    const char raw[] = "{\"service\":\"a\",\"status_code\":\"200\"}";
    struct decoded *d = decode(raw);
    cr_assert_eq(d->reason, EDDY_DL_WRONG_TYPE);
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy__dl_format(&b, d->reason, d->detail, service_source.topic, 1, 5, raw, sizeof raw - 1);
    struct eddy_projection *p;
    const char *paths[] = {"reason", "detail", "source.offset", "raw"};
    cr_assert_eq(eddy__projection_new(paths, 4, &p), EDDY_OK);
    struct eddy_value v[4];
    struct eddy_json_error jerr;
    char *scratch = malloc(b.len);
    cr_assert_eq(eddy__json_project(p, b.data, b.len, v, scratch, NULL, &jerr), EDDY_OK);
    cr_assert(str_is(&v[0], "wrong_type"));
    cr_assert(str_is(&v[1], "field 'status_code': expected int, got string"));
    cr_assert(v[2].type == EDDY_V_INT && v[2].as.i == 5);
    cr_assert(str_is(&v[3], raw));
    free(scratch);
    eddy__projection_free(p);
    eddy_buf_release(&b);
}
