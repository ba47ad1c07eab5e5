/*
 * alert.c - see alert.h. The firing set of each alert is a small
 * open-addressing table of owned key copies; a resolved key is removed by
 * backward-shift deletion. An absent(N) alert also has a watch set of the
 * same kind: the keys that had rows and are not firing, each with the start
 * of its last window with a row.
 *
 * A burn_rate alert has only a watch set: every key it keeps, each with its
 * ring (struct burn_ring: newest window, severity when firing, bad and total
 * per window slot).
 *
 * Journal (for eddy__alert_changes), per transition: a kind byte (0 delete,
 * 1 firing, 2 watched, 3 burn-rate key changed), a u32 length, the state
 * key, then for "watched" the 8-byte order-preserving window start
 * (state/be64.h), for "burn" the u32 alert index. A burn-rate key is
 * journaled once until the next eddy__alert_changes, which writes its state
 * as of then.
 */
#include "ops/alert.h"

#include <math.h>
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
    struct burn_ring *ring; /* burn_rate alerts; owned */
};

struct burn_ring {
    int64_t newest;  /* start of the key's newest window */
    uint8_t severity; /* 0: not firing; k + 1: firing, reported with pair k */
    bool journaled;   /* a J_BURN entry is waiting in the journal */
    double v[];       /* 2 * ring: bad, total of window number mod ring */
};

struct firing_set {
    struct firing_key *slots;
    size_t cap, count;
};

struct eddy_alert_state {
    const struct eddy_plan *plan;
    struct firing_set *sets;  /* one per alert */
    struct firing_set *watch; /* one per alert; used by absent(N) and burn_rate alerts */
    int64_t *checked;         /* absent(N), burn_rate: start of the last closed window scanned */
    struct firing_key **due;  /* absent(N): scratch of keys to fire, sorted */
    size_t due_cap;
    double *errors;           /* metric errors of an absent row */
    double *rates;            /* burn rates of one evaluation, per span */
    bool journaling;
    struct eddy_buf journal;  /* transitions, see the format above */
    struct eddy_buf encoded;  /* a burn-rate key's value, for eddy__alert_changes */
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
    st->rates = eddy_calloc(2 * EDDY_BURN_MAX_WINDOWS, sizeof *st->rates);
    eddy_buf_init(&st->journal);
    eddy_buf_init(&st->encoded);
    if (!st->sets || !st->watch || !st->checked || !st->scope || !st->errors || !st->rates) {
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
    for (size_t k = 0; k < set->cap; k++) {
        eddy_free(set->slots[k].bytes);
        eddy_free(set->slots[k].ring);
    }
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
    eddy_free(st->rates);
    eddy_buf_release(&st->journal);
    eddy_buf_release(&st->encoded);
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
    set->slots[probe(set, hash, key, len)] = (struct firing_key){hash, len, copy, last_start, NULL};
    set->count++;
    return EDDY_OK;
}

static void set_remove(struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    size_t mask = set->cap - 1, i = probe(set, hash, key, len);
    eddy_free(set->slots[i].bytes);
    eddy_free(set->slots[i].ring);
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

enum journal_kind { J_DELETE = 0, J_FIRING = 1, J_WATCHED = 2, J_BURN = 3 };

/* Records a transition of (@alert, @key) for eddy__alert_changes(); for
 * J_BURN @last_start is the alert's index. */
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
    } else if (kind == J_BURN) {
        uint32_t index = (uint32_t)last_start;
        eddy_buf_append(&st->journal, &index, 4);
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
    return emit(ctx, alert, firing, agg, &row, NULL);
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
        err = emit(ctx, alert, false, agg, row, NULL);
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

/* ---- burn_rate alerts ---- */

static struct firing_key *set_find(const struct firing_set *set, uint64_t hash, const void *key,
                                   size_t len)
{
    if (!set->cap)
        return NULL;
    struct firing_key *k = &set->slots[probe(set, hash, key, len)];
    return k->bytes ? k : NULL;
}

static size_t ring_bytes(int64_t n)
{
    return sizeof(struct burn_ring) + 2 * (size_t)n * sizeof(double);
}

/* The slot of window @start in a ring of @n windows of @size. */
static size_t ring_slot(int64_t start, int64_t size, int64_t n)
{
    int64_t r = eddy_floor_div(start, size) % n;
    return (size_t)(r < 0 ? r + n : r);
}

/* A metric of a row as a count: null and non-finite values count 0. */
static double count_of(const struct eddy_value *v)
{
    double x = v->type == EDDY_V_INT ? (double)v->as.i : v->type == EDDY_V_NUM ? v->as.n : 0;
    return isfinite(x) ? x : 0;
}

/* The ring of @row's key, created (all zero) when new, moved forward to the
 * row's window (the windows skipped are zeroed); NULL with *err = 0 when the
 * row is older than the key's newest window. */
static struct burn_ring *burn_ring_for(struct eddy_alert_state *st, size_t i,
                                       const struct eddy_window_row *row, eddy_err_t *err)
{
    const struct eddy_burn_rate *br = st->plan->alerts[i].burn;
    int64_t size = st->plan->aggregations[st->plan->alerts[i].aggregation].window.size_ms;
    uint64_t hash = eddy_hash64(row->key, row->key_len, 0);
    struct firing_key *k = set_find(&st->watch[i], hash, row->key, row->key_len);
    *err = EDDY_OK;
    if (!k) {
        struct burn_ring *ring = eddy_calloc(1, ring_bytes(br->ring));
        if (!ring || (*err = set_add(&st->watch[i], hash, row->key, row->key_len, 0))) {
            eddy_free(ring);
            *err = EDDY_ENOMEM;
            return NULL;
        }
        ring->newest = row->window_start;
        set_find(&st->watch[i], hash, row->key, row->key_len)->ring = ring;
        return ring;
    }
    struct burn_ring *ring = k->ring;
    if (row->window_start < ring->newest)
        return NULL;
    int64_t skipped = (row->window_start - ring->newest) / size;
    if (skipped > br->ring)
        skipped = br->ring;
    for (int64_t j = 1; j <= skipped; j++) {
        size_t slot = ring_slot(ring->newest + j * size, size, br->ring);
        ring->v[2 * slot] = ring->v[2 * slot + 1] = 0;
    }
    ring->newest = row->window_start;
    return ring;
}

/* The budget of the row in scope: a number > 0, else NaN. */
static double burn_budget(const struct eddy_burn_rate *br, const struct eddy_value *scope)
{
    struct eddy_eval_ctx ectx = {.slots = scope};
    struct eddy_value v;
    eddy_expr_eval(br->budget, &ectx, &v);
    double budget = v.type == EDDY_V_INT ? (double)v.as.i : v.type == EDDY_V_NUM ? v.as.n : NAN;
    return isfinite(budget) && budget > 0 ? budget : NAN;
}

/* st->rates: the burn rate over each span ending with the ring's newest
 * window; returns the first pair that holds, or -1. */
static int burn_evaluate(struct eddy_alert_state *st, const struct eddy_burn_rate *br,
                         int64_t size, const struct burn_ring *ring, double budget)
{
    for (size_t s = 0; s < br->n_spans; s++) {
        double bad = 0, total = 0;
        for (int64_t j = 0; j < br->spans_ms[s] / size; j++) {
            size_t slot = ring_slot(ring->newest - j * size, size, br->ring);
            bad += ring->v[2 * slot];
            total += ring->v[2 * slot + 1];
        }
        st->rates[s] = isnan(budget) ? NAN : total > 0 ? bad / total / budget : 0;
    }
    for (size_t p = 0; p < br->n_windows; p++) {
        const struct eddy_burn_window *w = &br->windows[p];
        if (st->rates[w->long_span] >= w->factor && st->rates[w->short_span] >= w->factor)
            return (int)p;
    }
    return -1;
}

/* burn_rate, a final row of the key (see alert.h); the scope holds the row. */
static eddy_err_t burn_on_row(struct eddy_alert_state *st, size_t i,
                              const struct eddy_window_row *row, eddy_alert_emit_fn emit,
                              void *ctx)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    const struct eddy_burn_rate *br = alert->burn;
    const struct eddy_aggregation *agg = &st->plan->aggregations[alert->aggregation];
    eddy_err_t err;
    struct burn_ring *ring = burn_ring_for(st, i, row, &err);
    if (!ring)
        return err;
    size_t slot = ring_slot(row->window_start, agg->window.size_ms, br->ring);
    ring->v[2 * slot] = count_of(&row->metrics[br->bad]);
    ring->v[2 * slot + 1] = count_of(&row->metrics[br->total]);
    if (st->journaling && !ring->journaled) {
        ring->journaled = true;
        if ((err = journal(st, alert, J_BURN, row->key, row->key_len, (int64_t)i)))
            return err;
    }
    double budget = burn_budget(br, st->scope);
    int holds = burn_evaluate(st, br, agg->window.size_ms, ring, budget);
    bool firing = ring->severity != 0;
    if (firing == (holds >= 0))
        return EDDY_OK;
    struct eddy_alert_burn report = {
        .severity = br->windows[firing ? (size_t)ring->severity - 1 : (size_t)holds].severity,
        .budget = budget,
        .rates = st->rates,
    };
    ring->severity = firing ? 0 : (uint8_t)(holds + 1);
    return emit(ctx, alert, !firing, agg, row, &report);
}

/* burn_rate: forgets the keys that are not firing and whose newest window
 * is a whole ring before the last window closed at @stream_time. */
static eddy_err_t burn_expire(struct eddy_alert_state *st, size_t i, int64_t stream_time)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    int64_t size = st->plan->aggregations[alert->aggregation].window.size_ms;
    int64_t span = alert->burn->ring * size;
    if (stream_time == INT64_MIN)
        return EDDY_OK;
    int64_t closed = eddy_floor_div(stream_time - st->plan->grace_ms - size, size) * size;
    if (closed <= st->checked[i])
        return EDDY_OK;
    st->checked[i] = closed;
    struct firing_set *watch = &st->watch[i];
    for (size_t k = 0; k < watch->cap;) {
        struct firing_key *key = &watch->slots[k];
        if (!key->bytes || key->ring->severity || key->ring->newest > closed - span) {
            k++;
            continue;
        }
        eddy_err_t err = journal(st, alert, J_DELETE, key->bytes, key->len, 0);
        if (err)
            return err;
        /* the backward shift may move an unvisited key into slot k: look again */
        set_remove(watch, key->hash, key->bytes, key->len);
    }
    return EDDY_OK;
}

static void put_varint(struct eddy_buf *out, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    eddy_buf_append(out, b, n);
}

static void put_double(struct eddy_buf *out, double v)
{
    uint64_t bits;
    unsigned char b[8];
    memcpy(&bits, &v, 8);
    for (int k = 7; k >= 0; k--, bits >>= 8)
        b[k] = (unsigned char)(bits & 0xff);
    eddy_buf_append(out, b, 8);
}

static bool is_whole(double v)
{
    return v >= 0 && v <= 9007199254740992.0 && !signbit(v) && v == (double)(uint64_t)v;
}

/* Appends the state value of @ring, @n windows of @size (format in alert.h). */
static void burn_encode(struct eddy_buf *out, const struct burn_ring *ring, int64_t size,
                        int64_t n)
{
    unsigned char head[14];
    head[0] = EDDY_ALERT_BURN_FORMAT;
    head[1] = ring->severity;
    eddy__be64_put(head + 2, ring->newest);
    for (int k = 0; k < 4; k++)
        head[10 + k] = (unsigned char)((uint64_t)n >> (24 - 8 * k));
    eddy_buf_append(out, head, sizeof head);
    uint64_t run = 0;
    for (int64_t j = n - 1; j >= 0; j--) {
        size_t slot = ring_slot(ring->newest - j * size, size, n);
        double bad = ring->v[2 * slot], total = ring->v[2 * slot + 1];
        bool zero = bad == 0 && total == 0 && !signbit(bad) && !signbit(total);
        if (zero) {
            run++;
            continue;
        }
        if (run) {
            eddy_buf_putc(out, 0);
            put_varint(out, run);
            run = 0;
        }
        if (is_whole(bad) && is_whole(total)) {
            eddy_buf_putc(out, 1);
            put_varint(out, (uint64_t)bad);
            put_varint(out, (uint64_t)total);
        } else {
            eddy_buf_putc(out, 2);
            put_double(out, bad);
            put_double(out, total);
        }
    }
    if (run) {
        eddy_buf_putc(out, 0);
        put_varint(out, run);
    }
}

static bool get_varint(const unsigned char **p, const unsigned char *end, uint64_t max,
                       uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return v <= max;
        }
    }
    return false;
}

static bool get_double(const unsigned char **p, const unsigned char *end, double *out)
{
    if (end - *p < 8)
        return false;
    uint64_t bits = 0;
    for (int k = 0; k < 8; k++)
        bits = (bits << 8) | *(*p)++;
    memcpy(out, &bits, 8);
    return isfinite(*out);
}

/* Decodes a format-3 value into a new ring of @n windows of @size that
 * pairs with @n_windows pairs; NULL with *err set (EDDY_EPARSE, EDDY_ENOMEM). */
static struct burn_ring *burn_decode(const unsigned char *value, size_t len, int64_t size,
                                     int64_t n, size_t n_windows, eddy_err_t *err)
{
    *err = EDDY_EPARSE;
    if (len < 14 || value[0] != EDDY_ALERT_BURN_FORMAT || value[1] > n_windows)
        return NULL;
    uint64_t ring_len = 0;
    for (int k = 0; k < 4; k++)
        ring_len = (ring_len << 8) | value[10 + k];
    if (ring_len != (uint64_t)n)
        return NULL;
    struct burn_ring *ring = eddy_calloc(1, ring_bytes(n));
    if (!ring) {
        *err = EDDY_ENOMEM;
        return NULL;
    }
    ring->severity = value[1];
    ring->newest = eddy__be64_get(value + 2);
    const unsigned char *p = value + 14, *end = value + len;
    int64_t j = n - 1; /* windows before the newest of the next entry */
    while (p < end && j >= 0) {
        unsigned char tag = *p++;
        uint64_t run, bad, total;
        double dbad, dtotal;
        if (tag == 0 && get_varint(&p, end, (uint64_t)j + 1, &run) && run >= 1) {
            j -= (int64_t)run; /* the ring is zeroed already */
            continue;
        }
        size_t slot = ring_slot(ring->newest - j * size, size, n);
        if (tag == 1 && get_varint(&p, end, (uint64_t)1 << 53, &bad) &&
            get_varint(&p, end, (uint64_t)1 << 53, &total)) {
            ring->v[2 * slot] = (double)bad;
            ring->v[2 * slot + 1] = (double)total;
        } else if (tag == 2 && get_double(&p, end, &dbad) && get_double(&p, end, &dtotal)) {
            ring->v[2 * slot] = dbad;
            ring->v[2 * slot + 1] = dtotal;
        } else {
            break;
        }
        j--;
    }
    if (p != end || j != -1) {
        eddy_free(ring);
        return NULL;
    }
    *err = EDDY_OK;
    return ring;
}

void eddy__alert_burn_json(struct eddy_buf *buf, const struct eddy_alert *alert,
                           const struct eddy_alert_burn *burn)
{
    const struct eddy_burn_rate *br = alert->burn;
    char name[64];
    eddy_buf_puts(buf, ",\"severity\":");
    eddy_buf_json_str(buf, burn->severity, strlen(burn->severity));
    eddy_buf_puts(buf, ",\"budget\":");
    eddy_buf_json_num(buf, burn->budget);
    eddy_buf_puts(buf, ",\"burn_rates\":{");
    for (size_t s = 0; s < br->n_spans; s++) {
        eddy_duration_format(br->spans_ms[s], name, sizeof name);
        eddy_buf_printf(buf, "%s\"%s\":", s ? "," : "", name);
        eddy_buf_json_num(buf, burn->rates[s]);
    }
    eddy_buf_putc(buf, '}');
}

eddy_err_t eddy__alert_advance(struct eddy_alert_state *st, size_t agg_index, int64_t stream_time,
                               eddy_alert_emit_fn emit, void *ctx)
{
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        const struct eddy_alert *alert = &st->plan->alerts[i];
        if (alert->aggregation != agg_index)
            continue;
        eddy_err_t err = alert->burn             ? burn_expire(st, i, stream_time)
                         : alert->absent_windows ? absent_scan(st, i, stream_time, emit, ctx)
                                                 : EDDY_OK;
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
        if (alert->burn) {
            eddy_err_t err = burn_on_row(st, i, row, emit, ctx);
            if (err)
                return err;
            continue;
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
            err = emit(ctx, alert, condition, agg, row, NULL);
        if (err)
            return err;
    }
    return EDDY_OK;
}

size_t eddy__alert_firing(const struct eddy_alert_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        n += st->sets[i].count;
        for (size_t k = 0; st->plan->alerts[i].burn && k < st->watch[i].cap; k++)
            n += st->watch[i].slots[k].bytes && st->watch[i].slots[k].ring->severity;
    }
    return n;
}

size_t eddy__alert_watched(const struct eddy_alert_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->plan->n_alerts; i++)
        n += st->watch[i].count;
    return n;
}

/* A journaled burn-rate key: a put of its state now, or a delete when it
 * was forgotten since. */
static eddy_err_t burn_change(struct eddy_alert_state *st, const char *key, size_t len,
                              const char *index_bytes,
                              eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                               const void *value, size_t value_len),
                              void *ctx)
{
    uint32_t i;
    memcpy(&i, index_bytes, 4);
    const struct eddy_alert *alert = &st->plan->alerts[i];
    size_t skip = strlen(alert->name) + 1;
    const unsigned char *group = (const unsigned char *)key + skip;
    struct firing_key *k =
        set_find(&st->watch[i], eddy_hash64(group, len - skip, 0), group, len - skip);
    if (!k)
        return fn(ctx, key, len, NULL, 0);
    k->ring->journaled = false;
    int64_t size = st->plan->aggregations[alert->aggregation].window.size_ms;
    eddy_buf_reset(&st->encoded);
    burn_encode(&st->encoded, k->ring, size, alert->burn->ring);
    eddy_err_t err = eddy_buf_err(&st->encoded);
    return err ? err : fn(ctx, key, len, st->encoded.data, st->encoded.len);
}

static size_t set_memory(const struct firing_set *set, int64_t ring)
{
    size_t bytes = set->cap * sizeof *set->slots;
    for (size_t k = 0; k < set->cap; k++)
        if (set->slots[k].bytes)
            bytes += set->slots[k].len + (set->slots[k].ring ? ring_bytes(ring) : 0);
    return bytes;
}

size_t eddy__alert_memory(const struct eddy_alert_state *st)
{
    size_t bytes = st->journal.cap + st->encoded.cap;
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        const struct eddy_burn_rate *br = st->plan->alerts[i].burn;
        bytes += set_memory(&st->sets[i], 0) + set_memory(&st->watch[i], br ? br->ring : 0);
    }
    return bytes;
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
        else if (kind == J_BURN)
            err = burn_change(st, key, len, key + len, fn, ctx);
        else
            err = fn(ctx, key, len, kind == J_FIRING ? "1" : NULL, kind == J_FIRING);
        if (err)
            return err;
        pos += 5 + len + (kind == J_WATCHED ? 8 : kind == J_BURN ? 4 : 0);
    }
    eddy_buf_reset(&st->journal);
    return EDDY_OK;
}

static eddy_err_t burn_load(struct eddy_alert_state *st, size_t i, uint64_t hash,
                            const unsigned char *group, size_t group_len, const void *value,
                            size_t value_len)
{
    const struct eddy_alert *alert = &st->plan->alerts[i];
    int64_t size = st->plan->aggregations[alert->aggregation].window.size_ms;
    eddy_err_t err;
    struct burn_ring *ring = burn_decode(value, value_len, size, alert->burn->ring,
                                         alert->burn->n_windows, &err);
    if (!ring)
        return err;
    if (set_contains(&st->watch[i], hash, group, group_len))
        set_remove(&st->watch[i], hash, group, group_len);
    if ((err = set_add(&st->watch[i], hash, group, group_len, 0))) {
        eddy_free(ring);
        return err;
    }
    set_find(&st->watch[i], hash, group, group_len)->ring = ring;
    return EDDY_OK;
}

eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len,
                            const void *value, size_t value_len)
{
    const char *name = key;
    size_t name_len = strnlen(name, key_len);
    bool burn = value_len >= 14 && *(const unsigned char *)value == EDDY_ALERT_BURN_FORMAT;
    if (name_len == key_len || (value_len != 1 && value_len != 8 && !burn))
        return EDDY_EPARSE;
    const unsigned char *group = (const unsigned char *)key + name_len + 1;
    size_t group_len = key_len - name_len - 1;
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        const struct eddy_alert *alert = &st->plan->alerts[i];
        if (strlen(alert->name) != name_len || memcmp(alert->name, name, name_len) != 0)
            continue;
        uint64_t hash = eddy_hash64(group, group_len, 0);
        if (burn != (alert->burn != NULL))
            return EDDY_EPARSE; /* state of another kind of alert of that name */
        if (burn)
            return burn_load(st, i, hash, group, group_len, value, value_len);
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
