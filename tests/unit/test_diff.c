/*
 * test_diff.c - upgrade analysis (src/config/diff.c): store fingerprints,
 * their compatibility rule, and the exact `eddy diff` text with the number
 * of incompatible stores for pairs of small topologies.
 *
 * Each pair is the base topology below and a copy with a few text edits
 * (each edit replaces the first occurrence of a string, which must exist).
 * The table file of the base lives in tests/unit/data/diff/; tests run with
 * the project root as working directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "eddy/topology.h"

#ifndef EDDY_SOURCE_DIR
#define EDDY_SOURCE_DIR "."
#endif

static void enter_root(void)
{
    cr_assert_eq(chdir(EDDY_SOURCE_DIR), 0);
}

TestSuite(diff, .init = enter_root);

static const char base_yaml[] = "name: shop\n"
                                "source:\n"
                                "  topic: logs\n"
                                "  key: [service]\n"
                                "  timestamp: {field: ts, format: unix_ms}\n"
                                "  fields:\n"
                                "    service: string\n"
                                "    status: int\n"
                                "    latency: number\n"
                                "    request_id: string\n"
                                "dedup: {field: request_id, within: 10m}\n"
                                "grace: 1m\n"
                                "tables:\n"
                                "  services: {file: services.yaml, key: service}\n"
                                "derive:\n"
                                "  is_error: status >= 500\n"
                                "  is_slow: latency > services.slow_ms\n"
                                "  unused: status * 2\n"
                                "aggregations:\n"
                                "  - name: svc_1m\n"
                                "    group_by: [service]\n"
                                "    window: {tumbling: 1m}\n"
                                "    metrics:\n"
                                "      requests: count()\n"
                                "      error_rate: ratio(is_error)\n"
                                "      errors: count_if(is_error)\n"
                                "      slow: count_if(is_slow)\n"
                                "alerts:\n"
                                "  - name: burn\n"
                                "    on: svc_1m\n"
                                "    when: error_rate > services.budget\n";

struct edit {
    const char *from, *to;
};

/* @text with the first occurrence of e.from replaced by e.to (malloc'd). */
static char *edited(const char *text, struct edit e)
{
    if (!e.from)
        return strdup(text);
    const char *at = strstr(text, e.from);
    cr_assert_not_null(at, "edit: '%s' not found", e.from);
    size_t n = strlen(text) - strlen(e.from) + strlen(e.to) + 1;
    char *out = malloc(n);
    cr_assert_not_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, e.to, at + strlen(e.from));
    return out;
}

static struct eddy_plan *parse(const char *text)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    eddy_err_t rc = eddy_topology_parse("tests/unit/data/diff/topology.yaml", text, strlen(text),
                                        &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "%s", err);
    return plan;
}

/* The base with up to three edits applied in order. */
static struct eddy_plan *variant(struct edit e1, struct edit e2, struct edit e3)
{
    char *a = edited(base_yaml, e1), *b = edited(a, e2), *c = edited(b, e3);
    struct eddy_plan *plan = parse(c);
    free(a);
    free(b);
    free(c);
    return plan;
}

#define NONE ((struct edit){NULL, NULL})
#define EDIT(from, to) ((struct edit){from, to})

static char *diff_text(const struct eddy_plan *old_plan, const struct eddy_plan *new_plan,
                       int *incompatible, eddy_err_t *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    *rc = eddy_plan_diff(old_plan, new_plan, out, incompatible);
    fclose(out);
    return text;
}

struct diff_case {
    const char *what;
    struct edit old_edit; /* base -> old topology */
    struct edit edits[3]; /* old -> new topology */
    int incompatible;
    const char *expected;
};

static const struct diff_case cases[] = {
    {
        "identical topologies keep everything",
        {NULL, NULL},
        {{NULL, NULL}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "a metric added rebuilds its store and changes its output",
        {NULL, NULL},
        {{"      slow: count_if(is_slow)\n", "      slow: count_if(is_slow)\n"
                                             "      p95: quantile(latency, 0.95)\n"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: accumulators changed (added quantile(latency)) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: metric p95 added\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: metric p95 added\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 1 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "a derive a metric uses changed: same layout, still a rebuild",
        {NULL, NULL},
        {{"status >= 500", "status >= 400"}},
        2,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: definition of is_error changed (status >= 500 -> status >= 400) "
        "(its changelog shop-svc_1m-changelog is reset; results restart from the input still in "
        "Kafka)\n"
        "rebuild store alerts: alert burn: definition of is_error changed (status >= 500 -> status "
        ">= 400) (its changelog shop-alerts-changelog is reset; firing alerts are forgotten and "
        "fire again if still true)\n"
        "output topic shop-svc_1m: changes meaning: definition of is_error changed (status >= 500 "
        "-> status >= 400)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: definition of is_error "
        "changed (status >= 500 -> status >= 400)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 2 kept, 2 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "a derive nothing uses changed: keep",
        {NULL, NULL},
        {{"status * 2", "status * 3"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "blanks inside an expression do not matter",
        {NULL, NULL},
        {{"status >= 500", "status>=500"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "window size changed",
        {NULL, NULL},
        {{"{tumbling: 1m}", "{tumbling: 5m}"}},
        2,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: window changed (tumbling 1m -> tumbling 5m) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store alerts: alert burn: window changed (tumbling 1m -> tumbling 5m) (its "
        "changelog shop-alerts-changelog is reset; firing alerts are forgotten and fire again if "
        "still true)\n"
        "output topic shop-svc_1m: changes meaning: window changed (tumbling 1m -> tumbling 5m)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: window changed (tumbling 1m "
        "-> tumbling 5m)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 2 kept, 2 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "grace changed: store rebuilt, outputs keep their meaning",
        {NULL, NULL},
        {{"grace: 1m", "grace: 2m"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: grace changed (1m -> 2m) (its changelog shop-svc_1m-changelog is "
        "reset; results restart from the input still in Kafka)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 1 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "group_by order changed",
        {"group_by: [service]", "group_by: [service, status]"},
        {{"group_by: [service, status]", "group_by: [status, service]"}},
        2,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: group_by changed (service,status -> status,service) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store alerts: alert burn: group_by changed (service,status -> status,service) "
        "(its changelog shop-alerts-changelog is reset; firing alerts are forgotten and fire again "
        "if still true)\n"
        "output topic shop-svc_1m: changes meaning: group_by changed (service,status -> "
        "status,service)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: group_by changed "
        "(service,status -> status,service)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 2 kept, 2 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "aggregation renamed: drop + new",
        {NULL, NULL},
        {{"name: svc_1m", "name: svc_one"}, {"on: svc_1m", "on: svc_one"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "drop store svc_1m (changelog shop-svc_1m-changelog is no longer used)\n"
        "rebuild store alerts: alert burn: aggregation changed (svc_1m -> svc_one) (its changelog "
        "shop-alerts-changelog is reset; firing alerts are forgotten and fire again if still "
        "true)\n"
        "new store svc_one (changelog shop-svc_one-changelog, starts empty): same definition as "
        "dropped store svc_1m, but a renamed aggregation is a drop + new: its state is not carried "
        "over\n"
        "output topic shop-svc_1m: no longer written\n"
        "output topic shop-alerts: changes meaning: aggregation changed (svc_1m -> svc_one)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "output topic shop-svc_one: new\n"
        "summary: stores 2 kept, 1 rebuilt, 1 new, 1 dropped; output topics 1 changing meaning, 1 "
        "new, 1 no longer written\n",
    },
    {
        "alert condition changed: alerts store rebuilt",
        {NULL, NULL},
        {{"when: error_rate > services.budget", "when: error_rate > services.budget * 2"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "rebuild store alerts: alert burn: condition changed (error_rate > services.budget -> "
        "error_rate > services.budget * 2) (its changelog shop-alerts-changelog is reset; firing "
        "alerts are forgotten and fire again if still true)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: changes meaning: condition changed (error_rate > "
        "services.budget -> error_rate > services.budget * 2)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 1 rebuilt, 0 new, 0 dropped; output topics 1 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "topology name changed: everything is new",
        {NULL, NULL},
        {{"name: shop", "name: shop2"}},
        4,
        "topology name changes: shop -> shop2: new consumer group, changelogs and default topic "
        "names; no committed offset or state carries over\n"
        "rebuild store meta: topology name changed (shop -> shop2) (new changelog "
        "shop2-meta-changelog starts empty; shop-meta-changelog is no longer used)\n"
        "rebuild store dedup: topology name changed (shop -> shop2) (new changelog "
        "shop2-dedup-changelog starts empty; shop-dedup-changelog is no longer used)\n"
        "rebuild store svc_1m: topology name changed (shop -> shop2) (new changelog "
        "shop2-svc_1m-changelog starts empty; shop-svc_1m-changelog is no longer used)\n"
        "rebuild store alerts: topology name changed (shop -> shop2) (new changelog "
        "shop2-alerts-changelog starts empty; shop-alerts-changelog is no longer used)\n"
        "output topic shop-svc_1m: no longer written\n"
        "output topic shop-alerts: no longer written\n"
        "output topic shop-dlq: no longer written\n"
        "output topic shop2-svc_1m: new\n"
        "output topic shop2-alerts: new\n"
        "output topic shop2-dlq: new\n"
        "summary: stores 0 kept, 4 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 3 "
        "new, 3 no longer written\n",
    },
    {
        "explicit output topic survives a name change",
        {"    window: {tumbling: 1m}\n", "    window: {tumbling: 1m}\n"
                                         "    output: {topic: svc-results}\n"},
        {{"name: shop", "name: shop2"}},
        4,
        "topology name changes: shop -> shop2: new consumer group, changelogs and default topic "
        "names; no committed offset or state carries over\n"
        "rebuild store meta: topology name changed (shop -> shop2) (new changelog "
        "shop2-meta-changelog starts empty; shop-meta-changelog is no longer used)\n"
        "rebuild store dedup: topology name changed (shop -> shop2) (new changelog "
        "shop2-dedup-changelog starts empty; shop-dedup-changelog is no longer used)\n"
        "rebuild store svc_1m: topology name changed (shop -> shop2) (new changelog "
        "shop2-svc_1m-changelog starts empty; shop-svc_1m-changelog is no longer used)\n"
        "rebuild store alerts: topology name changed (shop -> shop2) (new changelog "
        "shop2-alerts-changelog starts empty; shop-alerts-changelog is no longer used)\n"
        "output topic svc-results: keeps its meaning\n"
        "output topic shop-alerts: no longer written\n"
        "output topic shop-dlq: no longer written\n"
        "output topic shop2-alerts: new\n"
        "output topic shop2-dlq: new\n"
        "summary: stores 0 kept, 4 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 2 "
        "new, 2 no longer written\n",
    },
    {
        "dedup within changed: dedup rebuilt, aggregates kept",
        {NULL, NULL},
        {{"within: 10m", "within: 20m"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "rebuild store dedup: dedup within changed (10m -> 20m) (its changelog "
        "shop-dedup-changelog is reset; ids seen before the upgrade are forgotten)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog): dedup changed; it only decides which "
        "events count from now on, existing aggregates stay valid\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 1 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "dedup removed: store dropped, aggregates kept",
        {NULL, NULL},
        {{"dedup: {field: request_id, within: 10m}\n", ""}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "drop store dedup (changelog shop-dedup-changelog is no longer used)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog): dedup removed; it only decides which "
        "events count from now on, existing aggregates stay valid\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 0 rebuilt, 0 new, 1 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "alert added: alerts store kept",
        {NULL, NULL},
        {{"    when: error_rate > services.budget\n", "    when: error_rate > services.budget\n"
                                                      "  - name: slow\n"
                                                      "    on: svc_1m\n"
                                                      "    when: slow > 10\n"
                                                      "    output: {topic: slow-alerts}\n"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog): alert slow added\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "output topic slow-alerts: new\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 1 "
        "new, 0 no longer written\n",
    },
    {
        "metric renamed: store kept, output changes meaning",
        {NULL, NULL},
        {{"errors: count_if", "error_count: count_if"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: metric errors removed; metric error_count "
        "added\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: metric errors removed; "
        "results of svc_1m: metric error_count added\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "emit_empty added: store kept, output changes meaning",
        {NULL, NULL},
        {{"    window: {tumbling: 1m}\n", "    window: {tumbling: 1m}\n"
                                          "    emit_empty: true\n"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: emit_empty changed (false -> true)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: emit_empty changed (false "
        "-> true)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "emit updates: store kept, alerts keep their meaning",
        {NULL, NULL},
        {{"    window: {tumbling: 1m}\n", "    window: {tumbling: 1m}\n"
                                          "    emit: {updates: 10s}\n"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: emit changed (final -> updates every 10s)\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 1 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "quantile q changed: store kept, output changes meaning",
        {"      slow: count_if(is_slow)\n", "      slow: count_if(is_slow)\n"
                                            "      p95: quantile(latency, 0.95)\n"},
        {{"quantile(latency, 0.95)", "quantile(latency, 0.99)"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: metric p95 changed (quantile(latency, 0.95) -> "
        "quantile(latency, 0.99))\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: metric p95 changed "
        "(quantile(latency, 0.95) -> quantile(latency, 0.99))\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "source topic changed: every store rebuilt",
        {NULL, NULL},
        {{"topic: logs", "topic: logs2"}},
        4,
        "source topic changes: logs -> logs2: offsets committed for logs do not apply; every store "
        "is rebuilt\n"
        "rebuild store meta: source topic changed (logs -> logs2) (its changelog "
        "shop-meta-changelog is reset; stream time restarts from the input)\n"
        "rebuild store dedup: source topic changed (logs -> logs2) (its changelog "
        "shop-dedup-changelog is reset; ids seen before the upgrade are forgotten)\n"
        "rebuild store svc_1m: source topic changed (logs -> logs2) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store alerts: source topic changed (logs -> logs2) (its changelog "
        "shop-alerts-changelog is reset; firing alerts are forgotten and fire again if still "
        "true)\n"
        "output topic shop-svc_1m: changes meaning: source topic changed (logs -> logs2)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: source topic changed (logs "
        "-> logs2)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 0 kept, 4 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "source field type changed under a derive",
        {NULL, NULL},
        {{"latency: number", "latency: int"}},
        1,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: definition of latency changed (number@latency -> int@latency) (its "
        "changelog shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "keep store alerts (changelog shop-alerts-changelog)\n"
        "output topic shop-svc_1m: changes meaning: definition of latency changed (number@latency "
        "-> int@latency)\n"
        "output topic shop-alerts: changes meaning: results of svc_1m: definition of latency "
        "changed (number@latency -> int@latency)\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 3 kept, 1 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "source.key change makes an aggregation repartitioned",
        {NULL, NULL},
        {{"key: [service]", "key: [request_id]"}},
        2,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: partitioning changed (input -> repartition) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store alerts: alert burn: partitioning changed (input -> repartition) (its "
        "changelog shop-alerts-changelog is reset; firing alerts are forgotten and fire again if "
        "still true)\n"
        "new repartition topic shop-svc_1m-repartition\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: keeps its meaning\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 2 kept, 2 rebuilt, 0 new, 0 dropped; output topics 0 changing meaning, 0 "
        "new, 0 no longer written\n",
    },

    {
        "two alerts share a topic: reasons name their writer",
        {"    when: error_rate > services.budget\n", "    when: error_rate > services.budget\n"
                                                     "  - name: slow\n"
                                                     "    on: svc_1m\n"
                                                     "    when: slow > 10\n"},
        {{"when: error_rate > services.budget", "when: error_rate >= services.budget"},
         {"slow: count_if(is_slow)", "slow: count_if(is_error)"}},
        2,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "rebuild store svc_1m: accumulators changed (removed ratio(is_slow)) (its changelog "
        "shop-svc_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store alerts: alert burn: condition changed (error_rate > services.budget -> "
        "error_rate >= services.budget); alert slow: definition of slow changed (count_if(is_slow) "
        "-> count_if(is_error)) (its changelog shop-alerts-changelog is reset; firing alerts are "
        "forgotten and fire again if still true)\n"
        "output topic shop-svc_1m: changes meaning: metric slow changed (count_if(is_slow) -> "
        "count_if(is_error))\n"
        "output topic shop-alerts: changes meaning: alert burn: condition changed (error_rate > "
        "services.budget -> error_rate >= services.budget); alert burn: results of svc_1m: metric "
        "slow changed (count_if(is_slow) -> count_if(is_error)); alert slow: results of svc_1m: "
        "metric slow changed (count_if(is_slow) -> count_if(is_error))\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 2 kept, 2 rebuilt, 0 new, 0 dropped; output topics 2 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
    {
        "an alert added to a shared topic",
        {NULL, NULL},
        {{"    when: error_rate > services.budget\n", "    when: error_rate > services.budget\n"
                                                      "  - name: slow\n"
                                                      "    on: svc_1m\n"
                                                      "    when: slow > 10\n"}},
        0,
        "keep store meta (changelog shop-meta-changelog)\n"
        "keep store dedup (changelog shop-dedup-changelog)\n"
        "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
        "keep store alerts (changelog shop-alerts-changelog): alert slow added\n"
        "output topic shop-svc_1m: keeps its meaning\n"
        "output topic shop-alerts: changes meaning: now also written by alert slow\n"
        "output topic shop-dlq: keeps its meaning\n"
        "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 1 changing meaning, 0 "
        "new, 0 no longer written\n",
    },
};

Test(diff, pairs_of_topologies_give_the_exact_diff_and_incompatible_count)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct diff_case *c = &cases[i];
        struct eddy_plan *old_plan = variant(c->old_edit, NONE, NONE);
        struct eddy_plan *new_plan = variant(c->old_edit, c->edits[0], c->edits[1]);
        cr_assert_null(c->edits[2].from);
        int incompatible = -1;
        eddy_err_t rc;
        char *text = diff_text(old_plan, new_plan, &incompatible, &rc);
        cr_expect_eq(rc, EDDY_OK, "%s", c->what);
        cr_expect_str_eq(text, c->expected, "%s:\n got:\n%s\nwant:\n%s", c->what, text,
                         c->expected);
        cr_expect_eq(incompatible, c->incompatible, "%s: incompatible %d, want %d", c->what,
                     incompatible, c->incompatible);
        free(text);
        eddy_plan_free(old_plan);
        eddy_plan_free(new_plan);
    }
}

Test(diff, store_names_follow_the_runtime_load_order)
{
    struct eddy_plan *plan = variant(NONE, NONE, NONE);
    size_t n = 0;
    const char **names = eddy_plan_store_names(plan, &n);
    cr_assert_eq(n, 4);
    cr_expect_str_eq(names[0], "meta");
    cr_expect_str_eq(names[1], "dedup");
    cr_expect_str_eq(names[2], "svc_1m");
    cr_expect_str_eq(names[3], "alerts");
    eddy_free(names);
    eddy_plan_free(plan);

    plan = variant(EDIT("dedup: {field: request_id, within: 10m}\n", ""),
                   EDIT("alerts:\n  - name: burn\n    on: svc_1m\n"
                        "    when: error_rate > services.budget\n",
                        ""),
                   NONE);
    names = eddy_plan_store_names(plan, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(names[0], "meta");
    cr_expect_str_eq(names[1], "svc_1m");
    eddy_free(names);
    eddy_plan_free(plan);
}

Test(diff, fingerprints_have_the_documented_text)
{
    struct eddy_plan *plan = variant(NONE, NONE, NONE);
    static const char *const expected[][2] = {
        {"meta", "meta v1;topology=shop;source=logs"},
        {"dedup", "dedup v1;topology=shop;source=logs;field=request_id:string@request_id;"
                  "within=10m"},
        {"svc_1m", "aggregation v1;topology=shop;source=logs;time=ts unix_ms;window=tumbling 1m;"
                   "from=-;grace=1m;partition=input;group=service;where=-;"
                   "accumulators=count(),ratio(is_error),ratio(is_slow);"
                   "defs=is_error=status >= 500,is_slow=latency > services.slow_ms,"
                   "latency:number@latency,service:string@service,"
                   "services.slow_ms:table keyed by service,status:int@status"},
        {"alerts", "alerts v1;topology=shop;source=logs;alert burn{on=svc_1m;time=ts unix_ms;"
                   "window=tumbling 1m;from=-;partition=input;group=service;where=-;"
                   "when=error_rate > services.budget;defs=error_rate=ratio(is_error),"
                   "is_error=status >= 500,service:string@service,"
                   "services.budget:table keyed by service,status:int@status}"},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char *fp = eddy_plan_store_fingerprint(plan, expected[i][0]);
        cr_expect_str_eq(fp, expected[i][1], "store %s", expected[i][0]);
        eddy_free(fp);
    }
    eddy_plan_free(plan);
}

Test(diff, fingerprints_are_equal_for_two_parses_of_the_same_text)
{
    struct eddy_plan *a = variant(NONE, NONE, NONE), *b = variant(NONE, NONE, NONE);
    size_t n = 0;
    const char **names = eddy_plan_store_names(a, &n);
    for (size_t i = 0; i < n; i++) {
        char *fa = eddy_plan_store_fingerprint(a, names[i]);
        char *fb = eddy_plan_store_fingerprint(b, names[i]);
        cr_assert_not_null(fa);
        cr_expect_str_eq(fa, fb, "store %s", names[i]);
        eddy_free(fa);
        eddy_free(fb);
    }
    eddy_free(names);
    eddy_plan_free(a);
    eddy_plan_free(b);
}

/* Whether the fingerprint of @store differs between the base and an edit. */
static bool fingerprint_changes(const char *store, struct edit e1, struct edit e2)
{
    struct eddy_plan *a = variant(NONE, NONE, NONE), *b = variant(e1, e2, NONE);
    char *fa = eddy_plan_store_fingerprint(a, store);
    char *fb = eddy_plan_store_fingerprint(b, store);
    cr_assert(fa && fb, "store %s", store);
    bool changed = strcmp(fa, fb) != 0;
    eddy_free(fa);
    eddy_free(fb);
    eddy_plan_free(a);
    eddy_plan_free(b);
    return changed;
}

Test(diff, fingerprints_change_exactly_with_what_state_means)
{
    static const struct {
        const char *store;
        struct edit e1, e2;
        bool changes;
    } rows[] = {
        {"svc_1m", {"{tumbling: 1m}", "{hopping: 1m, advance: 30s}"}, {NULL, NULL}, true},
        {"svc_1m", {"grace: 1m", "grace: 90s"}, {NULL, NULL}, true},
        {"svc_1m", {"    window:", "    where: status != 0\n    window:"}, {NULL, NULL}, true},
        {"svc_1m", {"format: unix_ms", "format: unix_s"}, {NULL, NULL}, true},
        {"svc_1m", {"field: ts,", "field: meta.ts,"}, {NULL, NULL}, true},
        {"svc_1m", {"latency: number", "latency: {type: number, path: m.lat}"}, {NULL, NULL}, true},
        {"svc_1m", {"slow_ms", "budget"}, {NULL, NULL}, true},
        {"svc_1m", {"requests: count()", "requests: count_if(is_slow)"}, {NULL, NULL}, true},
        {"svc_1m", {"errors: count_if(is_error)", "errors: ratio(is_error)"}, {NULL, NULL}, false},
        {"svc_1m", {"errors: count_if", "failures: count_if"}, {NULL, NULL}, false},
        {"svc_1m", {"status * 2", "status * 4"}, {NULL, NULL}, false},
        {"svc_1m",
         {"window: {tumbling: 1m}", "window: {tumbling: 1m}\n    emit: {updates: 10s}"},
         {NULL, NULL},
         false},
        {"svc_1m", {"within: 10m", "within: 1h"}, {NULL, NULL}, false},
        {"svc_1m",
         {"status: int\n", "status: {type: int, required: false}\n"},
         {NULL, NULL},
         false},
        {"svc_1m", {"name: shop", "name: shop2"}, {NULL, NULL}, true},
        {"dedup", {"within: 10m", "within: 1h"}, {NULL, NULL}, true},
        {"dedup",
         {"request_id: string", "request_id: {type: string, path: rid}"},
         {NULL, NULL},
         true},
        {"dedup", {"grace: 1m", "grace: 2m"}, {NULL, NULL}, false},
        {"meta", {"topic: logs", "topic: logs2"}, {NULL, NULL}, true},
        {"meta", {"grace: 1m", "grace: 2m"}, {NULL, NULL}, false},
        {"alerts", {"when: error_rate >", "when: error_rate >="}, {NULL, NULL}, true},
        {"alerts", {"status >= 500", "status > 500"}, {NULL, NULL}, true},
        {"alerts", {"{tumbling: 1m}", "{tumbling: 2m}"}, {NULL, NULL}, true},
        {"alerts", {"slow: count_if(is_slow)", "slow: count_if(is_error)"}, {NULL, NULL}, false},
        {"alerts", {"grace: 1m", "grace: 2m"}, {NULL, NULL}, false},
        {"alerts", {"when: error_rate > services.budget", "when: absent(3)"}, {NULL, NULL}, true},
        {"svc_1m",
         {"window: {tumbling: 1m}", "window: {tumbling: 1m}\n    emit_empty: true"},
         {NULL, NULL},
         false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_expect_eq(fingerprint_changes(rows[i].store, rows[i].e1, rows[i].e2), rows[i].changes,
                     "row %zu: store %s, '%s' -> '%s'", i, rows[i].store, rows[i].e1.from,
                     rows[i].e1.to);
}

Test(diff, unknown_and_absent_stores_have_no_fingerprint)
{
    struct eddy_plan *plan =
        variant(EDIT("dedup: {field: request_id, within: 10m}\n", ""), NONE, NONE);
    cr_expect_null(eddy_plan_store_fingerprint(plan, "nope"));
    cr_expect_null(eddy_plan_store_fingerprint(plan, "dedup"));
    eddy_plan_free(plan);
}

static char *alerts_fingerprint(struct edit e1, struct edit e2)
{
    struct eddy_plan *plan = variant(e1, e2, NONE);
    char *fp = eddy_plan_store_fingerprint(plan, "alerts");
    cr_assert_not_null(fp);
    eddy_plan_free(plan);
    return fp;
}

#define SECOND_ALERT                                                                               \
    EDIT("    when: error_rate > services.budget\n",                                               \
         "    when: error_rate > services.budget\n  - name: slow\n    on: svc_1m\n"                \
         "    when: slow > 10\n")

Test(diff, alerts_state_survives_alerts_added_or_removed_but_not_changed)
{
    char *base = alerts_fingerprint(NONE, NONE);
    char *two = alerts_fingerprint(SECOND_ALERT, NONE);
    char *changed = alerts_fingerprint(
        SECOND_ALERT, EDIT("error_rate > services.budget\n", "error_rate > services.budget / 2\n"));
    char *renamed = alerts_fingerprint(EDIT("name: shop", "name: shop2"), NONE);
    char *semicolon = alerts_fingerprint(
        EDIT("error_rate > services.budget", "error_rate > services.budget and service != \";}\""),
        NONE);
    cr_expect_str_neq(base, two);
    cr_expect(eddy_plan_fingerprint_compatible(base, two), "alert added");
    cr_expect(eddy_plan_fingerprint_compatible(two, base), "alert removed");
    cr_expect_not(eddy_plan_fingerprint_compatible(two, changed), "condition changed");
    cr_expect_not(eddy_plan_fingerprint_compatible(base, changed), "condition changed + added");
    cr_expect_not(eddy_plan_fingerprint_compatible(base, renamed), "topology renamed");
    cr_expect_not(eddy_plan_fingerprint_compatible(base, semicolon), "literal with ';}'");
    cr_expect(eddy_plan_fingerprint_compatible(semicolon, semicolon));
    char why[1024];
    cr_expect_eq(eddy_plan_fingerprint_explain(base, two, why, sizeof why), 0);
    cr_expect_str_eq(why, "");
    eddy_plan_fingerprint_explain(base, changed, why, sizeof why);
    cr_expect_str_eq(why, "alert burn{on=svc_1m;time=ts unix_ms;window=tumbling 1m;from=-;"
                          "partition=input;group=service;where=-;when=error_rate > "
                          "services.budget;defs=error_rate=ratio(is_error),is_error=status >= "
                          "500,service:string@service,services.budget:table keyed by "
                          "service,status:int@status} -> alert burn{on=svc_1m;time=ts "
                          "unix_ms;window=tumbling 1m;from=-;partition=input;group=service;"
                          "where=-;when=error_rate > services.budget / 2;defs=error_rate="
                          "ratio(is_error),is_error=status >= 500,service:string@service,"
                          "services.budget:table keyed by service,status:int@status}");
    cr_expect_not(eddy_plan_fingerprint_compatible(NULL, base));
    cr_expect_not(eddy_plan_fingerprint_compatible(base, NULL));
    eddy_free(base);
    eddy_free(two);
    eddy_free(changed);
    eddy_free(renamed);
    eddy_free(semicolon);
}

Test(diff, other_stores_are_compatible_only_when_equal_and_explain_the_difference)
{
    struct eddy_plan *a = variant(NONE, NONE, NONE);
    struct eddy_plan *b = variant(EDIT("grace: 1m", "grace: 2m"), NONE, NONE);
    char *fa = eddy_plan_store_fingerprint(a, "svc_1m"),
         *fb = eddy_plan_store_fingerprint(b, "svc_1m");
    cr_expect(eddy_plan_fingerprint_compatible(fa, fa));
    cr_expect_not(eddy_plan_fingerprint_compatible(fa, fb));
    char why[64];
    cr_expect_eq(eddy_plan_fingerprint_explain(fa, fb, why, sizeof why),
                 strlen("grace=1m -> grace=2m"));
    cr_expect_str_eq(why, "grace=1m -> grace=2m");
    cr_expect_eq(eddy_plan_fingerprint_explain(fa, fa, why, sizeof why), 0);
    cr_expect_str_eq(why, "");
    char tiny[8];
    cr_expect_eq(eddy_plan_fingerprint_explain(fa, fb, tiny, sizeof tiny),
                 strlen("grace=1m -> grace=2m"));
    cr_expect_str_eq(tiny, "grace=1");
    cr_expect_eq(eddy_plan_fingerprint_explain("meta v1;topology=a", "meta v1", why, sizeof why),
                 strlen("topology=a -> (nothing)"));
    cr_expect_str_eq(why, "topology=a -> (nothing)");
    eddy_free(fa);
    eddy_free(fb);
    eddy_plan_free(a);
    eddy_plan_free(b);
}

Test(diff, allocation_failures_are_reported_and_leak_nothing)
{
    struct eddy_plan *a = variant(NONE, NONE, NONE);
    struct eddy_plan *b =
        variant(EDIT("status >= 500", "status >= 400"), EDIT("name: svc_1m", "name: svc_one"),
                EDIT("on: svc_1m", "on: svc_one"));
    int incompatible;
    eddy_err_t rc;
    char *want = diff_text(a, b, &incompatible, &rc);
    cr_assert_eq(rc, EDDY_OK);
    unsigned long nth;
    for (nth = 1; nth < 100000; nth++) {
        eddy_alloc_fail_at(nth);
        char *text = diff_text(a, b, &incompatible, &rc);
        char *fp = eddy_plan_store_fingerprint(b, "alerts");
        eddy_alloc_fail_at(0);
        cr_assert(rc == EDDY_OK || rc == EDDY_ENOMEM, "rc %d at allocation %lu", rc, nth);
        bool done = rc == EDDY_OK && fp;
        if (rc == EDDY_OK)
            cr_expect_str_eq(text, want, "allocation %lu", nth);
        free(text);
        eddy_free(fp);
        if (done)
            break;
    }
    cr_expect_lt(nth, 100000);
    free(want);
    eddy_plan_free(a);
    eddy_plan_free(b);
}

static const char rollup_yaml[] = "name: uu\n"
                                  "source:\n"
                                  "  topic: frames\n"
                                  "  timestamp: {field: ts, format: unix_s}\n"
                                  "  fields:\n"
                                  "    uid: string\n"
                                  "aggregations:\n"
                                  "  - name: users_1m\n"
                                  "    where: uid != ''\n"
                                  "    window: {tumbling: 1m}\n"
                                  "    metrics:\n"
                                  "      users: distinct(uid)\n"
                                  "  - name: users_1h\n"
                                  "    window: {tumbling: 1h, from: users_1m}\n"
                                  "  - name: users_1d\n"
                                  "    window: {tumbling: 1d, from: users_1h}\n";

Test(diff, rollups_depend_on_the_whole_chain_down_to_the_events)
{
    struct eddy_plan *a = parse(rollup_yaml);
    char *edited_yaml = edited(rollup_yaml, EDIT("uid != ''", "uid != 'bot'"));
    struct eddy_plan *b = parse(edited_yaml);
    char *fp = eddy_plan_store_fingerprint(a, "users_1d");
    cr_expect_str_eq(fp, "aggregation v1;topology=uu;source=frames;time=ts unix_s;"
                         "window=tumbling 1d;from=users_1h tumbling 1h <- users_1m tumbling 1m "
                         "where uid != \"\" partition repartition;grace=0s;partition=input;"
                         "group=;where=-;accumulators=distinct(uid);defs=uid:string@uid");
    int incompatible = -1;
    eddy_err_t rc;
    char *text = diff_text(a, b, &incompatible, &rc);
    cr_expect_eq(rc, EDDY_OK);
    cr_expect_eq(incompatible, 3);
    cr_expect_str_eq(
        text,
        "keep store meta (changelog uu-meta-changelog)\n"
        "rebuild store users_1m: where changed (uid != \"\" -> uid != \"bot\") (its changelog "
        "uu-users_1m-changelog is reset; results restart from the input still in Kafka)\n"
        "rebuild store users_1h: rollup source changed (users_1m tumbling 1m where uid != \"\" "
        "partition repartition -> users_1m tumbling 1m where uid != \"bot\" partition "
        "repartition) (its changelog uu-users_1h-changelog is reset; results restart from the "
        "input still in Kafka)\n"
        "rebuild store users_1d: rollup source changed (users_1h tumbling 1h <- users_1m tumbling "
        "1m where uid != \"\" partition repartition -> users_1h tumbling 1h <- users_1m tumbling "
        "1m where uid != \"bot\" partition repartition) (its changelog uu-users_1d-changelog is "
        "reset; results restart from the input still in Kafka)\n"
        "rebuild repartition topic uu-users_1m-repartition: unmerged partial aggregates in it "
        "follow the old definition\n"
        "output topic uu-users_1m: changes meaning: where changed (uid != \"\" -> uid != \"bot\")\n"
        "output topic uu-users_1h: changes meaning: rollup source changed (users_1m tumbling 1m "
        "where uid != \"\" -> users_1m tumbling 1m where uid != \"bot\")\n"
        "output topic uu-users_1d: changes meaning: rollup source changed (users_1h tumbling 1h <- "
        "users_1m tumbling 1m where uid != \"\" -> users_1h tumbling 1h <- users_1m tumbling 1m "
        "where uid != \"bot\")\n"
        "output topic uu-dlq: keeps its meaning\n"
        "summary: stores 1 kept, 3 rebuilt, 0 new, 0 dropped; output topics 3 changing meaning, 0 "
        "new, 0 no longer written\n");
    free(text);
    eddy_free(fp);
    free(edited_yaml);
    eddy_plan_free(a);
    eddy_plan_free(b);
}

Test(diff, accumulator_changes_name_what_was_added_removed_or_moved)
{
    static const struct {
        struct edit e1, e2;
        const char *reason;
    } rows[] = {
        {{"      slow: count_if(is_slow)\n", "      slowest: max(latency)\n"},
         {NULL, NULL},
         "rebuild store svc_1m: accumulators changed (added max(latency); removed "
         "ratio(is_slow))"},
        {{"      requests: count()\n", ""},
         {"      slow: count_if(is_slow)\n", "      slow: count_if(is_slow)\n      n: count()\n"},
         "rebuild store svc_1m: accumulator order changed (count(),ratio(is_error),ratio(is_slow) "
         "-> ratio(is_error),ratio(is_slow),count())"},
        {{"      requests: count()\n",
          "      requests: count()\n      x: sum(service == \"a,(b\")\n"},
         {NULL, NULL},
         "rebuild store svc_1m: accumulators changed (added sum(service == \"a,(b\"))"},
    };
    struct eddy_plan *a = variant(NONE, NONE, NONE);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct eddy_plan *b = variant(rows[i].e1, rows[i].e2, NONE);
        int incompatible;
        eddy_err_t rc;
        char *text = diff_text(a, b, &incompatible, &rc);
        cr_expect_eq(rc, EDDY_OK);
        char *line = strstr(text, "rebuild store svc_1m");
        cr_assert_not_null(line, "row %zu: %s", i, text);
        *strstr(line, " (its changelog") = '\0';
        cr_expect_str_eq(line, rows[i].reason, "row %zu", i);
        free(text);
        eddy_plan_free(b);
    }
    eddy_plan_free(a);
}

/* Late corrections: late.correct_within keeps every store (retained windows
 * hold rows of the same meaning; see diff.c) but changes what the output
 * topics carry (revisions), named as the "late" part. */
Test(diff, late_corrections_keep_stores_and_change_outputs)
{
    static const struct edit on = {"grace: 1m\n", "grace: 1m\nlate: {correct_within: 10m}\n"};
    static const struct edit longer = {"correct_within: 10m", "correct_within: 1h"};
    static const char *const stores[] = {"meta", "dedup", "svc_1m", "alerts"};
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
        cr_expect_not(fingerprint_changes(stores[i], on, NONE), "store %s", stores[i]);
        cr_expect_not(fingerprint_changes(stores[i], on, longer), "store %s", stores[i]);
    }
    struct eddy_plan *old_plan = variant(NONE, NONE, NONE);
    struct eddy_plan *new_plan = variant(on, NONE, NONE);
    struct eddy_plan *newer_plan = variant(on, longer, NONE);
    int incompatible = -1;
    eddy_err_t rc;
    char *text = diff_text(old_plan, new_plan, &incompatible, &rc);
    cr_expect_eq(rc, EDDY_OK);
    cr_expect_eq(incompatible, 0);
    cr_expect_str_eq(text,
                     "keep store meta (changelog shop-meta-changelog)\n"
                     "keep store dedup (changelog shop-dedup-changelog)\n"
                     "keep store svc_1m (changelog shop-svc_1m-changelog)\n"
                     "keep store alerts (changelog shop-alerts-changelog)\n"
                     "output topic shop-svc_1m: changes meaning: late changed (- -> "
                     "correct_within 10m)\n"
                     "output topic shop-alerts: changes meaning: results of svc_1m: late "
                     "changed (- -> correct_within 10m)\n"
                     "output topic shop-dlq: keeps its meaning\n"
                     "summary: stores 4 kept, 0 rebuilt, 0 new, 0 dropped; output topics 2 "
                     "changing meaning, 0 new, 0 no longer written\n");
    free(text);
    text = diff_text(newer_plan, old_plan, &incompatible, &rc);
    cr_expect_eq(rc, EDDY_OK);
    cr_expect_eq(incompatible, 0);
    cr_expect(strstr(text, "output topic shop-svc_1m: changes meaning: late changed "
                           "(correct_within 1h -> -)\n"),
              "%s", text);
    free(text);
    eddy_plan_free(old_plan);
    eddy_plan_free(new_plan);
    eddy_plan_free(newer_plan);
}
