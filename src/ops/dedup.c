/*
 * dedup.c - see dedup.h.
 *
 * Table: power-of-two array of {hash, ts}; hash 0 marks an empty slot (an id
 * hashing to 0 is stored as 1). Linear probing. When an insert would take the
 * table past half full, expired entries are swept: in place (backward-shift
 * deletion, no allocation) while the live ones fill at most 3/8 of it, else
 * by rebuilding into tables twice the size. In steady state (ids expiring as
 * fast as new ones come) the table keeps its size and is never copied: the
 * live ids take 3/16 to 1/2 of it. (Rebuilding at every sweep, as before,
 * made each sweep fault in and zero a whole new table beside the old one:
 * twice the memory for a moment, and 11% of a 3M-event run in the kernel.)
 *
 * A large table (a million ids is 64 MB) probed at random cost every record
 * a cache miss (and a TLB miss) that the prefetch a little ahead could not
 * hide. Nearly every id is new, so that probe is avoided:
 *   - a blocked Bloom filter (cap / 2 bytes: one 64-byte block per id, 4
 *     bits in it; between 16 and 8 bits per id, as the tables fill from a
 *     quarter to half of cap: about 0.3% to 2.5% false positives) holds
 *     every id of the tables; an id it does not have is new without looking
 *     further. It is what eddy__dedup_prefetch fetches; expired ids stay in
 *     it until the next rebuild. (A filter of cap bytes was no faster: what
 *     counts is how much of it stays in the cache);
 *   - new ids go to a small pending table (cap / 8 slots, 128..8192, kept
 *     at most half full: it stays in the L2 cache), moved into the main
 *     table in one pass when it fills, with the slots of the next inserts
 *     prefetched so that their misses overlap.
 * count covers both tables, and rebuilds happen exactly when they would with
 * one table, so eddy__dedup_size() and which ids are remembered are the same.
 */
#include "ops/dedup.h"

#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

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
    size_t cap;   /* power of two */
    size_t count; /* entries in slots and pending */
    uint64_t *filter; /* filter_blocks blocks of 8 words */
    size_t filter_blocks;
    struct entry *pending; /* pending_cap (power of two) slots */
    size_t pending_cap, n_pending;
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

/* ---- the filter ---- */

/* One 512-bit block per id, 4 bits in it. */
static size_t filter_block(const struct eddy_dedup_store *s, uint64_t hash)
{
    return (size_t)(((hash >> 32) * (uint64_t)s->filter_blocks) >> 32);
}

static void filter_add(uint64_t *filter, size_t block, uint64_t hash)
{
    uint64_t *b = filter + 8 * block;
    for (int k = 0; k < 4; k++) {
        unsigned bit = (unsigned)(hash >> (9 * k)) & 511;
        b[bit >> 6] |= 1ULL << (bit & 63);
    }
}

static bool filter_has(const struct eddy_dedup_store *s, uint64_t hash)
{
    const uint64_t *b = s->filter + 8 * filter_block(s, hash);
    bool all = true;
    for (int k = 0; k < 4; k++) {
        unsigned bit = (unsigned)(hash >> (9 * k)) & 511;
        all &= (b[bit >> 6] >> (bit & 63)) & 1;
    }
    return all;
}

/* ---- tables ---- */

static struct entry *find(struct entry *slots, size_t cap, uint64_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (slots[i].hash == hash || slots[i].hash == 0)
            return &slots[i];
}

static bool expired(const struct eddy_dedup_store *s, int64_t ts, int64_t stream_time)
{
    /* no stream time yet (INT64_MIN): nothing has expired */
    return stream_time > INT64_MIN + s->within_ms && ts < stream_time - s->within_ms;
}

/* The pending table: an eighth of the main one, at most 8192 slots (128 KB). */
static size_t pending_cap(size_t cap)
{
    size_t p = cap / 8;
    return p < 128 ? 128 : p > 8192 ? 8192 : p;
}

/* Moves the pending ids into the main table. They are scattered over it: the
 * slot of each is prefetched 16 inserts ahead (an insert is short, a miss
 * long: 8 ahead left most of each miss exposed), so that the misses overlap
 * instead of costing one after the other. */
static void flush_pending(struct eddy_dedup_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->pending_cap; i++)
        if (s->pending[i].hash)
            s->pending[n++] = s->pending[i]; /* compacted: the table is emptied below */
    size_t mask = s->cap - 1;
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            __builtin_prefetch(&s->slots[s->pending[i + 16].hash & mask], 1);
        *find(s->slots, s->cap, s->pending[i].hash) = s->pending[i];
    }
    memset(s->pending, 0, s->pending_cap * sizeof *s->pending);
    s->n_pending = 0;
}

/* Asks for transparent huge pages under the 2 MB-aligned part of a large
 * table not touched yet: it is probed at random, so with 4 KB pages nearly
 * every probe also missed the TLB, and first touching it took a page fault
 * per 4 KB. Only for tables of 32 MB and more: below that the TLB gain is
 * small and whole 2 MB pages of a table being filled would count against
 * memory_limit (test_memory_burst: +6-10 MB of peak RSS). Only a hint (the
 * contents are unchanged): errors are ignored. */
static void advise_huge(void *table, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = 2u << 20;
    if (bytes < ((size_t)32 << 20))
        return;
    uintptr_t from = ((uintptr_t)table + huge - 1) & ~(huge - 1);
    uintptr_t to = ((uintptr_t)table + bytes) & ~(huge - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)table;
    (void)bytes;
#endif
}

/* Puts the tables of @cap slots in place: every entry of the old ones (none
 * when the store is new) that is live at @stream_time goes to the new main
 * table and filter. On EDDY_ENOMEM nothing changed. */
static eddy_err_t tables_make(struct eddy_dedup_store *s, size_t cap, int64_t stream_time)
{
    size_t pcap = pending_cap(cap), blocks = cap / 128;
    struct entry *slots = eddy_calloc(cap, sizeof *slots);
    uint64_t *filter = slots ? eddy_calloc(blocks * 8, sizeof *filter) : NULL;
    struct entry *pending = filter ? eddy_calloc(pcap, sizeof *pending) : NULL;
    if (!pending) {
        eddy_free(slots);
        eddy_free(filter);
        return EDDY_ENOMEM;
    }
    advise_huge(slots, cap * sizeof *slots);
    advise_huge(filter, blocks * 8 * sizeof *filter);
    /* the live entries go to their slots 8 inserts after their slot is
     * prefetched: the misses overlap */
    struct entry ring[8];
    size_t live = 0;
    const struct entry *from[2] = {s->slots, s->pending};
    size_t n[2] = {s->slots ? s->cap : 0, s->pending ? s->pending_cap : 0};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < n[t]; i++) {
            const struct entry *e = &from[t][i];
            if (!e->hash || expired(s, e->ts, stream_time))
                continue;
            if (live >= 8)
                *find(slots, cap, ring[live % 8].hash) = ring[live % 8];
            __builtin_prefetch(&slots[e->hash & (cap - 1)], 1);
            ring[live++ % 8] = *e;
        }
    }
    for (size_t k = live > 8 ? live - 8 : 0; k < live; k++)
        *find(slots, cap, ring[k % 8].hash) = ring[k % 8];
    eddy_free(s->slots);
    eddy_free(s->filter);
    eddy_free(s->pending);
    s->slots = slots;
    s->cap = cap;
    s->filter = filter;
    s->filter_blocks = blocks;
    s->pending = pending;
    s->pending_cap = pcap;
    s->n_pending = 0;
    s->count = live;
    for (size_t i = 0; i < cap; i++)
        if (slots[i].hash)
            filter_add(filter, filter_block(s, slots[i].hash), slots[i].hash);
    return EDDY_OK;
}

eddy_err_t eddy__dedup_new(int64_t within_ms, struct eddy_dedup_store **out)
{
    struct eddy_dedup_store *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return EDDY_ENOMEM;
    s->within_ms = within_ms;
    if (tables_make(s, 1024, 0)) { /* no entries: the time is not used */
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
    eddy_free(store->filter);
    eddy_free(store->pending);
    eddy_free(store->journal);
    eddy_free(store->segments);
    eddy_free(store->legacy);
    eddy_free(store->scratch);
    eddy_free(store);
}

/* Empties slot @i of @slots (@mask + 1 of them), keeping every later entry
 * of its run findable: an entry whose home is not cyclically in (hole, its
 * slot] moves back into the hole, which moves on to where it was (Knuth's
 * Algorithm R for linear probing). */
static void remove_at(struct entry *slots, size_t mask, size_t i)
{
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!slots[j].hash)
            break;
        size_t k = slots[j].hash & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        slots[i] = slots[j];
        i = j;
    }
    slots[i] = (struct entry){0, 0};
}

/* Removes the expired entries in place: the pending ids are moved into the
 * main table first, then its slots are visited once around from just after
 * an empty one (so that no run crosses the start and a backward shift never
 * moves an entry behind the visit), a slot again after its entry was
 * removed (a later entry may have moved into it); then the filter is made
 * anew from the live entries. */
static void purge(struct eddy_dedup_store *s, int64_t stream_time)
{
    flush_pending(s);
    size_t mask = s->cap - 1, start = 0, live = 0;
    while (s->slots[start].hash) /* at most half full: there is an empty slot */
        start++;
    for (size_t n = 0; n < s->cap;) {
        size_t i = (start + 1 + n) & mask;
        if (s->slots[i].hash && expired(s, s->slots[i].ts, stream_time)) {
            remove_at(s->slots, mask, i);
            continue;
        }
        live += s->slots[i].hash != 0;
        n++;
    }
    s->count = live;
    memset(s->filter, 0, s->filter_blocks * 8 * sizeof *s->filter);
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].hash)
            filter_add(s->filter, filter_block(s, s->slots[i].hash), s->slots[i].hash);
}

/* Sweeps the expired entries: in place while the live ones fill at most 3/8
 * of the main table, else into tables twice the size (or more, until the
 * live ones fill at most a quarter). */
static eddy_err_t rebuild(struct eddy_dedup_store *s, int64_t stream_time)
{
    size_t live = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].hash && !expired(s, s->slots[i].ts, stream_time))
            live++;
    for (size_t i = 0; i < s->pending_cap; i++)
        if (s->pending[i].hash && !expired(s, s->pending[i].ts, stream_time))
            live++;
    if ((live + 1) * 8 <= s->cap * 3) {
        purge(s, stream_time);
        return EDDY_OK;
    }
    size_t cap = s->cap * 2;
    while (live + 1 > cap / 4)
        cap *= 2;
    return tables_make(s, cap, stream_time);
}

void eddy__dedup_prefetch(const struct eddy_dedup_store *s, uint64_t id_hash)
{
    uint64_t hash = id_hash ? id_hash : 1;
    __builtin_prefetch(s->filter + 8 * filter_block(s, hash));
    /* and the pending slot a new id goes to (the pending table is in the L2
     * cache at best: a probe of it at random misses the L1 too) */
    __builtin_prefetch(&s->pending[hash & (s->pending_cap - 1)], 1);
}

/* The entry of @hash, or NULL. */
static struct entry *lookup(struct eddy_dedup_store *s, uint64_t hash)
{
    if (!filter_has(s, hash))
        return NULL; /* nearly every new id: no probe of the large table */
    struct entry *e = find(s->pending, s->pending_cap, hash);
    if (e->hash == hash)
        return e;
    e = find(s->slots, s->cap, hash);
    return e->hash == hash ? e : NULL;
}

bool eddy__dedup_seen(struct eddy_dedup_store *s, uint64_t id_hash, int64_t ts,
                      int64_t stream_time, eddy_err_t *err)
{
    uint64_t hash = id_hash ? id_hash : 1;
    *err = EDDY_OK;
    struct entry *e = lookup(s, hash);
    if (e) {
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
    }
    if ((s->n_pending + 1) * 2 > s->pending_cap)
        flush_pending(s);
    e = find(s->pending, s->pending_cap, hash);
    e->hash = hash;
    e->ts = ts;
    s->n_pending++;
    s->count++;
    filter_add(s->filter, filter_block(s, hash), hash);
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
    for (size_t i = 0; i < store->pending_cap; i++)
        if (store->pending[i].hash)
            fn(ctx, store->pending[i].hash, store->pending[i].ts);
}
