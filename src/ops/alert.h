/*
 * alert.h - alert rules over final aggregation results.
 *
 * Each alert is evaluated on every final row of the aggregation it is `on`,
 * in the output scope (group-by values, then metrics). One incident is one
 * alert: per (alert, group key) the state is firing or not; a row whose
 * condition is true while not firing emits "firing", a row whose condition is
 * false while firing emits "resolved"; other rows emit nothing. Rows with
 * empty = true (emit_empty) are evaluated like any other.
 *
 * absent(N) alerts (tumbling aggregations) are not evaluated on rows: a key
 * with a row is watched, with the start L of its last window with a row.
 * Once the N windows after L are all closed at the aggregation's stream time
 * (L + (N+1)*size + grace <= stream time; checked by eddy__alert_advance
 * whenever a further window has closed), it fires, reported with the N-th
 * missing window [L + N*size, L + (N+1)*size), the key, and the metrics of
 * no events. Its next row resolves it (reported with that row) and watches
 * it again. When a row shows that more than N windows were missing before
 * the scan saw them (stream time jumped), the firing for the N-th missing
 * window is emitted right before the resolution. Empty rows are ignored.
 * The keys watched stay until they fire (memory: the keys seen by the alert
 * that are not firing, plus the firing ones).
 *
 * Single-threaded: one alert state per task.
 */
#ifndef EDDY_OPS_ALERT_H
#define EDDY_OPS_ALERT_H

#include <stdbool.h>
#include <stdint.h>

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

/* absent(N) alerts on aggregation @agg_index: fires for the watched keys
 * whose N windows after their last row are closed at @stream_time (the
 * aggregation's). Call after the aggregation's windows were advanced. */
eddy_err_t eddy__alert_advance(struct eddy_alert_state *st, size_t agg_index, int64_t stream_time,
                               eddy_alert_emit_fn emit, void *ctx);

/*
 * Persistence (Kafka mode): each transition since the previous call, as a
 * put or delete of the state key "<alert name>" NUL "<encoded group key>":
 * firing: value "1" (1 byte); resolved expression alert: delete (value
 * NULL); watched by an absent alert: the 8-byte order-preserving start of
 * the key's last window with a row (state/be64.h), which also replaces a
 * "1" when the key resolves. Recording starts with the first call.
 */
eddy_err_t eddy__alert_changes(struct eddy_alert_state *st,
                               eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                                const void *value, size_t value_len),
                               void *ctx);
/* Restores a firing (value "1") or watched (8-byte value) (alert, key) from
 * its state key and value. EDDY_EPARSE for other values. */
eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len,
                            const void *value, size_t value_len);

/* Number of (alert, key) pairs currently firing; watched by absent alerts. */
size_t eddy__alert_firing(const struct eddy_alert_state *st);
size_t eddy__alert_watched(const struct eddy_alert_state *st);

#endif
