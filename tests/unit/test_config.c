/*
 * test_config.c - the topology loader: a full topology into the exact plan,
 * one test per class of error with its exact "file:line: key: message", the
 * exact `eddy validate` text of a small topology, and allocation failures.
 *
 * Fixtures live in tests/unit/data/config/; every test runs with the project
 * root as working directory so that paths in messages are relative.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/expr.h"
#include "config/table.h"
#include "core/alloc.h"
#include "eddy/topology.h"

#ifndef EDDY_SOURCE_DIR
#define EDDY_SOURCE_DIR "."
#endif

#define DATA "tests/unit/data/config/"

static void enter_root(void)
{
    cr_assert_eq(chdir(EDDY_SOURCE_DIR), 0);
}

TestSuite(config, .init = enter_root);

static struct eddy_plan *load_ok(const char *path)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    eddy_err_t rc = eddy_topology_load(path, &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "%s", err);
    return plan;
}

static void expect_error(const char *name, const char *yaml, eddy_err_t code, const char *message)
{
    struct eddy_plan *plan = (struct eddy_plan *)1;
    char err[512];
    eddy_err_t rc = eddy_topology_parse(name, yaml, strlen(yaml), &plan, err, sizeof err);
    cr_expect_eq(rc, code, "rc %d for: %s", rc, rc ? err : "(parsed)");
    cr_expect_null(plan);
    if (rc)
        cr_expect_str_eq(err, message, "\n got: %s\nwant: %s", err, message);
}

static struct eddy_value eval_event(const struct eddy_expr *e, const struct eddy_value *slots)
{
    struct eddy_eval_ctx ctx = {slots};
    struct eddy_value out;
    eddy_expr_eval(e, &ctx, &out);
    return out;
}

Test(config, full_topology_parses_into_the_exact_plan)
{
    struct eddy_plan *plan = load_ok(DATA "full.yaml");
    cr_assert_str_eq(plan->file, DATA "full.yaml");
    cr_assert_str_eq(plan->name, "service-health");
    cr_assert_eq(plan->processing, EDDY_EXACTLY_ONCE);

    const struct eddy_source *src = &plan->source;
    cr_assert_str_eq(src->topic, "service-logs");
    cr_assert_str_eq(src->ts_path, "meta.ts");
    cr_assert_eq(src->ts_format, EDDY_TS_UNIX_MS);
    cr_assert_eq(src->max_event_bytes, 512 * 1024);
    cr_assert_eq(src->n_fields, 9);
    static const struct {
        const char *name, *path;
        enum eddy_field_type type;
        bool required;
        int line;
    } fields[] = {
        {"service", "service", EDDY_FT_STRING, true, 10},
        {"status_code", "status_code", EDDY_FT_INT, true, 11},
        {"latency_ms", "latency_ms", EDDY_FT_NUMBER, true, 12},
        {"error", "error", EDDY_FT_BOOL, true, 13},
        {"request_id", "request_id", EDDY_FT_STRING, true, 14},
        {"user_id", "user_id", EDDY_FT_STRING, true, 15},
        {"bytes_out", "bytes_out", EDDY_FT_INT, true, 16},
        {"tenant_id", "tenant_id", EDDY_FT_STRING, false, 17},
        {"device", "properties.device_type", EDDY_FT_STRING, false, 18},
    };
    for (size_t i = 0; i < 9; i++) {
        cr_assert_str_eq(src->fields[i].name, fields[i].name);
        cr_assert_str_eq(src->fields[i].path, fields[i].path);
        cr_assert_eq(src->fields[i].type, fields[i].type, "field %zu", i);
        cr_assert_eq(src->fields[i].required, fields[i].required, "field %zu", i);
        cr_assert_eq(src->fields[i].line, fields[i].line, "field %zu", i);
        cr_assert_eq(eddy_plan_slot(plan, fields[i].name), (long)i);
    }

    cr_assert(plan->dedup.enabled);
    cr_assert_str_eq(plan->dedup.field, "request_id");
    cr_assert_eq(plan->dedup.slot, 4);
    cr_assert_eq(plan->dedup.within_ms, 600000);
    cr_assert_eq(plan->grace_ms, 120000);

    cr_assert_eq(plan->n_tables, 1);
    const struct eddy_table *t = plan->tables[0];
    cr_assert_str_eq(t->name, "services");
    cr_assert_str_eq(t->key, "service");
    cr_assert_str_eq(t->file, DATA "services.yaml");
    cr_assert_eq(t->n_rows, 3);
    cr_assert_eq(t->n_columns, 5);
    const struct eddy_value *v = eddy_table_get(t, "auth-service", 12, "error_budget");
    cr_assert(v && v->type == EDDY_V_NUM && v->as.n == 0.001);
    v = eddy_table_get(t, "auth-service", 12, "latency_threshold_ms");
    cr_assert(v && v->type == EDDY_V_INT && v->as.i == 300);
    v = eddy_table_get(t, "search", 6, "critical");
    cr_assert(v && v->type == EDDY_V_BOOL && !v->as.b);
    v = eddy_table_get(t, "404", 3, "team"); /* quoted: a string */
    cr_assert(v && v->type == EDDY_V_STR && v->as.s.len == 2 && memcmp(v->as.s.ptr, "12", 2) == 0);
    v = eddy_table_get(t, "404", 3, "error_budget");
    cr_assert(v && v->type == EDDY_V_NUM && v->as.n == 0.01);
    v = eddy_table_get(t, "404", 3, "critical"); /* absent cell */
    cr_assert(v && v->type == EDDY_V_NULL);

    cr_assert_eq(plan->n_derives, 2);
    cr_assert_eq(plan->n_slots, 11);
    cr_assert_str_eq(plan->derives[0].name, "is_error");
    cr_assert_eq(plan->derives[0].slot, 9);
    cr_assert_eq(plan->derives[0].line, 24);
    cr_assert_str_eq(eddy_expr_source(plan->derives[0].expr), "status_code >= 500");
    cr_assert_str_eq(plan->derives[1].name, "is_slow");
    cr_assert_eq(eddy_plan_slot(plan, "is_slow"), 10);
    cr_assert_eq(eddy_plan_slot(plan, "nope"), -1);

    /* evaluate the derives over one event */
    struct eddy_value ev[11] = {0};
    ev[0] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"auth-service", 12}};
    ev[1] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 503};
    ev[2] = (struct eddy_value){.type = EDDY_V_NUM, .as.n = 350.0};
    struct eddy_value r = eval_event(plan->derives[0].expr, ev);
    cr_assert(r.type == EDDY_V_BOOL && r.as.b);
    r = eval_event(plan->derives[1].expr, ev);
    cr_assert(r.type == EDDY_V_BOOL && r.as.b, "350 > threshold 300");

    cr_assert_eq(plan->n_aggregations, 3);
    const struct eddy_aggregation *a = &plan->aggregations[0];
    cr_assert_str_eq(a->name, "service_1m");
    cr_assert_eq(a->n_group, 1);
    cr_assert_str_eq(a->group_names[0], "service");
    cr_assert_eq(a->group_slots[0], 0);
    cr_assert_str_eq(eddy_expr_source(a->where), "status_code != 0");
    cr_assert_eq(a->window.kind, EDDY_WIN_TUMBLING);
    cr_assert_eq(a->window.size_ms, 60000);
    cr_assert_eq(a->window.advance_ms, 60000);
    cr_assert_not(a->emit.updates);
    cr_assert_str_eq(a->output_topic, "service-health-1m");
    cr_assert_eq(a->line, 27);
    static const struct {
        const char *name;
        enum eddy_metric_kind kind;
        const char *arg;
    } metrics[] = {
        {"requests", EDDY_M_COUNT, NULL},          {"errors", EDDY_M_COUNT_IF, "is_error"},
        {"error_rate", EDDY_M_RATIO, "is_error"},  {"total", EDDY_M_SUM, "bytes_out"},
        {"lo", EDDY_M_MIN, "latency_ms"},          {"hi", EDDY_M_MAX, "latency_ms"},
        {"latency_avg", EDDY_M_AVG, "latency_ms"}, {"latency_p95", EDDY_M_QUANTILE, "latency_ms"},
        {"users", EDDY_M_DISTINCT, "user_id"},
    };
    cr_assert_eq(a->n_metrics, 9);
    for (size_t i = 0; i < 9; i++) {
        cr_assert_str_eq(a->metrics[i].name, metrics[i].name);
        cr_assert_eq(a->metrics[i].kind, metrics[i].kind, "metric %zu", i);
        if (metrics[i].arg)
            cr_assert_str_eq(eddy_expr_source(a->metrics[i].arg), metrics[i].arg);
        else
            cr_assert_null(a->metrics[i].arg);
    }
    cr_assert_eq(a->metrics[7].q, 0.95);
    cr_assert_eq(a->metrics[0].line, 33);

    a = &plan->aggregations[1];
    cr_assert_eq(a->n_group, 2);
    cr_assert_eq(a->group_slots[0], 7);
    cr_assert_eq(a->group_slots[1], 0);
    cr_assert_null(a->where);
    cr_assert_eq(a->window.kind, EDDY_WIN_HOPPING);
    cr_assert_eq(a->window.size_ms, 300000);
    cr_assert_eq(a->window.advance_ms, 60000);
    cr_assert(a->emit.updates);
    cr_assert_eq(a->emit.update_interval_ms, 5000);
    cr_assert_str_eq(a->output_topic, "service-health-tenant_5m"); /* the default */
    cr_assert_str_eq(eddy_expr_source(a->metrics[0].arg), "is_slow and not error");

    a = &plan->aggregations[2];
    cr_assert_eq(a->n_group, 0);
    cr_assert_eq(a->window.kind, EDDY_WIN_SESSION);
    cr_assert_eq(a->window.gap_ms, 1800000);

    cr_assert_eq(plan->n_alerts, 2);
    cr_assert_str_eq(plan->alerts[0].name, "error_budget_burn");
    cr_assert_eq(plan->alerts[0].aggregation, 0);
    cr_assert_str_eq(plan->alerts[0].output_topic, "slo-alerts");
    cr_assert_eq(plan->alerts[1].aggregation, 1);
    cr_assert_str_eq(plan->alerts[1].output_topic, "service-health-alerts"); /* the default */
    /* alert scope: group_by values, then metrics in order */
    struct eddy_value out[10] = {0};
    out[0] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"auth-service", 12}};
    out[3] = (struct eddy_value){.type = EDDY_V_NUM, .as.n = 0.02};
    r = eval_event(plan->alerts[0].when, out);
    cr_assert(r.type == EDDY_V_BOOL && r.as.b, "0.02 > 0.001 * 14.4");
    out[3].as.n = 0.01;
    r = eval_event(plan->alerts[0].when, out);
    cr_assert(r.type == EDDY_V_BOOL && !r.as.b);

    cr_assert_eq(plan->n_kafka, 3);
    cr_assert_str_eq(plan->kafka[0].key, "session.timeout.ms");
    cr_assert_str_eq(plan->kafka[0].value, "6000");
    cr_assert_str_eq(plan->kafka[1].value, "true");
    cr_assert_str_eq(plan->kafka[2].value, "eddy-test");
    eddy_plan_free(plan);
}

/* A valid base: the tests below vary one part of it. Lines:
 * 1 name, 2 source, 3 topic, 4 timestamp, 5 fields, 6 service, 7 code,
 * 8 aggregations, 9 - name, 10 window, 11 metrics, 12 n. */
#define HEAD                                                                                       \
    "name: t\n"                                                                                    \
    "source:\n"                                                                                    \
    "  topic: in\n"                                                                                \
    "  timestamp: {field: ts}\n"                                                                   \
    "  fields:\n"                                                                                  \
    "    service: string\n"                                                                        \
    "    code: int\n"
#define AGG                                                                                        \
    "aggregations:\n"                                                                              \
    "  - name: a\n"                                                                                \
    "    window: {tumbling: 1m}\n"                                                                 \
    "    metrics:\n"                                                                               \
    "      n: count()\n"

Test(config, minimal_topology_gets_defaults)
{
    struct eddy_plan *plan;
    char err[256];
    const char *yaml = HEAD AGG;
    cr_assert_eq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err), EDDY_OK,
                 "%s", err);
    cr_assert_eq(plan->processing, EDDY_EXACTLY_ONCE);
    cr_assert_eq(plan->source.ts_format, EDDY_TS_RFC3339);
    cr_assert_eq(plan->source.max_event_bytes, 1048576);
    cr_assert_not(plan->dedup.enabled);
    cr_assert_eq(plan->grace_ms, 0);
    cr_assert_eq(plan->n_tables + plan->n_derives + plan->n_alerts + plan->n_kafka, 0);
    cr_assert_eq(plan->n_slots, 2);
    cr_assert(plan->source.fields[1].required);
    eddy_plan_free(plan);
}

Test(config, unknown_key_is_named_with_a_suggestion)
{
    expect_error("t.yaml", HEAD AGG "grase: 1m\n", EDDY_ECONFIG,
                 "t.yaml:13: grase: unknown key (did you mean 'grace'?)");
    expect_error("t.yaml", HEAD AGG "    emitt: final\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].emitt: unknown key (did you mean 'emit'?)");
    expect_error("t.yaml", HEAD AGG "    colour: red\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].colour: unknown key");
    expect_error(
        "t.yaml", "name: t\nsource:\n  topic: in\n  timestamp: {field: ts, fromat: unix_s}\n",
        EDDY_ECONFIG, "t.yaml:4: source.timestamp.fromat: unknown key (did you mean 'format'?)");
}

Test(config, missing_required_key)
{
    expect_error("t.yaml", "source:\n  topic: x\n", EDDY_ECONFIG,
                 "t.yaml:1: name: missing required key");
    expect_error("t.yaml", "name: t\nsource:\n  timestamp: {field: ts}\n", EDDY_ECONFIG,
                 "t.yaml:3: source.topic: missing required key");
    expect_error("t.yaml", HEAD, EDDY_ECONFIG, "t.yaml:1: aggregations: missing required key");
    expect_error("t.yaml", HEAD "aggregations:\n  - name: a\n    metrics: {n: count()}\n",
                 EDDY_ECONFIG, "t.yaml:9: aggregations[0].window: missing required key");
    expect_error("t.yaml", HEAD "aggregations: []\n", EDDY_ECONFIG,
                 "t.yaml:8: aggregations: at least one aggregation is needed");
}

Test(config, wrong_node_kinds)
{
    expect_error("t.yaml", "- a\n- b\n", EDDY_ECONFIG,
                 "t.yaml:1: (top level): expected a mapping, got a sequence");
    expect_error("t.yaml", "name: [t]\n", EDDY_ECONFIG,
                 "t.yaml:1: name: expected a scalar, got a sequence");
    expect_error("t.yaml", HEAD "aggregations: {a: 1}\n", EDDY_ECONFIG,
                 "t.yaml:8: aggregations: expected a sequence of aggregations, got a mapping");
    expect_error("t.yaml", "", EDDY_ECONFIG, "t.yaml:1: (top level): empty document");
}

Test(config, bad_values)
{
    expect_error("t.yaml", HEAD AGG "grace: 5 minutes\n", EDDY_ECONFIG,
                 "t.yaml:13: grace: bad duration '5 minutes' (expected e.g. 500ms, 30s, 5m, "
                 "1h30m, 1d)");
    expect_error("t.yaml", "name: my topology\n", EDDY_ECONFIG,
                 "t.yaml:1: name: invalid name 'my topology' (allowed: letters, digits, '.', "
                 "'_', '-', at most 200)");
    expect_error("t.yaml", HEAD AGG "processing: twice\n", EDDY_ECONFIG,
                 "t.yaml:13: processing: unknown processing mode 'twice' (expected exactly_once "
                 "or at_least_once)");
    expect_error("t.yaml", "name: t\nsource:\n  topic: in\n  max_event_bytes: 1TB\n", EDDY_ECONFIG,
                 "t.yaml:4: source.max_event_bytes: bad size '1TB' (expected e.g. 65536, 512KB, "
                 "1MB)");
    expect_error("t.yaml", "name: t\nsource:\n  topic: in\n  format: avro\n", EDDY_ECONFIG,
                 "t.yaml:4: source.format: unsupported format 'avro' (only json is supported)");
    expect_error("t.yaml", "name: t\nsource:\n  topic: in\n  timestamp: {field: ts, format: iso}\n",
                 EDDY_ECONFIG,
                 "t.yaml:4: source.timestamp.format: unknown timestamp format 'iso' (expected "
                 "rfc3339, unix_s or unix_ms)");
    expect_error("t.yaml", HEAD AGG "    output: {topic: 'a b'}\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].output.topic: invalid topic name 'a b' (allowed: "
                 "letters, digits, '.', '_', '-', at most 249)");
}

Test(config, unknown_field_type)
{
    expect_error("t.yaml", HEAD "    latency: integer\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: source.fields.latency: unknown type 'integer' (expected string, int, "
                 "number or bool)");
    expect_error("t.yaml", HEAD "    latency: {type: nmber}\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: source.fields.latency.type: unknown type 'nmber' (expected string, "
                 "int, number or bool; did you mean 'number'?)");
    expect_error("t.yaml", HEAD "    latency: {type: int, required: maybe}\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: source.fields.latency.required: expected true or false, got 'maybe'");
}

Test(config, unknown_window_kind)
{
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {tumble: 1m}\n    metrics: {n: "
                      "count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].window: unknown window kind 'tumble' (expected "
                 "tumbling, hopping or session)");
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {tumbling: 1m, session: 5m}\n    "
                      "metrics: {n: count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].window: more than one window kind ('tumbling' and "
                 "'session')");
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {tumbling: 0s}\n    metrics: {n: "
                      "count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].window.tumbling: duration must be greater than 0");
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {tumbling: 1m, advance: 1m}\n    "
                      "metrics: {n: count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].window.advance: only hopping windows take 'advance'");
}

Test(config, hopping_advance_must_not_exceed_size)
{
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {hopping: 1m, advance: 2m}\n    "
                      "metrics: {n: count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].window.advance: advance 2m is larger than the "
                 "window size 1m");
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    window: {hopping: 1m}\n    "
                      "metrics: {n: count()}\n",
                 EDDY_ECONFIG, "t.yaml:10: aggregations[0].window.advance: missing required key");
}

Test(config, duplicate_names)
{
    expect_error("t.yaml",
                 HEAD AGG "  - name: a\n    window: {tumbling: 5m}\n    metrics: {n: "
                          "count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:13: aggregations[1].name: duplicate aggregation name 'a' (first at line "
                 "9)");
    expect_error("t.yaml", HEAD "    code: string\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: source.fields.code: duplicate key (first defined at line 7)");
    expect_error("t.yaml", HEAD AGG "      n: sum(code)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.n: duplicate key (first defined at line "
                 "12)");
    expect_error("t.yaml",
                 HEAD AGG "alerts:\n  - {name: x, on: a, when: n > 1}\n  - {name: x, on: a, when: "
                          "n > 2}\n",
                 EDDY_ECONFIG,
                 "t.yaml:15: alerts[1].name: duplicate alert name 'x' (first at line 14)");
}

Test(config, names_must_not_clash_with_fields)
{
    expect_error("t.yaml", HEAD "derive:\n  code: 1\n" AGG, EDDY_ECONFIG,
                 "t.yaml:9: derive.code: name clashes with field 'code' (line 7)");
    expect_error("t.yaml", HEAD "derive:\n  x: 1\n" AGG "      x: count()\n", EDDY_ECONFIG,
                 "t.yaml:15: aggregations[0].metrics.x: name clashes with derived field 'x' "
                 "(line 9)");
    expect_error("t.yaml", HEAD AGG "      service: count()\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.service: name clashes with field "
                 "'service' (line 6)");
    expect_error("t.yaml", HEAD "    and: int\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: source.fields.and: 'and' is a reserved word");
}

Test(config, unknown_field_in_group_by_or_dedup)
{
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    group_by: [servce]\n    window: {tumbling: "
                      "1m}\n    metrics: {n: count()}\n",
                 EDDY_ECONFIG,
                 "t.yaml:10: aggregations[0].group_by[0]: unknown field 'servce' (did you mean "
                 "'service'?)");
    expect_error("t.yaml",
                 HEAD "aggregations:\n  - name: a\n    group_by: [code, code]\n    window: "
                      "{tumbling: 1m}\n    metrics: {n: count()}\n",
                 EDDY_ECONFIG, "t.yaml:10: aggregations[0].group_by[1]: 'code' is listed twice");
    expect_error("t.yaml", HEAD "dedup: {field: request_id, within: 10m}\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: dedup.field: unknown field 'request_id' (dedup needs a declared "
                 "source field)");
    expect_error("t.yaml", HEAD "dedup: {field: code}\n" AGG, EDDY_ECONFIG,
                 "t.yaml:8: dedup.within: missing required key");
}

Test(config, metric_errors)
{
    expect_error("t.yaml", HEAD AGG "      e: count_if(code >= 500 and servce == 'x')\n",
                 EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: unknown name 'servce' at column 17");
    expect_error("t.yaml", HEAD AGG "      e: mean(code)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: unknown metric function 'mean' (expected "
                 "count, count_if, sum, min, max, avg, ratio, quantile, distinct, top_k, arg_max or "
                 "arg_min)");
    expect_error("t.yaml", HEAD AGG "      e: quantile(code, 1.5)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: quantile q must be a number in [0, 1], "
                 "got '1.5'");
    expect_error("t.yaml", HEAD AGG "      e: quantile(code)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: quantile() takes 2 arguments (an "
                 "expression and q in [0, 1]), got 1");
    expect_error("t.yaml", HEAD AGG "      e: count(code)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: count() takes no argument, got 1");
    expect_error("t.yaml", HEAD AGG "      e: sum\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: expected a metric call like count() or "
                 "avg(latency_ms), got 'sum'");
    expect_error("t.yaml", HEAD AGG "      e: sum((code)\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].metrics.e: unbalanced parentheses or quotes in "
                 "'sum((code)'");
    expect_error("t.yaml", HEAD AGG "    where: code >\n", EDDY_ECONFIG,
                 "t.yaml:13: aggregations[0].where: expected a value at column 7");
}

Test(config, metric_arguments_keep_commas_inside_strings_and_parentheses)
{
    struct eddy_plan *plan;
    char err[256];
    const char *yaml = HEAD AGG "      c: count_if(service == 'a,b' or (code, 1) == 2)\n"
                                "      q: quantile((code + 1) * 2, .5)\n";
    eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    /* "(code, 1)" is not an expression: the first call must fail in the
     * expression compiler, not in argument splitting */
    cr_assert_eq(rc, EDDY_ECONFIG);
    cr_assert_str_eq(err,
                     "t.yaml:13: aggregations[0].metrics.c: unexpected character ',' at column 26");
    yaml = HEAD AGG "      c: count_if(service == 'a,b)' or code == 2)\n"
                    "      q: quantile((code + 1) * 2, .5)\n";
    rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "%s", err);
    const struct eddy_aggregation *a = &plan->aggregations[0];
    cr_assert_str_eq(eddy_expr_source(a->metrics[1].arg), "service == 'a,b)' or code == 2");
    cr_assert_str_eq(eddy_expr_source(a->metrics[2].arg), "(code + 1) * 2");
    cr_assert_eq(a->metrics[2].q, 0.5);
    eddy_plan_free(plan);
}

Test(config, alert_errors)
{
    expect_error("t.yaml", HEAD AGG "alerts:\n  - {name: x, on: b, when: n > 1}\n", EDDY_ECONFIG,
                 "t.yaml:14: alerts[0].on: unknown aggregation 'b'");
    /* alerts see group_by values and metrics, not event fields */
    expect_error("t.yaml", HEAD AGG "alerts:\n  - {name: x, on: a, when: code > 1}\n", EDDY_ECONFIG,
                 "t.yaml:14: alerts[0].when: unknown name 'code' at column 1");
    expect_error("t.yaml", HEAD AGG "alerts:\n  - {name: x, on: a}\n", EDDY_ECONFIG,
                 "t.yaml:14: alerts[0].when: missing required key (or burn_rate)");
}

Test(config, table_reference_needs_its_key_in_scope)
{
    const char *yaml = HEAD "tables:\n  services: {file: services.yaml, key: service}\n" AGG
                            "alerts:\n  - {name: x, on: a, when: n > services.error_budget}\n";
    expect_error(DATA "t.yaml", yaml, EDDY_ECONFIG,
                 DATA "t.yaml:16: alerts[0].when: table 'services' is keyed by 'service', which "
                      "is not in scope here at column 5");
    yaml = HEAD "tables:\n  services: {file: services.yaml, key: service}\n"
                "derive:\n  slow: code > services.nope\n" AGG;
    expect_error(DATA "t.yaml", yaml, EDDY_ECONFIG,
                 DATA "t.yaml:11: derive.slow: table 'services' has no column 'nope' at column "
                      "17");
}

Test(config, bad_table_files)
{
    expect_error(DATA "t.yaml",
                 HEAD "tables:\n  services: {file: missing.yaml, key: service}\n" AGG, EDDY_ECONFIG,
                 DATA "t.yaml:9: tables.services.file: cannot read '" DATA
                      "missing.yaml': No such file or directory");
    expect_error(
        DATA "t.yaml", HEAD "tables:\n  services: {file: nokey_services.yaml, key: service}\n" AGG,
        EDDY_ECONFIG, DATA "nokey_services.yaml:3: services[1]: row has no key column 'service'");
    expect_error(DATA "t.yaml",
                 HEAD "tables:\n  services: {file: dup_services.yaml, key: service}\n" AGG,
                 EDDY_ECONFIG,
                 DATA "dup_services.yaml:5: services[2].service: duplicate key 'auth-service' "
                      "(first at line 1)");
    expect_error(DATA "t.yaml",
                 HEAD "tables:\n  services: {file: notlist_services.yaml, key: service}\n" AGG,
                 EDDY_ECONFIG,
                 DATA "notlist_services.yaml:1: services: expected a sequence of rows, got a "
                      "mapping");
    expect_error(DATA "t.yaml",
                 HEAD "tables:\n  services: {file: nested_services.yaml, key: service}\n" AGG,
                 EDDY_ECONFIG,
                 DATA "nested_services.yaml:2: services[0].team: expected a scalar, got a "
                      "sequence");
    expect_error(DATA "t.yaml", HEAD "tables:\n  services: {file: full.yaml, key: service}\n" AGG,
                 EDDY_ECONFIG,
                 DATA "full.yaml:2: services: expected a sequence of rows, got a mapping");
}

Test(config, yaml_syntax_error_names_the_line)
{
    expect_error("t.yaml", "name: t\nsource:\n  topic: in\n   bad: [\n", EDDY_ECONFIG,
                 "t.yaml:4: yaml syntax error: mapping values are not allowed in this context");
    expect_error("t.yaml", "name: t\nsource: {topic: in\n", EDDY_ECONFIG,
                 "t.yaml:3: yaml syntax error: did not find expected ',' or '}' (while parsing a "
                 "flow mapping at line 2)");
    expect_error("t.yaml", "a: &x [1]\nb: *x\n", EDDY_ECONFIG,
                 "t.yaml:1: (top level): YAML aliases are not supported");
    expect_error("t.yaml", "name: t\n---\nname: u\n", EDDY_ECONFIG,
                 "t.yaml:2: (top level): more than one YAML document");
}

Test(config, unreadable_topology_is_an_io_error)
{
    struct eddy_plan *plan = (struct eddy_plan *)1;
    char err[256];
    cr_assert_eq(eddy_topology_load(DATA "nope.yaml", &plan, err, sizeof err), EDDY_EIO);
    cr_assert_null(plan);
    cr_assert_str_eq(err, "cannot read topology '" DATA "nope.yaml': No such file or directory");
}

static char *print_plan(const struct eddy_plan *plan)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    eddy_plan_print(plan, f);
    fclose(f);
    return text;
}

Test(config, plan_print_is_exact)
{
    const char *yaml = "name: shop\n"
                       "processing: at_least_once\n"
                       "source:\n"
                       "  topic: orders\n"
                       "  max_event_bytes: 4096\n"
                       "  timestamp: {field: ts, format: unix_s}\n"
                       "  fields:\n"
                       "    service: string\n"
                       "    amount: number\n"
                       "    order_id: string\n"
                       "    region: {type: string, path: geo.region, required: false}\n"
                       "dedup: {field: order_id, within: 1h30m}\n"
                       "grace: 30s\n"
                       "tables:\n"
                       "  services: {file: services.yaml, key: service}\n"
                       "derive:\n"
                       "  big:   amount > 100  \n"
                       "aggregations:\n"
                       "  - name: by_region\n"
                       "    group_by: [region, service]\n"
                       "    where: not big\n"
                       "    window: {hopping: 10m, advance: 1m}\n"
                       "    emit: {updates: 10s}\n"
                       "    metrics:\n"
                       "      orders: count()\n"
                       "      p50: quantile(amount, 0.5)\n"
                       "alerts:\n"
                       "  - name: too_many\n"
                       "    on: by_region\n"
                       "    when: orders > services.latency_threshold_ms\n"
                       "  - name: cheap\n"
                       "    on: by_region\n"
                       "    when: p50 < 1\n"
                       "kafka:\n"
                       "  linger.ms: 5\n";
    struct eddy_plan *plan;
    char err[256];
    cr_assert_eq(eddy_topology_parse(DATA "shop.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    char *text = print_plan(plan);
    cr_assert_str_eq(
        text,
        "topology shop (" DATA "shop.yaml), processing at_least_once\n"
        "source: topic orders, json, timestamp ts (unix_s), max event 4096 bytes\n"
        "  fields: service string required, amount number required, order_id string required, "
        "region string optional (path geo.region)\n"
        "dedup: order_id within 1h30m (store dedup, changelog shop-dedup-changelog)\n"
        "grace: 30s\n"
        "table services: 3 rows keyed by service, columns [service, team, latency_threshold_ms, "
        "error_budget, critical] (" DATA "services.yaml)\n"
        "derive: big = amount > 100\n"
        "aggregation by_region: group_by [region, service], hopping 10m advance 1m, repartitioned through shop-by_region-repartition, emit "
        "updates every 10s, where not big\n"
        "  metrics: orders = count(), p50 = quantile(amount, 0.5)\n"
        "  store by_region (changelog shop-by_region-changelog), output topic shop-by_region\n"
        "alert too_many on by_region: when orders > services.latency_threshold_ms, output topic "
        "shop-alerts\n"
        "alert cheap on by_region: when p50 < 1, output topic shop-alerts\n"
        "kafka: linger.ms=5\n"
        "topics: in orders; out shop-by_region, shop-alerts, shop-dlq; internal "
        "shop-meta-changelog, shop-dedup-changelog, shop-by_region-changelog, "
        "shop-alerts-changelog, shop-by_region-repartition\n");
    free(text);
    eddy_plan_free(plan);

    yaml = HEAD AGG;
    cr_assert_eq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err), EDDY_OK,
                 "%s", err);
    text = print_plan(plan);
    cr_assert_str_eq(text,
                     "topology t (t.yaml), processing exactly_once\n"
                     "source: topic in, json, timestamp ts (rfc3339), max event 1048576 bytes\n"
                     "  fields: service string required, code int required\n"
                     "dedup: none\n"
                     "grace: 0s\n"
                     "aggregation a: group_by [], tumbling 1m, repartitioned through "
                     "t-a-repartition, emit final, where -\n"
                     "  metrics: n = count()\n"
                     "  store a (changelog t-a-changelog), output topic t-a\n"
                     "topics: in in; out t-a, t-dlq; internal t-meta-changelog, t-a-changelog, "
                     "t-a-repartition\n");
    free(text);
    eddy_plan_free(plan);
}

Test(config, allocation_failures_fail_cleanly)
{
    int successes = 0, failures = 0;
    for (unsigned long n = 1; n < 5000 && successes < 20; n++) {
        struct eddy_plan *plan = NULL;
        char err[512];
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy_topology_load(DATA "full.yaml", &plan, err, sizeof err);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            cr_assert_not_null(plan);
            successes++;
            eddy_plan_free(plan);
        } else {
            cr_assert(rc == EDDY_ENOMEM || rc == EDDY_ECONFIG, "n=%lu rc=%d %s", n, rc, err);
            cr_assert_null(plan);
            cr_assert_neq(err[0], '\0');
            failures++;
        }
    }
    cr_assert_eq(successes, 20, "parsing never succeeded again");
    cr_assert_gt(failures, 100);
}

Test(config, source_key_decides_which_aggregations_are_repartitioned)
{
    const char *yaml = "name: t\n"
                       "source:\n"
                       "  topic: in\n"
                       "  key: [service]\n"
                       "  timestamp: {field: ts}\n"
                       "  fields: {service: string, endpoint: string, region: string}\n"
                       "aggregations:\n"
                       "  - {name: by_service, group_by: [service], window: {tumbling: 1m}, "
                       "metrics: {n: count()}}\n"
                       "  - {name: by_endpoint, group_by: [endpoint, service], window: "
                       "{tumbling: 1m}, metrics: {n: count()}}\n"
                       "  - {name: by_region, group_by: [region], window: {tumbling: 1m}, "
                       "metrics: {n: count()}}\n"
                       "  - {name: total, window: {tumbling: 1m}, metrics: {n: count()}}\n";
    struct eddy_plan *plan;
    char err[512];
    cr_assert_eq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err), EDDY_OK,
                 "%s", err);
    cr_expect_eq(plan->source.n_key, 1);
    cr_expect_str_eq(plan->source.key_names[0], "service");
    cr_expect_not(plan->aggregations[0].repartition);
    cr_expect_not(plan->aggregations[1].repartition);
    cr_expect(plan->aggregations[2].repartition);
    cr_expect(plan->aggregations[3].repartition);
    eddy_plan_free(plan);

    const char *bad = "name: t\nsource:\n  topic: in\n  key: [nope]\n  timestamp: {field: ts}\n"
                      "  fields: {service: string}\n"
                      "aggregations:\n  - {name: a, window: {tumbling: 1m}, metrics: {n: count()}}\n";
    cr_assert_eq(eddy_topology_parse("t.yaml", bad, strlen(bad), &plan, err, sizeof err),
                 EDDY_ECONFIG);
    cr_expect_str_eq(err, "t.yaml:4: source.key[0]: unknown field 'nope'");
}

Test(config, rollup_copies_its_source_and_checks_windows)
{
    const char *head = "name: t\nsource:\n  topic: in\n  timestamp: {field: ts}\n"
                       "  fields: {uid: string, svc: string}\naggregations:\n"
                       "  - {name: m, group_by: [svc], window: {tumbling: 1m}, "
                       "metrics: {users: distinct(uid), n: count()}}\n";
    struct {
        const char *tail;
        const char *error; /* NULL: valid */
    } cases[] = {
        {"  - {name: h, window: {tumbling: 1h, from: m}}\n", NULL},
        {"  - {name: h, window: {tumbling: 90s, from: m}}\n",
         "t.yaml:8: aggregations[1].window.from: window size and advance must be multiples of "
         "the window of 'm'"},
        {"  - {name: h, window: {tumbling: 1h, from: x}}\n",
         "t.yaml:8: aggregations[1].window.from: 'x' is not an earlier aggregation"},
        {"  - {name: h, window: {tumbling: 1h, from: m}, metrics: {n: count()}}\n",
         "t.yaml:8: aggregations[1].window.from: a rollup takes its metrics from 'm': remove "
         "it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024], err[512];
        snprintf(yaml, sizeof yaml, "%s%s", head, cases[i].tail);
        struct eddy_plan *plan = NULL;
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        if (!cases[i].error) {
            cr_assert_eq(rc, EDDY_OK, "%s", err);
            const struct eddy_aggregation *h = &plan->aggregations[1];
            cr_expect(h->rollup);
            cr_expect_eq(h->from, 0);
            cr_expect_eq(h->n_group, 1);
            cr_expect_str_eq(h->group_names[0], "svc");
            cr_expect_eq(h->n_metrics, 2);
            cr_expect_eq(h->metrics[0].kind, EDDY_M_DISTINCT);
            cr_expect_str_eq(eddy_expr_source(h->metrics[0].arg), "uid");
            cr_expect_str_eq(h->metrics[1].name, "n");
            eddy_plan_free(plan);
        } else {
            cr_expect_eq(rc, EDDY_ECONFIG);
            cr_expect_str_eq(err, cases[i].error);
        }
    }
}

/* Idle-aware time (docs/topology.md): idle_timeout, emit_empty, absent(N). */
Test(config, idle_timeout_emit_empty_and_absent_keys)
{
    static const char *head = "name: t\nsource:\n  topic: in\n"
                              "  timestamp: {field: t, format: unix_ms}\n  fields: {k: string}\n";
#define IDLE_AGG(window, extra)                                                                    \
    "aggregations:\n  - {name: c, group_by: [k], window: " window extra                         \
    ", metrics: {n: count()}}\n"
#define IDLE_ALERT(when) "alerts:\n  - {name: s, on: c, when: " when "}\n"
    struct {
        const char *tail;
        const char *error; /* NULL: valid */
    } cases[] = {
        {"idle_timeout: 30s\n" IDLE_AGG("{tumbling: 1m}", ", emit_empty: true") IDLE_ALERT("absent(3)"),
         NULL},
        {"idle_timeout: 0\n" IDLE_AGG("{tumbling: 1m}", ""),
         "t.yaml:6: idle_timeout: duration must be greater than 0"},
        {"idle_timeout: soon\n" IDLE_AGG("{tumbling: 1m}", ""),
         "t.yaml:6: idle_timeout: bad duration 'soon' (expected e.g. 500ms, 30s, 5m, 1h30m, 1d)"},
        {"idle_timout: 30s\n" IDLE_AGG("{tumbling: 1m}", ""),
         "t.yaml:6: idle_timout: unknown key (did you mean 'idle_timeout'?)"},
        {IDLE_AGG("{hopping: 1m, advance: 30s}", ", emit_empty: true"),
         "t.yaml:7: aggregations[0].emit_empty: emit_empty needs tumbling windows (this "
         "aggregation has hopping windows)"},
        {IDLE_AGG("{session: 5m}", ", emit_empty: true"),
         "t.yaml:7: aggregations[0].emit_empty: emit_empty needs tumbling windows (this "
         "aggregation has session windows)"},
        {IDLE_AGG("{tumbling: 1m}", ", emit_empty: often"),
         "t.yaml:7: aggregations[0].emit_empty: expected true or false, got 'often'"},
        {IDLE_AGG("{tumbling: 1m}", "") IDLE_ALERT("absent(0)"),
         "t.yaml:9: alerts[0].when: absent(N) takes a whole number of windows N from 1 to "
         "1000000"},
        {IDLE_AGG("{tumbling: 1m}", "") IDLE_ALERT("absent(3m)"),
         "t.yaml:9: alerts[0].when: absent(N) takes a whole number of windows N from 1 to "
         "1000000"},
        {IDLE_AGG("{tumbling: 1m}", "") IDLE_ALERT("absent(3) and n > 1"),
         "t.yaml:9: alerts[0].when: absent(N) stands alone: it cannot be combined with other "
         "conditions (write a second alert)"},
        {IDLE_AGG("{hopping: 1m, advance: 30s}", "") IDLE_ALERT("absent(3)"),
         "t.yaml:9: alerts[0].when: absent(N) needs an aggregation with tumbling windows ('c' "
         "has hopping windows)"},
        {IDLE_AGG("{tumbling: 1m}", "") IDLE_ALERT("absent"),
         "t.yaml:9: alerts[0].when: unknown name 'absent' at column 1"},
    };
#undef IDLE_AGG
#undef IDLE_ALERT
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024], err[512];
        snprintf(yaml, sizeof yaml, "%s%s", head, cases[i].tail);
        struct eddy_plan *plan = NULL;
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        if (cases[i].error) {
            cr_expect_eq(rc, EDDY_ECONFIG, "case %zu", i);
            if (rc)
                cr_expect_str_eq(err, cases[i].error, "case %zu", i);
            continue;
        }
        cr_assert_eq(rc, EDDY_OK, "%s", err);
        cr_expect_eq(plan->idle_timeout_ms, 30000);
        cr_expect(plan->aggregations[0].emit_empty);
        cr_expect_eq(plan->alerts[0].absent_windows, 3);
        /* code that only knows expressions sees a constant false */
        cr_expect_str_eq(eddy_expr_source(plan->alerts[0].when), "false");
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        eddy_plan_print(plan, f);
        fclose(f);
        cr_expect(strstr(text, "grace: 0s\nidle_timeout: 30s\n"), "%s", text);
        cr_expect(strstr(text, ", emit final, emit_empty, where -\n"), "%s", text);
        cr_expect(strstr(text, "alert s on c: when absent(3), output topic t-alerts\n"), "%s",
                  text);
        free(text);
        eddy_plan_free(plan);
    }
}

/* The defaults keep today's behaviour and today's `eddy validate` text. */
Test(config, idle_features_are_off_by_default)
{
    struct eddy_plan *plan = load_ok(DATA "full.yaml");
    cr_expect_eq(plan->idle_timeout_ms, 0);
    for (size_t a = 0; a < plan->n_aggregations; a++)
        cr_expect(!plan->aggregations[a].emit_empty);
    for (size_t i = 0; i < plan->n_alerts; i++)
        cr_expect_eq(plan->alerts[i].absent_windows, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    eddy_plan_print(plan, f);
    fclose(f);
    cr_expect_null(strstr(text, "idle_timeout"));
    cr_expect_null(strstr(text, "emit_empty"));
    free(text);
    eddy_plan_free(plan);
}

/* Late corrections (docs/topology.md): late: {correct_within: D}, top level. */
Test(config, late_correct_within_key)
{
    static const char *head = "name: t\nsource:\n  topic: in\n"
                              "  timestamp: {field: t, format: unix_ms}\n  fields: {k: string}\n"
                              "grace: 2m\n";
    static const char *agg = "aggregations:\n  - {name: c, group_by: [k], window: {tumbling: 1m}, "
                             "metrics: {n: count()}}\n";
    struct {
        const char *late;
        const char *error; /* NULL: valid */
    } cases[] = {
        {"late: {correct_within: 10m}\n", NULL},
        {"late:\n  correct_within: 10m\n", NULL},
        {"late: {correct_within: 0}\n",
         "t.yaml:7: late.correct_within: duration must be greater than 0"},
        {"late: {correct_within: 0s}\n",
         "t.yaml:7: late.correct_within: duration must be greater than 0"},
        {"late: {correct_within: soon}\n",
         "t.yaml:7: late.correct_within: bad duration 'soon' (expected e.g. 500ms, 30s, 5m, "
         "1h30m, 1d)"},
        {"late: {}\n", "t.yaml:7: late.correct_within: missing required key"},
        {"late: {correct_within: 10m, corect_within: 5m}\n",
         "t.yaml:7: late.corect_within: unknown key (did you mean 'correct_within'?)"},
        {"late: 10m\n", "t.yaml:7: late: expected a mapping, got a scalar"},
        {"lat: {correct_within: 10m}\n", "t.yaml:7: lat: unknown key (did you mean 'late'?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024], err[512];
        snprintf(yaml, sizeof yaml, "%s%s%s", head, cases[i].late, agg);
        struct eddy_plan *plan = NULL;
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        if (cases[i].error) {
            cr_expect_eq(rc, EDDY_ECONFIG, "case %zu", i);
            if (rc)
                cr_expect_str_eq(err, cases[i].error, "case %zu", i);
            continue;
        }
        cr_assert_eq(rc, EDDY_OK, "case %zu: %s", i, err);
        cr_expect_eq(plan->late_correct_ms, 600000);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        eddy_plan_print(plan, f);
        fclose(f);
        cr_expect(strstr(text, "\ngrace: 2m\nlate: correct within 10m\n"), "%s", text);
        free(text);
        eddy_plan_free(plan);
    }
    /* off by default, and not printed */
    struct eddy_plan *plan = load_ok(DATA "full.yaml");
    cr_expect_eq(plan->late_correct_ms, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    eddy_plan_print(plan, f);
    fclose(f);
    cr_expect_null(strstr(text, "\nlate:"));
    free(text);
    eddy_plan_free(plan);
}

Test(config, aggregation_cannot_take_an_internal_store_name)
{
    const char *yaml = "name: t\nsource:\n  topic: in\n  timestamp: {field: ts}\n"
                       "  fields: {k: string}\naggregations:\n"
                       "  - {name: dedup, window: {tumbling: 1m}, metrics: {n: count()}}\n";
    struct eddy_plan *plan = NULL;
    char err[512];
    cr_assert_eq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                 EDDY_ECONFIG);
    cr_expect_str_eq(err, "t.yaml:7: aggregations[0].name: 'dedup' names an internal store; "
                          "choose another name");
}

/* memory_limit (docs/topology.md, "Memory limit"): a top-level size. */
Test(config, memory_limit_key)
{
    static const char *head = "name: t\nsource:\n  topic: in\n"
                              "  timestamp: {field: t, format: unix_ms}\n  fields: {k: string}\n";
    static const char *agg = "aggregations:\n  - {name: c, group_by: [k], window: {tumbling: 1m}, "
                             "metrics: {n: count()}}\n";
    struct {
        const char *limit;
        size_t bytes;
        const char *error; /* NULL: valid */
    } cases[] = {
        {"memory_limit: 512MB\n", (size_t)512 << 20, NULL},
        {"memory_limit: 16MB\n", (size_t)16 << 20, NULL},
        {"memory_limit: 20480KB\n", (size_t)20 << 20, NULL},
        {"memory_limit: 1024MB\n", (size_t)1 << 30, NULL},
        {"memory_limit: 15MB\n", 0, "t.yaml:6: memory_limit: memory_limit below the minimum of 16MB"},
        {"memory_limit: 4GB\n", (size_t)4 << 30, NULL},
        {"memory_limit: 2048GB\n", 0,
         "t.yaml:6: memory_limit: size '2048GB' out of range (1B to 1024GB)"},
        {"memory_limit: lots\n", 0,
         "t.yaml:6: memory_limit: bad size 'lots' (expected e.g. 65536, 512KB, 1MB)"},
        {"memory_limt: 512MB\n", 0,
         "t.yaml:6: memory_limt: unknown key (did you mean 'memory_limit'?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024], err[512];
        snprintf(yaml, sizeof yaml, "%s%s%s", head, cases[i].limit, agg);
        struct eddy_plan *plan = NULL;
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        if (cases[i].error) {
            cr_expect_eq(rc, EDDY_ECONFIG, "case %zu", i);
            if (rc)
                cr_expect_str_eq(err, cases[i].error, "case %zu", i);
            continue;
        }
        cr_assert_eq(rc, EDDY_OK, "case %zu: %s", i, err);
        cr_expect_eq(plan->memory_limit, cases[i].bytes, "case %zu", i);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        eddy_plan_print(plan, f);
        fclose(f);
        char want[64];
        snprintf(want, sizeof want, "\ngrace: 0s\nmemory_limit: %zu bytes\n", cases[i].bytes);
        cr_expect(strstr(text, want), "%s", text);
        free(text);
        eddy_plan_free(plan);
    }
    /* none by default, and not printed */
    struct eddy_plan *plan = load_ok(DATA "full.yaml");
    cr_expect_eq(plan->memory_limit, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    eddy_plan_print(plan, f);
    fclose(f);
    cr_expect_null(strstr(text, "memory_limit"));
    free(text);
    eddy_plan_free(plan);
}
