/*
 * metrics.h - the numbers /metrics exposes (docs/http.md), as one snapshot
 * the processing thread fills and publishes (a copy under a try-lock, a few
 * times a second) and the HTTP threads read and render in Prometheus text
 * format 0.0.4.
 */
#ifndef EDDY_SERVE_METRICS_H
#define EDDY_SERVE_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/task.h"

#define EDDY_HIST_BUCKETS 15 /* finite upper bounds, then +Inf */
#define EDDY_METRICS_MAX_PARTITIONS 512
#define EDDY_METRICS_MAX_AGGS 64

struct eddy_hist {
    uint64_t counts[EDDY_HIST_BUCKETS + 1]; /* per bucket (not cumulative) */
    double sum;
    uint64_t count;
};

void eddy__hist_observe(struct eddy_hist *h, double seconds);

enum eddy_readiness { EDDY_STARTING, EDDY_RESTORING, EDDY_READY };

struct eddy_metrics_snapshot {
    struct eddy_task_stats totals; /* since the process started */
    uint64_t commits, aborts, restored;
    uint64_t restore_remaining;
    struct eddy_hist commit, freshness;
    int32_t n_partitions;                     /* of the input topic */
    int64_t lag[EDDY_METRICS_MAX_PARTITIONS]; /* -1: not assigned */
    uint32_t assigned;
    uint64_t window_rows[EDDY_METRICS_MAX_AGGS];
    uint64_t state_bytes;
    enum eddy_readiness readiness;
    int64_t heartbeat_ns; /* eddy_mono_ns() of the last publish */
};

struct eddy_metrics {
    pthread_mutex_t lock;
    struct eddy_metrics_snapshot snap;
    uint64_t http_by_code[600];
};

void eddy__metrics_init(struct eddy_metrics *m);
void eddy__metrics_destroy(struct eddy_metrics *m);
/* Copies @s in; with @wait false gives up when a reader holds the lock. */
void eddy__metrics_publish(struct eddy_metrics *m, const struct eddy_metrics_snapshot *s, bool wait);
void eddy__metrics_read(struct eddy_metrics *m, struct eddy_metrics_snapshot *out);
void eddy__metrics_count_http(struct eddy_metrics *m, unsigned code);
/* Appends the Prometheus text of the current snapshot. */
eddy_err_t eddy__metrics_render(struct eddy_metrics *m, const struct eddy_plan *plan,
                                uint64_t serving_rows, struct eddy_buf *out);

#endif
