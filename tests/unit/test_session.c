/*
 * Session windows beyond the task-level Kafka Streams scenarios of
 * test_window.c:
 *  - emit updates with retractions, on the window store itself (rows are
 *    checked field by field: window, final, retracted, count);
 *  - persistence: deletes of merged-away, moved and closed sessions reach
 *    the store; a task restored from its state continues exactly (output
 *    identical to one uninterrupted run, every accumulator kind persisted);
 *    repartitioned partial sessions give the results of one task;
 *  - local mode end to end over tests/unit/data/session/ (exact output);
 *  - config: rollups from or into session windows are rejected.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "eddy/topology.h"
#include "ops/window.h"
#include "runtime/engine.h"
#include "runtime/task.h"
#include "state/be64.h"

#include "kvmap.h"
#include "plan_from.h"
#include "local_run.h"

#define TOPOLOGY(window, grace, emit)                                                        \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string}\n"                                                                \
    "grace: " grace "\n"                                                                     \
    "aggregations:\n"                                                                        \
    "  - name: s\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: " window "\n"                                                               \
    "    emit: " emit "\n"                                                                   \
    "    metrics: {n: count()}\n"

/* ---- the store alone: "k@start/end=n" final, "~n" update, "!" retraction ---- */

static eddy_err_t print_row(void *ctx, const struct eddy_aggregation *agg,
                            const struct eddy_window_row *row)
{
    struct eddy_buf *text = ctx;
    if (text->len)
        eddy_buf_putc(text, ' ');
    cr_assert_eq(row->group[0].type, EDDY_V_STR);
    eddy_buf_printf(text, "%.*s@%lld/%lld", (int)row->group[0].as.s.len, row->group[0].as.s.ptr,
                    (long long)row->window_start, (long long)row->window_end);
    if (row->retracted) {
        cr_assert(!row->final, "a retraction is never final");
        cr_assert_eq(row->metrics[0].as.i, 0, "a retraction carries the metrics of no events");
        eddy_buf_putc(text, '!');
    } else {
        eddy_buf_printf(text, "%c%lld", row->final ? '=' : '~', (long long)row->metrics[0].as.i);
    }
    return EDDY_OK;
}

struct store_step {
    const char *key;
    int64_t t;
    const char *expect; /* after this record's add and advance */
};

struct store_run {
    struct eddy_plan *plan;
    struct eddy_window_store *ws;
    struct eddy_value *slots;
    int64_t stream_time;
    struct eddy_buf text;
};

static void store_open(struct store_run *r, const char *yaml)
{
    r->plan = plan_from(yaml);
    cr_assert_eq(eddy__window_store_new(&r->plan->aggregations[0], r->plan->grace_ms, &r->ws),
                 EDDY_OK);
    r->slots = calloc(r->plan->n_slots, sizeof *r->slots);
    r->stream_time = INT64_MIN;
    eddy_buf_init(&r->text);
}

static void store_close(struct store_run *r)
{
    eddy__window_store_free(r->ws);
    eddy_plan_free(r->plan);
    free(r->slots);
    eddy_buf_release(&r->text);
}

/* Adds one record like a task: stream time first, then add, then advance. */
static void store_record(struct store_run *r, size_t i, const char *key, int64_t t)
{
    struct eddy_value *k = &r->slots[r->plan->aggregations[0].group_slots[0]];
    k->type = EDDY_V_STR;
    k->as.s.ptr = key;
    k->as.s.len = strlen(key);
    if (t > r->stream_time)
        r->stream_time = t;
    bool late;
    cr_assert_eq(eddy__window_add(r->ws, r->slots, t, r->stream_time, &late), EDDY_OK);
    if (late)
        eddy_buf_printf(&r->text, "%slate@%zu", r->text.len ? " " : "", i);
    cr_assert_eq(eddy__window_advance(r->ws, r->stream_time, false, print_row, &r->text),
                 EDDY_OK);
}

static const char *store_output(struct store_run *r)
{
    eddy_buf_putc(&r->text, '\0');
    r->text.len--;
    return r->text.data;
}

static void run_store(const char *yaml, const struct store_step *steps, size_t n,
                      const char *expect_at_flush)
{
    struct store_run r;
    store_open(&r, yaml);
    for (size_t i = 0; i < n; i++) {
        eddy_buf_reset(&r.text);
        store_record(&r, i, steps[i].key, steps[i].t);
        cr_expect_str_eq(store_output(&r), steps[i].expect, "after record %zu (%s@%lld)", i,
                         steps[i].key, (long long)steps[i].t);
    }
    eddy_buf_reset(&r.text);
    cr_assert_eq(eddy__window_advance(r.ws, r.stream_time, true, print_row, &r.text), EDDY_OK);
    cr_expect_str_eq(store_output(&r), expect_at_flush, "at end of input");
    cr_expect_eq(eddy__window_open_windows(r.ws), 0);
    store_close(&r);
}

/* KStreamSessionWindowAggregateProcessorTest.
 * shouldImmediatelyForwardRemovedSessionsWhenMerging, with eddy's batched
 * updates (every 1 ms of stream time; gap 5, grace 10): when a session grows
 * or merges, each window it (or a session merged into it) emitted before is
 * retracted right before its next emission; a final row retracts what its
 * last update does not cover. */
Test(session, updates_retract_windows_that_grew_or_merged)
{
    static const struct store_step steps[] = {
        {"a", 0, ""}, /* the first advance only schedules updates */
        {"z", 1, "a@0/0~1 z@1/1~1"},
        /* a grows to [0,5]: KS forwards a tombstone for [0,0], then [0,5] */
        {"a", 5, "a@0/0! a@0/5~2"},
        {"a", 11, "a@11/11~1"}, /* 11 > 5 + 5: a second session */
        /* bridges [0,5] and [11,11]: no update yet (stream time stays 11) */
        {"a", 8, ""},
        {"z", 12, "a@0/5! a@11/11! a@0/11~4 z@12/12~1"},
        {"a", 13, "a@0/11! a@0/13~5"},
        {"a", 14, "a@0/13! a@0/14~6"},
        /* 40 > end + 5 + 10 for z@1, z@12 and a@[0,14]: each emitted once,
         * final, in end order; their last updates showed the same windows */
        {"z", 40, "z@1/1=1 z@12/12=1 a@0/14=6 z@40/40~1"},
        /* joins nothing open, and 20 < 40 - 15 */
        {"a", 20, "late@9"},
        {"a", 30, ""},
        {"z", 41, "a@30/30~1 z@40/40! z@40/41~2"},
        {"a", 31, ""},
    };
    run_store(TOPOLOGY("{session: 5ms}", "10ms", "{updates: 1ms}"), steps,
              sizeof steps / sizeof *steps, "a@30/30! a@30/31=2 z@40/41=2");
}

/* Emit final: a session that grew and merged is emitted once, no retraction
 * (nothing went downstream before its close). */
Test(session, final_emits_each_merged_session_once_without_retractions)
{
    static const struct store_step steps[] = {
        {"a", 0, ""},
        {"a", 10, ""}, /* 10 > 0 + 5: a second session */
        {"a", 5, ""},  /* within 5 of both: one session [0,10] */
        {"b", 6, ""},
        {"a", 12, ""},
        {"b", 28, "b@6/6=1 a@0/12=4"}, /* 28 > end + 5 + 10 for both */
    };
    run_store(TOPOLOGY("{session: 5ms}", "10ms", "final"), steps, sizeof steps / sizeof *steps,
              "b@28/28=1");
}

/* A store that is not advanced (a combining store of repartitioning, or
 * between a record that moves stream time and the advance) may still hold
 * sessions closed at stream time: they take no records. */
Test(session, closed_session_not_yet_emitted_takes_no_records)
{
    struct store_run r;
    store_open(&r, TOPOLOGY("{session: 10ms}", "0ms", "final"));
    struct eddy_value *k = &r.slots[r.plan->aggregations[0].group_slots[0]];
    *k = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"a", 1}};
    bool late;
    cr_assert_eq(eddy__window_add(r.ws, r.slots, 0, 0, &late), EDDY_OK);
    cr_assert(!late);
    /* stream time 11 closes [0,0] (0 < 11 - 10): 5, within its gap, makes
     * a new session [5,5] instead (not late: 5 >= 11 - 10) */
    cr_assert_eq(eddy__window_add(r.ws, r.slots, 5, 11, &late), EDDY_OK);
    cr_assert(!late);
    /* stream time 20: [5,5] is closed (5 < 10), 9 is within its gap, but
     * 9 < 10: late */
    cr_assert_eq(eddy__window_add(r.ws, r.slots, 9, 20, &late), EDDY_OK);
    cr_assert(late);
    cr_assert_eq(eddy__window_advance(r.ws, 20, false, print_row, &r.text), EDDY_OK);
    cr_assert_str_eq(store_output(&r), "a@0/0=1 a@5/5=1");
    store_close(&r);
}

/* Against a naive model of the rules (every session in one array, linear
 * scans): random keys and times, out of order by up to 3 gaps, so records
 * join, bridge, extend backwards and come late. Same output after every
 * record. */
struct ref_session {
    char key;
    int64_t start, end, n;
    bool alive;
};

static int ref_cmp(const void *pa, const void *pb)
{
    const struct ref_session *a = pa, *b = pb;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a->key - b->key;
}

static void ref_advance(struct ref_session *refs, size_t n, int64_t close, bool flush,
                        struct eddy_buf *out)
{
    static struct ref_session due[4096];
    size_t n_due = 0;
    for (size_t i = 0; i < n; i++)
        if (refs[i].alive && (flush || refs[i].end < close)) {
            due[n_due++] = refs[i];
            refs[i].alive = false;
        }
    qsort(due, n_due, sizeof *due, ref_cmp);
    for (size_t i = 0; i < n_due; i++)
        eddy_buf_printf(out, "%s%c@%lld/%lld=%lld", out->len ? " " : "", due[i].key,
                        (long long)due[i].start, (long long)due[i].end, (long long)due[i].n);
}

static void model_run(int n_keys, uint64_t max_step, bool check_counts)
{
    const int64_t gap = 10, grace = 4;
    struct store_run r;
    store_open(&r, TOPOLOGY("{session: 10ms}", "4ms", "final"));
    static struct ref_session refs[4096];
    size_t n_refs = 0;
    struct eddy_buf expect;
    eddy_buf_init(&expect);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int64_t now = 0, st = INT64_MIN;
    size_t lates = 0, bridges = 0, backwards = 0;
    for (size_t i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        now += (int64_t)(x % max_step);
        int64_t t = now - (int64_t)((x >> 8) % 31);
        if (t < 0)
            t = 0;
        char key[2] = {(char)('A' + (x >> 20) % (uint64_t)n_keys), '\0'};
        st = t > st ? t : st;
        int64_t close = st - gap - grace;
        /* the model: merge every open session of the key within the gap */
        struct ref_session *into = NULL;
        for (size_t j = 0; j < n_refs; j++) {
            struct ref_session *s = &refs[j];
            if (!s->alive || s->key != key[0] || s->end < close || s->end < t - gap ||
                s->start > t + gap)
                continue;
            if (!into) {
                into = s;
                continue;
            }
            into->start = s->start < into->start ? s->start : into->start;
            into->end = s->end > into->end ? s->end : into->end;
            into->n += s->n;
            s->alive = false;
            bridges++;
        }
        eddy_buf_reset(&expect);
        if (!into && t < close) {
            eddy_buf_printf(&expect, "late@%zu", i);
            lates++;
        } else {
            backwards += into && t < into->start;
            if (!into) {
                cr_assert_lt(n_refs, 4096);
                into = &refs[n_refs++];
                *into = (struct ref_session){key[0], t, t, 0, true};
            }
            into->start = t < into->start ? t : into->start;
            into->end = t > into->end ? t : into->end;
            into->n++;
        }
        ref_advance(refs, n_refs, close, false, &expect);
        eddy_buf_reset(&r.text);
        store_record(&r, i, key, t);
        eddy_buf_putc(&expect, '\0');
        cr_assert_str_eq(store_output(&r), expect.data, "after record %zu (%s@%lld)", i, key,
                         (long long)t);
    }
    eddy_buf_reset(&expect);
    ref_advance(refs, n_refs, 0, true, &expect);
    eddy_buf_putc(&expect, '\0');
    eddy_buf_reset(&r.text);
    cr_assert_eq(eddy__window_advance(r.ws, st, true, print_row, &r.text), EDDY_OK);
    cr_assert_str_eq(store_output(&r), expect.data);
    if (check_counts) {
        cr_assert_gt(lates, 20, "late: %zu", lates);
        cr_assert_gt(bridges, 20, "bridges: %zu", bridges);
        cr_assert_gt(backwards, 20, "backwards: %zu", backwards);
    }
    eddy_buf_release(&expect);
    store_close(&r);
}

Test(session, random_records_match_a_naive_model)
{
    model_run(4, 4, true);
    model_run(50, 2, false); /* many keys: the key table grows, keys come and go */
}

/* ---- persistence of the store ---- */

static eddy_err_t put_s(void *ctx, const void *key, size_t key_len, const void *value,
                        size_t value_len)
{
    return kv_put(ctx, "s", key, key_len, value, value_len);
}

static eddy_err_t closed_s(void *ctx, int64_t start)
{
    return kv_closed(ctx, "s", start);
}

/* The persisted session of @key starting at @start: its end and count. */
static bool stored(struct kvmap *m, int64_t start, const char *key, int64_t *end)
{
    unsigned char k[64];
    size_t len = strlen(key);
    eddy__be64_put(k, start);
    k[8] = EDDY_V_STR;
    k[9] = (unsigned char)len;
    k[10] = k[11] = k[12] = 0;
    memcpy(k + 13, key, len);
    struct kv *kv = kv_find(m, "s", k, 13 + len);
    if (!kv)
        return false;
    cr_assert_geq(kv->value_len, 10);
    cr_assert_eq(kv->value[0], 3, "session row format");
    *end = eddy__be64_get(kv->value + 2);
    return true;
}

Test(session, merged_moved_and_closed_sessions_are_deleted_from_the_store)
{
    struct store_run r;
    store_open(&r, TOPOLOGY("{session: 10ms}", "100ms", "final"));
    struct kvmap m = {0};
    struct eddy_window_changes changes = {put_s, closed_s, &m, NULL};
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK); /* start recording */
    store_record(&r, 0, "a", 0);
    store_record(&r, 1, "a", 20);
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK);
    int64_t end;
    cr_assert_eq(m.n, 2);
    cr_assert(stored(&m, 0, "a", &end) && end == 0);
    cr_assert(stored(&m, 20, "a", &end) && end == 20);
    /* a bridge: [0,0] + 10 + [20,20] = [0,20]; the session at 20 is gone */
    store_record(&r, 2, "a", 10);
    store_record(&r, 3, "b", 15);
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK);
    cr_assert_eq(m.n, 2);
    cr_assert(stored(&m, 0, "a", &end) && end == 20);
    cr_assert(stored(&m, 15, "b", &end) && end == 15);
    /* b's start moves back to 12: its key changes */
    store_record(&r, 4, "b", 12);
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK);
    cr_assert_eq(m.n, 2);
    cr_assert(stored(&m, 0, "a", &end) && end == 20);
    cr_assert(stored(&m, 12, "b", &end) && end == 15);
    /* a session made and merged away between two commits leaves nothing */
    store_record(&r, 5, "c", 40);
    store_record(&r, 6, "c", 60);
    store_record(&r, 7, "c", 50);
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK);
    cr_assert_eq(m.n, 3);
    cr_assert(stored(&m, 40, "c", &end) && end == 60);
    /* 200 closes them all: every key is deleted, never by a range */
    eddy_buf_reset(&r.text);
    store_record(&r, 8, "d", 200);
    cr_assert_str_eq(store_output(&r), "b@12/15=2 a@0/20=3 c@40/60=3");
    cr_assert_eq(eddy__window_changes(r.ws, &changes), EDDY_OK);
    cr_assert_eq(m.n, 1);
    cr_assert(stored(&m, 200, "d", &end) && end == 200);
    cr_assert_eq(m.closed_calls, 0);
    kv_release(&m);
    store_close(&r);
}

/* ---- a task restored from its state ---- */

struct lines {
    char **text;
    size_t n, cap;
};

static void lines_add(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->text = realloc(l->text, l->cap * sizeof *l->text);
    }
    l->text[l->n++] = strndup(s, len);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    *l = (struct lines){0};
}

/* Results and dead letters, in order. */
static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    lines_add(ctx, value, value_len);
    return EDDY_OK;
}

/* Users clicking in bursts, out of order by up to @jitter_ms; one record in
 * @late_every (0: none) is far behind (late, or bridging two sessions). */
static struct lines clicks(size_t n, int64_t jitter_ms, size_t late_every)
{
    struct lines l = {0};
    uint64_t x = 88172645463325252ULL;
    int64_t now = 1700000000000;
    char line[160];
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        now += (int64_t)(x % 300);
        int64_t t = now - (int64_t)((x >> 16) % (uint64_t)(jitter_ms + 1));
        if (late_every && i % late_every == late_every - 1)
            t = now - 1500 - (int64_t)((x >> 24) % 3000);
        int len = snprintf(line, sizeof line,
                           "{\"user\":\"u%d\",\"t\":%lld,\"v\":%d,\"page\":\"p%d\"}",
                           (int)((x >> 32) % 23), (long long)t, (int)((x >> 40) % 1000),
                           (int)((x >> 48) % 7));
        lines_add(&l, line, (size_t)len);
    }
    return l;
}

#define CLICKS_TOPOLOGY(emit)                                                                \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {user: string, v: int, page: string}\n"                                       \
    "grace: 500ms\n"                                                                         \
    "aggregations:\n"                                                                        \
    "  - name: s\n"                                                                          \
    "    group_by: [user]\n"                                                                 \
    "    window: {session: 1s}\n"                                                            \
    "    emit: " emit "\n"                                                                   \
    "    metrics: {n: count(), total: sum(v), fastest: min(v), slowest: max(v), mean: avg(v), " \
    "pages: distinct(page), p90: \"quantile(v, 0.9)\", big: count_if(v > 900), "            \
    "share: ratio(v > 500)}\n"

static void expect_restore_continues_exactly(const char *yaml, size_t half)
{
    struct lines input = clicks(4000, 400, 97);
    struct eddy_plan *plan = plan_from(yaml);
    struct lines whole = {0}, parts = {0};
    struct eddy_output o_whole = {collect, &whole}, o_parts = {collect, &parts};
    struct eddy_task *all, *a, *b;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &a), EDDY_OK);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK); /* start recording */
    for (size_t i = 0; i < input.n; i++) {
        const char *line = input.text[i];
        cr_assert_eq(eddy__task_process(all, line, strlen(line), (int64_t)i, false), EDDY_OK);
        if (i < half) {
            cr_assert_eq(eddy__task_process(a, line, strlen(line), (int64_t)i, false), EDDY_OK);
            if (i % 37 == 0) /* a commit now and then */
                cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
        }
    }
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
    /* the store holds exactly the open sessions: merged-away, moved and
     * closed ones were deleted */
    uint64_t open = 0;
    eddy__task_window_rows(a, &open, 1);
    size_t persisted = 0;
    for (size_t i = 0; i < state.n; i++)
        persisted += strcmp(state.items[i].store, "s") == 0;
    cr_assert_gt(open, 5);
    cr_assert_eq(persisted, open, "%zu sessions persisted, %llu open", persisted,
                 (unsigned long long)open);
    cr_assert_eq(state.closed_calls, 0);
    eddy__task_free(a);

    /* a new task from the persisted state alone, "meta" first */
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &b), EDDY_OK);
    size_t n_stores;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    for (size_t s = 0; s < n_stores; s++)
        for (size_t i = 0; i < state.n; i++)
            if (strcmp(state.items[i].store, stores[s]) == 0)
                cr_assert_eq(eddy__task_load(b, stores[s], state.items[i].key,
                                             state.items[i].key_len, state.items[i].value,
                                             state.items[i].value_len),
                             EDDY_OK);
    eddy_free(stores);
    for (size_t i = half; i < input.n; i++)
        cr_assert_eq(eddy__task_process(b, input.text[i], strlen(input.text[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(b), EDDY_OK);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);

    size_t late = 0, merged = 0;
    for (size_t i = 0; i < whole.n; i++) {
        late += strstr(whole.text[i], "\"reason\":\"late\"") != NULL;
        merged += strstr(whole.text[i], "\"final\":true") && !strstr(whole.text[i], "\"n\":1,");
    }
    cr_assert_gt(late, 3, "the input needs late records");
    cr_assert_gt(merged, 50, "the input needs sessions of several records");
    cr_assert_eq(parts.n, whole.n, "%zu outputs against %zu", parts.n, whole.n);
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

/* Several consecutive split points: some split right before a record that
 * crosses an update interval or closes sessions. */
Test(session, restored_task_continues_exactly_emit_final, .timeout = 60)
{
    for (size_t half = 2017; half < 2025; half++)
        expect_restore_continues_exactly(CLICKS_TOPOLOGY("final"), half);
}

Test(session, restored_task_continues_exactly_emit_updates, .timeout = 60)
{
    for (size_t half = 2017; half < 2025; half++)
        expect_restore_continues_exactly(CLICKS_TOPOLOGY("{updates: 700ms}"), half);
}

/* ---- repartitioning: partial sessions of four input tasks ---- */

enum { TASKS = 4 };

static eddy_err_t route_partial(void *ctx, size_t a, const void *key, size_t key_len,
                                const void *value, size_t value_len)
{
    struct eddy_task **tasks = ctx;
    size_t owner = eddy_hash64((const char *)key + 8, key_len - 8, 0) % TASKS;
    return eddy__task_merge(tasks[owner], a, key, key_len, value, value_len, 0);
}

static void ship_all(struct eddy_task **tasks)
{
    for (size_t t = 0; t < TASKS; t++) {
        cr_assert_eq(eddy__task_ship(tasks[t], route_partial, tasks), EDDY_OK);
        int64_t now = eddy__task_stream_time(tasks[t]);
        for (size_t owner = 0; owner < TASKS; owner++)
            cr_assert_eq(eddy__task_source_time(tasks[owner], 0, t,
                                                now == INT64_MIN ? EDDY_TASK_TIME_EMPTY : now),
                         EDDY_OK);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(session, repartitioned_partial_sessions_give_the_results_of_one_task, .timeout = 60)
{
    /* out of order within grace only: late decisions are per input task */
    struct lines input = clicks(3000, 500, 0);
    struct eddy_plan *plan = plan_from(CLICKS_TOPOLOGY("final"));
    cr_assert(plan->aggregations[0].repartition);
    struct lines whole = {0}, parts = {0};
    struct eddy_output o_whole = {collect, &whole}, o_parts = {collect, &parts};
    struct eddy_task *all, *tasks[TASKS];
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    for (int t = 0; t < TASKS; t++) {
        cr_assert_eq(eddy__task_new(plan, "in", t, &o_parts, &tasks[t]), EDDY_OK);
        cr_assert_eq(eddy__task_enable_repartition(tasks[t], TASKS), EDDY_OK);
    }
    for (size_t i = 0; i < input.n; i++) {
        const char *line = input.text[i];
        size_t t = eddy_hash64(&i, sizeof i, 7) % TASKS; /* users span partitions */
        cr_assert_eq(eddy__task_process(all, line, strlen(line), (int64_t)i, false), EDDY_OK);
        cr_assert_eq(eddy__task_process(tasks[t], line, strlen(line), (int64_t)i, false),
                     EDDY_OK);
        if (i % 101 == 0)
            ship_all(tasks);
    }
    ship_all(tasks);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    for (int t = 0; t < TASKS; t++)
        cr_assert_eq(eddy__task_flush(tasks[t]), EDDY_OK);
    cr_assert_gt(whole.n, 100);
    qsort(whole.text, whole.n, sizeof *whole.text, cmp_str);
    qsort(parts.text, parts.n, sizeof *parts.text, cmp_str);
    cr_assert_eq(parts.n, whole.n, "%zu results against %zu", parts.n, whole.n);
    for (size_t i = 0; i < whole.n; i++)
        cr_assert_str_eq(parts.text[i], whole.text[i]);
    for (int t = 0; t < TASKS; t++)
        eddy__task_free(tasks[t]);
    eddy__task_free(all);
    lines_free(&input);
    lines_free(&whole);
    lines_free(&parts);
    eddy_plan_free(plan);
}

/* ---- local mode end to end ---- */

#define DATA EDDY_SOURCE_DIR "/tests/unit/data/session/"

Test(session, local_run_over_a_file_gives_the_expected_sessions)
{
    struct eddy_task_stats stats = local_run(DATA);
    cr_expect_eq(stats.records_in, 14);
    cr_expect_eq(stats.results_out, 7);
    cr_expect_eq(stats.dead_letters[EDDY_DL_LATE], 1);
}

/* ---- config ---- */

#define SESSION_HEAD                                                                         \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string}\n"                                                                \
    "aggregations:\n"

static void expect_error(const char *yaml, const char *message)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    cr_assert_neq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                  EDDY_OK);
    cr_expect_str_eq(err, message);
    eddy_plan_free(plan);
}

Test(session, rollups_from_or_into_session_windows_are_rejected)
{
    expect_error(SESSION_HEAD "  - name: visits\n"
                              "    group_by: [k]\n"
                              "    window: {session: 30m}\n"
                              "    metrics: {n: count()}\n"
                              "  - name: daily\n"
                              "    window: {tumbling: 1d, from: visits}\n",
                 "t.yaml:12: aggregations[1].window.from: 'visits' must have tumbling windows "
                 "to be rolled up (it has session windows)");
    expect_error(SESSION_HEAD "  - name: minutes\n"
                              "    group_by: [k]\n"
                              "    window: {tumbling: 1m}\n"
                              "    metrics: {n: count()}\n"
                              "  - name: visits\n"
                              "    window: {session: 30m, from: minutes}\n",
                 "t.yaml:12: aggregations[1].window.from: a rollup cannot have session windows "
                 "(use tumbling or hopping windows, or aggregate the events into sessions "
                 "directly)");
}

Test(session, session_windows_parse_with_the_gap_and_the_plan_grace)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("{session: 30m}", "2m", "{updates: 1m}"));
    const struct eddy_aggregation *a = &plan->aggregations[0];
    cr_assert_eq(a->window.kind, EDDY_WIN_SESSION);
    cr_assert_eq(a->window.gap_ms, 1800000);
    cr_assert_eq(plan->grace_ms, 120000);
    cr_assert(a->emit.updates);
    eddy_plan_free(plan);
}

/* ---- running out of memory ---- */

/* Every allocation of a run (records that merge, sketches, updates with
 * retractions, persistence, loading) fails once in turn: each call returns
 * EDDY_OK or EDDY_ENOMEM, and nothing leaks or breaks (the sanitizer build
 * checks). */
Test(session, allocation_failures_fail_cleanly)
{
    struct eddy_plan *plan = plan_from("name: t\n"
                                       "source:\n"
                                       "  topic: input\n"
                                       "  timestamp: {field: t, format: unix_ms}\n"
                                       "  fields: {k: string}\n"
                                       "grace: 10ms\n"
                                       "aggregations:\n"
                                       "  - name: s\n"
                                       "    group_by: [k]\n"
                                       "    window: {session: 5ms}\n"
                                       "    emit: {updates: 1ms}\n"
                                       "    metrics: {n: count(), d: distinct(k)}\n");
    static const struct store_step steps[] = {
        {"a", 0, ""}, {"z", 1, ""},  {"a", 5, ""},  {"a", 11, ""},
        {"a", 8, ""}, {"z", 12, ""}, {"b", 40, ""}, {"a", 41, ""},
    };
    struct eddy_value *slots = calloc(plan->n_slots, sizeof *slots);
    struct eddy_value *k = &slots[plan->aggregations[0].group_slots[0]];
    size_t ok_runs = 0, failed_runs = 0;
    for (unsigned long n = 1; n < 2000 && ok_runs < 3; n++) {
        struct eddy_window_store *ws, *copy;
        struct kvmap m = {0};
        struct eddy_window_changes changes = {put_s, closed_s, &m, NULL};
        struct eddy_buf text;
        eddy_buf_init(&text);
        cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], plan->grace_ms, &ws), EDDY_OK);
        cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], plan->grace_ms, &copy),
                     EDDY_OK);
        cr_assert_eq(eddy__window_changes(ws, &changes), EDDY_OK);
        eddy_alloc_fail_at(n);
        eddy_err_t rc = EDDY_OK;
        int64_t st = INT64_MIN;
        for (size_t i = 0; i < sizeof steps / sizeof *steps && !rc; i++) {
            *k = (struct eddy_value){.type = EDDY_V_STR, .as.s = {steps[i].key, 1}};
            st = steps[i].t > st ? steps[i].t : st;
            bool late;
            rc = eddy__window_add(ws, slots, steps[i].t, st, &late);
            if (!rc)
                rc = eddy__window_advance(ws, st, false, print_row, &text);
            if (!rc && i % 3 == 2)
                rc = eddy__window_changes(ws, &changes);
        }
        for (size_t i = 0; i < m.n && !rc; i++)
            rc = eddy__window_load(copy, m.items[i].key, m.items[i].key_len, m.items[i].value,
                                   m.items[i].value_len, st);
        if (!rc)
            rc = eddy__window_advance(copy, st, true, print_row, &text);
        eddy_alloc_fail_at(0);
        cr_assert(rc == EDDY_OK || rc == EDDY_ENOMEM, "n=%lu rc=%d", n, rc);
        ok_runs += rc == EDDY_OK;
        failed_runs += rc == EDDY_ENOMEM;
        eddy__window_store_free(ws);
        eddy__window_store_free(copy);
        kv_release(&m);
        eddy_buf_release(&text);
    }
    cr_assert_eq(ok_runs, 3);
    cr_assert_gt(failed_runs, 20);
    free(slots);
    eddy_plan_free(plan);
}
