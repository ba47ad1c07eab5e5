/*
 * metric.h - the metric call syntax of aggregations: NAME(ARGS), e.g.
 * count(), count_if(status_code >= 500), quantile(latency_ms, 0.95),
 * top_k(product_id, 5), top_k(product_id, 5, by: revenue),
 * arg_max(price, bidder).
 *
 * Only the call shape is parsed here (function name, argument count, the
 * quantile's q, top_k's K and `by:`); the argument expressions are compiled
 * by the caller. Top-level commas split arguments; commas inside parentheses
 * or string literals do not. top_k with `by:` is the kind EDDY_M_TOP_K_BY.
 */
#ifndef EDDY_CONFIG_METRIC_H
#define EDDY_CONFIG_METRIC_H

#include <stddef.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/topology.h"

struct eddy__metric_call {
    enum eddy_metric_kind kind;
    const char *arg; /* expression text inside @text; NULL for count() */
    size_t arg_len;
    const char *arg2; /* top_k's by: weight, arg_max's field; else NULL */
    size_t arg2_len;
    double q; /* quantile: q; top_k: K (an integer in [1, EDDY_METRIC_MAX_K]) */
};

#define EDDY_METRIC_MAX_K 100

/* Parses @text; EDDY_ECONFIG with a message in @err on a malformed call. */
eddy_err_t eddy__metric_call_parse(const char *text, struct eddy__metric_call *out, char *err,
                                   size_t errlen);

/* "count", "count_if", ... ("top_k" for both top_k forms); "?" for an
 * unknown kind. */
const char *eddy__metric_kind_name(enum eddy_metric_kind kind);

/* Appends the call as eddy validate prints it, from the compiled argument
 * sources: "quantile(latency_ms, 0.95)", "top_k(product_id, 5, by: revenue)",
 * "arg_max(price, bidder)". */
void eddy__metric_call_format(const struct eddy_metric *m, struct eddy_buf *out);

#endif
