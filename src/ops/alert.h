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
 * burn_rate alerts (tumbling aggregations; eddy/topology.h struct
 * eddy_burn_rate) keep per group key a ring of (bad, total) for the last
 * `ring` windows, indexed by window number mod ring: the key's row of each
 * window, 0 for windows without one. A final row of the key (empty rows
 * included) sets its window's entry, zeroing the windows skipped since the
 * key's newest one, then the alert is evaluated: burn rate over a span of k
 * windows = (sum of bad / sum of total over the k windows ending with the
 * row's) / budget, summed newest first, 0 without traffic; a budget that is
 * not a number > 0 makes every burn rate NaN (reported as null) and no pair
 * hold. A pair holds when the burn rates over its long and short spans are
 * both >= its factor. Not firing and some pair holds: fires, with the first
 * pair holding as severity; firing and none holds: resolves, with the
 * incident's severity. A row of the key's newest window again (a revision,
 * late corrections) replaces its entry, so nothing is counted twice; a row
 * of an older window is ignored. A key that is not firing and whose newest
 * window is a whole ring older than the last closed window is forgotten by
 * eddy__alert_advance: its next row would zero the ring anyway (memory: the
 * keys with rows within the longest span, plus the firing ones).
 *
 * Single-threaded: one alert state per task.
 */
#ifndef EDDY_OPS_ALERT_H
#define EDDY_OPS_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/topology.h"
#include "ops/window.h"

struct eddy_alert_state;

/* What a burn-rate alert reports with a transition (borrowed for the call). */
struct eddy_alert_burn {
    const char *severity; /* of the pair that fired the incident */
    double budget;        /* NaN when the budget is not a number > 0 */
    const double *rates;  /* per span of alert->burn->spans_ms; NaN without a budget */
};

/* @burn is NULL except for burn_rate alerts. */
typedef eddy_err_t (*eddy_alert_emit_fn)(void *ctx, const struct eddy_alert *alert,
                                         bool firing, const struct eddy_aggregation *agg,
                                         const struct eddy_window_row *row,
                                         const struct eddy_alert_burn *burn);

/* Appends the fields a burn-rate alert adds to its JSON object (ops/result.h),
 * in this order: ,"severity":S,"budget":B,"burn_rates":{"5m":R,"1h":R,...}
 * with one burn rate per span in report order, named by its duration. */
void eddy__alert_burn_json(struct eddy_buf *buf, const struct eddy_alert *alert,
                           const struct eddy_alert_burn *burn);

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
 * "1" when the key resolves. A burn_rate key changed since the previous
 * call: one put of its whole state as of this call (a forgotten key: a
 * delete), value format EDDY_ALERT_BURN_FORMAT, at least 14 bytes:
 *   byte 0      EDDY_ALERT_BURN_FORMAT (3)
 *   byte 1      0: not firing; k + 1: firing, reported with window pair k
 *   bytes 2-9   start of the key's newest window (state/be64.h)
 *   bytes 10-13 ring length N, big-endian (must equal the plan's)
 *   then the N windows oldest first, newest last, each entry one of:
 *     0x00 RUN        RUN >= 1 windows with bad = total = +0
 *     0x01 BAD TOTAL  whole numbers 0 .. 2^53
 *     0x02 BAD TOTAL  IEEE-754 binary64, big-endian, finite
 *   (RUN, BAD and TOTAL after 0x00/0x01 are unsigned LEB128 varints), so the
 *   restored ring is bit for bit the one written. Recording starts with the
 *   first call.
 */
#define EDDY_ALERT_BURN_FORMAT 3

eddy_err_t eddy__alert_changes(struct eddy_alert_state *st,
                               eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                                const void *value, size_t value_len),
                               void *ctx);
/* Restores a firing (value "1"), watched (8-byte value) or burn_rate
 * (format 3) (alert, key) from its state key and value. EDDY_EPARSE for
 * other values, a value of another kind of alert than the plan's of that
 * name, or a burn_rate ring of another length. */
eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len,
                            const void *value, size_t value_len);

/* Number of (alert, key) pairs currently firing; watched by absent alerts
 * or with a burn_rate ring. */
size_t eddy__alert_firing(const struct eddy_alert_state *st);
size_t eddy__alert_watched(const struct eddy_alert_state *st);
/* Estimated heap bytes of the alert state: tables, key copies, burn-rate
 * rings (16 bytes per window per key) and the journal. */
size_t eddy__alert_memory(const struct eddy_alert_state *st);

#endif
