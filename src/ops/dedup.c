/*
 * dedup.c - see dedup.h.
 *
 * Table: power-of-two array of {hash, ts}; hash 0 marks an empty slot (an id
 * hashing to 0 is stored as 1). Linear probing. When an insert would take the
 * table past half full, expired entries are swept by rebuilding, and the
 * table doubles only if the live entries still fill more than a quarter.
 */
#include "ops/dedup.h"

#include <string.h>

#include "core/alloc.h"

struct entry {
    uint64_t hash;
    int64_t ts;
};

struct journal_entry {
    uint64_t hash;
    int64_t ts; /* INT64_MIN: swept as expired */
};

struct eddy_dedup_store {
    int64_t within_ms;
    struct entry *slots;
    size_t cap; /* power of two */
    size_t count;
    bool journaling; /* set by the first eddy__dedup_changes (Kafka mode) */
    struct journal_entry *journal;
    size_t n_journal, cap_journal;
};

static eddy_err_t journal(struct eddy_dedup_store *s, uint64_t hash, int64_t ts)
{
    if (!s->journaling)
        return EDDY_OK;
    if (!eddy_array_reserve(&s->journal, &s->cap_journal, s->n_journal + 1, sizeof *s->journal,
                            1024))
        return EDDY_ENOMEM;
    s->journal[s->n_journal++] = (struct journal_entry){hash, ts};
    return EDDY_OK;
}

eddy_err_t eddy__dedup_new(int64_t within_ms, struct eddy_dedup_store **out)
{
    struct eddy_dedup_store *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return EDDY_ENOMEM;
    s->within_ms = within_ms;
    s->cap = 1024;
    s->slots = eddy_calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        eddy_free(s);
        return EDDY_ENOMEM;
    }
    *out = s;
    return EDDY_OK;
}

void eddy__dedup_free(struct eddy_dedup_store *store)
{
    if (!store)
        return;
    eddy_free(store->slots);
    eddy_free(store->journal);
    eddy_free(store);
}

static struct entry *find(struct entry *slots, size_t cap, uint64_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (slots[i].hash == hash || slots[i].hash == 0)
            return &slots[i];
}

static bool expired(const struct eddy_dedup_store *s, int64_t ts, int64_t stream_time)
{
    return ts < stream_time - s->within_ms;
}

/* Rebuilds the table without expired entries, doubling it when needed. */
static eddy_err_t rebuild(struct eddy_dedup_store *s, int64_t stream_time)
{
    size_t live = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].hash && !expired(s, s->slots[i].ts, stream_time))
            live++;
    size_t cap = s->cap;
    while (live + 1 > cap / 4)
        cap *= 2;
    struct entry *slots = eddy_calloc(cap, sizeof *slots);
    if (!slots)
        return EDDY_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].hash)
            continue;
        if (!expired(s, s->slots[i].ts, stream_time))
            *find(slots, cap, s->slots[i].hash) = s->slots[i];
        else if (journal(s, s->slots[i].hash, INT64_MIN) != EDDY_OK) {
            eddy_free(slots);
            return EDDY_ENOMEM;
        }
    }
    eddy_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->count = live;
    return EDDY_OK;
}

void eddy__dedup_prefetch(const struct eddy_dedup_store *s, uint64_t id_hash)
{
    uint64_t hash = id_hash ? id_hash : 1;
    __builtin_prefetch(&s->slots[hash & (s->cap - 1)]);
}

bool eddy__dedup_seen(struct eddy_dedup_store *s, uint64_t id_hash, int64_t ts,
                      int64_t stream_time, eddy_err_t *err)
{
    uint64_t hash = id_hash ? id_hash : 1;
    *err = EDDY_OK;
    struct entry *e = find(s->slots, s->cap, hash);
    if (e->hash == hash) {
        if (!expired(s, e->ts, stream_time))
            return true;
        if (ts > e->ts)
            e->ts = ts;
        *err = journal(s, hash, e->ts);
        return false;
    }
    if ((s->count + 1) * 2 > s->cap) {
        *err = rebuild(s, stream_time);
        if (*err)
            return false;
        e = find(s->slots, s->cap, hash);
    }
    e->hash = hash;
    e->ts = ts;
    s->count++;
    *err = journal(s, hash, ts);
    return false;
}

eddy_err_t eddy__dedup_changes(struct eddy_dedup_store *s,
                               const struct eddy_dedup_changes *changes)
{
    s->journaling = true;
    for (size_t i = 0; i < s->n_journal; i++) {
        const struct journal_entry *j = &s->journal[i];
        eddy_err_t err = j->ts == INT64_MIN ? changes->del(changes->ctx, j->hash)
                                            : changes->put(changes->ctx, j->hash, j->ts);
        if (err)
            return err;
    }
    s->n_journal = 0;
    return EDDY_OK;
}

eddy_err_t eddy__dedup_load(struct eddy_dedup_store *s, uint64_t id_hash, int64_t ts,
                            int64_t stream_time)
{
    if (expired(s, ts, stream_time))
        return EDDY_OK;
    bool journaling = s->journaling;
    eddy_err_t err;
    s->journaling = false; /* loaded ids are persisted already */
    eddy__dedup_seen(s, id_hash, ts, stream_time, &err);
    s->journaling = journaling;
    return err;
}

size_t eddy__dedup_size(const struct eddy_dedup_store *store)
{
    return store->count;
}

void eddy__dedup_foreach(const struct eddy_dedup_store *store,
                         void (*fn)(void *ctx, uint64_t id_hash, int64_t ts), void *ctx)
{
    for (size_t i = 0; i < store->cap; i++)
        if (store->slots[i].hash)
            fn(ctx, store->slots[i].hash, store->slots[i].ts);
}
