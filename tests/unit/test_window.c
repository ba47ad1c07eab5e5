/*
 * Window semantics, ported from Kafka Streams' SuppressScenarioTest and
 * KStreamWindowAggregateTest scenarios, run through a whole task: decode,
 * stream time, window assignment, grace, final and update emission, late
 * dead letters. Each scenario is a topology, a list of records and the exact
 * outputs expected after each record, written compactly as
 * "key@start/end=count" (final) or "key@start/end~count" (update),
 * "key@start/end!" (a retracted session window), "late@offset".
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/task.h"
#include "plan_from.h"

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
        if (json_is_true(json_object_get(doc, "retracted"))) { /* session windows */
            cr_assert(!metrics && json_is_false(json_object_get(doc, "final")));
            eddy_buf_printf(&c->text, "%s@%s/%s!", json_string_value(k),
                            json_string_value(json_object_get(win, "start")),
                            json_string_value(json_object_get(win, "end")));
            json_decref(doc);
            return EDDY_OK;
        }
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

/* ---- session windows ----
 * Kafka Streams' scenarios for session windows (KStreamSessionWindowAggregate:
 * close time = stream time - gap - grace; a session [first, last event time]
 * closes once its end is before the close time; a record that would make or
 * join no session ending at or after it is late). Windows print as
 * first/last event time. Closed sessions come in (end, key) order; keys
 * compare by their encoding, whose 4-byte length comes before the bytes, so
 * "dummy" sorts before "OnTime1". */

/* SuppressScenarioTest.shouldSupportFinalResultsForSessionWindows: gap 5, no
 * grace; a disordered record within the open session is admitted, one after
 * the session closed is late; each session is emitted once, final. */
Test(window, session_final_results_ks_suppress_scenario)
{
    static const struct step steps[] = {
        {REC("k1", 0), ""},
        {REC("k1", 5), ""},
        /* disordered records are admitted until stream time > end + gap + grace */
        {REC("k1", 1), ""},
        /* any key advances stream time: 11 > 5 + 5 + 0 closes k1's [0,5] */
        {REC("k2", 11), "k1@0/5=3"},
        /* the session it would join is closed, and 5 < 11 - 5 - 0 */
        {REC("k1", 5), "late@4"},
        {REC("k1", 30), "k2@11/11=1"},
    };
    run_scenario(TOPOLOGY("{session: 5ms}", "0ms", "final"), steps, 6, "k1@30/30=1");
}

/* KStreamSessionWindowAggregateProcessorTest.shouldMergeSessions (gap 10ms
 * for GAP_MS; the grace keeps the first session open as the test's 24h
 * default grace does): a record between two sessions of the key, within the
 * gap of both, merges them into one. */
Test(window, session_bridging_record_merges_two_sessions)
{
    static const struct step steps[] = {
        {REC("mel", 0), ""},
        /* beyond the gap: a second session */
        {REC("mel", 11), ""},
        /* back in time, within the gap of both: [0,0] + [11,11] + 5 = [0,11] */
        {REC("mel", 5), ""},
        /* 40 > 11 + 10 + 10 */
        {REC("x", 40), "mel@0/11=3"},
    };
    run_scenario(TOPOLOGY("{session: 10ms}", "10ms", "final"), steps, 4, "x@40/40=1");
}

/* KStreamSessionWindowAggregateProcessorTest.
 * shouldHaveMultipleSessionsForSameIdWhenTimestampApartBySessionGap (gap
 * 10ms, no grace): records more than the gap apart make separate sessions,
 * each emitted once as stream time passes its end + gap. */
Test(window, session_records_a_gap_apart_make_separate_sessions)
{
    static const struct step steps[] = {
        {REC("mel", 0), ""},
        {REC("mel", 11), "mel@0/0=1"},
        {REC("mel", 11), ""},
        {REC("mel", 22), "mel@11/11=2"},
        {REC("mel", 22), ""},
        {REC("mel", 22), ""},
    };
    run_scenario(TOPOLOGY("{session: 10ms}", "0ms", "final"), steps, 6, "mel@22/22=3");
}

/* KStreamSessionWindowAggregateProcessorTest.shouldHandleMultipleSessionsAndMerging
 * (GAP_MS = 10ms, no grace): separate keys keep separate sessions; the
 * emitted sessions are KS's expected forwards, in the same order. */
Test(window, session_multiple_keys_and_merging)
{
    static const struct step steps[] = {
        {REC("a", 0), ""},
        {REC("b", 0), ""},
        {REC("c", 0), ""},
        {REC("d", 0), ""},
        {REC("d", 5), ""},
        /* 11 > 0 + 10: a, b, c close; a@11 does not join a's closed [0,0] */
        {REC("a", 11), "a@0/0=1 b@0/0=1 c@0/0=1"},
        {REC("b", 11), ""},
        {REC("a", 16), "d@0/5=2"},
        {REC("c", 16), ""},
    };
    run_scenario(TOPOLOGY("{session: 10ms}", "0ms", "final"), steps, 9,
                 "b@11/11=1 a@11/16=2 c@16/16=1");
}

/* KStreamSessionWindowAggregateProcessorTest.
 * shouldLogAndMeterWhenSkippingLateRecordWithZeroGrace (gap 10, grace 0):
 * at stream time 11 a record at 0 is late (its session [0,0] would end
 * before 11 - 10 - 0 = 1): a dead letter, never silently dropped. */
Test(window, session_late_record_with_zero_grace)
{
    static const struct step steps[] = {
        {REC("dummy", 0), ""},
        {REC("OnTime1", 0), ""},
        {REC("dummy", 11), "dummy@0/0=1 OnTime1@0/0=1"},
        {REC("Late1", 0), "late@3"},
    };
    run_scenario(TOPOLOGY("{session: 10ms}", "0ms", "final"), steps, 4, "dummy@11/11=1");
}

/* KStreamSessionWindowAggregateProcessorTest.
 * shouldLogAndMeterWhenSkippingLateRecordWithNonzeroGrace (gap 10, grace 1):
 * at stream time 11 a record at 0 is still on time (0 >= 11 - 10 - 1), at 12
 * it is late; sessions ending at 0 close at stream time 12, not 11. */
Test(window, session_late_record_with_nonzero_grace)
{
    static const struct step steps[] = {
        {REC("dummy", 0), ""},
        {REC("OnTime1", 0), ""},
        {REC("dummy", 11), ""},
        {REC("OnTime2", 0), ""},
        {REC("dummy", 12), "dummy@0/0=1 OnTime1@0/0=1 OnTime2@0/0=1"},
        {REC("Late1", 0), "late@5"},
    };
    run_scenario(TOPOLOGY("{session: 10ms}", "1ms", "final"), steps, 6, "dummy@11/12=2");
}

/* Boundaries (gap 5, grace 3): a session [20,20] is open while stream time
 * <= 28 and closes at 29; a record out of order by more than grace still
 * extends an open session backwards when it is within the gap of it, and is
 * late when it joins nothing and its own [t,t] would already be closed. */
Test(window, session_out_of_order_within_gap_and_grace_boundaries)
{
    static const struct step steps[] = {
        {REC("a", 10), ""},
        {REC("a", 20), "a@10/10=1"}, /* 10 < 20 - 5 - 3 */
        {REC("b", 28), ""},          /* 20 < 28 - 8 is false: still open */
        /* joins nothing (20 > 14 + 5) and 14 < 28 - 8: late */
        {REC("a", 14), "late@3"},
        /* 20 <= 15 + 5: extends [20,20] back to [15,20] */
        {REC("a", 15), ""},
        {REC("b", 29), "a@15/20=2"},
    };
    run_scenario(TOPOLOGY("{session: 5ms}", "3ms", "final"), steps, 6, "b@28/29=2");
}

/* KStreamSessionWindowAggregateProcessorTest.
 * shouldImmediatelyForwardRemovedSessionsWhenMerging with eddy's batched
 * updates (every 1ms of stream time; gap 5, grace 10): a window that went
 * downstream and then grew or merged is retracted before its session's next
 * emission, as JSON {"final":false,"retracted":true} without metrics. */
Test(window, session_updates_retract_grown_and_merged_windows)
{
    static const struct step steps[] = {
        {REC("a", 0), ""},
        {REC("z", 1), "a@0/0~1 z@1/1~1"},
        {REC("a", 5), "a@0/0! a@0/5~2"},
        {REC("a", 11), "a@11/11~1"},
        {REC("a", 8), ""}, /* bridges [0,5] and [11,11] */
        {REC("z", 12), "a@0/5! a@11/11! a@0/11~4 z@12/12~1"},
        {REC("z", 40), "z@1/1=1 a@0/11=4 z@12/12=1 z@40/40~1"},
    };
    run_scenario(TOPOLOGY("{session: 5ms}", "10ms", "{updates: 1ms}"), steps, 7,
                 "z@40/40=1");
}
