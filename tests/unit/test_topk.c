/*
 * test_topk.c - top_k and arg_max/arg_min: the heavy-hitters summary
 * (src/agg/topk.h: exact counts, value order, Space-Saving past the bound,
 * merging, the encoding and its decoder), the accumulator kinds TOP_K,
 * TOP_K_BY, ARG_MAX and ARG_MIN (src/agg/acc.h), the metric call syntax
 * (src/config/metric.h) and the accumulator layout of a topology.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agg/acc.h"
#include "agg/topk.h"
#include "config/expr.h"
#include "config/metric.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "ops/result.h"
#include "ops/window.h"

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

static void add_str(struct eddy_topk *tk, const char *s, double w)
{
    struct eddy_value v = vstr(s);
    cr_assert_eq(eddy__topk_add(tk, &v, w), EDDY_OK);
}

/* The result for @k, which must equal @want; returns the error. */
static double expect_json(struct eddy_topk *tk, size_t k, const char *want)
{
    const char *json;
    size_t len;
    double error = -1;
    cr_assert_eq(eddy__topk_json(tk, k, &json, &len, &error), EDDY_OK);
    cr_assert_eq(len, strlen(want), "got %.*s", (int)len, json);
    cr_assert_eq(memcmp(json, want, len), 0, "got %.*s\nwant %s", (int)len, json, want);
    return error;
}

static double count_of(const struct eddy_topk *tk, const char *s)
{
    struct eddy_value v = vstr(s);
    double c = -1;
    cr_assert(eddy__topk_count(tk, &v, &c), "%s is not held", s);
    return c;
}

static bool held(const struct eddy_topk *tk, const char *s)
{
    struct eddy_value v = vstr(s);
    double c;
    return eddy__topk_count(tk, &v, &c);
}

Test(topk, counts_are_exact_ordered_by_count_then_value)
{
    struct eddy_topk *tk = eddy__topk_new(false);
    const char *stream[] = {"b", "a", "c", "a", "b", "d", "a", "c", "e"};
    for (size_t i = 0; i < sizeof stream / sizeof stream[0]; i++)
        add_str(tk, stream[i], 1);
    /* a 3; b and c 2 (ties by value); d and e 1 */
    cr_assert_eq(expect_json(tk, 3,
                             "[{\"value\":\"a\",\"count\":3},{\"value\":\"b\",\"count\":2},"
                             "{\"value\":\"c\",\"count\":2}]"),
                 0.0);
    expect_json(tk, 100,
                "[{\"value\":\"a\",\"count\":3},{\"value\":\"b\",\"count\":2},"
                "{\"value\":\"c\",\"count\":2},{\"value\":\"d\",\"count\":1},"
                "{\"value\":\"e\",\"count\":1}]");
    cr_assert_eq(eddy__topk_size(tk), 5);
    cr_assert_eq(eddy__topk_floor(tk), 0);
    eddy__topk_free(tk);

    tk = eddy__topk_new(false);
    expect_json(tk, 5, "[]");
    eddy__topk_free(tk);
    eddy__topk_free(NULL);
}

Test(topk, values_are_normalised_and_ordered_across_types)
{
    struct eddy_topk *tk = eddy__topk_new(false);
    struct eddy_value vs[] = {vint(1),     vnum(1.0),         vnum(2.5),      vstr("1"),
                              vbool(true), vbool(false),      vnum(-0.0),     vint(0),
                              vnum(NAN),   eddy_value_null(), vnum(INFINITY), vnum(-1.5),
                              vstr(""),    vint(INT64_MIN)};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        cr_assert_eq(eddy__topk_add(tk, &vs[i], 1), EDDY_OK);
    /* 1 and 1.0 are one value (2), so are -0.0 and 0 (2); NaN, null and
     * infinity are ignored; ties: false, true, numbers ascending, strings */
    expect_json(
        tk, 20,
        "[{\"value\":0,\"count\":2},{\"value\":1,\"count\":2},{\"value\":false,\"count\":1},"
        "{\"value\":true,\"count\":1},{\"value\":-9223372036854775808,\"count\":1},"
        "{\"value\":-1.5,\"count\":1},{\"value\":2.5,\"count\":1},"
        "{\"value\":\"\",\"count\":1},{\"value\":\"1\",\"count\":1}]");
    eddy__topk_free(tk);

    struct eddy_value a = vint(3), b = vnum(3.5), c = vnum(2.9999999), d = vnum(-1e300);
    cr_assert_lt(eddy__topk_value_cmp(&a, &b), 0);
    cr_assert_gt(eddy__topk_value_cmp(&a, &c), 0);
    cr_assert_lt(eddy__topk_value_cmp(&d, &a), 0);
    struct eddy_value big = vint(INT64_MAX), two63 = vnum(9223372036854775808.0);
    cr_assert_lt(eddy__topk_value_cmp(&big, &two63), 0); /* exact, not through a double */
    struct eddy_value n;
    cr_assert(eddy__topk_value_normalise(&two63, &n));
    cr_assert_eq(n.type, EDDY_V_NUM); /* out of int64 range: stays a number */
}

Test(topk, weighted_form_sums_weights_and_ignores_bad_ones)
{
    struct eddy_topk *tk = eddy__topk_new(true);
    add_str(tk, "p1", 2.5);
    add_str(tk, "p2", 4);
    add_str(tk, "p1", 0.5);
    add_str(tk, "p3", 0);        /* a weight of 0 still makes the value known */
    add_str(tk, "p2", -1);       /* ignored */
    add_str(tk, "p2", NAN);      /* ignored */
    add_str(tk, "p2", INFINITY); /* ignored */
    cr_assert(eddy__topk_weighted(tk));
    cr_assert_eq(expect_json(tk, 3,
                             "[{\"value\":\"p2\",\"sum\":4},{\"value\":\"p1\",\"sum\":3},"
                             "{\"value\":\"p3\",\"sum\":0}]"),
                 0.0);
    add_str(tk, "p3", 0.1);
    add_str(tk, "p3", 0.2);
    expect_json(tk, 1, "[{\"value\":\"p2\",\"sum\":4}]");
    cr_assert_eq(count_of(tk, "p3"), 0.1 + 0.2); /* added in order, like a sum() */
    eddy__topk_free(tk);
}

/* The summary of "v0000".."v1023", each seen once: full. */
static struct eddy_topk *full_summary(void)
{
    struct eddy_topk *tk = eddy__topk_new(false);
    char name[8];
    for (int i = 0; i < EDDY_TOPK_CAPACITY; i++) {
        snprintf(name, sizeof name, "v%04d", i);
        add_str(tk, name, 1);
    }
    cr_assert_eq(eddy__topk_size(tk), EDDY_TOPK_CAPACITY);
    return tk;
}

Test(topk, past_the_bound_space_saving_replaces_the_last_value)
{
    struct eddy_topk *tk = full_summary();
    expect_json(tk, 1, "[{\"value\":\"v0000\",\"count\":1}]");
    /* a new value replaces the last in output order: count 1, largest value */
    add_str(tk, "new", 1);
    cr_assert_eq(eddy__topk_size(tk), EDDY_TOPK_CAPACITY);
    cr_assert_not(held(tk, "v1023"));
    cr_assert_eq(count_of(tk, "new"), 2); /* the floor 1 plus its own count */
    cr_assert_eq(eddy__topk_floor(tk), 1);
    /* a heavy hitter: replaces v1022, then counts exactly; overestimated by
     * at most the floor */
    for (int i = 0; i < 50; i++)
        add_str(tk, "hot", 1);
    cr_assert_not(held(tk, "v1022"));
    cr_assert_eq(count_of(tk, "hot"), 51);
    double error = expect_json(tk, 2,
                               "[{\"value\":\"hot\",\"count\":51},"
                               "{\"value\":\"new\",\"count\":2}]");
    cr_assert_float_eq(error, 1.0 / 1075, 1e-15); /* floor / total */
    /* every held count stays an upper bound: v0000 is still exact */
    cr_assert_eq(count_of(tk, "v0000"), 1);
    /* 2000 more distinct values cycle through the smallest counts; the
     * floor grows but hot stays (its true count 50 is above it) */
    char name[8];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "w%04d", i);
        add_str(tk, name, 1);
    }
    cr_assert_eq(eddy__topk_size(tk), EDDY_TOPK_CAPACITY);
    cr_assert_eq(eddy__topk_floor(tk), 2);
    cr_assert_eq(count_of(tk, "hot"), 51);
    cr_assert_gt(eddy__topk_memory(tk), EDDY_TOPK_CAPACITY * 20);
    eddy__topk_free(tk);
}

Test(topk, space_saving_bounds_hold_on_a_skewed_stream)
{
    /* 20000 records over 5000 values, value i with weight ~ 1/(i+1): every
     * value with a true count above the floor is held, and every held count
     * is within [true, true + floor] */
    enum { VALUES = 5000 };
    static int truth[VALUES];
    memset(truth, 0, sizeof truth);
    struct eddy_topk *tk = eddy__topk_new(false);
    uint64_t x = 12345;
    for (int n = 0; n < 20000; n++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(x >> 11) * 0x1.0p-53;
        int v = (int)(pow(VALUES, u)) - 1; /* log-uniform: a few values dominate */
        truth[v]++;
        struct eddy_value iv = vint(v);
        cr_assert_eq(eddy__topk_add(tk, &iv, 1), EDDY_OK);
    }
    double floor = eddy__topk_floor(tk);
    cr_assert_gt(floor, 0);
    cr_assert_leq(floor, 20000.0 / EDDY_TOPK_CAPACITY);
    for (int v = 0; v < VALUES; v++) {
        struct eddy_value iv = vint(v);
        double c;
        if (eddy__topk_count(tk, &iv, &c)) {
            cr_assert_geq(c, truth[v]);
            cr_assert_leq(c, truth[v] + floor);
        } else {
            cr_assert_leq(truth[v], floor, "value %d (true count %d) is missing", v, truth[v]);
        }
    }
    eddy__topk_free(tk);
}

Test(topk, merge_adds_counts_and_floors)
{
    struct eddy_topk *a = eddy__topk_new(false), *b = eddy__topk_new(false);
    add_str(a, "x", 1);
    add_str(a, "x", 1);
    add_str(a, "y", 1);
    add_str(b, "y", 1);
    add_str(b, "z", 1);
    cr_assert_eq(eddy__topk_merge(a, b), EDDY_OK);
    cr_assert_eq(expect_json(a, 5,
                             "[{\"value\":\"x\",\"count\":2},{\"value\":\"y\",\"count\":2},"
                             "{\"value\":\"z\",\"count\":1}]"),
                 0.0);
    /* merging an empty summary changes nothing; forms must match */
    struct eddy_topk *empty = eddy__topk_new(false), *weighted = eddy__topk_new(true);
    cr_assert_eq(eddy__topk_merge(a, empty), EDDY_OK);
    cr_assert_eq(eddy__topk_merge(empty, a), EDDY_OK);
    expect_json(empty, 5,
                "[{\"value\":\"x\",\"count\":2},{\"value\":\"y\",\"count\":2},"
                "{\"value\":\"z\",\"count\":1}]");
    cr_assert_eq(eddy__topk_merge(a, weighted), EDDY_EINVAL);

    /* with a floor: a value missing on one side takes that side's floor */
    struct eddy_topk *full = full_summary();
    add_str(full, "new", 1); /* floor 1 */
    cr_assert_eq(eddy__topk_merge(b, full), EDDY_OK);
    cr_assert_eq(count_of(b, "z"), 1 + 1);                /* z, absent from full: + its floor */
    cr_assert_eq(count_of(b, "new"), 0 + 2);              /* new, absent from b (floor 0) */
    cr_assert_eq(count_of(b, "y"), 1 + 1);                /* y, absent from full */
    cr_assert_eq(eddy__topk_size(b), EDDY_TOPK_CAPACITY); /* 1024 + 2, cut back */
    cr_assert_eq(eddy__topk_floor(b), 1);
    cr_assert_not(held(b, "v1021")); /* the largest values among counts 1 went */
    cr_assert_not(held(b, "v1022"));
    cr_assert(held(b, "v1020"));
    eddy__topk_free(a);
    eddy__topk_free(b);
    eddy__topk_free(empty);
    eddy__topk_free(weighted);
    eddy__topk_free(full);
}

Test(topk, merges_of_exact_parts_equal_one_summary_of_everything)
{
    /* three partitions' summaries merged, in any order, give the counts
     * of one summary of all the records */
    struct eddy_topk *parts[3], *whole = eddy__topk_new(true);
    char name[8];
    for (int p = 0; p < 3; p++) {
        parts[p] = eddy__topk_new(true);
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof name, "k%03d", (i * (p + 1)) % 211);
            add_str(parts[p], name, i % 7);
            add_str(whole, name, i % 7);
        }
    }
    struct eddy_buf want, got;
    eddy_buf_init(&want);
    eddy_buf_init(&got);
    cr_assert_eq(eddy__topk_encode(whole, &want), EDDY_OK);
    int orders[2][3] = {{0, 1, 2}, {2, 0, 1}};
    for (int o = 0; o < 2; o++) {
        struct eddy_topk *m = eddy__topk_new(true);
        for (int p = 0; p < 3; p++)
            cr_assert_eq(eddy__topk_merge(m, parts[orders[o][p]]), EDDY_OK);
        eddy_buf_reset(&got);
        cr_assert_eq(eddy__topk_encode(m, &got), EDDY_OK);
        cr_assert_eq(got.len, want.len);
        cr_assert_eq(memcmp(got.data, want.data, got.len), 0); /* integral weights: exact */
        eddy__topk_free(m);
    }
    for (int p = 0; p < 3; p++)
        eddy__topk_free(parts[p]);
    eddy__topk_free(whole);
    eddy_buf_release(&want);
    eddy_buf_release(&got);
}

Test(topk, encoding_is_exact_and_round_trips)
{
    struct eddy_topk *tk = eddy__topk_new(false);
    add_str(tk, "b", 1);
    add_str(tk, "a", 1);
    add_str(tk, "a", 1);
    struct eddy_buf e;
    eddy_buf_init(&e);
    cr_assert_eq(eddy__topk_encode(tk, &e), EDDY_OK);
    /* flags 0, n 2, floor 0, total 3, then ("a", 2), ("b", 1) */
    static const uint8_t want[] = {0, 2, 0, 3, 4, 1, 'a', 2, 4, 1, 'b', 1};
    cr_assert_eq(e.len, sizeof want);
    cr_assert_eq(memcmp(e.data, want, sizeof want), 0);
    struct eddy_topk *back = NULL;
    size_t used = 0;
    cr_assert_eq(eddy__topk_decode(&back, (const uint8_t *)e.data, e.len, &used), EDDY_OK);
    cr_assert_eq(used, e.len);
    expect_json(back, 5, "[{\"value\":\"a\",\"count\":2},{\"value\":\"b\",\"count\":1}]");
    eddy__topk_free(back);
    eddy__topk_free(tk);

    /* weighted, every value type, and a floor: decode(encode(x)) encodes to
     * the same bytes */
    tk = eddy__topk_new(true);
    struct eddy_value vs[] = {vstr("s"), vint(-7), vnum(0.25), vbool(true)};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(eddy__topk_add(tk, &vs[i], 1.5 * i), EDDY_OK);
    struct eddy_topk *full = full_summary();
    add_str(full, "new", 1);
    struct eddy_topk *fullw = eddy__topk_new(false);
    cr_assert_eq(eddy__topk_merge(fullw, full), EDDY_OK);
    struct eddy_topk *cases[] = {tk, fullw};
    for (int c = 0; c < 2; c++) {
        eddy_buf_reset(&e);
        cr_assert_eq(eddy__topk_encode(cases[c], &e), EDDY_OK);
        cr_assert_eq(eddy__topk_decode(&back, (const uint8_t *)e.data, e.len, &used), EDDY_OK);
        cr_assert_eq(used, e.len);
        struct eddy_buf again;
        eddy_buf_init(&again);
        cr_assert_eq(eddy__topk_encode(back, &again), EDDY_OK);
        cr_assert_eq(again.len, e.len);
        cr_assert_eq(memcmp(again.data, e.data, e.len), 0);
        cr_assert_eq(eddy__topk_floor(back), eddy__topk_floor(cases[c]));
        eddy_buf_release(&again);
        eddy__topk_free(back);
    }
    eddy__topk_free(tk);
    eddy__topk_free(full);
    eddy__topk_free(fullw);
    eddy_buf_release(&e);
}

Test(topk, decoder_rejects_malformed_bytes)
{
    static const struct {
        const char *why;
        uint8_t bytes[16];
        size_t len;
    } bad[] = {
        {"unknown flag", {2, 0, 0, 0}, 4},
        {"entries out of order", {0, 2, 0, 3, 4, 1, 'b', 1, 4, 1, 'a', 2}, 12},
        {"ties out of value order", {0, 2, 0, 2, 4, 1, 'b', 1, 4, 1, 'a', 1}, 12},
        {"a value twice", {0, 2, 0, 3, 4, 1, 'a', 2, 4, 1, 'a', 1}, 12},
        {"an integral NUM (an INT)", {0, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0x08, 0x40, 1}, 14},
        {"a bool that is 2", {0, 1, 0, 1, 1, 2, 1}, 7},
        {"unknown value type", {0, 1, 0, 1, 5, 1}, 6},
        {"a string past the end", {0, 1, 0, 1, 4, 9, 'a', 1}, 8},
        {"more entries than the capacity", {0, 0x81, 0x08, 0, 0}, 5},
        {"negative weight", {1, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf, 0, 0, 0, 0, 0, 0}, 16},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct eddy_topk *tk = (struct eddy_topk *)1;
        size_t used;
        cr_expect_eq(eddy__topk_decode(&tk, bad[i].bytes, bad[i].len, &used), EDDY_EPARSE, "%s",
                     bad[i].why);
        cr_expect_null(tk);
    }
    /* every proper prefix of a valid encoding is rejected */
    struct eddy_topk *tk = eddy__topk_new(true);
    add_str(tk, "abc", 2.5);
    add_str(tk, "de", 1);
    struct eddy_buf e;
    eddy_buf_init(&e);
    cr_assert_eq(eddy__topk_encode(tk, &e), EDDY_OK);
    for (size_t len = 0; len < e.len; len++) {
        struct eddy_topk *out;
        size_t used;
        cr_expect_eq(eddy__topk_decode(&out, (const uint8_t *)e.data, len, &used), EDDY_EPARSE,
                     "prefix %zu", len);
    }
    eddy_buf_release(&e);
    eddy__topk_free(tk);
}

/* ---- the accumulator kinds ---- */

static const char *acc_json(const struct eddy_acc *acc, enum eddy_metric_kind kind, int k,
                            double *error)
{
    static char text[4096];
    struct eddy_value out;
    eddy_acc_result(acc, kind, k, &out, error);
    cr_assert_eq(out.type, EDDY_V_JSON);
    cr_assert_lt(out.as.s.len, sizeof text);
    memcpy(text, out.as.s.ptr, out.as.s.len);
    text[out.as.s.len] = '\0';
    return text;
}

Test(acc_topk, top_k_and_top_k_by_through_the_accumulator)
{
    struct eddy_acc acc = {0}, by = {0};
    double error = -1;
    cr_assert_str_eq(acc_json(&acc, EDDY_M_TOP_K, 3, &error), "[]");
    cr_assert_eq(error, 0);
    const char *products[] = {"p2", "p1", "p2", "p3", "p2", "p1"};
    double prices[] = {10, 99.5, 10, 5, 10, 0.5};
    for (int i = 0; i < 6; i++) {
        struct eddy_value p = vstr(products[i]), w = vnum(prices[i]);
        cr_assert_eq(eddy_acc_update(&acc, EDDY_M_TOP_K, &p), EDDY_OK);
        cr_assert_eq(eddy_acc_update_pair(&by, EDDY_M_TOP_K_BY, &p, &w), EDDY_OK);
    }
    struct eddy_value p = vstr("p9"), none = eddy_value_null(), text = vstr("12");
    cr_assert_eq(eddy_acc_update_pair(&by, EDDY_M_TOP_K_BY, &p, &none), EDDY_OK); /* ignored */
    cr_assert_eq(eddy_acc_update_pair(&by, EDDY_M_TOP_K_BY, &p, &text), EDDY_OK); /* ignored */
    cr_assert_eq(eddy_acc_update(&acc, EDDY_M_TOP_K, &none), EDDY_OK);
    cr_assert_str_eq(acc_json(&acc, EDDY_M_TOP_K, 2, &error),
                     "[{\"value\":\"p2\",\"count\":3},{\"value\":\"p1\",\"count\":2}]");
    cr_assert_str_eq(acc_json(&by, EDDY_M_TOP_K_BY, 5, &error),
                     "[{\"value\":\"p1\",\"sum\":100},{\"value\":\"p2\",\"sum\":30},"
                     "{\"value\":\"p3\",\"sum\":5}]");
    /* merge, encode, decode */
    struct eddy_acc merged = {0}, back = {0};
    cr_assert_eq(eddy_acc_merge(&merged, &by, EDDY_M_TOP_K_BY), EDDY_OK);
    cr_assert_eq(eddy_acc_merge(&merged, &by, EDDY_M_TOP_K_BY), EDDY_OK);
    cr_assert_str_eq(acc_json(&merged, EDDY_M_TOP_K_BY, 1, &error),
                     "[{\"value\":\"p1\",\"sum\":200}]");
    struct eddy_buf e;
    eddy_buf_init(&e);
    cr_assert_eq(eddy_acc_encode(&merged, EDDY_M_TOP_K_BY, &e), EDDY_OK);
    size_t used;
    cr_assert_eq(eddy_acc_decode(&back, EDDY_M_TOP_K_BY, (const uint8_t *)e.data, e.len, &used),
                 EDDY_OK);
    cr_assert_eq(used, e.len);
    cr_assert_str_eq(acc_json(&back, EDDY_M_TOP_K_BY, 1, &error),
                     "[{\"value\":\"p1\",\"sum\":200}]");
    /* the other form's bytes do not decode as this kind */
    struct eddy_acc wrong = {0};
    cr_assert_eq(eddy_acc_decode(&wrong, EDDY_M_TOP_K, (const uint8_t *)e.data, e.len, &used),
                 EDDY_EPARSE);
    cr_assert_null(wrong.u.top_k);
    /* an empty accumulator encodes as one byte */
    struct eddy_acc empty = {0};
    eddy_buf_reset(&e);
    cr_assert_eq(eddy_acc_encode(&empty, EDDY_M_TOP_K, &e), EDDY_OK);
    cr_assert_eq(e.len, 1);
    cr_assert_eq(e.data[0], 0);
    cr_assert_gt(eddy_acc_memory(&acc, EDDY_M_TOP_K), 0);
    eddy_buf_release(&e);
    eddy_acc_release(&acc, EDDY_M_TOP_K);
    eddy_acc_release(&by, EDDY_M_TOP_K_BY);
    eddy_acc_release(&merged, EDDY_M_TOP_K_BY);
    eddy_acc_release(&back, EDDY_M_TOP_K_BY);
}

static struct eddy_value arg_result(const struct eddy_acc *acc, enum eddy_metric_kind kind)
{
    struct eddy_value out;
    double error = -1;
    eddy_acc_result(acc, kind, 0, &out, &error);
    cr_assert_eq(error, 0);
    return out;
}

static void assert_str_value(struct eddy_value v, const char *want)
{
    cr_assert_eq(v.type, EDDY_V_STR);
    cr_assert_eq(v.as.s.len, strlen(want));
    cr_assert_eq(memcmp(v.as.s.ptr, want, v.as.s.len), 0, "got %.*s", (int)v.as.s.len, v.as.s.ptr);
}

Test(acc_topk, arg_max_ties_take_the_smallest_field_in_any_order)
{
    /* bids (price, bidder): 7 and 9 tie at the top, 1 and 2 at the bottom */
    struct {
        struct eddy_value price;
        const char *bidder;
    } bids[] = {{vint(50), "carol"}, {vint(90), "dave"},  {vnum(90.0), "bob"},
                {vint(10), "zed"},   {vnum(10.0), "amy"}, {vnum(89.999), "eve"}};
    int orders[3][6] = {{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 5, 0, 4, 1, 3}};
    for (int o = 0; o < 3; o++) {
        struct eddy_acc max = {0}, min = {0};
        cr_assert_eq(arg_result(&max, EDDY_M_ARG_MAX).type, EDDY_V_NULL);
        for (int i = 0; i < 6; i++) {
            /* the field's bytes are copied: the caller's buffer may change */
            char field[8];
            snprintf(field, sizeof field, "%s", bids[orders[o][i]].bidder);
            struct eddy_value f = vstr(field);
            cr_assert_eq(eddy_acc_update_pair(&max, EDDY_M_ARG_MAX, &bids[orders[o][i]].price, &f),
                         EDDY_OK);
            cr_assert_eq(eddy_acc_update_pair(&min, EDDY_M_ARG_MIN, &bids[orders[o][i]].price, &f),
                         EDDY_OK);
            memset(field, 'X', sizeof field);
        }
        assert_str_value(arg_result(&max, EDDY_M_ARG_MAX), "bob");
        assert_str_value(arg_result(&min, EDDY_M_ARG_MIN), "amy");
        eddy_acc_release(&max, EDDY_M_ARG_MAX);
        eddy_acc_release(&min, EDDY_M_ARG_MIN);
    }
}

Test(acc_topk, arg_max_ignores_non_numbers_and_null_fields_and_merges)
{
    struct eddy_acc a = {0}, b = {0};
    struct eddy_value big = vint(1000), small = vint(1), text = vstr("999999"),
                      none = eddy_value_null();
    struct eddy_value f1 = vint(7), f2 = vstr("x"), f3 = vbool(true);
    cr_assert_eq(eddy_acc_update_pair(&a, EDDY_M_ARG_MAX, &text, &f1), EDDY_OK);  /* no number */
    cr_assert_eq(eddy_acc_update_pair(&a, EDDY_M_ARG_MAX, &big, &none), EDDY_OK); /* no field */
    cr_assert_eq(eddy_acc_update_pair(&a, EDDY_M_ARG_MAX, &small, &f1), EDDY_OK);
    struct eddy_value r = arg_result(&a, EDDY_M_ARG_MAX);
    cr_assert_eq(r.type, EDDY_V_INT);
    cr_assert_eq(r.as.i, 7);
    cr_assert_eq(eddy_acc_update_pair(&b, EDDY_M_ARG_MAX, &big, &f2), EDDY_OK);
    cr_assert_eq(eddy_acc_merge(&a, &b, EDDY_M_ARG_MAX), EDDY_OK);
    assert_str_value(arg_result(&a, EDDY_M_ARG_MAX), "x");
    cr_assert_eq(eddy_acc_memory(&a, EDDY_M_ARG_MAX), 1 + 16);
    /* a tie on merge: true orders before "x" */
    struct eddy_acc c = {0};
    cr_assert_eq(eddy_acc_update_pair(&c, EDDY_M_ARG_MAX, &big, &f3), EDDY_OK);
    cr_assert_eq(eddy_acc_merge(&a, &c, EDDY_M_ARG_MAX), EDDY_OK);
    r = arg_result(&a, EDDY_M_ARG_MAX);
    cr_assert_eq(r.type, EDDY_V_BOOL);
    cr_assert(r.as.b);
    cr_assert_eq(eddy_acc_memory(&a, EDDY_M_ARG_MAX), 0);
    eddy_acc_release(&a, EDDY_M_ARG_MAX);
    eddy_acc_release(&b, EDDY_M_ARG_MAX);
    eddy_acc_release(&c, EDDY_M_ARG_MAX);
}

Test(acc_topk, arg_max_encoding_is_exact)
{
    struct eddy_acc a = {0}, back = {0};
    struct eddy_buf e;
    eddy_buf_init(&e);
    cr_assert_eq(eddy_acc_encode(&a, EDDY_M_ARG_MAX, &e), EDDY_OK);
    cr_assert_eq(e.len, 1);
    cr_assert_eq(e.data[0], 0);
    struct eddy_value price = vint(-3), bidder = vstr("ab");
    cr_assert_eq(eddy_acc_update_pair(&a, EDDY_M_ARG_MAX, &price, &bidder), EDDY_OK);
    eddy_buf_reset(&e);
    cr_assert_eq(eddy_acc_encode(&a, EDDY_M_ARG_MAX, &e), EDDY_OK);
    static const uint8_t want[] = {1, 5, 4, 2, 'a', 'b'}; /* int, zigzag(-3), STR "ab" */
    cr_assert_eq(e.len, sizeof want);
    cr_assert_eq(memcmp(e.data, want, sizeof want), 0);
    size_t used;
    cr_assert_eq(eddy_acc_decode(&back, EDDY_M_ARG_MAX, want, sizeof want, &used), EDDY_OK);
    cr_assert_eq(used, sizeof want);
    assert_str_value(arg_result(&back, EDDY_M_ARG_MAX), "ab");
    /* a num extreme and an int field */
    struct eddy_acc n = {0};
    struct eddy_value p = vnum(2.5), f = vint(1001);
    cr_assert_eq(eddy_acc_update_pair(&n, EDDY_M_ARG_MIN, &p, &f), EDDY_OK);
    eddy_buf_reset(&e);
    cr_assert_eq(eddy_acc_encode(&n, EDDY_M_ARG_MIN, &e), EDDY_OK);
    static const uint8_t want_n[] = {2, 0, 0, 0, 0, 0, 0, 4, 0x40, 2, 0xd2, 0x0f};
    cr_assert_eq(e.len, sizeof want_n);
    cr_assert_eq(memcmp(e.data, want_n, sizeof want_n), 0);
    static const uint8_t bad[][6] = {
        {3, 0, 0, 0, 0, 0},     /* unknown tag */
        {1, 5, 9, 0, 0, 0},     /* unknown field type */
        {1, 5, 4, 9, 'a', 'b'}, /* string past the end */
        {1, 5, 3, 0, 0, 0},     /* truncated num field */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct eddy_acc x = {0};
        cr_expect_eq(eddy_acc_decode(&x, EDDY_M_ARG_MAX, bad[i], 6, &used), EDDY_EPARSE, "case %zu",
                     i);
        cr_expect_eq(x.u.arg.field_type, EDDY_V_NULL);
    }
    eddy_buf_release(&e);
    eddy_acc_release(&a, EDDY_M_ARG_MAX);
    eddy_acc_release(&back, EDDY_M_ARG_MAX);
    eddy_acc_release(&n, EDDY_M_ARG_MIN);
}

Test(acc_topk, allocation_failure_leaves_the_accumulator_as_it_was)
{
    struct eddy_value p = vstr("p1"), w = vint(3);
    /* a first update that cannot allocate leaves the accumulator empty */
    for (unsigned long nth = 1; nth < 6; nth++) {
        struct eddy_acc acc = {0};
        eddy_alloc_fail_at(nth);
        eddy_err_t err = eddy_acc_update_pair(&acc, EDDY_M_TOP_K_BY, &p, &w);
        eddy_alloc_fail_at(0);
        if (err == EDDY_OK) {
            eddy_acc_release(&acc, EDDY_M_TOP_K_BY);
            break;
        }
        cr_assert_eq(err, EDDY_ENOMEM);
        cr_assert_null(acc.u.top_k);
    }
    struct eddy_acc arg = {0};
    eddy_alloc_fail_at(1);
    cr_assert_eq(eddy_acc_update_pair(&arg, EDDY_M_ARG_MAX, &w, &p), EDDY_ENOMEM);
    eddy_alloc_fail_at(0);
    cr_assert_eq(arg.u.arg.field_type, EDDY_V_NULL);
    /* a merge that cannot allocate leaves dst's result as it was */
    struct eddy_acc dst = {0}, src = {0};
    char name[8];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "d%02d", i);
        struct eddy_value v = vstr(name);
        cr_assert_eq(eddy_acc_update(&dst, EDDY_M_TOP_K, &v), EDDY_OK);
        snprintf(name, sizeof name, "s%02d", i);
        v = vstr(name);
        cr_assert_eq(eddy_acc_update(&src, EDDY_M_TOP_K, &v), EDDY_OK);
    }
    struct eddy_buf before, after;
    eddy_buf_init(&before);
    eddy_buf_init(&after);
    cr_assert_eq(eddy_acc_encode(&dst, EDDY_M_TOP_K, &before), EDDY_OK);
    bool failed = false;
    for (unsigned long nth = 1; nth < 60 && !failed; nth++) {
        eddy_alloc_fail_at(nth);
        eddy_err_t err = eddy_acc_merge(&dst, &src, EDDY_M_TOP_K);
        eddy_alloc_fail_at(0);
        if (err == EDDY_OK)
            break;
        cr_assert_eq(err, EDDY_ENOMEM);
        eddy_buf_reset(&after);
        cr_assert_eq(eddy_acc_encode(&dst, EDDY_M_TOP_K, &after), EDDY_OK);
        cr_assert_eq(after.len, before.len);
        cr_assert_eq(memcmp(after.data, before.data, before.len), 0);
    }
    eddy_buf_release(&before);
    eddy_buf_release(&after);
    eddy_acc_release(&dst, EDDY_M_TOP_K);
    eddy_acc_release(&src, EDDY_M_TOP_K);
}

/* ---- metric calls ---- */

static struct eddy__metric_call parse_ok(const char *text)
{
    struct eddy__metric_call call;
    char err[256];
    cr_assert_eq(eddy__metric_call_parse(text, &call, err, sizeof err), EDDY_OK, "%s: %s", text,
                 err);
    return call;
}

static void parse_fails(const char *text, const char *message)
{
    struct eddy__metric_call call;
    char err[256];
    cr_assert_eq(eddy__metric_call_parse(text, &call, err, sizeof err), EDDY_ECONFIG, "%s", text);
    cr_assert_str_eq(err, message);
}

static void assert_text(const char *p, size_t len, const char *want)
{
    cr_assert_eq(len, strlen(want), "got '%.*s'", (int)len, p);
    cr_assert_eq(memcmp(p, want, len), 0, "got '%.*s'", (int)len, p);
}

Test(metric, top_k_and_arg_max_calls)
{
    struct eddy__metric_call c = parse_ok("top_k(product_id, 5)");
    cr_assert_eq(c.kind, EDDY_M_TOP_K);
    assert_text(c.arg, c.arg_len, "product_id");
    cr_assert_null(c.arg2);
    cr_assert_eq(c.q, 5);
    c = parse_ok(" top_k( product_id ,100 , by: price * quantity ) ");
    cr_assert_eq(c.kind, EDDY_M_TOP_K_BY);
    assert_text(c.arg, c.arg_len, " product_id ");
    assert_text(c.arg2, c.arg2_len, " price * quantity");
    cr_assert_eq(c.q, 100);
    c = parse_ok("arg_max(price, bidder)");
    cr_assert_eq(c.kind, EDDY_M_ARG_MAX);
    assert_text(c.arg, c.arg_len, "price");
    assert_text(c.arg2, c.arg2_len, " bidder");
    c = parse_ok("arg_min(price, f(1, 2))");
    cr_assert_eq(c.kind, EDDY_M_ARG_MIN);
    assert_text(c.arg2, c.arg2_len, " f(1, 2)");
    cr_assert_str_eq(eddy__metric_kind_name(EDDY_M_TOP_K_BY), "top_k");
    cr_assert_str_eq(eddy__metric_kind_name(EDDY_M_ARG_MIN), "arg_min");

    parse_fails("top_k(x)", "top_k() takes 2 or 3 arguments (an expression, K and optionally "
                            "by: WEIGHT), got 1");
    parse_fails("top_k(x, 0)", "top_k K must be an integer from 1 to 100, got '0'");
    parse_fails("top_k(x, 101)", "top_k K must be an integer from 1 to 100, got '101'");
    parse_fails("top_k(x, 2.5)", "top_k K must be an integer from 1 to 100, got '2.5'");
    parse_fails("top_k(x, 3, w)", "top_k's third argument must be 'by: WEIGHT', got 'w'");
    parse_fails("arg_max(x)", "arg_max() takes 2 arguments (the value to maximise or minimise "
                              "and the field to report), got 1");
    parse_fails("arg_min(a, b, c)", "arg_min() takes 2 arguments (the value to maximise or "
                                    "minimise and the field to report), got 3");
    parse_fails("top(x, 3)", "unknown metric function 'top' (expected count, count_if, sum, min, "
                             "max, avg, ratio, quantile, distinct, top_k, arg_max or arg_min)");
}

static const char TOPOLOGY[] = "name: t\n"
                               "source:\n"
                               "  topic: in\n"
                               "  timestamp: {field: ts, format: unix_ms}\n"
                               "  fields: {p: string, price: number, who: string}\n"
                               "aggregations:\n"
                               "  - name: a\n"
                               "    window: {tumbling: 1m}\n"
                               "    metrics:\n"
                               "      t3: top_k(p, 3)\n"
                               "      t3b: top_k(p, 3)\n"
                               "      t5: top_k(p, 5)\n"
                               "      rev: \"top_k(p, 3, by: price)\"\n"
                               "      rev2: \"top_k(p,3,by:price)\"\n"
                               "      hi: arg_max(price, who)\n"
                               "      hi_p: arg_max(price, p)\n"
                               "      lo: arg_min(price, who)\n"
                               "      top: max(price)\n";

Test(metric, accumulators_are_shared_by_equal_calls_only)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    cr_assert_eq(eddy_topology_parse("t.yaml", TOPOLOGY, strlen(TOPOLOGY), &plan, err, sizeof err),
                 EDDY_OK, "%s", err);
    const struct eddy_aggregation *agg = &plan->aggregations[0];
    /* t3 and t3b share; t5 has its own (results are rendered per K); rev
     * and rev2 share (same expressions); hi, hi_p, lo and top are apart */
    static const size_t want[] = {0, 0, 1, 2, 2, 3, 4, 5, 6};
    cr_assert_eq(agg->n_metrics, 9);
    cr_assert_eq(agg->n_accs, 7);
    for (size_t m = 0; m < 9; m++)
        cr_assert_eq(agg->metric_acc[m], want[m], "metric %zu", m);
    cr_assert_eq(agg->accs[2].kind, EDDY_M_TOP_K_BY);
    cr_assert_str_eq(eddy_expr_source(agg->accs[2].arg2), "price");
    cr_assert_eq(agg->accs[1].q, 5);
    struct eddy_buf text;
    eddy_buf_init(&text);
    eddy__metric_call_format(&agg->metrics[4], &text);
    cr_assert_str_eq(text.data, "top_k(p, 3, by: price)");
    eddy_buf_reset(&text);
    eddy__metric_call_format(&agg->metrics[7], &text);
    cr_assert_str_eq(text.data, "arg_min(price, who)");
    eddy_buf_release(&text);
    eddy_plan_free(plan);

    struct eddy_plan *bad = NULL;
    const char *quoted_needed =
        "name: t\n"
        "source: {topic: in, timestamp: {field: ts}, fields: {p: string}}\n"
        "aggregations:\n"
        "  - {name: a, window: {tumbling: 1m}, metrics: {t: top_k(p, 3, w)}}\n";
    cr_assert_eq(
        eddy_topology_parse("t.yaml", quoted_needed, strlen(quoted_needed), &bad, err, sizeof err),
        EDDY_ECONFIG);
    cr_assert_null(bad);
}

/* ---- through a window store: repartitioned partials and restores ---- */

static const char STORE_TOPOLOGY[] = "name: t\n"
                                     "source:\n"
                                     "  topic: in\n"
                                     "  timestamp: {field: ts, format: unix_ms}\n"
                                     "  fields: {p: string, price: int, who: string}\n"
                                     "aggregations:\n"
                                     "  - name: a\n"
                                     "    window: {hopping: 2m, advance: 1m}\n"
                                     "    metrics:\n"
                                     "      n: count()\n"
                                     "      top: top_k(p, 3)\n"
                                     "      rev: \"top_k(p, 2, by: price)\"\n"
                                     "      hi: arg_max(price, who)\n"
                                     "      lo: arg_min(price, who)\n";

static eddy_err_t emit_text(void *ctx, const struct eddy_aggregation *agg,
                            const struct eddy_window_row *row)
{
    eddy__result_json(ctx, agg, row);
    eddy_buf_putc(ctx, '\n');
    return EDDY_OK;
}

struct kv {
    struct eddy_buf keys, values; /* u32 length then bytes, each */
};

static eddy_err_t kv_put(void *ctx, const void *key, size_t key_len, const void *value,
                         size_t value_len)
{
    struct kv *kv = ctx;
    uint32_t kl = (uint32_t)key_len, vl = (uint32_t)value_len;
    eddy_buf_append(&kv->keys, &kl, 4);
    eddy_buf_append(&kv->keys, key, key_len);
    eddy_buf_append(&kv->values, &vl, 4);
    eddy_buf_append(&kv->values, value, value_len);
    return EDDY_OK;
}

static eddy_err_t kv_closed(void *ctx, int64_t window_start)
{
    return EDDY_OK;
}

/* Event i: product "p<i*i mod 7>", price (i * 37) mod 50 (ties), buyer. */
static void event(int i, char *p, char *who, struct eddy_value slots[3], int64_t *ts)
{
    snprintf(p, 8, "p%d", (i * i) % 7);
    snprintf(who, 8, "w%02d", (i * 11) % 23);
    slots[0] = vstr(p);
    slots[1] = vint((i * 37) % 50);
    slots[2] = vstr(who);
    *ts = (int64_t)i * 1000;
}

Test(acc_topk, partials_and_restored_rows_emit_what_one_store_emits)
{
    struct eddy_plan *plan = NULL;
    char err[512];
    cr_assert_eq(eddy_topology_parse("t.yaml", STORE_TOPOLOGY, strlen(STORE_TOPOLOGY), &plan, err,
                                     sizeof err),
                 EDDY_OK, "%s", err);
    const struct eddy_aggregation *agg = &plan->aggregations[0];
    struct eddy_window_store *direct, *part[2], *merged, *saved, *restored;
    cr_assert_eq(eddy__window_store_new(agg, 0, &direct), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(agg, 0, &part[0]), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(agg, 0, &part[1]), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(agg, 0, &merged), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(agg, 0, &saved), EDDY_OK);
    cr_assert_eq(eddy__window_store_new(agg, 0, &restored), EDDY_OK);
    struct kv kv;
    eddy_buf_init(&kv.keys);
    eddy_buf_init(&kv.values);
    struct eddy_window_changes changes = {kv_put, kv_closed, &kv, NULL};
    cr_assert_eq(eddy__window_changes(saved, &changes), EDDY_OK); /* start recording */
    for (int i = 0; i < 300; i++) {
        char p[8], who[8];
        struct eddy_value slots[3];
        int64_t ts;
        bool late;
        event(i, p, who, slots, &ts);
        cr_assert_eq(eddy__window_add(direct, slots, ts, 0, &late), EDDY_OK);
        cr_assert_eq(eddy__window_add(part[i % 2], slots, ts, 0, &late), EDDY_OK);
        cr_assert_eq(eddy__window_add(saved, slots, ts, 0, &late), EDDY_OK);
        cr_assert_not(late);
    }
    /* repartitioning: the partial rows of both parts merged into one store */
    struct kv shipped;
    eddy_buf_init(&shipped.keys);
    eddy_buf_init(&shipped.values);
    for (int k = 1; k >= 0; k--)
        cr_assert_eq(eddy__window_ship(part[k], kv_put, &shipped), EDDY_OK);
    /* restore: the persisted rows loaded into a fresh store */
    cr_assert_eq(eddy__window_changes(saved, &changes), EDDY_OK);
    struct kv *sources[] = {&shipped, &kv};
    struct eddy_window_store *targets[] = {merged, restored};
    for (int s = 0; s < 2; s++) {
        size_t kp = 0, vp = 0, rows = 0;
        while (kp < sources[s]->keys.len) {
            uint32_t kl, vl;
            memcpy(&kl, sources[s]->keys.data + kp, 4);
            memcpy(&vl, sources[s]->values.data + vp, 4);
            const char *key = sources[s]->keys.data + kp + 4,
                       *value = sources[s]->values.data + vp + 4;
            bool late = false;
            if (s == 0)
                cr_assert_eq(eddy__window_merge(targets[s], key, kl, value, vl, 0, &late), EDDY_OK);
            else
                cr_assert_eq(eddy__window_load(targets[s], key, kl, value, vl, 0), EDDY_OK);
            cr_assert_not(late);
            kp += 4 + kl;
            vp += 4 + vl;
            rows++;
        }
        cr_assert_eq(rows, s == 0 ? 10 : 5); /* windows at 0, 1m, .. 4m; two parts */
    }
    struct eddy_buf want, got;
    eddy_buf_init(&want);
    eddy_buf_init(&got);
    cr_assert_eq(eddy__window_advance(direct, INT64_MAX / 2, true, emit_text, &want), EDDY_OK);
    cr_assert_gt(want.len, 1000);
    /* the first window, [0, 2m): events 0..119 (computed independently);
     * ties ordered by value, arg_max/arg_min ties by the smallest buyer */
    cr_assert(
        strstr(want.data,
               "\"n\":120,\"top\":[{\"value\":\"p1\",\"count\":34},"
               "{\"value\":\"p2\",\"count\":34},{\"value\":\"p4\",\"count\":34}],"
               "\"top_error\":0,\"rev\":[{\"value\":\"p1\",\"sum\":851},"
               "{\"value\":\"p2\",\"sum\":851}],\"rev_error\":0,\"hi\":\"w19\",\"lo\":\"w00\"}") !=
            NULL,
        "%s", want.data);
    struct eddy_window_store *others[] = {merged, restored};
    for (int s = 0; s < 2; s++) {
        eddy_buf_reset(&got);
        cr_assert_eq(eddy__window_advance(others[s], INT64_MAX / 2, true, emit_text, &got),
                     EDDY_OK);
        cr_assert_eq(got.len, want.len, "store %d:\n%s\nwant:\n%s", s, got.data, want.data);
        cr_assert_eq(memcmp(got.data, want.data, want.len), 0, "store %d:\n%s\nwant:\n%s", s,
                     got.data, want.data);
    }
    eddy_buf_release(&want);
    eddy_buf_release(&got);
    eddy_buf_release(&kv.keys);
    eddy_buf_release(&kv.values);
    eddy_buf_release(&shipped.keys);
    eddy_buf_release(&shipped.values);
    eddy__window_store_free(direct);
    eddy__window_store_free(part[0]);
    eddy__window_store_free(part[1]);
    eddy__window_store_free(merged);
    eddy__window_store_free(saved);
    eddy__window_store_free(restored);
    eddy_plan_free(plan);
}
