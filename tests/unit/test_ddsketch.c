/*
 * test_ddsketch.c - accuracy, merge, encoding and collapse of the DDSketch
 * (src/agg/ddsketch.h). The reference for every quantile is the exact
 * rank-floor(q*(n-1)) element of the sorted input.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agg/ddsketch.h"
#include "agg/varint.h"
#include "core/alloc.h"
#include "core/buf.h"

static const double QS[] = {0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1};
#define N_QS (sizeof QS / sizeof QS[0])

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(2.0 * M_PI * rng_unit());
}

enum dist { UNIFORM, LATENCY, PARETO, SIGNED, CONSTANT, INTEGERS, ZEROS };

static void generate(enum dist d, double *xs, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        switch (d) {
        case UNIFORM: xs[i] = rng_unit() * 1000.0; break;
        case LATENCY: {
            double ms = exp(log(100.0) + 1.5 * rng_normal());
            xs[i] = ms < 1.0 ? 1.0 : ms > 10000.0 ? 10000.0 : ms;
            break;
        }
        case PARETO: xs[i] = 1.0 / pow(rng_unit(), 1.0 / 1.5); break;
        case SIGNED: xs[i] = 100.0 * rng_normal(); break;
        case CONSTANT: xs[i] = 42.5; break;
        case INTEGERS: xs[i] = (double)(1 + rng_next() % 1000); break;
        case ZEROS: xs[i] = (i % 3 == 0) ? 0.0 : (i % 3 == 1 ? 1e-12 : -5.0); break;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double exact_quantile(double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
}

static struct eddy_ddsketch *sketch_of(const double *xs, size_t n)
{
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(eddy_ddsketch_add(s, xs[i]), EDDY_OK);
    return s;
}

static void encode(const struct eddy_ddsketch *s, struct eddy_buf *out)
{
    eddy_buf_init(out);
    cr_assert_eq(eddy_ddsketch_encode(s, out), EDDY_OK);
}

static void check_accuracy(enum dist d, size_t n, uint64_t seed)
{
    double *xs = malloc(n * sizeof *xs);
    generate(d, xs, n, seed);
    struct eddy_ddsketch *s = sketch_of(xs, n);
    qsort(xs, n, sizeof *xs, cmp_double);
    cr_assert_eq(eddy_ddsketch_count(s), n);
    cr_assert_not(eddy_ddsketch_collapsed(s));
    for (size_t k = 0; k < N_QS; k++) {
        double exact = exact_quantile(xs, n, QS[k]);
        double est = eddy_ddsketch_quantile(s, QS[k]);
        cr_assert_leq(fabs(est - exact), 0.01 * fabs(exact),
                      "dist %d q=%g: estimate %.17g, exact %.17g", d, QS[k], est, exact);
    }
    cr_assert_eq(eddy_ddsketch_quantile(s, 0), xs[0]);
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), xs[n - 1]);
    eddy_ddsketch_free(s);
    free(xs);
}

Test(ddsketch, quantiles_of_uniform_data_are_within_one_percent)
{
    check_accuracy(UNIFORM, 50000, 1);
}

Test(ddsketch, quantiles_of_latency_like_lognormal_data_are_within_one_percent)
{
    check_accuracy(LATENCY, 50000, 2);
    check_accuracy(LATENCY, 1000, 3);
}

Test(ddsketch, quantiles_of_pareto_data_are_within_one_percent)
{
    check_accuracy(PARETO, 50000, 4);
}

Test(ddsketch, quantiles_of_signed_data_are_within_one_percent)
{
    check_accuracy(SIGNED, 50000, 5);
}

Test(ddsketch, quantiles_of_constant_data_are_exact)
{
    check_accuracy(CONSTANT, 1000, 6);
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    for (int i = 0; i < 10; i++)
        eddy_ddsketch_add(s, 42.5);
    for (size_t k = 0; k < N_QS; k++)
        cr_assert_eq(eddy_ddsketch_quantile(s, QS[k]), 42.5);
    eddy_ddsketch_free(s);
}

Test(ddsketch, quantiles_of_integers_on_bin_boundaries_are_within_one_percent)
{
    check_accuracy(INTEGERS, 20000, 7);
}

Test(ddsketch, tiny_values_count_as_zero_between_negatives_and_positives)
{
    double xs[] = {-5.0, 0.0, 1e-12, -1e-10, 3.0, 3.0};
    struct eddy_ddsketch *s = sketch_of(xs, 6);
    /* sorted: -5, -1e-10, 0, 1e-12, 3, 3; the three tiny ones are zeros */
    cr_assert_eq(eddy_ddsketch_quantile(s, 0), -5.0);
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.2), 0.0);               /* rank 1 */
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.5), 0.0);               /* rank 2 */
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.6), 0.0);               /* rank 3 */
    cr_assert_leq(fabs(eddy_ddsketch_quantile(s, 0.8) - 3.0), 0.03); /* rank 4 */
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), 3.0);
    eddy_ddsketch_free(s);
}

Test(ddsketch, rank_is_the_lower_one)
{
    double xs[] = {10, 20, 30, 40};
    struct eddy_ddsketch *s = sketch_of(xs, 4);
    /* q = 0.5: rank floor(0.5 * 3) = 1 -> 20; q = 0.66: rank 1; q = 0.67: rank 2 */
    cr_assert_leq(fabs(eddy_ddsketch_quantile(s, 0.5) - 20), 0.2);
    cr_assert_leq(fabs(eddy_ddsketch_quantile(s, 0.66) - 20), 0.2);
    cr_assert_leq(fabs(eddy_ddsketch_quantile(s, 0.67) - 30), 0.3);
    eddy_ddsketch_free(s);
}

Test(ddsketch, empty_sketch_and_invalid_input)
{
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    cr_assert_eq(eddy_ddsketch_count(s), 0);
    cr_assert(isnan(eddy_ddsketch_quantile(s, 0.5)));
    cr_assert_eq(eddy_ddsketch_add(s, NAN), EDDY_EINVAL);
    cr_assert_eq(eddy_ddsketch_add(s, INFINITY), EDDY_EINVAL);
    cr_assert_eq(eddy_ddsketch_add(s, -INFINITY), EDDY_EINVAL);
    cr_assert_eq(eddy_ddsketch_count(s), 0);
    cr_assert_eq(eddy_ddsketch_add(s, 7.0), EDDY_OK);
    cr_assert(isnan(eddy_ddsketch_quantile(s, -0.1)));
    cr_assert(isnan(eddy_ddsketch_quantile(s, 1.1)));
    cr_assert(isnan(eddy_ddsketch_quantile(s, NAN)));
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.5), 7.0);
    eddy_ddsketch_free(s);
    eddy_ddsketch_free(NULL);
}

static void check_merge_equals_union(enum dist d, size_t na, size_t nb, uint64_t seed)
{
    double *xs = malloc((na + nb) * sizeof *xs);
    generate(d, xs, na + nb, seed);
    struct eddy_ddsketch *a = sketch_of(xs, na), *b = sketch_of(xs + na, nb);
    struct eddy_ddsketch *all = sketch_of(xs, na + nb);
    cr_assert_eq(eddy_ddsketch_merge(a, b), EDDY_OK);
    struct eddy_buf ea, eall;
    encode(a, &ea);
    encode(all, &eall);
    cr_assert_eq(ea.len, eall.len);
    cr_assert_arr_eq(ea.data, eall.data, ea.len);
    for (size_t k = 0; k < N_QS; k++)
        cr_assert_eq(eddy_ddsketch_quantile(a, QS[k]), eddy_ddsketch_quantile(all, QS[k]));
    cr_assert_eq(eddy_ddsketch_count(a), na + nb);
    eddy_buf_release(&ea);
    eddy_buf_release(&eall);
    eddy_ddsketch_free(a);
    eddy_ddsketch_free(b);
    eddy_ddsketch_free(all);
    free(xs);
}

Test(ddsketch, merge_gives_the_same_bytes_as_the_union)
{
    check_merge_equals_union(LATENCY, 3000, 7000, 10);
    check_merge_equals_union(SIGNED, 5000, 5000, 11);
    check_merge_equals_union(PARETO, 10, 9000, 12);
    check_merge_equals_union(ZEROS, 7, 5, 13);
    check_merge_equals_union(UNIFORM, 0, 100, 14);
    check_merge_equals_union(UNIFORM, 100, 0, 15);
}

Test(ddsketch, merge_of_disjoint_ranges_recenters_the_store)
{
    /* a holds only large values, b only small ones: dst grows downwards */
    double big[] = {5000, 6000, 7000}, small[] = {0.5, 0.25};
    struct eddy_ddsketch *a = sketch_of(big, 3), *b = sketch_of(small, 2);
    cr_assert_eq(eddy_ddsketch_merge(a, b), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_quantile(a, 0), 0.25);
    cr_assert_leq(fabs(eddy_ddsketch_quantile(a, 0.25) - 0.5), 0.005); /* rank 1 */
    cr_assert_leq(fabs(eddy_ddsketch_quantile(a, 0.5) - 5000), 50);    /* rank 2 */
    cr_assert_eq(eddy_ddsketch_quantile(a, 1), 7000);
    eddy_ddsketch_free(a);
    eddy_ddsketch_free(b);
}

Test(ddsketch, encode_decode_round_trip)
{
    enum dist dists[] = {UNIFORM, LATENCY, PARETO, SIGNED, CONSTANT, ZEROS};
    for (size_t k = 0; k < sizeof dists / sizeof dists[0]; k++) {
        double xs[2000];
        generate(dists[k], xs, 2000, 20 + k);
        struct eddy_ddsketch *s = sketch_of(xs, 2000), *back = NULL;
        struct eddy_buf e1, e2;
        encode(s, &e1);
        eddy_buf_append(&e1, "tail", 4); /* trailing bytes are the caller's */
        size_t used = 0;
        cr_assert_eq(eddy_ddsketch_decode(&back, (const uint8_t *)e1.data, e1.len, &used), EDDY_OK);
        cr_assert_eq(used, e1.len - 4);
        encode(back, &e2);
        cr_assert_eq(e2.len, used);
        cr_assert_arr_eq(e1.data, e2.data, used);
        for (size_t j = 0; j < N_QS; j++)
            cr_assert_eq(eddy_ddsketch_quantile(s, QS[j]), eddy_ddsketch_quantile(back, QS[j]));
        /* a decoded sketch keeps working */
        cr_assert_eq(eddy_ddsketch_add(back, 1e6), EDDY_OK);
        cr_assert_eq(eddy_ddsketch_quantile(back, 1), 1e6);
        eddy_buf_release(&e1);
        eddy_buf_release(&e2);
        eddy_ddsketch_free(s);
        eddy_ddsketch_free(back);
    }
}

Test(ddsketch, empty_sketch_encodes_to_five_bytes)
{
    struct eddy_ddsketch *s = eddy_ddsketch_new(), *back = NULL;
    struct eddy_buf e;
    encode(s, &e);
    cr_assert_eq(e.len, 5);
    const uint8_t expect[] = {1, 0, 0, 0, 0};
    cr_assert_arr_eq(e.data, expect, 5);
    size_t used;
    cr_assert_eq(eddy_ddsketch_decode(&back, expect, 5, &used), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_count(back), 0);
    eddy_buf_release(&e);
    eddy_ddsketch_free(s);
    eddy_ddsketch_free(back);
}

Test(ddsketch, decode_rejects_every_truncation)
{
    double xs[500];
    generate(SIGNED, xs, 500, 30);
    struct eddy_ddsketch *s = sketch_of(xs, 500), *back = NULL;
    struct eddy_buf e;
    encode(s, &e);
    for (size_t len = 0; len < e.len; len++) {
        size_t used = 0;
        cr_assert_eq(eddy_ddsketch_decode(&back, (const uint8_t *)e.data, len, &used), EDDY_EPARSE,
                     "prefix of %zu bytes", len);
        cr_assert_null(back);
    }
    eddy_buf_release(&e);
    eddy_ddsketch_free(s);
}

Test(ddsketch, decode_of_mutated_bytes_fails_or_yields_a_canonical_sketch)
{
    double xs[300];
    generate(LATENCY, xs, 300, 31);
    struct eddy_ddsketch *s = sketch_of(xs, 300);
    struct eddy_buf e;
    encode(s, &e);
    uint8_t *m = malloc(e.len);
    rng_state = 99;
    int rejected = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(m, e.data, e.len);
        int flips = 1 + (int)(rng_next() % 3);
        for (int f = 0; f < flips; f++)
            m[rng_next() % e.len] = (uint8_t)rng_next();
        struct eddy_ddsketch *back = NULL;
        size_t used = 0;
        eddy_err_t err = eddy_ddsketch_decode(&back, m, e.len, &used);
        if (err) {
            cr_assert_eq(err, EDDY_EPARSE);
            cr_assert_null(back);
            rejected++;
            continue;
        }
        /* accepted: it must be a consistent sketch that re-encodes identically */
        struct eddy_buf again;
        encode(back, &again);
        cr_assert_eq(again.len, used);
        cr_assert_arr_eq(again.data, m, used);
        double lo = eddy_ddsketch_quantile(back, 0), hi = eddy_ddsketch_quantile(back, 1);
        double mid = eddy_ddsketch_quantile(back, 0.5);
        cr_assert(lo <= mid && mid <= hi);
        eddy_buf_release(&again);
        eddy_ddsketch_free(back);
    }
    cr_assert_gt(rejected, 1000);
    /* garbage that is not derived from a sketch */
    for (int round = 0; round < 2000; round++) {
        uint8_t g[64];
        size_t n = 1 + rng_next() % sizeof g;
        for (size_t i = 0; i < n; i++)
            g[i] = (uint8_t)rng_next();
        g[0] = 1; /* the version byte, to get further in */
        struct eddy_ddsketch *back = NULL;
        size_t used;
        if (eddy_ddsketch_decode(&back, g, n, &used) == EDDY_OK)
            cr_assert_leq(used, n);
        eddy_ddsketch_free(back);
    }
    const uint8_t bad_version[] = {2, 0, 0, 0, 0};
    const uint8_t bad_flags[] = {1, 4, 0, 0, 0};
    const uint8_t zero_first_bin[] = {1, 0, 0, 2, 0, 0, 1, 0};
    const uint8_t too_many_bins[] = {1, 0, 0, 0x81, 0x10, 0};
    const uint8_t overlong[] = {1, 0, 0x80, 0x00, 0, 0};
    struct eddy_ddsketch *back = NULL;
    size_t used;
    cr_assert_eq(eddy_ddsketch_decode(&back, bad_version, 5, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_ddsketch_decode(&back, bad_flags, 5, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_ddsketch_decode(&back, zero_first_bin, 8, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_ddsketch_decode(&back, too_many_bins, 6, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_ddsketch_decode(&back, overlong, 6, &used), EDDY_EPARSE);
    free(m);
    eddy_buf_release(&e);
    eddy_ddsketch_free(s);
}

/* 3000 values one bin apart: 952 more bins than a store may hold */
static void fill_wide(struct eddy_ddsketch *s, double *xs, double sign)
{
    for (int k = 0; k < 3000; k++) {
        xs[k] = sign * exp(0.0200006 * k + 0.01);
        cr_assert_eq(eddy_ddsketch_add(s, xs[k]), EDDY_OK);
    }
    qsort(xs, 3000, sizeof *xs, cmp_double);
}

Test(ddsketch, collapse_beyond_2048_bins_keeps_high_quantiles_of_positive_values)
{
    static double xs[3000];
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    fill_wide(s, xs, 1.0);
    cr_assert(eddy_ddsketch_collapsed(s));
    cr_assert_eq(eddy_ddsketch_count(s), 3000);
    cr_assert_leq(eddy_ddsketch_memory(s), 2048 * 8 + 256);
    cr_assert_eq(eddy_ddsketch_quantile(s, 0), xs[0]);
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), xs[2999]);
    for (size_t k = 3; k < N_QS; k++) { /* q >= 0.5: ranks above the collapsed bin */
        double exact = exact_quantile(xs, 3000, QS[k]);
        cr_assert_leq(fabs(eddy_ddsketch_quantile(s, QS[k]) - exact), 0.01 * exact);
    }
    /* rank 29 sits in the collapsed lowest bin: estimated as the bin of rank 952 */
    double low = eddy_ddsketch_quantile(s, 0.01);
    cr_assert_gt(low, 10 * exact_quantile(xs, 3000, 0.01));
    cr_assert_leq(fabs(low - xs[952]), 0.01 * xs[952]);
    /* more low values land in the collapsed bin without growing the store */
    size_t mem = eddy_ddsketch_memory(s);
    eddy_alloc_fail_at(1);
    cr_assert_eq(eddy_ddsketch_add(s, 0.001), EDDY_OK);
    eddy_alloc_fail_at(0);
    cr_assert_eq(eddy_ddsketch_memory(s), mem);
    cr_assert_eq(eddy_ddsketch_quantile(s, 0), 0.001);
    eddy_ddsketch_free(s);
}

Test(ddsketch, collapse_of_negative_values_drops_the_most_negative_ones)
{
    static double xs[3000];
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    fill_wide(s, xs, -1.0);
    cr_assert(eddy_ddsketch_collapsed(s));
    cr_assert_eq(eddy_ddsketch_quantile(s, 0), xs[0]);
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), xs[2999]);
    for (size_t k = 3; k < N_QS; k++) {
        double exact = exact_quantile(xs, 3000, QS[k]);
        cr_assert_leq(fabs(eddy_ddsketch_quantile(s, QS[k]) - exact), 0.01 * fabs(exact));
    }
    cr_assert_gt(eddy_ddsketch_quantile(s, 0.01), exact_quantile(xs, 3000, 0.01) / 10);
    eddy_ddsketch_free(s);
}

Test(ddsketch, collapse_survives_encode_and_merge)
{
    static double xs[3000];
    struct eddy_ddsketch *s = eddy_ddsketch_new(), *back = NULL, *m = eddy_ddsketch_new();
    fill_wide(s, xs, 1.0);
    struct eddy_buf e;
    encode(s, &e);
    size_t used;
    cr_assert_eq(eddy_ddsketch_decode(&back, (const uint8_t *)e.data, e.len, &used), EDDY_OK);
    cr_assert(eddy_ddsketch_collapsed(back));
    cr_assert_eq(eddy_ddsketch_merge(m, back), EDDY_OK);
    cr_assert(eddy_ddsketch_collapsed(m));
    for (size_t k = 0; k < N_QS; k++)
        cr_assert_eq(eddy_ddsketch_quantile(m, QS[k]), eddy_ddsketch_quantile(s, QS[k]));
    /* merging two halves whose union is too wide collapses during the merge */
    struct eddy_ddsketch *lo = eddy_ddsketch_new(), *hi = eddy_ddsketch_new();
    for (int k = 0; k < 1500; k++) {
        eddy_ddsketch_add(lo, exp(0.0200006 * k + 0.01));
        eddy_ddsketch_add(hi, exp(0.0200006 * (k + 1500) + 0.01));
    }
    cr_assert_not(eddy_ddsketch_collapsed(lo));
    cr_assert_eq(eddy_ddsketch_merge(lo, hi), EDDY_OK);
    cr_assert(eddy_ddsketch_collapsed(lo));
    for (size_t k = 0; k < N_QS; k++)
        cr_assert_eq(eddy_ddsketch_quantile(lo, QS[k]), eddy_ddsketch_quantile(s, QS[k]));
    eddy_buf_release(&e);
    eddy_ddsketch_free(s);
    eddy_ddsketch_free(back);
    eddy_ddsketch_free(m);
    eddy_ddsketch_free(lo);
    eddy_ddsketch_free(hi);
}

Test(ddsketch, adding_within_the_bin_range_does_not_allocate)
{
    struct eddy_ddsketch *s = eddy_ddsketch_new();
    /* the first 32 positive values are kept in the struct */
    eddy_alloc_fail_at(1);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(eddy_ddsketch_add(s, 100.0), EDDY_OK);
    /* the 33rd needs the store, and that allocation fails */
    cr_assert_eq(eddy_ddsketch_add(s, 100.0), EDDY_ENOMEM);
    eddy_alloc_fail_at(0);
    cr_assert_eq(eddy_ddsketch_count(s), 32);
    cr_assert_eq(eddy_ddsketch_add(s, 100.0), EDDY_OK); /* allocates 64 bins */
    eddy_alloc_fail_at(1);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(eddy_ddsketch_add(s, 95.0 + (i % 10)), EDDY_OK);
    /* a value 400 bins away must grow the store, and that allocation fails */
    cr_assert_eq(eddy_ddsketch_add(s, 1e6), EDDY_ENOMEM);
    eddy_alloc_fail_at(0);
    cr_assert_eq(eddy_ddsketch_count(s), 1033);
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), 104.0);
    cr_assert_eq(eddy_ddsketch_add(s, 1e6), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_quantile(s, 1), 1e6);
    eddy_ddsketch_free(s);
}

/* The encoding of counts at the bins index(x) = ceil(log(x) / log(gamma)),
 * built by hand from the wire format in ddsketch.h. */
static void expected_encoding(const int32_t *idx, const uint64_t *n, size_t k, uint64_t zero,
                              double min, double max, struct eddy_buf *out)
{
    eddy_buf_init(out);
    uint8_t head[2] = {1, 0};
    eddy_buf_append(out, head, 2);
    eddy__varint_put_u(out, zero);
    eddy__varint_put_u(out, (uint64_t)(idx[k - 1] - idx[0] + 1));
    eddy__varint_put_s(out, idx[0]);
    for (int32_t i = idx[0], j = 0; i <= idx[k - 1]; i++)
        eddy__varint_put_u(out, i == idx[j] ? n[j++] : 0);
    eddy__varint_put_u(out, 0); /* no negative values */
    eddy__varint_put_f64(out, min);
    eddy__varint_put_f64(out, max);
}

Test(ddsketch, a_small_sketch_encodes_and_estimates_like_the_bins)
{
    /* 3.5 -> bin 63, 12 -> 125, 87 -> 224, 250 -> 277, 1000 -> 346 */
    double xs[] = {12, 250, 12, 0, 3.5, 1e-12, 87, 1000};
    const int32_t idx[] = {63, 125, 224, 277, 346};
    const uint64_t n[] = {1, 2, 1, 1, 1};
    struct eddy_ddsketch *s = sketch_of(xs, 8);
    struct eddy_buf got, want;
    encode(s, &got);
    expected_encoding(idx, n, 5, 2, 0.0, 1000.0, &want);
    cr_assert_eq(got.len, want.len);
    cr_assert_arr_eq(got.data, want.data, want.len);
    /* ranks 1, 3, 6 of the 8 values: 1e-12 (zero), 12, 250 (bin values) */
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.2), 0.0);
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.5), 12.061644143710684);
    cr_assert_eq(eddy_ddsketch_quantile(s, 0.9), 252.17639213593344);
    /* the same counts once in the store: 40 more values, then merged */
    struct eddy_ddsketch *big = eddy_ddsketch_new();
    for (int i = 0; i < 40; i++)
        cr_assert_eq(eddy_ddsketch_add(big, 12.0), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_merge(big, s), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_merge(s, big), EDDY_OK); /* small dst, dense src */
    const uint64_t n3[] = {2, 2 + 42, 2, 2, 2};
    eddy_buf_release(&got);
    eddy_buf_release(&want);
    encode(s, &got);
    expected_encoding(idx, n3, 5, 4, 0.0, 1000.0, &want);
    cr_assert_eq(got.len, want.len);
    cr_assert_arr_eq(got.data, want.data, want.len);
    eddy_buf_release(&got);
    eddy_buf_release(&want);
    eddy_ddsketch_free(s);
    eddy_ddsketch_free(big);
}


/* Makes every allocation of merge(a, b) fail in turn, then none: each
 * failure leaves a as it was. Returns how many allocations the merge makes. */
static unsigned long merge_failing_each_allocation(struct eddy_ddsketch *a,
                                                   const struct eddy_ddsketch *b)
{
    struct eddy_buf before, after;
    encode(a, &before);
    unsigned long nth = 1;
    for (;; nth++) {
        eddy_alloc_fail_at(nth);
        eddy_err_t err = eddy_ddsketch_merge(a, b);
        eddy_alloc_fail_at(0);
        if (err == EDDY_OK)
            break;
        cr_assert_eq(err, EDDY_ENOMEM);
        encode(a, &after);
        cr_assert_eq(after.len, before.len);
        cr_assert_arr_eq(after.data, before.data, before.len);
        eddy_buf_release(&after);
    }
    eddy_buf_release(&before);
    return nth - 1;
}

Test(ddsketch, failed_merge_leaves_the_destination_unchanged)
{
    double a_xs[] = {1, 2, 3}, b_xs[] = {-1e5, 1e5};
    struct eddy_ddsketch *a = sketch_of(a_xs, 3), *b = sketch_of(b_xs, 2);
    /* the positive values stay small: only the negative store is made */
    cr_assert_eq(merge_failing_each_allocation(a, b), 1);
    cr_assert_eq(eddy_ddsketch_count(a), 5);
    cr_assert_eq(eddy_ddsketch_quantile(a, 0), -1e5);
    cr_assert_eq(eddy_ddsketch_quantile(a, 1), 1e5);
    eddy_ddsketch_free(a);
    eddy_ddsketch_free(b);
    /* 20 + 20 positive values: the positive store too */
    double c_xs[21], d_xs[21];
    for (int i = 0; i < 20; i++) {
        c_xs[i] = 1 + i;
        d_xs[i] = 100 + i;
    }
    d_xs[20] = -7;
    struct eddy_ddsketch *c = sketch_of(c_xs, 20), *d = sketch_of(d_xs, 21);
    cr_assert_eq(merge_failing_each_allocation(c, d), 2);
    cr_assert_eq(eddy_ddsketch_count(c), 41);
    cr_assert_eq(eddy_ddsketch_quantile(c, 0), -7);
    cr_assert_eq(eddy_ddsketch_quantile(c, 1), 119);
    eddy_ddsketch_free(c);
    eddy_ddsketch_free(d);
}

Test(ddsketch, new_and_decode_report_out_of_memory)
{
    eddy_alloc_fail_at(1);
    cr_assert_null(eddy_ddsketch_new());
    double xs[] = {1, 2, 3};
    struct eddy_ddsketch *s = sketch_of(xs, 3), *back = (void *)1;
    struct eddy_buf e;
    encode(s, &e);
    size_t used;
    for (unsigned long nth = 1; nth <= 2; nth++) {
        eddy_alloc_fail_at(nth);
        cr_assert_eq(eddy_ddsketch_decode(&back, (const uint8_t *)e.data, e.len, &used),
                     EDDY_ENOMEM);
        cr_assert_null(back);
    }
    eddy_alloc_fail_at(0);
    eddy_buf_release(&e);
    eddy_ddsketch_free(s);
}

static int cmp_double_desc(const void *a, const void *b)
{
    return cmp_double(b, a);
}

/* The store grows up, down and in place; the result must not depend on it. */
static void check_order_independence(double *xs, size_t n, bool want_collapsed)
{
    struct eddy_ddsketch *random_order = sketch_of(xs, n);
    qsort(xs, n, sizeof *xs, cmp_double);
    struct eddy_ddsketch *ascending = sketch_of(xs, n);
    qsort(xs, n, sizeof *xs, cmp_double_desc);
    struct eddy_ddsketch *descending = sketch_of(xs, n);
    cr_assert_eq(eddy_ddsketch_collapsed(random_order), want_collapsed);
    struct eddy_buf e1, e2, e3;
    encode(random_order, &e1);
    encode(ascending, &e2);
    encode(descending, &e3);
    cr_assert_eq(e1.len, e2.len);
    cr_assert_eq(e1.len, e3.len);
    cr_assert_arr_eq(e1.data, e2.data, e1.len);
    cr_assert_arr_eq(e1.data, e3.data, e1.len);
    /* and merging thirds of it, with their own collapses, gives it too */
    struct eddy_ddsketch *merged = sketch_of(xs, n / 3);
    struct eddy_ddsketch *mid = sketch_of(xs + n / 3, n / 3);
    struct eddy_ddsketch *top = sketch_of(xs + 2 * (n / 3), n - 2 * (n / 3));
    cr_assert_eq(eddy_ddsketch_merge(merged, top), EDDY_OK);
    cr_assert_eq(eddy_ddsketch_merge(merged, mid), EDDY_OK);
    eddy_buf_release(&e2);
    encode(merged, &e2);
    cr_assert_eq(e1.len, e2.len);
    cr_assert_arr_eq(e1.data, e2.data, e1.len);
    eddy_ddsketch_free(merged);
    eddy_ddsketch_free(mid);
    eddy_ddsketch_free(top);
    eddy_buf_release(&e1);
    eddy_buf_release(&e2);
    eddy_buf_release(&e3);
    eddy_ddsketch_free(random_order);
    eddy_ddsketch_free(ascending);
    eddy_ddsketch_free(descending);
}

Test(ddsketch, insertion_and_merge_order_do_not_change_the_sketch)
{
    static double xs[20000];
    generate(SIGNED, xs, 20000, 40);
    check_order_independence(xs, 20000, false);
    generate(PARETO, xs, 20000, 41);
    check_order_independence(xs, 20000, false);
    /* values from 1e-6 to 1e35 on both signs: both stores collapse, and the
     * lowest values end in the same edge bin whatever the order */
    rng_state = 42;
    for (size_t i = 0; i < 20000; i++)
        xs[i] = (rng_next() % 2 ? 1 : -1) * exp(-14 + 95 * rng_unit());
    check_order_independence(xs, 20000, true);
}

Test(ddsketch, small_sketches_merge_and_grow_like_any_other)
{
    /* around the 32 values a sketch keeps before its store: every order
     * and every merge of thirds gives the same bytes */
    static double xs[100];
    const size_t sizes[] = {1, 2, 31, 32, 33, 64, 65, 96, 97, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        generate(LATENCY, xs, sizes[k], 50 + k);
        check_order_independence(xs, sizes[k], false);
        generate(SIGNED, xs, sizes[k], 60 + k);
        check_order_independence(xs, sizes[k], false);
    }
    /* 1e-6 .. 1e30 spans more than 2048 bins: the small values go to the
     * store, which collapses, whichever way they arrive */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        if (sizes[k] < 3)
            continue;
        rng_state = 70 + k;
        for (size_t i = 0; i < sizes[k]; i++)
            xs[i] = exp(-14 + 83 * rng_unit());
        xs[0] = 1e-6;
        xs[1] = 1e30;
        check_order_independence(xs, sizes[k], true);
    }
}
