/*
 * burn_rate alerts (multiwindow, multi-burn-rate alerts on the error budget,
 * src/ops/alert.c): the topology keys and their errors, `eddy validate`
 * text, fingerprints, then scenarios run through a whole task. Each step is
 * a record and the exact outputs right after it: "k@start/end=n/e" for a
 * final row (count / bad count; "rN" appended for revision N) and
 * "NAME:STATE@k@start{severity:..,budget:..,burn_rates:{..}}" for an alert
 * (the burn-rate fields of its JSON with the quotes dropped). Times are
 * milliseconds since the epoch. Then the persisted form: its exact bytes,
 * bad values, forgotten keys, and restored tasks that emit byte for byte
 * what a task that never stopped emits.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "config/expr.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "gen/gen.h"
#include "ops/alert.h"
#include "runtime/task.h"
#include "state/be64.h"

#include "kvmap.h"

#ifndef EDDY_SOURCE_DIR
#define EDDY_SOURCE_DIR "."
#endif

/* ---- topologies ---- */

/* Tumbling 10 ms windows per k: n events, e of them bad; budget 0.25 (an
 * error ratio r burns at 4r). Page: 40ms and 10ms >= 3; ticket: 60ms and
 * 20ms >= 1.5; the ring keeps 6 windows. */
#define TOPOLOGY(top, budget, alerts_extra)                                                  \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string, bad: bool}\n"                                                     \
    "grace: 0ms\n" top "aggregations:\n"                                                     \
    "  - name: c\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: {tumbling: 10ms}\n"                                                         \
    "    metrics: {n: count(), e: count_if(bad)}\n"                                          \
    "alerts:\n"                                                                              \
    "  - name: burn\n"                                                                       \
    "    on: c\n"                                                                            \
    "    burn_rate:\n"                                                                       \
    "      total: n\n"                                                                       \
    "      bad: e\n"                                                                         \
    "      budget: " budget "\n"                                                             \
    "      windows:\n"                                                                       \
    "        - {long: 40ms, short: 10ms, factor: 3, severity: page}\n"                       \
    "        - {long: 60ms, short: 20ms, factor: 1.5, severity: ticket}\n" alerts_extra

#define PLAIN TOPOLOGY("", "0.25", "")

static struct eddy_plan *plan_from(const char *name, const char *yaml)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    eddy_err_t rc = eddy_topology_parse(name, yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "topology: %s", err);
    return plan;
}

static void expect_error(const char *yaml, const char *message)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_expect_eq(rc, EDDY_ECONFIG, "rc %d for: %s", rc, yaml);
    cr_expect_null(plan);
    if (rc)
        cr_expect_str_eq(err, message, "\n got: %s\nwant: %s", err, message);
    eddy_plan_free(plan);
}

/* ---- configuration ---- */

Test(alert, burn_rate_parses_into_the_plan)
{
    struct eddy_plan *plan = plan_from("t.yaml", PLAIN);
    const struct eddy_alert *alert = &plan->alerts[0];
    const struct eddy_burn_rate *br = alert->burn;
    cr_assert_not_null(br);
    cr_expect_eq(br->total, 0);
    cr_expect_eq(br->bad, 1);
    cr_expect_str_eq(eddy_expr_source(br->budget), "0.25");
    cr_assert_eq(br->n_windows, 2);
    cr_expect_eq(br->windows[0].long_ms, 40);
    cr_expect_eq(br->windows[0].short_ms, 10);
    cr_expect_eq(br->windows[0].factor, 3);
    cr_expect_str_eq(br->windows[0].severity, "page");
    cr_expect_eq(br->windows[1].long_ms, 60);
    cr_expect_eq(br->windows[1].short_ms, 20);
    cr_expect_eq(br->windows[1].factor, 1.5);
    cr_expect_str_eq(br->windows[1].severity, "ticket");
    /* report order: each pair's short then long window */
    cr_assert_eq(br->n_spans, 4);
    static const int64_t spans[] = {10, 40, 20, 60};
    for (size_t s = 0; s < 4; s++)
        cr_expect_eq(br->spans_ms[s], spans[s], "span %zu", s);
    cr_expect_eq(br->windows[0].short_span, 0);
    cr_expect_eq(br->windows[0].long_span, 1);
    cr_expect_eq(br->windows[1].short_span, 2);
    cr_expect_eq(br->windows[1].long_span, 3);
    cr_expect_eq(br->ring, 6);
    /* code that only knows expressions sees a constant false */
    cr_expect_str_eq(eddy_expr_source(alert->when), "false");
    cr_expect_eq(alert->absent_windows, 0);
    eddy_plan_free(plan);
}

#define MINUTE_HEAD                                                                          \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: in\n"                                                                          \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string, bad: bool, w: number}\n"                                          \
    "aggregations:\n"                                                                        \
    "  - name: m\n"                                                                          \
    "    group_by: [k]\n"                                                                    \
    "    window: " /* the window, then MINUTE_TAIL */
#define MINUTE_TAIL                                                                          \
    "\n    metrics: {n: count(), e: count_if(bad), r: ratio(bad), s: sum(w)}\n"              \
    "alerts:\n"                                                                              \
    "  - name: slo\n"                                                                        \
    "    on: m\n"

/* Without `windows`: the workbook's 1h/5m at 14.4 (page), 6h/30m at 6
 * (ticket); the plan prints them, shared spans appear once. */
Test(alert, default_windows_and_validate_text)
{
    const char *yaml = MINUTE_HEAD "{tumbling: 1m}" MINUTE_TAIL
                                   "    burn_rate: {total: n, bad: e, budget: 1 - 0.999}\n"
                                   "  - name: shared\n"
                                   "    on: m\n"
                                   "    burn_rate:\n"
                                   "      total: s\n"
                                   "      bad: e\n"
                                   "      budget: 0.01\n"
                                   "      windows:\n"
                                   "        - {long: 1h, short: 5m, factor: 10, severity: P1}\n"
                                   "        - {long: 1h, short: 10m, factor: 2.5, severity: P2}\n"
                                   "    output: {topic: slo-alerts}\n";
    struct eddy_plan *plan = plan_from("t.yaml", yaml);
    const struct eddy_burn_rate *br = plan->alerts[0].burn;
    cr_assert_eq(br->n_windows, 2);
    cr_expect_eq(br->windows[0].long_ms, 3600000);
    cr_expect_eq(br->windows[0].short_ms, 300000);
    cr_expect_eq(br->windows[0].factor, 14.4);
    cr_expect_str_eq(br->windows[0].severity, "page");
    cr_expect_eq(br->windows[1].long_ms, 21600000);
    cr_expect_eq(br->windows[1].short_ms, 1800000);
    cr_expect_eq(br->windows[1].factor, 6);
    cr_expect_str_eq(br->windows[1].severity, "ticket");
    cr_expect_eq(br->ring, 360);
    const struct eddy_burn_rate *shared = plan->alerts[1].burn;
    cr_assert_eq(shared->n_spans, 3);
    cr_expect_eq(shared->spans_ms[0], 300000);
    cr_expect_eq(shared->spans_ms[1], 3600000);
    cr_expect_eq(shared->spans_ms[2], 600000);
    cr_expect_eq(shared->windows[1].long_span, 1);
    cr_expect_eq(shared->windows[1].short_span, 2);
    cr_expect_eq(shared->ring, 60);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    eddy_plan_print(plan, f);
    fclose(f);
    cr_expect(strstr(text, "alert slo on m: burn_rate e/n, budget 1 - 0.999, windows [1h & 5m "
                           ">= 14.4 page, 6h & 30m >= 6 ticket], output topic t-alerts\n"
                           "alert shared on m: burn_rate e/s, budget 0.01, windows [1h & 5m >= "
                           "10 P1, 1h & 10m >= 2.5 P2], output topic slo-alerts\n"),
              "%s", text);
    free(text);
    eddy_plan_free(plan);
}

Test(alert, burn_rate_errors_name_file_line_and_key)
{
    static const struct {
        const char *window, *alert, *error;
    } cases[] = {
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: e}\n",
         "t.yaml:14: alerts[0].burn_rate.budget: missing required key"},
        {"{tumbling: 1m}", "    when: n > 1\n    burn_rate: {total: n, bad: e, budget: 0.1}\n",
         "t.yaml:15: alerts[0].burn_rate: an alert has either `when` or `burn_rate` (write a "
         "second alert)"},
        {"{tumbling: 1m}", "    output: {topic: x}\n",
         "t.yaml:12: alerts[0].when: missing required key (or burn_rate)"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: err, budget: 0.1}\n",
         "t.yaml:14: alerts[0].burn_rate.bad: 'err' is not a metric of 'm'"},
        {"{tumbling: 1m}", "    burn_rate: {total: nn, bad: e, budget: 0.1}\n",
         "t.yaml:14: alerts[0].burn_rate.total: 'nn' is not a metric of 'm' (did you mean "
         "'n'?)"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: r, budget: 0.1}\n",
         "t.yaml:14: alerts[0].burn_rate.bad: 'r' is a ratio() metric; burn rates need a count "
         "of events: count(), count_if() or sum()"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: e, budget: t > 1}\n",
         "t.yaml:14: alerts[0].burn_rate.budget: unknown name 't' at column 1"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: e, budget: 0.1, window: []}\n",
         "t.yaml:14: alerts[0].burn_rate.window: unknown key (did you mean 'windows'?)"},
        {"{hopping: 2m, advance: 1m}", "    burn_rate: {total: n, bad: e, budget: 0.1}\n",
         "t.yaml:14: alerts[0].burn_rate: burn_rate needs an aggregation with tumbling windows "
         "('m' has hopping windows)"},
        {"{tumbling: 7m}", "    burn_rate: {total: n, bad: e, budget: 0.1}\n",
         "t.yaml:14: alerts[0].burn_rate: the default windows (1h and 5m, 6h and 30m) need a "
         "window size that divides 5m ('m' has 7m windows): list `windows`"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: e, budget: 0.1, windows: []}\n",
         "t.yaml:14: alerts[0].burn_rate.windows: expected 1 to 16 window pairs, got 0"},
        {"{tumbling: 1m}", "    burn_rate: {total: n, bad: e, budget: 0.1, windows: 1h}\n",
         "t.yaml:14: alerts[0].burn_rate.windows: expected a sequence of window pairs, got a "
         "scalar"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 1h, short: 90s, factor: 14.4, severity: page}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].short: 1m30s is not a multiple of the "
         "window size of 'm' (1m)"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 5m, short: 1h, factor: 14.4, severity: page}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].short: the short window (1h) must be "
         "shorter than the long one (5m)"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 1h, short: 5m, factor: 0, severity: page}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].factor: expected a number greater than 0, "
         "got '0'"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 1h, short: 5m, factor: fast, severity: page}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].factor: expected a number greater than 0, "
         "got 'fast'"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 1h, short: 5m, factor: 14.4, severity: page}\n"
         "        - {long: 6h, short: 30m, factor: 6, severity: \"wake me\"}\n",
         "t.yaml:20: alerts[0].burn_rate.windows[1].severity: invalid severity 'wake me' "
         "(allowed: letters, digits, '.', '_', '-')"},
        {"{tumbling: 1m}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 1h, short: 5m, factor: 14.4}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].severity: missing required key"},
        {"{tumbling: 1s}",
         "    burn_rate:\n      total: n\n      bad: e\n      budget: 0.1\n      windows:\n"
         "        - {long: 2d, short: 5m, factor: 1, severity: slow}\n",
         "t.yaml:19: alerts[0].burn_rate.windows[0].long: 2d spans more than 100000 windows "
         "of 'm' (1s)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml, "%s%s%s%s", MINUTE_HEAD, cases[i].window, MINUTE_TAIL,
                 cases[i].alert);
        expect_error(yaml, cases[i].error);
    }
}

/* ---- fingerprints ---- */

static char *alerts_fingerprint(const char *yaml)
{
    struct eddy_plan *plan = plan_from("t.yaml", yaml);
    char *fp = eddy_plan_store_fingerprint(plan, EDDY_STORE_ALERTS);
    cr_assert_not_null(fp);
    eddy_plan_free(plan);
    return fp;
}

#define FP_ALERT(total, bad, budget, pair2)                                                  \
    MINUTE_HEAD "{tumbling: 1m}" MINUTE_TAIL "    burn_rate:\n      total: " total          \
                "\n      bad: " bad "\n      budget: " budget "\n      windows:\n"          \
                "        - {long: 1h, short: 5m, factor: 14.4, severity: page}\n"           \
                "        - " pair2 "\n"
#define PAIR2 "{long: 6h, short: 30m, factor: 6, severity: ticket}"

/* Every burn_rate field is part of the alert's definition: changing any of
 * it is a state-affecting change of the alerts store, like a condition. */
Test(alert, fingerprints_cover_every_burn_rate_field)
{
    char *base = alerts_fingerprint(FP_ALERT("n", "e", "0.001", PAIR2));
    cr_expect_str_eq(base, "alerts v1;topology=t;source=in;alert slo{on=m;time=t unix_ms;"
                           "window=tumbling 1m;from=-;partition=repartition;group=k;where=-;"
                           "when=burn_rate(bad=e,total=n,budget=0.001,windows=1h/5m>=14.4 "
                           "page|6h/30m>=6 ticket);defs=bad:bool@bad,e=count_if(bad),"
                           "k:string@k,n=count()}");
    char *again = alerts_fingerprint(FP_ALERT("n", "e", "0.001", PAIR2));
    cr_expect(eddy_plan_fingerprint_compatible(base, again));
    const char *changes[] = {
        FP_ALERT("s", "e", "0.001", PAIR2),
        FP_ALERT("n", "n", "0.001", PAIR2),
        FP_ALERT("n", "e", "0.002", PAIR2),
        FP_ALERT("n", "e", "0.001", "{long: 3h, short: 30m, factor: 6, severity: ticket}"),
        FP_ALERT("n", "e", "0.001", "{long: 6h, short: 20m, factor: 6, severity: ticket}"),
        FP_ALERT("n", "e", "0.001", "{long: 6h, short: 30m, factor: 6.5, severity: ticket}"),
        FP_ALERT("n", "e", "0.001", "{long: 6h, short: 30m, factor: 6, severity: page}"),
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        char *fp = alerts_fingerprint(changes[i]);
        cr_expect_not(eddy_plan_fingerprint_compatible(base, fp), "change %zu kept the state",
                      i);
        eddy_free(fp);
    }
    char *changed = alerts_fingerprint(
        FP_ALERT("n", "e", "0.001", "{long: 6h, short: 30m, factor: 6.5, severity: ticket}"));
    char why[2048];
    eddy_plan_fingerprint_explain(base, changed, why, sizeof why);
    cr_expect(strstr(why, "when=burn_rate(bad=e,total=n,budget=0.001,windows=1h/5m>=14.4 "
                          "page|6h/30m>=6 ticket);") &&
                  strstr(why, " -> alert slo{") &&
                  strstr(why, "when=burn_rate(bad=e,total=n,budget=0.001,windows=1h/5m>=14.4 "
                              "page|6h/30m>=6.5 ticket);"),
              "%s", why);
    eddy_free(changed);
    eddy_free(again);
    eddy_free(base);
}

/* ---- scenarios through a task ---- */

struct collector {
    struct eddy_buf text; /* compact outputs, separated by spaces */
    struct eddy_buf raw;  /* every output value, one per line */
};

/* "1970-01-01T00:00:00.020Z" -> "20" (the scenarios use small times). */
static void compact_time(struct eddy_buf *b, const char *t)
{
    const char *prefix = "1970-01-01T00:00:";
    cr_assert(strncmp(t, prefix, strlen(prefix)) == 0, "%s", t);
    t += strlen(prefix);
    int ms = ((t[0] - '0') * 10 + (t[1] - '0')) * 1000;
    if (t[2] == '.')
        ms += atoi(t + 3);
    eddy_buf_printf(b, "%d", ms);
}

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
    json_t *metrics = json_object_get(doc, "metrics");
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->text, "%s@%lld", json_string_value(json_object_get(doc, "reason")),
                        json_integer_value(json_object_get(json_object_get(doc, "source"),
                                                           "offset")));
    } else if (kind == EDDY_OUT_RESULT) {
        eddy_buf_printf(&c->text, "%s@", json_string_value(k));
        compact_time(&c->text, json_string_value(json_object_get(win, "start")));
        eddy_buf_putc(&c->text, '/');
        compact_time(&c->text, json_string_value(json_object_get(win, "end")));
        eddy_buf_printf(&c->text, "=%lld/%lld", json_integer_value(json_object_get(metrics, "n")),
                        json_integer_value(json_object_get(metrics, "e")));
        json_t *revision = json_object_get(doc, "revision");
        if (revision)
            eddy_buf_printf(&c->text, "r%lld", json_integer_value(revision));
    } else {
        eddy_buf_printf(&c->text, "%s:%s@%s@", json_string_value(json_object_get(doc, "alert")),
                        json_string_value(json_object_get(doc, "state")),
                        json_string_value(k));
        compact_time(&c->text, json_string_value(json_object_get(win, "start")));
        /* the burn-rate fields follow "metrics", raw, without quotes */
        const char *severity = memmem(value, value_len, ",\"severity\":", 12);
        if (severity) {
            eddy_buf_putc(&c->text, '{');
            for (const char *p = severity + 1; p < value + value_len - 1; p++)
                if (*p != '"')
                    eddy_buf_putc(&c->text, *p);
            eddy_buf_putc(&c->text, '}');
        }
    }
    json_decref(doc);
    return EDDY_OK;
}

static void collector_init(struct collector *c)
{
    eddy_buf_init(&c->text);
    eddy_buf_init(&c->raw);
}

static void collector_release(struct collector *c)
{
    eddy_buf_release(&c->text);
    eddy_buf_release(&c->raw);
}

static void reset(struct collector *c)
{
    eddy_buf_reset(&c->text);
    eddy_buf_putc(&c->text, '\0');
    c->text.len = 0;
}

struct step {
    const char *record;
    const char *expect; /* outputs right after it, "" for none */
};

#define REC(k, t, bad) "{\"k\":\"" k "\",\"t\":" #t ",\"bad\":" #bad "}"

static void run_steps(struct eddy_task *task, struct collector *c, const struct step *steps,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        reset(c);
        cr_assert_eq(eddy__task_process(task, steps[i].record, strlen(steps[i].record),
                                        (int64_t)i, false),
                     EDDY_OK);
        cr_expect_str_eq(c->text.data, steps[i].expect, "after step %zu (%s)", i,
                         steps[i].record);
    }
}

static void expect_flush(struct eddy_task *task, struct collector *c, const char *expect)
{
    reset(c);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    cr_expect_str_eq(c->text.data, expect, "at end of input");
}

static void run_scenario(const char *name, const char *yaml, const struct step *steps, size_t n,
                         const char *expect_at_flush)
{
    struct eddy_plan *plan = plan_from(name, yaml);
    struct collector c;
    collector_init(&c);
    struct eddy_output out = {collect, &c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    run_steps(task, &c, steps, n);
    expect_flush(task, &c, expect_at_flush);
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

#define N(steps) (sizeof steps / sizeof steps[0])

/* One incident, one firing and one resolution: the ticket pair fires when
 * 60ms and 20ms both burn >= 1.5; while it holds, nothing more; windows
 * without a row of the key count as zero; it resolves when no pair holds. */
static const struct step ticket_steps[] = {
    {REC("a", 1, false), ""},
    {REC("a", 2, false), ""},
    {REC("a", 11, true), "a@0/10=2/0"},
    {REC("a", 12, true), ""},
    /* 10ms: 2/2 -> 4; 40ms: 2/4 -> 2 (page needs 3 on both); 20ms, 60ms: 2 */
    {REC("a", 21, false),
     "a@10/20=2/2 burn:firing@a@10{severity:ticket,budget:0.25,burn_rates:{10ms:4,40ms:2,"
     "20ms:2,60ms:2}}"},
    {REC("a", 22, true), ""},
    {REC("a", 23, true), ""},
    {REC("a", 31, true), "a@20/30=3/2"},
    {REC("a", 41, false), "a@30/40=1/1"},
    /* [50,60) and [60,70) close without a row of a */
    {REC("a", 75, false), "a@40/50=1/0"},
    /* at [70,80): 20ms over [60,80) has no errors; 60ms: 3/6 -> 2 */
    {REC("a", 95, false),
     "a@70/80=1/0 burn:resolved@a@70{severity:ticket,budget:0.25,burn_rates:{10ms:0,40ms:0,"
     "20ms:0,60ms:2}}"},
};

Test(alert, ticket_fires_once_and_resolves)
{
    run_scenario("t.yaml", PLAIN, ticket_steps, N(ticket_steps), "a@90/100=1/0");
}

/* The first pair that holds (in list order) is the severity; the incident
 * keeps it when only the ticket pair still holds, and resolves with it. */
Test(alert, page_is_reported_and_kept_until_resolved)
{
    static const struct step steps[] = {
        {REC("b", 1, true), ""},
        {REC("b", 2, true), ""},
        {REC("b", 11, false),
         "b@0/10=2/2 burn:firing@b@0{severity:page,budget:0.25,burn_rates:{10ms:4,40ms:4,"
         "20ms:4,60ms:4}}"},
        {REC("b", 12, false), ""},
        /* page no longer holds (10ms: 0), ticket does (2): no event */
        {REC("b", 21, false), "b@10/20=2/0"},
        {REC("b", 22, false), ""},
        {REC("b", 31, false),
         "b@20/30=2/0 burn:resolved@b@20{severity:page,budget:0.25,burn_rates:{10ms:0,"
         "40ms:1.3333333333333333,20ms:0,60ms:1.3333333333333333}}"},
    };
    run_scenario("t.yaml", PLAIN, steps, N(steps), "b@30/40=1/0");
}

/* Keys are independent; a gap longer than the ring zeroes it: a key that
 * comes back after 6+ windows starts from its new window alone. */
Test(alert, keys_are_independent_and_long_gaps_start_over)
{
    static const struct step steps[] = {
        {REC("x", 1, true), ""},
        {REC("y", 2, false), ""},
        {REC("x", 11, false),
         "x@0/10=1/1 burn:firing@x@0{severity:page,budget:0.25,burn_rates:{10ms:4,40ms:4,"
         "20ms:4,60ms:4}} y@0/10=1/0"},
        /* x at [70,80): the error of [0,10) is out of every span */
        {REC("x", 71, false), "x@10/20=1/0"},
        {REC("x", 81, false),
         "x@70/80=1/0 burn:resolved@x@70{severity:page,budget:0.25,burn_rates:{10ms:0,40ms:0,"
         "20ms:0,60ms:0}}"},
    };
    run_scenario("t.yaml", PLAIN, steps, N(steps), "x@80/90=1/0");
}

/* emit_empty rows are windows without traffic: burn rate 0 over a span
 * without any, and they resolve a firing key that went silent. */
Test(alert, empty_rows_count_as_no_traffic)
{
    const char *yaml =
        "name: t\n"
        "source:\n"
        "  topic: input\n"
        "  timestamp: {field: t, format: unix_ms}\n"
        "  fields: {k: string, bad: bool}\n"
        "aggregations:\n"
        "  - {name: c, group_by: [k], window: {tumbling: 10ms}, emit_empty: true,\n"
        "     metrics: {n: count(), e: count_if(bad)}}\n"
        "alerts:\n"
        "  - name: burn\n"
        "    on: c\n"
        "    burn_rate:\n"
        "      total: n\n"
        "      bad: e\n"
        "      budget: 0.5\n"
        "      windows: [{long: 20ms, short: 10ms, factor: 1, severity: page}]\n";
    static const struct step steps[] = {
        {REC("a", 1, true), ""},
        {REC("b", 11, false),
         "a@0/10=1/1 burn:firing@a@0{severity:page,budget:0.5,burn_rates:{10ms:2,20ms:2}}"},
        {REC("b", 21, false),
         "a@10/20=0/0 burn:resolved@a@10{severity:page,budget:0.5,burn_rates:{10ms:0,20ms:2}} "
         "b@10/20=1/0"},
    };
    run_scenario("t.yaml", yaml, steps, N(steps), "b@20/30=1/0");
}

/* The budget comes from a table: a key without a row has no budget, its
 * burn rates are null and no pair holds. */
Test(alert, budget_from_a_table_or_null)
{
    /* tests/unit/data/config/services.yaml: search has error_budget 0.01 */
    const char *yaml = "name: t\n"
                       "source:\n"
                       "  topic: input\n"
                       "  timestamp: {field: t, format: unix_ms}\n"
                       "  fields: {service: string, bad: bool}\n"
                       "tables:\n"
                       "  services: {file: services.yaml, key: service}\n"
                       "aggregations:\n"
                       "  - {name: c, group_by: [service], window: {tumbling: 10ms},\n"
                       "     metrics: {n: count(), e: count_if(bad)}}\n"
                       "alerts:\n"
                       "  - name: burn\n"
                       "    on: c\n"
                       "    burn_rate:\n"
                       "      total: n\n"
                       "      bad: e\n"
                       "      budget: services.error_budget\n"
                       "      windows: [{long: 20ms, short: 10ms, factor: 10, severity: page}]\n";
    struct eddy_plan *plan = plan_from(EDDY_SOURCE_DIR "/tests/unit/data/config/t.yaml", yaml);
    struct collector c;
    collector_init(&c);
    struct eddy_output out = {collect, &c};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    static const char *const records[] = {
        "{\"service\":\"search\",\"t\":1,\"bad\":true}",
        "{\"service\":\"search\",\"t\":2,\"bad\":false}",
        "{\"service\":\"other\",\"t\":3,\"bad\":true}",
        "{\"service\":\"search\",\"t\":11,\"bad\":false}",
    };
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(eddy__task_process(task, records[i], strlen(records[i]), (int64_t)i, false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    eddy_buf_putc(&c.raw, '\0');
    cr_expect_str_eq(
        c.raw.data,
        "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00Z\","
        "\"end\":\"1970-01-01T00:00:00.010Z\"},\"key\":{\"service\":\"other\"},\"final\":true,"
        "\"metrics\":{\"n\":1,\"e\":1}}\n"
        "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00Z\","
        "\"end\":\"1970-01-01T00:00:00.010Z\"},\"key\":{\"service\":\"search\"},\"final\":true,"
        "\"metrics\":{\"n\":2,\"e\":1}}\n"
        "{\"alert\":\"burn\",\"state\":\"firing\",\"aggregation\":\"c\",\"window\":{\"start\":"
        "\"1970-01-01T00:00:00Z\",\"end\":\"1970-01-01T00:00:00.010Z\"},\"key\":{\"service\":"
        "\"search\"},\"metrics\":{\"n\":2,\"e\":1},\"severity\":\"page\",\"budget\":0.01,"
        "\"burn_rates\":{\"10ms\":50,\"20ms\":50}}\n"
        "{\"aggregation\":\"c\",\"window\":{\"start\":\"1970-01-01T00:00:00.010Z\","
        "\"end\":\"1970-01-01T00:00:00.020Z\"},\"key\":{\"service\":\"search\"},\"final\":true,"
        "\"metrics\":{\"n\":1,\"e\":0}}\n"
        "{\"alert\":\"burn\",\"state\":\"resolved\",\"aggregation\":\"c\",\"window\":{\"start\":"
        "\"1970-01-01T00:00:00.010Z\",\"end\":\"1970-01-01T00:00:00.020Z\"},\"key\":{"
        "\"service\":\"search\"},\"metrics\":{\"n\":1,\"e\":0},\"severity\":\"page\","
        "\"budget\":0.01,\"burn_rates\":{\"10ms\":0,\"20ms\":33.33333333333333}}\n");
    eddy__task_free(task);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* A budget that is not a number > 0 (here 1 / 0: null) makes the burn
 * rates null and no pair hold: a firing key resolves. */
Test(alert, budget_that_is_not_a_positive_number_holds_nothing)
{
    static const struct step steps[] = {
        {REC("a", 1, true), ""},
        {REC("a", 2, true), ""},
        {REC("a", 3, true), ""},
        {REC("a", 4, true), ""},
        {REC("a", 5, false), ""},
        /* budget 1 / (5 - 1) */
        {REC("a", 11, false),
         "a@0/10=5/4 burn:firing@a@0{severity:page,budget:0.25,burn_rates:{10ms:3.2,40ms:3.2,"
         "20ms:3.2,60ms:3.2}}"},
        {REC("a", 21, false),
         "a@10/20=1/0 burn:resolved@a@10{severity:page,budget:null,burn_rates:{10ms:null,"
         "40ms:null,20ms:null,60ms:null}}"},
    };
    run_scenario("t.yaml", TOPOLOGY("", "1 / (n - 1)", ""), steps, N(steps), "a@20/30=1/0");
}

/* Late corrections: a revision of the last closed window replaces that
 * window's counts (2 bad of 4, not 0+1+2 of 2+3+4); a revision of an older
 * window does not touch the alert (its ring keeps the counts it saw). */
Test(alert, revisions_replace_their_window_and_count_once)
{
    static const struct step steps[] = {
        {REC("a", 1, false), ""},
        {REC("a", 2, false), ""},
        {REC("a", 10, false), "a@0/10=2/0"},
        {REC("a", 3, true), "a@0/10=3/1r1"},
        {REC("a", 4, true),
         "a@0/10=4/2r2 burn:firing@a@0{severity:ticket,budget:0.25,burn_rates:{10ms:2,40ms:2,"
         "20ms:2,60ms:2}}"},
        /* 40ms: 2/5 -> 1.6 */
        {REC("a", 20, false), "a@10/20=1/0"},
        /* superseded: [10,20) is the last closed window */
        {REC("a", 5, true), "a@0/10=5/3r3"},
        /* [0,10) still counts 2/4 for the alert: 40ms 2/6 */
        {REC("a", 15, false),
         "a@10/20=2/0r1 burn:resolved@a@10{severity:ticket,budget:0.25,burn_rates:{10ms:0,"
         "40ms:1.3333333333333333,20ms:1.3333333333333333,60ms:1.3333333333333333}}"},
    };
    run_scenario("t.yaml", TOPOLOGY("late: {correct_within: 30ms}\n", "0.25", ""), steps,
                 N(steps), "a@20/30=1/0");
}

/* ---- persistence ---- */

/* kvmap.h, counting the puts and deletes of the alerts store */
struct kv_map {
    struct kvmap kvs;
    size_t puts, deletes;
};

static eddy_err_t counted_put(void *ctx, const char *store, const void *key, size_t key_len,
                              const void *value, size_t value_len)
{
    struct kv_map *m = ctx;
    if (strcmp(store, EDDY_STORE_ALERTS) == 0) {
        m->puts += value != NULL;
        m->deletes += value == NULL;
    }
    return kv_put(&m->kvs, store, key, key_len, value, value_len);
}

static eddy_err_t counted_closed(void *ctx, const char *store, int64_t window_start)
{
    struct kv_map *m = ctx;
    return kv_closed(&m->kvs, store, window_start);
}

static const struct kv *alert_value(const struct kv_map *m, const char *key)
{
    /* "burn" NUL, then the group key: STR tag, 4-byte length, bytes */
    unsigned char state_key[64] = "burn";
    size_t len = strlen(key);
    state_key[5] = EDDY_V_STR;
    memcpy(state_key + 6, &len, 4);
    memcpy(state_key + 10, key, len);
    for (size_t i = 0; i < m->kvs.n; i++)
        if (strcmp(m->kvs.items[i].store, EDDY_STORE_ALERTS) == 0 &&
            m->kvs.items[i].key_len == 10 + len && memcmp(m->kvs.items[i].key, state_key, 10 + len) == 0)
            return &m->kvs.items[i];
    return NULL;
}

static void load_all(struct eddy_task *task, const struct eddy_plan *plan, const struct kv_map *m)
{
    size_t n_stores;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    for (size_t s = 0; s < n_stores; s++)
        for (size_t i = 0; i < m->kvs.n; i++)
            if (strcmp(m->kvs.items[i].store, stores[s]) == 0)
                cr_assert_eq(eddy__task_load(task, stores[s], m->kvs.items[i].key,
                                             m->kvs.items[i].key_len, m->kvs.items[i].value,
                                             m->kvs.items[i].value_len),
                             EDDY_OK);
    eddy_free(stores);
}

/* The value of a key: format 3, severity, newest window, ring length, then
 * the ring oldest first: a run of 4 empty windows, then whole counts. */
Test(alert, persisted_ring_has_the_documented_bytes_and_restores)
{
    struct eddy_plan *plan = plan_from("t.yaml", PLAIN);
    struct collector c;
    collector_init(&c);
    struct eddy_output out = {collect, &c};
    struct kv_map map = {0};
    struct eddy_task_changes changes = {counted_put, counted_closed, &map, NULL};
    struct eddy_task *first, *second;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &first), EDDY_OK);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    run_steps(first, &c, ticket_steps, 5);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    const struct kv *kv = alert_value(&map, "a");
    cr_assert_not_null(kv);
    static const unsigned char expected[] = {
        3,    2,                                      /* format, firing with pair 1 */
        0x80, 0,    0, 0, 0, 0, 0, 10,               /* newest window: 10 */
        0,    0,    0, 6,                            /* ring of 6 */
        0,    4,                                      /* [-40,0): no events */
        1,    0,    2,                                /* [0,10): 0 of 2 */
        1,    2,    2,                                /* [10,20): 2 of 2 */
    };
    cr_assert_eq(kv->value_len, sizeof expected);
    cr_expect_arr_eq(kv->value, expected, sizeof expected);
    cr_expect_eq(map.puts, 1, "one put per changed key and commit");
    eddy__task_free(first);

    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &second), EDDY_OK);
    load_all(second, plan, &map);
    /* it is still firing (no second firing) and resolves at [70,80) */
    run_steps(second, &c, ticket_steps + 5, N(ticket_steps) - 5);
    expect_flush(second, &c, "a@90/100=1/0");
    eddy__task_free(second);
    kv_release(&map.kvs);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* Counts that are not whole numbers are kept as binary64, bit for bit. */
Test(alert, fractional_counts_survive_a_restore_bit_for_bit)
{
    const char *yaml = "name: t\n"
                       "source:\n"
                       "  topic: input\n"
                       "  timestamp: {field: t, format: unix_ms}\n"
                       "  fields: {k: string, bad: bool, w: number}\n"
                       "aggregations:\n"
                       "  - {name: c, group_by: [k], window: {tumbling: 10ms},\n"
                       "     metrics: {n: sum(w), e: count_if(bad)}}\n"
                       "alerts:\n"
                       "  - name: burn\n"
                       "    on: c\n"
                       "    burn_rate:\n"
                       "      total: n\n"
                       "      bad: e\n"
                       "      budget: 0.3\n"
                       "      windows: [{long: 30ms, short: 10ms, factor: 1.1, severity: x}]\n";
    static const char *const records[] = {
        "{\"k\":\"a\",\"t\":1,\"bad\":true,\"w\":0.1}",
        "{\"k\":\"a\",\"t\":2,\"bad\":false,\"w\":0.7}",
        "{\"k\":\"a\",\"t\":11,\"bad\":false,\"w\":3.3}",
        "{\"k\":\"a\",\"t\":21,\"bad\":true,\"w\":0.2}",
        "{\"k\":\"a\",\"t\":31,\"bad\":false,\"w\":0.9}",
        "{\"k\":\"a\",\"t\":32,\"bad\":true,\"w\":0.4}",
        "{\"k\":\"a\",\"t\":41,\"bad\":false,\"w\":2}",
    };
    struct eddy_plan *plan = plan_from("t.yaml", yaml);
    struct collector whole, parts;
    collector_init(&whole);
    collector_init(&parts);
    struct eddy_output o_whole = {collect, &whole}, o_parts = {collect, &parts};
    struct kv_map map = {0};
    struct eddy_task_changes changes = {counted_put, counted_closed, &map, NULL};
    struct eddy_task *all, *first, *second;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &o_whole, &all), EDDY_OK);
    cr_assert_eq(eddy__task_new(plan, "input", 0, &o_parts, &first), EDDY_OK);
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    for (size_t i = 0; i < 7; i++) {
        const char *r = records[i];
        cr_assert_eq(eddy__task_process(all, r, strlen(r), (int64_t)i, false), EDDY_OK);
        if (i < 4)
            cr_assert_eq(eddy__task_process(first, r, strlen(r), (int64_t)i, false), EDDY_OK);
    }
    cr_assert_eq(eddy__task_changes(first, &changes), EDDY_OK);
    const struct kv *kv = alert_value(&map, "a");
    cr_assert_not_null(kv);
    cr_assert_eq(kv->value_len, 14 + 2 + 17 + 17); /* run, then two raw entries */
    cr_expect_eq(kv->value[16], 2);
    cr_expect_eq(kv->value[33], 2);
    eddy__task_free(first);
    cr_assert_eq(eddy__task_new(plan, "input", 0, &o_parts, &second), EDDY_OK);
    load_all(second, plan, &map);
    for (size_t i = 4; i < 7; i++)
        cr_assert_eq(eddy__task_process(second, records[i], strlen(records[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(second), EDDY_OK);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    eddy_buf_putc(&whole.raw, '\0');
    eddy_buf_putc(&parts.raw, '\0');
    cr_expect(strstr(whole.raw.data, "\"state\":\"firing\""), "%s", whole.raw.data);
    cr_expect(strstr(whole.raw.data, "\"state\":\"resolved\""), "%s", whole.raw.data);
    cr_expect_str_eq(parts.raw.data, whole.raw.data);
    eddy__task_free(second);
    eddy__task_free(all);
    kv_release(&map.kvs);
    eddy_plan_free(plan);
    collector_release(&whole);
    collector_release(&parts);
}

/* A key that is not firing is forgotten (deleted from the store) once its
 * newest window is a whole ring older than the last closed window; a firing
 * key is kept however long it is silent. */
Test(alert, silent_keys_are_forgotten_unless_firing)
{
    struct eddy_plan *plan = plan_from("t.yaml", PLAIN);
    struct collector c;
    collector_init(&c);
    struct eddy_output out = {collect, &c};
    struct kv_map map = {0};
    struct eddy_task_changes changes = {counted_put, counted_closed, &map, NULL};
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    static const struct step steps[] = {
        {REC("quiet", 1, false), ""},
        {REC("loud", 2, true), ""},
        {REC("z", 11, false),
         "loud@0/10=1/1 burn:firing@loud@0{severity:page,budget:0.25,burn_rates:{10ms:4,"
         "40ms:4,20ms:4,60ms:4}} quiet@0/10=1/0"},
    };
    run_steps(task, &c, steps, N(steps));
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    cr_expect_not_null(alert_value(&map, "quiet"));
    cr_expect_not_null(alert_value(&map, "loud"));
    /* [60,70) closes at 70: [0,10) leaves the ring of 6 windows */
    static const struct step later[] = {
        {REC("z", 69, false), "z@10/20=1/0"},
        {REC("z", 70, false), "z@60/70=1/0"},
    };
    run_steps(task, &c, later, 1);
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    cr_expect_not_null(alert_value(&map, "quiet"));
    cr_expect_eq(map.deletes, 0);
    run_steps(task, &c, later + 1, 1);
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    cr_expect_null(alert_value(&map, "quiet"));
    cr_expect_not_null(alert_value(&map, "loud"));
    cr_expect_eq(map.deletes, 1);
    eddy__task_free(task);
    kv_release(&map.kvs);
    eddy_plan_free(plan);
    collector_release(&c);
}

/* Values that are not the state of that alert are parse errors. */
Test(alert, load_rejects_values_of_other_layouts)
{
    struct eddy_plan *plan =
        plan_from("t.yaml", TOPOLOGY("", "0.25", "  - {name: expr, on: c, when: e > 1}\n"));
    struct eddy_alert_state *st;
    cr_assert_eq(eddy__alert_state_new(plan, &st), EDDY_OK);
    unsigned char burn_key[16] = "burn", expr_key[16] = "expr";
    unsigned char group[] = {EDDY_V_STR, 1, 0, 0, 0, 'a'};
    memcpy(burn_key + 5, group, sizeof group);
    memcpy(expr_key + 5, group, sizeof group);
    size_t key_len = 5 + sizeof group;
    static const unsigned char good[] = {3, 0, 0x80, 0, 0, 0, 0, 0, 0, 10,
                                         0, 0, 0,    6, 0, 5, 1, 1, 3};
    cr_expect_eq(eddy__alert_load(st, burn_key, key_len, good, sizeof good), EDDY_OK);
    cr_expect_eq(eddy__alert_watched(st), 1);
    cr_expect_eq(eddy__alert_firing(st), 0);
    /* the same key again replaces it */
    unsigned char firing[sizeof good];
    memcpy(firing, good, sizeof good);
    firing[1] = 2;
    cr_expect_eq(eddy__alert_load(st, burn_key, key_len, firing, sizeof firing), EDDY_OK);
    cr_expect_eq(eddy__alert_watched(st), 1);
    cr_expect_eq(eddy__alert_firing(st), 1);
    struct {
        const char *what;
        size_t at; /* byte to change, or the length to cut to */
        unsigned char to;
        bool cut;
    } bad[] = {
        {"severity past the pairs", 1, 3, false},
        {"ring of 7", 13, 7, false},
        {"run longer than the ring", 15, 6, false},
        {"run of 0", 15, 0, false},
        {"unknown entry tag", 16, 9, false},
        {"truncated", sizeof good - 1, 0, true},
        {"too few windows", 15, 4, false},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char v[sizeof good];
        memcpy(v, good, sizeof good);
        if (!bad[i].cut)
            v[bad[i].at] = bad[i].to;
        size_t len = bad[i].cut ? bad[i].at : sizeof v;
        cr_expect_eq(eddy__alert_load(st, burn_key, key_len, v, len), EDDY_EPARSE, "%s",
                     bad[i].what);
    }
    unsigned char longer[sizeof good + 1];
    memcpy(longer, good, sizeof good);
    longer[sizeof good] = 0;
    cr_expect_eq(eddy__alert_load(st, burn_key, key_len, longer, sizeof longer), EDDY_EPARSE,
                 "trailing bytes");
    /* whole counts above 2^53 are not written as varints */
    static const unsigned char huge[] = {3, 0, 0x80, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 1,
                                         1, 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
    cr_expect_eq(eddy__alert_load(st, burn_key, key_len, huge, sizeof huge), EDDY_EPARSE);
    /* kinds that do not match the alert of that name */
    cr_expect_eq(eddy__alert_load(st, burn_key, key_len, "1", 1), EDDY_EPARSE);
    cr_expect_eq(eddy__alert_load(st, expr_key, key_len, good, sizeof good), EDDY_EPARSE);
    cr_expect_eq(eddy__alert_load(st, expr_key, key_len, "1", 1), EDDY_OK);
    cr_expect_eq(eddy__alert_firing(st), 2);
    eddy__alert_state_free(st);
    eddy_plan_free(plan);
}

/* Running out of memory while parsing, evaluating or loading burn-rate
 * alerts fails with EDDY_ENOMEM and leaks nothing (the sanitizer build
 * checks); the memory estimate counts the rings. */
Test(alert, allocation_failures_fail_cleanly)
{
    const char *yaml = MINUTE_HEAD "{tumbling: 1m}" MINUTE_TAIL
                                   "    burn_rate: {total: n, bad: e, budget: 0.001}\n";
    int successes = 0, failures = 0;
    for (unsigned long n = 1; n < 3000 && successes < 5; n++) {
        struct eddy_plan *plan = NULL;
        char err[512];
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            successes++;
            eddy_plan_free(plan);
            continue;
        }
        cr_assert_eq(rc, EDDY_ENOMEM, "n=%lu: %s", n, err);
        cr_assert_null(plan);
        failures++;
    }
    cr_assert_eq(successes, 5);
    cr_assert_gt(failures, 20);

    struct eddy_plan *plan = plan_from("t.yaml", PLAIN);
    size_t ok_runs = 0;
    for (unsigned long n = 1; n < 400 && ok_runs < 3; n++) {
        struct collector c;
        collector_init(&c);
        struct eddy_output out = {collect, &c};
        struct kv_map map = {0};
        struct eddy_task_changes changes = {counted_put, counted_closed, &map, NULL};
        struct eddy_task *task;
        cr_assert_eq(eddy__task_new(plan, "input", 0, &out, &task), EDDY_OK);
        cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
        eddy_alloc_fail_at(n);
        eddy_err_t rc = EDDY_OK;
        for (size_t i = 0; i < N(ticket_steps) && !rc; i++)
            rc = eddy__task_process(task, ticket_steps[i].record, strlen(ticket_steps[i].record),
                                    (int64_t)i, false);
        if (!rc)
            rc = eddy__task_changes(task, &changes);
        eddy_alloc_fail_at(0);
        cr_assert(rc == EDDY_OK || rc == EDDY_ENOMEM, "n=%lu rc=%d", n, rc);
        ok_runs += rc == EDDY_OK;
        eddy__task_free(task);
        kv_release(&map.kvs);
        collector_release(&c);
    }
    cr_assert_eq(ok_runs, 3);

    struct eddy_alert_state *st;
    cr_assert_eq(eddy__alert_state_new(plan, &st), EDDY_OK);
    size_t empty = eddy__alert_memory(st);
    unsigned char key[16] = "burn";
    unsigned char group[] = {EDDY_V_STR, 1, 0, 0, 0, 'a'};
    memcpy(key + 5, group, sizeof group);
    static const unsigned char value[] = {3, 0, 0x80, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 6, 0, 6};
    eddy_alloc_fail_at(1);
    cr_expect_eq(eddy__alert_load(st, key, 5 + sizeof group, value, sizeof value), EDDY_ENOMEM);
    eddy_alloc_fail_at(0);
    cr_expect_eq(eddy__alert_load(st, key, 5 + sizeof group, value, sizeof value), EDDY_OK);
    cr_expect_geq(eddy__alert_memory(st), empty + 6 * 16 + sizeof group);
    eddy__alert_state_free(st);
    eddy_plan_free(plan);
}

/* ---- restored tasks emit what one task emits ---- */

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

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    memset(l, 0, sizeof *l);
}

static eddy_err_t keep_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                              const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    return keep_line(ctx, key, key_len, value, value_len);
}


/* 72 minutes of service logs (payment incidents at minutes 5-8 and 35-38),
 * late records corrected within 2 minutes, duplicates: a burn-rate alert
 * with short windows (fires and resolves twice) and one with the workbook's
 * (a ring of 360 minutes). One task over everything against tasks that
 * commit now and then, stop at a split, and are restored from their
 * changes alone: the same output, byte for byte and in the same order. */
Test(alert, restored_task_emits_byte_identical_output, .timeout = 120)
{
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = 43000;
    o.event_rate = 10;
    o.seed = 7;
    o.dup_rate = 0.01;
    o.late_rate = 0.02;
    o.max_late_ms = 150000;
    struct lines input = {0};
    cr_assert_eq(eddy_gen_run("service-logs", &o, keep_line, &input, NULL), EDDY_OK);
    const char *yaml = "name: burn-test\n"
                       "source:\n"
                       "  topic: service-logs\n"
                       "  key: [service]\n"
                       "  timestamp: {field: timestamp, format: rfc3339}\n"
                       "  fields: {service: string, status_code: int, request_id: string}\n"
                       "dedup: {field: request_id, within: 10m}\n"
                       "grace: 30s\n"
                       "late: {correct_within: 2m}\n"
                       "tables:\n"
                       "  services: {file: services.yaml, key: service}\n"
                       "derive:\n"
                       "  is_error: status_code >= 500\n"
                       "aggregations:\n"
                       "  - name: service_1m\n"
                       "    group_by: [service]\n"
                       "    window: {tumbling: 1m}\n"
                       "    metrics: {requests: count(), errors: count_if(is_error)}\n"
                       "alerts:\n"
                       "  - name: fast\n"
                       "    on: service_1m\n"
                       "    burn_rate:\n"
                       "      total: requests\n"
                       "      bad: errors\n"
                       "      budget: services.error_budget\n"
                       "      windows:\n"
                       "        - {long: 10m, short: 2m, factor: 14.4, severity: page}\n"
                       "        - {long: 30m, short: 5m, factor: 6, severity: ticket}\n"
                       "  - name: workbook\n"
                       "    on: service_1m\n"
                       "    burn_rate: {total: requests, bad: errors, budget: "
                       "services.error_budget}\n";
    struct eddy_plan *plan = plan_from(EDDY_SOURCE_DIR "/topologies/t.yaml", yaml);
    struct lines whole = {0};
    struct eddy_output o_whole = {keep_output, &whole};
    struct eddy_task *all;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &o_whole, &all), EDDY_OK);
    for (size_t i = 0; i < input.n; i++)
        cr_assert_eq(eddy__task_process(all, input.text[i], strlen(input.text[i]), (int64_t)i,
                                        false),
                     EDDY_OK);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    eddy__task_free(all);
    size_t fired = 0, resolved = 0;
    for (size_t i = 0; i < whole.n; i++) {
        fired += strstr(whole.text[i], "\"alert\":\"fast\",\"state\":\"firing\"") != NULL;
        resolved += strstr(whole.text[i], "\"alert\":\"fast\",\"state\":\"resolved\"") != NULL;
    }
    cr_assert_geq(fired, 2, "the test needs incidents");
    cr_assert_geq(resolved, 2, "the test needs resolutions");

    /* splits: before the first incident, inside it, in the quiet between,
     * inside the second */
    static const double splits[] = {0.03, 0.09, 0.3, 0.51};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        size_t split = (size_t)(input.n * splits[s]);
        struct lines parts = {0};
        struct eddy_output o_parts = {keep_output, &parts};
        struct kvmap state = {0};
        struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
        struct eddy_task *a, *b;
        cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &a), EDDY_OK);
        cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
        for (size_t i = 0; i < split; i++) {
            cr_assert_eq(eddy__task_process(a, input.text[i], strlen(input.text[i]), (int64_t)i,
                                            false),
                         EDDY_OK);
            if (i % 577 == 0)
                cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
        }
        cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
        eddy__task_free(a);
        cr_assert_eq(eddy__task_new(plan, "in", 0, &o_parts, &b), EDDY_OK);
        size_t n_stores;
        const char **stores = eddy_plan_store_names(plan, &n_stores);
        for (size_t st = 0; st < n_stores; st++)
            for (size_t i = 0; i < state.n; i++)
                if (strcmp(state.items[i].store, stores[st]) == 0)
                    cr_assert_eq(eddy__task_load(b, stores[st], state.items[i].key,
                                                 state.items[i].key_len, state.items[i].value,
                                                 state.items[i].value_len),
                                 EDDY_OK);
        eddy_free(stores);
        for (size_t i = split; i < input.n; i++)
            cr_assert_eq(eddy__task_process(b, input.text[i], strlen(input.text[i]), (int64_t)i,
                                            false),
                         EDDY_OK);
        cr_assert_eq(eddy__task_flush(b), EDDY_OK);
        eddy__task_free(b);
        cr_assert_eq(parts.n, whole.n, "split %zu: %zu outputs against %zu", s, parts.n, whole.n);
        for (size_t i = 0; i < whole.n; i++)
            cr_assert_str_eq(parts.text[i], whole.text[i], "split %zu, output %zu", s, i);
        kv_release(&state);
        lines_free(&parts);
    }
    lines_free(&whole);
    lines_free(&input);
    eddy_plan_free(plan);
}
