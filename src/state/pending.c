/*
 * pending.c - see pending.h.
 *
 * Per store partition, an open-addressing table (linear probing) of the
 * newest committed value of each key, and the closed window starts to
 * range-delete. Entries leave only when a window closes (a rebuild without
 * that window's keys) or at a flush (everything), so no tombstones.
 */
#include "state/pending.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "state/be64.h"

struct pentry {
    unsigned char *data; /* key then value; NULL: empty slot */
    uint64_t hash;
    uint32_t klen, vlen;
    bool deleted; /* a delete of the key */
};

struct pmap {
    struct pentry *slots;
    size_t cap, n;
    int64_t *closed; /* window starts to range-delete, in order */
    size_t n_closed, cap_closed;
    int64_t checkpoint; /* changelog position after the last fold; -1: none */
};

enum { OP_PUT, OP_DELETE, OP_CLOSED };

struct op {
    int kind;
    size_t store;
    int32_t partition;
    size_t off; /* into arena: key then value */
    uint32_t klen, vlen;
    int64_t start;
};

struct eddy_pending {
    size_t n_stores;
    int32_t n_partitions;
    struct pmap *maps; /* [store * n_partitions + partition] */
    struct op *ops;    /* the open transaction */
    size_t n_ops, cap_ops;
    struct eddy_buf arena;
    size_t bytes, keys; /* committed */
};

eddy_err_t eddy__pending_new(size_t n_stores, int32_t n_partitions, struct eddy_pending **out)
{
    struct eddy_pending *pd = eddy_calloc(1, sizeof *pd);
    size_t n = n_stores * (size_t)(n_partitions > 0 ? n_partitions : 1);
    if (!pd || !(pd->maps = eddy_calloc(n ? n : 1, sizeof *pd->maps))) {
        eddy_free(pd);
        return EDDY_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        pd->maps[i].checkpoint = -1;
    pd->n_stores = n_stores;
    pd->n_partitions = n_partitions;
    eddy_buf_init(&pd->arena);
    *out = pd;
    return EDDY_OK;
}

static void map_clear(struct eddy_pending *pd, struct pmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].data) {
            pd->bytes -= (size_t)m->slots[i].klen + m->slots[i].vlen;
            pd->keys--;
            eddy_free(m->slots[i].data);
        }
    eddy_free(m->slots);
    eddy_free(m->closed);
    *m = (struct pmap){.checkpoint = -1};
}

void eddy__pending_free(struct eddy_pending *pd)
{
    if (!pd)
        return;
    for (size_t i = 0; i < pd->n_stores * (size_t)pd->n_partitions; i++)
        map_clear(pd, &pd->maps[i]);
    eddy_free(pd->maps);
    eddy_free(pd->ops);
    eddy_buf_release(&pd->arena);
    eddy_free(pd);
}

static struct pmap *map_of(struct eddy_pending *pd, size_t store, int32_t partition)
{
    if (store >= pd->n_stores || partition < 0 || partition >= pd->n_partitions)
        return NULL;
    return &pd->maps[store * (size_t)pd->n_partitions + (size_t)partition];
}

/* ---- the open transaction ---- */

static eddy_err_t log_op(struct eddy_pending *pd, struct op op, const void *key,
                         const void *value)
{
    if (op.klen != 0 && !key)
        return EDDY_EINVAL;
    if (!eddy_array_reserve(&pd->ops, &pd->cap_ops, pd->n_ops + 1, sizeof *pd->ops, 256))
        return EDDY_ENOMEM;
    op.off = pd->arena.len;
    if (op.klen)
        eddy_buf_append(&pd->arena, key, op.klen);
    if (op.vlen)
        eddy_buf_append(&pd->arena, value, op.vlen);
    if (pd->arena.oom) {
        pd->arena.len = op.off;
        pd->arena.oom = false;
        return EDDY_ENOMEM;
    }
    pd->ops[pd->n_ops++] = op;
    return EDDY_OK;
}

eddy_err_t eddy__pending_put(struct eddy_pending *pd, size_t store, int32_t partition,
                             const void *key, size_t key_len, const void *value,
                             size_t value_len)
{
    if (!map_of(pd, store, partition) || key_len > UINT32_MAX || value_len > UINT32_MAX)
        return EDDY_EINVAL;
    struct op op = {value ? OP_PUT : OP_DELETE, store, partition, 0, (uint32_t)key_len,
                    value ? (uint32_t)value_len : 0, 0};
    return log_op(pd, op, key, value);
}

eddy_err_t eddy__pending_closed(struct eddy_pending *pd, size_t store, int32_t partition,
                                int64_t window_start)
{
    if (!map_of(pd, store, partition))
        return EDDY_EINVAL;
    struct op op = {OP_CLOSED, store, partition, 0, 0, 0, window_start};
    return log_op(pd, op, NULL, NULL);
}

void eddy__pending_abort(struct eddy_pending *pd)
{
    pd->n_ops = 0;
    eddy_buf_reset(&pd->arena);
}

/* ---- the committed map ---- */

static struct pentry *slot_for(struct pentry *slots, size_t cap, uint64_t hash, const void *key,
                               size_t klen)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct pentry *e = &slots[i];
        if (!e->data || (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0))
            return e;
    }
}

/* Rebuilds @m's table, at most half full with room for @extra more, without
 * the keys of window @drop_start when @drop is set. Out of memory: false,
 * nothing changed. */
static bool rebuild(struct eddy_pending *pd, struct pmap *m, size_t extra, bool drop,
                    int64_t drop_start)
{
    unsigned char prefix[8];
    eddy__be64_put(prefix, drop_start);
    size_t kept = 0;
    for (size_t i = 0; i < m->cap; i++) {
        const struct pentry *e = &m->slots[i];
        kept += e->data && !(drop && e->klen >= 8 && memcmp(e->data, prefix, 8) == 0);
    }
    size_t cap = 64;
    while (cap < (kept + extra) * 2)
        cap *= 2;
    struct pentry *slots = eddy_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        struct pentry *e = &m->slots[i];
        if (!e->data)
            continue;
        if (drop && e->klen >= 8 && memcmp(e->data, prefix, 8) == 0) {
            pd->bytes -= (size_t)e->klen + e->vlen;
            pd->keys--;
            eddy_free(e->data);
        } else {
            *slot_for(slots, cap, e->hash, e->data, e->klen) = *e;
        }
    }
    eddy_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->n = kept;
    return true;
}

static eddy_err_t fold_put(struct eddy_pending *pd, struct pmap *m, const struct op *op)
{
    const unsigned char *key = (const unsigned char *)pd->arena.data + op->off;
    if ((m->n + 1) * 2 > m->cap && !rebuild(pd, m, m->n + 1, false, 0))
        return EDDY_ENOMEM;
    uint64_t hash = eddy_hash64(key, op->klen, 0x70656e64);
    struct pentry *e = slot_for(m->slots, m->cap, hash, key, op->klen);
    unsigned char *data = eddy_realloc(e->data, (size_t)op->klen + op->vlen + 1);
    if (!data)
        return EDDY_ENOMEM;
    if (!e->data) {
        m->n++;
        pd->keys++;
    } else {
        pd->bytes -= (size_t)e->klen + e->vlen;
    }
    memcpy(data, key, (size_t)op->klen + op->vlen);
    *e = (struct pentry){data, hash, op->klen, op->vlen, op->kind == OP_DELETE};
    pd->bytes += (size_t)op->klen + op->vlen;
    return EDDY_OK;
}

static eddy_err_t fold_closed(struct eddy_pending *pd, struct pmap *m, int64_t start)
{
    if (!eddy_array_reserve(&m->closed, &m->cap_closed, m->n_closed + 1, sizeof *m->closed, 8))
        return EDDY_ENOMEM;
    if (m->n && !rebuild(pd, m, 0, true, start))
        return EDDY_ENOMEM;
    m->closed[m->n_closed++] = start;
    return EDDY_OK;
}

eddy_err_t eddy__pending_commit(struct eddy_pending *pd,
                                int64_t (*next_offset)(void *ctx, size_t store, int32_t partition),
                                void *ctx)
{
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < pd->n_ops && !err; i++) {
        const struct op *op = &pd->ops[i];
        struct pmap *m = map_of(pd, op->store, op->partition);
        err = op->kind == OP_CLOSED ? fold_closed(pd, m, op->start) : fold_put(pd, m, op);
    }
    eddy__pending_abort(pd); /* the log is folded (or, out of memory, unusable) */
    if (err)
        return err;
    for (size_t s = 0; s < pd->n_stores; s++)
        for (int32_t p = 0; p < pd->n_partitions; p++) {
            int64_t next = next_offset(ctx, s, p);
            if (next >= 0)
                map_of(pd, s, p)->checkpoint = next;
        }
    return EDDY_OK;
}

eddy_err_t eddy__pending_flush(struct eddy_pending *pd, struct eddy_state *state,
                               struct eddy_state_batch *batch, int32_t partition,
                               struct eddy_store *(*store_of)(void *ctx, size_t store,
                                                              int32_t partition),
                               void *ctx)
{
    eddy__state_batch_clear(batch);
    size_t ops = 0;
    for (size_t s = 0; s < pd->n_stores; s++)
        for (int32_t p = 0; p < pd->n_partitions; p++) {
            if (partition >= 0 && p != partition)
                continue;
            struct pmap *m = map_of(pd, s, p);
            struct eddy_store *st = m->checkpoint >= 0 || m->n || m->n_closed
                                        ? store_of(ctx, s, p) : NULL;
            if (!st)
                continue;
            for (size_t i = 0; i < m->n_closed; i++) {
                unsigned char begin[8], end[8];
                eddy__be64_put(begin, m->closed[i]);
                eddy__be64_put(end, m->closed[i] + 1);
                eddy__state_batch_delete_range(batch, st, begin, 8, end, 8);
            }
            for (size_t i = 0; i < m->cap; i++) {
                const struct pentry *e = &m->slots[i];
                if (!e->data)
                    continue;
                if (e->deleted)
                    eddy__state_batch_delete(batch, st, e->data, e->klen);
                else
                    eddy__state_batch_put(batch, st, e->data, e->klen, e->data + e->klen,
                                          e->vlen);
            }
            if (m->checkpoint >= 0)
                eddy__state_batch_checkpoint(batch, st, m->checkpoint);
            ops++;
        }
    eddy_err_t err = ops ? eddy__state_commit(state, batch) : EDDY_OK;
    eddy__state_batch_clear(batch);
    if (err)
        return err;
    for (size_t s = 0; s < pd->n_stores; s++)
        for (int32_t p = 0; p < pd->n_partitions; p++)
            if (partition < 0 || p == partition)
                map_clear(pd, map_of(pd, s, p));
    return EDDY_OK;
}

size_t eddy__pending_bytes(const struct eddy_pending *pd)
{
    return pd->bytes + pd->arena.cap + pd->cap_ops * sizeof *pd->ops;
}

size_t eddy__pending_keys(const struct eddy_pending *pd)
{
    return pd->keys;
}
