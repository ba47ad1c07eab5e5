/*
 * engine.c - see engine.h.
 */
#include "runtime/engine.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codec/deadletter.h"
#include "core/log.h"
#include "core/time.h"
#include "ops/result.h"
#include "serve/serve.h"
#include "source/file.h"
#include "source/ktable.h"

void eddy__stats_format(const struct eddy_task_stats *st, char *buf, size_t len)
{
    uint64_t dead = 0;
    for (int r = 1; r < EDDY_DL__COUNT; r++)
        dead += st->dead_letters[r];
    int n = snprintf(buf, len,
                     "records_in=%llu ok=%llu duplicates=%llu dead_letters=%llu results=%llu "
                     "updates=%llu alerts=%llu",
                     (unsigned long long)st->records_in, (unsigned long long)st->records_ok,
                     (unsigned long long)st->duplicates, (unsigned long long)dead,
                     (unsigned long long)st->results_out, (unsigned long long)st->updates_out,
                     (unsigned long long)st->alerts_out);
    if (st->revisions_out && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " revisions=%llu",
                      (unsigned long long)st->revisions_out);
    if (st->archive_rows && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " archived=%llu archive_files=%llu",
                      (unsigned long long)st->archive_rows, (unsigned long long)st->archive_files);
    if (st->archive_errors && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " archive_errors=%llu",
                      (unsigned long long)st->archive_errors);
    for (int r = 1; r < EDDY_DL__COUNT && n > 0 && (size_t)n < len; r++)
        if (st->dead_letters[r])
            n += snprintf(buf + n, len - (size_t)n, " %s=%llu", eddy__dl_reason_name(r),
                          (unsigned long long)st->dead_letters[r]);
}

/* --http in local mode: the task's changed rows go to the view, alerts and
 * freshness come through the output. */
struct feed {
    struct eddy_serve *serve;
    struct eddy_view *view;
    const struct eddy_output *out;
    struct eddy_metrics_snapshot snap;
    int64_t published_ns;
};

static eddy_err_t feed_put(void *ctx, const char *store, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    struct feed *f = ctx;
    return eddy__view_stage_row(f->view, 0, store, key, key_len, value, value_len);
}

static eddy_err_t feed_retire(void *ctx, const char *store, const void *key, size_t key_len)
{
    return EDDY_OK; /* the view keeps closed windows for its retention */
}

static eddy_err_t feed_closed(void *ctx, const char *store, int64_t start)
{
    return EDDY_OK; /* the view keeps closed windows for its retention */
}

static eddy_err_t feed_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                              const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct feed *f = ctx;
    int64_t end;
    if (kind == EDDY_OUT_ALERT) {
        eddy_err_t err = eddy__view_stage_alert(f->view, 0, value, value_len);
        if (err)
            return err;
    } else if (kind == EDDY_OUT_RESULT && eddy__result_final_end(value, value_len, &end)) {
        int64_t now = eddy_now_ms();
        eddy__hist_observe(&f->snap.freshness, now > end ? (double)(now - end) / 1e3 : 0.0);
    }
    return f->out->write(f->out->ctx, kind, topic, key, key_len, value, value_len);
}

static eddy_err_t feed_publish(struct feed *f, struct eddy_task *task, bool force)
{
    int64_t now = eddy_mono_ns();
    if (!force && now - f->published_ns < 200000000LL)
        return EDDY_OK;
    f->published_ns = now;
    struct eddy_task_changes changes = {feed_put, feed_closed, f, feed_retire};
    eddy_err_t err = eddy__task_changes(task, &changes);
    if (err)
        return err;
    eddy__view_publish(f->view, force);
    struct eddy_metrics_snapshot *s = &f->snap;
    s->totals = *eddy__task_stats(task);
    s->n_partitions = 1;
    s->assigned = 1;
    s->lag[0] = -1;
    s->state_bytes = eddy__task_memory(task);
    memset(s->window_rows, 0, sizeof s->window_rows);
    eddy__task_window_rows(task, s->window_rows, EDDY_METRICS_MAX_AGGS);
    s->readiness = EDDY_READY;
    s->heartbeat_ns = now;
    eddy__metrics_publish(eddy__serve_metrics(f->serve), s, force);
    return EDDY_OK;
}

/* The task's name in archive file names: the input file's name without its
 * directory, in [A-Za-z0-9._-] (others become '_'), or "stdin". */
static const char *archive_label(const char *input, char label[64])
{
    if (strcmp(input, "-") == 0)
        return "stdin";
    const char *base = strrchr(input, '/');
    base = base && base[1] ? base + 1 : input;
    size_t n = 0;
    for (; base[n] && n < 63; n++) {
        char ch = base[n];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        label[n] = ok ? ch : '_';
    }
    label[n] = '\0';
    return label;
}

eddy_err_t eddy__engine_run_local(const struct eddy_plan *plan, const char *input,
                                  const struct eddy_output *out, volatile sig_atomic_t *stop,
                                  struct eddy_task_stats *stats, struct eddy_serve *serve)
{
    return eddy__engine_run_local_tables(plan, input, out, stop, stats, serve, NULL);
}

eddy_err_t eddy__engine_run_local_tables(const struct eddy_plan *plan, const char *input,
                                         const struct eddy_output *out, volatile sig_atomic_t *stop,
                                         struct eddy_task_stats *stats, struct eddy_serve *serve,
                                         struct eddy_ktables *ktables)
{
    struct feed feed = {.serve = serve, .view = serve ? eddy__serve_view(serve) : NULL, .out = out};
    struct eddy_output fed = {feed_output, &feed};
    for (size_t p = 0; p < EDDY_METRICS_MAX_PARTITIONS; p++)
        feed.snap.lag[p] = -1;
    if (serve)
        out = &fed;
    struct eddy_file_source *src = NULL;
    struct eddy_task *task = NULL;
    const char *topic = strcmp(input, "-") == 0 ? "stdin" : input;
    char label[64];
    int64_t started = eddy_mono_ns();
    eddy_err_t err = eddy__file_source_open(input, plan->source.max_event_bytes, &src);
    if (err)
        goto out;
    if ((err = eddy__task_new(plan, topic, 0, out, &task)) ||
        (err = eddy__task_archive_label(task, archive_label(input, label), false)))
        goto out;
    if (serve) {
        eddy__task_on_final(task, feed_put, &feed);  /* final rows, as changed rows */
        if ((err = feed_publish(&feed, task, true))) /* starts recording changes */
            goto out;
    }
    for (uint64_t n = 1;; n++) {
        const char *line;
        size_t len;
        int64_t offset;
        bool too_large;
        if (stop && *stop)
            break;
        err = eddy__file_source_next(src, &line, &len, &offset, &too_large);
        if (err == EDDY_EEOF) {
            err = EDDY_OK;
            break;
        }
        if (!err) /* safe point: topic-table updates land between records */
            err = eddy__ktables_apply(ktables);
        if (err)
            goto out;
        if ((err = eddy__task_process(task, line, len, offset, too_large))) {
            eddy_log(EDDY_LOG_ERROR, "engine", "cannot process record %lld of '%s': %s",
                     (long long)offset, topic, eddy_err_message(err));
            goto out;
        }
        if (serve && n % 4096 == 0 && (err = feed_publish(&feed, task, false)))
            goto out;
        if (plan->n_archives && n % 4096 == 0) {
            eddy__task_archive_roll(task, eddy_now_ms(), false);
            if ((err = eddy__task_archive_publish(task)) == EDDY_ENOMEM)
                goto out; /* EDDY_EIO: logged, tried again */
        }
    }
    err = eddy__task_flush(task);
    if (!err && plan->n_archives) {
        eddy__task_archive_roll(task, eddy_now_ms(), true);
        for (int attempt = 0; (err = eddy__task_archive_publish(task)) == EDDY_EIO && attempt < 3 &&
                              !(stop && *stop);
             attempt++)
            sleep(5); /* the archive retries after 5 s */
    }
    if (!err && serve)
        err = feed_publish(&feed, task, true);
out:
    if (task) {
        *stats = *eddy__task_stats(task);
        char line[512];
        eddy__stats_format(stats, line, sizeof line);
        double secs = (double)(eddy_mono_ns() - started) / 1e9;
        eddy_log(EDDY_LOG_INFO, "engine", "%s: %s in %.3f s (%.0f records/s)",
                 err ? "stopped" : "done", line, secs,
                 secs > 0 ? (double)stats->records_in / secs : 0.0);
    }
    eddy__task_free(task);
    eddy__file_source_close(src);
    return err;
}
