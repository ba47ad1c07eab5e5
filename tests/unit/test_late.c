/*
 * Late corrections (late: {correct_within: C}, docs/topology.md): a record
 * later than grace but within end + grace + C of its window's end updates the
 * closed window, which is emitted again with "revision": N. Scenarios run
 * through a whole task, as in test_window.c: each step is a record and the
 * exact outputs right after it, written "key@start/end=count" for a final
 * row, with "rN" appended for revision N, "late@offset" for a dead letter
 * and "alert:name:state" for an alert. Then the persisted form: retained
 * windows and revision numbers survive a restart (the kvmap of
 * test_task_state.c), and partials of repartitioned aggregations revise too.
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
#include "gen/gen.h"
#include "ops/window.h"
#include "runtime/task.h"
#include "state/be64.h"

#include "kvmap.h"
#include "plan_from.h"

struct collector {
    struct eddy_buf text; /* compact outputs, separated by spaces */
    struct eddy_buf json; /* the raw values, one per line */
};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct collector *c = ctx;
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    cr_assert(doc, "output is not JSON: %.*s", (int)value_len, value);
    eddy_buf_append(&c->json, value, value_len);
    eddy_buf_putc(&c->json, '\n');
    if (c->text.len)
        eddy_buf_putc(&c->text, ' ');
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->text, "%s@%lld", json_string_value(json_object_get(doc, "reason")),
                        json_integer_value(json_object_get(json_object_get(doc, "source"),
                                                           "offset")));
    } else if (kind == EDDY_OUT_RESULT) {
        json_t *win = json_object_get(doc, "window");
        json_t *k = json_object_get(json_object_get(doc, "key"), "k");
        json_t *revision = json_object_get(doc, "revision");
        cr_assert(json_is_true(json_object_get(doc, "final")), "%.*s", (int)value_len, value);
        eddy_buf_printf(&c->text, "%s@%s/%s=%lld", k ? json_string_value(k) : "-",
                        json_string_value(json_object_get(win, "start")),
                        json_string_value(json_object_get(win, "end")),
                        json_integer_value(json_object_get(json_object_get(doc, "metrics"), "n")));
        if (revision)
            eddy_buf_printf(&c->text, "r%lld", json_integer_value(revision));
    } else {
        eddy_buf_printf(&c->text, "alert:%s:%s", json_string_value(json_object_get(doc, "alert")),
                        json_string_value(json_object_get(doc, "state")));
    }
    json_decref(doc);
    return EDDY_OK;
}

/* "1970-01-01T00:00:00.012Z" -> "12" (the scenarios use small ms times). */
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

static void start_step(struct collector *c)
{
    eddy_buf_reset(&c->text);
    eddy_buf_putc(&c->text, '\0');
    c->text.len = 0;
}

static void expect_step(struct collector *c, const char *expect, const char *what, size_t i)
{
    eddy_buf_putc(&c->text, '\0');
    shorten_times(c->text.data);
    cr_expect_str_eq(c->text.data, expect, "%s %zu", what, i);
}

/* Runs @steps[from, to) through @task (offsets = step indexes). */
static void run_steps(struct eddy_task *task, struct collector *c, const struct step *steps,
                      size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        start_step(c);
        cr_assert_eq(eddy__task_process(task, steps[i].record, strlen(steps[i].record),
                                        (int64_t)i, false),
                     EDDY_OK);
        expect_step(c, steps[i].expect, "after record", i);
    }
}

static void expect_flush(struct eddy_task *task, struct collector *c, const char *expect)
{
    start_step(c);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    expect_step(c, expect, "at end of input", 0);
}

static struct eddy_task *new_task(const struct eddy_plan *plan, struct collector *c,
                                  struct eddy_output *out)
{
    eddy_buf_init(&c->text);
    eddy_buf_init(&c->json);
    *out = (struct eddy_output){collect, c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, out, &task), EDDY_OK);
    return task;
}

static void collector_release(struct collector *c)
{
    eddy_buf_release(&c->text);
    eddy_buf_release(&c->json);
}

static void run_scenario(const char *yaml, const struct step *steps, size_t n,
                         const char *expect_at_flush)
{
    struct eddy_plan *plan = plan_from(yaml);
    struct collector c;
    struct eddy_output out;
    struct eddy_task *task = new_task(plan, &c, &out);
    run_steps(task, &c, steps, 0, n);
    expect_flush(task, &c, expect_at_flush);
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

#define TOPOLOGY(window, grace, late, extra)                                                 \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string}\n"                                                                \
    "grace: " grace "\n" late "aggregations:\n"                                              \
    "  - name: c\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: " window "\n"                                                               \
    "    metrics: {n: count()}\n" extra

#define REC(k, t) "{\"k\":\"" k "\",\"t\":" #t "}"

/* Tumbling 10 ms, grace 5 ms: [0,10) closes at stream time 15; with
 * correct_within 20 ms it is corrected until stream time 35 (exclusive). */
#define LATE_20 "late: {correct_within: 20ms}\n"
static const struct step tumbling_steps[] = {
    {REC("a", 1), ""},
    {REC("a", 2), ""},
    {REC("b", 16), "a@0/10=2"},
    /* later than grace, within the horizon: revision 1, corrected count */
    {REC("a", 3), "a@0/10=3r1"},
    {REC("a", 4), "a@0/10=4r2"},
    /* a key first seen in the closed window starts at revision 1 */
    {REC("b", 5), "b@0/10=1r1"},
    {REC("k", 34), "b@10/20=1"},
    /* 34 < 10 + 5 + 20: still corrected */
    {REC("a", 6), "a@0/10=5r3"},
    /* stream time 35 = end + grace + correct_within: [0,10) is dropped */
    {REC("a", 35), ""},
    {REC("a", 7), "late@9"},
    /* [10,20) closed at 25 and is still retained (until 45) */
    {REC("a", 12), "a@10/20=1r1"},
};
#define TUMBLING_FLUSH "a@30/40=1 k@30/40=1"

Test(late, records_within_the_horizon_revise_their_closed_window)
{
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""), tumbling_steps,
                 sizeof tumbling_steps / sizeof tumbling_steps[0], TUMBLING_FLUSH);
}

/* Without `late:` the same records are dead letters, exactly as before. */
Test(late, without_the_key_late_records_stay_dead_letters)
{
    static const struct step steps[] = {
        {REC("a", 1), ""},          {REC("a", 2), ""},          {REC("b", 16), "a@0/10=2"},
        {REC("a", 3), "late@3"},    {REC("a", 4), "late@4"},    {REC("b", 5), "late@5"},
        {REC("k", 34), "b@10/20=1"}, {REC("a", 6), "late@7"},    {REC("a", 35), ""},
        {REC("a", 7), "late@9"},    {REC("a", 12), "late@10"},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "5ms", "", ""), steps,
                 sizeof steps / sizeof steps[0], TUMBLING_FLUSH);
}

/* The exact JSON: "revision" follows "final"; first emissions have none; the
 * stats count revisions (among the results) and the one dead letter. */
Test(late, revision_json_and_stats)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""));
    struct collector c;
    struct eddy_output out;
    struct eddy_task *task = new_task(plan, &c, &out);
    size_t n = sizeof tumbling_steps / sizeof tumbling_steps[0];
    run_steps(task, &c, tumbling_steps, 0, 4);
    eddy_buf_putc(&c.json, '\0');
    cr_expect_str_eq(c.json.data,
                     "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00Z\","
                     "\"end\":\"1970-01-01T00:00:00.010Z\"},\"key\":{\"k\":\"a\"},\"final\":true,"
                     "\"metrics\":{\"n\":2}}\n"
                     "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00Z\","
                     "\"end\":\"1970-01-01T00:00:00.010Z\"},\"key\":{\"k\":\"a\"},\"final\":true,"
                     "\"revision\":1,\"metrics\":{\"n\":3}}\n");
    run_steps(task, &c, tumbling_steps, 4, n);
    expect_flush(task, &c, TUMBLING_FLUSH);
    const struct eddy_task_stats *st = eddy__task_stats(task);
    cr_expect_eq(st->revisions_out, 5);
    cr_expect_eq(st->results_out, 9); /* 4 first emissions + 5 revisions */
    cr_expect_eq(st->updates_out, 0);
    cr_expect_eq(st->dead_letters[EDDY_DL_LATE], 1);
    cr_expect_eq(st->records_ok, n);
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* Hopping windows: a record counts in its open windows and corrects its
 * retained ones (not late); it is late only when all are past the horizon. */
Test(late, hopping_windows_correct_retained_and_fill_open_ones)
{
    static const struct step steps[] = {
        {REC("A", 0), ""},
        {REC("A", 7), ""},
        {REC("B", 12), "A@0/10=2"},
        {REC("A", 3), "A@0/10=3r1"},
        /* [0,10) is retained, [5,15) still open */
        {REC("A", 8), "A@0/10=4r2"},
        {REC("B", 16), "A@5/15=2 B@5/15=1"},
        /* stream time 20: [10,20) closes, [0,10) is dropped (10 + 0 + 10) */
        {REC("B", 20), "B@10/20=2"},
        /* 9: [0,10) is past the horizon, [5,15) retained until 25 */
        {REC("A", 9), "A@5/15=3r1"},
        {REC("A", 4), "late@8"},
    };
    run_scenario(TOPOLOGY("{hopping: 10ms, advance: 5ms}", "0ms",
                          "late: {correct_within: 10ms}\n", ""),
                 steps, sizeof steps / sizeof steps[0], "B@15/25=2 B@20/30=1");
}

/* A revision re-evaluates alerts when its window is the last closed one; a
 * revision of an older window leaves the alert state (set by a later
 * window) alone. */
Test(late, revisions_of_the_last_closed_window_fire_and_resolve_alerts)
{
    static const struct step steps[] = {
        {REC("a", 1), ""},
        {REC("a", 2), ""},
        {REC("a", 10), "a@0/10=2"},
        {REC("a", 5), "a@0/10=3r1 alert:many:firing"},
        {REC("a", 20), "a@10/20=1 alert:many:resolved"},
        /* [0,10) is no longer the last closed window: no alert */
        {REC("a", 6), "a@0/10=4r2"},
        {REC("a", 15), "a@10/20=2r1"},
        {REC("a", 16), "a@10/20=3r2 alert:many:firing"},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "0ms", "late: {correct_within: 30ms}\n",
                          "alerts:\n  - {name: many, on: c, when: n >= 3}\n"),
                 steps, sizeof steps / sizeof steps[0], "a@20/30=1 alert:many:resolved");
}

/* Rollups take no revisions: the hour keeps the minutes' first emissions. */
Test(late, revisions_are_not_merged_into_rollups)
{
    const char *yaml = TOPOLOGY("{tumbling: 10ms}", "0ms", "late: {correct_within: 30ms}\n",
                                "  - name: r\n"
                                "    window: {tumbling: 20ms, from: c}\n");
    struct eddy_plan *plan = plan_from(yaml);
    struct collector c;
    struct eddy_output out;
    struct eddy_task *task = new_task(plan, &c, &out);
    static const char *const records[] = {REC("a", 1), REC("a", 12), REC("a", 2), REC("a", 25)};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(eddy__task_process(task, records[i], strlen(records[i]), (int64_t)i, false),
                     EDDY_OK);
    eddy_buf_putc(&c.text, '\0');
    shorten_times(c.text.data);
    /* the rollup row of [0,20) counts a@0/10=1 (first emission) + a@10/20=1 */
    cr_expect_str_eq(c.text.data, "a@0/10=1 a@0/10=2r1 a@10/20=1 a@0/20=2");
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* ---- persistence: a key-value "state store" (kvmap.h) ---- */

/* The rows of store "c" as "key@start:format/revision" sorted, e.g.
 * "a@0:2/3 b@10:1/0"; "p" marks a correction not yet emitted. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rows_text(const struct kvmap *m, char *out, size_t cap)
{
    char *items[64];
    size_t n = 0;
    for (size_t i = 0; i < m->n && n < 64; i++) {
        const struct kv *kv = &m->items[i];
        if (strcmp(kv->store, "c") != 0)
            continue;
        struct eddy_value k;
        cr_assert(eddy__group_key_decode(kv->key + 8, kv->key_len - 8, 1, &k));
        cr_assert_geq(kv->value_len, 2);
        unsigned revision = 0;
        bool pending = false;
        if (kv->value[0] == EDDY_WINDOW_ROW_FORMAT_REVISED) {
            pending = kv->value[2] & 0x80;
            cr_assert_geq(kv->value_len, 6);
            revision = (unsigned)(kv->value[2] & 0x7f) << 24 | (unsigned)kv->value[3] << 16 |
                       (unsigned)kv->value[4] << 8 | kv->value[5];
        }
        char *s = malloc(64);
        snprintf(s, 64, "%.*s@%lld:%u/%u%s", (int)k.as.s.len, k.as.s.ptr,
                 (long long)eddy__be64_get(kv->key), kv->value[0], revision, pending ? "p" : "");
        items[n++] = s;
    }
    qsort(items, n, sizeof *items, cmp_str);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", items[i]);
        free(items[i]);
    }
}

static void load_all(const struct eddy_plan *plan, struct eddy_task *task, const struct kvmap *m)
{
    size_t n_stores;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    for (size_t s = 0; s < n_stores; s++)
        for (size_t i = 0; i < m->n; i++)
            if (strcmp(m->items[i].store, stores[s]) == 0)
                cr_assert_eq(eddy__task_load(task, stores[s], m->items[i].key, m->items[i].key_len,
                                             m->items[i].value, m->items[i].value_len),
                             EDDY_OK);
    eddy_free(stores);
}

/* Retained windows and revision numbers are part of the window store: a
 * closed window stays until its correction horizon (then one key-range
 * delete), revised rows persist their revision (row format 2, other rows
 * keep format 1), and a task restored from them continues the revisions. */
Test(late, retained_windows_and_revisions_survive_a_restart)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""));
    struct collector c1, c2;
    struct eddy_output o1, o2;
    struct eddy_task *first = new_task(plan, &c1, &o1);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    char rows[512];
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK); /* start recording */
    run_steps(first, &c1, tumbling_steps, 0, 3);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    /* [0,10) is closed and emitted, and kept */
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@0:1/0 b@10:1/0");
    cr_expect_eq(state.closed_calls, 0);
    run_steps(first, &c1, tumbling_steps, 3, 6);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@0:2/2 b@0:2/1 b@10:1/0");
    eddy__task_free(first);

    /* a new task from the persisted state alone continues with revision 3 */
    struct eddy_task *second = new_task(plan, &c2, &o2);
    load_all(plan, second, &state);
    cr_assert_eq(eddy__task_stream_time(second), 16);
    cr_assert_eq(eddy__task_changes(second, &changes), EDDY_OK);
    run_steps(second, &c2, tumbling_steps, 6, 8);
    cr_assert_eq(eddy__task_changes(second, &changes), EDDY_OK);
    /* [10,20) closed at 25 and is kept too; [0,10) until 35 */
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@0:2/3 b@0:2/1 b@10:1/0 k@30:1/0");
    cr_expect_eq(state.closed_calls, 0);
    run_steps(second, &c2, tumbling_steps, 8, 9);
    cr_assert_eq(eddy__task_changes(second, &changes), EDDY_OK);
    /* stream time 35: [0,10) is past its horizon, deleted as one range */
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@30:1/0 b@10:1/0 k@30:1/0");
    cr_expect_eq(state.closed_calls, 1);
    run_steps(second, &c2, tumbling_steps, 9, sizeof tumbling_steps / sizeof tumbling_steps[0]);
    expect_flush(second, &c2, TUMBLING_FLUSH);
    eddy__task_free(second);
    kv_release(&state);
    eddy_plan_free(plan);
    collector_release(&c1);
    collector_release(&c2);
}

/* Kafka mode commits the stream time with the input offset, not in the meta
 * store: a task raised to it before its stores load must skip the closed
 * windows as if the meta store had held it (raised after the load, the
 * retained [0,10) came back as an open window and was emitted again). */
Test(late, a_stream_time_raised_before_the_load_stands_for_the_persisted_one)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""));
    struct collector c1, c2;
    struct eddy_output o1, o2;
    struct eddy_task *first = new_task(plan, &c1, &o1);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    run_steps(first, &c1, tumbling_steps, 0, 6);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    eddy__task_free(first);
    struct kv *st = kv_find(&state, "meta", "stream_time", 11);
    cr_assert_not_null(st);
    kv_remove(&state, st);

    struct eddy_task *second = new_task(plan, &c2, &o2);
    eddy__task_raise_stream_time(second, 16);
    eddy__task_raise_stream_time(second, 3); /* never lowers it */
    load_all(plan, second, &state);
    cr_assert_eq(eddy__task_stream_time(second), 16);
    run_steps(second, &c2, tumbling_steps, 6, sizeof tumbling_steps / sizeof tumbling_steps[0]);
    expect_flush(second, &c2, TUMBLING_FLUSH);
    eddy__task_free(second);
    kv_release(&state);
    eddy_plan_free(plan);
    collector_release(&c1);
    collector_release(&c2);
}

/* Without `late:` a window's rows are deleted when it closes, as before. */
Test(late, without_the_key_closed_windows_are_deleted_at_close)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", "", ""));
    struct collector c;
    struct eddy_output o;
    struct eddy_task *task = new_task(plan, &c, &o);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    char rows[512];
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    static const char *const records[] = {REC("a", 1), REC("a", 2), REC("b", 16)};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(eddy__task_process(task, records[i], strlen(records[i]), (int64_t)i, false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "b@10:1/0");
    cr_expect_eq(state.closed_calls, 1);
    eddy__task_free(task);
    kv_release(&state);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* ---- repartitioning: partials of closed windows revise the owner's rows ---- */

static eddy_err_t merge_back(void *ctx, size_t a, const void *key, size_t key_len,
                             const void *value, size_t value_len)
{
    return eddy__task_merge(ctx, a, key, key_len, value, value_len, 0);
}

/* One task that is its own input and owner (no source.key: repartitioned):
 * ship, merge, report the stream time (one "commit"). Corrections of one
 * commit are one revision. */
static void commit(struct eddy_task *task)
{
    cr_assert_eq(eddy__task_ship(task, merge_back, task), EDDY_OK);
    cr_assert_eq(eddy__task_source_time(task, 0, 0, eddy__task_stream_time(task)), EDDY_OK);
}

Test(late, repartitioned_partials_revise_retained_rows_once_per_commit)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""));
    cr_assert(plan->aggregations[0].repartition);
    struct collector c;
    struct eddy_output out;
    struct eddy_task *task = new_task(plan, &c, &out);
    cr_assert_eq(eddy__task_enable_repartition(task, 1), EDDY_OK);
    static const struct {
        const char *records[2];
        const char *expect; /* after the records and the commit */
    } commits[] = {
        {{REC("a", 1), REC("a", 2)}, ""},
        {{REC("b", 16), NULL}, "a@0/10=2"},
        {{REC("a", 3), NULL}, "a@0/10=3r1"},
        {{REC("a", 7), REC("b", 8)}, "a@0/10=4r2 b@0/10=1r1"},
        {{REC("k", 40), NULL}, "b@10/20=1"},
        /* past the horizon at the input task: a dead letter there */
        {{REC("a", 9), NULL}, "late@0"},
    };
    for (size_t i = 0; i < sizeof commits / sizeof commits[0]; i++) {
        start_step(&c);
        for (size_t r = 0; r < 2 && commits[i].records[r]; r++)
            cr_assert_eq(eddy__task_process(task, commits[i].records[r],
                                            strlen(commits[i].records[r]), 0, false),
                         EDDY_OK);
        commit(task);
        expect_step(&c, commits[i].expect, "after commit", i);
    }
    expect_flush(task, &c, "k@40/50=1");
    cr_expect_eq(eddy__task_stats(task)->revisions_out, 3);
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* A merged correction is emitted at the next watermark advance; when a
 * commit persists it before that, the restored task still emits it, once. */
Test(late, a_correction_persisted_before_its_emission_is_emitted_after_a_restart)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{tumbling: 10ms}", "5ms", LATE_20, ""));
    struct collector c1, c2;
    struct eddy_output o1, o2;
    struct eddy_task *first = new_task(plan, &c1, &o1);
    cr_assert_eq(eddy__task_enable_repartition(first, 1), EDDY_OK);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    char rows[512];
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    static const char *const records[] = {REC("a", 1), REC("b", 16), REC("a", 3)};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(eddy__task_process(first, records[i], strlen(records[i]), 0, false),
                     EDDY_OK);
        commit(first);
    }
    cr_assert_eq(eddy__task_process(first, records[2], strlen(records[2]), 0, false), EDDY_OK);
    cr_assert_eq(eddy__task_ship(first, merge_back, first), EDDY_OK);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK); /* before the watermark */
    eddy_buf_putc(&c1.text, '\0');
    shorten_times(c1.text.data);
    cr_expect_str_eq(c1.text.data, "a@0/10=1");
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@0:2/0p b@10:1/0"); /* format 2: pending, revision 0 */
    eddy__task_free(first);

    struct eddy_task *second = new_task(plan, &c2, &o2);
    cr_assert_eq(eddy__task_enable_repartition(second, 1), EDDY_OK);
    load_all(plan, second, &state);
    cr_assert_eq(eddy__task_changes(second, &changes), EDDY_OK);
    start_step(&c2);
    cr_assert_eq(eddy__task_source_time(second, 0, 0, 16), EDDY_OK);
    expect_step(&c2, "a@0/10=2r1", "after the restart", 0);
    cr_assert_eq(eddy__task_changes(second, &changes), EDDY_OK);
    rows_text(&state, rows, sizeof rows);
    cr_expect_str_eq(rows, "a@0:2/1 b@10:1/0");
    start_step(&c2);
    cr_assert_eq(eddy__task_source_time(second, 0, 0, 16), EDDY_OK);
    expect_step(&c2, "", "again", 0);
    eddy__task_free(second);
    kv_release(&state);
    eddy_plan_free(plan);
    collector_release(&c1);
    collector_release(&c2);
}

/* emit_empty: a key that got an empty row at the close and is then
 * corrected gets revision 1 with its real count. Corrections do not change
 * which keys the next window's empty rows are for. */
Test(late, a_correction_of_an_empty_row_is_revision_1)
{
    static const struct step steps[] = {
        {REC("a", 1), ""},
        {REC("b", 2), ""},
        {REC("a", 12), "a@0/10=1 b@0/10=1"},
        {REC("a", 25), "a@10/20=1 b@10/20=0"},
        {REC("b", 15), "b@10/20=1r1"},
    };
    run_scenario(TOPOLOGY("{tumbling: 10ms}", "0ms", "late: {correct_within: 20ms}\n",
                          "    emit_empty: true\n"),
                 steps, sizeof steps / sizeof steps[0], "a@20/30=1");
}

/* ---- generated traffic: a restored task continues exactly ---- */

struct lines {
    char **text;
    size_t n, cap;
};

static eddy_err_t keep_line(void *ctx, const char *key, size_t key_len, const char *value,
                            size_t value_len)
{
    struct lines *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->text = realloc(l->text, l->cap * sizeof *l->text);
    }
    l->text[l->n++] = strndup(value, value_len);
    return EDDY_OK;
}

static eddy_err_t keep_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                              const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    return keep_line(ctx, key, key_len, value, value_len);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
}

static size_t count_with(const struct lines *l, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strstr(l->text[i], needle) != NULL;
    return n;
}

/* service-health with late: {correct_within: 3m}; events up to 8 minutes
 * late: some are corrected, some are dead letters. One task over all the
 * input against a task that commits now and then, stops, and a second task
 * restored from its state: the same outputs in the same order. */
Test(late, restored_task_emits_exactly_what_one_task_emits, .timeout = 60)
{
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = 8000;
    o.event_rate = 20;
    o.seed = 5;
    o.late_rate = 0.03;
    o.max_late_ms = 480000;
    struct lines input = {0};
    cr_assert_eq(eddy_gen_run("service-logs", &o, keep_line, &input, NULL), EDDY_OK);
    FILE *fp = fopen(EDDY_SOURCE_DIR "/topologies/service-health.yaml", "r");
    cr_assert(fp);
    static char text[16384];
    size_t len = fread(text, 1, sizeof text - 200, fp);
    fclose(fp);
    text[len] = '\0';
    char *grace = strstr(text, "grace: 2m\n");
    cr_assert(grace);
    static const char late[] = "late: {correct_within: 3m}\n";
    memmove(grace + 10 + strlen(late), grace + 10, strlen(grace + 10) + 1);
    memcpy(grace + 10, late, strlen(late));
    char err[512];
    struct eddy_plan *plan;
    cr_assert_eq(eddy_topology_parse(EDDY_SOURCE_DIR "/topologies/t.yaml", text, strlen(text),
                                     &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    cr_assert_eq(plan->late_correct_ms, 180000);
    struct lines whole = {0}, parts = {0};
    struct eddy_output o_whole = {keep_output, &whole}, o_parts = {keep_output, &parts};
    struct eddy_task *all, *a, *b;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &a), EDDY_OK);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
    size_t split = input.n * 6 / 10;
    for (size_t i = 0; i < split; i++) {
        cr_assert_eq(eddy__task_process(a, input.text[i], strlen(input.text[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
        if (i % 300 == 0)
            cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
    }
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
    eddy__task_free(a);
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &b), EDDY_OK);
    load_all(plan, b, &state);
    for (size_t i = split; i < input.n; i++)
        cr_assert_eq(eddy__task_process(b, input.text[i], strlen(input.text[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(b), EDDY_OK);
    for (size_t i = 0; i < input.n; i++)
        cr_assert_eq(eddy__task_process(all, input.text[i], strlen(input.text[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    /* the traffic exercises both sides of the horizon */
    cr_assert_gt(eddy__task_stats(all)->revisions_out, 20);
    cr_assert_gt(eddy__task_stats(all)->dead_letters[EDDY_DL_LATE], 5);
    cr_assert_gt(count_with(&whole, "\"revision\":2,"), 0);
    cr_assert_eq(count_with(&whole, "\"revision\":"), eddy__task_stats(all)->revisions_out);
    cr_assert_eq(parts.n, whole.n);
    for (size_t i = 0; i < whole.n; i++)
        cr_assert_str_eq(parts.text[i], whole.text[i], "output %zu", i);
    eddy__task_free(b);
    eddy__task_free(all);
    kv_release(&state);
    lines_free(&input);
    lines_free(&whole);
    lines_free(&parts);
    eddy_plan_free(plan);
}
