/*
 * pattern.h - pattern detection: a declarative sequence of steps matched per
 * key within a span of event time (binge sessions, brute-force logins), and
 * the stream-stream join as the two-step pattern "left, then right" with
 * captured fields and `timeout: emit` ("order placed, no payment").
 *
 * Semantics (struct eddy_pattern in eddy/topology.h; Flink CEP's "followed
 * by" with greedy quantifiers and skip-past-last-event, in event time):
 *
 * Order. A record is relevant to a pattern when some step's `where` holds
 * for it (the steps it matches: a bit mask, evaluated on arrival). With
 * stream time S (the task's) and grace R the pattern's watermark is
 * W = S - R. A relevant record with event time t < W is late (the caller
 * dead-letters it). Others wait until t <= W and are then processed in
 * (t, arrival) order, so the result does not depend on how the input was
 * ordered within grace (with grace 0 a record is processed on arrival).
 *
 * Partial matches. Each key has partial matches ("runs"), oldest first. A
 * run is at step s with a count c of records taken by s. A processed record
 * r of the key goes through the runs in order; for each run:
 *   - r matches s and c < max(s): s takes it (greedy: staying wins over
 *     moving on);
 *   - else c >= min(s), s is not the last step and r matches s + 1: the run
 *     moves to s + 1, which takes r (count 1);
 *   - else the run ignores r (relaxed contiguity: records in between that
 *     fit no step in turn are skipped).
 * A run whose last step reaches its max is complete: it is emitted matched
 * at once. Then, if r completed no run and matches the first step, r starts
 * a new run (so a record taken by an older run also starts its own: failures
 * spread over more than `within` still find the window that fits).
 *
 * Time. A run started by a record at t0 takes only records with event time
 * t < t0 + within. Once the watermark reaches t0 + within (before a record
 * at t >= t0 + within is processed, and on every advance), the run ends: if
 * its last step has at least min records (`N+` and `N..M` last steps grow
 * greedily until then) it is emitted matched, otherwise it has timed out
 * and is emitted unmatched with `timeout: emit`, dropped without. Runs end
 * in the order they started. At end of input (flush) every waiting record
 * is processed and every run ends this way.
 *
 * Skip past last event. When a match is emitted, every run of its key that
 * started at or before the match's last record is discarded (the records
 * of a match are in no other match); a timed-out run discards nothing.
 *
 * Bound. A key holds at most EDDY_PATTERN_MAX_PARTIALS runs. Starting one
 * more ends the oldest: emitted matched when its last step has at least
 * min records (skip past last event applies), otherwise dropped and counted
 * (eddy__pattern_dropped).
 *
 * Output (eddy__pattern_json; message key eddy__pattern_key_json):
 *   {"pattern":"order_payment","key":{"order_id":"o1"},"matched":true,
 *    "start":"...Z","end":"...Z","counts":{"order":1,"payment":1},
 *    "captured":{"order":{"amount":30,"customer":"c1"},"payment":{"amount":30}}}
 * start/end: event times of the run's first and last records; counts: per
 * step in order, records taken (0 for steps not reached); captured: per
 * reached step with `capture`, its fields from the last record it took
 * (steps without capture, or not reached, are absent).
 *
 * State (Kafka mode): one store per pattern, named after it. Keys:
 *   'k' ‖ encoded key (ops/window.h group-key encoding of the key fields)
 *       -> the key's runs, EDDY_PATTERN_STATE_FORMAT:
 *          format byte, n_steps byte, be32 number of runs, then per run:
 *          be64 first t, be64 last t, be64 first ordinal, be64 last ordinal
 *          (record ordinals: processing order), step byte, be32 count per
 *          step 0..step, be32 capture length, captures: per reached step
 *          with capture fields, be32 length ‖ its values (group-key
 *          encoding); a key without runs is deleted
 *   'b' ‖ be64 t ‖ be64 arrival number -> a record waiting for the
 *       watermark: be32 step mask, be32 key length, key, the values of the
 *       fields any step captures (group-key encoding, in slot order);
 *       deleted once processed.
 * be64 is state/be64.h's order-preserving encoding (ordinals and arrival
 * numbers as int64 >= 0).
 *
 * Single-threaded: one store per pattern per task.
 */
#ifndef EDDY_OPS_PATTERN_H
#define EDDY_OPS_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

#define EDDY_PATTERN_STATE_FORMAT 1

struct eddy_pattern_store;

/* An emitted (or timed-out) run; everything is borrowed for the call. */
struct eddy_pattern_match {
    bool matched;
    int64_t start, end;       /* event times of the first and last records */
    const unsigned char *key; /* encoded key */
    size_t key_len;
    const uint32_t *counts;        /* n_steps */
    size_t reached;                /* steps reached: current step + 1 */
    const unsigned char *captures; /* see "State" above */
    size_t captures_len;
};

typedef eddy_err_t (*eddy_pattern_emit_fn)(void *ctx, const struct eddy_pattern *pattern,
                                           const struct eddy_pattern_match *match);

eddy_err_t eddy__pattern_store_new(const struct eddy_pattern *pattern, int64_t grace_ms,
                                   struct eddy_pattern_store **out);
void eddy__pattern_store_free(struct eddy_pattern_store *ps);

/* Offers a decoded record (@slots in event scope, event time @ts) after the
 * task set its stream time @stream_time. Irrelevant records are ignored;
 * a late one sets *late (and is left out); others are processed now (with
 * grace 0) or wait for the watermark. Matches go to @emit. */
eddy_err_t eddy__pattern_add(struct eddy_pattern_store *ps, const struct eddy_value *slots,
                             int64_t ts, int64_t stream_time, bool *late, eddy_pattern_emit_fn emit,
                             void *ctx);

/* Processes the waiting records the watermark of @stream_time releases and
 * ends the runs it passes; with @flush, everything (end of input).
 * @stream_time INT64_MIN (nothing seen yet) does nothing but a flush. */
eddy_err_t eddy__pattern_advance(struct eddy_pattern_store *ps, int64_t stream_time, bool flush,
                                 eddy_pattern_emit_fn emit, void *ctx);

/* Appends the output object of @match / its message key (see above). */
void eddy__pattern_json(struct eddy_buf *buf, const struct eddy_pattern *pattern,
                        const struct eddy_pattern_match *match);
void eddy__pattern_key_json(struct eddy_buf *buf, const struct eddy_pattern *pattern,
                            const struct eddy_pattern_match *match);

/*
 * Persistence. eddy__pattern_changes() hands over, through @put (value NULL:
 * delete), every key whose runs changed and every record that started or
 * stopped waiting since the previous call; recording starts with the first
 * call (local mode never calls it). eddy__pattern_load() restores one
 * persisted key; EDDY_EPARSE for bytes this pattern did not write.
 */
eddy_err_t eddy__pattern_changes(struct eddy_pattern_store *ps,
                                 eddy_err_t (*put)(void *ctx, const void *key, size_t key_len,
                                                   const void *value, size_t value_len),
                                 void *ctx);
eddy_err_t eddy__pattern_load(struct eddy_pattern_store *ps, const void *key, size_t key_len,
                              const void *value, size_t value_len);

/* Runs held, records waiting for the watermark, runs dropped by the bound,
 * and the approximate heap bytes held. */
size_t eddy__pattern_partials(const struct eddy_pattern_store *ps);
size_t eddy__pattern_waiting(const struct eddy_pattern_store *ps);
uint64_t eddy__pattern_dropped(const struct eddy_pattern_store *ps);
size_t eddy__pattern_memory(const struct eddy_pattern_store *ps);

#endif
