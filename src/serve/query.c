/*
 * query.c - see query.h.
 */
#include "serve/query.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/acc.h"
#include "config/table.h"
#include "codec/timestamp.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "ops/result.h"
#include "ops/window.h"

/* ---- parameters ---- */

static long field_index(const struct eddy_aggregation *agg, const char *name, size_t len)
{
    for (size_t g = 0; g < agg->n_group; g++)
        if (strlen(agg->group_names[g]) == len && memcmp(agg->group_names[g], name, len) == 0)
            return (long)g;
    return -1;
}

static bool parse_time(const char *s, int64_t *ms)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        *ms = v;
        return true;
    }
    return eddy__ts_parse_rfc3339(s, strlen(s), ms);
}

static bool is_control(const char *name)
{
    static const char *const names[] = {"agg", "by", "window", "last", "from", "to", "local",
                                        "alerts", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Splits "a,b" of @by into field indices of @agg. */
static eddy_err_t parse_by(const struct eddy_aggregation *agg, const char *by,
                           struct eddy_query *q, char *err, size_t errlen)
{
    for (const char *p = by; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long f = field_index(agg, p, len);
        if (f < 0) {
            snprintf(err, errlen, "by: aggregation '%s' has no group field '%.*s'", agg->name,
                     (int)len, p);
            return EDDY_EINVAL;
        }
        if (q->n_by == EDDY_QUERY_MAX_FIELDS) {
            snprintf(err, errlen, "by: too many fields");
            return EDDY_EINVAL;
        }
        q->by[q->n_by++] = (size_t)f;
        p += len + (comma != NULL);
    }
    return EDDY_OK;
}

/* Does @agg group by every name in @by (comma list) and every filter? */
static bool covers(const struct eddy_aggregation *agg, const char *by,
                   const struct eddy_param *params, size_t n)
{
    for (const char *p = by ? by : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (field_index(agg, p, len) < 0)
            return false;
        p += len + (comma != NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (!is_control(params[i].name) &&
            field_index(agg, params[i].name, strlen(params[i].name)) < 0)
            return false;
    return true;
}

eddy_err_t eddy__query_parse(const struct eddy_plan *plan, const char *agg_path,
                             const struct eddy_param *params, size_t n, struct eddy_query *q,
                             char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    const char *agg_name = agg_path, *by = NULL, *window = NULL, *last = NULL, *from = NULL,
               *to = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].name, *v = params[i].value ? params[i].value : "";
        const char **slot = strcmp(k, "agg") == 0      ? &agg_name
                            : strcmp(k, "by") == 0     ? &by
                            : strcmp(k, "window") == 0 ? &window
                            : strcmp(k, "last") == 0   ? &last
                            : strcmp(k, "from") == 0   ? &from
                            : strcmp(k, "to") == 0     ? &to
                                                       : NULL;
        if (slot && agg_path && slot == &agg_name) {
            snprintf(err, errlen, "agg: not allowed with /v1/windows/%s", agg_path);
            return EDDY_EINVAL;
        }
        if (slot)
            *slot = v;
    }
    size_t a = plan->n_aggregations;
    if (agg_name) {
        for (a = 0; a < plan->n_aggregations && strcmp(plan->aggregations[a].name, agg_name); a++)
            ;
        if (a == plan->n_aggregations) {
            snprintf(err, errlen, "no aggregation '%s'", agg_name);
            return EDDY_ENOTFOUND;
        }
    } else { /* fewest group fields, then smallest window, then declaration order */
        for (size_t i = 0; i < plan->n_aggregations; i++) {
            const struct eddy_aggregation *c = &plan->aggregations[i];
            if (!covers(c, by, params, n))
                continue;
            if (a == plan->n_aggregations || c->n_group < plan->aggregations[a].n_group ||
                (c->n_group == plan->aggregations[a].n_group &&
                 c->window.size_ms < plan->aggregations[a].window.size_ms))
                a = i;
        }
        if (a == plan->n_aggregations) {
            snprintf(err, errlen, "agg: no aggregation groups by every field of by= and the "
                                  "filters");
            return EDDY_EINVAL;
        }
    }
    const struct eddy_aggregation *agg = &plan->aggregations[a];
    q->aggregation = a;
    if (by && parse_by(agg, by, q, err, errlen))
        return EDDY_EINVAL;
    size_t n_values = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].name;
        if (is_control(k))
            continue;
        long f = field_index(agg, k, strlen(k));
        if (f < 0) {
            snprintf(err, errlen, "%s: aggregation '%s' has no group field '%s'", k, agg->name, k);
            return EDDY_EINVAL;
        }
        size_t j = 0;
        while (j < q->n_filters && q->filters[j].field != (size_t)f)
            j++;
        if (n_values == EDDY_QUERY_MAX_VALUES || (j == q->n_filters &&
                                                  q->n_filters == EDDY_QUERY_MAX_FIELDS)) {
            snprintf(err, errlen, "%s: too many filter values", k);
            return EDDY_EINVAL;
        }
        if (j == q->n_filters) {
            q->filters[j] = (struct eddy_view_filter){(size_t)f, &q->values[n_values], 0};
            q->n_filters++;
        } else if (q->filters[j].values + q->filters[j].n_values != &q->values[n_values]) {
            snprintf(err, errlen, "%s: give the values of one field together", k);
            return EDDY_EINVAL;
        }
        q->values[n_values++] = params[i].value ? params[i].value : "";
        q->filters[j].n_values++;
    }
    if (agg_path) { /* one key: every group field, once */
        for (size_t g = 0; g < agg->n_group; g++) {
            size_t j = 0;
            while (j < q->n_filters && q->filters[j].field != g)
                j++;
            if (j == q->n_filters || q->filters[j].n_values != 1) {
                snprintf(err, errlen, "%s: give exactly one value (the key of one row)",
                         agg->group_names[g]);
                return EDDY_EINVAL;
            }
        }
        q->n_by = agg->n_group;
        for (size_t g = 0; g < agg->n_group; g++)
            q->by[g] = g;
        window = window ? window : "each";
    }
    if (window && strcmp(window, "each") != 0 && strcmp(window, "merged") != 0) {
        snprintf(err, errlen, "window: expected 'each' or 'merged', got '%s'", window);
        return EDDY_EINVAL;
    }
    q->each = window && strcmp(window, "each") == 0;
    q->from = INT64_MIN;
    q->to = INT64_MAX;
    if (last && (from || to)) {
        snprintf(err, errlen, "last: give either last or from/to");
        return EDDY_EINVAL;
    }
    if (from && !parse_time(from, &q->from)) {
        snprintf(err, errlen, "from: expected epoch milliseconds or RFC 3339, got '%s'", from);
        return EDDY_EINVAL;
    }
    if (to && !parse_time(to, &q->to)) {
        snprintf(err, errlen, "to: expected epoch milliseconds or RFC 3339, got '%s'", to);
        return EDDY_EINVAL;
    }
    if (!from && !to) {
        if (!last)
            q->last_ms = agg_path ? 60 * 60000 : 15 * 60000;
        else if (!eddy_duration_parse(last, &q->last_ms) || q->last_ms <= 0) {
            snprintf(err, errlen, "last: expected a duration like 15m, got '%s'", last);
            return EDDY_EINVAL;
        }
    }
    return EDDY_OK;
}

/* ---- groups: (window start, projected key) -> accumulators ---- */

struct group {
    int64_t start;
    unsigned char *key;
    size_t key_len;
    uint64_t hash;
    struct eddy_acc *accs;
};

struct groups {
    const struct eddy_aggregation *agg;
    struct group *items;
    size_t n, cap;
    uint32_t *index; /* 1-based item index; 0 empty */
    size_t index_cap;
};

static uint64_t group_hash(int64_t start, const void *key, size_t len)
{
    return eddy_hash64(key, len, (uint64_t)start * 0x9e3779b97f4a7c15ULL + 1);
}

static void groups_release(struct groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        for (size_t a = 0; a < g->agg->n_accs; a++)
            eddy_acc_release(&g->items[i].accs[a], g->agg->accs[a].kind);
        eddy_free(g->items[i].accs);
        eddy_free(g->items[i].key);
    }
    eddy_free(g->items);
    eddy_free(g->index);
    memset(g, 0, sizeof *g);
}

static bool index_grow(struct groups *g)
{
    size_t cap = g->index_cap ? g->index_cap * 2 : 64;
    uint32_t *index = eddy_calloc(cap, sizeof *index);
    if (!index)
        return false;
    for (size_t i = 0; i < g->n; i++) {
        size_t s = g->items[i].hash & (cap - 1);
        while (index[s])
            s = (s + 1) & (cap - 1);
        index[s] = (uint32_t)(i + 1);
    }
    eddy_free(g->index);
    g->index = index;
    g->index_cap = cap;
    return true;
}

static eddy_err_t groups_get(struct groups *g, int64_t start, const void *key, size_t len,
                             struct group **out)
{
    uint64_t h = group_hash(start, key, len);
    if ((g->n + 1) * 2 > g->index_cap && !index_grow(g))
        return EDDY_ENOMEM;
    size_t s = h & (g->index_cap - 1);
    for (; g->index[s]; s = (s + 1) & (g->index_cap - 1)) {
        struct group *it = &g->items[g->index[s] - 1];
        if (it->hash == h && it->start == start && it->key_len == len &&
            memcmp(it->key, key, len) == 0) {
            *out = it;
            return EDDY_OK;
        }
    }
    if (g->n >= UINT32_MAX - 1 ||
        !eddy_array_reserve(&g->items, &g->cap, g->n + 1, sizeof *g->items, 64))
        return EDDY_ENOMEM;
    struct group *it = &g->items[g->n];
    it->accs = eddy_calloc(g->agg->n_accs ? g->agg->n_accs : 1, sizeof *it->accs);
    it->key = eddy_malloc(len ? len : 1);
    if (!it->accs || !it->key) {
        eddy_free(it->accs);
        eddy_free(it->key);
        return EDDY_ENOMEM;
    }
    memcpy(it->key, key, len);
    it->key_len = len;
    it->start = start;
    it->hash = h;
    g->index[s] = (uint32_t)(++g->n);
    *out = it;
    return EDDY_OK;
}

static eddy_err_t groups_add_value(struct groups *g, int64_t start, const void *key, size_t len,
                                   const void *value, size_t value_len)
{
    struct group *it;
    eddy_err_t err = groups_get(g, start, key, len, &it);
    return err ? err : eddy__window_value_merge(g->agg, it->accs, value, value_len);
}

/* Merges @src into the group of (@start, its key); *out gets that group. */
static eddy_err_t groups_add_accs(struct groups *g, int64_t start, const struct group *src,
                                  struct group **out)
{
    eddy_err_t err = groups_get(g, start, src->key, src->key_len, out);
    for (size_t a = 0; !err && a < g->agg->n_accs; a++)
        err = eddy_acc_merge(&(*out)->accs[a], &src->accs[a], g->agg->accs[a].kind);
    return err;
}

/* Group values in human order: by type tag, then strings bytewise (a
 * prefix first), numbers by value, false before true. */
static int value_cmp(const struct eddy_value *a, const struct eddy_value *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case EDDY_V_STR: {
        size_t l = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
        int c = l ? memcmp(a->as.s.ptr, b->as.s.ptr, l) : 0;
        return c ? c : (a->as.s.len > b->as.s.len) - (a->as.s.len < b->as.s.len);
    }
    case EDDY_V_INT: return (a->as.i > b->as.i) - (a->as.i < b->as.i);
    case EDDY_V_NUM: return (a->as.n > b->as.n) - (a->as.n < b->as.n);
    case EDDY_V_BOOL: return (int)a->as.b - (int)b->as.b;
    default: return 0;
    }
}

static size_t sort_fields; /* qsort has no context: set under sort_lock */
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int group_cmp(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    struct eddy_value va[EDDY_QUERY_MAX_FIELDS], vb[EDDY_QUERY_MAX_FIELDS];
    bool oka = eddy__group_key_decode(a->key, a->key_len, sort_fields, va);
    bool okb = eddy__group_key_decode(b->key, b->key_len, sort_fields, vb);
    for (size_t i = 0; oka && okb && i < sort_fields; i++) {
        int c = value_cmp(&va[i], &vb[i]);
        if (c)
            return c;
    }
    return (a->start > b->start) - (a->start < b->start);
}

/* Sorts the items by group values, then window start (the index is
 * dropped: no more lookups). */
static void groups_sort(struct groups *g, size_t n_fields)
{
    pthread_mutex_lock(&sort_lock);
    sort_fields = n_fields;
    qsort(g->items, g->n, sizeof *g->items, group_cmp);
    pthread_mutex_unlock(&sort_lock);
    eddy_free(g->index);
    g->index = NULL;
    g->index_cap = 0;
}

/* ---- results ---- */

struct eddy_qresult {
    const struct eddy_plan *plan;
    const struct eddy_aggregation *agg;
    struct eddy_query q;
    struct groups windows; /* per window, every instance merged */
    int64_t newest;
    struct eddy_buf arena;
    struct eddy_buf alerts; /* comma-joined alert event objects */
};

eddy_err_t eddy__qresult_new(const struct eddy_plan *plan, const struct eddy_query *q,
                             struct eddy_qresult **out)
{
    struct eddy_qresult *r = eddy_calloc(1, sizeof *r);
    if (!r)
        return EDDY_ENOMEM;
    r->plan = plan;
    r->agg = &plan->aggregations[q->aggregation];
    r->q = *q;
    /* the filters point into q->values: re-point them into our copy */
    for (size_t f = 0; f < r->q.n_filters; f++)
        r->q.filters[f].values = r->q.values + (q->filters[f].values - q->values);
    r->windows.agg = r->agg;
    r->newest = INT64_MIN;
    eddy_buf_init(&r->arena);
    eddy_buf_init(&r->alerts);
    *out = r;
    return EDDY_OK;
}

void eddy__qresult_free(struct eddy_qresult *r)
{
    if (!r)
        return;
    groups_release(&r->windows);
    eddy_buf_release(&r->arena);
    eddy_buf_release(&r->alerts);
    eddy_free(r);
}

struct local_ctx {
    struct eddy_qresult *r;
    int64_t newest; /* this instance's: set before the first match */
};

static eddy_err_t add_match(void *ctx, const struct eddy_view_match *m)
{
    struct local_ctx *lc = ctx;
    struct eddy_qresult *r = lc->r;
    if (r->q.last_ms > 0 && lc->newest != INT64_MIN && m->start < lc->newest - r->q.last_ms)
        return EDDY_OK; /* older than any instance's range can reach */
    return groups_add_value(&r->windows, m->start, m->key, m->key_len, m->value, m->value_len);
}

eddy_err_t eddy__qresult_add_local(struct eddy_qresult *r, struct eddy_view *view)
{
    struct eddy_view_query vq = {r->q.aggregation, r->q.last_ms > 0 ? INT64_MIN : r->q.from,
                                 r->q.last_ms > 0 ? INT64_MAX : r->q.to, r->q.by, r->q.n_by,
                                 r->q.filters, r->q.n_filters};
    struct local_ctx lc = {r, INT64_MIN};
    eddy_err_t err = eddy__view_query(view, &vq, &r->arena, &lc.newest, add_match, &lc);
    if (lc.newest > r->newest)
        r->newest = lc.newest;
    return err;
}

eddy_err_t eddy__qresult_add_alerts(struct eddy_qresult *r, const char *json_array, size_t len)
{
    /* strip the brackets of "[a,b]" and join */
    if (len < 2 || json_array[0] != '[' || json_array[len - 1] != ']')
        return EDDY_EPARSE;
    if (len == 2)
        return EDDY_OK;
    if (r->alerts.len)
        eddy_buf_putc(&r->alerts, ',');
    eddy_buf_append(&r->alerts, json_array + 1, len - 2);
    return eddy_buf_err(&r->alerts);
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding into @out (reset first). */
static bool b64_decode(const char *s, struct eddy_buf *out)
{
    size_t len = strlen(s);
    eddy_buf_reset(out);
    if (len % 4)
        return false;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++)
            v[j] = s[i + j] == '=' && i + 4 == len && j >= 2 ? -2 : b64_value(s[i + j]);
        if (v[0] < 0 || v[1] < 0 || v[2] == -1 || v[3] == -1 || (v[2] == -2 && v[3] != -2))
            return false;
        unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                              (unsigned char)((v[1] & 15) << 4 | (v[2] < 0 ? 0 : v[2] >> 2)),
                              (unsigned char)(((v[2] < 0 ? 0 : v[2]) & 3) << 6 |
                                              (v[3] < 0 ? 0 : v[3]))};
        eddy_buf_append(out, b, v[2] < 0 ? 1 : v[3] < 0 ? 2 : 3);
    }
    return !out->oom;
}

eddy_err_t eddy__qresult_add_partial(struct eddy_qresult *r, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    if (!doc)
        return EDDY_EPARSE;
    eddy_err_t err = EDDY_OK;
    json_t *newest = json_object_get(doc, "newest"), *rows = json_object_get(doc, "rows");
    if (!json_is_array(rows) || (newest && !json_is_integer(newest) && !json_is_null(newest)))
        err = EDDY_EPARSE;
    if (!err && json_is_integer(newest) && json_integer_value(newest) > r->newest)
        r->newest = json_integer_value(newest);
    struct eddy_buf key, value;
    eddy_buf_init(&key);
    eddy_buf_init(&value);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (err)
            break;
        json_t *s = json_array_get(row, 0), *k = json_array_get(row, 1),
               *v = json_array_get(row, 2);
        if (!json_is_integer(s) || !json_is_string(k) || !json_is_string(v) ||
            !b64_decode(json_string_value(k), &key) || !b64_decode(json_string_value(v), &value))
            err = EDDY_EPARSE;
        else
            err = groups_add_value(&r->windows, json_integer_value(s), key.data, key.len,
                                   value.data, value.len);
    }
    json_t *alerts = json_object_get(doc, "alerts");
    if (!err && json_is_array(alerts) && json_array_size(alerts)) {
        char *text = json_dumps(alerts, JSON_COMPACT);
        err = text ? eddy__qresult_add_alerts(r, text, strlen(text)) : EDDY_ENOMEM;
        free(text);
    }
    eddy_buf_release(&key);
    eddy_buf_release(&value);
    json_decref(doc);
    return err;
}

eddy_err_t eddy__query_partial(const struct eddy_plan *plan, struct eddy_view *view,
                               const struct eddy_query *q, bool alerts, struct eddy_buf *out)
{
    struct eddy_qresult *r;
    eddy_err_t err = eddy__qresult_new(plan, q, &r);
    if (err)
        return err;
    if ((err = eddy__qresult_add_local(r, view)))
        goto out;
    groups_sort(&r->windows, r->q.n_by);
    eddy_buf_puts(out, "{\"newest\":");
    if (r->newest == INT64_MIN)
        eddy_buf_puts(out, "null");
    else
        eddy_buf_json_i64(out, r->newest);
    eddy_buf_puts(out, ",\"rows\":[");
    struct eddy_buf value;
    eddy_buf_init(&value);
    for (size_t i = 0; i < r->windows.n && !err; i++) {
        const struct group *g = &r->windows.items[i];
        eddy_buf_reset(&value);
        err = eddy__window_value_encode(r->agg, g->accs, &value);
        eddy_buf_puts(out, i ? ",[" : "[");
        eddy_buf_json_i64(out, g->start);
        eddy_buf_putc(out, ',');
        eddy_buf_json_base64(out, g->key, g->key_len);
        eddy_buf_putc(out, ',');
        eddy_buf_json_base64(out, value.data, value.len);
        eddy_buf_putc(out, ']');
    }
    eddy_buf_release(&value);
    eddy_buf_putc(out, ']');
    if (alerts && !err) {
        eddy_buf_puts(out, ",\"alerts\":");
        err = eddy__view_alerts_json(view, out);
    }
    eddy_buf_putc(out, '}');
    if (!err)
        err = eddy_buf_err(out);
out:
    eddy__qresult_free(r);
    return err;
}

/* The time range [from, to) the answer covers. */
static void resolve_range(const struct eddy_qresult *r, int64_t *from, int64_t *to)
{
    if (r->q.last_ms > 0) {
        *to = r->newest == INT64_MIN ? eddy_now_ms() : r->newest;
        *from = *to - r->q.last_ms;
    } else {
        *from = r->q.from;
        *to = r->q.to;
    }
}

/* The groups of the answer: windows in range, folded unless each. */
static eddy_err_t fold(struct eddy_qresult *r, struct groups *out, int64_t from, int64_t to,
                       size_t **counts)
{
    memset(out, 0, sizeof *out);
    out->agg = r->agg;
    *counts = NULL;
    size_t cap = 0;
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < r->windows.n && !err; i++) {
        const struct group *g = &r->windows.items[i];
        if (g->start < from || g->start >= to)
            continue;
        size_t before = out->n;
        struct group *it;
        if ((err = groups_add_accs(out, r->q.each ? g->start : 0, g, &it)))
            break;
        if (out->n > before) { /* a new group: its window count starts at 0 */
            if (!eddy_array_reserve(counts, &cap, out->n, sizeof **counts, 64)) {
                err = EDDY_ENOMEM;
                break;
            }
            (*counts)[out->n - 1] = 0;
        }
        (*counts)[it - out->items]++;
    }
    return err;
}

static void metrics_json(struct eddy_buf *b, const struct eddy_aggregation *agg,
                         const struct eddy_acc *accs)
{
    struct eddy_value metrics[256];
    double errors[256];
    size_t n = agg->n_metrics < 256 ? agg->n_metrics : 256;
    eddy__window_metrics(agg, accs, metrics, errors);
    eddy_buf_puts(b, "\"metrics\":{");
    for (size_t m = 0; m < n; m++) {
        if (m)
            eddy_buf_putc(b, ',');
        eddy_buf_json_str(b, agg->metrics[m].name, strlen(agg->metrics[m].name));
        eddy_buf_putc(b, ':');
        eddy__value_json(b, &metrics[m]);
    }
    eddy_buf_puts(b, "},\"errors\":{");
    bool first = true;
    for (size_t m = 0; m < n; m++) {
        if (errors[m] <= 0)
            continue;
        if (!first)
            eddy_buf_putc(b, ',');
        first = false;
        eddy_buf_json_str(b, agg->metrics[m].name, strlen(agg->metrics[m].name));
        eddy_buf_putc(b, ':');
        eddy_buf_json_num(b, errors[m]);
    }
    eddy_buf_putc(b, '}');
}

static void group_json(struct eddy_buf *b, const struct eddy_aggregation *agg, const size_t *by,
                       size_t n_by, const struct group *g)
{
    struct eddy_value vals[EDDY_QUERY_MAX_FIELDS];
    bool ok = eddy__group_key_decode(g->key, g->key_len, n_by, vals);
    eddy_buf_putc(b, '{');
    for (size_t i = 0; ok && i < n_by; i++) {
        if (i)
            eddy_buf_putc(b, ',');
        const char *name = agg->group_names[by[i]];
        eddy_buf_json_str(b, name, strlen(name));
        eddy_buf_putc(b, ':');
        eddy__value_json(b, &vals[i]);
    }
    eddy_buf_putc(b, '}');
}

static void instances_json(struct eddy_buf *b, int asked, int answered)
{
    eddy_buf_printf(b, "\"instances\":{\"asked\":%d,\"answered\":%d}", asked, answered);
}

eddy_err_t eddy__qresult_render(struct eddy_qresult *r, int asked, int answered,
                                struct eddy_buf *out)
{
    const struct eddy_aggregation *agg = r->agg;
    int64_t from, to;
    resolve_range(r, &from, &to);
    struct groups folded;
    size_t *counts;
    eddy_err_t err = fold(r, &folded, from, to, &counts);
    if (err) {
        groups_release(&folded);
        eddy_free(counts);
        return err;
    }
    /* sort items with their counts: carry the count in start when merged */
    for (size_t i = 0; !r->q.each && i < folded.n; i++)
        folded.items[i].start = (int64_t)counts[i];
    groups_sort(&folded, r->q.n_by);
    eddy_buf_puts(out, "{\"aggregation\":");
    eddy_buf_json_str(out, agg->name, strlen(agg->name));
    eddy_buf_puts(out, ",\"from\":");
    eddy_buf_json_i64(out, from);
    eddy_buf_puts(out, ",\"to\":");
    eddy_buf_json_i64(out, to);
    eddy_buf_puts(out, ",\"by\":[");
    for (size_t i = 0; i < r->q.n_by; i++) {
        if (i)
            eddy_buf_putc(out, ',');
        const char *name = agg->group_names[r->q.by[i]];
        eddy_buf_json_str(out, name, strlen(name));
    }
    eddy_buf_puts(out, "],\"filter\":{");
    for (size_t f = 0; f < r->q.n_filters; f++) {
        const struct eddy_view_filter *flt = &r->q.filters[f];
        if (f)
            eddy_buf_putc(out, ',');
        const char *name = agg->group_names[flt->field];
        eddy_buf_json_str(out, name, strlen(name));
        eddy_buf_puts(out, ":[");
        for (size_t i = 0; i < flt->n_values; i++) {
            if (i)
                eddy_buf_putc(out, ',');
            const char *v = flt->values[i];
            if (eddy_utf8_valid(v, strlen(v)))
                eddy_buf_json_str(out, v, strlen(v));
            else
                eddy_buf_puts(out, "null");
        }
        eddy_buf_putc(out, ']');
    }
    eddy_buf_puts(out, r->q.each ? "},\"window\":\"each\"," : "},\"window\":\"merged\",");
    instances_json(out, asked, answered);
    eddy_buf_puts(out, ",\"rows\":[");
    for (size_t i = 0; i < folded.n; i++) {
        const struct group *g = &folded.items[i];
        if (i)
            eddy_buf_putc(out, ',');
        eddy_buf_puts(out, "{\"group\":");
        group_json(out, agg, r->q.by, r->q.n_by, g);
        eddy_buf_puts(out, ",\"windows\":");
        eddy_buf_json_i64(out, r->q.each ? 1 : g->start);
        eddy_buf_puts(out, ",\"window_start\":");
        eddy_buf_json_i64(out, r->q.each ? g->start : from);
        eddy_buf_puts(out, ",\"window_end\":");
        eddy_buf_json_i64(out, r->q.each ? g->start + agg->window.size_ms : to);
        eddy_buf_putc(out, ',');
        metrics_json(out, agg, g->accs);
        eddy_buf_putc(out, '}');
    }
    eddy_buf_puts(out, "]}");
    groups_release(&folded);
    eddy_free(counts);
    return eddy_buf_err(out);
}

eddy_err_t eddy__alerts_render(struct eddy_qresult *r, int asked, int answered,
                               struct eddy_buf *out)
{
    eddy_buf_putc(out, '{');
    instances_json(out, asked, answered);
    eddy_buf_puts(out, ",\"firing\":[");
    eddy_buf_append(out, r->alerts.data, r->alerts.len);
    eddy_buf_puts(out, "]}");
    return eddy_buf_err(out);
}

/* ---- the status page ---- */

bool eddy__status_query(const struct eddy_plan *plan, struct eddy_query *q)
{
    const struct eddy_serve_status *st = &plan->serve.status;
    if (!st->enabled)
        return false;
    memset(q, 0, sizeof *q);
    q->aggregation = st->aggregation;
    const struct eddy_aggregation *agg = &plan->aggregations[st->aggregation];
    q->n_by = agg->n_group < EDDY_QUERY_MAX_FIELDS ? agg->n_group : EDDY_QUERY_MAX_FIELDS;
    for (size_t g = 0; g < q->n_by; g++)
        q->by[g] = g;
    q->each = true;
    q->last_ms = plan->serve.retention_ms;
    q->from = INT64_MIN;
    q->to = INT64_MAX;
    return true;
}

static double num_of(const struct eddy_value *v, bool *ok)
{
    *ok = v->type == EDDY_V_INT || v->type == EDDY_V_NUM;
    return v->type == EDDY_V_INT ? (double)v->as.i : v->type == EDDY_V_NUM ? v->as.n : 0;
}

struct svc {
    size_t first, n; /* its windows in the sorted result */
    int rank;        /* red 0, yellow 1, green 2, unknown 3 */
};

static const char *const state_names[] = {"red", "yellow", "green", "unknown"};

/* Metrics (requests, errors, p50, p95, p99) of @accs. */
struct summary {
    double requests, errors, lat[3];
    bool has_lat[3];
};

static void summarize(const struct eddy_plan *plan, const struct eddy_acc *accs,
                      struct summary *s, struct eddy_value *scope)
{
    const struct eddy_serve_status *st = &plan->serve.status;
    const struct eddy_aggregation *agg = &plan->aggregations[st->aggregation];
    double errors[256];
    eddy__window_metrics(agg, accs, scope + agg->n_group, errors);
    bool ok;
    s->requests = num_of(&scope[agg->n_group + st->requests], &ok);
    s->errors = num_of(&scope[agg->n_group + st->errors], &ok);
    for (int i = 0; i < 3; i++)
        s->lat[i] = num_of(&scope[agg->n_group + st->latency[i]], &s->has_lat[i]);
}

static void opt_num(struct eddy_buf *b, const char *name, double v, bool ok)
{
    eddy_buf_printf(b, ",\"%s\":", name);
    if (ok)
        eddy_buf_json_num(b, v);
    else
        eddy_buf_puts(b, "null");
}

eddy_err_t eddy__status_render(struct eddy_qresult *r, int asked, int answered,
                               struct eddy_buf *out)
{
    const struct eddy_plan *plan = r->plan;
    const struct eddy_serve_status *st = &plan->serve.status;
    const struct eddy_aggregation *agg = r->agg;
    if (agg->n_metrics > 256 || agg->n_group > EDDY_QUERY_MAX_FIELDS)
        return EDDY_EINVAL;
    int64_t from, to;
    resolve_range(r, &from, &to);
    groups_sort(&r->windows, r->q.n_by);
    struct groups *w = &r->windows;
    json_t *alerts = NULL;
    {
        struct eddy_buf text;
        eddy_buf_init(&text);
        eddy_buf_putc(&text, '[');
        eddy_buf_append(&text, r->alerts.data, r->alerts.len);
        eddy_buf_putc(&text, ']');
        json_error_t jerr;
        alerts = json_loadb(text.data, text.len, 0, &jerr);
        eddy_buf_release(&text);
    }
    /* one service per distinct key */
    struct svc *svcs = eddy_calloc(w->n ? w->n : 1, sizeof *svcs);
    struct eddy_acc *last5 = eddy_calloc(agg->n_accs ? agg->n_accs : 1, sizeof *last5);
    struct eddy_acc *range = eddy_calloc(agg->n_accs ? agg->n_accs : 1, sizeof *range);
    struct eddy_value *scope = eddy_calloc(agg->n_group + agg->n_metrics + 1, sizeof *scope);
    if (!svcs || !last5 || !range || !scope) {
        eddy_free(svcs);
        eddy_free(last5);
        eddy_free(range);
        eddy_free(scope);
        json_decref(alerts);
        return EDDY_ENOMEM;
    }
    size_t n_svcs = 0;
    for (size_t i = 0; i < w->n;) {
        size_t j = i;
        while (j < w->n && w->items[j].key_len == w->items[i].key_len &&
               memcmp(w->items[j].key, w->items[i].key, w->items[i].key_len) == 0)
            j++;
        svcs[n_svcs++] = (struct svc){i, j - i, 3};
        i = j;
    }
    /* two passes: rank (to sort), then render in rank order */
    struct eddy_buf body[4];
    for (int k = 0; k < 4; k++)
        eddy_buf_init(&body[k]);
    eddy_err_t err = EDDY_OK;
    for (size_t s = 0; s < n_svcs && !err; s++) {
        const struct svc *sv = &svcs[s];
        const struct group *first = &w->items[sv->first];
        for (size_t a = 0; a < agg->n_accs; a++) {
            eddy_acc_release(&last5[a], agg->accs[a].kind);
            eddy_acc_release(&range[a], agg->accs[a].kind);
        }
        for (size_t i = sv->first; i < sv->first + sv->n && !err; i++) {
            const struct group *g = &w->items[i];
            if (g->start < from || g->start >= to)
                continue;
            for (size_t a = 0; a < agg->n_accs && !err; a++) {
                err = eddy_acc_merge(&range[a], &g->accs[a], agg->accs[a].kind);
                if (!err && g->start >= to - 5 * 60000)
                    err = eddy_acc_merge(&last5[a], &g->accs[a], agg->accs[a].kind);
            }
        }
        if (err)
            break;
        if (!eddy__group_key_decode(first->key, first->key_len, agg->n_group, scope))
            continue;
        struct summary s5, sr;
        summarize(plan, range, &sr, scope);
        summarize(plan, last5, &s5, scope); /* scope keeps the last 5 minutes */
        struct eddy_eval_ctx ectx = {.slots = scope};
        struct eddy_value bv, tv;
        eddy__tables_read_lock(plan); /* topic tables change on the processing thread */
        eddy_expr_eval(st->budget, &ectx, &bv);
        eddy_expr_eval(st->latency_threshold, &ectx, &tv);
        bool has_budget, has_thr;
        double budget = num_of(&bv, &has_budget), thr = num_of(&tv, &has_thr);
        eddy__tables_read_unlock(plan);
        has_budget = has_budget && budget > 0;
        double rate = s5.requests > 0 ? s5.errors / s5.requests : 0;
        double burn = has_budget ? rate / budget : 0;
        int rank = 3;
        if (s5.requests > 0) {
            bool p95 = s5.has_lat[1] && has_thr;
            rank = (has_budget && burn >= 14.4) || (p95 && s5.lat[1] > 2 * thr) ? 0
                   : (has_budget && burn >= 6) || (p95 && s5.lat[1] > thr)     ? 1
                                                                               : 2;
        }
        struct eddy_buf *b = &body[rank];
        if (b->len)
            eddy_buf_putc(b, ',');
        eddy_buf_puts(b, "{\"key\":");
        group_json(b, agg, r->q.by, r->q.n_by, first);
        eddy_buf_puts(b, ",\"name\":");
        struct eddy_value *names = scope; /* the group values, joined by '/' */
        eddy_buf_putc(b, '"');
        for (size_t g = 0; g < agg->n_group; g++) {
            char tmp[64];
            size_t tl;
            const char *t = eddy__view_value_text(&names[g], tmp, sizeof tmp, &tl);
            struct eddy_buf esc;
            eddy_buf_init(&esc);
            if (eddy_utf8_valid(t, tl))
                eddy_buf_json_str(&esc, t, tl);
            if (g)
                eddy_buf_putc(b, '/');
            if (esc.len >= 2)
                eddy_buf_append(b, esc.data + 1, esc.len - 2);
            eddy_buf_release(&esc);
        }
        eddy_buf_putc(b, '"');
        eddy_buf_printf(b, ",\"state\":\"%s\"", state_names[rank]);
        opt_num(b, "error_budget", budget, has_budget);
        opt_num(b, "latency_threshold_ms", thr, has_thr);
        eddy_buf_puts(b, ",\"last_5m\":{\"requests\":");
        eddy_buf_json_num(b, s5.requests);
        opt_num(b, "errors", s5.errors, true);
        opt_num(b, "error_rate", rate, s5.requests > 0);
        opt_num(b, "burn_rate", burn, s5.requests > 0 && has_budget);
        opt_num(b, "latency_p50", s5.lat[0], s5.has_lat[0]);
        opt_num(b, "latency_p95", s5.lat[1], s5.has_lat[1]);
        opt_num(b, "latency_p99", s5.lat[2], s5.has_lat[2]);
        eddy_buf_putc(b, '}');
        double remaining = has_budget && sr.requests > 0
                               ? 1 - (sr.errors / sr.requests) / budget : 1;
        remaining = remaining < 0 ? 0 : remaining > 1 ? 1 : remaining;
        opt_num(b, "budget_remaining", remaining, has_budget);
        eddy_buf_puts(b, ",\"series\":[");
        bool first_point = true;
        for (size_t i = sv->first; i < sv->first + sv->n; i++) {
            const struct group *g = &w->items[i];
            if (g->start < from || g->start >= to)
                continue;
            struct summary p;
            summarize(plan, g->accs, &p, scope);
            eddy_buf_puts(b, first_point ? "{\"window_start\":" : ",{\"window_start\":");
            first_point = false;
            eddy_buf_json_i64(b, g->start);
            opt_num(b, "requests", p.requests, true);
            opt_num(b, "errors", p.errors, true);
            opt_num(b, "error_rate", p.requests > 0 ? p.errors / p.requests : 0, p.requests > 0);
            opt_num(b, "latency_p50", p.lat[0], p.has_lat[0]);
            opt_num(b, "latency_p95", p.lat[1], p.has_lat[1]);
            opt_num(b, "latency_p99", p.lat[2], p.has_lat[2]);
            eddy_buf_putc(b, '}');
        }
        eddy_buf_puts(b, "],\"alerts\":[");
        /* firing alerts on this aggregation whose key is this service's */
        char *key_text = NULL;
        {
            struct eddy_buf kb;
            eddy_buf_init(&kb);
            group_json(&kb, agg, r->q.by, r->q.n_by, first);
            json_error_t jerr;
            json_t *k = json_loadb(kb.data, kb.len, 0, &jerr);
            key_text = k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            json_decref(k);
            eddy_buf_release(&kb);
        }
        size_t ai;
        json_t *ev;
        bool first_alert = true;
        json_array_foreach(alerts, ai, ev)
        {
            const char *name = json_string_value(json_object_get(ev, "alert"));
            const char *on = json_string_value(json_object_get(ev, "aggregation"));
            char *k = json_dumps(json_object_get(ev, "key"), JSON_COMPACT | JSON_SORT_KEYS);
            if (name && key_text && k && strcmp(k, key_text) == 0 &&
                (!on || strcmp(on, agg->name) == 0)) {
                if (!first_alert)
                    eddy_buf_putc(b, ',');
                first_alert = false;
                eddy_buf_json_str(b, name, strlen(name));
            }
            free(k);
        }
        free(key_text);
        eddy_buf_puts(b, "]}");
    }
    if (!err) {
        eddy_buf_puts(out, "{\"topology\":");
        eddy_buf_json_str(out, plan->name, strlen(plan->name));
        eddy_buf_puts(out, ",\"aggregation\":");
        eddy_buf_json_str(out, agg->name, strlen(agg->name));
        eddy_buf_puts(out, ",\"window_ms\":");
        eddy_buf_json_i64(out, agg->window.size_ms);
        eddy_buf_puts(out, ",\"now\":");
        eddy_buf_json_i64(out, to);
        eddy_buf_putc(out, ',');
        instances_json(out, asked, answered);
        eddy_buf_puts(out, ",\"services\":[");
        bool any = false;
        for (int k = 0; k < 4; k++) {
            if (!body[k].len)
                continue;
            if (any)
                eddy_buf_putc(out, ',');
            eddy_buf_append(out, body[k].data, body[k].len);
            any = true;
        }
        eddy_buf_puts(out, "]}");
        err = eddy_buf_err(out);
    }
    for (int k = 0; k < 4; k++) {
        if (!err && body[k].oom)
            err = EDDY_ENOMEM;
        eddy_buf_release(&body[k]);
    }
    for (size_t a = 0; a < agg->n_accs; a++) {
        eddy_acc_release(&last5[a], agg->accs[a].kind);
        eddy_acc_release(&range[a], agg->accs[a].kind);
    }
    eddy_free(svcs);
    eddy_free(last5);
    eddy_free(range);
    eddy_free(scope);
    json_decref(alerts);
    return err;
}
