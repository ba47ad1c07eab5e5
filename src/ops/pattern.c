/*
 * pattern.c - see pattern.h.
 *
 * Per pattern and task: a table of key states (open addressing over
 * pointers, backward-shift deletion), each with its runs oldest first; a
 * FIFO of run deadlines (first event time + within) with a pointer to the
 * key state; and a binary heap of records waiting for the watermark.
 *
 * Why a FIFO orders deadlines: records are processed in event-time order,
 * so runs start in nondecreasing event time and their deadlines are
 * appended in nondecreasing order (after a load, the queue is sorted once by
 * (deadline, first ordinal)). A run that ends early (matched, discarded,
 * dropped) leaves its queue entry behind; the entry is skipped when it comes
 * up. A key state lives while it has runs, queue entries or changes not yet
 * handed over, so queue entries never dangle.
 *
 * Records reach the matcher as a struct rec: its event time, processing
 * ordinal, step mask, encoded key and a slot array in event scope holding at
 * least the captured fields (the task's slots, or for a waiting record a
 * scratch array filled from its stored values).
 *
 * Values are encoded with ops/window.h's group-key encoding
 * (eddy__group_key_encode/decode) through a view aggregation: that encoder
 * reads only n_group and group_slots.
 */
#include "ops/pattern.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "ops/result.h"
#include "ops/window.h"
#include "state/be64.h"

struct run {
    int64_t start, last;          /* event times of the first and last records */
    uint64_t start_ord, last_ord; /* their processing ordinals */
    uint32_t step;                /* current step */
    uint32_t cur_off;             /* where the current step's captures begin */
    unsigned char *captures;      /* see pattern.h "State" */
    uint32_t cap_len, cap_cap;
    uint32_t counts[]; /* per step */
};

struct key_state {
    uint64_t hash;
    unsigned char *key;
    size_t key_len;
    struct run **runs; /* by first ordinal */
    uint32_t n_runs;
    size_t cap_runs;
    uint32_t queued; /* deadline entries pointing here */
    bool dirty;      /* on the dirty list */
    bool persisted;  /* the store holds a value for it */
};

struct deadline {
    int64_t at;
    uint64_t start_ord;
    struct key_state *ks;
};

struct waiting {
    int64_t ts;
    uint64_t seq;
    uint32_t mask;
    bool persisted;
    unsigned char *bytes; /* key, then the captured values */
    size_t key_len, len;
};

struct released {
    int64_t ts;
    uint64_t seq;
};

struct rec {
    int64_t ts;
    uint64_t ord;
    uint32_t mask;
    const unsigned char *key;
    size_t key_len;
    uint64_t hash;
    const struct eddy_value *slots;
};

struct eddy_pattern_store {
    const struct eddy_pattern *p;
    int64_t grace;
    struct key_state **table;
    size_t cap, n_keys;
    struct deadline *queue; /* ring */
    size_t q_head, q_len, q_cap;
    bool q_unsorted; /* entries appended by loads */
    struct waiting *heap;
    size_t n_heap, cap_heap;
    uint64_t next_seq, next_ord;
    /* the slots any step captures, ascending, and a scratch event scope */
    size_t *union_slots;
    size_t n_union;
    struct eddy_value *scratch;
    struct eddy_value *values; /* decoding: max(n_key, n_union) */
    struct eddy_buf key, enc, value;
    bool journaling;
    struct key_state **dirty;
    size_t n_dirty, cap_dirty;
    struct released *released;
    size_t n_released, cap_released;
    size_t runs;
    uint64_t dropped;
    size_t bytes; /* keys, runs and captures, waiting records */
};

/* ---- values ---- */

static eddy_err_t encode_slots(const size_t *slots, size_t n, const struct eddy_value *values,
                               struct eddy_buf *out)
{
    struct eddy_aggregation view = {.n_group = n, .group_slots = (size_t *)slots};
    return eddy__group_key_encode(&view, values, out);
}

static void put_be32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *i)
{
    return (uint32_t)i[0] << 24 | (uint32_t)i[1] << 16 | (uint32_t)i[2] << 8 | i[3];
}

/* ---- the store ---- */

eddy_err_t eddy__pattern_store_new(const struct eddy_pattern *p, int64_t grace_ms,
                                   struct eddy_pattern_store **out)
{
    struct eddy_pattern_store *ps = eddy_calloc(1, sizeof *ps);
    if (!ps)
        return EDDY_ENOMEM;
    ps->p = p;
    ps->grace = grace_ms;
    eddy_buf_init(&ps->key);
    eddy_buf_init(&ps->enc);
    eddy_buf_init(&ps->value);
    size_t n = 0, width = 1;
    for (size_t s = 0; s < p->n_steps; s++)
        n += p->steps[s].n_capture;
    ps->union_slots = eddy_calloc(n + 1, sizeof *ps->union_slots);
    if (!ps->union_slots) {
        eddy__pattern_store_free(ps);
        return EDDY_ENOMEM;
    }
    for (size_t s = 0; s < p->n_steps; s++) {
        for (size_t f = 0; f < p->steps[s].n_capture; f++) {
            size_t slot = p->steps[s].capture_slots[f], i = 0;
            while (i < ps->n_union && ps->union_slots[i] < slot)
                i++;
            if (i < ps->n_union && ps->union_slots[i] == slot)
                continue;
            memmove(ps->union_slots + i + 1, ps->union_slots + i,
                    (ps->n_union - i) * sizeof *ps->union_slots);
            ps->union_slots[i] = slot;
            ps->n_union++;
            if (slot + 1 > width)
                width = slot + 1;
        }
    }
    ps->scratch = eddy_calloc(width, sizeof *ps->scratch);
    ps->values = eddy_calloc(p->n_key > n ? p->n_key : n + 1, sizeof *ps->values);
    if (!ps->scratch || !ps->values) {
        eddy__pattern_store_free(ps);
        return EDDY_ENOMEM;
    }
    *out = ps;
    return EDDY_OK;
}

static void run_free(struct eddy_pattern_store *ps, struct run *r)
{
    ps->bytes -= sizeof *r + ps->p->n_steps * sizeof(uint32_t) + r->cap_cap;
    ps->runs--;
    eddy_free(r->captures);
    eddy_free(r);
}

static void key_state_free(struct eddy_pattern_store *ps, struct key_state *ks)
{
    for (uint32_t i = 0; i < ks->n_runs; i++)
        run_free(ps, ks->runs[i]);
    ps->bytes -= sizeof *ks + ks->key_len + ks->cap_runs * sizeof *ks->runs;
    eddy_free(ks->runs);
    eddy_free(ks->key);
    eddy_free(ks);
}

void eddy__pattern_store_free(struct eddy_pattern_store *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->table[i])
            key_state_free(ps, ps->table[i]);
    for (size_t i = 0; i < ps->n_heap; i++)
        eddy_free(ps->heap[i].bytes);
    eddy_free(ps->table);
    eddy_free(ps->queue);
    eddy_free(ps->heap);
    eddy_free(ps->union_slots);
    eddy_free(ps->scratch);
    eddy_free(ps->values);
    eddy_free(ps->dirty);
    eddy_free(ps->released);
    eddy_buf_release(&ps->key);
    eddy_buf_release(&ps->enc);
    eddy_buf_release(&ps->value);
    eddy_free(ps);
}

/* ---- key states ---- */

static size_t probe(const struct eddy_pattern_store *ps, uint64_t hash, const void *key, size_t len)
{
    size_t mask = ps->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct key_state *ks = ps->table[i];
        if (!ks || (ks->hash == hash && ks->key_len == len && memcmp(ks->key, key, len) == 0))
            return i;
    }
}

static eddy_err_t grow_table(struct eddy_pattern_store *ps)
{
    size_t cap = ps->cap ? ps->cap * 2 : 64;
    struct key_state **table = eddy_calloc(cap, sizeof *table);
    if (!table)
        return EDDY_ENOMEM;
    struct key_state **old = ps->table;
    size_t old_cap = ps->cap;
    ps->table = table;
    ps->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            table[probe(ps, old[i]->hash, old[i]->key, old[i]->key_len)] = old[i];
    ps->bytes += (cap - old_cap) * sizeof *table;
    eddy_free(old);
    return EDDY_OK;
}

static eddy_err_t key_state_get(struct eddy_pattern_store *ps, const unsigned char *key, size_t len,
                                uint64_t hash, struct key_state **out)
{
    if ((ps->n_keys + 1) * 2 > ps->cap) {
        eddy_err_t err = grow_table(ps);
        if (err)
            return err;
    }
    size_t i = probe(ps, hash, key, len);
    if (ps->table[i]) {
        *out = ps->table[i];
        return EDDY_OK;
    }
    struct key_state *ks = eddy_calloc(1, sizeof *ks);
    unsigned char *copy = eddy_malloc(len ? len : 1);
    if (!ks || !copy) {
        eddy_free(ks);
        eddy_free(copy);
        return EDDY_ENOMEM;
    }
    memcpy(copy, key, len);
    ks->hash = hash;
    ks->key = copy;
    ks->key_len = len;
    ps->table[i] = ks;
    ps->n_keys++;
    ps->bytes += sizeof *ks + len;
    *out = ks;
    return EDDY_OK;
}

/* Frees @ks once nothing refers to it: no runs, no queue entries, no change
 * waiting to be handed over. */
static void key_state_release(struct eddy_pattern_store *ps, struct key_state *ks)
{
    if (ks->n_runs || ks->queued || ks->dirty)
        return;
    size_t mask = ps->cap - 1, i = probe(ps, ks->hash, ks->key, ks->key_len);
    ps->table[i] = NULL;
    ps->n_keys--;
    key_state_free(ps, ks);
    for (size_t j = (i + 1) & mask; ps->table[j]; j = (j + 1) & mask) {
        size_t home = ps->table[j]->hash & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            ps->table[i] = ps->table[j];
            ps->table[j] = NULL;
            i = j;
        }
    }
}

static eddy_err_t mark_dirty(struct eddy_pattern_store *ps, struct key_state *ks)
{
    if (!ps->journaling || ks->dirty)
        return EDDY_OK;
    if (!eddy_array_reserve(&ps->dirty, &ps->cap_dirty, ps->n_dirty + 1, sizeof *ps->dirty, 64))
        return EDDY_ENOMEM;
    ps->dirty[ps->n_dirty++] = ks;
    ks->dirty = true;
    return EDDY_OK;
}

/* ---- runs ---- */

static struct run *run_new(struct eddy_pattern_store *ps)
{
    size_t size = sizeof(struct run) + ps->p->n_steps * sizeof(uint32_t);
    struct run *r = eddy_calloc(1, size);
    if (r) {
        ps->bytes += size;
        ps->runs++;
    }
    return r;
}

/* Sets the captures of step @step (the current one) from @rec: replaces
 * what the step captured before, or appends when it has just been reached. */
static eddy_err_t capture(struct eddy_pattern_store *ps, struct run *r, uint32_t step,
                          const struct rec *rec, bool reached)
{
    const struct eddy_pattern_step *st = &ps->p->steps[step];
    if (reached)
        r->cur_off = r->cap_len;
    if (!st->n_capture)
        return EDDY_OK;
    eddy_err_t err = encode_slots(st->capture_slots, st->n_capture, rec->slots, &ps->enc);
    if (err)
        return err;
    size_t need = (size_t)r->cur_off + 4 + ps->enc.len;
    if (need > UINT32_MAX)
        return EDDY_ENOMEM;
    if (need > r->cap_cap) {
        size_t cap = need < 32 ? 32 : need * 2;
        unsigned char *grown = eddy_realloc(r->captures, cap);
        if (!grown)
            return EDDY_ENOMEM;
        ps->bytes += cap - r->cap_cap;
        r->captures = grown;
        r->cap_cap = (uint32_t)cap;
    }
    put_be32(r->captures + r->cur_off, (uint32_t)ps->enc.len);
    memcpy(r->captures + r->cur_off + 4, ps->enc.data, ps->enc.len);
    r->cap_len = (uint32_t)need;
    return EDDY_OK;
}

static eddy_err_t emit_run(struct eddy_pattern_store *ps, const struct key_state *ks,
                           const struct run *r, bool matched, eddy_pattern_emit_fn emit, void *ctx)
{
    struct eddy_pattern_match m = {.matched = matched,
                                   .start = r->start,
                                   .end = r->last,
                                   .key = ks->key,
                                   .key_len = ks->key_len,
                                   .counts = r->counts,
                                   .reached = r->step + 1,
                                   .captures = r->captures,
                                   .captures_len = r->cap_len};
    return emit(ctx, ps->p, &m);
}

/* Skip past last event: discards the runs of @ks that started at or before
 * ordinal @ord (a prefix: runs are in first-ordinal order). */
static void discard_through(struct eddy_pattern_store *ps, struct key_state *ks, uint64_t ord)
{
    uint32_t n = 0;
    while (n < ks->n_runs && ks->runs[n]->start_ord <= ord)
        run_free(ps, ks->runs[n++]);
    memmove(ks->runs, ks->runs + n, (ks->n_runs - n) * sizeof *ks->runs);
    ks->n_runs -= n;
}

static bool completable(const struct eddy_pattern *p, const struct run *r)
{
    return r->step == p->n_steps - 1 && r->counts[r->step] >= p->steps[r->step].min;
}

/* Ends run @i of @ks (its deadline passed, or the bound): matched when its
 * last step has enough records (then skip past last event), else timed out.
 * *matched_at receives the last ordinal of an emitted match, or -1. */
static eddy_err_t end_run(struct eddy_pattern_store *ps, struct key_state *ks, uint32_t i,
                          bool bound, int64_t *matched_at, eddy_pattern_emit_fn emit, void *ctx)
{
    struct run *r = ks->runs[i];
    eddy_err_t err = mark_dirty(ps, ks);
    *matched_at = -1;
    if (err)
        return err;
    if (completable(ps->p, r)) {
        if ((err = emit_run(ps, ks, r, true, emit, ctx)))
            return err;
        *matched_at = (int64_t)r->last_ord;
        discard_through(ps, ks, r->last_ord);
        return EDDY_OK;
    }
    if (bound)
        ps->dropped++;
    else if (ps->p->timeout_emit && (err = emit_run(ps, ks, r, false, emit, ctx)))
        return err;
    run_free(ps, r);
    memmove(ks->runs + i, ks->runs + i + 1, (ks->n_runs - i - 1) * sizeof *ks->runs);
    ks->n_runs--;
    return EDDY_OK;
}

/* ---- deadlines ---- */

static int deadline_cmp(const void *a, const void *b)
{
    const struct deadline *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->start_ord < y->start_ord ? -1 : x->start_ord > y->start_ord;
}

static eddy_err_t queue_push(struct eddy_pattern_store *ps, struct key_state *ks, int64_t at,
                             uint64_t start_ord)
{
    if (ps->q_len == ps->q_cap) {
        size_t cap = ps->q_cap ? ps->q_cap * 2 : 64;
        struct deadline *q = eddy_malloc(cap * sizeof *q);
        if (!q)
            return EDDY_ENOMEM;
        for (size_t i = 0; i < ps->q_len; i++)
            q[i] = ps->queue[(ps->q_head + i) % ps->q_cap];
        eddy_free(ps->queue);
        ps->bytes += (cap - ps->q_cap) * sizeof *q;
        ps->queue = q;
        ps->q_cap = cap;
        ps->q_head = 0;
    }
    ps->queue[(ps->q_head + ps->q_len++) % ps->q_cap] = (struct deadline){at, start_ord, ks};
    ks->queued++;
    return EDDY_OK;
}

static void reverse(struct deadline *q, size_t from, size_t to)
{
    for (; from + 1 < to; from++, to--) {
        struct deadline d = q[from];
        q[from] = q[to - 1];
        q[to - 1] = d;
    }
}

/* Sorts the queue after loads appended to it out of order. */
static void queue_sort(struct eddy_pattern_store *ps)
{
    if (!ps->q_unsorted)
        return;
    if (ps->q_head) { /* rotate the ring so that it starts at 0 */
        reverse(ps->queue, 0, ps->q_head);
        reverse(ps->queue, ps->q_head, ps->q_cap);
        reverse(ps->queue, 0, ps->q_cap);
        ps->q_head = 0;
    }
    qsort(ps->queue, ps->q_len, sizeof *ps->queue, deadline_cmp);
    ps->q_unsorted = false;
}

/* first + within, saturating */
static int64_t deadline_of(const struct eddy_pattern_store *ps, int64_t first)
{
    return ps->p->within_ms > INT64_MAX - first ? INT64_MAX : first + ps->p->within_ms;
}

/* Ends every run whose deadline is at or before @t, in deadline order. */
static eddy_err_t expire(struct eddy_pattern_store *ps, int64_t t, eddy_pattern_emit_fn emit,
                         void *ctx)
{
    queue_sort(ps);
    while (ps->q_len && ps->queue[ps->q_head].at <= t) {
        struct deadline d = ps->queue[ps->q_head];
        ps->q_head = (ps->q_head + 1) % ps->q_cap;
        ps->q_len--;
        struct key_state *ks = d.ks;
        ks->queued--;
        uint32_t i = 0;
        while (i < ks->n_runs && ks->runs[i]->start_ord < d.start_ord)
            i++;
        if (i < ks->n_runs && ks->runs[i]->start_ord == d.start_ord) {
            int64_t matched_at;
            eddy_err_t err = end_run(ps, ks, i, false, &matched_at, emit, ctx);
            if (err)
                return err;
        }
        key_state_release(ps, ks);
    }
    return EDDY_OK;
}

/* ---- matching ---- */

/* Offers @rec to run @r (pattern.h "Partial matches"); *took when it did. */
static eddy_err_t offer(struct eddy_pattern_store *ps, struct run *r, const struct rec *rec,
                        bool *took)
{
    const struct eddy_pattern *p = ps->p;
    uint32_t s = r->step, c = r->counts[s];
    eddy_err_t err = EDDY_OK;
    *took = false;
    if ((rec->mask >> s & 1) && c < p->steps[s].max) {
        r->counts[s]++;
        err = capture(ps, r, s, rec, false);
    } else if (c >= p->steps[s].min && s + 1 < p->n_steps && (rec->mask >> (s + 1) & 1)) {
        r->step = s + 1;
        r->counts[s + 1] = 1;
        err = capture(ps, r, s + 1, rec, true);
    } else {
        return EDDY_OK;
    }
    r->last = rec->ts;
    r->last_ord = rec->ord;
    *took = true;
    return err;
}

static bool complete(const struct eddy_pattern *p, const struct run *r)
{
    return r->step == p->n_steps - 1 && r->counts[r->step] == p->steps[r->step].max;
}

static bool reserve_runs(struct eddy_pattern_store *ps, struct key_state *ks, size_t n)
{
    size_t before = ks->cap_runs;
    if (!eddy_array_reserve(&ks->runs, &ks->cap_runs, n, sizeof *ks->runs, 4))
        return false;
    ps->bytes += (ks->cap_runs - before) * sizeof *ks->runs;
    return true;
}

/* Starts a run at @rec (it matches the first step); makes room first. */
static eddy_err_t start_run(struct eddy_pattern_store *ps, struct key_state *ks,
                            const struct rec *rec, eddy_pattern_emit_fn emit, void *ctx)
{
    if (ks->n_runs == EDDY_PATTERN_MAX_PARTIALS) {
        int64_t matched_at;
        eddy_err_t err = end_run(ps, ks, 0, true, &matched_at, emit, ctx);
        if (err)
            return err;
        if (matched_at == (int64_t)rec->ord)
            return EDDY_OK; /* @rec ended a match: it starts nothing */
    }
    if (!reserve_runs(ps, ks, ks->n_runs + 1))
        return EDDY_ENOMEM;
    struct run *r = run_new(ps);
    if (!r)
        return EDDY_ENOMEM;
    r->start = r->last = rec->ts;
    r->start_ord = r->last_ord = rec->ord;
    r->counts[0] = 1;
    ks->runs[ks->n_runs++] = r;
    eddy_err_t err = capture(ps, r, 0, rec, true);
    if (err)
        return err;
    if (complete(ps->p, r)) { /* a single step taking one record */
        if (!(err = emit_run(ps, ks, r, true, emit, ctx)))
            discard_through(ps, ks, rec->ord);
        return err;
    }
    return queue_push(ps, ks, deadline_of(ps, rec->ts), rec->ord);
}

/* Processes one record in event-time order (pattern.h). */
static eddy_err_t process(struct eddy_pattern_store *ps, struct rec *rec, eddy_pattern_emit_fn emit,
                          void *ctx)
{
    eddy_err_t err = expire(ps, rec->ts, emit, ctx);
    struct key_state *ks;
    if (err || (err = key_state_get(ps, rec->key, rec->key_len, rec->hash, &ks)))
        return err;
    rec->ord = ps->next_ord++;
    bool matched = false;
    for (uint32_t i = 0; i < ks->n_runs && !matched; i++) {
        struct run *r = ks->runs[i];
        bool took;
        if ((err = offer(ps, r, rec, &took)))
            break;
        if (took && (err = mark_dirty(ps, ks)))
            break;
        if (took && complete(ps->p, r)) {
            if ((err = emit_run(ps, ks, r, true, emit, ctx)))
                break;
            discard_through(ps, ks, rec->ord);
            matched = true;
        }
    }
    if (!err && !matched && (rec->mask & 1) && !(err = mark_dirty(ps, ks)))
        err = start_run(ps, ks, rec, emit, ctx);
    key_state_release(ps, ks);
    return err;
}

/* ---- waiting records (grace) ---- */

static bool waits_before(const struct waiting *a, const struct waiting *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static eddy_err_t heap_push(struct eddy_pattern_store *ps, struct waiting w)
{
    if (!eddy_array_reserve(&ps->heap, &ps->cap_heap, ps->n_heap + 1, sizeof *ps->heap, 64))
        return EDDY_ENOMEM;
    size_t i = ps->n_heap++;
    while (i > 0 && waits_before(&w, &ps->heap[(i - 1) / 2])) {
        ps->heap[i] = ps->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    ps->heap[i] = w;
    ps->bytes += sizeof w + w.len;
    return EDDY_OK;
}

static struct waiting heap_pop(struct eddy_pattern_store *ps)
{
    struct waiting top = ps->heap[0], last = ps->heap[--ps->n_heap];
    size_t i = 0, n = ps->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && waits_before(&ps->heap[c + 1], &ps->heap[c]))
            c++;
        if (!waits_before(&ps->heap[c], &last))
            break;
        ps->heap[i] = ps->heap[c];
        i = c;
    }
    if (n)
        ps->heap[i] = last;
    ps->bytes -= sizeof top + top.len;
    return top;
}

/* Processes the waiting record @w (popped) and frees it. */
static eddy_err_t release(struct eddy_pattern_store *ps, struct waiting *w,
                          eddy_pattern_emit_fn emit, void *ctx)
{
    eddy_err_t err = EDDY_OK;
    if (w->persisted && ps->journaling) {
        if (!eddy_array_reserve(&ps->released, &ps->cap_released, ps->n_released + 1,
                                sizeof *ps->released, 64))
            err = EDDY_ENOMEM;
        else
            ps->released[ps->n_released++] = (struct released){w->ts, w->seq};
    }
    if (!err && !eddy__group_key_decode(w->bytes + w->key_len, w->len - w->key_len, ps->n_union,
                                        ps->values))
        err = EDDY_EPARSE; /* checked when it was loaded or written */
    for (size_t i = 0; !err && i < ps->n_union; i++)
        ps->scratch[ps->union_slots[i]] = ps->values[i];
    struct rec rec = {.ts = w->ts,
                      .mask = w->mask,
                      .key = w->bytes,
                      .key_len = w->key_len,
                      .hash = eddy_hash64(w->bytes, w->key_len, 0),
                      .slots = ps->scratch};
    if (!err)
        err = process(ps, &rec, emit, ctx);
    eddy_free(w->bytes);
    return err;
}

static eddy_err_t wait_for_watermark(struct eddy_pattern_store *ps, const struct rec *rec)
{
    eddy_err_t err = encode_slots(ps->union_slots, ps->n_union, rec->slots, &ps->enc);
    if (err)
        return err;
    struct waiting w = {.ts = rec->ts,
                        .seq = ps->next_seq++,
                        .mask = rec->mask,
                        .key_len = rec->key_len,
                        .len = rec->key_len + ps->enc.len};
    if (!(w.bytes = eddy_malloc(w.len)))
        return EDDY_ENOMEM;
    memcpy(w.bytes, rec->key, rec->key_len);
    memcpy(w.bytes + rec->key_len, ps->enc.data, ps->enc.len);
    if ((err = heap_push(ps, w)))
        eddy_free(w.bytes);
    return err;
}

/* ---- the interface ---- */

eddy_err_t eddy__pattern_add(struct eddy_pattern_store *ps, const struct eddy_value *slots,
                             int64_t ts, int64_t stream_time, bool *late, eddy_pattern_emit_fn emit,
                             void *ctx)
{
    const struct eddy_pattern *p = ps->p;
    struct eddy_eval_ctx ectx = {.slots = slots};
    uint32_t mask = 0;
    *late = false;
    for (size_t s = 0; s < p->n_steps; s++) {
        struct eddy_value keep;
        eddy_expr_eval(p->steps[s].where, &ectx, &keep);
        if (eddy_value_truthy(&keep))
            mask |= 1u << s;
    }
    if (!mask)
        return EDDY_OK;
    int64_t watermark = stream_time - ps->grace;
    if (ts < watermark) {
        *late = true;
        return EDDY_OK;
    }
    eddy_err_t err = encode_slots(p->key_slots, p->n_key, slots, &ps->key);
    if (err)
        return err;
    struct rec rec = {.ts = ts,
                      .mask = mask,
                      .key = (const unsigned char *)ps->key.data,
                      .key_len = ps->key.len,
                      .hash = eddy_hash64(ps->key.data, ps->key.len, 0),
                      .slots = slots};
    queue_sort(ps);
    if (ps->n_heap == 0 && ts <= watermark)
        return process(ps, &rec, emit, ctx); /* nothing waits before it */
    return wait_for_watermark(ps, &rec);
}

eddy_err_t eddy__pattern_advance(struct eddy_pattern_store *ps, int64_t stream_time, bool flush,
                                 eddy_pattern_emit_fn emit, void *ctx)
{
    if (!flush && stream_time == INT64_MIN)
        return EDDY_OK;
    int64_t watermark = flush ? INT64_MAX : stream_time - ps->grace;
    queue_sort(ps);
    while (ps->n_heap && ps->heap[0].ts <= watermark) {
        struct waiting w = heap_pop(ps);
        eddy_err_t err = release(ps, &w, emit, ctx);
        if (err)
            return err;
    }
    return expire(ps, watermark, emit, ctx);
}

/* ---- output ---- */

static void name_json(struct eddy_buf *buf, const char *name)
{
    eddy_buf_json_str(buf, name, strlen(name));
    eddy_buf_putc(buf, ':');
}

/* {"name":value,...} of @n values encoded in @bytes named by @names. */
static void values_json(struct eddy_buf *buf, char *const *names, size_t n,
                        const unsigned char *bytes, size_t len)
{
    struct eddy_value few[EDDY_PATTERN_MAX_CAPTURE];
    struct eddy_value *values =
        n <= EDDY_PATTERN_MAX_CAPTURE ? few : eddy_calloc(n, sizeof *values);
    bool ok = values && eddy__group_key_decode(bytes, len, n, values);
    if (!values)
        buf->oom = true;
    eddy_buf_putc(buf, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            eddy_buf_putc(buf, ',');
        name_json(buf, names[i]);
        if (ok)
            eddy__value_json(buf, &values[i]);
        else
            eddy_buf_puts(buf, "null");
    }
    eddy_buf_putc(buf, '}');
    if (values != few)
        eddy_free(values);
}

void eddy__pattern_key_json(struct eddy_buf *buf, const struct eddy_pattern *p,
                            const struct eddy_pattern_match *m)
{
    values_json(buf, p->key_names, p->n_key, m->key, m->key_len);
}

void eddy__pattern_json(struct eddy_buf *buf, const struct eddy_pattern *p,
                        const struct eddy_pattern_match *m)
{
    char start[32], end[32];
    eddy_time_format(m->start, start);
    eddy_time_format(m->end, end);
    eddy_buf_puts(buf, "{\"pattern\":");
    eddy_buf_json_str(buf, p->name, strlen(p->name));
    eddy_buf_puts(buf, ",\"key\":");
    eddy__pattern_key_json(buf, p, m);
    eddy_buf_printf(buf, ",\"matched\":%s,\"start\":\"%s\",\"end\":\"%s\",\"counts\":{",
                    m->matched ? "true" : "false", start, end);
    for (size_t s = 0; s < p->n_steps; s++) {
        if (s)
            eddy_buf_putc(buf, ',');
        name_json(buf, p->steps[s].name);
        eddy_buf_printf(buf, "%lu", (unsigned long)(s < m->reached ? m->counts[s] : 0));
    }
    eddy_buf_puts(buf, "},\"captured\":{");
    size_t pos = 0;
    bool first = true;
    for (size_t s = 0; s < m->reached && s < p->n_steps; s++) {
        const struct eddy_pattern_step *st = &p->steps[s];
        if (!st->n_capture || m->captures_len - pos < 4)
            continue;
        uint32_t len = get_be32(m->captures + pos);
        if (m->captures_len - pos - 4 < len)
            break;
        if (!first)
            eddy_buf_putc(buf, ',');
        first = false;
        name_json(buf, st->name);
        values_json(buf, st->capture_names, st->n_capture, m->captures + pos + 4, len);
        pos += 4 + len;
    }
    eddy_buf_puts(buf, "}}");
}

/* ---- persistence ---- */

static void put_be64(struct eddy_buf *b, int64_t v)
{
    unsigned char be[8];
    eddy__be64_put(be, v);
    eddy_buf_append(b, be, 8);
}

static void put_u32(struct eddy_buf *b, uint32_t v)
{
    unsigned char be[4];
    put_be32(be, v);
    eddy_buf_append(b, be, 4);
}

/* The value of @ks (pattern.h "State") into ps->value. */
static eddy_err_t encode_key_state(struct eddy_pattern_store *ps, const struct key_state *ks)
{
    struct eddy_buf *b = &ps->value;
    unsigned char head[2] = {EDDY_PATTERN_STATE_FORMAT, (unsigned char)ps->p->n_steps};
    eddy_buf_reset(b);
    eddy_buf_append(b, head, 2);
    put_u32(b, ks->n_runs);
    for (uint32_t i = 0; i < ks->n_runs; i++) {
        const struct run *r = ks->runs[i];
        unsigned char step = (unsigned char)r->step;
        put_be64(b, r->start);
        put_be64(b, r->last);
        put_be64(b, (int64_t)r->start_ord);
        put_be64(b, (int64_t)r->last_ord);
        eddy_buf_append(b, &step, 1);
        for (uint32_t s = 0; s <= r->step; s++)
            put_u32(b, r->counts[s]);
        put_u32(b, r->cap_len);
        eddy_buf_append(b, r->captures, r->cap_len);
    }
    return eddy_buf_err(b);
}

static eddy_err_t put_waiting(struct eddy_pattern_store *ps, const struct waiting *w,
                              eddy_err_t (*put)(void *, const void *, size_t, const void *, size_t),
                              void *ctx)
{
    unsigned char key[17] = {'b'};
    eddy__be64_put(key + 1, w->ts);
    eddy__be64_put(key + 9, (int64_t)w->seq);
    struct eddy_buf *b = &ps->value;
    eddy_buf_reset(b);
    put_u32(b, w->mask);
    put_u32(b, (uint32_t)w->key_len);
    eddy_buf_append(b, w->bytes, w->len);
    eddy_err_t err = eddy_buf_err(b);
    return err ? err : put(ctx, key, sizeof key, b->data, b->len);
}

eddy_err_t eddy__pattern_changes(struct eddy_pattern_store *ps,
                                 eddy_err_t (*put)(void *ctx, const void *key, size_t key_len,
                                                   const void *value, size_t value_len),
                                 void *ctx)
{
    eddy_err_t err = EDDY_OK;
    ps->journaling = true;
    for (size_t i = 0; !err && i < ps->n_dirty; i++) {
        struct key_state *ks = ps->dirty[i];
        eddy_buf_reset(&ps->key);
        eddy_buf_putc(&ps->key, 'k');
        eddy_buf_append(&ps->key, ks->key, ks->key_len);
        if ((err = eddy_buf_err(&ps->key)))
            break;
        if (ks->n_runs && !(err = encode_key_state(ps, ks)))
            err = put(ctx, ps->key.data, ps->key.len, ps->value.data, ps->value.len);
        else if (!ks->n_runs && ks->persisted)
            err = put(ctx, ps->key.data, ps->key.len, NULL, 0);
        if (err)
            break;
        ks->persisted = ks->n_runs > 0;
        ks->dirty = false;
        key_state_release(ps, ks);
        ps->dirty[i] = NULL;
    }
    if (err) { /* keep what was not handed over for the next call */
        size_t kept = 0;
        for (size_t i = 0; i < ps->n_dirty; i++)
            if (ps->dirty[i])
                ps->dirty[kept++] = ps->dirty[i];
        ps->n_dirty = kept;
        return err;
    }
    ps->n_dirty = 0;
    for (size_t i = 0; i < ps->n_released; i++) {
        unsigned char key[17] = {'b'};
        eddy__be64_put(key + 1, ps->released[i].ts);
        eddy__be64_put(key + 9, (int64_t)ps->released[i].seq);
        if ((err = put(ctx, key, sizeof key, NULL, 0)))
            return err;
    }
    ps->n_released = 0;
    for (size_t i = 0; i < ps->n_heap; i++) {
        if (ps->heap[i].persisted)
            continue;
        if ((err = put_waiting(ps, &ps->heap[i], put, ctx)))
            return err;
        ps->heap[i].persisted = true;
    }
    return EDDY_OK;
}

struct reader {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static const unsigned char *take(struct reader *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static int64_t take_be64(struct reader *r)
{
    const unsigned char *at = take(r, 8);
    return at ? eddy__be64_get(at) : 0;
}

static uint32_t take_u32(struct reader *r)
{
    const unsigned char *at = take(r, 4);
    return at ? get_be32(at) : 0;
}

/* Whether @r's captures are those of its reached steps, and where the
 * current step's begin (r->cur_off). */
static bool captures_valid(const struct eddy_pattern *p, struct run *r)
{
    struct eddy_value values[EDDY_PATTERN_MAX_CAPTURE];
    size_t pos = 0;
    r->cur_off = 0;
    for (uint32_t s = 0; s <= r->step; s++) {
        r->cur_off = (uint32_t)pos;
        size_t n = p->steps[s].n_capture;
        if (!n)
            continue;
        if (r->cap_len - pos < 4)
            return false;
        uint32_t len = get_be32(r->captures + pos);
        if (r->cap_len - pos - 4 < len ||
            !eddy__group_key_decode(r->captures + pos + 4, len, n, values))
            return false;
        pos += 4 + len;
    }
    return pos == r->cap_len;
}

/* One run of a key state value into *out (NULL when malformed). */
static eddy_err_t load_run(struct eddy_pattern_store *ps, struct reader *rd, struct run **out)
{
    const struct eddy_pattern *p = ps->p;
    struct run *r = run_new(ps);
    *out = NULL;
    if (!r)
        return EDDY_ENOMEM;
    r->start = take_be64(rd);
    r->last = take_be64(rd);
    r->start_ord = (uint64_t)take_be64(rd);
    r->last_ord = (uint64_t)take_be64(rd);
    const unsigned char *step = take(rd, 1);
    r->step = step ? *step : 0;
    bool ok = !rd->bad && r->step < p->n_steps && r->start <= r->last &&
              r->start_ord <= r->last_ord && r->start_ord < UINT64_MAX / 2;
    for (uint32_t s = 0; ok && s <= r->step; s++) {
        r->counts[s] = take_u32(rd);
        ok = !rd->bad && r->counts[s] >= 1 && r->counts[s] <= p->steps[s].max &&
             (s == r->step || r->counts[s] >= p->steps[s].min);
    }
    uint32_t len = ok ? take_u32(rd) : 0;
    const unsigned char *bytes = ok ? take(rd, len) : NULL;
    ok = ok && bytes;
    if (ok && len) {
        if (!(r->captures = eddy_malloc(len))) {
            run_free(ps, r);
            return EDDY_ENOMEM;
        }
        memcpy(r->captures, bytes, len);
        r->cap_len = r->cap_cap = len;
        ps->bytes += len;
    }
    if (!ok || !captures_valid(p, r)) {
        run_free(ps, r);
        return EDDY_EPARSE;
    }
    *out = r;
    return EDDY_OK;
}

static eddy_err_t load_key_state(struct eddy_pattern_store *ps, const unsigned char *key,
                                 size_t key_len, const void *value, size_t value_len)
{
    struct reader rd = {value, value_len, false};
    const unsigned char *head = take(&rd, 2);
    uint32_t n = take_u32(&rd);
    if (!head || head[0] != EDDY_PATTERN_STATE_FORMAT || head[1] != ps->p->n_steps || n == 0 ||
        n > EDDY_PATTERN_MAX_PARTIALS)
        return EDDY_EPARSE;
    struct key_state *ks;
    eddy_err_t err = key_state_get(ps, key, key_len, eddy_hash64(key, key_len, 0), &ks);
    if (err)
        return err;
    if (ks->n_runs) /* loaded twice */
        return EDDY_EPARSE;
    if (!reserve_runs(ps, ks, n))
        return EDDY_ENOMEM;
    ks->persisted = true;
    for (uint32_t i = 0; i < n; i++) {
        struct run *r;
        if ((err = load_run(ps, &rd, &r)))
            break;
        if (ks->n_runs && ks->runs[ks->n_runs - 1]->start_ord >= r->start_ord) {
            run_free(ps, r);
            err = EDDY_EPARSE;
            break;
        }
        ks->runs[ks->n_runs++] = r;
        if (r->last_ord >= ps->next_ord)
            ps->next_ord = r->last_ord + 1;
        if ((err = queue_push(ps, ks, deadline_of(ps, r->start), r->start_ord)))
            break;
        ps->q_unsorted = true;
    }
    if (!err && rd.left)
        err = EDDY_EPARSE;
    return err;
}

static eddy_err_t load_waiting(struct eddy_pattern_store *ps, const unsigned char *key,
                               const void *value, size_t value_len)
{
    struct reader rd = {value, value_len, false};
    struct waiting w = {
        .ts = eddy__be64_get(key + 1), .seq = (uint64_t)eddy__be64_get(key + 9), .persisted = true};
    w.mask = take_u32(&rd);
    w.key_len = take_u32(&rd);
    const unsigned char *k = take(&rd, w.key_len);
    if (!k || w.mask == 0 || w.mask >> ps->p->n_steps || w.ts < 0 || (int64_t)w.seq < 0 ||
        !eddy__group_key_decode(k, w.key_len, ps->p->n_key, ps->values) ||
        !eddy__group_key_decode(rd.p, rd.left, ps->n_union, ps->values))
        return EDDY_EPARSE;
    w.len = w.key_len + rd.left;
    if (!(w.bytes = eddy_malloc(w.len)))
        return EDDY_ENOMEM;
    memcpy(w.bytes, k, w.len);
    if (w.seq >= ps->next_seq)
        ps->next_seq = w.seq + 1;
    eddy_err_t err = heap_push(ps, w);
    if (err)
        eddy_free(w.bytes);
    return err;
}

eddy_err_t eddy__pattern_load(struct eddy_pattern_store *ps, const void *key, size_t key_len,
                              const void *value, size_t value_len)
{
    const unsigned char *k = key;
    if (key_len >= 1 && k[0] == 'k')
        return load_key_state(ps, k + 1, key_len - 1, value, value_len);
    if (key_len == 17 && k[0] == 'b')
        return load_waiting(ps, k, value, value_len);
    return EDDY_EPARSE;
}

size_t eddy__pattern_partials(const struct eddy_pattern_store *ps)
{
    return ps->runs;
}

size_t eddy__pattern_waiting(const struct eddy_pattern_store *ps)
{
    return ps->n_heap;
}

uint64_t eddy__pattern_dropped(const struct eddy_pattern_store *ps)
{
    return ps->dropped;
}

size_t eddy__pattern_memory(const struct eddy_pattern_store *ps)
{
    return sizeof *ps + ps->bytes + ps->cap_heap * sizeof *ps->heap +
           ps->cap_dirty * sizeof *ps->dirty + ps->cap_released * sizeof *ps->released +
           ps->key.cap + ps->enc.cap + ps->value.cap;
}
