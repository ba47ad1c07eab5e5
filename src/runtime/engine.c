/*
 * engine.c - see engine.h.
 */
#include "runtime/engine.h"

#include <stdio.h>
#include <string.h>

#include "codec/deadletter.h"
#include "core/log.h"
#include "core/time.h"
#include "source/file.h"

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
    for (int r = 1; r < EDDY_DL__COUNT && n > 0 && (size_t)n < len; r++)
        if (st->dead_letters[r])
            n += snprintf(buf + n, len - (size_t)n, " %s=%llu", eddy__dl_reason_name(r),
                          (unsigned long long)st->dead_letters[r]);
}

eddy_err_t eddy__engine_run_local(const struct eddy_plan *plan, const char *input,
                                  const struct eddy_output *out, volatile sig_atomic_t *stop,
                                  struct eddy_task_stats *stats)
{
    struct eddy_file_source *src = NULL;
    struct eddy_task *task = NULL;
    const char *topic = strcmp(input, "-") == 0 ? "stdin" : input;
    int64_t started = eddy_mono_ns();
    eddy_err_t err = eddy__file_source_open(input, plan->source.max_event_bytes, &src);
    if (err)
        goto out;
    if ((err = eddy__task_new(plan, topic, 0, out, &task)))
        goto out;
    for (;;) {
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
        if (err)
            goto out;
        if ((err = eddy__task_process(task, line, len, offset, too_large))) {
            eddy_log(EDDY_LOG_ERROR, "engine", "cannot process record %lld of '%s': %s",
                     (long long)offset, topic, eddy_err_message(err));
            goto out;
        }
    }
    err = eddy__task_flush(task);
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
