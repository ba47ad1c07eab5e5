/*
 * alert.c - see alert.h. The firing set of each alert is a small
 * open-addressing table of owned key copies; a resolved key is removed by
 * backward-shift deletion. An absent(N) alert also has a watch set of the
 * same kind: the keys that had rows and are not firing, each with the start
 * of its last window with a row.
 *
 * Journal (for eddy__alert_changes), per transition: a kind byte (0 delete,
 * 1 firing, 2 watched), a u32 length, the state key, then for "watched" the
 * 8-byte order-preserving window start (state/be64.h).
 */
#include "ops/alert.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/time.h"
#include "state/be64.h"

struct firing_key {
    uint64_t hash;
    size_t len;
    unsigned char *bytes; /* owned; NULL = empty slot */
    int64_t last_start;   /* watch sets: start of the key's last window with a row */
};

struct firing_set {
    struct firing_key *slots;
    size_t cap, count;
};

struct eddy_alert_state {
    const struct eddy_plan *plan;
    struct firing_set *sets;  /* one per alert */
    struct firing_set *watch; /* one per alert; used by absent(N) alerts */
    int64_t *checked;         /* absent(N): start of the last closed window scanned */
    struct firing_key **due;  /* absent(N): scratch of keys to fire, sorted */
    size_t due_cap;
    double *errors;           /* metric errors of an absent row */
    bool journaling;
    struct eddy_buf journal;  /* transitions, see the format above */
    struct eddy_value *scope; /* group values + metrics of the widest aggregation */
};

eddy_err_t eddy__alert_state_new(const struct eddy_plan *plan, struct eddy_alert_state **out)
{
    struct eddy_alert_state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    st->plan = plan;
    size_t widest = 1;
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        size_t w = plan->aggregations[a].n_group + plan->aggregations[a].n_metrics;
        if (w > widest)
            widest = w;
    }
    size_t n = plan->n_alerts ? plan->n_alerts : 1;
    st->sets = eddy_calloc(n, sizeof *st->sets);
    st->watch = eddy_calloc(n, sizeof *st->watch);
    st->checked = eddy_calloc(n, sizeof *st->checked);
    st->scope = eddy_calloc(widest, sizeof *st->scope);
    st->errors = eddy_calloc(widest, sizeof *st->errors);
    if (!st->sets || !st->watch || !st->checked || !st->scope || !st->errors) {
        eddy__alert_state_free(st);
        return EDDY_ENOMEM;
    }
    for (size_t i = 0; i < plan->n_alerts; i++)
        st->checked[i] = INT64_MIN;
    *out = st;
    return EDDY_OK;
}

static void set_release(struct firing_set *set)
{
    for (size_t k = 0; k < set->cap; k++)
        eddy_free(set->slots[k].bytes);
    eddy_free(set->slots);
}

void eddy__alert_state_free(struct eddy_alert_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; st->sets && i < st->plan->n_alerts; i++)
        set_release(&st->sets[i]);
    for (size_t i = 0; st->watch && i < st->plan->n_alerts; i++)
        set_release(&st->watch[i]);
    eddy_free(st->sets);
    eddy_free(st->watch);
    eddy_free(st->checked);
    eddy_free(st->due);
    eddy_free(st->errors);
    eddy_free(st->scope);
    eddy_buf_release(&st->journal);
    eddy_free(st);
}

static size_t probe(const struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    size_t mask = set->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct firing_key *k = &set->slots[i];
        if (!k->bytes || (k->hash == hash && k->len == len && memcmp(k->bytes, key, len) == 0))
            return i;
    }
}

static bool set_contains(const struct firing_set *set, uint64_t hash, const void *key,
                         size_t len)
{
    return set->cap && set->slots[probe(set, hash, key, len)].bytes;
}

static eddy_err_t set_add(struct firing_set *set, uint64_t hash, const void *key, size_t len,
                          int64_t last_start)
{
    if ((set->count + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct firing_key *slots = eddy_calloc(cap, sizeof *slots);
        if (!slots)
            return EDDY_ENOMEM;
        struct firing_set bigger = {slots, cap, set->count};
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i].bytes)
                slots[probe(&bigger, set->slots[i].hash, set->slots[i].bytes,
                            set->slots[i].len)] = set->slots[i];
        eddy_free(set->slots);
        *set = bigger;
    }
    unsigned char *copy = eddy_malloc(len ? len : 1);
    if (!copy)
        return EDDY_ENOMEM;
    memcpy(copy, key, len);
    set->slots[probe(set, hash, key, len)] = (struct firing_key){hash, len, copy, last_start};
    set->count++;
    return EDDY_OK;
}

static void set_remove(struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    size_t mask = set->cap - 1, i = probe(set, hash, key, len);
    eddy_free(set->slots[i].bytes);
    set->slots[i] = (struct firing_key){0};
    set->count--;
    /* backward-shift the run after the hole so probes stay unbroken */
    for (size_t j = (i + 1) & mask; set->slots[j].bytes; j = (j + 1) & mask) {
        size_t home = set->slots[j].hash & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            set->slots[i] = set->slots[j];
            set->slots[j] = (struct firing_key){0};
            i = j;
        }
    }
}

enum journal_kind { J_DELETE = 0, J_FIRING = 1, J_WATCHED = 2 };

/* Records a transition of (@alert, @key) for eddy__alert_changes(). */
static eddy_err_t journal(struct eddy_alert_state *st, const struct eddy_alert *alert,
                          enum journal_kind kind, const unsigned char *key, size_t key_len,
                          int64_t last_start)
{
    if (!st->journaling)
        return EDDY_OK;
    uint32_t len = (uint32_t)(strlen(alert->name) + 1 + key_len);
    unsigned char k = (unsigned char)kind;
    eddy_buf_append(&st->journal, &k, 1);
    eddy_buf_append(&st->journal, &len, 4);
    eddy_buf_append(&st->journal, alert->name, strlen(alert->name) + 1);
    eddy_buf_append(&st->journal, key, key_len);
    if (kind == J_WATCHED) {
        unsigned char be[8];
        eddy__be64_put(be, last_start);
        eddy_buf_append(&st->journal, be, 8);
    }
    return eddy_buf_err(&st->journal);
}

/* The row an absent alert reports for @key: window @start, no events. */
static eddy_err_t emit_absent(struct eddy_alert_state *st, size_t i, bool firing,
                              const unsigned char *key, size_t key_len, int64_t start,
                              eddy_alert_emit_fn emit, void *ctx)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    const struct eddy_aggregation *agg = &st->plan->aggregations[alert->aggregation];
    struct eddy_value *metrics = st->scope + agg->n_group;
    if (!eddy__group_key_decode(key, key_len, agg->n_group, st->scope))
        return EDDY_ESTATE;
    eddy__window_empty_metrics(agg, metrics, st->errors);
    struct eddy_window_row row = {
        .window_start = start,
        .window_end = start + agg->window.size_ms,
        .key = key,
        .key_len = key_len,
        .group = st->scope,
        .metrics = metrics,
        .errors = st->errors,
        .final = true,
        .empty = true,
    };
    return emit(ctx, alert, firing, agg, &row);
}

/* absent(N), a row of the key: resolves it when firing; when the key was
 * watched and its last row is more than N windows back (windows closed in
 * one jump of stream time), the incident happened in between: fires for
 * the N-th missing window, then resolves. Then watches it from this row. */
static eddy_err_t absent_on_row(struct eddy_alert_state *st, size_t i,
                                const struct eddy_window_row *row, eddy_alert_emit_fn emit,
                                void *ctx)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    const struct eddy_aggregation *agg = &st->plan->aggregations[alert->aggregation];
    int64_t size = agg->window.size_ms, n = alert->absent_windows;
    uint64_t hash = eddy_hash64(row->key, row->key_len, 0);
    struct firing_set *watch = &st->watch[i];
    struct firing_key *w = watch->cap ? &watch->slots[probe(watch, hash, row->key, row->key_len)]
                                      : NULL;
    if (w && !w->bytes)
        w = NULL;
    if (w && w->last_start >= row->window_start)
        return EDDY_OK; /* not a later window */
    eddy_err_t err = EDDY_OK;
    bool firing = set_contains(&st->sets[i], hash, row->key, row->key_len);
    if (firing) {
        set_remove(&st->sets[i], hash, row->key, row->key_len);
    } else if (w && (row->window_start - w->last_start) / size > n) {
        int64_t missing = w->last_start + n * size;
        err = emit_absent(st, i, true, row->key, row->key_len, missing, emit, ctx);
        firing = true;
    }
    if (!err && firing)
        err = emit(ctx, alert, false, agg, row);
    if (!err && w) /* the emits above do not touch the watch set */
        w->last_start = row->window_start;
    else if (!err)
        err = set_add(watch, hash, row->key, row->key_len, row->window_start);
    if (!err)
        err = journal(st, alert, J_WATCHED, row->key, row->key_len, row->window_start);
    return err;
}

static int due_cmp(const void *pa, const void *pb)
{
    const struct firing_key *a = *(const struct firing_key *const *)pa;
    const struct firing_key *b = *(const struct firing_key *const *)pb;
    int c = memcmp(a->bytes, b->bytes, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* absent(N): fires, in key order, for every watched key whose N windows
 * after its last row are all closed at @stream_time. */
static eddy_err_t absent_scan(struct eddy_alert_state *st, size_t i, int64_t stream_time,
                              eddy_alert_emit_fn emit, void *ctx)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    int64_t size = st->plan->aggregations[alert->aggregation].window.size_ms;
    int64_t n = alert->absent_windows;
    if (stream_time == INT64_MIN)
        return EDDY_OK;
    /* the start of the last window closed at stream time */
    int64_t closed = eddy_floor_div(stream_time - st->plan->grace_ms - size, size) * size;
    if (closed <= st->checked[i])
        return EDDY_OK;
    st->checked[i] = closed;
    struct firing_set *watch = &st->watch[i];
    if (watch->count > st->due_cap) {
        struct firing_key **due = eddy_realloc(st->due, watch->count * sizeof *due);
        if (!due)
            return EDDY_ENOMEM;
        st->due = due;
        st->due_cap = watch->count;
    }
    size_t n_due = 0;
    for (size_t k = 0; k < watch->cap; k++)
        if (watch->slots[k].bytes && watch->slots[k].last_start + n * size <= closed)
            st->due[n_due++] = &watch->slots[k];
    if (n_due)
        qsort(st->due, n_due, sizeof *st->due, due_cmp);
    /* move the due keys out of the watch set before any removal shifts slots */
    struct firing_key *moved = n_due ? eddy_calloc(n_due, sizeof *moved) : NULL;
    if (n_due && !moved)
        return EDDY_ENOMEM;
    for (size_t d = 0; d < n_due; d++)
        moved[d] = *st->due[d];
    eddy_err_t err = EDDY_OK;
    for (size_t d = 0; d < n_due && !err; d++) {
        struct firing_key *k = &moved[d];
        err = set_add(&st->sets[i], k->hash, k->bytes, k->len, 0);
        if (!err)
            err = journal(st, alert, J_FIRING, k->bytes, k->len, 0);
        if (!err)
            err = emit_absent(st, i, true, k->bytes, k->len, k->last_start + n * size, emit, ctx);
        if (!err)
            set_remove(watch, k->hash, k->bytes, k->len); /* frees k->bytes */
    }
    eddy_free(moved);
    return err;
}

eddy_err_t eddy__alert_advance(struct eddy_alert_state *st, size_t agg_index, int64_t stream_time,
                               eddy_alert_emit_fn emit, void *ctx)
{
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        if (st->plan->alerts[i].aggregation != agg_index || !st->plan->alerts[i].absent_windows)
            continue;
        eddy_err_t err = absent_scan(st, i, stream_time, emit, ctx);
        if (err)
            return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__alert_on_row(struct eddy_alert_state *st, size_t agg_index,
                              const struct eddy_window_row *row, eddy_alert_emit_fn emit,
                              void *ctx)
{
    const struct eddy_plan *plan = st->plan;
    const struct eddy_aggregation *agg = &plan->aggregations[agg_index];
    bool scoped = false;
    for (size_t i = 0; i < plan->n_alerts; i++) {
        const struct eddy_alert *alert = &plan->alerts[i];
        if (alert->aggregation != agg_index)
            continue;
        if (alert->absent_windows) {
            eddy_err_t err = row->empty ? EDDY_OK : absent_on_row(st, i, row, emit, ctx);
            if (err)
                return err;
            scoped = false; /* an absent firing row used the scope */
            continue;
        }
        if (!scoped) {
            memcpy(st->scope, row->group, agg->n_group * sizeof *st->scope);
            memcpy(st->scope + agg->n_group, row->metrics, agg->n_metrics * sizeof *st->scope);
            scoped = true;
        }
        struct eddy_eval_ctx ectx = {.slots = st->scope};
        struct eddy_value result;
        eddy_expr_eval(alert->when, &ectx, &result);
        bool condition = eddy_value_truthy(&result);
        uint64_t hash = eddy_hash64(row->key, row->key_len, 0);
        bool firing = set_contains(&st->sets[i], hash, row->key, row->key_len);
        if (condition == firing)
            continue;
        eddy_err_t err = condition ? set_add(&st->sets[i], hash, row->key, row->key_len, 0)
                                   : (set_remove(&st->sets[i], hash, row->key, row->key_len),
                                      EDDY_OK);
        if (!err)
            err = journal(st, alert, condition ? J_FIRING : J_DELETE, row->key, row->key_len, 0);
        if (!err)
            err = emit(ctx, alert, condition, agg, row);
        if (err)
            return err;
    }
    return EDDY_OK;
}

size_t eddy__alert_firing(const struct eddy_alert_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->plan->n_alerts; i++)
        n += st->sets[i].count;
    return n;
}

size_t eddy__alert_watched(const struct eddy_alert_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->plan->n_alerts; i++)
        n += st->watch[i].count;
    return n;
}

eddy_err_t eddy__alert_changes(struct eddy_alert_state *st,
                               eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                                const void *value, size_t value_len),
                               void *ctx)
{
    st->journaling = true;
    size_t pos = 0;
    while (pos + 5 <= st->journal.len) {
        uint32_t len;
        enum journal_kind kind = st->journal.data[pos];
        memcpy(&len, st->journal.data + pos + 1, 4);
        const char *key = st->journal.data + pos + 5;
        eddy_err_t err;
        if (kind == J_WATCHED)
            err = fn(ctx, key, len, key + len, 8);
        else
            err = fn(ctx, key, len, kind == J_FIRING ? "1" : NULL, kind == J_FIRING);
        if (err)
            return err;
        pos += 5 + len + (kind == J_WATCHED ? 8 : 0);
    }
    eddy_buf_reset(&st->journal);
    return EDDY_OK;
}

eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len,
                            const void *value, size_t value_len)
{
    const char *name = key;
    size_t name_len = strnlen(name, key_len);
    if (name_len == key_len || (value_len != 1 && value_len != 8))
        return EDDY_EPARSE;
    const unsigned char *group = (const unsigned char *)key + name_len + 1;
    size_t group_len = key_len - name_len - 1;
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        if (strlen(st->plan->alerts[i].name) != name_len ||
            memcmp(st->plan->alerts[i].name, name, name_len) != 0)
            continue;
        uint64_t hash = eddy_hash64(group, group_len, 0);
        /* a watched key was written after its firing one was deleted, and
         * the other way round: the latest record wins, one set holds it */
        struct firing_set *into = value_len == 8 ? &st->watch[i] : &st->sets[i];
        struct firing_set *other = value_len == 8 ? &st->sets[i] : &st->watch[i];
        if (set_contains(other, hash, group, group_len))
            set_remove(other, hash, group, group_len);
        if (set_contains(into, hash, group, group_len))
            set_remove(into, hash, group, group_len);
        return set_add(into, hash, group, group_len, value_len == 8 ? eddy__be64_get(value) : 0);
    }
    return EDDY_OK; /* an alert removed from the topology */
}
