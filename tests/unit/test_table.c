/*
 * test_table.c - topic tables without Kafka: the mutable table (insert,
 * replace, delete, the hash index against a reference model, strings freed,
 * allocation failures), declared columns from a file (types checked, rows
 * dropped once the topic is read), decoding records (types, NULLs, bad
 * values), the update queue (order, applied only at eddy__ktables_apply,
 * held while a serving thread reads), expressions over a changing table, and
 * the config errors of `tables:` with file:line.
 *
 * Runs in the project root (fixtures in tests/unit/data/config/).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/expr.h"
#include "config/table.h"
#include "core/alloc.h"
#include "eddy/topology.h"
#include "source/ktable.h"

#ifndef EDDY_SOURCE_DIR
#define EDDY_SOURCE_DIR "."
#endif

#define DATA "tests/unit/data/config/"

static void enter_root(void)
{
    cr_assert_eq(chdir(EDDY_SOURCE_DIR), 0);
}

TestSuite(table, .init = enter_root);

/* "int:5", "num:2.5", "str:abc", "bool:true", "null", or "absent". */
static const char *show(const struct eddy_value *v)
{
    static char buf[128];
    if (!v)
        return "absent";
    switch (v->type) {
    case EDDY_V_NULL: return "null";
    case EDDY_V_BOOL: return v->as.b ? "bool:true" : "bool:false";
    case EDDY_V_INT: snprintf(buf, sizeof buf, "int:%lld", (long long)v->as.i); break;
    case EDDY_V_NUM: snprintf(buf, sizeof buf, "num:%.15g", v->as.n); break;
    default: snprintf(buf, sizeof buf, "str:%.*s", (int)v->as.s.len, v->as.s.ptr); break;
    }
    return buf;
}

static const char *cell(const struct eddy_table *t, const char *key, const char *column)
{
    return show(eddy_table_get(t, key, strlen(key), column));
}

static const char *const columns[] = {"limit", "budget", "owner", "critical"};
static const enum eddy_field_type types[] = {EDDY_FT_INT, EDDY_FT_NUMBER, EDDY_FT_STRING,
                                             EDDY_FT_BOOL};

static struct eddy_table *empty_table(void)
{
    struct eddy_table_decl decl = {"services", "service", NULL, "services-ref", columns, types, 4};
    struct eddy_table *t = NULL;
    char err[256];
    cr_assert_eq(eddy__table_declared(&decl, NULL, 0, &t, err, sizeof err), EDDY_OK, "%s", err);
    return t;
}

/* Puts a row: limit, owner (NULL: a NULL cell). */
static eddy_err_t put(struct eddy_table *t, const char *key, int64_t limit, const char *owner)
{
    struct eddy_value cells[5] = {{0}};
    cells[1] = (struct eddy_value){.type = EDDY_V_INT, .as.i = limit};
    if (owner)
        cells[3] = (struct eddy_value){.type = EDDY_V_STR,
                                       .as.s = {eddy_strdup(owner), (uint32_t)strlen(owner)}};
    return eddy__table_put_take(t, key, strlen(key), cells);
}

Test(table, declared_columns_start_with_the_key_and_an_empty_table_finds_nothing)
{
    struct eddy_table *t = empty_table();
    cr_assert_eq(t->n_columns, 5);
    cr_assert_str_eq(t->columns[0], "service");
    cr_assert_str_eq(t->columns[4], "critical");
    cr_assert_eq(t->types[0], EDDY_FT_STRING);
    cr_assert_eq(t->types[2], EDDY_FT_NUMBER);
    cr_assert_str_eq(t->topic, "services-ref");
    cr_assert_null(t->file);
    cr_assert_eq(t->n_rows, 0);
    cr_assert_eq(eddy__table_row(t, "auth", 4), -1);
    cr_assert_str_eq(cell(t, "auth", "limit"), "absent");
    cr_assert_not(eddy__table_delete(t, "auth", 4));
    eddy__table_free(t);
}

Test(table, put_inserts_then_replaces_cells_and_delete_removes)
{
    struct eddy_table *t = empty_table();
    cr_assert_eq(put(t, "auth", 300, "identity"), EDDY_OK);
    cr_assert_eq(put(t, "search", 800, NULL), EDDY_OK);
    cr_assert_eq(t->n_rows, 2);
    cr_assert_str_eq(cell(t, "auth", "limit"), "int:300");
    cr_assert_str_eq(cell(t, "auth", "owner"), "str:identity");
    cr_assert_str_eq(cell(t, "auth", "service"), "str:auth"); /* the key column */
    cr_assert_str_eq(cell(t, "auth", "budget"), "null");
    cr_assert_str_eq(cell(t, "search", "owner"), "null");
    /* replacing frees the old strings (ASan: no leak) and drops old cells */
    cr_assert_eq(put(t, "auth", 250, "platform"), EDDY_OK);
    cr_assert_eq(put(t, "auth", 200, NULL), EDDY_OK);
    cr_assert_eq(t->n_rows, 2);
    cr_assert_str_eq(cell(t, "auth", "limit"), "int:200");
    cr_assert_str_eq(cell(t, "auth", "owner"), "null");
    cr_assert(eddy__table_delete(t, "auth", 4));
    cr_assert_not(eddy__table_delete(t, "auth", 4));
    cr_assert_eq(t->n_rows, 1);
    cr_assert_str_eq(cell(t, "auth", "limit"), "absent");
    cr_assert_str_eq(cell(t, "search", "limit"), "int:800");
    /* keys are bytes: a prefix or an embedded NUL is another key */
    cr_assert_eq(eddy__table_put_take(t, "se\0x", 4, (struct eddy_value[5]){{0}}), EDDY_OK);
    cr_assert_eq(eddy__table_row(t, "se", 2), -1);
    cr_assert_geq(eddy__table_row(t, "se\0x", 4), 0);
    cr_assert_eq(put(t, "", 1, NULL), EDDY_OK);
    cr_assert_str_eq(cell(t, "", "limit"), "int:1");
    eddy__table_free(t); /* frees every remaining string */
}

/* Random puts and deletes over 3000 keys against an array model: every key's
 * lookup after every 500 operations (index growth, backward-shift deletion
 * and moving the last row into a hole all happen many times). */
Test(table, index_agrees_with_a_model_over_random_puts_and_deletes)
{
    enum { KEYS = 3000, OPS = 60000 };
    static int64_t model[KEYS]; /* -1: absent */
    for (int k = 0; k < KEYS; k++)
        model[k] = -1;
    struct eddy_table *t = empty_table();
    unsigned seed = 12345;
    size_t rows = 0;
    for (int op = 0; op < OPS; op++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % KEYS);
        char key[16];
        snprintf(key, sizeof key, "svc-%d", k);
        if ((seed >> 4) % 3 == 0) {
            bool had = model[k] >= 0;
            cr_assert_eq(eddy__table_delete(t, key, strlen(key)), had);
            rows -= had;
            model[k] = -1;
        } else {
            rows += model[k] < 0;
            model[k] = op;
            cr_assert_eq(put(t, key, op, (op & 1) ? key : NULL), EDDY_OK);
        }
        cr_assert_eq(t->n_rows, rows);
        if (op % 500 != 499)
            continue;
        for (int j = 0; j < KEYS; j++) {
            snprintf(key, sizeof key, "svc-%d", j);
            const struct eddy_value *v = eddy_table_get(t, key, strlen(key), "limit");
            if (model[j] < 0) {
                cr_assert_null(v, "key %d", j);
            } else {
                cr_assert(v && v->type == EDDY_V_INT && v->as.i == model[j], "key %d", j);
                const struct eddy_value *o = eddy_table_get(t, key, strlen(key), "owner");
                cr_assert_eq(o->type, (model[j] & 1) ? EDDY_V_STR : EDDY_V_NULL);
            }
        }
    }
    eddy__table_free(t);
}

Test(table, put_that_cannot_allocate_leaves_the_table_unchanged_and_frees_the_cells)
{
    struct eddy_table *t = empty_table();
    cr_assert_eq(put(t, "auth", 300, "identity"), EDDY_OK);
    int failures = 0;
    for (unsigned long n = 1; n < 20; n++) {
        struct eddy_value cells[5] = {{0}};
        cells[1] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 7};
        cells[3] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {eddy_strdup("x"), 1}};
        char key[16];
        snprintf(key, sizeof key, "new-%lu", n);
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy__table_put_take(t, key, strlen(key), cells);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            cr_assert_str_eq(cell(t, key, "limit"), "int:7");
            cr_assert(eddy__table_delete(t, key, strlen(key)));
        } else {
            cr_assert_eq(rc, EDDY_ENOMEM);
            cr_assert_str_eq(cell(t, key, "limit"), "absent");
            failures++;
        }
        cr_assert_eq(t->n_rows, 1);
        cr_assert_str_eq(cell(t, "auth", "owner"), "str:identity");
    }
    cr_assert_geq(failures, 1);
    eddy__table_free(t);
}

/* ---- declared columns over a file ---------------------------------------- */

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[8192];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

Test(table, a_file_fits_declared_types_and_undeclared_columns_are_ignored)
{
    static const char *const cols[] = {"latency_threshold_ms", "error_budget", "team", "critical",
                                       "owner"};
    static const enum eddy_field_type ts[] = {EDDY_FT_NUMBER, EDDY_FT_NUMBER, EDDY_FT_STRING,
                                              EDDY_FT_BOOL, EDDY_FT_STRING};
    struct eddy_table_decl decl = {"services", "service", DATA "services.yaml", "ref", cols, ts, 5};
    size_t len;
    const char *text = read_text(DATA "services.yaml", &len);
    struct eddy_table *t = NULL;
    char err[256];
    cr_assert_eq(eddy__table_declared(&decl, text, len, &t, err, sizeof err), EDDY_OK, "%s", err);
    cr_assert_eq(t->n_rows, 3);
    cr_assert_str_eq(cell(t, "auth-service", "latency_threshold_ms"), "int:300"); /* int kept */
    cr_assert_str_eq(cell(t, "auth-service", "error_budget"), "num:0.001");
    cr_assert_str_eq(cell(t, "404", "team"), "str:12");
    cr_assert_str_eq(cell(t, "404", "service"), "str:404");
    cr_assert_str_eq(cell(t, "search", "critical"), "bool:false");
    cr_assert_str_eq(cell(t, "search", "owner"), "null"); /* declared, not in the file */
    cr_assert_eq(t->rows[0].line, 2);
    cr_assert(t->rows[0].from_file);
    /* the topic has auth-service and a new row: the rest of the file goes */
    cr_assert_eq(eddy__table_put_take(t, "auth-service", 12, (struct eddy_value[6]){{0}}), EDDY_OK);
    cr_assert_eq(eddy__table_put_take(t, "new", 3, (struct eddy_value[6]){{0}}), EDDY_OK);
    cr_assert_eq(eddy__table_drop_file_rows(t), 2);
    cr_assert_eq(t->n_rows, 2);
    cr_assert_str_eq(cell(t, "auth-service", "service"), "str:auth-service");
    cr_assert_str_eq(cell(t, "auth-service", "team"), "null");
    cr_assert_str_eq(cell(t, "new", "service"), "str:new");
    cr_assert_str_eq(cell(t, "search", "team"), "absent");
    cr_assert_eq(eddy__table_drop_file_rows(t), 0);
    eddy__table_free(t);
}

static void expect_declared_error(const char *column, enum eddy_field_type type,
                                  const char *message)
{
    const char *cols[] = {column};
    struct eddy_table_decl decl = {"services", "service", DATA "services.yaml", NULL, cols,
                                   &type, 1};
    size_t len;
    const char *text = read_text(DATA "services.yaml", &len);
    struct eddy_table *t = (struct eddy_table *)1;
    char err[256];
    cr_assert_eq(eddy__table_declared(&decl, text, len, &t, err, sizeof err), EDDY_ECONFIG);
    cr_assert_null(t);
    cr_assert_str_eq(err, message);
}

Test(table, a_file_cell_of_the_wrong_type_names_file_line_and_row)
{
    expect_declared_error("team", EDDY_FT_INT,
                          DATA "services.yaml:3: services[0].team: expected int, got string "
                               "'identity'");
    expect_declared_error("error_budget", EDDY_FT_INT,
                          DATA "services.yaml:5: services[0].error_budget: expected int, got "
                               "number '0.001'");
    expect_declared_error("critical", EDDY_FT_NUMBER,
                          DATA "services.yaml:6: services[0].critical: expected number, got bool "
                               "'true'");
    expect_declared_error("latency_threshold_ms", EDDY_FT_BOOL,
                          DATA "services.yaml:4: services[0].latency_threshold_ms: expected bool, "
                               "got int '300'");
}

/* ---- decoding records ------------------------------------------------------ */

Test(table, records_decode_by_declared_type_and_wrong_types_become_null)
{
    struct eddy_table *t = empty_table();
    struct eddy_value cells[5];
    unsigned errors;
    const char *first;
    const char *json = "{\"limit\": 250, \"budget\": 2, \"owner\": \"id\\u00e9\", "
                       "\"critical\": true, \"unknown\": [1], \"service\": \"ignored\"}";
    cr_assert_eq(eddy__ktable_decode(t, json, strlen(json), cells, &errors, &first), EDDY_OK);
    cr_assert_eq(errors, 0);
    cr_assert_null(first);
    cr_assert_str_eq(show(&cells[0]), "null"); /* the key column: set by the table */
    cr_assert_str_eq(show(&cells[1]), "int:250");
    cr_assert_str_eq(show(&cells[2]), "int:2"); /* number keeps integers INT */
    cr_assert_str_eq(show(&cells[3]), "str:id\xc3\xa9");
    cr_assert_str_eq(show(&cells[4]), "bool:true");
    eddy__table_values_release(cells, 5);

    json = "{\"limit\": 2.5, \"budget\": \"0.1\", \"owner\": 7, \"critical\": null}";
    cr_assert_eq(eddy__ktable_decode(t, json, strlen(json), cells, &errors, &first), EDDY_OK);
    cr_assert_eq(errors, 3);
    cr_assert_str_eq(first, "limit");
    for (int j = 0; j < 5; j++)
        cr_assert_str_eq(show(&cells[j]), "null", "cell %d", j);

    json = "{\"budget\": 1e-3, \"critical\": 1}";
    cr_assert_eq(eddy__ktable_decode(t, json, strlen(json), cells, &errors, &first), EDDY_OK);
    cr_assert_eq(errors, 1);
    cr_assert_str_eq(first, "critical");
    cr_assert_str_eq(show(&cells[2]), "num:0.001");
    cr_assert_str_eq(show(&cells[1]), "null"); /* absent */

    static const char *const bad[] = {"", "[1]", "\"x\"", "{\"limit\": 1", "null", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(eddy__ktable_decode(t, bad[i], strlen(bad[i]), cells, &errors, &first),
                     EDDY_EPARSE, "%s", bad[i]);
        for (int j = 0; j < 5; j++)
            cr_assert_eq(cells[j].type, EDDY_V_NULL);
    }
    eddy__table_free(t);
}

/* ---- the update queue over a topology ------------------------------------- */

#define TOPOLOGY                                                                                   \
    "name: t\n"                                                                                    \
    "source:\n"                                                                                    \
    "  topic: in\n"                                                                                \
    "  timestamp: {field: ts}\n"                                                                   \
    "  fields:\n"                                                                                  \
    "    service: string\n"                                                                        \
    "    latency_ms: number\n"                                                                     \
    "tables:\n"                                                                                    \
    "  services: {topic: services-ref, key: service, columns: {latency_threshold_ms: int, "       \
    "slo_availability: number, owner: string}}\n"                                                  \
    "derive:\n"                                                                                    \
    "  is_slow: latency_ms > services.latency_threshold_ms\n"                                      \
    "  owner: services.owner\n"                                                                    \
    "aggregations:\n"                                                                              \
    "  - name: a\n"                                                                                \
    "    window: {tumbling: 1m}\n"                                                                 \
    "    metrics:\n"                                                                               \
    "      n: count()\n"

static struct eddy_plan *load(const char *yaml)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    cr_assert_eq(eddy_topology_parse(DATA "t.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    return plan;
}

static void push(struct eddy_ktables *kt, const char *key, const char *value)
{
    cr_assert_eq(eddy__ktables_push(kt, 0, key, key ? strlen(key) : 0, value,
                                    value ? strlen(value) : 0, 0, 1),
                 EDDY_OK);
}

/* is_slow and owner of an event (service, latency_ms). */
static void derive(const struct eddy_plan *plan, const char *service, double latency, char *is_slow,
                   char *owner)
{
    struct eddy_value slots[4] = {
        {.type = EDDY_V_STR, .as.s = {service, (uint32_t)strlen(service)}},
        {.type = EDDY_V_NUM, .as.n = latency},
    };
    struct eddy_eval_ctx ctx = {slots};
    eddy_expr_eval(plan->derives[0].expr, &ctx, &slots[2]);
    eddy_expr_eval(plan->derives[1].expr, &ctx, &slots[3]);
    strcpy(is_slow, show(&slots[2]));
    strcpy(owner, show(&slots[3]));
}

Test(table, updates_change_lookups_only_when_applied_and_in_order)
{
    struct eddy_plan *plan = load(TOPOLOGY);
    struct eddy_table *t = plan->tables[0];
    cr_assert_eq(plan->derives[0].slot, 2);
    struct eddy_ktables *kt = NULL;
    cr_assert_eq(eddy__ktables_new(plan, &kt), EDDY_OK);
    cr_assert_not_null(kt);
    char slow[64], owner[64];
    derive(plan, "auth", 250, slow, owner);
    cr_assert_str_eq(slow, "bool:false"); /* no row: NULL threshold, comparison false */
    cr_assert_str_eq(owner, "null");

    push(kt, "auth", "{\"latency_threshold_ms\": 200, \"owner\": \"identity\"}");
    push(kt, "search", "{\"latency_threshold_ms\": 800}");
    cr_assert_eq(eddy__ktables_queued(kt), 2);
    derive(plan, "auth", 250, slow, owner);
    cr_assert_str_eq(slow, "bool:false"); /* queued, not applied */
    cr_assert_eq(t->n_rows, 0);

    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK);
    cr_assert_eq(eddy__ktables_queued(kt), 0);
    derive(plan, "auth", 250, slow, owner);
    cr_assert_str_eq(slow, "bool:true");
    cr_assert_str_eq(owner, "str:identity");
    derive(plan, "search", 250, slow, owner);
    cr_assert_str_eq(slow, "bool:false");

    /* one batch: the last record of a key wins; a tombstone deletes */
    push(kt, "auth", "{\"latency_threshold_ms\": 300, \"owner\": \"platform\"}");
    push(kt, "search", NULL);
    push(kt, "auth", "{\"latency_threshold_ms\": 240}");
    push(kt, "new", "{\"owner\": \"x\"}");
    push(kt, "new", NULL);
    push(kt, "gone", NULL); /* tombstone of an absent row */
    derive(plan, "auth", 250, slow, owner);
    cr_assert_str_eq(owner, "str:identity");
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK);
    derive(plan, "auth", 250, slow, owner);
    cr_assert_str_eq(slow, "bool:true");
    cr_assert_str_eq(owner, "null"); /* the whole row was replaced */
    derive(plan, "search", 900, slow, owner);
    cr_assert_str_eq(slow, "bool:false");
    cr_assert_eq(t->n_rows, 1);
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK); /* nothing queued */
    cr_assert_eq(t->stats.puts, 5);
    cr_assert_eq(t->stats.deletes, 2);
    cr_assert_eq(t->stats.type_errors, 0);

    /* type errors and bad records are counted, the rest of the record kept */
    push(kt, "auth", "{\"latency_threshold_ms\": \"fast\", \"owner\": \"ops\"}");
    push(kt, "bad", "not json");
    push(kt, NULL, "{\"owner\": \"keyless\"}");
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK);
    cr_assert_eq(t->stats.type_errors, 1);
    cr_assert_eq(t->stats.bad_records, 2);
    cr_assert_str_eq(cell(t, "auth", "latency_threshold_ms"), "null");
    cr_assert_str_eq(cell(t, "auth", "owner"), "str:ops");
    cr_assert_str_eq(cell(t, "bad", "owner"), "absent");
    cr_assert_eq(t->n_rows, 1);

    /* queued updates not applied are freed with the queue (ASan: no leak) */
    push(kt, "later", "{\"owner\": \"never applied\"}");
    eddy__ktables_stop(kt);
    cr_assert_str_eq(cell(t, "later", "owner"), "absent");
    eddy_plan_free(plan);
}

struct reader {
    const struct eddy_plan *plan;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 1: holds the read lock; 2: asked to release; 3: released */
};

static void *serving_thread(void *arg)
{
    struct reader *r = arg;
    eddy__tables_read_lock(r->plan);
    pthread_mutex_lock(&r->lock);
    r->state = 1;
    pthread_cond_broadcast(&r->cond);
    while (r->state != 2)
        pthread_cond_wait(&r->cond, &r->lock);
    eddy__tables_read_unlock(r->plan);
    r->state = 3;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void wait_state(struct reader *r, int state)
{
    pthread_mutex_lock(&r->lock);
    while (r->state != state)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

Test(table, updates_wait_while_a_serving_thread_reads_and_apply_later)
{
    struct eddy_plan *plan = load(TOPOLOGY);
    struct eddy_table *t = plan->tables[0];
    struct eddy_ktables *kt = NULL;
    cr_assert_eq(eddy__ktables_new(plan, &kt), EDDY_OK);
    push(kt, "auth", "{\"latency_threshold_ms\": 200}");
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK);

    struct reader r = {.plan = plan};
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, serving_thread, &r), 0);
    wait_state(&r, 1);
    push(kt, "auth", "{\"latency_threshold_ms\": 300}");
    push(kt, "search", "{\"latency_threshold_ms\": 800}");
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK); /* busy: held for later */
    cr_assert_eq(eddy__ktables_queued(kt), 0);
    push(kt, "auth", "{\"latency_threshold_ms\": 400}"); /* after the held ones */
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK);
    cr_assert_str_eq(cell(t, "auth", "latency_threshold_ms"), "int:200");
    cr_assert_eq(t->n_rows, 1);

    pthread_mutex_lock(&r.lock);
    r.state = 2;
    pthread_cond_broadcast(&r.cond);
    pthread_mutex_unlock(&r.lock);
    wait_state(&r, 3);
    pthread_join(thread, NULL);
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK); /* the held batch */
    cr_assert_str_eq(cell(t, "auth", "latency_threshold_ms"), "int:300");
    cr_assert_eq(t->n_rows, 2);
    cr_assert_eq(eddy__ktables_apply(kt), EDDY_OK); /* then the later one */
    cr_assert_str_eq(cell(t, "auth", "latency_threshold_ms"), "int:400");
    eddy__ktables_stop(kt);
    eddy_plan_free(plan);
}

/* A pushing thread (like the reader thread) queues 20000 updates of 50 keys,
 * each row's two cells tied (owner = "v<limit>"); the processing thread
 * applies while a serving thread reads under the read lock. Both only ever
 * see whole rows, each key's limit never goes back, and the end state is the
 * last update of every key. (Run under TSan too: tests/unit/test_table.c is
 * the harness.) */
struct stress {
    struct eddy_plan *plan;
    struct eddy_ktables *kt;
    atomic_int done;
    int torn; /* rows seen half-applied by the serving thread */
};

enum { STRESS_KEYS = 50, STRESS_UPDATES = 20000 };

static void *stress_push(void *arg)
{
    struct stress *st = arg;
    for (int i = 0; i < STRESS_UPDATES; i++) {
        char key[16], value[96];
        snprintf(key, sizeof key, "k%d", i % STRESS_KEYS);
        int n = snprintf(value, sizeof value, "{\"latency_threshold_ms\": %d, \"owner\": \"v%d\"}",
                         i, i);
        if (eddy__ktables_push(st->kt, 0, key, strlen(key), value, (size_t)n, 0, i))
            return (void *)1;
    }
    return NULL;
}

/* Whether the row's owner is "v<limit>" (or the row is absent). */
static bool whole_row(const struct eddy_table *t, const char *key, int64_t *limit)
{
    long r = eddy__table_row(t, key, strlen(key));
    if (r < 0)
        return true;
    const struct eddy_value *l = eddy__table_cell(t, (size_t)r, 1);
    const struct eddy_value *o = eddy__table_cell(t, (size_t)r, 3);
    char want[32];
    snprintf(want, sizeof want, "v%lld", (long long)l->as.i);
    *limit = l->as.i;
    return l->type == EDDY_V_INT && o->type == EDDY_V_STR && o->as.s.len == strlen(want) &&
           memcmp(o->as.s.ptr, want, o->as.s.len) == 0;
}

static void *stress_serve(void *arg)
{
    struct stress *st = arg;
    while (!atomic_load(&st->done)) {
        eddy__tables_read_lock(st->plan);
        for (int k = 0; k < STRESS_KEYS; k++) {
            char key[16];
            int64_t limit;
            snprintf(key, sizeof key, "k%d", k);
            st->torn += !whole_row(st->plan->tables[0], key, &limit);
        }
        eddy__tables_read_unlock(st->plan);
    }
    return NULL;
}

Test(table, concurrent_pushes_apply_in_order_and_readers_see_whole_rows)
{
    struct stress st = {.plan = load(TOPOLOGY)};
    const struct eddy_table *t = st.plan->tables[0];
    cr_assert_eq(eddy__ktables_new(st.plan, &st.kt), EDDY_OK);
    pthread_t pusher, server;
    cr_assert_eq(pthread_create(&server, NULL, stress_serve, &st), 0);
    cr_assert_eq(pthread_create(&pusher, NULL, stress_push, &st), 0);
    int64_t last[STRESS_KEYS];
    for (int k = 0; k < STRESS_KEYS; k++)
        last[k] = -1;
    for (int rounds = 0; rounds < 1000000; rounds++) {
        cr_assert_eq(eddy__ktables_apply(st.kt), EDDY_OK);
        for (int k = 0; k < STRESS_KEYS; k++) {
            char key[16];
            int64_t limit = -1;
            snprintf(key, sizeof key, "k%d", k);
            cr_assert(whole_row(t, key, &limit), "key %s", key);
            cr_assert_geq(limit, last[k], "key %s went back", key);
            last[k] = limit;
        }
        if (last[0] == STRESS_UPDATES - STRESS_KEYS && last[STRESS_KEYS - 1] == STRESS_UPDATES - 1)
            break;
    }
    void *pushed;
    pthread_join(pusher, &pushed);
    cr_assert_null(pushed);
    atomic_store(&st.done, 1);
    pthread_join(server, NULL);
    cr_assert_eq(st.torn, 0);
    cr_assert_eq(t->n_rows, STRESS_KEYS);
    for (int k = 0; k < STRESS_KEYS; k++)
        cr_assert_eq(last[k], STRESS_UPDATES - STRESS_KEYS + k);
    cr_assert_eq(t->stats.puts, STRESS_UPDATES);
    cr_assert_eq(eddy__ktables_queued(st.kt), 0);
    eddy__ktables_stop(st.kt);
    eddy_plan_free(st.plan);
}

Test(table, plans_without_topic_tables_need_no_queue)
{
    struct eddy_plan *plan = load("name: t\n"
                                  "source:\n"
                                  "  topic: in\n"
                                  "  timestamp: {field: ts}\n"
                                  "  fields: {service: string}\n"
                                  "tables:\n"
                                  "  services: {file: services.yaml, key: service}\n"
                                  "aggregations:\n"
                                  "  - {name: a, window: {tumbling: 1m}, metrics: {n: count()}}\n");
    struct eddy_ktables *kt = (struct eddy_ktables *)1;
    cr_assert_eq(eddy__ktables_new(plan, &kt), EDDY_OK);
    cr_assert_null(kt);
    cr_assert_eq(eddy__ktables_apply(NULL), EDDY_OK);
    cr_assert_eq(eddy__ktables_queued(NULL), 0);
    eddy__ktables_stop(NULL);
    cr_assert_null(plan->tables[0]->topic);
    cr_assert_null(plan->tables[0]->types);
    eddy_plan_free(plan);
}

Test(table, topic_table_with_a_file_starts_with_the_file_rows)
{
    struct eddy_plan *plan = load("name: t\n"
                                  "source:\n"
                                  "  topic: in\n"
                                  "  timestamp: {field: ts}\n"
                                  "  fields: {service: string}\n"
                                  "tables:\n"
                                  "  services:\n"
                                  "    topic: services-ref\n"
                                  "    key: service\n"
                                  "    file: services.yaml\n"
                                  "    columns: {team: string, latency_threshold_ms: int}\n"
                                  "aggregations:\n"
                                  "  - {name: a, window: {tumbling: 1m}, metrics: {n: count()}}\n");
    const struct eddy_table *t = plan->tables[0];
    cr_assert_str_eq(t->file, DATA "services.yaml");
    cr_assert_str_eq(t->topic, "services-ref");
    cr_assert_eq(t->n_rows, 3);
    cr_assert_eq(t->n_columns, 3);
    cr_assert_str_eq(cell(t, "search", "latency_threshold_ms"), "int:800");
    cr_assert_str_eq(cell(t, "404", "latency_threshold_ms"), "null");
    eddy_plan_free(plan);
}

/* ---- config errors ---------------------------------------------------------- */

#define HEAD                                                                                       \
    "name: t\n"                                                                                    \
    "source:\n"                                                                                    \
    "  topic: in\n"                                                                                \
    "  timestamp: {field: ts}\n"                                                                   \
    "  fields: {service: string, latency_ms: number}\n"                                            \
    "tables:\n"
#define AGG "aggregations:\n  - {name: a, window: {tumbling: 1m}, metrics: {n: count()}}\n"

static void expect_error(const char *yaml, const char *message)
{
    struct eddy_plan *plan = (struct eddy_plan *)1;
    char err[512];
    eddy_err_t rc = eddy_topology_parse(DATA "t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_expect_eq(rc, EDDY_ECONFIG, "rc %d for: %s", rc, rc ? err : "(parsed)");
    cr_expect_null(plan);
    if (rc)
        cr_expect_str_eq(err, message, "\n got: %s\nwant: %s", err, message);
}

Test(table, config_errors_name_file_line_and_key)
{
    expect_error(HEAD "  services: {topic: ref, key: service}\n" AGG,
                 DATA "t.yaml:7: tables.services: a table read from a topic needs 'columns' "
                      "(name: type)");
    expect_error(HEAD "  services: {key: service, columns: {a: int}}\n" AGG,
                 DATA "t.yaml:7: tables.services: needs 'file' or 'topic'");
    expect_error(HEAD "  services:\n"
                      "    topic: ref\n"
                      "    key: service\n"
                      "    columns:\n"
                      "      owner: string\n"
                      "      latency_threshold_ms: float\n" AGG,
                 DATA "t.yaml:12: tables.services.columns.latency_threshold_ms: unknown type "
                      "'float' (expected string, int, number or bool)");
    expect_error(HEAD "  services: {topic: ref, key: service, columns: {service: string}}\n" AGG,
                 DATA "t.yaml:7: tables.services.columns.service: 'service' is the key column: "
                      "it is the record key, not declared");
    expect_error(HEAD "  services: {topic: ref, key: service, columns: {}}\n" AGG,
                 DATA "t.yaml:7: tables.services.columns: declare at least one column (name: "
                      "type)");
    expect_error(HEAD "  services: {topic: ref, key: service, columns: {2x: int}}\n" AGG,
                 DATA "t.yaml:7: tables.services.columns.2x: invalid column name '2x' (expected "
                      "letters, digits and '_', not starting with a digit)");
    expect_error(HEAD "  services: {topic: 'bad topic', key: service, columns: {a: int}}\n" AGG,
                 DATA "t.yaml:7: tables.services.topic: invalid topic name 'bad topic' (allowed: "
                      "letters, digits, '.', '_', '-', at most 249)");
    expect_error(HEAD "  services: {topic: ref, key: service, colums: {a: int}}\n" AGG,
                 DATA "t.yaml:7: tables.services.colums: unknown key (did you mean "
                      "'columns'?)");
    expect_error(HEAD "  services: {topic: ref, key: service, columns: {limit_ms: int}}\n"
                      "derive:\n"
                      "  slow: latency_ms > services.latency_threshold_ms\n" AGG,
                 DATA "t.yaml:9: derive.slow: table 'services' has no column "
                      "'latency_threshold_ms' at column 23");
    expect_error(HEAD "  services:\n"
                      "    topic: ref\n"
                      "    key: service\n"
                      "    file: services.yaml\n"
                      "    columns: {team: int}\n" AGG,
                 DATA "services.yaml:3: services[0].team: expected int, got string 'identity'");
    expect_error(HEAD "  services: {topic: ref, key: service, file: nope.yaml, columns: {a: int}}\n"
                     AGG,
                 DATA "t.yaml:7: tables.services.file: cannot read '" DATA
                      "nope.yaml': No such file or directory");
}

Test(table, declared_columns_parse_under_allocation_failures)
{
    const char *yaml = HEAD "  services:\n"
                            "    topic: ref\n"
                            "    key: service\n"
                            "    file: services.yaml\n"
                            "    columns: {team: string, latency_threshold_ms: int}\n"
                            "derive:\n"
                            "  slow: latency_ms > services.latency_threshold_ms\n" AGG;
    int successes = 0, failures = 0;
    for (unsigned long n = 1; n < 3000 && successes < 10; n++) {
        struct eddy_plan *plan = NULL;
        char err[512];
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy_topology_parse(DATA "t.yaml", yaml, strlen(yaml), &plan, err,
                                            sizeof err);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            cr_assert_eq(plan->tables[0]->n_rows, 3);
            eddy_plan_free(plan);
            successes++;
        } else {
            cr_assert_eq(rc, EDDY_ENOMEM, "n=%lu: %s", n, err);
            cr_assert_null(plan);
            failures++;
        }
    }
    cr_assert_eq(successes, 10);
    cr_assert_gt(failures, 20);
}
