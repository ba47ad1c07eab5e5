/*
 * service_logs.c - the `service-logs` generator kind (SPEC section 6).
 *
 * One flat JSON object per event, fields always in this order:
 *   {"service":"payment-service","timestamp":"2025-04-30T10:00:00.123Z",
 *    "status_code":201,"latency_ms":163,"error":false,
 *    "request_id":"9f1c0e5a7b3d2c41","tenant_id":"t-17","tenant_tier":"standard",
 *    "region":"EMEA","endpoint":"/api/v1/payments","user_id":"u-004211",
 *    "bytes_out":702}
 *
 * Model (the services file topologies/services.yaml is tuned to it):
 * - 8 services with a share of the traffic, each with 3-4 endpoints that
 *   have their own success status (200, 201 or 204) and response size.
 * - latency_ms = base * exp(0.5 * N(0,1)), times 2..10 for 1% of requests
 *   (the long tail), at least 1 ms; a 504 takes 3-5 s. The median is the
 *   service's base (40-200 ms), p95 about 2.3x and p99 about 3.5x base.
 * - 5xx for 0.5% of requests, 4xx for 3%, else the endpoint's success
 *   status; "error" is status_code >= 500.
 * - Incident: payment-service during event-time minutes [5, 8) of every
 *   30-minute cycle from the start answers 20% 5xx and is 3x slower.
 * - tenant_id "t-1".."t-200" from Zipf(skew) (t-1 the most frequent); the tier
 *   is a fixed function of the tenant: about 10% premium, 40% standard, 50%
 *   free. region NA/EMEA/APAC with weights 0.5/0.3/0.2. user_id "u-%06d"
 *   uniform over 50000 users. bytes_out is 0 for 204, 60-300 for errors,
 *   else lognormal around the endpoint's size.
 * - request_id: 16 hex digits of a bijective mix of (seed, event number), so
 *   unique among the original events of a run.
 *
 * Malformed events are one of, uniformly: a random proper prefix of the line
 * (malformed_json); a deleted '"' (malformed_json); a value replaced by a
 * token that is not JSON (malformed_json); a wrong type: status_code or
 * latency_ms as a string, service or request_id as a number (wrong_type);
 * one of service, timestamp, status_code, latency_ms, request_id removed
 * (missing_field); an unparseable timestamp string (bad_timestamp).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "gen/kinds.h"

#define TENANTS 200
#define USERS 50000
#define FIELDS 12
#define INCIDENT_CYCLE_MS (30 * 60000)
#define INCIDENT_FROM_MS (5 * 60000)
#define INCIDENT_TO_MS (8 * 60000)

enum field {
    F_SERVICE,
    F_TIMESTAMP,
    F_STATUS,
    F_LATENCY,
    F_ERROR,
    F_REQUEST_ID,
    F_TENANT,
    F_TIER,
    F_REGION,
    F_ENDPOINT,
    F_USER,
    F_BYTES
};

static const char *const field_names[FIELDS] = {
    "service",   "timestamp",   "status_code", "latency_ms", "error",   "request_id",
    "tenant_id", "tenant_tier", "region",      "endpoint",   "user_id", "bytes_out"};

struct endpoint {
    const char *path;
    int ok_status;
    double bytes; /* typical response size */
};

struct service {
    const char *name;
    double share;           /* of all requests */
    double latency_base_ms; /* median latency */
    struct endpoint endpoints[4];
};

static const struct service services[] = {
    {"auth-service",
     0.18,
     40,
     {{"/api/v1/login", 200, 512},
      {"/api/v1/logout", 204, 0},
      {"/api/v1/token/refresh", 200, 768},
      {"/api/v1/sessions", 200, 1024}}},
    {"payment-service",
     0.08,
     150,
     {{"/api/v1/payments", 201, 640},
      {"/api/v1/payments/authorize", 200, 480},
      {"/api/v1/payments/capture", 200, 420},
      {"/api/v1/refunds", 201, 380}}},
    {"search-service",
     0.20,
     100,
     {{"/api/v1/search", 200, 18000},
      {"/api/v1/search/suggest", 200, 2400},
      {"/api/v1/search/facets", 200, 6000},
      {NULL, 0, 0}}},
    {"catalog-service",
     0.16,
     60,
     {{"/api/v1/products", 200, 24000},
      {"/api/v1/products/details", 200, 9000},
      {"/api/v1/categories", 200, 4000},
      {"/api/v1/prices", 200, 1500}}},
    {"checkout-service",
     0.06,
     200,
     {{"/api/v1/cart", 200, 3000},
      {"/api/v1/cart/items", 201, 1200},
      {"/api/v1/checkout", 201, 2200},
      {"/api/v1/orders", 200, 5000}}},
    {"user-service",
     0.14,
     50,
     {{"/api/v1/users/me", 200, 1800},
      {"/api/v1/users/preferences", 200, 900},
      {"/api/v1/users/addresses", 200, 1300},
      {NULL, 0, 0}}},
    {"notification-service",
     0.08,
     80,
     {{"/api/v1/notifications", 200, 3500},
      {"/api/v1/notifications/send", 201, 250},
      {"/api/v1/notifications/read", 204, 0},
      {NULL, 0, 0}}},
    {"inventory-service",
     0.10,
     70,
     {{"/api/v1/stock", 200, 700},
      {"/api/v1/stock/reserve", 201, 350},
      {"/api/v1/stock/release", 204, 0},
      {"/api/v1/warehouses", 200, 2600}}},
};
#define SERVICES (sizeof services / sizeof services[0])
#define PAYMENT 1

static const int status_5xx[] = {500, 502, 503, 504};
static const double status_5xx_weights[] = {0.4, 0.2, 0.25, 0.15};
static const int status_4xx[] = {400, 401, 403, 404, 409, 429};
static const double status_4xx_weights[] = {0.25, 0.2, 0.1, 0.3, 0.05, 0.1};
static const char *const regions[] = {"NA", "EMEA", "APAC"};
static const double region_weights[] = {0.5, 0.3, 0.2};

struct state {
    double service_shares[SERVICES];
    double tenant_cdf[TENANTS];
    struct eddy_zipf tenants;
    uint64_t request_key;
    struct eddy_gen_time_cache time_cache;
    struct {
        size_t key, value, end; /* offsets of the key's '"', the value, the value's end */
    } spans[FIELDS];
};

static eddy_err_t state_new(const struct eddy_gen_opts *opts, void **out)
{
    struct state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    for (size_t i = 0; i < SERVICES; i++)
        st->service_shares[i] = services[i].share;
    eddy__zipf_init(&st->tenants, st->tenant_cdf, TENANTS, opts->skew);
    st->request_key = eddy_hash_mix64(opts->seed ^ 0x5eed0f5e41c3e7a1ULL);
    *out = st;
    return EDDY_OK;
}

static void state_free(void *state)
{
    eddy_free(state);
}

static const char *tenant_tier(unsigned tenant)
{
    uint64_t h = eddy_hash_mix64(tenant * 0x9e3779b97f4a7c15ULL + 17) % 100;
    return h < 10 ? "premium" : h < 50 ? "standard" : "free";
}

static size_t endpoint_count(const struct service *svc)
{
    size_t n = 0;
    while (n < 4 && svc->endpoints[n].path)
        n++;
    return n;
}

static int draw_status(struct eddy_rng *rng, const struct endpoint *ep, bool incident)
{
    double u = eddy__rng_unit(rng);
    double p5xx = incident ? 0.20 : 0.005;
    if (u < p5xx)
        return status_5xx[eddy__rng_weighted(rng, status_5xx_weights, 4)];
    if (u < p5xx + 0.03)
        return status_4xx[eddy__rng_weighted(rng, status_4xx_weights, 6)];
    return ep->ok_status;
}

static int64_t draw_latency(struct eddy_rng *rng, const struct service *svc, int status,
                            bool incident)
{
    double ms = svc->latency_base_ms * exp(0.5 * eddy__rng_normal(rng));
    if (eddy__rng_chance(rng, 0.01))
        ms *= 2 + 8 * eddy__rng_unit(rng);
    if (incident)
        ms *= 3;
    if (status == 504)
        ms = 3000 + 2000 * eddy__rng_unit(rng);
    return ms < 1 ? 1 : (int64_t)llround(ms);
}

static int64_t draw_bytes(struct eddy_rng *rng, const struct endpoint *ep, int status)
{
    if (status == 204)
        return 0;
    if (status >= 400)
        return 60 + (int64_t)eddy__rng_below(rng, 241);
    return (int64_t)llround(ep->bytes * exp(0.6 * eddy__rng_normal(rng))) + 40;
}

static void begin_field(struct state *st, struct eddy_buf *b, enum field f)
{
    if (f != F_SERVICE)
        eddy_buf_putc(b, ',');
    st->spans[f].key = b->len;
    eddy_buf_putc(b, '"');
    eddy_buf_puts(b, field_names[f]);
    eddy_buf_puts(b, "\":");
    st->spans[f].value = b->len;
}

static void put_str_field(struct state *st, struct eddy_buf *b, enum field f, const char *s)
{
    begin_field(st, b, f);
    eddy_buf_putc(b, '"');
    eddy_buf_puts(b, s);
    eddy_buf_putc(b, '"');
    st->spans[f].end = b->len;
}

static void put_int_field(struct state *st, struct eddy_buf *b, enum field f, int64_t v)
{
    begin_field(st, b, f);
    eddy__gen_put_i64(b, v);
    st->spans[f].end = b->len;
}

/* "<prefix><v>", v zero-padded to @width digits. */
static void put_numbered_field(struct state *st, struct eddy_buf *b, enum field f,
                               const char *prefix, unsigned v, int width)
{
    begin_field(st, b, f);
    eddy_buf_putc(b, '"');
    eddy__gen_put_padded(b, prefix, v, width);
    eddy_buf_putc(b, '"');
    st->spans[f].end = b->len;
}

static void corrupt(struct state *st, struct eddy_rng *rng, struct eddy_buf *b);

static void write_event(void *state, struct eddy_rng *rng, const struct eddy_gen_event *ev,
                        struct eddy_buf *key, struct eddy_buf *b)
{
    struct state *st = state;
    size_t s = eddy__rng_weighted(rng, st->service_shares, SERVICES);
    const struct service *svc = &services[s];
    const struct endpoint *ep = &svc->endpoints[eddy__rng_below(rng, endpoint_count(svc))];
    int64_t cycle_ms =
        ev->elapsed_ms - eddy_floor_div(ev->elapsed_ms, INCIDENT_CYCLE_MS) * INCIDENT_CYCLE_MS;
    bool incident = s == PAYMENT && cycle_ms >= INCIDENT_FROM_MS && cycle_ms < INCIDENT_TO_MS;
    int status = draw_status(rng, ep, incident);
    int64_t latency = draw_latency(rng, svc, status, incident);
    unsigned tenant = 1 + (unsigned)eddy__zipf_draw(&st->tenants, rng);
    const char *region = regions[eddy__rng_weighted(rng, region_weights, 3)];
    unsigned user = 1 + (unsigned)eddy__rng_below(rng, USERS);
    int64_t bytes = draw_bytes(rng, ep, status);

    eddy_buf_puts(key, svc->name);
    eddy_buf_putc(b, '{');
    put_str_field(st, b, F_SERVICE, svc->name);
    begin_field(st, b, F_TIMESTAMP);
    eddy_buf_putc(b, '"');
    eddy__gen_put_time(b, ev->event_time_ms, &st->time_cache);
    eddy_buf_putc(b, '"');
    st->spans[F_TIMESTAMP].end = b->len;
    put_int_field(st, b, F_STATUS, status);
    put_int_field(st, b, F_LATENCY, latency);
    begin_field(st, b, F_ERROR);
    eddy_buf_puts(b, status >= 500 ? "true" : "false");
    st->spans[F_ERROR].end = b->len;
    begin_field(st, b, F_REQUEST_ID);
    eddy_buf_putc(b, '"');
    eddy__gen_put_hex(b, eddy_hash_mix64(ev->seq + st->request_key), 16);
    eddy_buf_putc(b, '"');
    st->spans[F_REQUEST_ID].end = b->len;
    put_numbered_field(st, b, F_TENANT, "t-", tenant, 1);
    put_str_field(st, b, F_TIER, tenant_tier(tenant));
    put_str_field(st, b, F_REGION, region);
    put_str_field(st, b, F_ENDPOINT, ep->path);
    put_numbered_field(st, b, F_USER, "u-", user, 6);
    put_int_field(st, b, F_BYTES, bytes);
    eddy_buf_putc(b, '}');
    if (ev->malformed && !b->oom)
        corrupt(st, rng, b);
}

/* Quotes the value of @f: "status_code":"503". */
static void quote_value(struct state *st, struct eddy_buf *b, enum field f)
{
    eddy__gen_splice(b, st->spans[f].end, st->spans[f].end, "\"", 1);
    eddy__gen_splice(b, st->spans[f].value, st->spans[f].value, "\"", 1);
}

static void replace_value(struct state *st, struct eddy_buf *b, enum field f, const char *with)
{
    eddy__gen_splice(b, st->spans[f].value, st->spans[f].end, with, strlen(with));
}

static void drop_quote(struct eddy_rng *rng, struct eddy_buf *b)
{
    size_t quotes = 0;
    for (size_t i = 0; i < b->len; i++)
        quotes += b->data[i] == '"';
    size_t victim = (size_t)eddy__rng_below(rng, quotes);
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] == '"' && victim-- == 0) {
            eddy__gen_splice(b, i, i + 1, "", 0);
            return;
        }
}

static void remove_field(struct state *st, struct eddy_buf *b, enum field f)
{
    if (f == F_SERVICE) /* the first: take the comma after it */
        eddy__gen_splice(b, st->spans[f].key, st->spans[f + 1].key, "", 0);
    else
        eddy__gen_splice(b, st->spans[f].key - 1, st->spans[f].end, "", 0);
}

static void corrupt(struct state *st, struct eddy_rng *rng, struct eddy_buf *b)
{
    static const char *const garbage[] = {"#ERR", "nul", "0x1F", "--", "NaN", "{", "'x'"};
    static const char *const bad_times[] = {"\"2025-13-45T25:61:00Z\"", "\"yesterday\"", "\"\"",
                                            "\"30/04/2025 10:00\""};
    static const enum field required[] = {F_SERVICE, F_TIMESTAMP, F_STATUS, F_LATENCY,
                                          F_REQUEST_ID};
    switch (eddy__rng_below(rng, 6)) {
    case 0: eddy__gen_truncate(b, rng); break;
    case 1: drop_quote(rng, b); break;
    case 2:
        replace_value(st, b, (enum field)eddy__rng_below(rng, FIELDS),
                      garbage[eddy__rng_below(rng, 7)]);
        break;
    case 3:
        switch (eddy__rng_below(rng, 4)) {
        case 0: quote_value(st, b, F_STATUS); break;
        case 1: quote_value(st, b, F_LATENCY); break;
        case 2: replace_value(st, b, F_SERVICE, "42"); break;
        default: replace_value(st, b, F_REQUEST_ID, "1234567890");
        }
        break;
    case 4: remove_field(st, b, required[eddy__rng_below(rng, 5)]); break;
    default: replace_value(st, b, F_TIMESTAMP, bad_times[eddy__rng_below(rng, 4)]);
    }
}

const struct eddy_gen_kind eddy__gen_service_logs = {
    .name = "service-logs",
    .time_path = "timestamp",
    .time_format = "rfc3339",
    .state_new = state_new,
    .state_free = state_free,
    .write = write_event,
};
