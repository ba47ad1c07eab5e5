/*
 * Dedup store: duplicates within the event-time span are caught, expired ids
 * are forgotten, memory follows the live ids and not the input size.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "ops/dedup.h"

static bool seen(struct eddy_dedup_store *s, uint64_t id, int64_t ts, int64_t stream_time)
{
    eddy_err_t err;
    bool dup = eddy__dedup_seen(s, id, ts, stream_time, &err);
    cr_assert_eq(err, EDDY_OK);
    return dup;
}

Test(dedup, same_id_within_span_is_a_duplicate)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(600000, &s), EDDY_OK);
    cr_expect_not(seen(s, 42, 1000, 1000));
    cr_expect(seen(s, 42, 1000, 1000));
    cr_expect(seen(s, 42, 5000, 601000)); /* 600 s after the first: still within */
    cr_expect_not(seen(s, 43, 1000, 601000));
    eddy__dedup_free(s);
}

Test(dedup, id_older_than_span_is_forgotten)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    cr_expect_not(seen(s, 7, 0, 0));
    cr_expect_not(seen(s, 7, 1001, 1001)); /* first sighting expired at 1001 */
    cr_expect(seen(s, 7, 1500, 1500));     /* the second one is remembered */
    eddy__dedup_free(s);
}

Test(dedup, hash_zero_is_a_valid_id)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    cr_expect_not(seen(s, 0, 0, 0));
    cr_expect(seen(s, 0, 0, 0));
    eddy__dedup_free(s);
}

Test(dedup, memory_is_bounded_by_live_ids)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    /* one id per millisecond for 200 s: about 1000 live at any time */
    for (int64_t t = 0; t < 200000; t++)
        cr_assert_not(seen(s, (uint64_t)t * 0x9e3779b97f4a7c15ULL + 1, t, t));
    cr_expect_leq(eddy__dedup_size(s), 4096, "size %zu", eddy__dedup_size(s));
    eddy__dedup_free(s);
}

Test(dedup, every_id_is_found_wherever_it_is_kept)
{
    /* 100000 ids: the table rebuilds and grows several times, and new ids
     * wait in the pending table before they move to the main one; each
     * must be a duplicate afterwards, the last ones (still pending) and
     * the first ones alike */
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000000, &s), EDDY_OK);
    const uint64_t n = 100000;
    for (uint64_t i = 0; i < n; i++)
        cr_assert_not(seen(s, i * 0x9e3779b97f4a7c15ULL, (int64_t)i, (int64_t)i));
    cr_assert_eq(eddy__dedup_size(s), n);
    for (uint64_t i = n; i-- > 0;)
        cr_assert(seen(s, i * 0x9e3779b97f4a7c15ULL, (int64_t)n, (int64_t)n), "id %lu", i);
    cr_assert_eq(eddy__dedup_size(s), n);
    eddy__dedup_free(s);
}

Test(dedup, an_expired_id_is_new_again_in_either_table)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    /* 5000 ids at time 0 (most moved to the main table), then 10 more
     * (pending) */
    for (uint64_t i = 1; i <= 5010; i++)
        cr_assert_not(seen(s, i, 0, 0));
    cr_assert_eq(eddy__dedup_size(s), 5010);
    /* at 1001 all have expired: each is new again (re-timed in place, not
     * counted twice), then a duplicate */
    cr_assert_not(seen(s, 1, 1001, 1001));
    cr_assert_not(seen(s, 5010, 1001, 1001));
    cr_assert_eq(eddy__dedup_size(s), 5010);
    cr_assert(seen(s, 1, 1001, 1001));
    cr_assert(seen(s, 5010, 1001, 1001));
    cr_assert_not(seen(s, 2, 1001, 1001));
    eddy__dedup_free(s);
}

/* A reference: the last time of each id, an id being a duplicate while that
 * time is within the span of stream time. */
struct model {
    uint64_t *ids;
    int64_t *ts;
    size_t n;
};

static size_t model_find(const struct model *m, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->ids[i] == id)
            return i;
    return m->n;
}

static bool model_seen(struct model *m, uint64_t id, int64_t ts, int64_t stream_time,
                       int64_t within)
{
    size_t i = model_find(m, id);
    if (i < m->n && m->ts[i] >= stream_time - within)
        return true;
    if (i == m->n) {
        m->ids[m->n] = id;
        m->ts[m->n++] = ts;
    } else if (ts > m->ts[i]) {
        m->ts[i] = ts;
    }
    return false;
}

Test(dedup, sweeping_and_growing_agree_with_a_reference)
{
    /* 60000 records over 3000 ids, whose hashes share their low bits in
     * groups (long probe runs, runs wrapping around the table end), at a
     * stream time that moves 0-1 ms per record in bursts and 0-7 ms in
     * quiet spells, some records late: the live ids rise and fall, so the
     * table grows (1024 -> 2048 slots, 153 records looked up while the old
     * table is moved) and the sweep goes round it 95 times; every answer
     * must be the reference's */
    const int64_t within = 400;
    const size_t n_ids = 3000, n_records = 60000;
    uint64_t *ids = malloc(n_ids * sizeof *ids);
    struct model m = {malloc(n_ids * sizeof *m.ids), malloc(n_ids * sizeof *m.ts), 0};
    cr_assert(ids && m.ids && m.ts);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < n_ids; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* low 10 bits from 40 values (and a few at the end of the table) */
        uint64_t low = (i % 40) * 7 + (i % 7 == 0 ? 1015 : 0);
        ids[i] = (x & ~(uint64_t)1023) | (low & 1023);
    }
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(within, &s), EDDY_OK);
    int64_t stream_time = 0;
    size_t dups = 0;
    for (size_t r = 0; r < n_records; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* bursts of many ids and quiet spells of few */
        bool burst = (r / 5000) % 2 == 0;
        size_t id = (size_t)(x >> 20) % (burst ? n_ids : n_ids / 20);
        stream_time += (int64_t)(x >> 60) % (burst ? 2 : 8);
        int64_t ts = (x >> 50) % 10 == 0 ? stream_time - (int64_t)((x >> 30) % 600) : stream_time;
        if (ts < 0)
            ts = 0;
        bool want = model_seen(&m, ids[id], ts, stream_time, within);
        cr_assert_eq(seen(s, ids[id], ts, stream_time), want, "record %zu (id %zu, ts %lld)", r,
                     id, (long long)ts);
        dups += want;
    }
    cr_expect_gt(dups, 1000);
    cr_expect_lt(dups, n_records - 1000);
    /* after the last quiet spell the table holds few live ids */
    cr_expect_leq(eddy__dedup_size(s), 4096, "size %zu", eddy__dedup_size(s));
    eddy__dedup_free(s);
    free(ids);
    free(m.ids);
    free(m.ts);
}

Test(dedup, a_sweep_keeps_a_run_that_wraps_around_findable)
{
    /* 1024 slots, swept 8 slots per new id, a region (128 slots) at a time
     * when the pending table (128 slots) is flushed at 64 ids. 300 ids
     * whose homes are the last 8 slots and the first 8 form one run around
     * the end of the table, across the filter blocks of regions 7, 0, 1 and
     * 2; every other one expires. 150 fillers elsewhere then bring two
     * flushes: the sweep goes once round the table, removes the expired ids
     * from the run and makes each region's filter block anew from the ids
     * left. Every live id must still be found (through the filter too),
     * every expired one not */
    const int64_t within = 10;
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(within, &s), EDDY_OK);
    uint64_t run[300];
    for (uint64_t i = 0; i < 300; i++) {
        run[i] = ((i + 1) * 0x9e3779b97f4a7c15ULL & ~(uint64_t)1023) | ((1016 + i % 16) & 1023);
        cr_assert_not(seen(s, run[i], i % 2 ? 95 : 0, 0));
    }
    cr_assert_eq(eddy__dedup_size(s), 300);
    for (uint64_t i = 0; i < 150; i++)
        cr_assert_not(seen(s, (i + 7) * 0xc2b2ae3d27d4eb4fULL << 10 | (400 + i % 500), 100, 100));
    cr_expect_eq(eddy__dedup_size(s), 150 + 150);
    for (size_t i = 1; i < 300; i += 2)
        cr_expect(seen(s, run[i], 100, 100), "live id %zu lost", i);
    for (size_t i = 0; i < 300; i += 2)
        cr_expect_not(seen(s, run[i], 100, 100), "expired id %zu kept", i);
    eddy__dedup_free(s);
}

Test(dedup, every_id_is_found_while_the_table_grows)
{
    /* 80000 ids, every other one at random, the others with hashes that
     * share their low bits in groups (long probe runs, some around the
     * table end): the table grows from 1024 to 262144 slots, each time
     * moving the old table into the new one while lookups try both. Up to
     * 65536 slots a move is done at the next flush of the pending table;
     * past that (the pending table flushes 4096 ids at a time, owing 32768
     * slots of move) it takes several, 131072 -> 262144 four, from the
     * 65537th id on. Every 1000 new ids, every id so far must be a
     * duplicate (a move that stopped inside a run would lose the rest of
     * the run; a lookup skipping the old table, the ids not moved yet) */
    const size_t n = 80000;
    uint64_t *ids = malloc(n * sizeof *ids);
    cr_assert(ids);
    uint64_t x = 88172645463325252ULL;
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000000, &s), EDDY_OK);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t low = (i % 40) * 7 + (i % 7 == 0 ? 1015 : 0);
        ids[i] = i % 2 ? x : (x & ~(uint64_t)1023) | (low & 1023);
        cr_assert_not(seen(s, ids[i], 0, 0), "id %zu", i);
        if ((i + 1) % 1000 && i + 1 < n)
            continue;
        for (size_t j = 0; j <= i; j++)
            cr_assert(seen(s, ids[j], 0, 0), "id %zu lost after %zu ids", j, i + 1);
    }
    cr_expect_eq(eddy__dedup_size(s), n);
    eddy__dedup_free(s);
    free(ids);
}

Test(dedup, the_sweep_runs_while_any_id_may_have_expired)
{
    /* The sweep is skipped while no id can have expired (the least time
     * kept, as of the last lap, is within the span), so it must count the
     * ids a lap keeps, not only those it puts. 1024 slots, a lap every 128
     * new ids. 50 ids at 0, 100 at 500; at 1001 the first 50 have expired:
     * 200 new ids bring a lap that removes them and keeps the 100 (least
     * time 500). At 1600 those have expired too: 200 new ids must bring a
     * lap that removes them */
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    uint64_t id = 0;
    for (int i = 0; i < 50; i++)
        cr_assert_not(seen(s, ++id * 0x9e3779b97f4a7c15ULL, 0, 0));
    for (int i = 0; i < 100; i++)
        cr_assert_not(seen(s, ++id * 0x9e3779b97f4a7c15ULL, 500, 500));
    for (int i = 0; i < 200; i++)
        cr_assert_not(seen(s, ++id * 0x9e3779b97f4a7c15ULL, 1001, 1001));
    cr_expect_eq(eddy__dedup_size(s), 100 + 200);
    for (int i = 0; i < 200; i++)
        cr_assert_not(seen(s, ++id * 0x9e3779b97f4a7c15ULL, 1600, 1600));
    cr_expect_eq(eddy__dedup_size(s), 200 + 200);
    eddy__dedup_free(s);
}

Test(dedup, allocation_failure_is_reported_not_fatal)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000000, &s), EDDY_OK);
    eddy_err_t err = EDDY_OK;
    int failures = 0;
    for (uint64_t id = 1; id < 2000; id++) {
        if (id == 513) /* the insert that grows the table */
            eddy_alloc_fail_at(1);
        eddy__dedup_seen(s, id, 0, 0, &err);
        failures += err == EDDY_ENOMEM;
    }
    eddy_alloc_fail_at(0);
    cr_expect_eq(failures, 1);
    eddy__dedup_free(s);
}

/* ---- persistence: one segment per changes call ---- */

struct rec {
    unsigned char key[16], value[256];
    size_t klen, vlen;
    bool del;
};

struct recs {
    struct rec r[16];
    size_t n;
};

static eddy_err_t rec_put(void *ctx, const void *key, size_t klen, const void *value,
                          size_t vlen)
{
    struct recs *rs = ctx;
    cr_assert(rs->n < 16 && klen <= 16 && vlen <= 256);
    struct rec *r = &rs->r[rs->n++];
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->del = value == NULL;
    if (value)
        memcpy(r->value, value, vlen);
    r->vlen = value ? vlen : 0;
    return EDDY_OK;
}

Test(dedup, segments_persist_and_expire)
{
    struct eddy_dedup_store *s;
    eddy_err_t err;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    struct recs rs = {.n = 0};
    struct eddy_dedup_changes ch = {rec_put, &rs};
    cr_assert_eq(eddy__dedup_changes(s, 0, &ch), EDDY_OK); /* starts recording */
    cr_assert_eq(rs.n, 0);
    cr_assert(!eddy__dedup_seen(s, 11, 100, 100, &err));
    cr_assert(!eddy__dedup_seen(s, 22, 200, 200, &err));
    cr_assert(eddy__dedup_seen(s, 11, 250, 250, &err));
    cr_assert_eq(eddy__dedup_changes(s, 250, &ch), EDDY_OK);
    /* one segment: 'S' + seq 0 big-endian, two 16-byte entries */
    cr_assert_eq(rs.n, 1);
    static const unsigned char key0[9] = {'S', 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(rs.r[0].klen, 9);
    cr_assert_eq(memcmp(rs.r[0].key, key0, 9), 0);
    cr_assert_eq(rs.r[0].vlen, 32);
    uint64_t h;
    int64_t ts;
    memcpy(&h, rs.r[0].value, 8);
    memcpy(&ts, rs.r[0].value + 8, 8);
    cr_assert(h == 11 && ts == 100);
    memcpy(&h, rs.r[0].value + 16, 8);
    memcpy(&ts, rs.r[0].value + 24, 8);
    cr_assert(h == 22 && ts == 200);
    struct rec seg0 = rs.r[0];
    /* a later id: segment 1; nothing new: no segment */
    rs.n = 0;
    cr_assert(!eddy__dedup_seen(s, 33, 900, 900, &err));
    cr_assert_eq(eddy__dedup_changes(s, 900, &ch), EDDY_OK);
    cr_assert_eq(eddy__dedup_changes(s, 900, &ch), EDDY_OK);
    cr_assert_eq(rs.n, 1);
    cr_assert_eq(rs.r[0].key[8], 1);
    struct rec seg1 = rs.r[0];
    /* a fresh store loads both segments and a format-1 id, continues the
     * sequence after the largest, and knows the ids */
    struct eddy_dedup_store *t;
    cr_assert_eq(eddy__dedup_new(1000, &t), EDDY_OK);
    uint64_t old_hash = 44;
    int64_t old_ts = 950;
    cr_assert_eq(eddy__dedup_load(t, seg0.key, 9, seg0.value, seg0.vlen, 950), EDDY_OK);
    cr_assert_eq(eddy__dedup_load(t, seg1.key, 9, seg1.value, seg1.vlen, 950), EDDY_OK);
    cr_assert_eq(eddy__dedup_load(t, &old_hash, 8, &old_ts, 8, 950), EDDY_OK);
    cr_assert_eq(eddy__dedup_load(t, "X", 1, "", 0, 950), EDDY_EPARSE);
    cr_assert_eq(eddy__dedup_load(t, seg0.key, 9, seg0.value, 31, 950), EDDY_EPARSE);
    cr_assert(eddy__dedup_seen(t, 22, 950, 950, &err));
    cr_assert(eddy__dedup_seen(t, 33, 950, 950, &err));
    cr_assert(eddy__dedup_seen(t, 44, 950, 950, &err));
    rs.n = 0;
    cr_assert_eq(eddy__dedup_changes(t, 950, &ch), EDDY_OK); /* starts recording */
    cr_assert_eq(rs.n, 0);
    /* at 1250 segment 0 (newest id 200) has expired: deleted; at 2000 all */
    cr_assert(!eddy__dedup_seen(t, 55, 1250, 1250, &err));
    cr_assert_eq(eddy__dedup_changes(t, 1250, &ch), EDDY_OK);
    cr_assert_eq(rs.n, 2);
    cr_assert(!rs.r[0].del && rs.r[0].key[8] == 2); /* the new segment: seq 2 */
    cr_assert(rs.r[1].del && rs.r[1].klen == 9 && rs.r[1].key[8] == 0);
    rs.n = 0;
    cr_assert_eq(eddy__dedup_changes(t, 3000, &ch), EDDY_OK);
    cr_assert_eq(rs.n, 3); /* segments 1 and 2, and the format-1 id */
    cr_assert(rs.r[0].del && rs.r[0].key[8] == 1);
    cr_assert(rs.r[1].del && rs.r[1].key[8] == 2);
    cr_assert(rs.r[2].del && rs.r[2].klen == 8 && memcmp(rs.r[2].key, &old_hash, 8) == 0);
    eddy__dedup_free(s);
    eddy__dedup_free(t);
}

/* A commit with more ids than one segment holds writes several, each at
 * most 8192 ids (128 KB: a broker's default message limit is 1 MB). */
struct seg_lens {
    size_t len[8];
    size_t n;
};

static eddy_err_t seg_put(void *ctx, const void *key, size_t klen, const void *value,
                          size_t vlen)
{
    struct seg_lens *sl = ctx;
    cr_assert(sl->n < 8 && klen == 9 && value);
    sl->len[sl->n++] = vlen;
    return EDDY_OK;
}

Test(dedup, large_commits_split_into_segments)
{
    struct eddy_dedup_store *s;
    eddy_err_t err;
    cr_assert_eq(eddy__dedup_new(1000000, &s), EDDY_OK);
    struct seg_lens sl = {.n = 0};
    struct eddy_dedup_changes ch = {seg_put, &sl};
    cr_assert_eq(eddy__dedup_changes(s, 0, &ch), EDDY_OK);
    for (uint64_t id = 1; id <= 20000; id++)
        cr_assert(!eddy__dedup_seen(s, id * 0x9e3779b97f4a7c15ULL, 100, 100, &err));
    cr_assert_eq(eddy__dedup_changes(s, 100, &ch), EDDY_OK);
    cr_assert_eq(sl.n, 3);
    cr_assert_eq(sl.len[0], 8192 * 16);
    cr_assert_eq(sl.len[1], 8192 * 16);
    cr_assert_eq(sl.len[2], (20000 - 2 * 8192) * 16);
    eddy__dedup_free(s);
}
