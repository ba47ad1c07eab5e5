/*
 * test_acc.c - update, merge, result, encoding and allocation failure of the
 * per-metric accumulators (src/agg/acc.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "agg/acc.h"
#include "agg/ddsketch.h"
#include "agg/hll.h"
#include "core/alloc.h"
#include "core/buf.h"

static const enum eddy_metric_kind ALL_KINDS[] = {
    EDDY_M_COUNT, EDDY_M_COUNT_IF, EDDY_M_SUM,      EDDY_M_MIN,      EDDY_M_MAX,
    EDDY_M_AVG,   EDDY_M_RATIO,    EDDY_M_QUANTILE, EDDY_M_DISTINCT,
};
#define N_KINDS (sizeof ALL_KINDS / sizeof ALL_KINDS[0])

static struct eddy_value vint(int64_t i)
{
    return (struct eddy_value){.type = EDDY_V_INT, .as.i = i};
}

static struct eddy_value vnum(double n)
{
    return (struct eddy_value){.type = EDDY_V_NUM, .as.n = n};
}

static struct eddy_value vbool(bool b)
{
    return (struct eddy_value){.type = EDDY_V_BOOL, .as.b = b};
}

static struct eddy_value vstr(const char *s)
{
    return (struct eddy_value){.type = EDDY_V_STR, .as.s = {s, (uint32_t)strlen(s)}};
}

/* A mix of every type: truthy are true, 1 and 2.5; numeric are 1, 0, 2.5, 0.0. */
static struct eddy_value mixed[8];

static void init_mixed(void)
{
    mixed[0] = vbool(true);
    mixed[1] = vbool(false);
    mixed[2] = vint(1);
    mixed[3] = vint(0);
    mixed[4] = vnum(2.5);
    mixed[5] = vnum(0.0);
    mixed[6] = eddy_value_null();
    mixed[7] = vstr("x");
}

static void feed(struct eddy_acc *acc, enum eddy_metric_kind kind, const struct eddy_value *vs,
                 size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(eddy_acc_update(acc, kind, &vs[i]), EDDY_OK);
}

static struct eddy_value result(const struct eddy_acc *acc, enum eddy_metric_kind kind, double q,
                                double *error)
{
    struct eddy_value out;
    eddy_acc_result(acc, kind, q, &out, error);
    return out;
}

static void assert_int(struct eddy_value v, int64_t want)
{
    cr_assert_eq(v.type, EDDY_V_INT, "type %d, want INT", v.type);
    cr_assert_eq(v.as.i, want, "got %lld, want %lld", (long long)v.as.i, (long long)want);
}

static void assert_num(struct eddy_value v, double want)
{
    cr_assert_eq(v.type, EDDY_V_NUM, "type %d, want NUM", v.type);
    cr_assert_eq(v.as.n, want, "got %.17g, want %.17g", v.as.n, want);
}

static void assert_null(struct eddy_value v)
{
    cr_assert_eq(v.type, EDDY_V_NULL, "type %d, want NULL", v.type);
}

Test(acc, count_counts_every_event_and_merges)
{
    struct eddy_acc a, b;
    eddy_acc_init(&a);
    eddy_acc_init(&b);
    double err = -1;
    assert_int(result(&a, EDDY_M_COUNT, 0, &err), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(eddy_acc_update(&a, EDDY_M_COUNT, NULL), EDDY_OK);
    cr_assert_eq(eddy_acc_update(&b, EDDY_M_COUNT, &(struct eddy_value){0}), EDDY_OK);
    cr_assert_eq(eddy_acc_merge(&a, &b, EDDY_M_COUNT), EDDY_OK);
    assert_int(result(&a, EDDY_M_COUNT, 0, &err), 4);
    cr_assert_eq(err, 0.0);
    cr_assert_eq(eddy_acc_memory(&a, EDDY_M_COUNT), 0);
}

Test(acc, count_if_counts_truthy_arguments)
{
    init_mixed();
    struct eddy_acc a = {0}, b = {0};
    feed(&a, EDDY_M_COUNT_IF, mixed, 8);
    cr_assert_eq(eddy_acc_update(&a, EDDY_M_COUNT_IF, NULL), EDDY_OK);
    assert_int(result(&a, EDDY_M_COUNT_IF, 0, NULL), 3);
    feed(&b, EDDY_M_COUNT_IF, mixed, 3);
    eddy_acc_merge(&a, &b, EDDY_M_COUNT_IF);
    assert_int(result(&a, EDDY_M_COUNT_IF, 0, NULL), 5);
}

Test(acc, ratio_is_hits_over_all_events_and_null_when_empty)
{
    init_mixed();
    struct eddy_acc a = {0}, b = {0};
    double err = -1;
    assert_null(result(&a, EDDY_M_RATIO, 0, &err));
    cr_assert_eq(err, 0.0);
    feed(&a, EDDY_M_RATIO, mixed, 8);
    assert_num(result(&a, EDDY_M_RATIO, 0, &err), 3.0 / 8.0);
    cr_assert_eq(err, 0.0);
    feed(&b, EDDY_M_RATIO, mixed + 1, 1); /* false */
    eddy_acc_merge(&a, &b, EDDY_M_RATIO);
    assert_num(result(&a, EDDY_M_RATIO, 0, NULL), 3.0 / 9.0);
}

Test(acc, sum_of_ints_is_an_int_and_ignores_other_types)
{
    init_mixed();
    struct eddy_acc a = {0}, b = {0};
    assert_int(result(&a, EDDY_M_SUM, 0, NULL), 0);
    struct eddy_value ints[] = {vint(1),   vint(-5),    vint(40),
                                vstr("7"), vbool(true), eddy_value_null()};
    feed(&a, EDDY_M_SUM, ints, 6);
    cr_assert_eq(eddy_acc_update(&a, EDDY_M_SUM, NULL), EDDY_OK);
    assert_int(result(&a, EDDY_M_SUM, 0, NULL), 36);
    feed(&b, EDDY_M_SUM, ints, 3);
    eddy_acc_merge(&a, &b, EDDY_M_SUM);
    assert_int(result(&a, EDDY_M_SUM, 0, NULL), 72);
    /* one NUM makes the result a NUM, also through a merge */
    struct eddy_acc c = {0};
    feed(&c, EDDY_M_SUM, mixed, 8); /* 1 + 0 + 2.5 + 0.0 */
    assert_num(result(&c, EDDY_M_SUM, 0, NULL), 3.5);
    eddy_acc_merge(&a, &c, EDDY_M_SUM);
    assert_num(result(&a, EDDY_M_SUM, 0, NULL), 75.5);
    /* non-finite numbers are ignored */
    struct eddy_value odd[] = {vnum(NAN), vnum(INFINITY)};
    feed(&a, EDDY_M_SUM, odd, 2);
    assert_num(result(&a, EDDY_M_SUM, 0, NULL), 75.5);
}

Test(acc, sum_int_overflow_falls_back_to_num)
{
    struct eddy_acc a = {0}, b = {0}, c = {0};
    struct eddy_value big[] = {vint(INT64_MAX), vint(1)};
    feed(&a, EDDY_M_SUM, big, 2);
    assert_num(result(&a, EDDY_M_SUM, 0, NULL), 9223372036854775808.0);
    /* overflow found by the merge of two sums that each fit */
    feed(&b, EDDY_M_SUM, big, 1);
    feed(&c, EDDY_M_SUM, big, 1);
    assert_int(result(&b, EDDY_M_SUM, 0, NULL), INT64_MAX);
    eddy_acc_merge(&b, &c, EDDY_M_SUM);
    assert_num(result(&b, EDDY_M_SUM, 0, NULL), 2 * 9223372036854775808.0);
    /* and going back below the limit does not turn it into an int again */
    struct eddy_value neg = vint(INT64_MIN);
    feed(&a, EDDY_M_SUM, &neg, 1);
    assert_num(result(&a, EDDY_M_SUM, 0, NULL), 0.0);
    /* negative overflow */
    struct eddy_acc d = {0};
    struct eddy_value low[] = {vint(INT64_MIN), vint(-1)};
    feed(&d, EDDY_M_SUM, low, 2);
    assert_num(result(&d, EDDY_M_SUM, 0, NULL), -9223372036854775808.0 - 1.0);
}

Test(acc, avg_is_a_num_and_null_when_empty)
{
    init_mixed();
    struct eddy_acc a = {0}, b = {0};
    double err = -1;
    assert_null(result(&a, EDDY_M_AVG, 0, &err));
    feed(&a, EDDY_M_AVG, mixed + 6, 2); /* NULL and a string */
    assert_null(result(&a, EDDY_M_AVG, 0, NULL));
    struct eddy_value ints[] = {vint(1), vint(2)};
    feed(&a, EDDY_M_AVG, ints, 2);
    assert_num(result(&a, EDDY_M_AVG, 0, &err), 1.5);
    cr_assert_eq(err, 0.0);
    feed(&b, EDDY_M_AVG, mixed, 8); /* 1, 0, 2.5, 0.0 */
    eddy_acc_merge(&a, &b, EDDY_M_AVG);
    assert_num(result(&a, EDDY_M_AVG, 0, NULL), 6.5 / 6);
    /* the int sum is exact where adding doubles rounds each 2^53 + 1 to 2^53 */
    struct eddy_acc c = {0};
    struct eddy_value big[] = {vint(9007199254740993), vint(9007199254740993),
                               vint(9007199254740993)};
    feed(&c, EDDY_M_AVG, big, 3);
    assert_num(result(&c, EDDY_M_AVG, 0, NULL), 9007199254740994.0);
}

Test(acc, min_and_max_keep_the_type_of_the_extreme)
{
    init_mixed();
    struct eddy_acc mn = {0}, mx = {0};
    assert_null(result(&mn, EDDY_M_MIN, 0, NULL));
    assert_null(result(&mx, EDDY_M_MAX, 0, NULL));
    feed(&mn, EDDY_M_MIN, mixed + 6, 2);
    assert_null(result(&mn, EDDY_M_MIN, 0, NULL));
    struct eddy_value vs[] = {vint(3),    vnum(2.5),  vint(7), vnum(7.0),
                              vstr("99"), vnum(-0.5), vint(-1)};
    feed(&mn, EDDY_M_MIN, vs, 7);
    feed(&mx, EDDY_M_MAX, vs, 7);
    assert_int(result(&mn, EDDY_M_MIN, 0, NULL), -1);
    assert_int(result(&mx, EDDY_M_MAX, 0, NULL), 7); /* the tie 7.0 keeps the first */
    struct eddy_acc m2 = {0};
    struct eddy_value small = vnum(-1.25);
    feed(&m2, EDDY_M_MIN, &small, 1);
    eddy_acc_merge(&mn, &m2, EDDY_M_MIN);
    assert_num(result(&mn, EDDY_M_MIN, 0, NULL), -1.25);
    eddy_acc_merge(&mx, &m2, EDDY_M_MAX); /* m2 as MAX state: -1.25 < 7 */
    assert_int(result(&mx, EDDY_M_MAX, 0, NULL), 7);
    struct eddy_acc empty = {0};
    eddy_acc_merge(&mx, &empty, EDDY_M_MAX);
    assert_int(result(&mx, EDDY_M_MAX, 0, NULL), 7);
}

Test(acc, min_and_max_compare_ints_and_nums_exactly)
{
    /* 2^53 + 1 and the double 2^53 compare equal after a naive conversion */
    struct eddy_acc mx = {0}, mn = {0};
    struct eddy_value vs[] = {vnum(9007199254740992.0), vint(9007199254740993)};
    feed(&mx, EDDY_M_MAX, vs, 2);
    assert_int(result(&mx, EDDY_M_MAX, 0, NULL), 9007199254740993);
    feed(&mn, EDDY_M_MIN, vs, 2);
    assert_num(result(&mn, EDDY_M_MIN, 0, NULL), 9007199254740992.0);
    /* INT64_MAX is below the double 2^63 */
    struct eddy_acc top = {0};
    struct eddy_value edge[] = {vint(INT64_MAX), vnum(9223372036854775808.0), vnum(NAN)};
    feed(&top, EDDY_M_MAX, edge, 3);
    assert_num(result(&top, EDDY_M_MAX, 0, NULL), 9223372036854775808.0);
    struct eddy_acc bottom = {0};
    struct eddy_value low[] = {vnum(-9223372036854775808.0), vint(INT64_MIN), vnum(-1e300)};
    feed(&bottom, EDDY_M_MIN, low, 2);
    assert_num(result(&bottom, EDDY_M_MIN, 0, NULL), -9223372036854775808.0); /* tie */
    feed(&bottom, EDDY_M_MIN, low + 2, 1);
    assert_num(result(&bottom, EDDY_M_MIN, 0, NULL), -1e300);
    struct eddy_acc frac = {0};
    struct eddy_value fr[] = {vint(-3), vnum(-2.5), vnum(-3.5)};
    feed(&frac, EDDY_M_MAX, fr, 3);
    assert_num(result(&frac, EDDY_M_MAX, 0, NULL), -2.5);
}

Test(acc, quantile_is_a_num_within_one_percent)
{
    init_mixed();
    struct eddy_acc a = {0}, b = {0};
    double err = -1;
    assert_null(result(&a, EDDY_M_QUANTILE, 0.5, &err));
    cr_assert_eq(err, 0.0);
    feed(&a, EDDY_M_QUANTILE, mixed + 6, 2);
    cr_assert_null(a.u.quantile, "non-numeric args must not allocate the sketch");
    for (int i = 1; i <= 100; i++) {
        struct eddy_value v = i % 2 ? vint(i) : vnum(i);
        cr_assert_eq(eddy_acc_update(&a, EDDY_M_QUANTILE, &v), EDDY_OK);
    }
    struct eddy_value r = result(&a, EDDY_M_QUANTILE, 0.5, &err); /* rank 49: 50 */
    cr_assert_eq(r.type, EDDY_V_NUM);
    cr_assert_leq(fabs(r.as.n - 50), 0.5);
    cr_assert_eq(err, 0.01);
    assert_num(result(&a, EDDY_M_QUANTILE, 1.0, NULL), 100.0);
    assert_num(result(&a, EDDY_M_QUANTILE, 0.0, NULL), 1.0);
    cr_assert_gt(eddy_acc_memory(&a, EDDY_M_QUANTILE), 0);
    /* merging into an empty accumulator allocates its sketch */
    eddy_acc_merge(&b, &a, EDDY_M_QUANTILE);
    eddy_acc_merge(&b, &a, EDDY_M_QUANTILE);
    cr_assert_eq(eddy_ddsketch_count(b.u.quantile), 200);
    assert_num(result(&b, EDDY_M_QUANTILE, 1.0, NULL), 100.0);
    struct eddy_acc empty = {0};
    eddy_acc_merge(&empty, &empty, EDDY_M_QUANTILE);
    cr_assert_null(empty.u.quantile);
    eddy_acc_release(&a, EDDY_M_QUANTILE);
    eddy_acc_release(&b, EDDY_M_QUANTILE);
    cr_assert_null(a.u.quantile);
}

Test(acc, distinct_hashes_values_with_a_type_tag)
{
    struct eddy_acc a = {0};
    double err = -1;
    assert_int(result(&a, EDDY_M_DISTINCT, 0, &err), 0);
    cr_assert_eq(err, 0.0);
    struct eddy_value vs[] = {
        vint(1),
        vnum(1.0),
        vstr("1"),
        vbool(true),
        eddy_value_null(),
        vnum(-0.0),
        vint(0),
        vnum(0.0),
        vnum(1.5),
        vstr(""),
        vbool(false),
        vnum(NAN),
        vnum(1e300),
        vnum(1e300),
        vnum(9007199254740992.0),
        vint(9007199254740992),
        vstr("1"),
    };
    /* items: 1, "1", true, 0, 1.5, "", false, 1e300, 2^53 */
    feed(&a, EDDY_M_DISTINCT, vs, sizeof vs / sizeof vs[0]);
    assert_int(result(&a, EDDY_M_DISTINCT, 0, &err), 9);
    cr_assert_eq(err, 0.0);
    /* many ints: dense mode, with the HLL standard error */
    struct eddy_acc b = {0};
    for (int64_t i = 0; i < 5000; i++) {
        struct eddy_value v = vint(i);
        cr_assert_eq(eddy_acc_update(&b, EDDY_M_DISTINCT, &v), EDDY_OK);
    }
    struct eddy_value r = result(&b, EDDY_M_DISTINCT, 0, &err);
    cr_assert_eq(r.type, EDDY_V_INT);
    cr_assert(r.as.i > 4800 && r.as.i < 5200, "estimate %lld", (long long)r.as.i);
    cr_assert_eq(err, 1.04 / 128);
    /* merging into an empty accumulator copies the set */
    struct eddy_acc c = {0};
    eddy_acc_merge(&c, &a, EDDY_M_DISTINCT);
    assert_int(result(&c, EDDY_M_DISTINCT, 0, NULL), 9);
    eddy_acc_release(&a, EDDY_M_DISTINCT);
    eddy_acc_release(&b, EDDY_M_DISTINCT);
    eddy_acc_release(&c, EDDY_M_DISTINCT);
}

/* Fills @acc of @kind with a few values of mixed types. */
static void populate(struct eddy_acc *acc, enum eddy_metric_kind kind, int n)
{
    init_mixed();
    for (int i = 0; i < n; i++) {
        struct eddy_value v = i % 3 == 0   ? vint(i * 7 - 50)
                              : i % 3 == 1 ? vnum(i * 0.75)
                                           : mixed[i % 8];
        cr_assert_eq(eddy_acc_update(acc, kind, &v), EDDY_OK);
    }
}

static void check_round_trip(enum eddy_metric_kind kind, int n)
{
    struct eddy_acc a = {0}, back;
    populate(&a, kind, n);
    struct eddy_buf e1, e2;
    eddy_buf_init(&e1);
    eddy_buf_init(&e2);
    cr_assert_eq(eddy_acc_encode(&a, kind, &e1), EDDY_OK);
    eddy_buf_append(&e1, "!", 1);
    size_t used = 0;
    cr_assert_eq(eddy_acc_decode(&back, kind, (const uint8_t *)e1.data, e1.len, &used), EDDY_OK,
                 "kind %d n %d", kind, n);
    cr_assert_eq(used, e1.len - 1);
    cr_assert_eq(eddy_acc_encode(&back, kind, &e2), EDDY_OK);
    cr_assert_eq(e2.len, used);
    cr_assert_arr_eq(e1.data, e2.data, used);
    const double qs[] = {0, 0.5, 0.99, 1};
    for (int k = 0; k < 4; k++) {
        struct eddy_value x, y;
        double ex, ey;
        eddy_acc_result(&a, kind, qs[k], &x, &ex);
        eddy_acc_result(&back, kind, qs[k], &y, &ey);
        cr_assert_eq(x.type, y.type);
        cr_assert_eq(ex, ey);
        if (x.type == EDDY_V_INT)
            cr_assert_eq(x.as.i, y.as.i);
        if (x.type == EDDY_V_NUM)
            cr_assert_eq(x.as.n, y.as.n);
    }
    /* every proper prefix is rejected and leaves the accumulator empty */
    for (size_t len = 0; len < used; len++) {
        struct eddy_acc t;
        memset(&t, 0xa5, sizeof t);
        cr_assert_eq(eddy_acc_decode(&t, kind, (const uint8_t *)e1.data, len, &used), EDDY_EPARSE,
                     "kind %d prefix %zu", kind, len);
        struct eddy_acc zero = {0};
        cr_assert_arr_eq(&t, &zero, sizeof t);
    }
    eddy_acc_release(&a, kind);
    eddy_acc_release(&back, kind);
    eddy_buf_release(&e1);
    eddy_buf_release(&e2);
}

Test(acc, encode_decode_round_trip_for_every_kind)
{
    const int sizes[] = {0, 1, 2, 30, 1000};
    for (size_t k = 0; k < N_KINDS; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            check_round_trip(ALL_KINDS[k], sizes[s]);
}

Test(acc, encodings_are_compact_and_exact)
{
    struct eddy_acc a = {0};
    struct eddy_buf e;
    eddy_buf_init(&e);
    for (int i = 0; i < 300; i++)
        eddy_acc_update(&a, EDDY_M_COUNT, NULL);
    eddy_acc_encode(&a, EDDY_M_COUNT, &e);
    cr_assert_eq(e.len, 2);
    cr_assert_arr_eq(e.data, "\xac\x02", 2);
    struct eddy_acc m = {0};
    struct eddy_value v = vint(-3);
    eddy_acc_update(&m, EDDY_M_MIN, &v);
    eddy_buf_reset(&e);
    eddy_acc_encode(&m, EDDY_M_MIN, &e);
    cr_assert_eq(e.len, 2);
    cr_assert_arr_eq(e.data, "\x01\x05", 2);
    struct eddy_acc q = {0};
    eddy_buf_reset(&e);
    eddy_acc_encode(&q, EDDY_M_QUANTILE, &e);
    cr_assert_eq(e.len, 1);
    cr_assert_eq(e.data[0], 0);
    eddy_buf_release(&e);
}

Test(acc, decode_rejects_inconsistent_state)
{
    struct eddy_acc a;
    size_t used;
    const uint8_t hits_over_total[] = {5, 4};
    const uint8_t bad_flags[] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t overflow_with_isum[] = {2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t nan_min[] = {2, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    const uint8_t bad_tag[] = {3};
    const uint8_t bad_present[] = {2};
    const uint8_t garbage_sketch[] = {1, 9, 9, 9};
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_RATIO, hits_over_total, 2, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_SUM, bad_flags, 11, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_AVG, overflow_with_isum, 11, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_MAX, nan_min, 9, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_MIN, bad_tag, 1, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_QUANTILE, bad_present, 1, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_QUANTILE, garbage_sketch, 4, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_DISTINCT, garbage_sketch, 4, &used), EDDY_EPARSE);
    cr_assert_eq(eddy_acc_decode(&a, (enum eddy_metric_kind)0, hits_over_total, 2, &used),
                 EDDY_EINVAL);
    cr_assert_eq(eddy_acc_update(&a, (enum eddy_metric_kind)42, NULL), EDDY_EINVAL);
    const uint8_t overflow_ok[] = {3, 1, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    cr_assert_eq(eddy_acc_decode(&a, EDDY_M_SUM, overflow_ok, 11, &used), EDDY_OK);
    assert_num(result(&a, EDDY_M_SUM, 0, NULL), 1.0);
    assert_num(result(&a, EDDY_M_AVG, 0, NULL), 1.0);
}

/* Runs @op with the nth allocation failing for nth = 1, 2, ... until it
 * succeeds; every failure must be EDDY_ENOMEM with @acc still empty. */
static void check_oom(enum eddy_metric_kind kind, const struct eddy_acc *src,
                      const struct eddy_value *arg, const struct eddy_buf *enc)
{
    for (unsigned long nth = 1;; nth++) {
        struct eddy_acc acc = {0};
        size_t used;
        eddy_err_t err;
        eddy_alloc_fail_at(nth);
        if (src)
            err = eddy_acc_merge(&acc, src, kind);
        else if (arg)
            err = eddy_acc_update(&acc, kind, arg);
        else
            err = eddy_acc_decode(&acc, kind, (const uint8_t *)enc->data, enc->len, &used);
        eddy_alloc_fail_at(0);
        if (err == EDDY_OK) {
            cr_assert_gt(nth, 1, "the operation must allocate");
            eddy_acc_release(&acc, kind);
            return;
        }
        cr_assert_eq(err, EDDY_ENOMEM, "kind %d nth %lu: %s", kind, nth, eddy_err_name(err));
        cr_assert_null(kind == EDDY_M_QUANTILE ? (void *)acc.u.quantile : (void *)acc.u.distinct);
        cr_assert_eq(eddy_acc_memory(&acc, kind), 0);
    }
}

Test(acc, allocation_failure_returns_enomem_and_keeps_the_accumulator_empty)
{
    enum eddy_metric_kind sketchy[] = {EDDY_M_QUANTILE, EDDY_M_DISTINCT};
    for (int k = 0; k < 2; k++) {
        enum eddy_metric_kind kind = sketchy[k];
        struct eddy_value v = vint(12);
        check_oom(kind, NULL, &v, NULL);
        struct eddy_acc full = {0};
        populate(&full, kind, 500);
        check_oom(kind, &full, NULL, NULL);
        struct eddy_buf e;
        eddy_buf_init(&e);
        cr_assert_eq(eddy_acc_encode(&full, kind, &e), EDDY_OK);
        check_oom(kind, NULL, NULL, &e);
        eddy_buf_release(&e);
        /* a failed update of a non-empty accumulator leaves it as it was */
        struct eddy_value far = kind == EDDY_M_QUANTILE ? vnum(1e200) : vint(777777);
        struct eddy_acc small = {0};
        if (kind == EDDY_M_QUANTILE) {
            populate(&small, kind, 400); /* 1e200 needs a wider, collapsed store */
        } else {
            for (int64_t i = 0; i < 256; i++) { /* the next distinct item goes dense */
                struct eddy_value iv = vint(i);
                cr_assert_eq(eddy_acc_update(&small, kind, &iv), EDDY_OK);
            }
        }
        struct eddy_value before, after;
        eddy_acc_result(&small, kind, 1.0, &before, NULL);
        eddy_alloc_fail_at(1);
        cr_assert_eq(eddy_acc_update(&small, kind, &far), EDDY_ENOMEM);
        eddy_alloc_fail_at(0);
        eddy_acc_result(&small, kind, 1.0, &after, NULL);
        cr_assert_eq(memcmp(&before, &after, sizeof before), 0);
        eddy_acc_release(&small, kind);
        eddy_acc_release(&full, kind);
    }
    /* the other kinds never allocate */
    for (size_t k = 0; k < N_KINDS; k++) {
        if (ALL_KINDS[k] == EDDY_M_QUANTILE || ALL_KINDS[k] == EDDY_M_DISTINCT)
            continue;
        struct eddy_acc a = {0}, b = {0};
        eddy_alloc_fail_at(1);
        populate(&a, ALL_KINDS[k], 50);
        cr_assert_eq(eddy_acc_merge(&b, &a, ALL_KINDS[k]), EDDY_OK);
        eddy_alloc_fail_at(0);
    }
}
