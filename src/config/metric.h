/*
 * metric.h - the metric call syntax of aggregations: NAME(ARGS), e.g.
 * count(), count_if(status_code >= 500), quantile(latency_ms, 0.95).
 *
 * Only the call shape is parsed here (function name, argument count, the
 * quantile's q); the argument expression is compiled by the caller. Top-level
 * commas split arguments; commas inside parentheses or string literals do not.
 */
#ifndef EDDY_CONFIG_METRIC_H
#define EDDY_CONFIG_METRIC_H

#include <stddef.h>

#include "eddy/err.h"
#include "eddy/topology.h"

struct eddy__metric_call {
    enum eddy_metric_kind kind;
    const char *arg; /* expression text inside @text; NULL for count() */
    size_t arg_len;
    double q; /* quantile only */
};

/* Parses @text; EDDY_ECONFIG with a message in @err on a malformed call. */
eddy_err_t eddy__metric_call_parse(const char *text, struct eddy__metric_call *out, char *err,
                                   size_t errlen);

/* "count", "count_if", ...; "?" for an unknown kind. */
const char *eddy__metric_kind_name(enum eddy_metric_kind kind);

#endif
