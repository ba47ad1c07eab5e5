/*
 * window.h - the window store of one aggregation in one task: which windows
 * an event falls into, the per-(window, group key) rows of accumulators, and
 * when windows close.
 *
 * Semantics (Kafka Streams): windows are [start, end), aligned to the epoch;
 * a hopping window of size S advancing by A covers every start k*A with
 * start <= ts < start + S (tumbling: A = S). Stream time is the largest event
 * time the task has seen. A window is closed once end + grace <= stream time;
 * an event whose every window is closed is late. Closing emits each row once
 * with final = true; with emit updates, rows changed since their last emission
 * are also emitted (final = false) whenever stream time crosses a multiple of
 * the update interval.
 *
 * emit_empty (tumbling windows): when a window closes, each group key that
 * had a row in the window just before it (by start) but has none in it is
 * emitted too, as a row with empty = true, in key order among the real rows;
 * a window without any row is synthesized for this when it is closed at
 * stream time (or, at end of input, precedes an open window). Only keys with
 * real rows are kept for the next window, so a silent key gets one empty
 * row. The kept keys are not persisted (after a restore, none are kept).
 *
 * Late corrections (eddy__window_correct, plan late.correct_within C > 0):
 * a closed window is retained (rows and accumulators) until end + grace + C
 * <= stream time, then dropped; an event (or merged partial) for a window
 * that is closed but not yet dropped updates that window's row instead of
 * being late, and the row is emitted again at the next advance (before any
 * window closes), final = true with revision = 1, 2, ... (per window and
 * key: the number of its emissions after the close; a key that first appears
 * by a correction starts at 1). Revisions of one advance come in window start
 * then key order, one per row however many events corrected it. An event is
 * late only when every window it belongs to is past that horizon. Without C,
 * a window is dropped as it closes (the horizon is the close).
 *
 * Group keys are encoded as bytes: per group value a type tag (enum
 * eddy_vtype) then, for STR a 4-byte little-endian length and the bytes, for
 * INT/NUM 8 bytes, for BOOL 1 byte, for NULL nothing. Rows of a window are
 * emitted in bytewise order of that encoding, windows in start order, so
 * output is deterministic.
 *
 * Session windows (`window: {session: G}`; ops/session.h has the details):
 * Kafka Streams' session semantics. A session is [first event time, last
 * event time] of a group key, both inclusive (window_start, window_end of
 * its rows); a record joins (and merges) every open session of its key
 * within G of it. With close time C = stream time - G - grace, a session
 * closes once its end < C (emitted final once, in (end, key) order), and a
 * record that would make or join no session ending at or after C is late.
 * emit updates emit changed sessions, preceded by retractions (retracted =
 * true) of windows they emitted earlier that no longer exist. Late
 * corrections, eviction (the backing store) and rollups do not apply: the
 * store keeps its sessions in memory. Persisted like other rows (state key
 * be64(start) ‖ group key) with value format EDDY_WINDOW_ROW_FORMAT_SESSION;
 * a merged-away, moved or closed session is a put with a NULL value (a
 * delete) at the next eddy__window_changes(), never a closed() range.
 *
 * Metrics share accumulators: count_if(x) and ratio(x) share one ratio
 * accumulator, sum(x) and avg(x) one sum accumulator, quantiles of the same
 * argument one sketch. Each distinct argument is evaluated once per event.
 *
 * Single-threaded: one store per aggregation per task.
 */
#ifndef EDDY_OPS_WINDOW_H
#define EDDY_OPS_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

struct eddy_acc;
struct eddy_window_store;

/* A row handed to the emit callback; everything is borrowed for the call. */
struct eddy_window_row {
    int64_t window_start;
    int64_t window_end;
    const unsigned char *key; /* encoded group key */
    size_t key_len;
    const struct eddy_value *group; /* n_group decoded values */
    const struct eddy_value *metrics; /* n_metrics results */
    const double *errors;             /* n_metrics relative error bounds */
    bool final;
    /* emit_empty: a key of the previous window without a row in this one;
     * the metrics are those of no events (counts 0). Never exported. */
    bool empty;
    /* late corrections: the row's revision (0: its first final emission, or
     * not final), and whether a revision is of a window older than the last
     * one closed at stream time (alerts skip those: their state already
     * reflects a later window) */
    uint32_t revision;
    bool superseded;
    /* session windows with emit updates: a window emitted earlier that no
     * longer exists (its session grew or merged); final is false and the
     * metrics are those of no events (see "Session windows" above) */
    bool retracted;
    /* with eddy__window_export (rows with revision 0 only): the row in its
     * persisted form (see below) */
    const void *state_key, *state_value;
    size_t state_key_len, state_value_len;
};

typedef eddy_err_t (*eddy_window_emit_fn)(void *ctx, const struct eddy_aggregation *agg,
                                          const struct eddy_window_row *row);

eddy_err_t eddy__window_store_new(const struct eddy_aggregation *agg, int64_t grace_ms,
                                  struct eddy_window_store **out);
void eddy__window_store_free(struct eddy_window_store *ws);

/* Enables late corrections: closed windows are kept @correct_within_ms
 * (> 0; 0 turns them off) after their close; see above. Call right after
 * eddy__window_store_new(). */
void eddy__window_correct(struct eddy_window_store *ws, int64_t correct_within_ms);

/* Adds the event (@slots in event scope, event time @ts) to every open window
 * it belongs to. *late is set when it belongs to none because all are closed
 * (the event is then left out); with corrections, when all are past the
 * correction horizon. Allocates only for a new window or group key. */
eddy_err_t eddy__window_add(struct eddy_window_store *ws, const struct eddy_value *slots,
                            int64_t ts, int64_t stream_time, bool *late);

/* eddy__window_add in steps, so that a task can prepare every aggregation
 * of a record early and the cache misses of its rows overlap its other work
 * (the dedup check): eddy__window_prepare_key encodes the group key;
 * eddy__window_prepare_row hashes it and prefetches the key's row (apart,
 * so that a task can encode every key first: a hash right after the
 * encoding would read bytes still in the store buffer and stall);
 * eddy__window_prepare_args evaluates the metric arguments. None of them
 * changes anything observable. eddy__window_add_prepared then adds the
 * record exactly as eddy__window_add would (and returns the encoding's
 * error, if any). They must be called in this order for one record, with
 * the same @ts and unchanged @slots, with no other call on @ws in
 * between; @slots must stay unchanged until eddy__window_add_prepared
 * returns (arguments that are plain fields are read there, in place). */
void eddy__window_prepare_key(struct eddy_window_store *ws, const struct eddy_value *slots);
void eddy__window_prepare_row(struct eddy_window_store *ws, int64_t ts);
void eddy__window_prepare_args(struct eddy_window_store *ws, const struct eddy_value *slots);
eddy_err_t eddy__window_add_prepared(struct eddy_window_store *ws, int64_t ts,
                                     int64_t stream_time, bool *late);

/* Emits the pending revisions of retained windows, then emits (and retains,
 * or without corrections drops) every window with end + grace <=
 * @stream_time, drops the retained ones with end + grace + correct_within <=
 * @stream_time, and emits due intermediate updates; with @flush, closes and
 * drops every window (end of input). */
eddy_err_t eddy__window_advance(struct eddy_window_store *ws, int64_t stream_time, bool flush,
                                eddy_window_emit_fn emit, void *ctx);

/*
 * Persistence (Kafka mode). A row's state key is the window start as 8
 * order-preserving bytes (state/be64.h) followed by the encoded group key;
 * its value is a format byte (EDDY_WINDOW_ROW_FORMAT), the number of
 * accumulators, then each accumulator's encoding (agg/acc.h) in layout order.
 * A row with a revision > 0 or a correction not yet emitted (late
 * corrections) is written with format byte EDDY_WINDOW_ROW_FORMAT_REVISED:
 * format, number of accumulators, 4 big-endian bytes (bit 31: a correction
 * is pending, emitted at the first advance after loading; bits 0-30: the
 * revision), then the accumulators; every other row keeps format 1 byte for
 * byte, and both decode.
 *
 * eddy__window_changes() hands over every row added to or changed in a
 * window (open or retained) since the previous call (one put per changed
 * key, however many events changed it), then the start of every window
 * dropped since then (its rows are gone: the caller deletes the key range of
 * that start). Without corrections a window is dropped when it closes; with
 * them, at end + grace + correct_within, so retained rows stay in the store
 * and survive restarts. Dropped windows are recorded from the first call on
 * (local mode never calls it).
 */
#define EDDY_WINDOW_ROW_FORMAT 1
#define EDDY_WINDOW_ROW_FORMAT_REVISED 2

struct eddy_window_changes {
    eddy_err_t (*put)(void *ctx, const void *key, size_t key_len, const void *value,
                      size_t value_len);
    eddy_err_t (*closed)(void *ctx, int64_t window_start);
    void *ctx;
    /* Deletes the persisted row of one window that closed (session windows,
     * deleted key by key): unlike put(key, NULL), which says the row no
     * longer exists (a session merged away or moved), a serving view keeps
     * a closed row for its retention. NULL: put(key, NULL) is called. */
    eddy_err_t (*retire)(void *ctx, const void *key, size_t key_len);
};

eddy_err_t eddy__window_changes(struct eddy_window_store *ws,
                                const struct eddy_window_changes *changes);

/* Loads one persisted row; rows of windows already closed at @stream_time
 * are skipped (with corrections: past the horizon; rows of closed windows
 * within it are loaded as retained, already emitted, with their revision).
 * EDDY_EPARSE for bytes that are not a row of this store's
 * layout (e.g. state written by an incompatible topology). */
eddy_err_t eddy__window_load(struct eddy_window_store *ws, const void *key, size_t key_len,
                             const void *value, size_t value_len, int64_t stream_time);

/*
 * Bounded write cache (Kafka mode with memory_limit). The runtime gives an
 * emitting store its backing store: the committed rows (state keys and
 * values as above), i.e. what eddy__window_changes() handed over and the
 * runtime persisted. get() looks one state key up; scan() calls @fn for every
 * persisted row of the window starting at @window_start, in key order (@fn
 * returns non-zero to stop: scan then returns EDDY_OK, and the caller its
 * own error).
 *
 * eddy__window_evict(), called only right after the changes were persisted,
 * frees the clean rows (persisted, no update or revision waiting) of open
 * windows and returns the bytes freed; retained windows (late corrections)
 * are never evicted. A window with evicted rows loads a missing row from
 * get() before an event, merged partial or rollup row updates it, and, as
 * it closes, every persisted row it lacks (scan; the in-memory row of a key
 * is the newer one), so its emissions are byte for byte those of a store
 * that never evicted: final rows in key order, emit_empty blanks, revisions.
 * The cost: a closing window is whole in memory while it is emitted (one
 * window's rows, freed right after). Intermediate updates (emit updates)
 * only concern rows changed since their last emission, which are never
 * evicted. Without a backing store eddy__window_evict() does nothing.
 */
struct eddy_window_backing {
    eddy_err_t (*get)(void *ctx, const void *key, size_t klen, struct eddy_buf *value,
                      bool *found);
    eddy_err_t (*scan)(void *ctx, int64_t window_start,
                       int (*fn)(void *c, const void *k, size_t kl, const void *v, size_t vl),
                       void *c);
    void *ctx;
};
/* Sets (copies) or with NULL clears the backing store. */
void eddy__window_backing(struct eddy_window_store *ws, const struct eddy_window_backing *b);
size_t eddy__window_evict(struct eddy_window_store *ws);

/*
 * Repartitioning (Kafka mode). A combining store holds partial aggregates of
 * one input partition: eddy__window_ship() hands every row over (key and
 * value as for persistence) and empties the store. The owning task of the
 * group key merges them with eddy__window_merge(), which adds the partial row
 * to the row of the same window and key (creating it); *late is set when that
 * window is already closed at @stream_time (the partial is then left out;
 * with corrections: past the horizon, a retained row is revised instead).
 */
eddy_err_t eddy__window_ship(struct eddy_window_store *ws,
                             eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                              const void *value, size_t value_len),
                             void *ctx);
eddy_err_t eddy__window_merge(struct eddy_window_store *ws, const void *key, size_t key_len,
                              const void *value, size_t value_len, int64_t stream_time,
                              bool *late);

/*
 * Rollups. eddy__window_export() makes every emitted row carry its persisted
 * form (struct eddy_window_row state_*). eddy__window_rollup() merges such a
 * row of a finer tumbling aggregation with the same layout into every window
 * of this store that contains the row's window start; *late when all of
 * them are closed at @stream_time.
 */
void eddy__window_export(struct eddy_window_store *ws);
eddy_err_t eddy__window_rollup(struct eddy_window_store *ws, const void *key, size_t key_len,
                               const void *value, size_t value_len, int64_t stream_time,
                               bool *late);

/* The metric results of a row without events (@agg's metrics: counts and
 * sums 0, distinct 0, ratio/avg/min/max/quantile NULL), into @metrics and
 * @errors (n_metrics each): what emit_empty and absent alerts report. */
void eddy__window_empty_metrics(const struct eddy_aggregation *agg, struct eddy_value *metrics,
                                double *errors);

/*
 * Row values outside a store (serving view, query merging). A row value is
 * the persisted form above (any format byte: the revision, and a session
 * row's end and held windows, are ignored).
 * eddy__window_value_merge() decodes @value and merges its accumulators into
 * @accs (agg->n_accs of them; EDDY_EPARSE for bytes not of @agg's layout,
 * @accs then partly merged). eddy__window_value_encode() appends @accs as a
 * format-1 row value. eddy__window_metrics() computes the metric results of
 * @accs into @metrics and @errors (n_metrics each), exactly as emitted rows
 * have them.
 */
eddy_err_t eddy__window_value_merge(const struct eddy_aggregation *agg, struct eddy_acc *accs,
                                    const void *value, size_t value_len);
eddy_err_t eddy__window_value_encode(const struct eddy_aggregation *agg,
                                     const struct eddy_acc *accs, struct eddy_buf *out);
void eddy__window_metrics(const struct eddy_aggregation *agg, const struct eddy_acc *accs,
                          struct eddy_value *metrics, double *errors);

/* Open windows, retained (closed, correctable) windows, rows of both (in
 * memory), and approximate heap bytes held: rows with malloc overhead and
 * sketch memory (eddy_acc_memory, re-accounted at each update), hash tables,
 * emission scratch and the emit_empty keys (for metrics, the memory budget
 * and tests). */
size_t eddy__window_open_windows(const struct eddy_window_store *ws);
size_t eddy__window_retained_windows(const struct eddy_window_store *ws);
size_t eddy__window_rows(const struct eddy_window_store *ws);
size_t eddy__window_memory(const struct eddy_window_store *ws);

/* Encodes the group values in @slots selected by @agg->group_slots. */
eddy_err_t eddy__group_key_encode(const struct eddy_aggregation *agg,
                                  const struct eddy_value *slots, struct eddy_buf *out);
/* Decodes @n values from an encoded key; strings point into @key. False on
 * malformed bytes. */
bool eddy__group_key_decode(const unsigned char *key, size_t len, size_t n,
                            struct eddy_value *out);

#endif
