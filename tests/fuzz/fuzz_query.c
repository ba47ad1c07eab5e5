/*
 * fuzz_query.c - libFuzzer harness for the HTTP query layer (outside input:
 * the parameters of /v1/query, /v1/windows and /v1/partial, and the partial
 * answers peers send back). The first byte picks the mode:
 *   even: the rest is a query string "k=v&k=v..." (already URL-decoded, as
 *         libmicrohttpd hands it over) parsed as /v1/query, or as
 *         /v1/windows/<first value> when the byte is 2 mod 4; a query that
 *         parses runs against a small serving view (local rows plus this
 *         view's own partial answer) and renders; the status is rendered too;
 *   odd:  the rest is a peer's partial answer, merged and rendered.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/task.h"
#include "serve/query.h"
#include "serve/view.h"

static const char topology[] =
    "name: f\n"
    "source:\n"
    "  topic: in\n"
    "  timestamp: {field: ts, format: unix_ms}\n"
    "  fields: {svc: string, ep: string, n: int, ms: number}\n"
    "aggregations:\n"
    "  - name: a\n"
    "    group_by: [svc, ep, n]\n"
    "    window: {tumbling: 1m}\n"
    "    metrics: {c: count(), p: \"quantile(ms, 0.9)\", u: distinct(ep), m: max(n)}\n"
    "serve:\n"
    "  status: {on: a, requests: c, errors: c, latency: [p, p, p], budget: 0.5, "
    "latency_threshold: 10}\n";

static struct eddy_plan *plan;
static struct eddy_view *view;
static struct eddy_buf partial;

static eddy_err_t discard(void *ctx, enum eddy_out_kind kind, const char *topic, const char *key,
                          size_t key_len, const char *value, size_t value_len)
{
    return EDDY_OK;
}

static eddy_err_t stage(void *ctx, const char *store, const void *key, size_t key_len,
                        const void *value, size_t value_len)
{
    return eddy__view_stage_row(view, 0, store, key, key_len, value, value_len);
}

static void setup(void)
{
    char err[512];
    if (eddy_topology_parse("f.yaml", topology, sizeof topology - 1, &plan, err, sizeof err) ||
        eddy__view_new(plan, 3600000, &view)) {
        fprintf(stderr, "fuzz_query setup: %s\n", err);
        __builtin_trap();
    }
    struct eddy_task *task;
    struct eddy_output out = {discard, NULL};
    if (eddy__task_new(plan, "in", 0, &out, &task))
        __builtin_trap();
    eddy__task_on_final(task, stage, NULL);
    static const char *const svcs[] = {"a", "b", "c\\u00e9"};
    for (int i = 0; i < 300; i++) {
        char line[256];
        int n = snprintf(line, sizeof line,
                         "{\"ts\":%d,\"svc\":\"%s\",\"ep\":\"/e%d\",\"n\":%d,\"ms\":%d.5}",
                         i * 1000, svcs[i % 3], i % 4, i % 2, i % 97);
        eddy__task_process(task, line, (size_t)n, i, false);
    }
    eddy__task_flush(task);
    eddy__task_free(task);
    eddy__view_publish(view, true);
    struct eddy_query q;
    struct eddy_param p[] = {{"by", "svc,ep"}, {"last", "1h"}};
    eddy_buf_init(&partial);
    if (eddy__query_parse(plan, NULL, p, 2, &q, err, sizeof err) ||
        eddy__query_partial(plan, view, &q, true, &partial))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!plan)
        setup();
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    char text[4096];
    size_t len = size - 1 < sizeof text - 1 ? size - 1 : sizeof text - 1;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    struct eddy_buf out;
    eddy_buf_init(&out);
    struct eddy_query q;
    struct eddy_qresult *r = NULL;
    if (mode & 1) {
        eddy__status_query(plan, &q);
        if (!eddy__qresult_new(plan, &q, &r)) {
            eddy__qresult_add_partial(r, text, len);
            eddy__status_render(r, 2, 2, &out);
        }
    } else {
        struct eddy_param params[64];
        size_t n = 0;
        for (char *save = NULL, *tok = strtok_r(text, "&", &save); tok && n < 64;
             tok = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(tok, '=');
            if (eq)
                *eq = '\0';
            params[n++] = (struct eddy_param){tok, eq ? eq + 1 : ""};
        }
        char err[256];
        const char *agg_path = (mode & 2) && n ? params[0].value : NULL;
        if (!eddy__query_parse(plan, agg_path, params, n, &q, err, sizeof err) &&
            !eddy__qresult_new(plan, &q, &r)) {
            eddy__qresult_add_local(r, view);
            eddy__qresult_add_partial(r, partial.data, partial.len);
            eddy__qresult_render(r, 2, 2, &out);
        }
    }
    eddy__qresult_free(r);
    eddy_buf_release(&out);
    return 0;
}
