/*
 * view.c - see view.h.
 *
 * Per aggregation an open-addressing table (linear probing) of rows keyed by
 * their state key (window start + group key). Rows leave in sweeps
 * (retention, dropped partitions), which rebuild the table, and one by one
 * when a session window merges away or moves (a delete staged from the
 * store's changes), with backward-shift deletion: no tombstones.
 */
#include "serve/view.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "ops/window.h"
#include "state/be64.h"

struct vrow {
    unsigned char *data; /* key then value; NULL: empty slot */
    uint64_t hash;
    int64_t start;
    int32_t partition;
    uint32_t klen, vlen;
};

struct vagg {
    const struct eddy_aggregation *agg;
    struct vrow *slots;
    size_t cap, n;
    int64_t newest_end;
    int64_t cutoff; /* rows with end <= cutoff are gone */
};

struct valert {
    int32_t partition;
    char *id; /* alert name NUL key JSON */
    size_t id_len;
    char *json;
    size_t json_len;
};

enum { OP_ROW, OP_ALERT, OP_DEAD, OP_DELETE };

struct op {
    int kind;
    int32_t partition;
    size_t agg;
    size_t off;
    uint32_t klen, vlen;
};

struct eddy_view {
    const struct eddy_plan *plan;
    int64_t retention_ms;
    pthread_mutex_t lock;
    struct vagg *aggs;
    struct valert *alerts;
    size_t n_alerts, cap_alerts;
    size_t rows;
    /* staged by the processing thread, not under the lock */
    struct op *ops;
    size_t n_ops, cap_ops;
    struct eddy_buf arena;
};

eddy_err_t eddy__view_new(const struct eddy_plan *plan, int64_t retention_ms,
                          struct eddy_view **out)
{
    struct eddy_view *v = eddy_calloc(1, sizeof *v);
    if (!v)
        return EDDY_ENOMEM;
    v->aggs = eddy_calloc(plan->n_aggregations ? plan->n_aggregations : 1, sizeof *v->aggs);
    if (!v->aggs) {
        eddy_free(v);
        return EDDY_ENOMEM;
    }
    v->plan = plan;
    v->retention_ms = retention_ms;
    pthread_mutex_init(&v->lock, NULL);
    eddy_buf_init(&v->arena);
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        v->aggs[a].agg = &plan->aggregations[a];
        v->aggs[a].newest_end = INT64_MIN;
        v->aggs[a].cutoff = INT64_MIN;
    }
    *out = v;
    return EDDY_OK;
}

static void alert_free(struct valert *al)
{
    eddy_free(al->id);
    eddy_free(al->json);
}

void eddy__view_free(struct eddy_view *v)
{
    if (!v)
        return;
    for (size_t a = 0; a < v->plan->n_aggregations; a++) {
        for (size_t i = 0; i < v->aggs[a].cap; i++)
            eddy_free(v->aggs[a].slots[i].data);
        eddy_free(v->aggs[a].slots);
    }
    for (size_t i = 0; i < v->n_alerts; i++)
        alert_free(&v->alerts[i]);
    eddy_free(v->alerts);
    eddy_free(v->aggs);
    eddy_free(v->ops);
    eddy_buf_release(&v->arena);
    pthread_mutex_destroy(&v->lock);
    eddy_free(v);
}

/* ---- staging (processing thread) ---- */

static eddy_err_t stage(struct eddy_view *v, int kind, int32_t partition, size_t agg,
                        const void *key, size_t klen, const void *value, size_t vlen)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX)
        return EDDY_EINVAL;
    if (!eddy_array_reserve(&v->ops, &v->cap_ops, v->n_ops + 1, sizeof *v->ops, 256))
        return EDDY_ENOMEM;
    size_t off = v->arena.len;
    eddy_buf_append(&v->arena, key, klen);
    eddy_buf_append(&v->arena, value, vlen);
    if (v->arena.oom) {
        v->arena.len = off;
        v->arena.oom = false;
        return EDDY_ENOMEM;
    }
    v->ops[v->n_ops++] = (struct op){kind, partition, agg, off, (uint32_t)klen, (uint32_t)vlen};
    return EDDY_OK;
}

eddy_err_t eddy__view_stage_row(struct eddy_view *v, int32_t partition, const char *store,
                                const void *key, size_t key_len, const void *value,
                                size_t value_len)
{
    if (key_len < 8)
        return EDDY_OK;
    for (size_t a = 0; a < v->plan->n_aggregations; a++)
        if (strcmp(v->plan->aggregations[a].name, store) == 0)
            return value ? stage(v, OP_ROW, partition, a, key, key_len, value, value_len)
                         : stage(v, OP_DELETE, partition, a, key, key_len, "", 0);
    return EDDY_OK;
}

eddy_err_t eddy__view_stage_alert(struct eddy_view *v, int32_t partition, const char *json,
                                  size_t len)
{
    return stage(v, OP_ALERT, partition, 0, "", 0, json, len);
}

void eddy__view_discard(struct eddy_view *v)
{
    v->n_ops = 0;
    eddy_buf_reset(&v->arena);
}

/* ---- applying (under the lock) ---- */

static struct vrow *slot_for(struct vrow *slots, size_t cap, uint64_t hash, const void *key,
                             size_t klen)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct vrow *r = &slots[i];
        if (!r->data || (r->hash == hash && r->klen == klen && memcmp(r->data, key, klen) == 0))
            return r;
    }
}

/* Rebuilds the table of @va, at most half full, without the rows @drop
 * (may be NULL) says go. Out of memory: nothing changes. */
static bool rebuild(struct eddy_view *v, struct vagg *va, size_t extra,
                    bool (*drop)(const struct vrow *, void *), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < va->cap; i++)
        kept += va->slots[i].data && !(drop && drop(&va->slots[i], ctx));
    size_t cap = 64;
    while (cap < (kept + extra) * 2)
        cap *= 2;
    struct vrow *slots = eddy_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < va->cap; i++) {
        struct vrow *r = &va->slots[i];
        if (!r->data)
            continue;
        if (drop && drop(r, ctx)) {
            eddy_free(r->data);
            v->rows--;
        } else {
            *slot_for(slots, cap, r->hash, r->data, r->klen) = *r;
        }
    }
    eddy_free(va->slots);
    va->slots = slots;
    va->cap = cap;
    va->n = kept;
    return true;
}

static bool drop_expired(const struct vrow *r, void *ctx)
{
    const struct vagg *va = ctx;
    return r->start + va->agg->window.size_ms <= va->cutoff;
}

struct drop_partition {
    int32_t partition;
};

static bool drop_of_partition(const struct vrow *r, void *ctx)
{
    return r->partition == ((struct drop_partition *)ctx)->partition;
}

static eddy_err_t apply_row(struct eddy_view *v, const struct op *op)
{
    struct vagg *va = &v->aggs[op->agg];
    const unsigned char *key = (const unsigned char *)v->arena.data + op->off;
    const unsigned char *value = key + op->klen;
    int64_t start = eddy__be64_get(key);
    int64_t end = start + va->agg->window.size_ms;
    if (end <= va->cutoff)
        return EDDY_OK;
    if ((va->n + 1) * 2 > va->cap && !rebuild(v, va, va->n + 1, NULL, NULL))
        return EDDY_ENOMEM;
    uint64_t hash = eddy_hash64(key, op->klen, 0x5e7e);
    struct vrow *r = slot_for(va->slots, va->cap, hash, key, op->klen);
    unsigned char *data = eddy_realloc(r->data, (size_t)op->klen + op->vlen);
    if (!data)
        return EDDY_ENOMEM;
    if (!r->data) {
        va->n++;
        v->rows++;
    }
    memcpy(data, key, op->klen);
    memcpy(data + op->klen, value, op->vlen);
    *r = (struct vrow){data, hash, start, op->partition, op->klen, op->vlen};
    if (end > va->newest_end) {
        va->newest_end = end;
        int64_t cutoff = end - v->retention_ms;
        if (cutoff >= va->cutoff + va->agg->window.size_ms || va->cutoff == INT64_MIN) {
            va->cutoff = cutoff;
            rebuild(v, va, 0, drop_expired, va);
        }
    }
    return EDDY_OK;
}

/* A row that no longer exists (a session merged into another, or moved to
 * a new start): removed, and the rows after it in its probe run shifted
 * back where their probe would look. */
static void apply_delete(struct eddy_view *v, const struct op *op)
{
    struct vagg *va = &v->aggs[op->agg];
    if (!va->cap)
        return;
    const unsigned char *key = (const unsigned char *)v->arena.data + op->off;
    uint64_t hash = eddy_hash64(key, op->klen, 0x5e7e);
    struct vrow *r = slot_for(va->slots, va->cap, hash, key, op->klen);
    if (!r->data)
        return;
    eddy_free(r->data);
    va->n--;
    v->rows--;
    size_t mask = va->cap - 1, hole = (size_t)(r - va->slots);
    for (size_t j = (hole + 1) & mask; va->slots[j].data; j = (j + 1) & mask) {
        size_t home = va->slots[j].hash & mask;
        /* j's entry may fill the hole when its home is not in (hole, j] */
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            va->slots[hole] = va->slots[j];
            hole = j;
        }
    }
    va->slots[hole] = (struct vrow){0};
}

static eddy_err_t apply_alert(struct eddy_view *v, const struct op *op)
{
    const char *text = v->arena.data + op->off;
    json_error_t jerr;
    json_t *doc = json_loadb(text, op->vlen, 0, &jerr);
    if (!doc)
        return EDDY_OK; /* our own JSON: cannot happen */
    const char *name = json_string_value(json_object_get(doc, "alert"));
    const char *state = json_string_value(json_object_get(doc, "state"));
    char *key = json_dumps(json_object_get(doc, "key"), JSON_COMPACT | JSON_SORT_KEYS);
    eddy_err_t err = EDDY_OK;
    if (name && state && key) {
        size_t nl = strlen(name), kl = strlen(key);
        size_t found = v->n_alerts;
        for (size_t i = 0; i < v->n_alerts; i++)
            if (v->alerts[i].id_len == nl + 1 + kl && memcmp(v->alerts[i].id, name, nl + 1) == 0 &&
                memcmp(v->alerts[i].id + nl + 1, key, kl) == 0)
                found = i;
        if (strcmp(state, "firing") == 0) {
            char *json = eddy_strndup(text, op->vlen);
            char *id = found == v->n_alerts ? eddy_malloc(nl + 1 + kl + 1) : NULL;
            if (!json || (found == v->n_alerts &&
                          (!id || !eddy_array_reserve(&v->alerts, &v->cap_alerts,
                                                      v->n_alerts + 1, sizeof *v->alerts, 8)))) {
                eddy_free(json);
                eddy_free(id);
                err = EDDY_ENOMEM;
            } else if (found == v->n_alerts) {
                memcpy(id, name, nl + 1);
                memcpy(id + nl + 1, key, kl + 1);
                v->alerts[v->n_alerts++] =
                    (struct valert){op->partition, id, nl + 1 + kl, json, op->vlen};
            } else {
                eddy_free(v->alerts[found].json);
                v->alerts[found].json = json;
                v->alerts[found].json_len = op->vlen;
                v->alerts[found].partition = op->partition;
            }
        } else if (found < v->n_alerts) {
            alert_free(&v->alerts[found]);
            v->alerts[found] = v->alerts[--v->n_alerts];
        }
    }
    free(key);
    json_decref(doc);
    return err;
}

static void apply_drop(struct eddy_view *v, int32_t partition)
{
    struct drop_partition d = {partition};
    for (size_t a = 0; a < v->plan->n_aggregations; a++)
        if (v->aggs[a].n)
            rebuild(v, &v->aggs[a], 0, drop_of_partition, &d);
    for (size_t i = 0; i < v->n_alerts;) {
        if (v->alerts[i].partition == partition) {
            alert_free(&v->alerts[i]);
            v->alerts[i] = v->alerts[--v->n_alerts];
        } else {
            i++;
        }
    }
}

void eddy__view_drop_partition(struct eddy_view *v, int32_t partition)
{
    for (size_t i = 0; i < v->n_ops; i++)
        if (v->ops[i].partition == partition)
            v->ops[i].kind = OP_DEAD;
    pthread_mutex_lock(&v->lock);
    apply_drop(v, partition);
    pthread_mutex_unlock(&v->lock);
}

bool eddy__view_publish(struct eddy_view *v, bool wait)
{
    if (!v->n_ops)
        return true;
    if (v->arena.len >= EDDY_VIEW_STAGE_MAX)
        wait = true;
    if (wait)
        pthread_mutex_lock(&v->lock);
    else if (pthread_mutex_trylock(&v->lock) != 0)
        return false;
    for (size_t i = 0; i < v->n_ops; i++) {
        const struct op *op = &v->ops[i];
        /* out of memory: the view misses a row (queries see an older value);
         * processing goes on */
        if (op->kind == OP_ROW)
            (void)apply_row(v, op);
        else if (op->kind == OP_DELETE)
            apply_delete(v, op);
        else if (op->kind == OP_ALERT)
            (void)apply_alert(v, op);
    }
    pthread_mutex_unlock(&v->lock);
    eddy__view_discard(v);
    return true;
}

/* ---- queries ---- */

const char *eddy__view_value_text(const struct eddy_value *val, char *buf, size_t len,
                                  size_t *out_len)
{
    int n = 0;
    switch (val->type) {
    case EDDY_V_STR: *out_len = val->as.s.len; return val->as.s.ptr;
    case EDDY_V_INT: n = snprintf(buf, len, "%" PRId64, val->as.i); break;
    case EDDY_V_NUM: n = snprintf(buf, len, "%.17g", val->as.n); break;
    case EDDY_V_BOOL: n = snprintf(buf, len, "%s", val->as.b ? "true" : "false"); break;
    default: n = snprintf(buf, len, "null"); break;
    }
    *out_len = n > 0 && (size_t)n < len ? (size_t)n : 0;
    return buf;
}

/* Byte length of the encoded value at @p (ops/window.h), 0 when malformed. */
static size_t value_bytes(const unsigned char *p, size_t len)
{
    if (len < 1)
        return 0;
    switch (p[0]) {
    case EDDY_V_STR: {
        if (len < 5)
            return 0;
        size_t sl = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16 | (size_t)p[4] << 24;
        return len - 5 >= sl ? 5 + sl : 0;
    }
    case EDDY_V_INT:
    case EDDY_V_NUM: return len >= 9 ? 9 : 0;
    case EDDY_V_BOOL: return len >= 2 ? 2 : 0;
    case EDDY_V_NULL: return 1;
    default: return 0;
    }
}

bool eddy__group_key_project(const unsigned char *key, size_t len, size_t n_group,
                             const size_t *by, size_t n_by, struct eddy_buf *out)
{
    enum { MAX = 64 };
    size_t off[MAX], size[MAX], pos = 0;
    if (n_group > MAX)
        return false;
    for (size_t g = 0; g < n_group; g++) {
        size_t n = value_bytes(key + pos, len - pos);
        if (!n)
            return false;
        off[g] = pos;
        size[g] = n;
        pos += n;
    }
    if (pos != len)
        return false;
    for (size_t i = 0; i < n_by; i++) {
        if (by[i] >= n_group)
            return false;
        eddy_buf_append(out, key + off[by[i]], size[by[i]]);
    }
    return !out->oom;
}

static bool row_matches(const struct eddy_aggregation *agg, const struct eddy_view_query *q,
                        const unsigned char *gkey, size_t glen, struct eddy_value *group)
{
    if (!q->n_filters)
        return true;
    if (!eddy__group_key_decode(gkey, glen, agg->n_group, group))
        return false;
    for (size_t f = 0; f < q->n_filters; f++) {
        const struct eddy_view_filter *flt = &q->filters[f];
        char tmp[64];
        size_t tl;
        const char *text = eddy__view_value_text(&group[flt->field], tmp, sizeof tmp, &tl);
        bool any = false;
        for (size_t i = 0; i < flt->n_values && !any; i++)
            any = strlen(flt->values[i]) == tl && memcmp(flt->values[i], text, tl) == 0;
        if (!any)
            return false;
    }
    return true;
}

eddy_err_t eddy__view_query(struct eddy_view *v, const struct eddy_view_query *q,
                            struct eddy_buf *arena, int64_t *newest_end,
                            eddy_err_t (*fn)(void *ctx, const struct eddy_view_match *m),
                            void *ctx)
{
    if (q->aggregation >= v->plan->n_aggregations)
        return EDDY_EINVAL;
    const struct eddy_aggregation *agg = &v->plan->aggregations[q->aggregation];
    struct eddy_value group[64];
    if (agg->n_group > 64)
        return EDDY_EINVAL;
    eddy_buf_reset(arena);
    /* copy: [start 8][klen 4][vlen 4][projected key][value] per match */
    pthread_mutex_lock(&v->lock);
    struct vagg *va = &v->aggs[q->aggregation];
    *newest_end = va->newest_end;
    for (size_t i = 0; i < va->cap && !arena->oom; i++) {
        const struct vrow *r = &va->slots[i];
        if (!r->data || r->start < q->from || r->start >= q->to)
            continue;
        if (!row_matches(agg, q, r->data + 8, r->klen - 8, group))
            continue;
        size_t head = arena->len;
        unsigned char hdr[16] = {0};
        eddy_buf_append(arena, hdr, sizeof hdr);
        size_t kstart = arena->len;
        if (!eddy__group_key_project(r->data + 8, r->klen - 8, agg->n_group, q->by, q->n_by,
                                     arena)) {
            arena->len = head;
            continue;
        }
        uint32_t klen = (uint32_t)(arena->len - kstart);
        eddy_buf_append(arena, r->data + r->klen, r->vlen);
        if (arena->oom)
            break;
        memcpy(arena->data + head, &r->start, 8);
        memcpy(arena->data + head + 8, &klen, 4);
        memcpy(arena->data + head + 12, &r->vlen, 4);
    }
    pthread_mutex_unlock(&v->lock);
    if (arena->oom)
        return EDDY_ENOMEM;
    for (size_t pos = 0; pos < arena->len;) {
        struct eddy_view_match m;
        uint32_t klen, vlen;
        memcpy(&m.start, arena->data + pos, 8);
        memcpy(&klen, arena->data + pos + 8, 4);
        memcpy(&vlen, arena->data + pos + 12, 4);
        m.key = (const unsigned char *)arena->data + pos + 16;
        m.key_len = klen;
        m.value = m.key + klen;
        m.value_len = vlen;
        pos += 16 + (size_t)klen + vlen;
        eddy_err_t err = fn(ctx, &m);
        if (err)
            return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__view_alerts_json(struct eddy_view *v, struct eddy_buf *out)
{
    pthread_mutex_lock(&v->lock);
    /* (alert, key) order: insertion sort of indices (few alerts) */
    size_t n = v->n_alerts;
    size_t *order = eddy_calloc(n ? n : 1, sizeof *order);
    if (!order) {
        pthread_mutex_unlock(&v->lock);
        return EDDY_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0) {
            const struct valert *a = &v->alerts[order[j - 1]], *b = &v->alerts[i];
            size_t l = a->id_len < b->id_len ? a->id_len : b->id_len;
            int c = memcmp(a->id, b->id, l);
            if (c < 0 || (c == 0 && a->id_len <= b->id_len))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    eddy_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            eddy_buf_putc(out, ',');
        eddy_buf_append(out, v->alerts[order[i]].json, v->alerts[order[i]].json_len);
    }
    eddy_buf_putc(out, ']');
    pthread_mutex_unlock(&v->lock);
    eddy_free(order);
    return eddy_buf_err(out);
}

size_t eddy__view_rows(struct eddy_view *v)
{
    pthread_mutex_lock(&v->lock);
    size_t n = v->rows;
    pthread_mutex_unlock(&v->lock);
    return n;
}
