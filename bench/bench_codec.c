/*
 * bench_codec.c - decoding cost per event: eddy's projecting decoder against
 * jansson (parse the whole tree, look the fields up, free it), with a raw
 * newline scan as the floor.
 *
 * Builds N (default 1M, --count N) deterministic service-log lines in memory
 * (the SPEC.md section 6 schema, 200-260 bytes each), then times with
 * CLOCK_MONOTONIC, best of --reps passes (default 3; the machine is shared):
 *   eddy_decode    eddy__decode with the service-health source (service,
 *                  status_code, latency_ms, request_id, tenant_id, rfc3339
 *                  timestamp): full validation + 6 projected fields, with
 *                  a key-order hint as a task has (json.h);
 *   eddy_project   eddy__json_project alone (no type checks, no timestamp),
 *                  with a hint;
 *   eddy_project_nohint  the same without a hint (every key scanned and
 *                  looked up);
 *   jansson        json_loadb + json_object_get of the same 6 fields +
 *                  json_decref;
 *   memchr_floor   memchr for '\n' over the same bytes.
 * Prints a table (ns/event, events/s, MB/s) and a final line
 *   codec_ns=<eddy_decode> jansson_ns=<jansson> ratio=<jansson/eddy_decode>
 * Build: gcc -O2 -Iinclude -Isrc src/core/[all].c src/codec/[all].c bench/bench_codec.c
 *        -ljansson -lm (CMake builds it as a bench target)
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/decode.h"
#include "codec/json.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t next(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

static const char *const services[] = {"auth-service",   "payment-service", "search-service",
                                       "catalog-service", "cart-service",    "user-service",
                                       "shipping-service", "notification-service"};
static const char *const endpoints[] = {"/api/v1/login",  "/api/v1/payments", "/api/v1/search",
                                        "/api/v1/items",  "/api/v1/cart",     "/api/v1/users/me",
                                        "/api/v1/orders", "/api/v1/notify"};
static const char *const tiers[] = {"premium", "standard", "free"};
static const char *const regions[] = {"NA", "EMEA", "APAC"};
static const int statuses[] = {200, 200, 200, 200, 201, 204, 404, 500};

static size_t make_line(char *out, size_t cap, uint64_t i)
{
    int64_t ts = 1746007200000 + (int64_t)i * 7;
    int64_t secs = ts / 1000;
    int status = statuses[next(8)];
    int n = snprintf(out, cap,
                     "{\"service\":\"%s\",\"timestamp\":\"2025-04-30T%02d:%02d:%02d.%03dZ\","
                     "\"status_code\":%d,\"latency_ms\":%u,\"error\":%s,"
                     "\"request_id\":\"%016" PRIx64 "\",\"tenant_id\":\"t-%u\","
                     "\"tenant_tier\":\"%s\",\"region\":\"%s\",\"endpoint\":\"%s\","
                     "\"user_id\":\"u-%06u\",\"bytes_out\":%u}\n",
                     services[next(8)], (int)(secs / 3600 % 24), (int)(secs / 60 % 60),
                     (int)(secs % 60), (int)(ts % 1000), status, 5 + next(400),
                     status >= 500 ? "true" : "false",
                     (uint64_t)(i * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995), 1 + next(200),
                     tiers[next(3)], regions[next(3)], endpoints[next(8)], next(50000),
                     next(5000));
    return (size_t)n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static struct eddy_field fields[] = {
    {.name = "service", .type = EDDY_FT_STRING, .required = true},
    {.name = "status_code", .type = EDDY_FT_INT, .required = true},
    {.name = "latency_ms", .type = EDDY_FT_NUMBER, .required = true},
    {.name = "request_id", .type = EDDY_FT_STRING, .required = true},
    {.name = "tenant_id", .type = EDDY_FT_STRING, .required = false},
};

static void row(const char *name, double secs, size_t count, size_t bytes)
{
    printf("%-20s %10.1f %14.0f %10.0f\n", name, secs * 1e9 / (double)count,
           (double)count / secs, (double)bytes / secs / 1e6);
}

/* The corpus: lines[i] = data[off[i] .. off[i+1]-1), each ending in '\n'. */
struct corpus {
    char *data;
    size_t *off;
    size_t count, total;
};

static const char *const paths[] = {"service", "status_code", "latency_ms", "request_id",
                                    "tenant_id", "timestamp"};

static int64_t run_decode(const struct corpus *c, const struct eddy_decoder *dec)
{
    static struct eddy_json_hint hint;
    char scratch[1024], detail[256];
    struct eddy_value slots[5];
    int64_t ts, sink = 0;
    for (size_t i = 0; i < c->count; i++) {
        size_t len = c->off[i + 1] - c->off[i] - 1; /* without '\n' */
        if (eddy__decode(dec, c->data + c->off[i], len, slots, &ts, scratch, &hint, detail,
                         sizeof detail)) {
            fprintf(stderr, "bench_codec: line %zu: %s\n", i, detail);
            exit(1);
        }
        sink += ts + slots[1].as.i;
    }
    return sink;
}

static int64_t run_project(const struct corpus *c, const struct eddy_projection *proj,
                           struct eddy_json_hint *hint)
{
    char scratch[1024];
    struct eddy_value values[6];
    int64_t sink = 0;
    for (size_t i = 0; i < c->count; i++) {
        struct eddy_json_error err;
        if (eddy__json_project(proj, c->data + c->off[i], c->off[i + 1] - c->off[i] - 1, values,
                               scratch, hint, &err) == EDDY_OK)
            sink += values[0].as.s.len;
    }
    return sink;
}

static int64_t run_jansson(const struct corpus *c)
{
    int64_t sink = 0;
    for (size_t i = 0; i < c->count; i++) {
        json_error_t err;
        json_t *root = json_loadb(c->data + c->off[i], c->off[i + 1] - c->off[i] - 1, 0, &err);
        if (!root) {
            fprintf(stderr, "bench_codec: jansson: %s\n", err.text);
            exit(1);
        }
        for (size_t k = 0; k < 6; k++) {
            json_t *v = json_object_get(root, paths[k]);
            sink += json_is_string(v) ? (int64_t)json_string_length(v)
                                      : json_is_integer(v) ? json_integer_value(v) : 0;
        }
        json_decref(root);
    }
    return sink;
}

static int64_t run_floor(const struct corpus *c)
{
    int64_t lines = 0;
    for (const char *p = c->data, *end = c->data + c->total; p < end; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    return lines;
}

int main(int argc, char **argv)
{
    size_t count = 1000000;
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            count = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--count N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (count == 0)
        count = 1;
    if (reps < 1)
        reps = 1;
    struct corpus c = {.data = malloc(count * 320), .off = malloc((count + 1) * sizeof(size_t)),
                       .count = count};
    if (!c.data || !c.off) {
        fprintf(stderr, "bench_codec: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        c.off[i] = c.total;
        c.total += make_line(c.data + c.total, 320, i);
    }
    c.off[count] = c.total;

    struct eddy_source src = {.topic = "service-logs", .ts_path = "timestamp",
                              .ts_format = EDDY_TS_RFC3339, .fields = fields, .n_fields = 5,
                              .max_event_bytes = 1 << 20};
    struct eddy_decoder *dec;
    struct eddy_projection *proj;
    if (eddy__decoder_new(&src, &dec) || eddy__projection_new(paths, 6, &proj)) {
        fprintf(stderr, "bench_codec: cannot build decoder\n");
        return 1;
    }
    static struct eddy_json_hint hint;
    double t_decode = 1e30, t_project = 1e30, t_cold = 1e30, t_jansson = 1e30, t_floor = 1e30, t0;
    int64_t sink = 0;
    for (int rep = 0; rep < reps; rep++) {
        t0 = now_s();
        sink += run_decode(&c, dec);
        t_decode = fmin(t_decode, now_s() - t0);
        t0 = now_s();
        sink += run_project(&c, proj, &hint);
        t_project = fmin(t_project, now_s() - t0);
        t0 = now_s();
        sink += run_project(&c, proj, NULL);
        t_cold = fmin(t_cold, now_s() - t0);
        t0 = now_s();
        sink += run_jansson(&c);
        t_jansson = fmin(t_jansson, now_s() - t0);
        t0 = now_s();
        sink += run_floor(&c);
        t_floor = fmin(t_floor, now_s() - t0);
    }
    size_t total = c.total;
    printf("events=%zu avg_bytes=%.0f reps=%d (checksum %" PRId64 ")\n", count,
           (double)total / (double)count, reps, sink);
    printf("%-20s %10s %14s %10s\n", "method", "ns/event", "events/s", "MB/s");
    row("eddy_decode", t_decode, count, total);
    row("eddy_project", t_project, count, total);
    row("eddy_project_nohint", t_cold, count, total);
    row("jansson", t_jansson, count, total);
    row("memchr_floor", t_floor, count, total);
    double codec_ns = t_decode * 1e9 / (double)count, jansson_ns = t_jansson * 1e9 / (double)count;
    printf("codec_ns=%.1f jansson_ns=%.1f ratio=%.1f\n", codec_ns, jansson_ns,
           jansson_ns / codec_ns);
    eddy__decoder_free(dec);
    eddy__projection_free(proj);
    free(c.data);
    free(c.off);
    return 0;
}
