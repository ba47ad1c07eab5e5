/*
 * engine.h - runs a topology. Local mode: one task over a file or stdin,
 * outputs through an eddy_output, every window closed at end of input.
 */
#ifndef EDDY_RUNTIME_ENGINE_H
#define EDDY_RUNTIME_ENGINE_H

#include <signal.h>

#include "eddy/err.h"
#include "eddy/output.h"
#include "eddy/topology.h"
#include "runtime/task.h"

/* Reads @input ("-" = stdin; plain, gzip or lz4) through one task and writes
 * results, alerts and dead letters to @out. Stops early (still flushing every
 * window) when *stop becomes non-zero. Fills *stats. Logs a summary line.
 * With @serve (--http; may be NULL), feeds its view and metrics (window rows
 * as they change, every 4096 records or 200 ms, and at the end). */
struct eddy_serve;
eddy_err_t eddy__engine_run_local(const struct eddy_plan *plan, const char *input,
                                  const struct eddy_output *out, volatile sig_atomic_t *stop,
                                  struct eddy_task_stats *stats, struct eddy_serve *serve);

/* Same, applying the updates of the topic tables of @ktables (source/ktable.h;
 * NULL: none) between records. */
struct eddy_ktables;
eddy_err_t eddy__engine_run_local_tables(const struct eddy_plan *plan, const char *input,
                                         const struct eddy_output *out,
                                         volatile sig_atomic_t *stop,
                                         struct eddy_task_stats *stats, struct eddy_serve *serve,
                                         struct eddy_ktables *ktables);

/* Formats the counters of @stats as "records_in=... dead_letters=..." into @buf. */
void eddy__stats_format(const struct eddy_task_stats *stats, char *buf, size_t len);

#endif
