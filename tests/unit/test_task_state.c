/*
 * Kafka-mode state handling of a task, without Kafka:
 *  - persistence: a task's changes, applied to a key-value map and loaded
 *    into a new task, continue exactly where the first task stands;
 *  - repartitioning: four input tasks that ship partial aggregates to the
 *    tasks owning their group keys give exactly the results of one task over
 *    all the input.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "eddy/topology.h"
#include "gen/gen.h"
#include "runtime/task.h"
#include "state/be64.h"

#include "kvmap.h"

/* ---- input ---- */

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

static struct lines generate(double late_rate)
{
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = 12000;
    o.event_rate = 20;
    o.seed = 11;
    o.dup_rate = 0.02;
    o.late_rate = late_rate;
    o.max_late_ms = 150000;
    o.malformed_rate = 0.005;
    struct lines l = {0};
    cr_assert_eq(eddy_gen_run("service-logs", &o, keep_line, &l, NULL), EDDY_OK);
    return l;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
}

/* ---- output collection: lines, sorted for order-free comparison ---- */

struct out {
    struct lines lines;
};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    if (kind == EDDY_OUT_DEAD)
        return EDDY_OK; /* compared through the results */
    return keep_line(ctx, key, key_len, value, value_len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void expect_same(struct lines *a, struct lines *b)
{
    qsort(a->text, a->n, sizeof *a->text, cmp_str);
    qsort(b->text, b->n, sizeof *b->text, cmp_str);
    cr_assert_eq(a->n, b->n, "%zu results against %zu", a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert_str_eq(a->text[i], b->text[i]);
}

static struct eddy_plan *load(const char *text)
{
    char err[512];
    struct eddy_plan *plan;
    cr_assert_eq(eddy_topology_parse(EDDY_SOURCE_DIR "/topologies/t.yaml", text, strlen(text),
                                     &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    return plan;
}

/* service-health without source.key: every aggregation is repartitioned */
static char *topology(bool keyed)
{
    FILE *fp = fopen(EDDY_SOURCE_DIR "/topologies/service-health.yaml", "r");
    cr_assert(fp);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    if (!keyed) {
        char *key = strstr(text, "  key: [service]");
        cr_assert(key);
        memset(key, ' ', strcspn(key, "\n"));
    }
    return text;
}

/* ---- a key-value "state store": kvmap.h ---- */

Test(task_state, restored_task_continues_exactly_where_the_first_stood, .timeout = 60)
{
    struct lines input = generate(0.02);
    struct eddy_plan *plan = load(topology(true));
    struct out whole = {0}, first = {0}, second = {0};
    struct eddy_output o_whole = {collect, &whole}, o_first = {collect, &first},
                       o_second = {collect, &second};
    struct eddy_task *all, *a, *b;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_first, &a), EDDY_OK);
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK); /* start recording */
    /* split inside the payment incident (event minutes 5-8, emitted 2 min of grace
     * later): an alert fires
     * before the split and resolves after it */
    size_t half = input.n * 87 / 100;
    for (size_t i = 0; i < input.n; i++) {
        const char *line = input.text[i];
        cr_assert_eq(eddy__task_process(all, line, strlen(line), (int64_t)i, false), EDDY_OK);
        if (i < half) {
            cr_assert_eq(eddy__task_process(a, line, strlen(line), (int64_t)i, false), EDDY_OK);
            if (i % 700 == 0) /* a commit now and then */
                cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
        }
    }
    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
    eddy__task_free(a);

    /* the second task starts from the persisted state alone, "meta" first */
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_second, &b), EDDY_OK);
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
    cr_assert_gt(first.lines.n, 10);
    cr_assert_gt(second.lines.n, 10);
    size_t firing = 0, resolved = 0;
    for (size_t i = 0; i < first.lines.n; i++)
        firing += strstr(first.lines.text[i], "\"state\":\"firing\"") != NULL;
    for (size_t i = 0; i < second.lines.n; i++)
        resolved += strstr(second.lines.text[i], "\"state\":\"resolved\"") != NULL;
    cr_assert_gt(firing, 0, "the test needs an alert firing before the split");
    cr_assert_gt(resolved, 0, "the test needs an alert resolving after the split");
    for (size_t i = 0; i < second.lines.n; i++)
        keep_line(&first.lines, NULL, 0, second.lines.text[i], strlen(second.lines.text[i]));
    expect_same(&first.lines, &whole.lines);
    eddy__task_free(b);
    eddy__task_free(all);
    kv_release(&state);
    lines_free(&input);
    lines_free(&first.lines);
    lines_free(&second.lines);
    lines_free(&whole.lines);
    eddy_plan_free(plan);
}

/* ---- repartitioning ---- */

enum { TASKS = 4 };

struct cluster {
    struct eddy_task *tasks[TASKS];
};

struct ship_ctx {
    struct cluster *c;
};

static eddy_err_t route_partial(void *ctx, size_t a, const void *key, size_t key_len,
                                const void *value, size_t value_len)
{
    struct ship_ctx *s = ctx;
    size_t owner = eddy_hash64((const char *)key + 8, key_len - 8, 0) % TASKS;
    return eddy__task_merge(s->c->tasks[owner], a, key, key_len, value, value_len, 0);
}

static void ship_all(struct cluster *c, const struct eddy_plan *plan)
{
    struct ship_ctx s = {c};
    for (size_t t = 0; t < TASKS; t++) {
        cr_assert_eq(eddy__task_ship(c->tasks[t], route_partial, &s), EDDY_OK);
        int64_t now = eddy__task_stream_time(c->tasks[t]);
        for (size_t a = 0; a < plan->n_aggregations; a++)
            for (size_t owner = 0; owner < TASKS; owner++)
                cr_assert_eq(eddy__task_source_time(c->tasks[owner], a, t,
                                                    now == INT64_MIN ? EDDY_TASK_TIME_EMPTY
                                                                     : now),
                             EDDY_OK);
    }
}

Test(task_state, repartitioned_partials_give_the_results_of_one_task, .timeout = 60)
{
    /* no late records: late decisions are per input partition by design */
    struct lines input = generate(0);
    struct eddy_plan *plan = load(topology(false));
    cr_assert(plan->aggregations[0].repartition);
    struct out whole = {0}, parts = {0};
    struct eddy_output o_whole = {collect, &whole}, o_parts = {collect, &parts};
    struct eddy_task *all;
    struct cluster c;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    for (int t = 0; t < TASKS; t++) {
        cr_assert_eq(eddy__task_new(plan, "in", t, &o_parts, &c.tasks[t]), EDDY_OK);
        cr_assert_eq(eddy__task_enable_repartition(c.tasks[t], TASKS), EDDY_OK);
    }
    for (size_t i = 0; i < input.n; i++) {
        const char *line = input.text[i];
        /* producers key by service: a line's partition follows its service */
        const char *svc = strstr(line, "\"service\":\"");
        size_t t = svc ? eddy_hash64(svc, strcspn(svc + 11, "\"") + 11, 0) % TASKS : 0;
        cr_assert_eq(eddy__task_process(all, line, strlen(line), (int64_t)i, false), EDDY_OK);
        cr_assert_eq(eddy__task_process(c.tasks[t], line, strlen(line), (int64_t)i, false),
                     EDDY_OK);
        if (i % 250 == 0)
            ship_all(&c, plan);
    }
    ship_all(&c, plan);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    for (int t = 0; t < TASKS; t++)
        cr_assert_eq(eddy__task_flush(c.tasks[t]), EDDY_OK);
    cr_assert_gt(whole.lines.n, 100);
    expect_same(&parts.lines, &whole.lines);
    for (int t = 0; t < TASKS; t++)
        eddy__task_free(c.tasks[t]);
    eddy__task_free(all);
    lines_free(&input);
    lines_free(&whole.lines);
    lines_free(&parts.lines);
    eddy_plan_free(plan);
}
