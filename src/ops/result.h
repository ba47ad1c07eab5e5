/*
 * result.h - the JSON form of aggregation results and alert events.
 *
 * Result (one line / one message value, keys in this order):
 *   {"aggregation":"service_1m","window":{"start":"...Z","end":"...Z"},
 *    "key":{"service":"auth-service"},"final":true,"metrics":{"requests":12,...}}
 * A revised final row (late corrections) has "revision":N after "final"
 * (N >= 1); first emissions have no "revision" key. A retraction (session
 * windows with emit updates: a window emitted earlier that no longer exists)
 * is {"aggregation":..,"window":..,"key":..,"final":false,"retracted":true},
 * without metrics.
 * Metrics appear in declaration order; an undefined metric (avg of nothing) is
 * null. The message key is the "key" object alone: {"service":"auth-service"}.
 * Alert: {"alert":"burn","state":"firing"|"resolved","aggregation":...,
 *   "window":{...},"key":{...},"metrics":{...}}
 */
#ifndef EDDY_OPS_RESULT_H
#define EDDY_OPS_RESULT_H

#include "core/buf.h"
#include "eddy/record.h"
#include "eddy/topology.h"
#include "ops/window.h"

void eddy__value_json(struct eddy_buf *buf, const struct eddy_value *v);
/* Appends {"name":value,...} of the group key. */
void eddy__result_key_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                           const struct eddy_window_row *row);
/* Appends the whole result object. */
void eddy__result_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                       const struct eddy_window_row *row);
/* Appends the whole alert object. */
void eddy__alert_json(struct eddy_buf *buf, const struct eddy_alert *alert, bool firing,
                      const struct eddy_aggregation *agg, const struct eddy_window_row *row);

/* The window end of a result object written by eddy__result_json when the
 * row is final; false for updates and anything else. */
bool eddy__result_final_end(const char *json, size_t len, int64_t *end_ms);

#endif
