/*
 * Window semantics, ported from Kafka Streams' SuppressScenarioTest and
 * KStreamWindowAggregateTest scenarios, run through a whole task: decode,
 * stream time, window assignment, grace, final and update emission, late
 * dead letters. Each scenario is a topology, a list of records and the exact
 * outputs expected after each record, written compactly as
 * "key@start/end=count" (final) or "key@start/end~count" (update), "late@offset".
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/task.h"

struct collector {
    struct eddy_buf text; /* compact outputs, separated by spaces */
};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct collector *c = ctx;
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    cr_assert(doc, "output is not JSON: %.*s", (int)value_len, value);
    if (c->text.len)
        eddy_buf_putc(&c->text, ' ');
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->text, "%s@%lld", json_string_value(json_object_get(doc, "reason")),
                        json_integer_value(json_object_get(json_object_get(doc, "source"),
                                                           "offset")));
    } else if (kind == EDDY_OUT_RESULT) {
        json_t *metrics = json_object_get(doc, "metrics");
        json_t *win = json_object_get(doc, "window");
        json_t *k = json_object_get(json_object_get(doc, "key"), "k");
        eddy_buf_printf(&c->text, "%s@%s/%s%s%lld", k ? json_string_value(k) : "-",
                        json_string_value(json_object_get(win, "start")),
                        json_string_value(json_object_get(win, "end")),
                        json_is_true(json_object_get(doc, "final")) ? "=" : "~",
                        json_integer_value(json_object_get(metrics, "n")));
    } else {
        eddy_buf_printf(&c->text, "alert:%s:%s", json_string_value(json_object_get(doc, "alert")),
                        json_string_value(json_object_get(doc, "state")));
    }
    json_decref(doc);
    return EDDY_OK;
}

/* Window times print as RFC 3339; the scenarios use small millisecond times,
 * so shorten "1970-01-01T00:00:00.002Z" to "2" for readability. */
static void shorten_times(char *s)
{
    const char *prefix = "1970-01-01T00:00:";
    char *out = s;
    while (*s) {
        if (strncmp(s, prefix, strlen(prefix)) == 0) {
            s += strlen(prefix);
            int secs = (s[0] - '0') * 10 + (s[1] - '0');
            int ms = 0;
            s += 2;
            if (*s == '.') {
                ms = atoi(s + 1);
                s += 4;
            }
            s++; /* Z */
            out += sprintf(out, "%d", secs * 1000 + ms);
        } else {
            *out++ = *s++;
        }
    }
    *out = '\0';
}

static struct eddy_plan *plan_from(const char *yaml)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    eddy_err_t rc = eddy_topology_parse("test.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "topology: %s", err);
    return plan;
}

struct step {
    const char *record; /* JSON line */
    const char *expect; /* outputs right after it, "" for none */
};

static void run_scenario(const char *yaml, const struct step *steps, size_t n,
                         const char *expect_at_flush)
{
    struct eddy_plan *plan = plan_from(yaml);
    struct collector c;
    eddy_buf_init(&c.text);
    struct eddy_output out = {collect, &c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    for (size_t i = 0; i < n; i++) {
        eddy_buf_reset(&c.text);
        eddy_buf_putc(&c.text, '\0');
        c.text.len = 0;
        cr_assert_eq(eddy__task_process(task, steps[i].record, strlen(steps[i].record),
                                        (int64_t)i, false),
                     EDDY_OK);
        shorten_times(c.text.data);
        cr_expect_str_eq(c.text.data, steps[i].expect, "after record %zu (%s)", i,
                         steps[i].record);
    }
    eddy_buf_reset(&c.text);
    eddy_buf_putc(&c.text, '\0');
    c.text.len = 0;
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    shorten_times(c.text.data);
    cr_expect_str_eq(c.text.data, expect_at_flush, "at end of input");
    eddy__task_free(task);
    eddy_plan_free(plan);
    eddy_buf_release(&c.text);
}

#define TOPOLOGY(window, grace, emit)                                                        \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string}\n"                                                                \
    "grace: " grace "\n"                                                                     \
    "aggregations:\n"                                                                        \
    "  - name: c\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: " window "\n"                                                               \
    "    emit: " emit "\n"                                                                   \
    "    metrics: {n: count()}\n"

#define REC(k, t) "{\"k\":\"" k "\",\"t\":" #t "}"

/* SuppressScenarioTest.shouldSupportFinalResultsForTimeWindows */
Test(window, final_results_for_time_windows)
{
    static const struct step steps[] = {
        {REC("k1", 0), ""},
        {REC("k1", 1), ""},
        {REC("k1", 2), ""},
        {REC("k1", 1), ""},
        {REC("k1", 0), ""},
        {REC("k1", 5), "k1@0/2=4 k1@2/4=1"},
        /* out of the grace period: a dead letter, never silently dropped */
        {REC("k1", 0), "late@6"},
    };
    run_scenario(TOPOLOGY("{tumbling: 2ms}", "1ms", "final"), steps, 7, "k1@4/6=1");
}

/* SuppressScenarioTest.shouldSupportFinalResultsForTimeWindowsWithLargeJump */
Test(window, final_results_for_time_windows_with_large_jump)
{
    static const struct step steps[] = {
        {REC("k1", 0), ""},
        {REC("k1", 1), ""},
        {REC("k1", 2), ""},
        {REC("k1", 0), ""},
        {REC("k1", 3), ""},
        {REC("k1", 0), ""},
        {REC("k1", 4), "k1@0/2=4"},
        /* the previous record advanced stream time to 4 and closed [0,2) */
        {REC("k1", 0), "late@7"},
        {REC("k1", 30), "k1@2/4=2 k1@4/6=1"},
    };
    run_scenario(TOPOLOGY("{tumbling: 2ms}", "2ms", "final"), steps, 9, "k1@30/32=1");
}

/* A record exactly at end + grace of its window is late (end + grace <= stream time). */
Test(window, window_closes_exactly_at_end_plus_grace)
{
    static const struct step steps[] = {
        {REC("a", 9), ""},
        {REC("b", 14), ""},
        {REC("a", 15), "a@0/10=1"},
        {REC("a", 9), "late@3"},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "5ms", "final"), steps, 4, "a@10/20=1 b@10/20=1");
}

/* Hopping windows (KStreamWindowAggregateTest style): size 10, advance 5;
 * each record belongs to two windows; closed ones are skipped, the record is
 * late only when all its windows are closed. */
Test(window, hopping_windows_count_each_record_in_every_open_window)
{
    static const struct step steps[] = {
        {REC("A", 0), ""},
        {REC("B", 1), ""},
        {REC("A", 7), ""},
        {REC("A", 12), ""},
        /* stream time 16: [0,10) closed (10+5 <= 16), emits A and B in key order */
        {REC("B", 16), "A@0/10=2 B@0/10=1"},
        /* 6 falls in [0,10) (closed) and [5,15) (open): counted once, not late */
        {REC("B", 6), ""},
        /* stream time 22: [5,15) closes at 20 */
        {REC("A", 22), "A@5/15=2 B@5/15=1"},
        /* 3 falls only in closed windows [-5,5) and [0,10) */
        {REC("A", 3), "late@7"},
    };
    run_scenario(TOPOLOGY("{hopping: 10ms, advance: 5ms}", "5ms", "final"), steps, 8,
                 "A@10/20=1 B@10/20=1 A@15/25=1 B@15/25=1 A@20/30=1");
}

/* emit updates: changed rows are re-emitted as stream time crosses each
 * multiple of the interval; the final result follows at close. */
Test(window, updates_then_final)
{
    static const struct step steps[] = {
        {REC("k", 0), ""},
        {REC("k", 1), ""},
        {REC("k", 5), "k@0/10~3"},
        {REC("j", 7), ""},
        {REC("k", 8), ""},
        {REC("k", 11), "j@0/10~1 k@0/10~4 k@10/20~1"},
        {REC("k", 12), ""},
        {REC("k", 20), "j@0/10=1 k@0/10=4 k@10/20~2 k@20/30~1"},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "10ms", "{updates: 5ms}"), steps, 8,
                 "k@10/20=2 k@20/30=1");
}

/* Bad records among good ones: each is a dead letter with its reason, and
 * the good ones are all counted. */
Test(window, bad_records_are_dead_letters_and_good_ones_count)
{
    static const struct step steps[] = {
        {REC("k", 0), ""},
        {"{\"k\":\"k\",\"t\":", "malformed_json@1"},
        {"{\"t\":3}", "missing_field@2"},
        {"{\"k\":7,\"t\":3}", "wrong_type@3"},
        {"{\"k\":\"k\",\"t\":\"soon\"}", "bad_timestamp@4"},
        {REC("k", 4), ""},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "0ms", "final"), steps, 6, "k@0/10=2");
}
