/*
 * Idle-aware time, emit_empty and absent(N) alerts, run through a whole task
 * with a paused input: records up to some event time, then ticks of a wall
 * clock the test controls (eddy__task_tick) and no records. Same compact
 * notation as test_window.c: "key@start/end=count" for a final row,
 * "alert:NAME:STATE@key@start" for an alert, "late@offset" for a dead
 * letter; a step is a record or a tick ("tick" in the failure message).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/task.h"
#include "plan_from.h"

struct collector {
    struct eddy_buf text; /* compact outputs, separated by spaces */
    struct eddy_buf raw;  /* every output value, one per line */
};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct collector *c = ctx;
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    cr_assert(doc, "output is not JSON: %.*s", (int)value_len, value);
    eddy_buf_append(&c->raw, value, value_len);
    eddy_buf_putc(&c->raw, '\n');
    if (c->text.len)
        eddy_buf_putc(&c->text, ' ');
    json_t *win = json_object_get(doc, "window");
    json_t *k = json_object_get(json_object_get(doc, "key"), "k");
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->text, "%s@%lld", json_string_value(json_object_get(doc, "reason")),
                        json_integer_value(json_object_get(json_object_get(doc, "source"),
                                                           "offset")));
    } else if (kind == EDDY_OUT_RESULT) {
        json_t *metrics = json_object_get(doc, "metrics");
        eddy_buf_printf(&c->text, "%s@%s/%s%s%lld", k ? json_string_value(k) : "-",
                        json_string_value(json_object_get(win, "start")),
                        json_string_value(json_object_get(win, "end")),
                        json_is_true(json_object_get(doc, "final")) ? "=" : "~",
                        json_integer_value(json_object_get(metrics, "n")));
    } else {
        eddy_buf_printf(&c->text, "alert:%s:%s@%s@%s",
                        json_string_value(json_object_get(doc, "alert")),
                        json_string_value(json_object_get(doc, "state")),
                        k ? json_string_value(k) : "-",
                        json_string_value(json_object_get(win, "start")));
    }
    json_decref(doc);
    return EDDY_OK;
}

/* "1970-01-01T00:00:00.002Z" -> "2" (the scenarios use small times). */
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
    const char *record; /* JSON line; NULL: a tick at wall time `now` */
    int64_t now;
    const char *expect; /* outputs right after it, "" for none; NULL: not checked */
    int64_t stream_time; /* expected after the step when not 0 */
};

#define REC(k, t) "{\"k\":\"" k "\",\"t\":" #t "}"
#define R(k, t, expect) {REC(k, t), 0, expect, 0}
#define TICK(now, expect) {NULL, now, expect, 0}
#define TICK_TO(now, expect, st) {NULL, now, expect, st}

static void reset(struct collector *c)
{
    eddy_buf_reset(&c->text);
    eddy_buf_putc(&c->text, '\0');
    c->text.len = 0;
}

/* Runs the steps on a new task; returns every output (raw JSON lines) for
 * byte comparisons; the caller frees it. */
static char *run_steps(struct eddy_task *task, struct collector *c, const struct step *steps,
                       size_t n, const char *expect_at_flush)
{
    for (size_t i = 0; i < n; i++) {
        reset(c);
        if (steps[i].record)
            cr_assert_eq(eddy__task_process(task, steps[i].record, strlen(steps[i].record),
                                            (int64_t)i, false),
                         EDDY_OK);
        else
            cr_assert_eq(eddy__task_tick(task, steps[i].now), EDDY_OK);
        shorten_times(c->text.data);
        if (steps[i].expect)
            cr_expect_str_eq(c->text.data, steps[i].expect, "after step %zu (%s %lld)", i,
                             steps[i].record ? steps[i].record : "tick",
                             (long long)steps[i].now);
        if (steps[i].stream_time)
            cr_expect_eq(eddy__task_stream_time(task), steps[i].stream_time,
                         "stream time after step %zu: %lld", i,
                         (long long)eddy__task_stream_time(task));
    }
    reset(c);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    shorten_times(c->text.data);
    if (expect_at_flush)
        cr_expect_str_eq(c->text.data, expect_at_flush, "at end of input");
    eddy_buf_putc(&c->raw, '\0');
    return strdup(c->raw.data);
}

static char *run_scenario(const char *yaml, const struct step *steps, size_t n,
                          const char *expect_at_flush)
{
    struct eddy_plan *plan = plan_from(yaml);
    struct collector c;
    eddy_buf_init(&c.text);
    eddy_buf_init(&c.raw);
    struct eddy_output out = {collect, &c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    char *raw = run_steps(task, &c, steps, n, expect_at_flush);
    eddy__task_free(task);
    eddy_plan_free(plan);
    eddy_buf_release(&c.text);
    eddy_buf_release(&c.raw);
    return raw;
}

#define N(steps) (sizeof steps / sizeof steps[0])

/* Tumbling 10ms windows grouped by k, counting; @extra_top goes after grace
 * (idle_timeout), @extra_agg into the aggregation, @alerts at the end. */
#define TOPOLOGY(grace, extra_top, extra_agg, alerts)                                        \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string}\n"                                                                \
    "grace: " grace "\n" extra_top "aggregations:\n"                                         \
    "  - name: c\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: {tumbling: 10ms}\n" extra_agg "    metrics: {n: count()}\n" alerts

#define IDLE(d) "idle_timeout: " d "\n"
#define EMIT_EMPTY "    emit_empty: true\n"
#define ABSENT(n) "alerts:\n  - {name: silent, on: c, when: absent(" #n ")}\n"

/* The first tick after records anchors (wall 13, stream time 12); once
 * idle_timeout (20ms) has passed, stream time = min(12 + (now - 13),
 * now - grace) and both windows close as if a record had brought it. */
Test(idle, windows_close_after_idle_timeout)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("a", 3, ""),
        R("b", 12, ""),
        TICK_TO(13, "", 12),
        TICK_TO(32, "", 12), /* 19ms of silence: not idle yet */
        /* 12 + 20 = 32, bounded by 33 - 5 = 28 */
        TICK_TO(33, "a@0/10=2 b@10/20=1", 28),
        /* 12 + 27 = 39, bounded by 40 - 5 = 35 */
        TICK_TO(40, "", 35),
        /* the last record was 1ms behind the wall clock, less than grace:
         * the bound keeps stream time grace behind it */
        TICK_TO(1000, "", 995),
    };
    free(run_scenario(TOPOLOGY("5ms", IDLE("20ms"), "", ""), steps, N(steps), ""));
}

/* Stream time extrapolates from the last record: with event times 100ms
 * behind the wall clock (a steady pipeline delay) it stays 100ms behind, so
 * a record that arrives later with the same delay is not late. */
Test(idle, advanced_stream_time_keeps_the_delay_of_the_last_record)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("a", 5, ""),
        TICK_TO(105, "", 5),
        TICK_TO(125, "a@0/10=2", 25), /* 5 + 20, not 125 - 0 */
        /* delayed 100ms like the others: its window [20,30) is still open */
        R("b", 29, ""),
        TICK_TO(129, "", 29), /* anchors again: wall 129, stream time 29 */
        TICK_TO(150, "b@20/30=1", 50),
    };
    free(run_scenario(TOPOLOGY("0ms", IDLE("20ms"), "", ""), steps, N(steps), ""));
}

/* A record whose event time is within 2 x grace of the wall clock is never
 * late because of idle advancement: stream time stays <= now - grace. */
Test(idle, records_near_the_wall_clock_are_not_made_late)
{
    static const struct step steps[] = {
        R("a", 40, ""),
        TICK_TO(40, "", 40),
        /* 40 + 30 = 70, bounded by 70 - 10 = 60: [40,50) closes (50 + 10 <= 60) */
        TICK_TO(70, "a@40/50=1", 60),
        /* event time 51, arrives at wall 71: window [50,60) closes only at 70 */
        R("b", 51, ""),
        /* a record older than 2 x grace is late, as without idling */
        R("c", 39, "late@4"),
    };
    free(run_scenario(TOPOLOGY("10ms", IDLE("30ms"), "", ""), steps, N(steps), "b@50/60=1"));
}

/* Idle time is measured from the last record: records keep the task busy. */
Test(idle, records_reset_the_idle_timer)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        TICK(10, ""),
        R("a", 2, ""),
        TICK(25, ""), /* saw a record: anchors at 25 */
        TICK_TO(44, "", 2),
        TICK_TO(45, "a@0/10=2", 22),
    };
    free(run_scenario(TOPOLOGY("0ms", IDLE("20ms"), "", ""), steps, N(steps), ""));
}

/* Without idle_timeout a tick is a no-op: the output is byte for byte the
 * output without ticks. */
Test(idle, ticks_without_idle_timeout_change_nothing)
{
#define AT_35 "a@10/20=1 b@10/20=0 a@20/30=0 alert:silent:firing@a@20 alert:silent:firing@b@10"
    static const struct step plain[] = {
        R("a", 1, ""),
        R("b", 4, ""),
        R("a", 12, "a@0/10=1 b@0/10=1"),
        R("a", 35, AT_35),
    };
    static const struct step ticked[] = {
        TICK(0, ""),      R("a", 1, ""),          TICK(1000, ""),
        R("b", 4, ""),    TICK(100000, ""),       TICK(200000, ""),
        R("a", 12, "a@0/10=1 b@0/10=1"),          TICK(300000, ""),
        R("a", 35, AT_35), TICK(INT64_MAX / 2, ""),
    };
    const char *yaml = TOPOLOGY("0ms", "", EMIT_EMPTY, ABSENT(1));
    const char *at_flush = "a@30/40=1 alert:silent:resolved@a@30";
    char *a = run_scenario(yaml, plain, N(plain), at_flush);
    char *b = run_scenario(yaml, ticked, N(ticked), at_flush);
    cr_expect_str_eq(a, b);
    cr_expect(strlen(a) > 100);
    free(a);
    free(b);
}

/* A replay of history (event time far behind the wall clock) whose records
 * keep coming is not affected: every tick sees new records. */
Test(idle, replay_far_behind_the_wall_clock_is_not_affected)
{
    const int64_t wall = 1764100000000; /* 2025-11-25 */
    const struct step plain[] = {
        R("a", 1, ""), R("b", 4, ""), R("a", 12, NULL), R("b", 27, NULL), R("a", 33, NULL),
    };
    const struct step ticked[] = {
        R("a", 1, ""), TICK(wall, ""),      R("b", 4, ""),  TICK(wall + 15, ""),
        R("a", 12, NULL), TICK(wall + 30, ""), R("b", 27, NULL), TICK(wall + 45, ""),
        R("a", 33, NULL), TICK(wall + 60, ""),
    };
    const char *yaml = TOPOLOGY("0ms", IDLE("20ms"), "", "");
    char *a = run_scenario(yaml, plain, N(plain), NULL);
    char *b = run_scenario(yaml, ticked, N(ticked), NULL);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
}

/* emit_empty: a key of the previous window without a row in the closing
 * one gets a zero row, in key order; a window without any row is
 * synthesized once closed; a key gets one zero row per silence. */
Test(idle, emit_empty_rows_for_keys_silent_after_idle)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("b", 2, ""),
        R("c", 3, ""),
        R("b", 11, "a@0/10=1 b@0/10=1 c@0/10=1"),
        TICK_TO(12, "", 11),
        /* idle: 11 + 20 = 31: [10,20) has b, a and c are blank; [20,30) had
         * no rows at all: b is blank there */
        TICK_TO(32, "a@10/20=0 b@10/20=1 c@10/20=0 b@20/30=0", 31),
        TICK_TO(60, "", 59), /* nobody is kept any more */
        R("c", 65, ""),
    };
    free(run_scenario(TOPOLOGY("0ms", IDLE("20ms"), EMIT_EMPTY, ""), steps, N(steps),
                      "c@60/70=1"));
}

/* emit_empty without idling: the blank rows carry zero counts, sums and
 * distinct counts, and null ratios, averages, extremes and quantiles. */
Test(idle, emit_empty_rows_have_zero_metrics)
{
    const char *yaml = "name: t\n"
                       "source:\n"
                       "  topic: input\n"
                       "  timestamp: {field: t, format: unix_ms}\n"
                       "  fields: {k: string, v: int}\n"
                       "aggregations:\n"
                       "  - name: c\n"
                       "    group_by: [k]\n"
                       "    window: {tumbling: 10ms}\n"
                       "    emit_empty: true\n"
                       "    metrics: {n: count(), e: count_if(v > 1), r: ratio(v > 1), "
                       "s: sum(v), lo: min(v), av: avg(v), d: distinct(v), "
                       "p: \"quantile(v, 0.5)\"}\n";
    struct eddy_plan *plan = plan_from(yaml);
    struct collector c;
    eddy_buf_init(&c.text);
    eddy_buf_init(&c.raw);
    struct eddy_output out = {collect, &c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    static const char *const records[] = {
        "{\"k\":\"a\",\"v\":2,\"t\":1}",
        "{\"k\":\"b\",\"v\":3,\"t\":2}",
        "{\"k\":\"b\",\"v\":3,\"t\":12}",
        "{\"k\":\"b\",\"v\":3,\"t\":35}",
    };
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(eddy__task_process(task, records[i], strlen(records[i]), (int64_t)i, false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    eddy_buf_putc(&c.raw, '\0');
    const char *expected =
        "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00Z\",\"end\":"
        "\"1970-01-01T00:00:00.010Z\"},\"key\":{\"k\":\"a\"},\"final\":true,\"metrics\":{"
        "\"n\":1,\"e\":1,\"r\":1,\"s\":2,\"lo\":2,\"av\":2,\"d\":1,\"d_error\":0,\"p\":2,"
        "\"p_error\":0.01}}\n";
    cr_expect_eq(strncmp(c.raw.data, expected, strlen(expected)), 0, "%s", c.raw.data);
    /* the blank row of a in [10,20); [20,30) has no rows: b is blank there */
    cr_expect(strstr(c.raw.data,
                     "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00.010Z\","
                     "\"end\":\"1970-01-01T00:00:00.020Z\"},\"key\":{\"k\":\"a\"},\"final\":true,"
                     "\"metrics\":{\"n\":0,\"e\":0,\"r\":null,\"s\":0,\"lo\":null,\"av\":null,"
                     "\"d\":0,\"d_error\":0,\"p\":null,\"p_error\":0}}\n"),
              "%s", c.raw.data);
    shorten_times(c.text.data);
    cr_expect_str_eq(c.text.data, "a@0/10=1 b@0/10=1 a@10/20=0 b@10/20=1 b@20/30=0 b@30/40=1");
    eddy__task_free(task);
    eddy_plan_free(plan);
    eddy_buf_release(&c.text);
    eddy_buf_release(&c.raw);
}

/* At end of input, a window without rows between two open ones is
 * synthesized; none after the last one. */
Test(idle, emit_empty_at_end_of_input_fills_gaps_only)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("b", 2, ""),
        R("a", 25, ""),
    };
    free(run_scenario(TOPOLOGY("100ms", "", EMIT_EMPTY, ""), steps, N(steps),
                      "a@0/10=1 b@0/10=1 a@10/20=0 b@10/20=0 a@20/30=1"));
}

/* absent(2) through ordinary traffic: a fires when the second window
 * without it closes (reported with that window), once, and resolves with
 * its next row. */
Test(idle, absent_fires_after_n_missing_windows_and_resolves)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("b", 1, ""),
        R("a", 12, "a@0/10=1 b@0/10=1"),
        R("b", 25, "a@10/20=1"),
        R("b", 35, "b@20/30=1"),
        R("b", 45, "b@30/40=1 alert:silent:firing@a@30"),
        R("b", 55, "b@40/50=1"),
        R("a", 61, "b@50/60=1"),
        R("b", 72, "a@60/70=1 alert:silent:resolved@a@60"),
    };
    free(run_scenario(TOPOLOGY("0ms", "", "", ABSENT(2)), steps, N(steps), "b@70/80=1"));
}

/* The SRE case: everything goes quiet. Idle ticks close the windows,
 * emit_empty reports the zero window, absent(3) fires after the third empty
 * window, and the service coming back resolves it: one incident. */
Test(idle, paused_input_closes_windows_emits_empty_rows_and_fires_absent)
{
    static const struct step steps[] = {
        R("svc", 1, ""),
        R("svc", 8, ""),
        TICK_TO(9, "", 8),
        TICK_TO(28, "", 8),
        /* 8 + 20 = 28: [0,10) closes, and [10,20), which has no rows, with it */
        TICK_TO(29, "svc@0/10=2 svc@10/20=0", 28),
        TICK_TO(40, "", 39),
        /* [30,40) closes at 40: the third window without svc */
        TICK_TO(41, "alert:silent:firing@svc@30", 40),
        TICK_TO(200, "", 199), /* once per incident */
        R("svc", 201, ""),
        TICK_TO(202, "", 201),
        TICK_TO(230, "svc@200/210=1 alert:silent:resolved@svc@200 svc@210/220=0", 229),
    };
    free(run_scenario(TOPOLOGY("0ms", IDLE("20ms"), EMIT_EMPTY, ABSENT(3)), steps, N(steps),
                      ""));
}

/* When one jump of stream time closes windows before and after a silence,
 * the row that ends it reports the incident: firing (the N-th missing
 * window) then resolved; the scan after the jump fires for the rest. */
Test(idle, absent_incident_inside_one_jump_fires_then_resolves)
{
    static const struct step steps[] = {
        R("a", 1, ""),
        R("b", 1, ""),
        R("a", 51, ""),
        R("a", 200, "a@0/10=1 b@0/10=1 a@50/60=1 alert:silent:firing@a@20 "
                    "alert:silent:resolved@a@50 alert:silent:firing@a@70 "
                    "alert:silent:firing@b@20"),
    };
    free(run_scenario(TOPOLOGY("50ms", "", "", ABSENT(2)), steps, N(steps),
                      "a@200/210=1 alert:silent:resolved@a@200"));
}

/* ---- persistence of the absent state ---- */

struct kv {
    char store[32];
    unsigned char key[64], value[16];
    size_t key_len, value_len;
};

struct kv_map {
    struct kv items[64];
    size_t n;
};

static eddy_err_t kv_put(void *ctx, const char *store, const void *key, size_t key_len,
                         const void *value, size_t value_len)
{
    struct kv_map *m = ctx;
    cr_assert(key_len <= 64 && value_len <= 16);
    size_t i;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->items[i].store, store) == 0 && m->items[i].key_len == key_len &&
            memcmp(m->items[i].key, key, key_len) == 0)
            break;
    if (!value) {
        if (i < m->n)
            m->items[i] = m->items[--m->n];
        return EDDY_OK;
    }
    if (i == m->n) {
        cr_assert(m->n < 64);
        m->n++;
    }
    snprintf(m->items[i].store, sizeof m->items[i].store, "%s", store);
    memcpy(m->items[i].key, key, key_len);
    m->items[i].key_len = key_len;
    memcpy(m->items[i].value, value, value_len);
    m->items[i].value_len = value_len;
    return EDDY_OK;
}

static eddy_err_t kv_closed(void *ctx, const char *store, int64_t window_start)
{
    return EDDY_OK; /* window rows are not needed here: the windows are closed */
}

/* A task restored from its changes still watches the keys that had rows,
 * fires for them, and still knows which are firing. */
Test(idle, absent_state_survives_a_restore)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("0ms", "", "", ABSENT(1)));
    struct collector c;
    eddy_buf_init(&c.text);
    eddy_buf_init(&c.raw);
    struct eddy_output out = {collect, &c};
    struct kv_map map = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &map, NULL};
    struct eddy_task *first, *second;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &first), EDDY_OK);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    static const struct step before[] = {
        R("a", 1, ""),
        R("b", 1, ""),
        R("b", 12, "a@0/10=1 b@0/10=1"),
        R("b", 22, "b@10/20=1 alert:silent:firing@a@10"),
    };
    for (size_t i = 0; i < N(before); i++) {
        reset(&c);
        cr_assert_eq(eddy__task_process(first, before[i].record, strlen(before[i].record),
                                        (int64_t)i, false),
                     EDDY_OK);
        shorten_times(c.text.data);
        cr_expect_str_eq(c.text.data, before[i].expect, "before the restore, record %zu", i);
    }
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    eddy__task_free(first);

    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &second), EDDY_OK);
    size_t n_stores;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    for (size_t s = 0; s < n_stores; s++)
        for (size_t i = 0; i < map.n; i++)
            if (strcmp(map.items[i].store, stores[s]) == 0)
                cr_assert_eq(eddy__task_load(second, stores[s], map.items[i].key,
                                             map.items[i].key_len, map.items[i].value,
                                             map.items[i].value_len),
                             EDDY_OK);
    eddy_free(stores);
    static const struct step after[] = {
        /* b's window [20,30) was open and is restored; a stays firing
         * (no second firing) and b, silent in [30,40), fires */
        R("a", 45, "b@20/30=1 alert:silent:firing@b@30"),
        R("a", 55, "a@40/50=1 alert:silent:resolved@a@40"),
    };
    char *raw = run_steps(second, &c, after, N(after), "a@50/60=1");
    free(raw);
    eddy__task_free(second);
    eddy_plan_free(plan);
    eddy_buf_release(&c.text);
    eddy_buf_release(&c.raw);
}
