/*
 * test_serve.c - the serving view, queries and the HTTP server in local
 * mode: exact answers over a small input, partial answers merged across two
 * views equal to one view holding everything, and errors as JSON.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/topology.h"
#include "runtime/engine.h"
#include "serve/query.h"
#include "serve/serve.h"
#include "state/be64.h"

static const char topology[] =
    "name: t\n"
    "source:\n"
    "  topic: in\n"
    "  timestamp: {field: ts, format: unix_ms}\n"
    "  fields: {svc: string, ep: string, ms: number, code: int}\n"
    "derive: {bad: code >= 500}\n"
    "aggregations:\n"
    "  - name: ep_1m\n"
    "    group_by: [svc, ep]\n"
    "    window: {tumbling: 1m}\n"
    "    metrics: {n: count(), errors: count_if(bad), p50: \"quantile(ms, 0.5)\"}\n"
    "serve:\n"
    "  retention: 1h\n"
    "  status:\n"
    "    on: ep_1m\n"
    "    requests: n\n"
    "    errors: errors\n"
    "    latency: [p50, p50, p50]\n"
    "    budget: 0.01\n"
    "    latency_threshold: 100\n";

static struct eddy_plan *plan_new(void)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    cr_assert_eq(eddy_topology_parse("t.yaml", topology, strlen(topology), &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    return plan;
}

/* svc a: ep x 3 events in minute 0 (one 500), ep y 1 in minute 1; svc b: ep x 2 in minute 1 */
static const char events[] =
    "{\"ts\":1000,\"svc\":\"a\",\"ep\":\"x\",\"ms\":10,\"code\":200}\n"
    "{\"ts\":2000,\"svc\":\"a\",\"ep\":\"x\",\"ms\":20,\"code\":500}\n"
    "{\"ts\":3000,\"svc\":\"a\",\"ep\":\"x\",\"ms\":30,\"code\":200}\n"
    "{\"ts\":61000,\"svc\":\"a\",\"ep\":\"y\",\"ms\":40,\"code\":200}\n"
    "{\"ts\":62000,\"svc\":\"b\",\"ep\":\"x\",\"ms\":50,\"code\":200}\n"
    "{\"ts\":63000,\"svc\":\"b\",\"ep\":\"x\",\"ms\":60,\"code\":200}\n"
    "not json\n";

static eddy_err_t discard(void *ctx, enum eddy_out_kind kind, const char *topic, const char *key,
                          size_t key_len, const char *value, size_t value_len)
{
    return EDDY_OK;
}

/* Runs @input through a local engine feeding a server on a free port. */
static struct eddy_serve *serve_input(const struct eddy_plan *plan, const char *input)
{
    char path[] = "/tmp/eddy-test-serve-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, input, strlen(input)), (ssize_t)strlen(input));
    close(fd);
    struct eddy_serve *s = NULL;
    struct eddy_serve_opts o = {.listen = "127.0.0.1:0", .instance = "t"};
    cr_assert_eq(eddy__serve_start(plan, &o, &s), EDDY_OK);
    struct eddy_output out = {discard, NULL};
    struct eddy_task_stats stats;
    cr_assert_eq(eddy__engine_run_local(plan, path, &out, NULL, &stats, s), EDDY_OK);
    unlink(path);
    return s;
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    eddy_buf_append(ctx, data, size * n);
    return size * n;
}

static long get(struct eddy_serve *s, const char *method, const char *path, struct eddy_buf *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s%s", eddy__serve_address(s), path);
    CURL *c = curl_easy_init();
    eddy_buf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s", url);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    eddy_buf_putc(body, '\0');
    return code;
}

Test(serve, query_answers_exactly)
{
    struct eddy_plan *plan = plan_new();
    struct eddy_serve *s = serve_input(plan, events);
    struct eddy_buf b;
    eddy_buf_init(&b);
    /* by ep over both minutes: x = a's 3 + b's 2, y = 1; key order: bytewise */
    cr_assert_eq(get(s, "GET", "/v1/query?by=ep&last=1h", &b), 200, "%s", b.data);
    json_error_t jerr;
    json_t *q = json_loads(b.data, 0, &jerr);
    cr_assert(q);
    cr_assert_str_eq(json_string_value(json_object_get(q, "aggregation")), "ep_1m");
    json_t *rows = json_object_get(q, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    json_t *x = json_array_get(rows, 0), *y = json_array_get(rows, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(x, "group"), "ep")), "x");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(x, "metrics"), "n")), 5);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(x, "metrics"), "errors")), 1);
    cr_assert_eq(json_integer_value(json_object_get(x, "windows")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(y, "metrics"), "n")), 1);
    json_decref(q);
    /* a filter and one key's windows */
    cr_assert_eq(get(s, "GET", "/v1/query?by=ep&svc=b&last=1h", &b), 200);
    cr_assert(strstr(b.data, "\"rows\":[{\"group\":{\"ep\":\"x\"},\"windows\":1,"), "%s", b.data);
    cr_assert(strstr(b.data, "\"metrics\":{\"n\":2,\"errors\":0,"), "%s", b.data);
    cr_assert_eq(get(s, "GET", "/v1/windows/ep_1m?svc=a&ep=x&from=0&to=120000", &b), 200);
    cr_assert(strstr(b.data, "\"window_start\":0,\"window_end\":60000,\"metrics\":{\"n\":3,"
                             "\"errors\":1,\"p50\":"),
              "%s", b.data);
    /* status: a is red (1 error in 4 requests vs a 1% budget), b green */
    cr_assert_eq(get(s, "GET", "/v1/status", &b), 200);
    cr_assert(strstr(b.data, "\"name\":\"a/x\",\"state\":\"red\""), "%s", b.data);
    cr_assert(strstr(b.data, "\"name\":\"b/x\",\"state\":\"green\""), "%s", b.data);
    /* metrics count what the engine saw */
    cr_assert_eq(get(s, "GET", "/metrics", &b), 200);
    cr_assert(strstr(b.data, "\neddy_events_in_total 7\n"), "%s", b.data);
    cr_assert(strstr(b.data, "eddy_dead_letters_total{reason=\"malformed_json\"} 1\n"));
    cr_assert_eq(get(s, "GET", "/readyz", &b), 200);
    cr_assert_eq(get(s, "GET", "/", &b), 200);
    cr_assert(strstr(b.data, "<html") || strstr(b.data, "<!DOCTYPE") || strstr(b.data, "<!doctype"));
    eddy_buf_release(&b);
    eddy__serve_stop(s);
    eddy_plan_free(plan);
}

Test(serve, bad_requests_are_json_errors)
{
    struct eddy_plan *plan = plan_new();
    struct eddy_serve *s = serve_input(plan, events);
    struct eddy_buf b;
    eddy_buf_init(&b);
    static const struct {
        const char *method, *path;
        long code;
        const char *message;
    } cases[] = {
        {"GET", "/v1/query?by=nope", 400, "{\"error\":\"agg: no aggregation groups by every"},
        {"GET", "/v1/query?agg=ep_1m&by=nope", 400,
         "{\"error\":\"by: aggregation 'ep_1m' has no group field 'nope'\"}"},
        {"GET", "/v1/query?agg=zzz", 404, "{\"error\":\"no aggregation 'zzz'\"}"},
        {"GET", "/v1/query?last=banana", 400, "{\"error\":\"last: expected a duration"},
        {"GET", "/v1/query?from=yesterday", 400, "{\"error\":\"from: expected epoch"},
        {"GET", "/v1/query?window=all", 400, "{\"error\":\"window: expected 'each' or 'merged'"},
        {"GET", "/v1/windows/ep_1m?svc=a", 400, "{\"error\":\"ep: give exactly one value"},
        {"GET", "/v1/nothing", 404, "{\"error\":\"no such path\"}"},
        {"POST", "/v1/query", 405, "{\"error\":\"only GET and HEAD\"}"},
        {"DELETE", "/metrics", 405, "{\"error\":\"only GET and HEAD\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long code = get(s, cases[i].method, cases[i].path, &b);
        cr_assert_eq(code, cases[i].code, "%s %s: %ld %s", cases[i].method, cases[i].path, code,
                     b.data);
        cr_assert_eq(strncmp(b.data, cases[i].message, strlen(cases[i].message)), 0,
                     "%s: %s", cases[i].path, b.data);
    }
    /* still serving afterwards */
    cr_assert_eq(get(s, "GET", "/healthz", &b), 200);
    eddy_buf_release(&b);
    eddy__serve_stop(s);
    eddy_plan_free(plan);
}

/* What a coordinator merges from two instances' partials equals one
 * instance holding every row (counts and the sketch's quantile). */
Test(serve, partials_merge_like_one_view)
{
    struct eddy_plan *plan = plan_new();
    const char *first = strstr(events, "{\"ts\":61000"); /* split the input in two */
    char part1[1024];
    snprintf(part1, sizeof part1, "%.*s", (int)(first - events), events);
    struct eddy_serve *all = serve_input(plan, events), *s1 = serve_input(plan, part1),
                      *s2 = serve_input(plan, first);
    struct eddy_param params[] = {{"by", "svc"}, {"from", "0"}, {"to", "120000"}};
    char err[256];
    struct eddy_query q;
    cr_assert_eq(eddy__query_parse(plan, NULL, params, 3, &q, err, sizeof err), EDDY_OK, "%s", err);
    struct eddy_buf want, got, p2;
    eddy_buf_init(&want);
    eddy_buf_init(&got);
    eddy_buf_init(&p2);
    struct eddy_qresult *r;
    cr_assert_eq(eddy__qresult_new(plan, &q, &r), EDDY_OK);
    cr_assert_eq(eddy__qresult_add_local(r, eddy__serve_view(all)), EDDY_OK);
    cr_assert_eq(eddy__qresult_render(r, 2, 2, &want), EDDY_OK);
    eddy__qresult_free(r);
    cr_assert_eq(eddy__query_partial(plan, eddy__serve_view(s2), &q, false, &p2), EDDY_OK);
    cr_assert_eq(eddy__qresult_new(plan, &q, &r), EDDY_OK);
    cr_assert_eq(eddy__qresult_add_local(r, eddy__serve_view(s1)), EDDY_OK);
    cr_assert_eq(eddy__qresult_add_partial(r, p2.data, p2.len), EDDY_OK);
    cr_assert_eq(eddy__qresult_render(r, 2, 2, &got), EDDY_OK);
    eddy__qresult_free(r);
    eddy_buf_putc(&want, '\0');
    eddy_buf_putc(&got, '\0');
    cr_assert_str_eq(got.data, want.data);
    cr_assert(strstr(want.data, "{\"group\":{\"svc\":\"a\"},\"windows\":2,"), "%s", want.data);
    cr_assert_eq(eddy__qresult_new(plan, &q, &r), EDDY_OK);
    cr_assert_eq(eddy__qresult_add_partial(r, "{\"rows\":[[0,\"!!\",\"\"]]}", 21), EDDY_EPARSE);
    eddy__qresult_free(r);
    eddy_buf_release(&want);
    eddy_buf_release(&got);
    eddy_buf_release(&p2);
    eddy__serve_stop(all);
    eddy__serve_stop(s1);
    eddy__serve_stop(s2);
    eddy_plan_free(plan);
}

static eddy_err_t count_match(void *ctx, const struct eddy_view_match *m)
{
    (*(size_t *)ctx)++;
    return EDDY_OK;
}

/* Rows stay for the retention after their window's end (against the newest
 * end seen), a dropped partition takes its rows and staged rows along, and
 * a discarded batch (an aborted transaction) never shows. */
Test(serve, view_retention_and_partitions)
{
    struct eddy_plan *plan = plan_new();
    struct eddy_view *v;
    cr_assert_eq(eddy__view_new(plan, 10 * 60000, &v), EDDY_OK);
    unsigned char value[] = {1, 3, 1, 0, 0}; /* format 1, 3 accumulators: n=1, ratio 0/0, no sketch */
    for (int32_t m = 0; m < 30; m++) {
        unsigned char key[8 + 12] = {0};
        int64_t start = (int64_t)m * 60000;
        eddy__be64_put(key, start);
        key[8] = EDDY_V_STR; /* "p" or "q": one key per partition */
        key[9] = 1;
        key[13] = (unsigned char)('p' + m % 2);
        key[14] = EDDY_V_STR; /* "" */
        cr_assert_eq(eddy__view_stage_row(v, m % 2, "ep_1m", key, 19, value, sizeof value),
                     EDDY_OK);
        cr_assert_eq(eddy__view_stage_row(v, 0, "not_an_aggregation", key, 19, value,
                                          sizeof value), EDDY_OK);
    }
    cr_assert(eddy__view_publish(v, false));
    /* newest end 30m, retention 10m: windows ending after 20m stay, starts 20..29 */
    cr_assert_eq(eddy__view_rows(v), 10);
    struct eddy_buf arena;
    eddy_buf_init(&arena);
    struct eddy_view_query q = {0, INT64_MIN, INT64_MAX, NULL, 0, NULL, 0};
    size_t n = 0;
    int64_t newest;
    cr_assert_eq(eddy__view_query(v, &q, &arena, &newest, count_match, &n), EDDY_OK);
    cr_assert_eq(n, 10);
    cr_assert_eq(newest, 30 * 60000);
    /* staged for partition 1, then dropped: neither old nor staged rows remain */
    unsigned char key[19] = {0, 0, 0, 0, 0, 0, 0, 0, EDDY_V_STR, 1, 0, 0, 0, 'q', EDDY_V_STR};
    eddy__be64_put(key, 29 * 60000);
    cr_assert_eq(eddy__view_stage_row(v, 1, "ep_1m", key, 19, value, sizeof value), EDDY_OK);
    eddy__view_drop_partition(v, 1);
    cr_assert(eddy__view_publish(v, true));
    cr_assert_eq(eddy__view_rows(v), 5); /* partition 0: even minutes 20..28 */
    /* discarded: never applied */
    cr_assert_eq(eddy__view_stage_row(v, 0, "ep_1m", key, 19, value, sizeof value), EDDY_OK);
    eddy__view_discard(v);
    cr_assert(eddy__view_publish(v, false));
    cr_assert_eq(eddy__view_rows(v), 5);
    eddy_buf_release(&arena);
    eddy__view_free(v);
    eddy_plan_free(plan);
}
