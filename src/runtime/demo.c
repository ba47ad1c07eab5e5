/*
 * demo.c - see demo.h.
 *
 * A generator thread writes service logs into a pipe (one minute of event
 * time every two seconds of wall time); the main thread runs the local engine
 * over the pipe's read end and renders the service_1m results and alerts.
 * The generator stops on *stop or at the deadline and closes the pipe, so the
 * engine sees end of input, flushes every window and returns: no thread is
 * ever blocked on a pipe nobody reads.
 *
 * Status colour of a service in a minute (the same rule as the status page):
 * burn = error_rate / error_budget from the services table;
 * red when burn >= 14.4 (the fast-burn alert) or p95 > 2 x
 * latency_threshold_ms, yellow when burn >= 6 (the slow-burn threshold of the
 * SRE workbook) or p95 > latency_threshold_ms, green otherwise.
 */
#include "runtime/demo.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/table.h"
#include "core/log.h"
#include "core/time.h"
#include "gen/gen.h"
#include "runtime/engine.h"
#include "serve/serve.h"

struct producer {
    FILE *pipe;
    volatile sig_atomic_t *external_stop;
    volatile int stop;
    int64_t deadline_ns; /* 0 = none */
    double rate;
};

static eddy_err_t write_event(void *ctx, const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    struct producer *p = ctx;
    if (*p->external_stop || (p->deadline_ns && eddy_mono_ns() > p->deadline_ns))
        p->stop = 1;
    if (fwrite(value, 1, value_len, p->pipe) != value_len || putc('\n', p->pipe) == EOF)
        return EDDY_EIO;
    return EDDY_OK;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = UINT64_MAX;
    o.rate = p->rate;
    o.event_rate = p->rate / 30.0; /* a minute of event time every 2 s */
    o.start_ms = eddy_now_ms() / 60000 * 60000;
    o.dup_rate = 0.01;
    o.late_rate = 0.01;
    o.max_late_ms = 60000;
    o.malformed_rate = 0.001;
    o.seed = (uint64_t)o.start_ms;
    eddy_gen_run("service-logs", &o, write_event, p, &p->stop);
    fclose(p->pipe);
    return NULL;
}

struct table_view {
    const struct eddy_table *services;
    char window[32];
};

static double cell_number(const struct eddy_table *t, const char *service, const char *column,
                          double dflt)
{
    const struct eddy_value *v = t ? eddy_table_get(t, service, strlen(service), column) : NULL;
    double d;
    return v && eddy_value_number(v, &d) ? d : dflt;
}

static const char *status_of(const struct table_view *view, const char *service,
                             double error_rate, double p95)
{
    double budget = cell_number(view->services, service, "error_budget", 0.001);
    double threshold = cell_number(view->services, service, "latency_threshold_ms", 500);
    double burn = budget > 0 ? error_rate / budget : 0;
    if (burn >= 14.4 || p95 > 2 * threshold)
        return "\033[1;31m● red\033[0m";
    if (burn >= 6 || p95 > threshold)
        return "\033[1;33m● yellow\033[0m";
    return "\033[1;32m● green\033[0m";
}

static void print_result(struct table_view *view, json_t *doc)
{
    const char *start = json_string_value(json_object_get(json_object_get(doc, "window"), "start"));
    const char *service = json_string_value(json_object_get(json_object_get(doc, "key"), "service"));
    json_t *m = json_object_get(doc, "metrics");
    if (!start || !service || !m)
        return;
    if (strcmp(view->window, start) != 0) {
        snprintf(view->window, sizeof view->window, "%s", start);
        printf("\nminute %s\n%-22s %9s %8s %9s %9s  %s\n", start, "SERVICE", "REQUESTS", "ERRORS",
               "P95 ms", "P99 ms", "STATUS");
    }
    double error_rate = json_number_value(json_object_get(m, "error_rate"));
    double p95 = json_number_value(json_object_get(m, "latency_p95"));
    printf("%-22s %9lld %7.2f%% %9.1f %9.1f  %s\n", service,
           json_integer_value(json_object_get(m, "requests")), error_rate * 100, p95,
           json_number_value(json_object_get(m, "latency_p99")),
           status_of(view, service, error_rate, p95));
}

static eddy_err_t render(void *ctx, enum eddy_out_kind kind, const char *topic, const char *key,
                         size_t key_len, const char *value, size_t value_len)
{
    struct table_view *view = ctx;
    if (kind == EDDY_OUT_DEAD)
        return EDDY_OK; /* counted in the summary line */
    json_t *doc = json_loadb(value, value_len, 0, NULL);
    if (!doc)
        return EDDY_OK;
    const char *agg = json_string_value(json_object_get(doc, "aggregation"));
    if (kind == EDDY_OUT_ALERT) {
        printf("  \033[1m%s\033[0m %s for %s\n",
               json_string_value(json_object_get(doc, "state")),
               json_string_value(json_object_get(doc, "alert")),
               json_string_value(json_object_get(json_object_get(doc, "key"), "service")));
    } else if (agg && strcmp(agg, "service_1m") == 0) {
        print_result(view, doc);
    }
    json_decref(doc);
    fflush(stdout);
    return EDDY_OK;
}

static char *find_topology(char *buf, size_t len)
{
    const char *rel = "topologies/service-health.yaml";
    if (access(rel, R_OK) == 0) {
        snprintf(buf, len, "%s", rel);
        return buf;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, len, "%s/../%s", exe, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

eddy_err_t eddy__demo_run(const struct eddy_demo_opts *opts, volatile sig_atomic_t *stop)
{
    char path[PATH_MAX + 64], err[1024];
    struct eddy_plan *plan = NULL;
    if (!find_topology(path, sizeof path)) {
        eddy_log(EDDY_LOG_ERROR, "demo", "cannot find topologies/service-health.yaml");
        return EDDY_ENOTFOUND;
    }
    if (eddy_topology_load(path, &plan, err, sizeof err)) {
        eddy_log(EDDY_LOG_ERROR, "demo", "%s", err);
        return EDDY_ECONFIG;
    }
    struct table_view view = {0};
    for (size_t i = 0; i < plan->n_tables; i++)
        if (strcmp(plan->tables[i]->name, "services") == 0)
            view.services = plan->tables[i];
    int fds[2];
    if (pipe(fds) != 0) {
        eddy_plan_free(plan);
        return EDDY_EIO;
    }
    struct producer p = {.pipe = fdopen(fds[1], "w"), .external_stop = stop, .rate = opts->rate};
    if (opts->seconds > 0)
        p.deadline_ns = eddy_mono_ns() + (int64_t)opts->seconds * 1000000000;
    printf("eddy demo: service-health over generated logs, %.0f events/s, one minute of event "
           "time every 2 s; Ctrl-C to stop\n", opts->rate);
    pthread_t thread;
    if (!p.pipe || pthread_create(&thread, NULL, produce, &p) != 0) {
        eddy_plan_free(plan);
        return EDDY_EIO;
    }
    char input[32];
    snprintf(input, sizeof input, "/dev/fd/%d", fds[0]);
    struct eddy_output out = {render, &view};
    struct eddy_task_stats stats;
    struct eddy_serve *serve = NULL;
    eddy_err_t rc = EDDY_OK;
    if (opts->http) {
        struct eddy_serve_opts so = {.listen = opts->http, .instance = "demo"};
        if ((rc = eddy__serve_start(plan, &so, &serve)) == EDDY_OK)
            printf("status page: http://%s/\n", eddy__serve_address(serve));
    }
    if (!rc)
        rc = eddy__engine_run_local(plan, input, &out, NULL, &stats, serve);
    p.stop = 1;
    close(fds[0]); /* a writer still blocked on a full pipe gets EPIPE and ends */
    pthread_join(thread, NULL);
    eddy__serve_stop(serve);
    eddy_plan_free(plan);
    return rc;
}
