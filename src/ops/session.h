/*
 * session.h - the session windows of one aggregation in one task, behind the
 * window store (ops/window.h dispatches here for `window: {session: G}`;
 * nothing else includes this header).
 *
 * Semantics (Kafka Streams' KStreamSessionWindowAggregate): with inactivity
 * gap G, grace R and stream time S (the largest event time seen, this
 * record's included), close time C = S - G - R. A session is [start, end],
 * both inclusive (the first and last event times). It is open while
 * end >= C and closed once end < C, i.e. S > end + G + R.
 *
 *  - A record at t of group key k joins every open session of k with
 *    start - G <= t <= end + G; they merge into one session [min start,
 *    max end] whose accumulators are the merge of theirs plus the record.
 *    Joining nothing, it opens [t, t], unless t < C: then it is late (left
 *    out; the task dead-letters it). Closed sessions never take records
 *    (Kafka Streams' store has expired them).
 *  - Closing emits each session once, final, in order of (end, group key
 *    bytes); with flush every session closes.
 *  - emit updates: whenever stream time crosses a multiple of D, every
 *    session changed since its last emission is emitted (final = false), in
 *    (end, key) order. A window [start, end] that went downstream as an
 *    update and no longer exists (its session grew, or was merged into
 *    another) is retracted right before the next emission of the session
 *    that took it over: a row with retracted = true, final = false, that
 *    window and key, and the metrics of no events. At its close a session
 *    first retracts what it holds of such windows, then is emitted final.
 *
 * Layout: a table by group key (open addressing, backward-shift deletion)
 * whose slot holds the key's sessions as a list by start (disjoint, so also
 * by end; usually one); a binary heap of all sessions by (end, key, start),
 * updated lazily (session.c), yields the closing ones in emission order. A
 * session is one allocation: header, accumulators, key bytes.
 *
 * Persistence: state key be64(start) ‖ group key, as for other windows;
 * value EDDY_WINDOW_ROW_FORMAT_SESSION (3) ‖ n accumulators ‖ be64(end) ‖
 * flags (bit 0: changed since its last update emission) ‖ be32(h) ‖ h x
 * (be64 start ‖ be64 end) of windows held downstream (emit updates) ‖ the
 * accumulators (agg/acc.h). A session whose start moved, one merged away
 * and one closed is deleted (put with a NULL value) at the next changes():
 * deletes first, then puts.
 *
 * Single-threaded: owned by one window store.
 */
#ifndef EDDY_OPS_SESSION_H
#define EDDY_OPS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"
#include "ops/window.h"

#define EDDY_WINDOW_ROW_FORMAT_SESSION 3

struct eddy_session_store;

eddy_err_t eddy__session_store_new(const struct eddy_aggregation *agg, int64_t grace_ms,
                                   struct eddy_session_store **out);
void eddy__session_store_free(struct eddy_session_store *ss);
/* Emitted final rows carry their persisted form (eddy__window_export). */
void eddy__session_export(struct eddy_session_store *ss);

/* Adds one record: encoded group key @key (@hash its eddy_hash64), @args the
 * evaluated argument of each accumulator followed by the evaluated second
 * argument of each (NULL values for those without: struct eddy_acc_def),
 * event time @ts. */
eddy_err_t eddy__session_add(struct eddy_session_store *ss, const void *key, size_t key_len,
                             uint64_t hash, const struct eddy_value *args, int64_t ts,
                             int64_t stream_time, bool *late);
eddy_err_t eddy__session_advance(struct eddy_session_store *ss, int64_t stream_time, bool flush,
                                 eddy_window_emit_fn emit, void *ctx);

eddy_err_t eddy__session_changes(struct eddy_session_store *ss,
                                 const struct eddy_window_changes *changes);
/* A persisted session; skipped when closed at @stream_time. */
eddy_err_t eddy__session_load(struct eddy_session_store *ss, const void *key, size_t key_len,
                              const void *value, size_t value_len, int64_t stream_time);
/* Repartitioning: ship hands every session over (and empties the store);
 * merge folds a shipped session into this store like a record spanning it. */
eddy_err_t eddy__session_ship(struct eddy_session_store *ss,
                              eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                               const void *value, size_t value_len),
                              void *ctx);
eddy_err_t eddy__session_merge(struct eddy_session_store *ss, const void *key, size_t key_len,
                               const void *value, size_t value_len, int64_t stream_time,
                               bool *late);

size_t eddy__session_count(const struct eddy_session_store *ss);
size_t eddy__session_memory(const struct eddy_session_store *ss);

/* The offset of the accumulators in a session row value, or false when
 * @value is not one (serving view and queries merge them like any row). */
bool eddy__session_value_accs(const void *value, size_t value_len, size_t *offset);

#endif
