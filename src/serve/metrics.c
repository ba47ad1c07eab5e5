/*
 * metrics.c - see metrics.h.
 */
#include "serve/metrics.h"

#include <string.h>

#include "codec/deadletter.h"

static const double bounds[EDDY_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                 2.5,   5,    10,    30,   60,  120,  300};

void eddy__hist_observe(struct eddy_hist *h, double seconds)
{
    size_t b = 0;
    while (b < EDDY_HIST_BUCKETS && seconds > bounds[b])
        b++;
    h->counts[b]++;
    h->sum += seconds;
    h->count++;
}

void eddy__metrics_init(struct eddy_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    for (size_t p = 0; p < EDDY_METRICS_MAX_PARTITIONS; p++)
        m->snap.lag[p] = -1;
}

void eddy__metrics_destroy(struct eddy_metrics *m)
{
    pthread_mutex_destroy(&m->lock);
}

void eddy__metrics_publish(struct eddy_metrics *m, const struct eddy_metrics_snapshot *s, bool wait)
{
    if (wait)
        pthread_mutex_lock(&m->lock);
    else if (pthread_mutex_trylock(&m->lock) != 0)
        return;
    m->snap = *s;
    pthread_mutex_unlock(&m->lock);
}

void eddy__metrics_read(struct eddy_metrics *m, struct eddy_metrics_snapshot *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->snap;
    pthread_mutex_unlock(&m->lock);
}

void eddy__metrics_count_http(struct eddy_metrics *m, unsigned code)
{
    if (code < 600)
        __atomic_add_fetch(&m->http_by_code[code], 1, __ATOMIC_RELAXED);
}

static void header(struct eddy_buf *b, const char *name, const char *type, const char *help)
{
    eddy_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct eddy_buf *b, const char *name, const char *help, uint64_t v)
{
    header(b, name, "counter", help);
    eddy_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct eddy_buf *b, const char *name, const char *help, double v)
{
    header(b, name, "gauge", help);
    eddy_buf_printf(b, "%s %.17g\n", name, v);
}

static void histogram(struct eddy_buf *b, const char *name, const char *help,
                      const struct eddy_hist *h)
{
    header(b, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < EDDY_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        eddy_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[EDDY_HIST_BUCKETS];
    eddy_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name,
                    (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

eddy_err_t eddy__metrics_render(struct eddy_metrics *m, const struct eddy_plan *plan,
                                uint64_t serving_rows, struct eddy_buf *out)
{
    struct eddy_metrics_snapshot s;
    eddy__metrics_read(m, &s);
    const struct eddy_task_stats *t = &s.totals;
    counter(out, "eddy_events_in_total", "Input records read.", t->records_in);
    counter(out, "eddy_events_processed_total", "Records decoded and not duplicates.",
            t->records_ok);
    counter(out, "eddy_duplicates_total", "Records dropped by dedup.", t->duplicates);
    header(out, "eddy_dead_letters_total", "counter", "Dead letters by reason.");
    for (int r = 1; r < EDDY_DL__COUNT; r++)
        eddy_buf_printf(out, "eddy_dead_letters_total{reason=\"%s\"} %llu\n",
                        eddy__dl_reason_name(r), (unsigned long long)t->dead_letters[r]);
    counter(out, "eddy_late_records_total", "Records late for every window.",
            t->dead_letters[EDDY_DL_LATE]);
    counter(out, "eddy_results_total", "Result rows emitted (final, revisions included).",
            t->results_out);
    counter(out, "eddy_updates_total", "Intermediate update rows emitted.", t->updates_out);
    counter(out, "eddy_alerts_total", "Alert events emitted.", t->alerts_out);
    counter(out, "eddy_pattern_matches_total",
            "Pattern matches emitted (timed-out partial matches emitted included).",
            t->matches_out);
    counter(out, "eddy_pattern_partials_dropped_total",
            "Partial pattern matches dropped by the per-key bound.", t->partials_dropped);
    counter(out, "eddy_archive_rows_total", "Rows added to archive files.", t->archive_rows);
    counter(out, "eddy_archive_rows_published_total", "Rows in published archive files.",
            t->archive_rows_written);
    counter(out, "eddy_archive_files_total", "Archive (Parquet) files published.",
            t->archive_files);
    counter(out, "eddy_archive_errors_total",
            "Failed archive publications (retried; the rows stay in state).", t->archive_errors);
    counter(out, "eddy_commits_total", "Commits done.", s.commits);
    counter(out, "eddy_aborts_total", "Transactions aborted.", s.aborts);
    histogram(out, "eddy_commit_duration_seconds", "Duration of a commit.", &s.commit);
    histogram(out, "eddy_freshness_seconds",
              "Commit (or write) time of a final result row minus its window end.", &s.freshness);
    header(out, "eddy_consumer_lag", "gauge", "Input records behind the high watermark.");
    for (int32_t p = 0; p < s.n_partitions && p < EDDY_METRICS_MAX_PARTITIONS; p++)
        if (s.lag[p] >= 0)
            eddy_buf_printf(out, "eddy_consumer_lag{partition=\"%d\"} %lld\n", (int)p,
                            (long long)s.lag[p]);
    gauge(out, "eddy_assigned_partitions", "Input partitions owned.", s.assigned);
    gauge(out, "eddy_restore_remaining_records", "Changelog records still to restore.",
          (double)s.restore_remaining);
    counter(out, "eddy_restored_records_total", "Changelog records restored.", s.restored);
    header(out, "eddy_window_state_rows", "gauge", "Window rows held in memory.");
    for (size_t a = 0; a < plan->n_aggregations && a < EDDY_METRICS_MAX_AGGS; a++)
        eddy_buf_printf(out, "eddy_window_state_rows{aggregation=\"%s\"} %llu\n",
                        plan->aggregations[a].name, (unsigned long long)s.window_rows[a]);
    gauge(out, "eddy_state_bytes", "Heap bytes of task state.", (double)s.state_bytes);
    gauge(out, "eddy_serving_rows", "Rows held by the serving view.", (double)serving_rows);
    header(out, "eddy_http_requests_total", "counter", "HTTP requests answered, by code.");
    for (unsigned c = 100; c < 600; c++) {
        uint64_t n = __atomic_load_n(&m->http_by_code[c], __ATOMIC_RELAXED);
        if (n)
            eddy_buf_printf(out, "eddy_http_requests_total{code=\"%u\"} %llu\n", c,
                            (unsigned long long)n);
    }
    gauge(out, "eddy_ready", "1 when ready (as /readyz).", s.readiness == EDDY_READY);
    return eddy_buf_err(out);
}
