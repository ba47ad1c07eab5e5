/*
 * alert.h - alert rules over final aggregation results.
 *
 * Each alert is evaluated on every final row of the aggregation it is `on`,
 * in the output scope (group-by values, then metrics). One incident is one
 * alert: per (alert, group key) the state is firing or not; a row whose
 * condition is true while not firing emits "firing", a row whose condition is
 * false while firing emits "resolved"; other rows emit nothing.
 *
 * Single-threaded: one alert state per task.
 */
#ifndef EDDY_OPS_ALERT_H
#define EDDY_OPS_ALERT_H

#include <stdbool.h>

#include "eddy/err.h"
#include "eddy/topology.h"
#include "ops/window.h"

struct eddy_alert_state;

typedef eddy_err_t (*eddy_alert_emit_fn)(void *ctx, const struct eddy_alert *alert,
                                         bool firing, const struct eddy_aggregation *agg,
                                         const struct eddy_window_row *row);

eddy_err_t eddy__alert_state_new(const struct eddy_plan *plan, struct eddy_alert_state **out);
void eddy__alert_state_free(struct eddy_alert_state *st);

/* Evaluates the alerts on aggregation @agg_index for a final @row. */
eddy_err_t eddy__alert_on_row(struct eddy_alert_state *st, size_t agg_index,
                              const struct eddy_window_row *row, eddy_alert_emit_fn emit,
                              void *ctx);

/*
 * Persistence (Kafka mode): each firing/resolved transition since the
 * previous call, as a put (firing) or delete (resolved) of the state key
 * "<alert name>" NUL "<encoded group key>" with the value "1". Recording
 * starts with the first call.
 */
eddy_err_t eddy__alert_changes(struct eddy_alert_state *st,
                               eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                                bool firing),
                               void *ctx);
/* Restores a firing (alert, key) from its state key. */
eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len);

/* Number of (alert, key) pairs currently firing. */
size_t eddy__alert_firing(const struct eddy_alert_state *st);

#endif
