/*
 * dedup.c - see dedup.h.
 *
 * Table: power-of-two array of {hash, ts}; hash 0 marks an empty slot (an id
 * hashing to 0 is stored as 1). Linear probing, kept at most half full.
 *
 * No operation stops the world: a table of tens of millions of ids (at
 * 100k events/s, `within: 10m` holds 60M) cannot be rebuilt or scanned in
 * one go (moving 8.4M ids took 2.8 s). Every new id pays for a bounded
 * share of the upkeep instead, WORK slots of it:
 *   - sweeping: a cursor goes round the main table one region (128 slots)
 *     at a time, removing the expired ids in place (backward-shift
 *     deletion); a lap takes cap / WORK new ids, so at most cap / WORK
 *     expired ids wait to be removed. It is skipped while no id can have
 *     expired (min_ts: the least time of the ids kept, as of the last lap,
 *     and of those put since);
 *   - growing: when an insert would take the ids past half the table, a
 *     table twice the size is allocated and faulted in, TOUCH bytes per new
 *     id (inserts go on into the current table, up to 9/16 full); then it
 *     becomes the main one and the old one is moved into it a run of slots
 *     at a time (a run: from an empty slot to the next, so the old table
 *     stays a valid table of the ids not yet moved), expired ids dropped
 *     on the way; until it is empty, lookups try the old table too. It
 *     empties in old cap / WORK new ids, long before the new table could
 *     fill (it starts at most 9/32 full).
 * count covers every table, so memory follows (live ids + cap / WORK).
 *
 * A large table probed at random costs every record a cache miss (and a
 * TLB miss) that the prefetch a little ahead could not hide. Nearly every
 * id is new, so that probe is avoided:
 *   - a blocked Bloom filter per table (cap / 2 bytes: one 64-byte block
 *     per 128 slots, the block of an id being that of its home slot, 4 bits
 *     in it; between 16 and 8 bits per id: about 0.3% to 2.5% false
 *     positives) holds every id of the table; an id it does not have is
 *     new without looking further. It is what eddy__dedup_prefetch
 *     fetches. Since a block covers the ids homed in one region, the sweep
 *     makes the block of each region anew from the ids left there, so
 *     expired ids leave the filter within a lap;
 *   - new ids go to a small pending table (cap / 8 slots, 128..8192, kept
 *     at most half full: it stays in the L2 cache), moved into the main
 *     table in one pass when it fills, with the slots of the next inserts
 *     prefetched so that their misses overlap. The upkeep runs right after
 *     (the pending table is empty then: a region's filter block is made
 *     from the main table alone).
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

/* Slots per filter block, and so per region of the sweep. */
#define REGION 128
/* Slots of upkeep (sweeping or moving) per new id. */
#define WORK 8
/* Bytes of the next table faulted in per new id. */
#define TOUCH 512

struct table {
    struct entry *slots; /* NULL: no table */
    size_t cap;          /* power of two, >= REGION */
    uint64_t *filter;    /* cap / REGION blocks of 8 words */
};

struct eddy_dedup_store {
    int64_t within_ms;
    struct table main;
    struct entry *pending; /* pending_cap (power of two) slots */
    size_t pending_cap, n_pending;
    struct table next;           /* being faulted in, while next.slots */
    struct entry *next_pending;  /* the pending table to go with it */
    size_t next_touched;         /* bytes of next faulted in */
    struct table old;            /* being moved into main, while old.slots */
    size_t old_at, old_left;     /* next slot of it to move (a run's start), slots to go */
    size_t sweep_at, sweep_due;  /* next region of main to sweep, slots of sweep owed */
    int64_t min_ts;              /* at most the time of every id kept */
    int64_t lap_min;             /* the least time of the ids left or put since the lap began */
    size_t count;                /* ids in main, pending and old */
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

static bool expired(const struct eddy_dedup_store *s, int64_t ts, int64_t stream_time)
{
    /* no stream time yet (INT64_MIN): nothing has expired */
    return stream_time > INT64_MIN + s->within_ms && ts < stream_time - s->within_ms;
}

/* ---- the filter ---- */

/* The block of @hash: that of its home slot's region. The 4 bits in it come
 * from the hash's top 36 bits, not from the low ones that chose the block. */
static uint64_t *filter_block(const struct table *t, uint64_t hash)
{
    return t->filter + 8 * ((hash & (t->cap - 1)) / REGION);
}

static void filter_add(uint64_t *b, uint64_t hash)
{
    for (int k = 0; k < 4; k++) {
        unsigned bit = (unsigned)(hash >> (28 + 9 * k)) & 511;
        b[bit >> 6] |= 1ULL << (bit & 63);
    }
}

static bool filter_has(const uint64_t *b, uint64_t hash)
{
    bool all = true;
    for (int k = 0; k < 4; k++) {
        unsigned bit = (unsigned)(hash >> (28 + 9 * k)) & 511;
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

/* An empty table of @cap slots (calloc: a large one is zeroed by the kernel
 * page by page as it is first touched, not at once). */
static eddy_err_t table_new(struct table *t, size_t cap)
{
    t->slots = eddy_calloc(cap, sizeof *t->slots);
    t->filter = t->slots ? eddy_calloc(cap / REGION * 8, sizeof *t->filter) : NULL;
    if (!t->filter) {
        eddy_free(t->slots);
        *t = (struct table){0};
        return EDDY_ENOMEM;
    }
    t->cap = cap;
    advise_huge(t->slots, cap * sizeof *t->slots);
    advise_huge(t->filter, cap / REGION * 8 * sizeof *t->filter);
    return EDDY_OK;
}

static void table_free(struct table *t)
{
    eddy_free(t->slots);
    eddy_free(t->filter);
    *t = (struct table){0};
}

/* Puts @n entries (none of them in @t yet) into @t. They are scattered over
 * it: the slot and filter block of each are prefetched 16 puts ahead (a put
 * is short, a miss long: 8 ahead left most of each miss exposed), so that
 * the misses overlap instead of costing one after the other. */
static void put_all(struct table *t, const struct entry *e, size_t n)
{
    size_t mask = t->cap - 1;
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n) {
            __builtin_prefetch(&t->slots[e[i + 16].hash & mask], 1);
            __builtin_prefetch(filter_block(t, e[i + 16].hash), 1);
        }
        *find(t->slots, t->cap, e[i].hash) = e[i];
        filter_add(filter_block(t, e[i].hash), e[i].hash);
    }
}

/* The pending table: an eighth of the main one, at most 8192 slots (128 KB). */
static size_t pending_cap(size_t cap)
{
    size_t p = cap / 8;
    return p < 128 ? 128 : p > 8192 ? 8192 : p;
}

/* Moves the pending ids (already in the main filter) into the main table;
 * returns how many. */
static size_t flush_pending(struct eddy_dedup_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->pending_cap; i++)
        if (s->pending[i].hash)
            s->pending[n++] = s->pending[i]; /* compacted: the table is emptied below */
    size_t mask = s->main.cap - 1;
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            __builtin_prefetch(&s->main.slots[s->pending[i + 16].hash & mask], 1);
        *find(s->main.slots, s->main.cap, s->pending[i].hash) = s->pending[i];
    }
    memset(s->pending, 0, s->pending_cap * sizeof *s->pending);
    s->n_pending = 0;
    return n;
}

/* Empties slot @i of @slots (@mask + 1 of them), keeping every later entry
 * of its run findable: an entry whose home is not cyclically in (hole, its
 * slot] moves back into the hole, which moves on to where it was (Knuth's
 * Algorithm R for linear probing). An entry never moves before its home. */
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

/* Sweeps region @r of the main table (the pending table is empty): removes
 * its expired ids (a slot is looked at again after a removal: a later entry
 * may have moved into it), then makes the region's filter block anew from
 * the ids homed in it. Those lie from the region's start up to the first
 * empty slot at or past its end (an id lies after its home with no empty
 * slot between), the end of the table wrapping around to its start. */
static void sweep_region(struct eddy_dedup_store *s, size_t r, int64_t stream_time)
{
    struct entry *slots = s->main.slots;
    size_t mask = s->main.cap - 1, first = r * REGION;
    if (r == 0)
        s->lap_min = INT64_MAX;
    for (size_t i = first; i < first + REGION;) {
        if (slots[i].hash && expired(s, slots[i].ts, stream_time)) {
            remove_at(slots, mask, i);
            s->count--;
        } else {
            if (slots[i].hash && slots[i].ts < s->lap_min)
                s->lap_min = slots[i].ts;
            i++;
        }
    }
    uint64_t *block = s->main.filter + 8 * r;
    memset(block, 0, 8 * sizeof *block);
    for (size_t i = first; i < first + REGION || slots[i & mask].hash; i++) {
        uint64_t h = slots[i & mask].hash;
        if (h && (h & mask) / REGION == r)
            filter_add(block, h);
    }
}

/* Moves the old table into the main one: at least @budget slots of it, and
 * on to the end of the run there. Live ids go to the main table (in batches,
 * put_all), expired ones are dropped; the slots left are emptied. Frees the
 * old table once it is all moved. */
static void move_old(struct eddy_dedup_store *s, size_t budget, int64_t stream_time)
{
    struct entry batch[256];
    size_t n = 0, mask = s->old.cap - 1;
    while (s->old_left && (budget || s->old.slots[s->old_at].hash)) {
        struct entry *e = &s->old.slots[s->old_at];
        if (e->hash && expired(s, e->ts, stream_time)) {
            s->count--;
        } else if (e->hash) {
            batch[n++] = *e;
            if (n == sizeof batch / sizeof *batch) {
                put_all(&s->main, batch, n);
                n = 0;
            }
        }
        *e = (struct entry){0, 0};
        s->old_at = (s->old_at + 1) & mask;
        s->old_left--;
        budget -= budget > 0;
    }
    put_all(&s->main, batch, n);
    if (!s->old_left)
        table_free(&s->old);
}

/* Faults in @bytes more of the next table (its slots, then its filter),
 * a zero written on each page (calloc gave zeros already); returns whether
 * it is all in. Filling a table puts ids at random, so its first few
 * thousand puts would fault in nearly all of it at once (and, under
 * transparent huge pages, have the kernel zero it all at once: 1 s for a
 * 512 MB table). */
static bool touch_next(struct eddy_dedup_store *s, size_t bytes)
{
    size_t slot_bytes = s->next.cap * sizeof *s->next.slots;
    size_t total = slot_bytes + s->next.cap / REGION * 8 * sizeof *s->next.filter;
    size_t to = bytes < total - s->next_touched ? s->next_touched + bytes : total;
    for (size_t at = s->next_touched; at < to; at += 4096) {
        volatile char *p = at < slot_bytes ? (char *)s->next.slots + at
                                           : (char *)s->next.filter + (at - slot_bytes);
        *p = 0;
    }
    s->next_touched = to;
    return to == total;
}

/* Allocates the next main table, twice the size, and its pending table.
 * On EDDY_ENOMEM nothing changed. */
static eddy_err_t prepare_next(struct eddy_dedup_store *s)
{
    if (table_new(&s->next, s->main.cap * 2))
        return EDDY_ENOMEM;
    s->next_pending = eddy_calloc(pending_cap(s->next.cap), sizeof *s->next_pending);
    if (!s->next_pending) {
        table_free(&s->next);
        return EDDY_ENOMEM;
    }
    s->next_touched = 0;
    return EDDY_OK;
}

/* Makes the next table the main one (the pending table is empty) and
 * starts moving the current one into it. */
static void switch_tables(struct eddy_dedup_store *s)
{
    eddy_free(s->pending);
    s->pending = s->next_pending;
    s->pending_cap = pending_cap(s->next.cap);
    s->next_pending = NULL;
    s->old = s->main;
    s->main = s->next;
    s->next = (struct table){0};
    /* from an empty slot (at most 5/8 full: there is one), round the table */
    s->old_at = 0;
    while (s->old.slots[s->old_at].hash)
        s->old_at++;
    s->old_left = s->old.cap;
    s->sweep_at = 0;
    s->sweep_due = 0;
}

/* The upkeep owed for @n new ids (the pending table is empty): moving the
 * old table while there is one; else faulting in the next one while there
 * is one, and making it the main one once it is all in; and sweeping (whole
 * regions, the remainder carried over). */
static void upkeep(struct eddy_dedup_store *s, size_t n, int64_t stream_time)
{
    if (s->old.slots) {
        move_old(s, n * WORK, stream_time);
        return;
    }
    if (s->next.slots) {
        if (touch_next(s, n * TOUCH))
            switch_tables(s);
        return;
    }
    if (!expired(s, s->min_ts, stream_time))
        return; /* none has expired: nothing to sweep */
    size_t regions = s->main.cap / REGION;
    for (s->sweep_due += n * WORK; s->sweep_due >= REGION; s->sweep_due -= REGION) {
        sweep_region(s, s->sweep_at, stream_time);
        if (++s->sweep_at == regions) { /* a lap: every id left was seen or put in it */
            s->sweep_at = 0;
            s->min_ts = s->lap_min;
        }
    }
}

eddy_err_t eddy__dedup_new(int64_t within_ms, struct eddy_dedup_store **out)
{
    struct eddy_dedup_store *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return EDDY_ENOMEM;
    s->within_ms = within_ms;
    s->min_ts = s->lap_min = INT64_MAX;
    s->pending_cap = pending_cap(1024);
    s->pending = eddy_calloc(s->pending_cap, sizeof *s->pending);
    if (!s->pending || table_new(&s->main, 1024)) {
        eddy_free(s->pending);
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
    table_free(&store->main);
    table_free(&store->next);
    table_free(&store->old);
    eddy_free(store->next_pending);
    eddy_free(store->pending);
    eddy_free(store->journal);
    eddy_free(store->segments);
    eddy_free(store->legacy);
    eddy_free(store->scratch);
    eddy_free(store);
}

void eddy__dedup_prefetch(const struct eddy_dedup_store *s, uint64_t id_hash)
{
    uint64_t hash = id_hash ? id_hash : 1;
    __builtin_prefetch(filter_block(&s->main, hash));
    /* and the pending slot a new id goes to (the pending table is in the L2
     * cache at best: a probe of it at random misses the L1 too) */
    __builtin_prefetch(&s->pending[hash & (s->pending_cap - 1)], 1);
    if (s->old.slots)
        __builtin_prefetch(filter_block(&s->old, hash));
}

/* The entry of @hash, or NULL. */
static struct entry *lookup(struct eddy_dedup_store *s, uint64_t hash)
{
    struct entry *e;
    if (filter_has(filter_block(&s->main, hash), hash)) {
        e = find(s->pending, s->pending_cap, hash);
        if (e->hash == hash)
            return e;
        e = find(s->main.slots, s->main.cap, hash);
        if (e->hash == hash)
            return e;
    }
    if (s->old.slots && filter_has(filter_block(&s->old, hash), hash)) {
        e = find(s->old.slots, s->old.cap, hash);
        if (e->hash == hash)
            return e;
    }
    return NULL; /* nearly every new id: no probe of the large tables */
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
    /* past half full: the next table is made, faulted in over the next
     * inserts and then filled; past 5/8 (it cannot be, a table is faulted
     * in within cap / 15 new ids and moved within cap / 8), at once */
    if ((s->count + 1) * 2 > s->main.cap) {
        if (s->old.slots)
            move_old(s, SIZE_MAX, stream_time);
        if (!s->next.slots && (*err = prepare_next(s)))
            return false;
        if ((s->count + 1) * 8 > s->main.cap * 5) {
            flush_pending(s);
            touch_next(s, SIZE_MAX);
            switch_tables(s);
        }
    }
    if ((s->n_pending + 1) * 2 > s->pending_cap)
        upkeep(s, flush_pending(s), stream_time);
    e = find(s->pending, s->pending_cap, hash);
    e->hash = hash;
    e->ts = ts;
    s->n_pending++;
    s->count++;
    if (ts < s->min_ts)
        s->min_ts = ts;
    if (ts < s->lap_min)
        s->lap_min = ts;
    filter_add(filter_block(&s->main, hash), hash);
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
    const struct entry *from[3] = {store->main.slots, store->pending, store->old.slots};
    size_t n[3] = {store->main.cap, store->pending_cap, store->old.slots ? store->old.cap : 0};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++)
            if (from[t][i].hash)
                fn(ctx, from[t][i].hash, from[t][i].ts);
}
