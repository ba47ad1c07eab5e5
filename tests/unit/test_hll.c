/*
 * test_hll.c - exact mode, measured accuracy, merge, encoding and allocation
 * failure of the HyperLogLog sketch (src/agg/hll.h). Items are the integers
 * [first, first + n), hashed with eddy_hash64 under a per-run seed.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/hll.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"

static uint64_t item_hash(uint64_t item, uint64_t seed)
{
    return eddy_hash64(&item, sizeof item, seed);
}

static void add_range(struct eddy_hll *h, uint64_t first, uint64_t n, uint64_t seed)
{
    for (uint64_t i = first; i < first + n; i++)
        cr_assert_eq(eddy_hll_add_hash(h, item_hash(i, seed)), EDDY_OK);
}

static struct eddy_hll *sketch_of(uint64_t first, uint64_t n, uint64_t seed)
{
    struct eddy_hll *h = eddy_hll_new();
    cr_assert_not_null(h);
    add_range(h, first, n, seed);
    return h;
}

static void encode(const struct eddy_hll *h, struct eddy_buf *out)
{
    eddy_buf_init(out);
    cr_assert_eq(eddy_hll_encode(h, out), EDDY_OK);
}

static void assert_same_bytes(const struct eddy_hll *a, const struct eddy_hll *b)
{
    struct eddy_buf ea, eb;
    encode(a, &ea);
    encode(b, &eb);
    cr_assert_eq(ea.len, eb.len);
    cr_assert_arr_eq(ea.data, eb.data, ea.len);
    eddy_buf_release(&ea);
    eddy_buf_release(&eb);
}

Test(hll, small_sets_are_counted_exactly)
{
    const uint64_t sizes[] = {0, 1, 2, 100, 256};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct eddy_hll *h = sketch_of(0, sizes[k], 7);
        add_range(h, 0, sizes[k], 7); /* duplicates do not count */
        cr_assert(eddy_hll_is_exact(h));
        cr_assert_eq(eddy_hll_estimate(h), sizes[k]);
        cr_assert_eq(eddy_hll_std_error(h), 0.0);
        eddy_hll_free(h);
    }
    eddy_hll_free(NULL);
}

Test(hll, the_257th_distinct_item_turns_the_sketch_dense)
{
    struct eddy_hll *h = sketch_of(0, 256, 8);
    cr_assert_eq(eddy_hll_memory(h), eddy_hll_memory(h)); /* stable */
    cr_assert_eq(eddy_hll_add_hash(h, item_hash(255, 8)), EDDY_OK);
    cr_assert(eddy_hll_is_exact(h));
    cr_assert_eq(eddy_hll_add_hash(h, item_hash(256, 8)), EDDY_OK);
    cr_assert_not(eddy_hll_is_exact(h));
    cr_assert_eq(eddy_hll_std_error(h), 1.04 / 128);
    cr_assert_geq(eddy_hll_memory(h), 16384);
    uint64_t est = eddy_hll_estimate(h);
    cr_assert(est >= 247 && est <= 267, "estimate %lu for 257", (unsigned long)est);
    eddy_hll_free(h);
}

static double rel_error(uint64_t n, uint64_t seed)
{
    struct eddy_hll *h = sketch_of(seed * 10000000ULL, n, seed);
    double err = ((double)eddy_hll_estimate(h) - (double)n) / (double)n;
    eddy_hll_free(h);
    return err;
}

Test(hll, measured_error_matches_the_documented_standard_error)
{
    const uint64_t sizes[] = {1000, 10000, 100000, 1000000};
    const int runs[] = {24, 24, 24, 4};
    for (size_t k = 0; k < 4; k++) {
        double sq = 0, worst = 0;
        for (int r = 0; r < runs[k]; r++) {
            double e = rel_error(sizes[k], 1000 + (uint64_t)r);
            sq += e * e;
            worst = fabs(e) > worst ? fabs(e) : worst;
            cr_assert_leq(fabs(e), 0.04, "n=%lu run %d: relative error %g", (unsigned long)sizes[k],
                          r, e);
        }
        double rms = sqrt(sq / runs[k]);
        fprintf(stderr, "hll n=%lu runs=%d rms=%.4f%% worst=%.4f%%\n", (unsigned long)sizes[k],
                runs[k], 100 * rms, 100 * worst);
        if (sizes[k] == 100000)
            cr_assert_leq(rms, 0.012, "rms relative error %g at 100k", rms);
    }
}

/* A and B overlap on [a_first + a_n - overlap, ...). */
static void check_merge(uint64_t a_n, uint64_t b_n, uint64_t overlap, bool want_exact)
{
    uint64_t seed = 42, b_first = a_n - overlap;
    struct eddy_hll *a = sketch_of(0, a_n, seed), *b = sketch_of(b_first, b_n, seed);
    struct eddy_hll *all = sketch_of(0, b_first + b_n, seed);
    struct eddy_hll *ba = sketch_of(b_first, b_n, seed);
    cr_assert_eq(eddy_hll_merge(a, b), EDDY_OK);
    cr_assert_eq(eddy_hll_merge(ba, a), EDDY_OK); /* b u (a u b), other order */
    assert_same_bytes(a, all);
    assert_same_bytes(ba, all);
    cr_assert_eq(eddy_hll_is_exact(a), want_exact);
    cr_assert_eq(eddy_hll_estimate(a), eddy_hll_estimate(all));
    if (want_exact)
        cr_assert_eq(eddy_hll_estimate(a), b_first + b_n);
    eddy_hll_free(a);
    eddy_hll_free(b);
    eddy_hll_free(all);
    eddy_hll_free(ba);
}

Test(hll, merge_of_two_exact_sets_that_fit_stays_exact)
{
    check_merge(100, 100, 50, true);
    check_merge(200, 56, 0, true);
    check_merge(0, 10, 0, true);
    check_merge(10, 0, 0, true);
    check_merge(100, 100, 100, true);
}

Test(hll, merge_of_two_exact_sets_that_do_not_fit_turns_dense)
{
    check_merge(200, 200, 100, false);
    check_merge(256, 1, 0, false);
}

Test(hll, merge_of_exact_and_dense_in_both_orders)
{
    check_merge(100, 5000, 50, false);
    check_merge(5000, 100, 50, false);
}

Test(hll, merge_of_two_dense_sketches_is_the_register_wise_max)
{
    check_merge(30000, 50000, 10000, false);
}

Test(hll, merge_is_exactly_the_union_at_any_cardinality)
{
    for (uint64_t n = 250; n < 270; n++)
        check_merge(n / 2, n - n / 2 + 3, 3, n <= 256);
}

static void check_round_trip(const struct eddy_hll *h)
{
    struct eddy_buf e1, e2;
    struct eddy_hll *back = NULL;
    size_t used = 0;
    encode(h, &e1);
    eddy_buf_append(&e1, "xyz", 3);
    cr_assert_eq(eddy_hll_decode(&back, (const uint8_t *)e1.data, e1.len, &used), EDDY_OK);
    cr_assert_eq(used, e1.len - 3);
    encode(back, &e2);
    cr_assert_eq(e2.len, used);
    cr_assert_arr_eq(e1.data, e2.data, used);
    cr_assert_eq(eddy_hll_estimate(back), eddy_hll_estimate(h));
    cr_assert_eq(eddy_hll_is_exact(back), eddy_hll_is_exact(h));
    /* the decoded sketch keeps working */
    cr_assert_eq(eddy_hll_add_hash(back, item_hash(123456789, 1)), EDDY_OK);
    eddy_buf_release(&e1);
    eddy_buf_release(&e2);
    eddy_hll_free(back);
}

Test(hll, encode_decode_round_trip)
{
    const uint64_t sizes[] = {0, 1, 3, 256, 257, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct eddy_hll *h = sketch_of(0, sizes[k], 3);
        check_round_trip(h);
        eddy_hll_free(h);
    }
    struct eddy_hll *h = eddy_hll_new();
    eddy_hll_add_hash(h, 0);
    eddy_hll_add_hash(h, UINT64_MAX);
    check_round_trip(h);
    struct eddy_buf e;
    encode(h, &e);
    cr_assert_eq(e.len, 2 + 1 + 1 + 10);
    eddy_buf_release(&e);
    eddy_hll_free(h);
}

Test(hll, dense_encoding_packs_six_bits_per_register)
{
    struct eddy_hll *h = eddy_hll_new();
    for (uint64_t i = 0; i < 300; i++)
        eddy_hll_add_hash(h, i << 50 | 1); /* register i: rank 50 */
    eddy_hll_add_hash(h, 3ULL << 50);      /* register 3: rank 51 */
    struct eddy_buf e;
    encode(h, &e);
    cr_assert_eq(e.len, 2 + 12288);
    const uint8_t *p = (const uint8_t *)e.data + 2;
    uint32_t word = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    cr_assert_eq(word, 50u | 50u << 6 | 50u << 12 | 51u << 18);
    eddy_buf_release(&e);
    eddy_hll_free(h);
}

Test(hll, decode_rejects_truncation_and_garbage)
{
    struct eddy_hll *small = sketch_of(0, 40, 5), *big = sketch_of(0, 1000, 5);
    struct eddy_hll *sketches[] = {small, big};
    for (int s = 0; s < 2; s++) {
        struct eddy_buf e;
        encode(sketches[s], &e);
        for (size_t len = 0; len < e.len; len++) {
            struct eddy_hll *back = NULL;
            size_t used;
            cr_assert_eq(eddy_hll_decode(&back, (const uint8_t *)e.data, len, &used), EDDY_EPARSE,
                         "prefix of %zu bytes", len);
            cr_assert_null(back);
        }
        /* mutations: rejected, or a sketch that re-encodes to the same bytes */
        uint8_t *m = malloc(e.len);
        uint64_t state = 77;
        int rejected = 0;
        for (int round = 0; round < 1000; round++) {
            memcpy(m, e.data, e.len);
            state = eddy_hash_mix64(state + 1);
            size_t at = state % e.len;
            m[at] = (uint8_t)(state >> 32);
            struct eddy_hll *back = NULL;
            size_t used = 0;
            eddy_err_t err = eddy_hll_decode(&back, m, e.len, &used);
            if (err) {
                cr_assert_eq(err, EDDY_EPARSE);
                rejected++;
                continue;
            }
            struct eddy_buf again;
            encode(back, &again);
            cr_assert_eq(again.len, used);
            cr_assert_arr_eq(again.data, m, used);
            eddy_buf_release(&again);
            eddy_hll_free(back);
        }
        cr_assert_gt(rejected, 100);
        free(m);
        eddy_buf_release(&e);
    }
    const uint8_t bad_version[] = {2, 0, 0};
    const uint8_t bad_mode[] = {1, 2, 0};
    const uint8_t too_many[] = {1, 0, 0x81, 0x02};   /* n = 257 */
    const uint8_t not_ascending[] = {1, 0, 2, 5, 0}; /* delta 0 */
    const uint8_t wraps[] = {1,    0,    2,    0xfe, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2}; /* max-1, +2 */
    uint8_t big_register[2 + 12288] = {1, 1, 52};                    /* register 0 = 52 */
    struct eddy_hll *back = NULL;
    size_t used;
    cr_assert_eq(eddy_hll_decode(&back, bad_version, 3, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_hll_decode(&back, bad_mode, 3, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_hll_decode(&back, too_many, 4, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_hll_decode(&back, not_ascending, 5, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_hll_decode(&back, wraps, sizeof wraps, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_hll_decode(&back, big_register, sizeof big_register, &used), EDDY_EPARSE);
    big_register[2] = 51;
    cr_assert_eq(eddy_hll_decode(&back, big_register, sizeof big_register, &used), EDDY_OK);
    cr_assert_eq(used, sizeof big_register);
    eddy_hll_free(back);
    eddy_hll_free(small);
    eddy_hll_free(big);
}

Test(hll, allocation_failure_leaves_the_sketch_unchanged)
{
    eddy_alloc_fail_at(1);
    cr_assert_null(eddy_hll_new());
    struct eddy_hll *h = sketch_of(0, 256, 9);
    eddy_alloc_fail_at(1);
    cr_assert_eq(eddy_hll_add_hash(h, item_hash(256, 9)), EDDY_ENOMEM);
    cr_assert(eddy_hll_is_exact(h));
    cr_assert_eq(eddy_hll_estimate(h), 256);
    struct eddy_hll *other = sketch_of(1000, 10, 9), *dense = sketch_of(0, 1000, 9);
    for (int k = 0; k < 2; k++) {
        eddy_alloc_fail_at(1);
        cr_assert_eq(eddy_hll_merge(h, k ? dense : other), EDDY_ENOMEM);
        cr_assert(eddy_hll_is_exact(h));
        cr_assert_eq(eddy_hll_estimate(h), 256);
    }
    struct eddy_hll *tiny = sketch_of(0, 4, 9);
    eddy_alloc_fail_at(1);
    cr_assert_eq(eddy_hll_merge(tiny, other), EDDY_ENOMEM); /* union of 14 */
    cr_assert_eq(eddy_hll_estimate(tiny), 4);
    eddy_alloc_fail_at(0);
    cr_assert_eq(eddy_hll_merge(tiny, other), EDDY_OK);
    cr_assert_eq(eddy_hll_estimate(tiny), 14);
    /* decode: the struct, then the array */
    struct eddy_buf e;
    encode(h, &e);
    for (unsigned long nth = 1; nth <= 2; nth++) {
        struct eddy_hll *back = (void *)1;
        size_t used;
        eddy_alloc_fail_at(nth);
        cr_assert_eq(eddy_hll_decode(&back, (const uint8_t *)e.data, e.len, &used), EDDY_ENOMEM);
        cr_assert_null(back);
    }
    eddy_alloc_fail_at(0);
    eddy_buf_release(&e);
    eddy_hll_free(h);
    eddy_hll_free(other);
    eddy_hll_free(dense);
    eddy_hll_free(tiny);
}
