/*
 * task.h - the unit of processing: one input partition with its own stream
 * time, dedup store, window stores, alert state and pattern stores.
 *
 * A task turns raw records into outputs: decode (dead letters for bad
 * records) -> stream time -> dedup -> derive -> per aggregation: where,
 * window assignment, accumulate (a record late for every window of an
 * aggregation is dead-lettered once with reason "late", naming the
 * aggregations; with late corrections, only a record past the correction
 * horizon of every window) -> per pattern (ops/pattern.h): steps matched,
 * late when behind stream time - grace (dead-lettered once with the
 * aggregations it was late for), matched or waiting for the watermark ->
 * emit revisions of corrected closed windows -> close due windows -> alerts
 * -> patterns: process the records the watermark releases, end the partial
 * matches it passes. Outputs go to the task's eddy_output (pattern matches
 * with kind EDDY_OUT_MATCH). In local mode there is one task (partition 0);
 * in Kafka mode one task per assigned input partition.
 *
 * Single-threaded: a task is driven by one thread at a time.
 */
#ifndef EDDY_RUNTIME_TASK_H
#define EDDY_RUNTIME_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "codec/deadletter.h"
#include "eddy/err.h"
#include "eddy/output.h"
#include "eddy/topology.h"

struct eddy_task_stats {
    uint64_t records_in;
    uint64_t records_ok; /* decoded and not duplicate */
    uint64_t duplicates;
    uint64_t dead_letters[EDDY_DL__COUNT];
    uint64_t results_out; /* final rows, revisions included */
    uint64_t updates_out;
    uint64_t revisions_out; /* late corrections: rows emitted with a revision */
    uint64_t alerts_out;
    uint64_t matches_out;      /* pattern matches and timed-out partial matches emitted */
    uint64_t partials_dropped; /* partial matches dropped by the bound (ops/pattern.h) */
    /* archives (as of the last eddy__task_archive_publish): rows archived,
     * rows and files published, failed publications */
    uint64_t archive_rows, archive_rows_written, archive_files, archive_errors;
};

struct eddy_task;

/* The task borrows @plan and @out; both must outlive it. @topic and
 * @partition identify the input in dead letters. */
eddy_err_t eddy__task_new(const struct eddy_plan *plan, const char *topic, int32_t partition,
                          const struct eddy_output *out, struct eddy_task **out_task);
void eddy__task_free(struct eddy_task *task);

/* Processes one raw record; @too_large marks a record the source truncated.
 * Errors are runtime failures (out of memory, sink failure), never bad input. */
eddy_err_t eddy__task_process(struct eddy_task *task, const char *raw, size_t len, int64_t offset,
                              bool too_large);

/* Closes every open window (end of input) and emits them. */
eddy_err_t eddy__task_flush(struct eddy_task *task);

/*
 * Persistence (Kafka mode). A task's state lives in named stores: "meta"
 * (key "stream_time": 8 order-preserving bytes, state/be64.h), "dedup" when
 * the topology deduplicates (ops/dedup.h), one store per aggregation,
 * named after it (ops/window.h), "alerts" when it has alerts (the firing
 * ones and the keys absent(N) alerts watch, ops/alert.h), and one store per
 * pattern, named after it (partial matches per key and records waiting for
 * the watermark, ops/pattern.h), and "archive" when it has archives (rows
 * of files not yet published, sink/archive.h).
 * eddy__task_changes() hands over what changed since its previous call, one
 * put per changed key (value NULL: delete the key), and each dropped window
 * (delete its key range): closed windows are dropped as they close, or with
 * late corrections (plan late_correct_ms) once past end + grace +
 * correct_within, so retained windows and their revision numbers persist.
 * Not persisted: the emit_empty keys of the last
 * closed window (ops/window.h) and the idle anchor (eddy__task_tick: the
 * first tick after a restore restarts the idle timer). eddy__task_load()
 * rebuilds a fresh task from persisted records, "meta" first. Recording
 * starts with the first eddy__task_changes() call: a Kafka-mode runtime
 * makes it right after loading, before processing.
 */
#define EDDY_TASK_META_STORE EDDY_STORE_META
#define EDDY_TASK_DEDUP_STORE EDDY_STORE_DEDUP
#define EDDY_TASK_ALERTS_STORE EDDY_STORE_ALERTS

struct eddy_task_changes {
    eddy_err_t (*put)(void *ctx, const char *store, const void *key, size_t key_len,
                      const void *value, size_t value_len);
    eddy_err_t (*closed_window)(void *ctx, const char *store, int64_t window_start);
    void *ctx;
    /* A delete of a closed window's row (session windows: struct
     * eddy_window_changes.retire); NULL: put(store, key, NULL). */
    eddy_err_t (*retire)(void *ctx, const char *store, const void *key, size_t key_len);
};

eddy_err_t eddy__task_changes(struct eddy_task *task, const struct eddy_task_changes *changes);
eddy_err_t eddy__task_load(struct eddy_task *task, const char *store, const void *key,
                           size_t key_len, const void *value, size_t value_len);

/* The store names of a plan's tasks, in load order: eddy_plan_store_names()
 * (config/diff.h). */

/*
 * Repartitioning (Kafka mode; plan aggregations with `repartition`). After
 * eddy__task_enable_repartition(), records of such an aggregation go into a
 * combining store instead of the emitting one. eddy__task_ship() hands the
 * partial rows over (and empties the combining stores); the runtime sends
 * them to the task that owns each group key, whose eddy__task_merge() adds
 * them to its emitting store. That store has its own stream time, a
 * watermark: the smallest of the stream times the @n_sources input tasks
 * reported with eddy__task_source_time(), defined once every source has
 * reported (a source without data reports EDDY_TASK_TIME_EMPTY and does not
 * hold the watermark back), so a window closes only once every source has
 * passed its end + grace. Source times persist in "meta" as "source_time:<aggregation>:<source>".
 * A partial that arrives for a closed window is a dead letter (late).
 */
#define EDDY_TASK_TIME_UNKNOWN INT64_MIN     /* never reported */
#define EDDY_TASK_TIME_EMPTY (INT64_MIN + 1) /* reported, has seen no data */
typedef eddy_err_t (*eddy_task_ship_fn)(void *ctx, size_t aggregation, const void *key,
                                        size_t key_len, const void *value, size_t value_len);
eddy_err_t eddy__task_enable_repartition(struct eddy_task *task, size_t n_sources);
eddy_err_t eddy__task_ship(struct eddy_task *task, eddy_task_ship_fn fn, void *ctx);
eddy_err_t eddy__task_merge(struct eddy_task *task, size_t aggregation, const void *key,
                            size_t key_len, const void *value, size_t value_len, int64_t offset);
/* Records that input task @source has reached @source_stream_time, and
 * closes what the watermark allows. */
eddy_err_t eddy__task_source_time(struct eddy_task *task, size_t aggregation, size_t source,
                                  int64_t source_stream_time);

/*
 * Idle-aware time (opt-in: plan idle_timeout_ms > 0; otherwise a no-op).
 * @now_ms is the wall clock (CLOCK_REALTIME, ms since the epoch) passed in
 * by the caller: the runtime calls it on every pass of its poll loop (at
 * least every commit interval), after the records of that pass. A tick that
 * finds records (with a valid event time) processed since the previous one,
 * or is the task's first, takes @now_ms as the wall time W of the last
 * record and the stream time S then. A later tick with none since, where
 * now_ms - W >= idle_timeout, sets stream time to
 *     min(S + (now_ms - W), now_ms - grace)
 * when that is later than the current stream time, and closes and emits
 * windows (and evaluates alerts) exactly as a record that advanced stream
 * time would. Nothing happens before the first record (S unknown). Errors as
 * for eddy__task_process (out of memory, sink failure).
 */
eddy_err_t eddy__task_tick(struct eddy_task *task, int64_t now_ms);

/*
 * Memory budget (Kafka mode with memory_limit; ops/window.h "Bounded write
 * cache"). eddy__task_backing() gives the emitting window store of the
 * aggregation named @store its backing store (EDDY_ENOTFOUND: no such
 * aggregation). eddy__task_evict(), only right after the task's changes were
 * persisted, frees the clean rows of open windows and returns the bytes
 * freed. eddy__task_memory() estimates the heap bytes the task holds: window
 * rows (sketches included) and tables of emitting and combining stores,
 * dedup ids (EDDY_TASK_DEDUP_ID_BYTES each: table slot at most half full
 * plus journal), alert state (burn-rate rings), output and decoding buffers.
 */
struct eddy_window_backing;
#define EDDY_TASK_DEDUP_ID_BYTES 48
eddy_err_t eddy__task_backing(struct eddy_task *task, const char *store,
                              const struct eddy_window_backing *b);
size_t eddy__task_evict(struct eddy_task *task);
size_t eddy__task_memory(const struct eddy_task *task);

/*
 * Archives (plan->archives, sink/archive.h). Every final row of an
 * aggregation with an archive, and with a top-level archive every decoded,
 * non-duplicate record, goes into the open file of that archive.
 * eddy__task_archive_label() names the task in file names (default: the
 * partition number; local mode uses the input file's name) and says whether
 * archives are durable (default; sink/archive.h: their rows are task state
 * and files are published after the commit) or not (local mode: no store,
 * files published as soon as sealed); call it before processing.
 * eddy__task_archive_roll() seals open files that are due (or every one
 * with rows, with @force) and says whether it sealed one;
 * eddy__task_archive_committed() tells durable archives that everything
 * the last eddy__task_changes() handed over is committed;
 * eddy__task_archive_publish() writes sealed files, in durable archives
 * only those whose seal is committed (or was loaded): the runtime calls it
 * after each commit and after loading; EDDY_EIO when a file could not be
 * written (logged; retried by later calls, at most every 5 s).
 */
eddy_err_t eddy__task_archive_label(struct eddy_task *task, const char *label, bool durable);
bool eddy__task_archive_roll(struct eddy_task *task, int64_t now_ms, bool force);
void eddy__task_archive_committed(struct eddy_task *task);
eddy_err_t eddy__task_archive_publish(struct eddy_task *task);

/* Calls @fn for every final row (first emissions, not revisions) the task
 * emits from now on, with the aggregation's name (its store) and the row in
 * its persisted form (ops/window.h): what a serving view keeps of windows
 * that open and close between two eddy__task_changes() calls. */
typedef eddy_err_t (*eddy_task_final_fn)(void *ctx, const char *store, const void *key,
                                         size_t key_len, const void *value, size_t value_len);
void eddy__task_on_final(struct eddy_task *task, eddy_task_final_fn fn, void *ctx);

/* Adds the in-memory window rows of each aggregation (emitting and
 * combining stores) to @rows[aggregation index], for the first @max. */
void eddy__task_window_rows(const struct eddy_task *task, uint64_t *rows, size_t max);

int64_t eddy__task_stream_time(const struct eddy_task *task);
/* Moves the stream time up to @stream_time (never down), e.g. to the one the
 * input offset was committed with. Before the stores are loaded (the load
 * skips windows closed at the stream time; a "stream_time" in the meta store
 * raises it too) and before any record is processed. */
void eddy__task_raise_stream_time(struct eddy_task *task, int64_t stream_time);
const struct eddy_task_stats *eddy__task_stats(const struct eddy_task *task);

#endif
