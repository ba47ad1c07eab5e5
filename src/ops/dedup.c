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
    int64_t ts;
};

/* A persisted segment: the ids of one eddy__dedup_changes() call. */
struct segment {
    uint64_t seq;
    int64_t max_ts;
};

struct eddy_dedup_store {
    int64_t within_ms;
    struct entry *slots;
    size_t cap; /* power of two */
    size_t count;
    bool journaling; /* set by the first eddy__dedup_changes (Kafka mode) */
    struct journal_entry *journal; /* ids remembered since the last call */
    size_t n_journal, cap_journal;
    struct segment *segments; /* persisted, not yet expired */
    size_t n_segments, cap_segments;
    uint64_t next_seq;
    struct journal_entry *legacy; /* loaded per-id keys (format 1): deleted once expired */
    size_t n_legacy, cap_legacy;
    unsigned char *scratch; /* a segment's value */
    size_t cap_scratch;
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
    eddy_free(store->segments);
    eddy_free(store->legacy);
    eddy_free(store->scratch);
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

/* Segment keys: 'S' then the sequence number, 8 bytes big-endian. */
#define SEGMENT_IDS 8192
static void segment_key(unsigned char key[9], uint64_t seq)
{
    key[0] = 'S';
    for (int i = 0; i < 8; i++)
        key[1 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

eddy_err_t eddy__dedup_changes(struct eddy_dedup_store *s, int64_t stream_time,
                               const struct eddy_dedup_changes *changes)
{
    unsigned char key[9];
    eddy_err_t err = EDDY_OK;
    if (!s->journaling) { /* the first call: everything loaded is persisted */
        s->journaling = true;
        return EDDY_OK;
    }
    /* at most SEGMENT_IDS ids (128 KB) per record: far below the broker's
     * default 1 MB message limit however many ids a commit brings */
    for (size_t first = 0; first < s->n_journal; first += SEGMENT_IDS) {
        size_t n = s->n_journal - first < SEGMENT_IDS ? s->n_journal - first : SEGMENT_IDS;
        size_t len = n * 16;
        if (len > s->cap_scratch) {
            unsigned char *p = eddy_realloc(s->scratch, len);
            if (!p)
                return EDDY_ENOMEM;
            s->scratch = p;
            s->cap_scratch = len;
        }
        int64_t max_ts = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            const struct journal_entry *j = &s->journal[first + i];
            memcpy(s->scratch + 16 * i, &j->hash, 8);
            memcpy(s->scratch + 16 * i + 8, &j->ts, 8);
            max_ts = j->ts > max_ts ? j->ts : max_ts;
        }
        if (!eddy_array_reserve(&s->segments, &s->cap_segments, s->n_segments + 1,
                                sizeof *s->segments, 64))
            return EDDY_ENOMEM;
        uint64_t seq = s->next_seq++;
        segment_key(key, seq);
        if ((err = changes->put(changes->ctx, key, 9, s->scratch, len)))
            return err;
        s->segments[s->n_segments++] = (struct segment){seq, max_ts};
    }
    s->n_journal = 0;
    /* segments (and loaded per-id keys) whose every id has expired */
    size_t kept = 0;
    for (size_t i = 0; i < s->n_segments; i++) {
        if (!err && expired(s, s->segments[i].max_ts, stream_time)) {
            segment_key(key, s->segments[i].seq);
            err = changes->put(changes->ctx, key, 9, NULL, 0);
            if (!err)
                continue;
        }
        s->segments[kept++] = s->segments[i];
    }
    s->n_segments = kept;
    kept = 0;
    for (size_t i = 0; i < s->n_legacy; i++) {
        if (!err && expired(s, s->legacy[i].ts, stream_time)) {
            err = changes->put(changes->ctx, &s->legacy[i].hash, 8, NULL, 0);
            if (!err)
                continue;
        }
        s->legacy[kept++] = s->legacy[i];
    }
    s->n_legacy = kept;
    return err;
}

static eddy_err_t load_id(struct eddy_dedup_store *s, uint64_t id_hash, int64_t ts,
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

eddy_err_t eddy__dedup_load(struct eddy_dedup_store *s, const void *key, size_t key_len,
                            const void *value, size_t value_len, int64_t stream_time)
{
    const unsigned char *k = key, *v = value;
    if (key_len == 8 && value_len == 8) { /* format 1: one key per id */
        struct journal_entry e;
        memcpy(&e.hash, k, 8);
        memcpy(&e.ts, v, 8);
        if (!eddy_array_reserve(&s->legacy, &s->cap_legacy, s->n_legacy + 1, sizeof *s->legacy,
                                64))
            return EDDY_ENOMEM;
        s->legacy[s->n_legacy++] = e;
        return load_id(s, e.hash, e.ts, stream_time);
    }
    if (key_len != 9 || k[0] != 'S' || value_len % 16)
        return EDDY_EPARSE;
    uint64_t seq = 0;
    for (int i = 1; i < 9; i++)
        seq = seq << 8 | k[i];
    int64_t max_ts = INT64_MIN;
    for (size_t i = 0; i < value_len; i += 16) {
        uint64_t hash;
        int64_t ts;
        memcpy(&hash, v + i, 8);
        memcpy(&ts, v + i + 8, 8);
        max_ts = ts > max_ts ? ts : max_ts;
        eddy_err_t err = load_id(s, hash, ts, stream_time);
        if (err)
            return err;
    }
    if (!eddy_array_reserve(&s->segments, &s->cap_segments, s->n_segments + 1,
                            sizeof *s->segments, 64))
        return EDDY_ENOMEM;
    s->segments[s->n_segments++] = (struct segment){seq, max_ts};
    if (seq >= s->next_seq)
        s->next_seq = seq + 1;
    return EDDY_OK;
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
