/*
 * The prepared path of the window store (eddy__window_prepare_key, _row,
 * _args, then eddy__window_add_prepared: what a task runs for aggregations
 * without a where filter, before its dedup check) against the one-call
 * eddy__window_add (what it runs for the others), through whole tasks: two
 * aggregations that differ only by an always-true where filter must emit
 * the same rows. Also the exact rows of a small input, and
 * eddy__expr_slot, which lets plain-field arguments skip the evaluator.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/expr.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "plan_from.h"
#include "runtime/task.h"

/* Results of aggregation "p" and of "u" (without their "aggregation"
 * member, keys sorted), one per line, and the dead letter reasons. */
struct collector {
    struct eddy_buf p, u, dead;
};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic, const char *key,
                          size_t key_len, const char *value, size_t value_len)
{
    struct collector *c = ctx;
    (void)topic;
    (void)key;
    (void)key_len;
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    cr_assert(doc, "output is not JSON: %.*s", (int)value_len, value);
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->dead, "%s ", json_string_value(json_object_get(doc, "reason")));
    } else if (kind == EDDY_OUT_RESULT) {
        const char *agg = json_string_value(json_object_get(doc, "aggregation"));
        cr_assert(agg && (strcmp(agg, "p") == 0 || strcmp(agg, "u") == 0));
        struct eddy_buf *rows = strcmp(agg, "p") == 0 ? &c->p : &c->u;
        json_object_del(doc, "aggregation"); /* frees agg */
        char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
        eddy_buf_printf(rows, "%s\n", text);
        free(text);
    }
    json_decref(doc);
    return EDDY_OK;
}

static void run(const char *yaml, char *const *records, size_t n, struct collector *c)
{
    struct eddy_plan *plan = plan_from(yaml);
    struct eddy_output out = {collect, c};
    struct eddy_task *task;
    eddy_buf_init(&c->p);
    eddy_buf_init(&c->u);
    eddy_buf_init(&c->dead);
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(eddy__task_process(task, records[i], strlen(records[i]), (int64_t)i, false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    eddy_buf_putc(&c->p, '\0');
    eddy_buf_putc(&c->u, '\0');
    eddy_buf_putc(&c->dead, '\0');
    eddy__task_free(task);
    eddy_plan_free(plan);
}

static void collector_release(struct collector *c)
{
    eddy_buf_release(&c->p);
    eddy_buf_release(&c->u);
    eddy_buf_release(&c->dead);
}

/* Both aggregations: a derived group key, plain-field and expression
 * arguments, a sketch and a distinct count; "u" differs by its filter. */
#define AGG(name, where)                                                                           \
    "  - name: " name "\n"                                                                         \
    "    group_by: [k, big]\n"                                                                     \
    "    window: {hopping: 20ms, advance: 10ms}\n" where                                           \
    "    metrics: {n: count(), s: sum(v * 2), m: max(v), q: 'quantile(v, 0.5)', d: "               \
    "distinct(g), r: ratio(big), c: count_if(v > 3)}\n"

static const char *const TOPOLOGY =
    "name: t\n"
    "source:\n"
    "  topic: input\n"
    "  timestamp: {field: t, format: unix_ms}\n"
    "  fields: {k: string, g: int, v: number, id: string}\n"
    "dedup: {field: id, within: 1h}\n"
    "grace: 5ms\n"
    "derive:\n"
    "  big: v > 10\n"
    "aggregations:\n" AGG("p", "") AGG("u", "    where: v > -1000\n");

/* Many keys (the row tables grow and probe past other keys), duplicates
 * and late records: every row of "p" equals that of "u". */
Test(window_prepare, prepared_aggregation_emits_what_one_call_add_emits)
{
    enum { N = 3000 };
    static char text[N][160];
    char *records[N];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long long t = (long long)(i / 10) - (long long)(x >> 59);    /* some late */
        unsigned id = i % 97 == 5 ? (unsigned)(i - 1) : (unsigned)i; /* some duplicates */
        snprintf(text[i], sizeof text[i],
                 "{\"k\":\"key-%llu\",\"g\":%llu,\"v\":%llu.5,\"id\":\"r%u\",\"t\":%lld}",
                 (unsigned long long)(x >> 32) % 150, (unsigned long long)(x >> 20) % 40,
                 (unsigned long long)(x >> 8) % 30, id, t < 0 ? 0 : t);
        records[i] = text[i];
    }
    struct collector c;
    run(TOPOLOGY, records, N, &c);
    size_t rows = 0;
    for (const char *s = c.p.data; *s; s++)
        rows += *s == '\n';
    cr_expect_gt(rows, 1000u, "only %zu rows", rows);
    /* (not cr_expect_str_eq: criterion cannot pass messages this long) */
    size_t at = 0;
    while (c.p.data[at] && c.p.data[at] == c.u.data[at])
        at++;
    cr_expect(c.p.data[at] == c.u.data[at], "rows differ at byte %zu: %.80s | %.80s", at,
              c.p.data + at, c.u.data + at);
    cr_expect_neq(strstr(c.dead.data, "late"), NULL, "no late record in %s", c.dead.data);
    collector_release(&c);
}

/* The exact rows of a small input; the duplicate (id r1 again) and the late
 * record count nowhere. */
Test(window_prepare, prepared_aggregation_exact_rows)
{
    char *records[] = {
        "{\"k\":\"a\",\"g\":1,\"v\":2,\"id\":\"r1\",\"t\":1}",
        "{\"k\":\"a\",\"g\":2,\"v\":12,\"id\":\"r2\",\"t\":2}",
        "{\"k\":\"a\",\"g\":2,\"v\":4,\"id\":\"r3\",\"t\":12}",
        "{\"k\":\"a\",\"g\":9,\"v\":100,\"id\":\"r1\",\"t\":13}",
        "{\"k\":\"b\",\"g\":1,\"v\":1,\"id\":\"r4\",\"t\":40}",
        "{\"k\":\"a\",\"g\":1,\"v\":1,\"id\":\"r5\",\"t\":3}",
    };
    struct collector c;
    run(TOPOLOGY, records, sizeof records / sizeof records[0], &c);
    const char *expected =
#define ROW(start, end, k, big, metrics)                                                           \
    "{\"final\":true,\"key\":{\"big\":" big ",\"k\":\"" k "\"},\"metrics\":{" metrics              \
    "},\"window\":{\"end\":\"1970-01-01T00:00:00" end "Z\",\"start\":\"1970-01-01T00:00:00" start  \
    "Z\"}}\n"
        ROW("", ".020", "a", "false",
            "\"c\":1,\"d\":2,\"d_error\":0,\"m\":4,\"n\":2,\"q\":2,\"q_error\":0.01,\"r\":0,"
            "\"s\":12") ROW("", ".020", "a", "true",
                            "\"c\":1,\"d\":1,\"d_error\":0,\"m\":12,\"n\":1,\"q\":12,\"q_error\":0."
                            "01,\"r\":1,"
                            "\"s\":24")
            ROW(".010", ".030", "a", "false",
                "\"c\":1,\"d\":1,\"d_error\":0,\"m\":4,\"n\":1,\"q\":4,\"q_error\":0.01,\"r\":0,"
                "\"s\":8") ROW(".030", ".050", "b", "false",
                               "\"c\":0,\"d\":1,\"d_error\":0,\"m\":1,\"n\":1,\"q\":1,\"q_error\":"
                               "0.01,\"r\":0,"
                               "\"s\":2") ROW(".040", ".060", "b", "false",
                                              "\"c\":0,\"d\":1,\"d_error\":0,\"m\":1,\"n\":1,\"q\":"
                                              "1,\"q_error\":0.01,\"r\":0,"
                                              "\"s\":2");
#undef ROW
    cr_expect_str_eq(c.p.data, expected);
    cr_expect_str_eq(c.u.data, expected);
    cr_expect_str_eq(c.dead.data, "late ");
    collector_release(&c);
}

/* A plain field (also in parentheses) is its slot; anything else is not. */
Test(window_prepare, expr_slot_only_for_plain_fields)
{
    static const char *const names[] = {"a", "b", "c"};
    struct eddy_expr_scope scope = {names, 3, NULL, 0};
    static const struct {
        const char *text;
        size_t slot;
    } cases[] = {
        {"a", 0},         {"c", 2},        {"(b)", 1},        {"b + 0", SIZE_MAX},
        {"-a", SIZE_MAX}, {"1", SIZE_MAX}, {"'b'", SIZE_MAX}, {"not c", SIZE_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct eddy_expr *e;
        char err[256];
        cr_assert_eq(eddy__expr_compile(cases[i].text, &scope, &e, err, sizeof err), EDDY_OK,
                     "%s: %s", cases[i].text, err);
        cr_expect_eq(eddy__expr_slot(e), cases[i].slot, "%s", cases[i].text);
        eddy__expr_free(e);
    }
}
