/*
 * plan.c - releasing, querying and printing a plan (the text of `eddy validate`).
 *
 * Deterministic: the same plan always prints the same bytes (tests compare
 * it exactly). Format, one item per line, sections omitted when empty:
 *   topology NAME (FILE), processing MODE
 *   source: topic T, json, timestamp PATH (FORMAT), max event N bytes
 *     fields: NAME TYPE required|optional[ (path P)], ...
 *   dedup: FIELD within D (store dedup, changelog NAME-dedup-changelog) | dedup: none
 *   grace: D
 *   idle_timeout: D                           (only when set)
 *   late: correct within D                    (only when set)
 *   memory_limit: N bytes                     (only when set)
 *   table NAME: N rows keyed by KEY, columns [C, ...] (FILE)
 *   derive: NAME = EXPR
 *   aggregation NAME: group_by [..], WINDOW, emit final|updates every D[, emit_empty],
 *     where EXPR|-
 *     metrics: NAME = CALL, ...
 *     store NAME (changelog NAME-AGG-changelog), output topic T
 *   alert NAME on AGG: when EXPR|absent(N), output topic T
 *   alert NAME on AGG: burn_rate BAD/TOTAL, budget EXPR,
 *     windows [LONG & SHORT >= FACTOR SEVERITY, ...], output topic T
 *   pattern NAME: key [..], within D, timeout emit|drop
 *     sequence: STEP where EXPR times N|N+|N..M[ capture [F, ...]] -> ...
 *     store NAME (changelog NAME-PATTERN-changelog), output topic T
 *   archive NAME: final rows of AGG|the cleaned raw stream, parquet files
 *     under PATH/NAME/, partition_by [..], roll D or N bytes (store archive)
 *     columns: NAME TYPE, ...
 *   kafka: KEY=VALUE, ...
 *   topics: in T; out T, ...; internal T, ... (changelogs of the task's "meta"
 *   store, of dedup, of each aggregation, of alerts, of each pattern and of
 *   the archives, then repartition topics)
 * Default topics: aggregation "<name>-<agg>", alerts "<name>-alerts",
 * pattern "<name>-<pattern>", dead letters "<name>-dlq"; changelogs
 * "<name>-<store>-changelog".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/metric.h"
#include "config/table.h"
#include "core/alloc.h"
#include "core/time.h"
#include "eddy/topology.h"

const char *eddy_field_type_name(enum eddy_field_type t)
{
    switch (t) {
    case EDDY_FT_STRING: return "string";
    case EDDY_FT_INT: return "int";
    case EDDY_FT_NUMBER: return "number";
    case EDDY_FT_BOOL: return "bool";
    }
    return "?";
}

static const char *ts_name(enum eddy_ts_format f)
{
    switch (f) {
    case EDDY_TS_RFC3339: return "rfc3339";
    case EDDY_TS_UNIX_S: return "unix_s";
    case EDDY_TS_UNIX_MS: return "unix_ms";
    }
    return "?";
}

static void print_duration(FILE *out, int64_t ms)
{
    char text[64];
    eddy_duration_format(ms, text, sizeof text);
    fputs(text, out);
}

/* Shortest of %.15g/%.17g that reads back exactly. */
static void print_double(FILE *out, double v)
{
    char text[40];
    snprintf(text, sizeof text, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, sizeof text, "%.17g", v);
    fputs(text, out);
}

static void print_source(const struct eddy_plan *plan, FILE *out)
{
    const struct eddy_source *src = &plan->source;
    fprintf(out, "source: topic %s, json, timestamp %s (%s), max event %zu bytes\n", src->topic,
            src->ts_path, ts_name(src->ts_format), src->max_event_bytes);
    fputs("  fields:", out);
    for (size_t i = 0; i < src->n_fields; i++) {
        const struct eddy_field *f = &src->fields[i];
        fprintf(out, "%s %s %s %s", i ? "," : "", f->name, eddy_field_type_name(f->type),
                f->required ? "required" : "optional");
        if (strcmp(f->path, f->name) != 0)
            fprintf(out, " (path %s)", f->path);
    }
    fputs(src->n_fields ? "\n" : " none\n", out);
}

static void print_window(const struct eddy_window *w, FILE *out)
{
    switch (w->kind) {
    case EDDY_WIN_TUMBLING:
        fputs("tumbling ", out);
        print_duration(out, w->size_ms);
        break;
    case EDDY_WIN_HOPPING:
        fputs("hopping ", out);
        print_duration(out, w->size_ms);
        fputs(" advance ", out);
        print_duration(out, w->advance_ms);
        break;
    case EDDY_WIN_SESSION:
        fputs("session gap ", out);
        print_duration(out, w->gap_ms);
        break;
    }
}

static void print_aggregation(const struct eddy_plan *plan, const struct eddy_aggregation *agg,
                              FILE *out)
{
    fprintf(out, "aggregation %s: group_by [", agg->name);
    for (size_t j = 0; j < agg->n_group; j++)
        fprintf(out, "%s%s", j ? ", " : "", agg->group_names[j]);
    fputs("], ", out);
    print_window(&agg->window, out);
    if (agg->repartition)
        fprintf(out, ", repartitioned through %s-%s-repartition", plan->name, agg->name);
    if (agg->rollup)
        fprintf(out, ", rolled up from %s", plan->aggregations[agg->from].name);
    if (agg->emit.updates) {
        fputs(", emit updates every ", out);
        print_duration(out, agg->emit.update_interval_ms);
    } else {
        fputs(", emit final", out);
    }
    if (agg->emit_empty)
        fputs(", emit_empty", out);
    fprintf(out, ", where %s\n  metrics:", agg->where ? eddy_expr_source(agg->where) : "-");
    for (size_t j = 0; j < agg->n_metrics; j++) {
        struct eddy_buf call;
        eddy_buf_init(&call);
        eddy__metric_call_format(&agg->metrics[j], &call);
        fprintf(out, "%s %s = %s", j ? "," : "", agg->metrics[j].name,
                call.len && !call.oom ? call.data : "?");
        eddy_buf_release(&call);
    }
    fprintf(out, "\n  store %s (changelog %s-%s-changelog), output topic ", agg->name, plan->name,
            agg->name);
    if (agg->output_topic)
        fprintf(out, "%s\n", agg->output_topic);
    else
        fprintf(out, "%s-%s\n", plan->name, agg->name);
}

/* "burn_rate errors/requests, budget EXPR, windows [1h & 5m >= 14.4 page, ...]" */
static void print_burn_rate(const struct eddy_burn_rate *br, const struct eddy_aggregation *agg,
                            FILE *out)
{
    fprintf(out, "burn_rate %s/%s, budget %s, windows [", agg->metrics[br->bad].name,
            agg->metrics[br->total].name, eddy_expr_source(br->budget));
    for (size_t i = 0; i < br->n_windows; i++) {
        const struct eddy_burn_window *w = &br->windows[i];
        fputs(i ? ", " : "", out);
        print_duration(out, w->long_ms);
        fputs(" & ", out);
        print_duration(out, w->short_ms);
        fputs(" >= ", out);
        print_double(out, w->factor);
        fprintf(out, " %s", w->severity);
    }
    fputs("]", out);
}

/* "pattern order_payment: key [order_id], within 15m, timeout emit", then the
 * steps and the store. */
static void print_pattern(const struct eddy_plan *plan, const struct eddy_pattern *pat, FILE *out)
{
    fprintf(out, "pattern %s: key [", pat->name);
    for (size_t k = 0; k < pat->n_key; k++)
        fprintf(out, "%s%s", k ? ", " : "", pat->key_names[k]);
    fputs("], within ", out);
    print_duration(out, pat->within_ms);
    fprintf(out, ", timeout %s\n  sequence:", pat->timeout_emit ? "emit" : "drop");
    for (size_t i = 0; i < pat->n_steps; i++) {
        const struct eddy_pattern_step *st = &pat->steps[i];
        fprintf(out, "%s %s where %s times %lu", i ? " ->" : "", st->name,
                eddy_expr_source(st->where), (unsigned long)st->min);
        if (st->max == EDDY_PATTERN_UNBOUNDED)
            fputs("+", out);
        else if (st->max != st->min)
            fprintf(out, "..%lu", (unsigned long)st->max);
        if (st->n_capture) {
            fputs(" capture [", out);
            for (size_t f = 0; f < st->n_capture; f++)
                fprintf(out, "%s%s", f ? ", " : "", st->capture_names[f]);
            fputs("]", out);
        }
    }
    fprintf(out, "\n  store %s (changelog %s-%s-changelog), output topic %s\n", pat->name,
            plan->name, pat->name, pat->output_topic);
}

/* The @k-th output topic: aggregations, then alerts, then patterns, then
 * dead letters. */
static const char *output_topic(const struct eddy_plan *plan, size_t k, char *buf, size_t len)
{
    if (k < plan->n_aggregations) {
        const struct eddy_aggregation *agg = &plan->aggregations[k];
        if (agg->output_topic)
            return agg->output_topic;
        snprintf(buf, len, "%s-%s", plan->name, agg->name);
        return buf;
    }
    k -= plan->n_aggregations;
    if (k < plan->n_alerts) {
        if (plan->alerts[k].output_topic)
            return plan->alerts[k].output_topic;
        snprintf(buf, len, "%s-alerts", plan->name);
        return buf;
    }
    k -= plan->n_alerts;
    if (k < plan->n_patterns)
        return plan->patterns[k].output_topic;
    snprintf(buf, len, "%s-dlq", plan->name);
    return buf;
}

static void print_topics(const struct eddy_plan *plan, FILE *out)
{
    char name[512], earlier[512];
    size_t n_out = plan->n_aggregations + plan->n_alerts + plan->n_patterns + 1;
    fprintf(out, "topics: in %s", plan->source.topic);
    for (size_t i = 0; i < plan->n_tables; i++)
        if (plan->tables[i]->topic)
            fprintf(out, ", %s (table)", plan->tables[i]->topic);
    fputs("; out ", out);
    for (size_t k = 0; k < n_out; k++) {
        const char *topic = output_topic(plan, k, name, sizeof name);
        bool repeat = false;
        for (size_t j = 0; j < k && !repeat; j++)
            repeat = strcmp(output_topic(plan, j, earlier, sizeof earlier), topic) == 0;
        if (!repeat)
            fprintf(out, "%s%s", k ? ", " : "", topic);
    }
    fprintf(out, "; internal %s-meta-changelog", plan->name);
    if (plan->dedup.enabled)
        fprintf(out, ", %s-dedup-changelog", plan->name);
    for (size_t i = 0; i < plan->n_aggregations; i++)
        fprintf(out, ", %s-%s-changelog", plan->name, plan->aggregations[i].name);
    if (plan->n_alerts)
        fprintf(out, ", %s-alerts-changelog", plan->name);
    for (size_t i = 0; i < plan->n_patterns; i++)
        fprintf(out, ", %s-%s-changelog", plan->name, plan->patterns[i].name);
    if (plan->n_archives)
        fprintf(out, ", %s-archive-changelog", plan->name);
    for (size_t i = 0; i < plan->n_aggregations; i++)
        if (plan->aggregations[i].repartition)
            fprintf(out, ", %s-%s-repartition", plan->name, plan->aggregations[i].name);
    fputs("\n", out);
}

static void print_archive(const struct eddy_plan *plan, const struct eddy_archive *ar, FILE *out)
{
    static const char *const types[] = {"string", "int64", "double", "bool", "timestamp"};
    fprintf(out, "archive %s: %s%s, parquet files under %s/%s/, partition_by [", ar->name,
            ar->aggregation == SIZE_MAX ? "the cleaned raw stream" : "final rows of ",
            ar->aggregation == SIZE_MAX ? "" : plan->aggregations[ar->aggregation].name, ar->path,
            ar->name);
    for (size_t p = 0; p < ar->n_partition_by; p++)
        fprintf(out, "%s%s", p ? ", " : "",
                ar->partition_by[p] == EDDY_ARCHIVE_DATE ? "date"
                                                         : ar->columns[ar->partition_by[p]].name);
    fputs("], roll ", out);
    print_duration(out, ar->roll_ms);
    fprintf(out, " or %llu bytes (store archive)\n  columns:", (unsigned long long)ar->roll_bytes);
    for (size_t c = 0, k = 0; c < ar->n_columns; c++) {
        bool partition = false;
        for (size_t p = 0; p < ar->n_partition_by; p++)
            partition |= ar->partition_by[p] == c;
        if (!partition)
            fprintf(out, "%s %s %s", k++ ? "," : "", ar->columns[c].name,
                    types[ar->columns[c].type]);
    }
    fputs("\n", out);
}

void eddy_plan_print(const struct eddy_plan *plan, FILE *out)
{
    fprintf(out, "topology %s (%s), processing %s\n", plan->name, plan->file,
            plan->processing == EDDY_AT_LEAST_ONCE ? "at_least_once" : "exactly_once");
    print_source(plan, out);
    if (plan->dedup.enabled) {
        fprintf(out, "dedup: %s within ", plan->dedup.field);
        print_duration(out, plan->dedup.within_ms);
        fprintf(out, " (store dedup, changelog %s-dedup-changelog)\n", plan->name);
    } else {
        fputs("dedup: none\n", out);
    }
    fputs("grace: ", out);
    print_duration(out, plan->grace_ms);
    fputs("\n", out);
    if (plan->idle_timeout_ms) {
        fputs("idle_timeout: ", out);
        print_duration(out, plan->idle_timeout_ms);
        fputs("\n", out);
    }
    if (plan->late_correct_ms) {
        fputs("late: correct within ", out);
        print_duration(out, plan->late_correct_ms);
        fputs("\n", out);
    }
    if (plan->memory_limit)
        fprintf(out, "memory_limit: %zu bytes\n", plan->memory_limit);
    for (size_t i = 0; i < plan->n_tables; i++) {
        const struct eddy_table *t = plan->tables[i];
        fprintf(out, "table %s: %zu row%s keyed by %s, columns [", t->name, t->n_rows,
                t->n_rows == 1 ? "" : "s", t->key);
        for (size_t j = 0; j < t->n_columns; j++)
            fprintf(out, "%s%s", j ? ", " : "", t->columns[j]);
        if (t->topic)
            fprintf(out, "] (topic %s%s%s)\n", t->topic, t->file ? ", initially " : "",
                    t->file ? t->file : "");
        else
            fprintf(out, "] (%s)\n", t->file);
    }
    for (size_t i = 0; i < plan->n_derives; i++)
        fprintf(out, "derive: %s = %s\n", plan->derives[i].name,
                eddy_expr_source(plan->derives[i].expr));
    for (size_t i = 0; i < plan->n_aggregations; i++)
        print_aggregation(plan, &plan->aggregations[i], out);
    for (size_t i = 0; i < plan->n_alerts; i++) {
        const struct eddy_alert *alert = &plan->alerts[i];
        const struct eddy_aggregation *agg = &plan->aggregations[alert->aggregation];
        fprintf(out, "alert %s on %s: ", alert->name, agg->name);
        if (alert->burn)
            print_burn_rate(alert->burn, agg, out);
        else if (alert->absent_windows)
            fprintf(out, "when absent(%lld)", (long long)alert->absent_windows);
        else
            fprintf(out, "when %s", eddy_expr_source(alert->when));
        fputs(", output topic ", out);
        if (alert->output_topic)
            fprintf(out, "%s\n", alert->output_topic);
        else
            fprintf(out, "%s-alerts\n", plan->name);
    }
    for (size_t i = 0; i < plan->n_patterns; i++)
        print_pattern(plan, &plan->patterns[i], out);
    for (size_t i = 0; i < plan->n_archives; i++)
        print_archive(plan, &plan->archives[i], out);
    if (plan->n_kafka) {
        fputs("kafka:", out);
        for (size_t i = 0; i < plan->n_kafka; i++)
            fprintf(out, "%s %s=%s", i ? "," : "", plan->kafka[i].key, plan->kafka[i].value);
        fputs("\n", out);
    }
    print_topics(plan, out);
}

void eddy_plan_free(struct eddy_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->source.n_fields; i++) {
        eddy_free(plan->source.fields[i].name);
        eddy_free(plan->source.fields[i].path);
    }
    eddy_free(plan->source.fields);
    eddy_free(plan->source.topic);
    eddy_free(plan->source.ts_path);
    eddy_free(plan->dedup.field);
    for (size_t i = 0; i < plan->n_derives; i++) {
        eddy_free(plan->derives[i].name);
        eddy__expr_free(plan->derives[i].expr);
    }
    eddy_free(plan->derives);
    for (size_t i = 0; i < plan->source.n_key; i++)
        eddy_free(plan->source.key_names[i]);
    eddy_free(plan->source.key_names);
    eddy_free(plan->source.key_slots);
    for (size_t i = 0; i < plan->n_aggregations; i++) {
        struct eddy_aggregation *agg = &plan->aggregations[i];
        for (size_t j = 0; j < agg->n_group; j++)
            eddy_free(agg->group_names[j]);
        eddy_free(agg->group_names);
        eddy_free(agg->group_slots);
        eddy__expr_free(agg->where);
        for (size_t j = 0; j < agg->n_metrics; j++) {
            eddy_free(agg->metrics[j].name);
            eddy__expr_free(agg->metrics[j].arg);
            eddy__expr_free(agg->metrics[j].arg2);
        }
        eddy_free(agg->metrics);
        eddy_free(agg->accs);
        eddy_free(agg->metric_acc);
        eddy_free(agg->output_topic);
        eddy_free(agg->name);
    }
    eddy_free(plan->aggregations);
    for (size_t i = 0; i < plan->n_alerts; i++) {
        eddy_free(plan->alerts[i].name);
        eddy__expr_free(plan->alerts[i].when);
        eddy_free(plan->alerts[i].output_topic);
        struct eddy_burn_rate *br = plan->alerts[i].burn;
        if (br) {
            eddy__expr_free(br->budget);
            for (size_t w = 0; w < br->n_windows; w++)
                eddy_free(br->windows[w].severity);
            eddy_free(br->windows);
            eddy_free(br->spans_ms);
            eddy_free(br);
        }
    }
    eddy_free(plan->alerts);
    for (size_t i = 0; i < plan->n_archives; i++) {
        struct eddy_archive *ar = &plan->archives[i];
        for (size_t j = 0; j < ar->n_columns; j++)
            eddy_free(ar->columns[j].name);
        eddy_free(ar->columns);
        eddy_free(ar->partition_by);
        eddy_free(ar->name);
        eddy_free(ar->path);
    }
    eddy_free(plan->archives);
    for (size_t i = 0; i < plan->n_patterns; i++) {
        struct eddy_pattern *pat = &plan->patterns[i];
        for (size_t k = 0; k < pat->n_key; k++)
            eddy_free(pat->key_names[k]);
        eddy_free(pat->key_names);
        eddy_free(pat->key_slots);
        for (size_t j = 0; j < pat->n_steps; j++) {
            struct eddy_pattern_step *st = &pat->steps[j];
            eddy_free(st->name);
            eddy__expr_free(st->where);
            for (size_t f = 0; f < st->n_capture; f++)
                eddy_free(st->capture_names[f]);
            eddy_free(st->capture_names);
            eddy_free(st->capture_slots);
        }
        eddy_free(pat->steps);
        eddy_free(pat->output_topic);
        eddy_free(pat->name);
    }
    eddy_free(plan->patterns);
    eddy__expr_free(plan->serve.status.budget);
    eddy__expr_free(plan->serve.status.latency_threshold);
    /* tables after expressions: expressions borrow them */
    for (size_t i = 0; i < plan->n_tables; i++)
        eddy__table_free(plan->tables[i]);
    eddy_free(plan->tables);
    for (size_t i = 0; i < plan->n_kafka; i++) {
        eddy_free(plan->kafka[i].key);
        eddy_free(plan->kafka[i].value);
    }
    eddy_free(plan->kafka);
    eddy_free(plan->name);
    eddy_free(plan->file);
    eddy_free(plan);
}

long eddy_plan_slot(const struct eddy_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->source.n_fields; i++)
        if (strcmp(plan->source.fields[i].name, name) == 0)
            return (long)i;
    for (size_t i = 0; i < plan->n_derives; i++)
        if (strcmp(plan->derives[i].name, name) == 0)
            return (long)plan->derives[i].slot;
    return -1;
}
