/*
 * backfill.h - `eddy backfill` (docs/backfill.md): the options the Kafka
 * engine takes for it, and its progress report.
 *
 * A backfill is the exactly-once Kafka engine (runtime/kengine.c) run on a
 * versioned plan (config/version.h) whose input partitions start, when the
 * group has no committed offset, at the first record with a timestamp >=
 * from_ms. With a stop time, a partition is done at its first record whose
 * offset is at or past its end offset (the first offset with a timestamp >=
 * to_ms, or the partition's end when the backfill started) or whose
 * timestamp is >= to_ms; once all are, the engine drains its repartition
 * topics, flushes every task and exits.
 *
 * Progress is counted in offsets: per input partition from the offset for
 * from_ms to the end offset (the one for to_ms, or the high watermark when
 * the backfill started).
 *   log line, every 2 s:   "37% (1.2M of 3.3M records), 512k records/s, ETA 4 s"
 *   TTY, redrawn with \r:  "backfill [###########...................] 37% (1.2M of
 *                          3.3M records), 512k records/s, ETA 4 s"
 * Rates are the average since the first report.
 *
 * Single-threaded: the engine's processing thread only.
 */
#ifndef EDDY_RUNTIME_BACKFILL_H
#define EDDY_RUNTIME_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDDY_BACKFILL_OPEN_END INT64_MAX /* no --to: catch up, then run live */

struct eddy_backfill_opts {
    int64_t from_ms; /* record timestamps, ms since the epoch */
    int64_t to_ms;   /* exclusive; EDDY_BACKFILL_OPEN_END without --to */
    bool tty;        /* draw the progress bar on stderr instead of log lines */
};

/* @n as at most 4 characters and a unit: 999, 1.2k, 512k, 3.3M, 12G (one
 * decimal below 10 of a unit, rounded to nearest). */
void eddy__backfill_count(uint64_t n, char *out, size_t size);

/* @seconds as "4 s", "12 min 5 s", "3 h 20 min"; "?" when negative. */
void eddy__backfill_duration(double seconds, char *out, size_t size);

/* "37% (1.2M of 3.3M records), 512k records/s, ETA 4 s": @done of @total
 * offsets (done <= total), at @rate per second (<= 0: "ETA ?"). The percent
 * is rounded down, so 100% means done. */
void eddy__backfill_format(uint64_t done, uint64_t total, double rate, char *out, size_t size);

/* The TTY form: "backfill [####....] " (a 30-character bar) then the same. */
void eddy__backfill_format_bar(uint64_t done, uint64_t total, double rate, char *out, size_t size);

struct eddy_backfill_progress {
    bool tty;
    bool started;
    bool drawn;      /* a bar is on the terminal's current line */
    int64_t t0_ns;   /* first report */
    uint64_t done0;  /* done at the first report */
    int64_t last_ns; /* last line or bar */
};

/* Reports @done of @total (monotonic @now_ns) when 2 s have passed since
 * the last report, or at once with @force: a log line ("backfill"
 * subsystem), or the bar redrawn on stderr with tty. */
void eddy__backfill_report(struct eddy_backfill_progress *p, uint64_t done, uint64_t total,
                           int64_t now_ns, bool force);
/* Ends the bar's line (newline) so later log lines start on their own. */
void eddy__backfill_report_end(struct eddy_backfill_progress *p);
/* Erases the bar (before a log line of the backfill's own); the next report
 * draws it again. */
void eddy__backfill_report_clear(struct eddy_backfill_progress *p);

#endif
