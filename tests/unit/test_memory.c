/*
 * The bounded write cache of the memory budget (ops/window.h "Bounded write
 * cache", runtime/task.h "Memory budget"), without Kafka or RocksDB: a
 * window store (and a whole task) whose clean rows are evicted after each
 * "commit" into an in-memory backing store (a sorted key-value array, like
 * a RocksDB column family) emits exactly, byte for byte and in the same
 * order, what a store that never evicts emits.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "agg/acc.h"
#include "config/diff.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "gen/gen.h"
#include "ops/window.h"
#include "runtime/task.h"
#include "state/be64.h"

/* ---- a sorted key-value map per store: the fake backing store ---- */

struct kv {
    unsigned char *key, *value;
    size_t key_len, value_len;
};

struct kvmap {
    char name[64];
    struct kv *items;
    size_t n, cap;
    size_t gets, scans;
};

static int kv_cmp(const void *a, size_t la, const void *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

/* Index of @key, or where it would go (*found false). */
static size_t kv_find(const struct kvmap *m, const void *key, size_t len, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = kv_cmp(m->items[mid].key, m->items[mid].key_len, key, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void kv_put(struct kvmap *m, const void *key, size_t len, const void *value, size_t vl)
{
    bool found;
    size_t i = kv_find(m, key, len, &found);
    if (!found) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->items = realloc(m->items, m->cap * sizeof *m->items);
        }
        memmove(&m->items[i + 1], &m->items[i], (m->n - i) * sizeof *m->items);
        m->n++;
        m->items[i] = (struct kv){malloc(len), NULL, len, 0};
        memcpy(m->items[i].key, key, len);
    }
    free(m->items[i].value);
    m->items[i].value = malloc(vl ? vl : 1);
    memcpy(m->items[i].value, value, vl);
    m->items[i].value_len = vl;
}

static void kv_close_window(struct kvmap *m, int64_t start)
{
    size_t out = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct kv *kv = &m->items[i];
        if (kv->key_len >= 8 && eddy__be64_get(kv->key) == start) {
            free(kv->key);
            free(kv->value);
        } else {
            m->items[out++] = *kv;
        }
    }
    m->n = out;
}

static void kv_free(struct kvmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    free(m->items);
    m->items = NULL;
    m->n = m->cap = 0;
}

static eddy_err_t backing_get(void *ctx, const void *key, size_t klen, struct eddy_buf *value,
                              bool *found)
{
    struct kvmap *m = ctx;
    m->gets++;
    size_t i = kv_find(m, key, klen, found);
    if (*found) {
        eddy_buf_reset(value);
        eddy_buf_append(value, m->items[i].value, m->items[i].value_len);
        return eddy_buf_err(value);
    }
    return EDDY_OK;
}

static eddy_err_t backing_scan(void *ctx, int64_t window_start,
                               int (*fn)(void *c, const void *k, size_t kl, const void *v,
                                         size_t vl),
                               void *c)
{
    struct kvmap *m = ctx;
    unsigned char be[8];
    eddy__be64_put(be, window_start);
    bool found;
    m->scans++;
    for (size_t i = kv_find(m, be, 8, &found); i < m->n; i++) {
        struct kv *kv = &m->items[i];
        if (kv->key_len < 8 || memcmp(kv->key, be, 8) != 0)
            break;
        if (fn(c, kv->key, kv->key_len, kv->value, kv->value_len))
            break;
    }
    return EDDY_OK;
}

static eddy_err_t window_put(void *ctx, const void *key, size_t key_len, const void *value,
                             size_t value_len)
{
    kv_put(ctx, key, key_len, value, value_len);
    return EDDY_OK;
}

static eddy_err_t window_closed(void *ctx, int64_t start)
{
    kv_close_window(ctx, start);
    return EDDY_OK;
}

/* ---- output: every emitted line, in order ---- */

struct lines {
    char **text;
    size_t n, cap;
};

static void add_line(struct lines *l, const char *text, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->text = realloc(l->text, l->cap * sizeof *l->text);
    }
    l->text[l->n++] = strndup(text, len);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
}

static void expect_identical(const struct lines *a, const struct lines *b)
{
    cr_assert_eq(a->n, b->n, "%zu lines against %zu", a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert_str_eq(a->text[i], b->text[i], "line %zu", i);
}

static struct eddy_plan *load(const char *text)
{
    char err[512];
    struct eddy_plan *plan;
    cr_assert_eq(eddy_topology_parse(EDDY_SOURCE_DIR "/topologies/t.yaml", text, strlen(text),
                                     &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    return plan;
}

/* ---- one window store ---- */

/* A row as text: window, first group value, flags, metrics. */
static eddy_err_t emit_text(void *ctx, const struct eddy_aggregation *agg,
                            const struct eddy_window_row *row)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%lld %.*s final=%d empty=%d rev=%u",
                     (long long)row->window_start, (int)row->group[0].as.s.len,
                     row->group[0].as.s.ptr, row->final, row->empty, row->revision);
    for (size_t m = 0; m < agg->n_metrics; m++) {
        const struct eddy_value *v = &row->metrics[m];
        if (v->type == EDDY_V_INT)
            n += snprintf(line + n, sizeof line - (size_t)n, " %lld", (long long)v->as.i);
        else if (v->type == EDDY_V_NUM)
            n += snprintf(line + n, sizeof line - (size_t)n, " %.17g", v->as.n);
        else
            n += snprintf(line + n, sizeof line - (size_t)n, " null");
    }
    add_line(ctx, line, (size_t)n);
    return EDDY_OK;
}

static const char store_topology[] =
    "name: t\n"
    "source:\n"
    "  topic: in\n"
    "  timestamp: {field: ts, format: unix_ms}\n"
    "  fields: {user: string, v: number}\n"
    "aggregations:\n"
    "  - name: per_user\n"
    "    group_by: [user]\n"
    "    window: {tumbling: 1m}\n"
    "    emit: {updates: 20s}\n"
    "    emit_empty: true\n"
    "    metrics:\n"
    "      n: count()\n"
    "      total: sum(v)\n"
    "      p90: quantile(v, 0.9)\n"
    "      distinct_v: distinct(v)\n";

/* Feeds a deterministic pseudo-random stream to @ws: 200 users, 4 minutes,
 * "committing" (changes into @map) every @commit_every events and then
 * evicting when @evict. */
static void run_store(struct eddy_window_store *ws, struct kvmap *map, int commit_every,
                      bool evict, struct lines *out, size_t *evicted_bytes)
{
    struct eddy_window_changes changes = {window_put, window_closed, map, NULL};
    uint64_t x = 12345;
    int64_t stream_time = INT64_MIN;
    char name[16];
    for (int i = 0; i < 6000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t ts = (int64_t)i * 40 + (int64_t)(x >> 60) * 100; /* slightly out of order */
        snprintf(name, sizeof name, "u%03u", (unsigned)((x >> 33) % 200));
        if (i % 1500 < 40)
            snprintf(name, sizeof name, "quiet%u", (unsigned)(i / 1500)); /* emit_empty */
        struct eddy_value slots[2] = {
            {.type = EDDY_V_STR, .as.s = {name, strlen(name)}},
            {.type = EDDY_V_NUM, .as.n = (double)((x >> 20) % 1000)},
        };
        if (ts > stream_time)
            stream_time = ts;
        bool late;
        cr_assert_eq(eddy__window_add(ws, slots, ts, stream_time, &late), EDDY_OK);
        cr_assert_eq(eddy__window_advance(ws, stream_time, false, emit_text, out), EDDY_OK);
        if (i % commit_every == commit_every - 1) {
            cr_assert_eq(eddy__window_changes(ws, &changes), EDDY_OK);
            if (evict)
                *evicted_bytes += eddy__window_evict(ws);
        }
    }
    cr_assert_eq(eddy__window_advance(ws, stream_time + 3600000, false, emit_text, out),
                 EDDY_OK);
}

Test(memory, evicted_store_emits_exactly_what_a_full_store_emits)
{
    struct eddy_plan *plan = load(store_topology);
    struct eddy_window_store *full, *evicting;
    cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], 10000, &full), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], 10000, &evicting), EDDY_OK);
    struct kvmap full_map = {0}, map = {0};
    struct eddy_window_backing b = {backing_get, backing_scan, &map};
    eddy__window_backing(evicting, &b);
    struct lines a = {0}, e = {0};
    size_t evicted = 0, none = 0;
    run_store(full, &full_map, 97, false, &a, &none);
    run_store(evicting, &map, 97, true, &e, &evicted);
    cr_assert_gt(a.n, 500);
    cr_assert_gt(evicted, 0);
    cr_assert_gt(map.gets, 100, "events must hit evicted keys");
    cr_assert_gt(map.scans, 3, "closing windows must read evicted rows");
    size_t empties = 0, updates = 0;
    for (size_t i = 0; i < a.n; i++) {
        empties += strstr(a.text[i], "empty=1") != NULL;
        updates += strstr(a.text[i], "final=0") != NULL;
    }
    cr_assert_gt(empties, 0, "the test needs emit_empty rows");
    cr_assert_gt(updates, 0, "the test needs intermediate updates");
    expect_identical(&e, &a);
    cr_assert_eq(eddy__window_rows(evicting), 0);
    eddy__window_store_free(full);
    eddy__window_store_free(evicting);
    kv_free(&full_map);
    kv_free(&map);
    lines_free(&a);
    lines_free(&e);
    eddy_plan_free(plan);
}

Test(memory, a_rows_sketches_are_accounted_exactly_as_they_grow)
{
    /* one key, 3000 values spread over five decades: after every event the
     * store's memory must be its memory before the row plus a constant
     * (the row) plus exactly what the row's DDSketch and HyperLogLog take,
     * measured on twins fed the same values */
    struct eddy_plan *plan = load(store_topology);
    struct eddy_window_store *ws;
    cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], 10000, &ws), EDDY_OK);
    struct eddy_value other[2] = {{.type = EDDY_V_STR, .as.s = {"other", 5}},
                                  {.type = EDDY_V_NUM, .as.n = 1}};
    struct eddy_value probe[2] = {{.type = EDDY_V_STR, .as.s = {"solo", 4}}, other[1]};
    bool late;
    /* the window exists before the baseline is taken */
    cr_assert_eq(eddy__window_add(ws, other, 1000, 1000, &late), EDDY_OK);
    size_t base = eddy__window_memory(ws);
    struct eddy_acc q, d;
    eddy_acc_init(&q);
    eddy_acc_init(&d);
    size_t row = 0;
    for (int k = 0; k < 3000; k++) {
        probe[1].as.n = 1.0 + (double)((k * 7919) % 100000);
        cr_assert_eq(eddy__window_add(ws, probe, 1000, 1000, &late), EDDY_OK);
        cr_assert_eq(eddy_acc_update(&q, EDDY_M_QUANTILE, &probe[1]), EDDY_OK);
        cr_assert_eq(eddy_acc_update(&d, EDDY_M_DISTINCT, &probe[1]), EDDY_OK);
        size_t sketches =
            eddy_acc_memory(&q, EDDY_M_QUANTILE) + eddy_acc_memory(&d, EDDY_M_DISTINCT);
        size_t now = eddy__window_memory(ws);
        if (k == 0)
            row = now - base - sketches;
        cr_assert_eq(now - base - sketches, row,
                     "after event %d: %zu bytes accounted, %zu expected", k + 1, now - base,
                     row + sketches);
    }
    /* the sketches did grow */
    cr_assert_gt(eddy_acc_memory(&q, EDDY_M_QUANTILE) + eddy_acc_memory(&d, EDDY_M_DISTINCT),
                 4000);
    eddy_acc_release(&q, EDDY_M_QUANTILE);
    eddy_acc_release(&d, EDDY_M_DISTINCT);
    eddy__window_store_free(ws);
    eddy_plan_free(plan);
}

Test(memory, evict_frees_clean_rows_only_and_memory_accounts_sketches)
{
    struct eddy_plan *plan = load(store_topology);
    struct eddy_window_store *ws;
    cr_assert_eq(eddy__window_store_new(&plan->aggregations[0], 10000, &ws), EDDY_OK);
    size_t empty_bytes = eddy__window_memory(ws);
    /* without a backing store nothing is evicted */
    struct kvmap map = {0};
    struct eddy_window_changes changes = {window_put, window_closed, &map, NULL};
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "u%03d", i);
        for (int k = 0; k < 50; k++) {
            struct eddy_value slots[2] = {
                {.type = EDDY_V_STR, .as.s = {name, strlen(name)}},
                {.type = EDDY_V_NUM, .as.n = (double)(k * 37 % 1000)},
            };
            bool late;
            cr_assert_eq(eddy__window_add(ws, slots, 1000, 1000, &late), EDDY_OK);
        }
    }
    size_t full = eddy__window_memory(ws);
    /* 100 rows with a DDSketch and a HyperLogLog each */
    cr_assert_gt(full - empty_bytes, 100 * 1000);
    cr_assert_eq(eddy__window_evict(ws), 0);
    struct eddy_window_backing b = {backing_get, backing_scan, &map};
    eddy__window_backing(ws, &b);
    cr_assert_eq(eddy__window_evict(ws), 0, "dirty rows are never evicted");
    cr_assert_eq(eddy__window_changes(ws, &changes), EDDY_OK);
    cr_assert_eq(map.n, 100);
    cr_assert_eq(eddy__window_evict(ws), 0, "rows waiting for an update stay");
    struct lines out = {0};
    /* the first advance only schedules updates; 20 s later they are due */
    cr_assert_eq(eddy__window_advance(ws, 1000, false, emit_text, &out), EDDY_OK);
    cr_assert_eq(eddy__window_advance(ws, 20000, false, emit_text, &out), EDDY_OK);
    cr_assert_eq(out.n, 100);
    size_t freed = eddy__window_evict(ws);
    cr_assert_gt(freed, 100 * 1000);
    cr_assert_eq(eddy__window_rows(ws), 0);
    cr_assert_eq(eddy__window_open_windows(ws), 1);
    cr_assert_lt(eddy__window_memory(ws), full - freed + 1);
    /* one more event for an evicted key: its row comes back from the backing
     * store, then the close emits all 100 rows */
    struct eddy_value slots[2] = {
        {.type = EDDY_V_STR, .as.s = {"u007", 4}},
        {.type = EDDY_V_NUM, .as.n = 5},
    };
    bool late;
    cr_assert_eq(eddy__window_add(ws, slots, 2000, 20000, &late), EDDY_OK);
    cr_assert_eq(eddy__window_rows(ws), 1);
    cr_assert_eq(map.gets, 1);
    cr_assert_eq(eddy__window_advance(ws, 70000, false, emit_text, &out), EDDY_OK);
    cr_assert_eq(out.n, 200);
    cr_assert_str_eq(out.text[107], "0 u007 final=1 empty=0 rev=0 51 23330 820.70765912060904 51",
                     "%s", out.text[107]);
    eddy__window_store_free(ws);
    kv_free(&map);
    lines_free(&out);
    eddy_plan_free(plan);
}

/* ---- a whole task ---- */

static eddy_err_t keep_line(void *ctx, const char *key, size_t key_len, const char *value,
                            size_t value_len)
{
    add_line(ctx, value, value_len);
    return EDDY_OK;
}

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "%s ", topic);
    struct lines *l = ctx;
    char *text = malloc((size_t)n + value_len + 1);
    memcpy(text, prefix, (size_t)n);
    memcpy(text + n, value, value_len);
    text[(size_t)n + value_len] = '\0';
    add_line(l, text, (size_t)n + value_len);
    free(text);
    return EDDY_OK;
}

static char *topology_with_users(void)
{
    FILE *fp = fopen(EDDY_SOURCE_DIR "/topologies/service-health.yaml", "r");
    cr_assert(fp);
    static char text[20000];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    /* a high-cardinality aggregation, with updates, before the alerts */
    const char *extra = "  - name: user_endpoint_1m\n"
                        "    group_by: [user_id, endpoint]\n"
                        "    window: {tumbling: 1m}\n"
                        "    emit: {updates: 30s}\n"
                        "    metrics:\n"
                        "      requests: count()\n"
                        "      latency_p95: quantile(latency_ms, 0.95)\n"
                        "    output: {topic: user-endpoint-1m}\n";
    char *alerts = strstr(text, "\nalerts:");
    cr_assert(alerts);
    size_t el = strlen(extra);
    memmove(alerts + 1 + el, alerts + 1, strlen(alerts + 1) + 1);
    memcpy(alerts + 1, extra, el);
    return text;
}

struct task_map {
    struct kvmap *maps;
    const char **names;
    size_t n;
};

static struct kvmap *map_of(struct task_map *tm, const char *store)
{
    for (size_t i = 0; i < tm->n; i++)
        if (strcmp(tm->names[i], store) == 0)
            return &tm->maps[i];
    cr_assert_fail("no store %s", store);
    return NULL;
}

static eddy_err_t task_put(void *ctx, const char *store, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    struct kvmap *m = map_of(ctx, store);
    if (value)
        kv_put(m, key, key_len, value, value_len);
    return EDDY_OK;
}

static eddy_err_t task_closed(void *ctx, const char *store, int64_t start)
{
    kv_close_window(map_of(ctx, store), start);
    return EDDY_OK;
}

Test(memory, evicting_task_emits_exactly_what_a_full_task_emits, .timeout = 120)
{
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = 15000;
    o.event_rate = 40;
    o.seed = 5;
    o.dup_rate = 0.02;
    o.late_rate = 0.01;
    o.max_late_ms = 150000;
    struct lines input = {0};
    cr_assert_eq(eddy_gen_run("service-logs", &o, keep_line, &input, NULL), EDDY_OK);
    struct eddy_plan *plan = load(topology_with_users());
    struct lines a = {0}, e = {0};
    struct eddy_output oa = {collect, &a}, oe = {collect, &e};
    struct eddy_task *full, *evicting;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &oa, &full), EDDY_OK);
    cr_assert_eq(eddy__task_new(plan, "in", 0, &oe, &evicting), EDDY_OK);
    struct task_map tm = {0};
    tm.names = eddy_plan_store_names(plan, &tm.n);
    tm.maps = calloc(tm.n, sizeof *tm.maps);
    for (size_t a_ = 0; a_ < plan->n_aggregations; a_++) {
        struct eddy_window_backing b = {backing_get, backing_scan,
                                        map_of(&tm, plan->aggregations[a_].name)};
        cr_assert_eq(eddy__task_backing(evicting, plan->aggregations[a_].name, &b), EDDY_OK);
    }
    cr_assert_eq(eddy__task_backing(evicting, "nope", NULL), EDDY_ENOTFOUND);
    struct eddy_task_changes changes = {task_put, task_closed, &tm, NULL};
    cr_assert_eq(eddy__task_changes(evicting, &changes), EDDY_OK);
    size_t evicted = 0, peak_full = 0, peak_evicting = 0;
    for (size_t i = 0; i < input.n; i++) {
        const char *line = input.text[i];
        cr_assert_eq(eddy__task_process(full, line, strlen(line), (int64_t)i, false), EDDY_OK);
        cr_assert_eq(eddy__task_process(evicting, line, strlen(line), (int64_t)i, false),
                     EDDY_OK);
        if (i % 250 == 249) {
            cr_assert_eq(eddy__task_changes(evicting, &changes), EDDY_OK);
            evicted += eddy__task_evict(evicting);
        }
        size_t mf = eddy__task_memory(full), me = eddy__task_memory(evicting);
        peak_full = mf > peak_full ? mf : peak_full;
        peak_evicting = me > peak_evicting ? me : peak_evicting;
    }
    cr_assert_eq(eddy__task_flush(full), EDDY_OK);
    cr_assert_eq(eddy__task_flush(evicting), EDDY_OK);
    cr_assert_gt(evicted, 0);
    size_t scans = 0, gets = 0;
    for (size_t i = 0; i < tm.n; i++) {
        scans += tm.maps[i].scans;
        gets += tm.maps[i].gets;
    }
    cr_assert_gt(scans, 4, "closing windows must merge persisted rows (%zu scans)", scans);
    cr_assert_gt(gets, 100, "events must hit evicted keys");
    cr_assert_lt(peak_evicting, peak_full, "evicting %zu, full %zu", peak_evicting, peak_full);
    size_t users = 0;
    for (size_t i = 0; i < a.n; i++)
        users += strncmp(a.text[i], "user-endpoint-1m ", 17) == 0;
    cr_assert_gt(users, 1000);
    expect_identical(&e, &a);
    eddy__task_free(full);
    eddy__task_free(evicting);
    for (size_t i = 0; i < tm.n; i++)
        kv_free(&tm.maps[i]);
    free(tm.maps);
    eddy_free(tm.names);
    lines_free(&input);
    lines_free(&a);
    lines_free(&e);
    eddy_plan_free(plan);
}
