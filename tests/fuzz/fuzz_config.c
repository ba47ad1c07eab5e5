/*
 * fuzz_config.c - libFuzzer harness for the topology loader: any bytes go to
 * eddy_topology_parse() as "fuzz.yaml"; a successful plan is printed (to
 * /dev/null) and its expressions (pattern steps included) evaluated over an
 * all-NULL event, then freed.
 * Table files resolve against the working directory; failing to read them is
 * one more error path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eddy/topology.h"

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    struct eddy_value slots[64] = {0};
    struct eddy_value out;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (eddy_topology_parse("fuzz.yaml", (const char *)data, size, &plan, err, sizeof err))
        return 0;
    if (sink)
        eddy_plan_print(plan, sink);
    if (plan->n_slots <= 64) {
        struct eddy_eval_ctx ctx = {slots};
        for (size_t i = 0; i < plan->n_derives; i++)
            eddy_expr_eval(plan->derives[i].expr, &ctx, &out);
        for (size_t i = 0; i < plan->n_aggregations; i++) {
            const struct eddy_aggregation *agg = &plan->aggregations[i];
            if (agg->where)
                eddy_expr_eval(agg->where, &ctx, &out);
            for (size_t j = 0; j < agg->n_metrics; j++)
                if (agg->metrics[j].arg)
                    eddy_expr_eval(agg->metrics[j].arg, &ctx, &out);
        }
        for (size_t i = 0; i < plan->n_patterns; i++)
            for (size_t j = 0; j < plan->patterns[i].n_steps; j++)
                eddy_expr_eval(plan->patterns[i].steps[j].where, &ctx, &out);
    }
    for (size_t i = 0; i < plan->n_alerts; i++) {
        const struct eddy_aggregation *agg = &plan->aggregations[plan->alerts[i].aggregation];
        struct eddy_eval_ctx ctx = {slots};
        if (agg->n_group + agg->n_metrics <= 64)
            eddy_expr_eval(plan->alerts[i].when, &ctx, &out);
    }
    eddy_plan_free(plan);
    return 0;
}
