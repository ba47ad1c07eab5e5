/*
 * backfill.c - see backfill.h. The engine side of `eddy backfill` (start
 * offsets, stop point, drain, flush) lives in kengine.c; this file holds
 * what needs none of its state: the progress text and its pacing.
 */
#include "runtime/backfill.h"

#include <stdio.h>

#include "core/log.h"

#define REPORT_INTERVAL_NS 2000000000LL
#define BAR_WIDTH 30

void eddy__backfill_count(uint64_t n, char *out, size_t size)
{
    static const char units[] = "kMGTPE";
    double v = (double)n;
    int unit = -1;
    while (v >= 999.5 && unit < 5) {
        v /= 1000;
        unit++;
    }
    if (unit < 0)
        snprintf(out, size, "%llu", (unsigned long long)n);
    else
        snprintf(out, size, v < 9.95 ? "%.1f%c" : "%.0f%c", v, units[unit]);
}

void eddy__backfill_duration(double seconds, char *out, size_t size)
{
    if (seconds < 0 || seconds != seconds) {
        snprintf(out, size, "?");
        return;
    }
    double rounded = seconds + 0.5;
    if (rounded >= 1e15) {
        snprintf(out, size, "?");
        return;
    }
    long long s = (long long)rounded;
    if (s < 100)
        snprintf(out, size, "%lld s", s);
    else if (s < 6000)
        snprintf(out, size, "%lld min %lld s", s / 60, s % 60);
    else
        snprintf(out, size, "%lld h %lld min", s / 3600, s / 60 % 60);
}

void eddy__backfill_format(uint64_t done, uint64_t total, double rate, char *out, size_t size)
{
    char done_text[16], total_text[16], rate_text[16], eta[32];
    if (done > total)
        done = total;
    unsigned percent = total ? (unsigned)(done * 100 / total) : 100;
    eddy__backfill_count(done, done_text, sizeof done_text);
    eddy__backfill_count(total, total_text, sizeof total_text);
    eddy__backfill_count(rate > 0 ? (uint64_t)(rate + 0.5) : 0, rate_text, sizeof rate_text);
    if (done == total)
        eddy__backfill_duration(0, eta, sizeof eta);
    else
        eddy__backfill_duration(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
    snprintf(out, size, "%u%% (%s of %s records), %s records/s, ETA %s", percent, done_text,
             total_text, rate_text, eta);
}

void eddy__backfill_format_bar(uint64_t done, uint64_t total, double rate, char *out, size_t size)
{
    char bar[BAR_WIDTH + 1], line[160];
    uint64_t filled = total ? (done > total ? total : done) * BAR_WIDTH / total : BAR_WIDTH;
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = (uint64_t)i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    eddy__backfill_format(done, total, rate, line, sizeof line);
    snprintf(out, size, "backfill [%s] %s", bar, line);
}

void eddy__backfill_report(struct eddy_backfill_progress *p, uint64_t done, uint64_t total,
                           int64_t now_ns, bool force)
{
    if (!p->started) {
        p->started = true;
        p->t0_ns = now_ns;
        p->done0 = done;
        p->last_ns = now_ns; /* the first line after 2 s, with a rate */
        if (!force)
            return;
    }
    if (!force && now_ns - p->last_ns < REPORT_INTERVAL_NS)
        return;
    p->last_ns = now_ns;
    double secs = (double)(now_ns - p->t0_ns) / 1e9;
    double rate = secs > 0 && done > p->done0 ? (double)(done - p->done0) / secs : 0;
    char line[256];
    if (p->tty) {
        eddy__backfill_format_bar(done, total, rate, line, sizeof line);
        fprintf(stderr, "\r%s\033[K", line);
        fflush(stderr);
        p->drawn = true;
    } else {
        eddy__backfill_format(done, total, rate, line, sizeof line);
        eddy_log(EDDY_LOG_INFO, "backfill", "%s", line);
    }
}

void eddy__backfill_report_end(struct eddy_backfill_progress *p)
{
    if (p->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

void eddy__backfill_report_clear(struct eddy_backfill_progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}
