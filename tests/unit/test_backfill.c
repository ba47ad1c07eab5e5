/*
 * test_backfill.c - the pure parts of `eddy backfill`: version numbers and
 * versioned plans (src/config/version.c: names, output and dead-letter
 * topics, invalid names refused with the plan left as loaded) and the
 * progress text (src/runtime/backfill.c). The engine side runs against a
 * real broker in tests/integration/test_backfill.sh.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/version.h"
#include "core/alloc.h"
#include "eddy/topology.h"
#include "runtime/backfill.h"

static const char shop_yaml[] = "name: shop\n"
                                "source:\n"
                                "  topic: logs\n"
                                "  key: [service]\n"
                                "  timestamp: {field: ts, format: unix_ms}\n"
                                "  fields:\n"
                                "    service: string\n"
                                "    region: string\n"
                                "    status: int\n"
                                "aggregations:\n"
                                "  - name: svc_1m\n"
                                "    group_by: [service]\n"
                                "    window: {tumbling: 1m}\n"
                                "    metrics: {requests: count()}\n"
                                "  - name: region_1m\n"
                                "    group_by: [region]\n"
                                "    window: {tumbling: 1m}\n"
                                "    metrics: {requests: count()}\n"
                                "    output: {topic: regions}\n"
                                "    archive: {path: /lake, partition_by: [date]}\n"
                                "archive: {path: /lake}\n"
                                "alerts:\n"
                                "  - name: busy\n"
                                "    on: svc_1m\n"
                                "    when: requests > 100\n"
                                "  - name: quiet\n"
                                "    on: svc_1m\n"
                                "    when: requests < 1\n"
                                "    output: {topic: pager}\n";

static struct eddy_plan *parse(const char *yaml)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "%s", err);
    return plan;
}

/* ---- version numbers and names ---- */

Test(version, parse_accepts_1_to_999999_in_plain_decimal)
{
    long v = -1;
    cr_assert(eddy_version_parse("2", &v));
    cr_assert_eq(v, 2);
    cr_assert(eddy_version_parse("1", &v));
    cr_assert_eq(v, 1);
    cr_assert(eddy_version_parse("999999", &v));
    cr_assert_eq(v, 999999);
    cr_assert(eddy_version_parse("10", &v));
    cr_assert_eq(v, 10);
    v = 7;
    const char *bad[] = {"",   "0",  "02", "+2",      "-2",
                         "2x", " 2", "2 ", "1000000", "99999999999999999999",
                         "v2", "2.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!eddy_version_parse(bad[i], &v), "'%s' accepted", bad[i]);
    cr_assert_eq(v, 7); /* untouched by a refusal */
    cr_assert(!eddy_version_parse(NULL, &v));
}

Test(version, name_appends_dot_v_and_the_number)
{
    char out[32];
    cr_assert(eddy_version_name("shop", 2, out, sizeof out));
    cr_assert_str_eq(out, "shop.v2");
    cr_assert(eddy_version_name("shop-svc_1m", 13, out, sizeof out));
    cr_assert_str_eq(out, "shop-svc_1m.v13");
    cr_assert(eddy_version_name("abc", 1, out, 7)); /* "abc.v1" + NUL */
    cr_assert_str_eq(out, "abc.v1");
    cr_assert(!eddy_version_name("abc", 10, out, 7));
}

Test(version, plan_gets_the_versioned_name_outputs_and_dead_letter_topic)
{
    struct eddy_plan *plan = parse(shop_yaml);
    char *dlq = NULL, err[256] = "";
    cr_assert_eq(eddy_plan_version(plan, 2, &dlq, err, sizeof err), EDDY_OK, "%s", err);
    cr_assert_str_eq(plan->name, "shop.v2");
    cr_assert_str_eq(dlq, "shop-dlq.v2");
    cr_assert_str_eq(plan->source.topic, "logs"); /* the same input */
    cr_assert_str_eq(plan->aggregations[0].output_topic, "shop-svc_1m.v2");
    cr_assert_str_eq(plan->aggregations[1].output_topic, "regions.v2");
    cr_assert_str_eq(plan->alerts[0].output_topic, "shop-alerts.v2");
    cr_assert_str_eq(plan->alerts[1].output_topic, "pager.v2");
    cr_assert(plan->aggregations[1].repartition);
    cr_assert_eq(plan->n_archives, 2); /* their directories */
    cr_assert_str_eq(plan->archives[0].name, "region_1m.v2");
    cr_assert_str_eq(plan->archives[1].name, "events.v2");
    cr_assert_str_eq(plan->archives[1].path, "/lake");
    eddy_free(dlq);
    eddy_plan_free(plan);
}

Test(version, plan_version_999999)
{
    struct eddy_plan *plan = parse(shop_yaml);
    char *dlq = NULL, err[256] = "";
    cr_assert_eq(eddy_plan_version(plan, 999999, &dlq, err, sizeof err), EDDY_OK, "%s", err);
    cr_assert_str_eq(plan->name, "shop.v999999");
    cr_assert_str_eq(dlq, "shop-dlq.v999999");
    cr_assert_str_eq(plan->alerts[1].output_topic, "pager.v999999");
    eddy_free(dlq);
    eddy_plan_free(plan);
}

/* A topology named @name_len x 'n' with an output topic of @topic_len x 't'. */
static char *long_names_yaml(size_t name_len, size_t topic_len)
{
    static char yaml[2048];
    char name[256], topic[256];
    memset(name, 'n', name_len);
    name[name_len] = '\0';
    memset(topic, 't', topic_len);
    topic[topic_len] = '\0';
    snprintf(yaml, sizeof yaml,
             "name: %s\n"
             "source:\n"
             "  topic: logs\n"
             "  timestamp: {field: ts, format: unix_ms}\n"
             "  fields: {service: string}\n"
             "aggregations:\n"
             "  - name: a\n"
             "    group_by: [service]\n"
             "    window: {tumbling: 1m}\n"
             "    metrics: {requests: count()}\n"
             "    output: {topic: %s}\n",
             name, topic);
    return yaml;
}

static void assert_refused(const char *yaml, long version, const char *expected_err)
{
    struct eddy_plan *plan = parse(yaml);
    char *name = eddy_strdup(plan->name), *topic = eddy_strdup(plan->aggregations[0].output_topic);
    char *dlq = NULL, err[512] = "";
    cr_assert_eq(eddy_plan_version(plan, version, &dlq, err, sizeof err), EDDY_ECONFIG);
    cr_assert_null(dlq);
    cr_assert_str_eq(err, expected_err);
    /* the plan is as loaded */
    cr_assert_str_eq(plan->name, name);
    cr_assert_str_eq(plan->aggregations[0].output_topic, topic);
    eddy_free(name);
    eddy_free(topic);
    eddy_plan_free(plan);
}

Test(version, a_topology_name_over_200_characters_is_refused)
{
    struct eddy_plan *plan = parse(long_names_yaml(197, 10));
    char *dlq = NULL, err[512] = "";
    cr_assert_eq(eddy_plan_version(plan, 9, &dlq, err, sizeof err), EDDY_OK, "%s", err);
    cr_assert_eq(strlen(plan->name), 200);
    eddy_free(dlq);
    eddy_plan_free(plan);
    char expected[512], name[200];
    memset(name, 'n', 197);
    name[197] = '\0';
    snprintf(expected, sizeof expected,
             "'%s' with the suffix .v10 would be longer than 200 characters", name);
    assert_refused(long_names_yaml(197, 10), 10, expected);
}

Test(version, an_output_topic_over_249_characters_is_refused)
{
    char expected[512], topic[250];
    memset(topic, 't', 247);
    topic[247] = '\0';
    snprintf(expected, sizeof expected,
             "'%s' with the suffix .v2 would be longer than 249 characters", topic);
    assert_refused(long_names_yaml(5, 247), 2, expected);
    struct eddy_plan *plan = parse(long_names_yaml(5, 246));
    char *dlq = NULL, err[512] = "";
    cr_assert_eq(eddy_plan_version(plan, 2, &dlq, err, sizeof err), EDDY_OK, "%s", err);
    cr_assert_eq(strlen(plan->aggregations[0].output_topic), 249);
    eddy_free(dlq);
    eddy_plan_free(plan);
}

Test(version, internal_topics_over_249_characters_are_refused)
{
    /* "<name>.v2-meta-changelog" and "<name>.v2-a-changelog" fit under 200
     * characters of name, but an aggregation named with 60 characters does
     * not: 190 + 3 + 1 + 60 + 10 > 249 */
    static char yaml[2048];
    char name[200], agg[64];
    memset(name, 'n', 187);
    name[187] = '\0';
    memset(agg, 'a', 60);
    agg[60] = '\0';
    snprintf(yaml, sizeof yaml,
             "name: %s\n"
             "source:\n"
             "  topic: logs\n"
             "  timestamp: {field: ts, format: unix_ms}\n"
             "  fields: {service: string}\n"
             "aggregations:\n"
             "  - name: %s\n"
             "    group_by: [service]\n"
             "    window: {tumbling: 1m}\n"
             "    metrics: {requests: count()}\n"
             "    output: {topic: out}\n",
             name, agg);
    char expected[512];
    snprintf(expected, sizeof expected,
             "the internal topics of '%s.v2' would have names longer than 249 characters", name);
    struct eddy_plan *plan = parse(yaml);
    char *dlq = NULL, err[512] = "";
    cr_assert_eq(eddy_plan_version(plan, 2, &dlq, err, sizeof err), EDDY_ECONFIG);
    cr_assert_str_eq(err, expected);
    cr_assert_str_eq(plan->name, name);
    cr_assert_str_eq(plan->aggregations[0].output_topic, "out");
    eddy_plan_free(plan);
}

Test(version, zero_is_refused)
{
    struct eddy_plan *plan = parse(shop_yaml);
    char *dlq = NULL, err[256] = "";
    cr_assert_eq(eddy_plan_version(plan, 0, &dlq, err, sizeof err), EDDY_ECONFIG);
    cr_assert_str_eq(err, "invalid version 0 (expected 1 to 999999)");
    cr_assert_str_eq(plan->name, "shop");
    eddy_plan_free(plan);
}

/* ---- progress text ---- */

static void assert_count(uint64_t n, const char *expected)
{
    char out[16];
    eddy__backfill_count(n, out, sizeof out);
    cr_assert_str_eq(out, expected, "%llu: got '%s'", (unsigned long long)n, out);
}

Test(backfill, counts_have_at_most_three_digits_and_a_unit)
{
    assert_count(0, "0");
    assert_count(37, "37");
    assert_count(999, "999");
    assert_count(1000, "1.0k");
    assert_count(1234, "1.2k");
    assert_count(9949, "9.9k");
    assert_count(9950, "10k");
    assert_count(51234, "51k");
    assert_count(512000, "512k");
    assert_count(999499, "999k");
    assert_count(999500, "1.0M");
    assert_count(1200000, "1.2M");
    assert_count(3300000, "3.3M");
    assert_count(12000000000ULL, "12G");
    assert_count(UINT64_MAX, "18E");
}

static void assert_duration(double seconds, const char *expected)
{
    char out[32];
    eddy__backfill_duration(seconds, out, sizeof out);
    cr_assert_str_eq(out, expected, "%g: got '%s'", seconds, out);
}

Test(backfill, durations)
{
    assert_duration(0, "0 s");
    assert_duration(4.4, "4 s");
    assert_duration(4.5, "5 s");
    assert_duration(99.4, "99 s");
    assert_duration(100, "1 min 40 s");
    assert_duration(5999, "99 min 59 s");
    assert_duration(6000, "1 h 40 min");
    assert_duration(12345, "3 h 25 min");
    assert_duration(-1, "?");
    assert_duration(1e300, "?");
}

Test(backfill, progress_line)
{
    char out[256];
    eddy__backfill_format(1200000, 3300000, 512000, out, sizeof out);
    cr_assert_str_eq(out, "36% (1.2M of 3.3M records), 512k records/s, ETA 4 s");
    eddy__backfill_format(1221000, 3300000, 512000, out, sizeof out);
    cr_assert_str_eq(out, "37% (1.2M of 3.3M records), 512k records/s, ETA 4 s");
    eddy__backfill_format(0, 95000, 0, out, sizeof out);
    cr_assert_str_eq(out, "0% (0 of 95k records), 0 records/s, ETA ?");
    eddy__backfill_format(94999, 95000, 3000, out, sizeof out);
    cr_assert_str_eq(out, "99% (95k of 95k records), 3.0k records/s, ETA 0 s");
    eddy__backfill_format(95000, 95000, 0, out, sizeof out);
    cr_assert_str_eq(out, "100% (95k of 95k records), 0 records/s, ETA 0 s");
    eddy__backfill_format(0, 0, 0, out, sizeof out); /* nothing to do */
    cr_assert_str_eq(out, "100% (0 of 0 records), 0 records/s, ETA 0 s");
    eddy__backfill_format(7, 5, 10, out, sizeof out); /* clamped */
    cr_assert_str_eq(out, "100% (5 of 5 records), 10 records/s, ETA 0 s");
}

Test(backfill, progress_bar)
{
    char out[256];
    eddy__backfill_format_bar(1221000, 3300000, 512000, out, sizeof out);
    cr_assert_str_eq(out, "backfill [###########...................] 37% (1.2M of 3.3M records), "
                          "512k records/s, ETA 4 s");
    eddy__backfill_format_bar(0, 10, 0, out, sizeof out);
    cr_assert_str_eq(out, "backfill [..............................] 0% (0 of 10 records), "
                          "0 records/s, ETA ?");
    eddy__backfill_format_bar(10, 10, 5, out, sizeof out);
    cr_assert_str_eq(out, "backfill [##############################] 100% (10 of 10 records), "
                          "5 records/s, ETA 0 s");
}
