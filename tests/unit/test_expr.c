/*
 * test_expr.c - the expression language: every operator, precedence, the
 * semantics of int/double/string/bool/NULL, overflow, division by zero,
 * table lookups and the exact compile error messages.
 *
 * Results are compared as text: "int:5", "num:2.5" (%.15g), "str:abc",
 * "bool:true", "null".
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/expr.h"
#include "config/table.h"
#include "core/alloc.h"

static const char *const names[] = {"i",   "n",     "s",    "b",       "z",     "big",
                                    "neg", "small", "zero", "service", "empty", "f"};
enum { N_NAMES = sizeof names / sizeof names[0] };

static struct eddy_value slots[N_NAMES];
static struct eddy_table *table;

static const char table_yaml[] = "- service: auth\n"
                                 "  budget: 0.001\n"
                                 "  limit: 300\n"
                                 "  team: identity\n"
                                 "  critical: true\n"
                                 "- service: search\n"
                                 "  limit: 800\n"
                                 "- service: '7'\n"
                                 "  team: numbers\n";

static void setup(void)
{
    slots[0] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 7};
    slots[1] = (struct eddy_value){.type = EDDY_V_NUM, .as.n = 2.5};
    slots[2] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"abc", 3}};
    slots[3] = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = true};
    slots[4] = eddy_value_null();
    slots[5] = (struct eddy_value){.type = EDDY_V_INT, .as.i = INT64_MAX};
    slots[6] = (struct eddy_value){.type = EDDY_V_INT, .as.i = -3};
    slots[7] = (struct eddy_value){.type = EDDY_V_INT, .as.i = INT64_MIN};
    slots[8] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 0};
    slots[9] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"auth", 4}};
    slots[10] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"", 0}};
    slots[11] = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = false};
    char err[256];
    cr_assert_eq(eddy__table_parse("services", "services.yaml", "service", table_yaml,
                                   strlen(table_yaml), &table, err, sizeof err),
                 EDDY_OK, "%s", err);
}

static void teardown(void)
{
    eddy__table_free(table);
    table = NULL;
}

static struct eddy_expr_scope scope(void)
{
    struct eddy_expr_scope s = {names, N_NAMES, &table, 1};
    return s;
}

static void show(const struct eddy_value *v, char *out, size_t len)
{
    switch (v->type) {
    case EDDY_V_NULL: snprintf(out, len, "null"); break;
    case EDDY_V_BOOL: snprintf(out, len, "bool:%s", v->as.b ? "true" : "false"); break;
    case EDDY_V_INT: snprintf(out, len, "int:%lld", (long long)v->as.i); break;
    case EDDY_V_NUM: snprintf(out, len, "num:%.15g", v->as.n); break;
    default: snprintf(out, len, "str:%.*s", (int)v->as.s.len, v->as.s.ptr); break;
    }
}

struct eval_case {
    const char *text;
    const char *expected;
};

static void run_cases(const struct eval_case *cases, size_t n)
{
    struct eddy_expr_scope sc = scope();
    for (size_t k = 0; k < n; k++) {
        struct eddy_expr *e;
        char err[256], got[128];
        eddy_err_t rc = eddy__expr_compile(cases[k].text, &sc, &e, err, sizeof err);
        cr_assert_eq(rc, EDDY_OK, "compile '%s': %s", cases[k].text, err);
        struct eddy_eval_ctx ctx = {slots};
        struct eddy_value out;
        eddy_expr_eval(e, &ctx, &out);
        show(&out, got, sizeof got);
        cr_expect_str_eq(got, cases[k].expected, "'%s' gave %s, expected %s", cases[k].text, got,
                         cases[k].expected);
        eddy__expr_free(e);
    }
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

TestSuite(expr, .init = setup, .fini = teardown);

Test(expr, literals_evaluate_to_their_types)
{
    static const struct eval_case cases[] = {
        {"42", "int:42"},
        {"-42", "int:-42"},
        {"9223372036854775807", "int:9223372036854775807"},
        {"-9223372036854775807", "int:-9223372036854775807"},
        {"2.5", "num:2.5"},
        {"1e3", "num:1000"},
        {"2.5E-1", "num:0.25"},
        {"-0.5", "num:-0.5"},
        {"'abc'", "str:abc"},
        {"\"a'b\"", "str:a'b"},
        {"'it\\'s'", "str:it's"},
        {"'back\\\\slash'", "str:back\\slash"},
        {"''", "str:"},
        {"true", "bool:true"},
        {"false", "bool:false"},
        {"null", "null"},
        {"  ( 42 )  ", "int:42"},
    };
    RUN(cases);
}

Test(expr, slots_are_read_by_name)
{
    static const struct eval_case cases[] = {
        {"i", "int:7"},     {"n", "num:2.5"}, {"s", "str:abc"},
        {"b", "bool:true"}, {"z", "null"},    {"service", "str:auth"},
    };
    RUN(cases);
}

Test(expr, integer_arithmetic_stays_integer_and_division_is_double)
{
    static const struct eval_case cases[] = {
        {"i + 3", "int:10"},   {"i - 10", "int:-3"},    {"i * neg", "int:-21"}, {"i % 4", "int:3"},
        {"neg % 2", "int:-1"}, {"i / 2", "num:3.5"},    {"8 / 4", "num:2"},     {"-i", "int:-7"},
        {"- -i", "int:7"},     {"small % -1", "int:0"},
    };
    RUN(cases);
}

Test(expr, mixed_and_double_arithmetic_is_double)
{
    static const struct eval_case cases[] = {
        {"i + n", "num:9.5"}, {"n * 2", "num:5"},   {"n - 0.5", "num:2"},
        {"n / 0.5", "num:5"}, {"n % 1", "num:0.5"}, {"-n", "num:-2.5"},
    };
    RUN(cases);
}

Test(expr, integer_overflow_yields_null)
{
    static const struct eval_case cases[] = {
        {"big + 1", "null"},
        {"small - 1", "null"},
        {"big * 2", "null"},
        {"-small", "null"},
        {"big + 0", "int:9223372036854775807"},
        {"big + 1.0", "num:9.22337203685478e+18"},
    };
    RUN(cases);
}

Test(expr, division_by_zero_yields_null)
{
    static const struct eval_case cases[] = {
        {"i / 0", "null"}, {"i / zero", "null"}, {"n / 0.0", "null"},
        {"i % 0", "null"}, {"n % 0", "null"},    {"0 / 5", "num:0"},
    };
    RUN(cases);
}

Test(expr, arithmetic_on_non_numbers_or_null_yields_null)
{
    static const struct eval_case cases[] = {
        {"s + 1", "null"}, {"b + 1", "null"}, {"z + 1", "null"}, {"1 - z", "null"},
        {"-s", "null"},    {"-z", "null"},    {"s * s", "null"}, {"z / 1", "null"},
    };
    RUN(cases);
}

Test(expr, comparisons_of_numbers_strings_and_bools)
{
    static const struct eval_case cases[] = {
        {"i == 7", "bool:true"},      {"i != 7", "bool:false"},       {"i < 8", "bool:true"},
        {"i <= 7", "bool:true"},      {"i > 7", "bool:false"},        {"i >= 8", "bool:false"},
        {"i == 7.0", "bool:true"},    {"n > i", "bool:false"},        {"n < 2.6", "bool:true"},
        {"s == 'abc'", "bool:true"},  {"s < 'abd'", "bool:true"},     {"s > 'ab'", "bool:true"},
        {"s != 'abc'", "bool:false"}, {"empty < s", "bool:true"},     {"'b' > 'abc'", "bool:true"},
        {"b == true", "bool:true"},   {"b != f", "bool:true"},        {"b == f", "bool:false"},
        {"b > f", "bool:false"},      {"big > big - 1", "bool:true"},
    };
    RUN(cases);
}

Test(expr, mixing_types_in_equality_is_false)
{
    static const struct eval_case cases[] = {
        {"s == 1", "bool:false"}, {"s != 1", "bool:true"},    {"b == 1", "bool:false"},
        {"b != 1", "bool:true"},  {"'7' == i", "bool:false"}, {"s < 1", "bool:false"},
        {"s >= 1", "bool:false"},
    };
    RUN(cases);
}

Test(expr, comparisons_with_null_are_false)
{
    static const struct eval_case cases[] = {
        {"z == null", "bool:false"},     {"z != null", "bool:false"}, {"z == 1", "bool:false"},
        {"z != 1", "bool:false"},        {"1 < z", "bool:false"},     {"z >= z", "bool:false"},
        {"i / 0 == null", "bool:false"},
    };
    RUN(cases);
}

Test(expr, logic_treats_null_as_false_and_returns_bool)
{
    static const struct eval_case cases[] = {
        {"b and true", "bool:true"}, {"b and f", "bool:false"}, {"f or b", "bool:true"},
        {"f or f", "bool:false"},    {"not b", "bool:false"},   {"not f", "bool:true"},
        {"not z", "bool:true"},      {"z or b", "bool:true"},   {"z and b", "bool:false"},
        {"z or z", "bool:false"},    {"i and n", "bool:true"},  {"zero or s", "bool:false"},
        {"not not i", "bool:true"},  {"not 0", "bool:true"},
    };
    RUN(cases);
}

Test(expr, precedence_and_parentheses)
{
    static const struct eval_case cases[] = {
        {"1 + 2 * 3", "int:7"},
        {"(1 + 2) * 3", "int:9"},
        {"10 - 4 - 3", "int:3"},
        {"2 * 3 % 4", "int:2"},
        {"-2 * 3", "int:-6"},
        {"-(2 + 3)", "int:-5"},
        {"1 + 2 == 3", "bool:true"},
        {"1 < 2 and 3 < 4", "bool:true"},
        {"true or true and false", "bool:true"},
        {"(true or true) and false", "bool:false"},
        {"not 1 == 2", "bool:true"},
        {"not true or true", "bool:true"},
        {"not (true or true)", "bool:false"},
        {"i > 5 and s == 'abc' or z", "bool:true"},
        {"i*2+1>14", "bool:true"},
    };
    RUN(cases);
}

Test(expr, table_lookups_by_key_slot)
{
    static const struct eval_case cases[] = {
        {"services.budget", "num:0.001"},          {"services.limit", "int:300"},
        {"services.team", "str:identity"},         {"services.critical", "bool:true"},
        {"services.limit * 2 > 500", "bool:true"}, {"services.budget * 14.4", "num:0.0144"},
    };
    RUN(cases);
}

Test(expr, missing_table_row_or_cell_yields_null)
{
    struct eval_case cases[] = {{"services.limit", "null"}, {"services.limit > 0", "bool:false"}};
    slots[9] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"nope", 4}};
    RUN(cases);
    /* the row exists but has no budget cell */
    slots[9] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {"search", 6}};
    struct eval_case partial[] = {{"services.budget", "null"}, {"services.limit", "int:800"}};
    RUN(partial);
    /* a NULL key finds nothing; an int key is looked up as its decimal text */
    slots[9] = eddy_value_null();
    struct eval_case null_key[] = {{"services.team", "null"}};
    RUN(null_key);
    slots[9] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 7};
    struct eval_case int_key[] = {{"services.team", "str:numbers"}};
    RUN(int_key);
}

Test(expr, table_get_helper)
{
    const struct eddy_value *v = eddy_table_get(table, "auth", 4, "limit");
    cr_assert_not_null(v);
    cr_assert_eq(v->type, EDDY_V_INT);
    cr_assert_eq(v->as.i, 300);
    cr_assert_null(eddy_table_get(table, "nope", 4, "limit"));
    cr_assert_null(eddy_table_get(table, "auth", 4, "nope"));
    v = eddy_table_get(table, "search", 6, "team");
    cr_assert_not_null(v);
    cr_assert_eq(v->type, EDDY_V_NULL);
}

Test(expr, source_is_trimmed)
{
    struct eddy_expr_scope sc = scope();
    struct eddy_expr *e;
    char err[128];
    cr_assert_eq(
        eddy__expr_compile("  \tlatency  ",
                           &(struct eddy_expr_scope){(const char *const[]){"latency"}, 1, NULL, 0},
                           &e, err, sizeof err),
        EDDY_OK);
    cr_assert_str_eq(eddy_expr_source(e), "latency");
    eddy__expr_free(e);
    cr_assert_eq(eddy__expr_compile(" i +  1 ", &sc, &e, err, sizeof err), EDDY_OK);
    cr_assert_str_eq(eddy_expr_source(e), "i +  1");
    eddy__expr_free(e);
}

struct error_case {
    const char *text;
    const char *message;
};

static void run_errors(const struct error_case *cases, size_t n)
{
    struct eddy_expr_scope sc = scope();
    for (size_t k = 0; k < n; k++) {
        struct eddy_expr *e = (struct eddy_expr *)1;
        char err[256];
        eddy_err_t rc = eddy__expr_compile(cases[k].text, &sc, &e, err, sizeof err);
        cr_expect_eq(rc, EDDY_ECONFIG, "'%s' compiled", cases[k].text);
        cr_expect_null(e);
        if (rc == EDDY_ECONFIG)
            cr_expect_str_eq(err, cases[k].message, "'%s': got \"%s\"", cases[k].text, err);
    }
}

Test(expr, compile_errors_have_exact_messages)
{
    static const struct error_case cases[] = {
        {"latency > 5", "unknown name 'latency' at column 1"},
        {"i + foo", "unknown name 'foo' at column 5"},
        {"(i + 1", "missing ')' (opened at column 1) at column 7"},
        {"i + 1)", "unexpected ')' at column 6"},
        {")", "unexpected ')' at column 1"},
        {"i $ 2", "unexpected character '$' at column 3"},
        {"i = 2", "unexpected character '=' (use '==' to compare) at column 3"},
        {"i ! 2", "unexpected character '!' at column 3"},
        {"i +", "expected a value at column 4"},
        {"", "empty expression"},
        {"   ", "empty expression"},
        {"i i", "unexpected 'i' at column 3"},
        {"1 < 2 < 3", "comparisons cannot be chained (use 'and') at column 7"},
        {"'abc", "unterminated string at column 1"},
        {"'a\\x'", "unknown escape '\\x' at column 3"},
        {"12abc", "malformed number at column 3"},
        {"1.2.3", "malformed number at column 4"},
        {"99999999999999999999", "integer literal out of range at column 1"},
        {"nope.limit", "unknown table 'nope' at column 1"},
        {"services.nope", "table 'services' has no column 'nope' at column 10"},
        {"i and or", "expected a value, got 'or' at column 7"},
        {"i * * 2", "expected a value, got '*' at column 5"},
    };
    run_errors(cases, sizeof cases / sizeof cases[0]);
}

Test(expr, table_key_must_be_in_scope)
{
    struct eddy_expr_scope sc = {(const char *const[]){"tenant"}, 1, &table, 1};
    struct eddy_expr *e;
    char err[256];
    cr_assert_eq(eddy__expr_compile("services.limit > 1", &sc, &e, err, sizeof err), EDDY_ECONFIG);
    cr_assert_str_eq(err, "table 'services' is keyed by 'service', which is not in scope here at "
                          "column 1");
}

Test(expr, nesting_is_limited)
{
    struct eddy_expr_scope sc = scope();
    struct eddy_expr *e;
    char err[256], text[4096];
    /* 64 parentheses deep is fine, 65 is not */
    for (int depth = 64; depth <= 65; depth++) {
        size_t n = 0;
        for (int k = 0; k < depth; k++)
            text[n++] = '(';
        text[n++] = '1';
        for (int k = 0; k < depth; k++)
            text[n++] = ')';
        text[n] = '\0';
        eddy_err_t rc = eddy__expr_compile(text, &sc, &e, err, sizeof err);
        if (depth == 64) {
            cr_assert_eq(rc, EDDY_OK, "%s", err);
            eddy__expr_free(e);
        } else {
            cr_assert_eq(rc, EDDY_ECONFIG);
            cr_assert_str_eq(err, "expression nests deeper than 64 levels");
        }
    }
    /* a long chain builds a deep tree: bounded too */
    size_t n = 0;
    text[n++] = '1';
    for (int k = 0; k < 100; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, " + 1");
    cr_assert_eq(eddy__expr_compile(text, &sc, &e, err, sizeof err), EDDY_ECONFIG);
    cr_assert_str_eq(err, "expression nests deeper than 64 levels");
    memset(text, '-', 200);
    strcpy(text + 200, "i");
    cr_assert_eq(eddy__expr_compile(text, &sc, &e, err, sizeof err), EDDY_ECONFIG);
    cr_assert_str_eq(err, "expression nests deeper than 64 levels");
}

Test(expr, allocation_failures_are_reported_without_leaks)
{
    struct eddy_expr_scope sc = scope();
    const char *text = "services.limit > 1 and s == 'a long string literal' or (i + 2) * 3 > 0";
    int ok = 0;
    for (unsigned long n = 1; n < 64; n++) {
        struct eddy_expr *e;
        char err[128];
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy__expr_compile(text, &sc, &e, err, sizeof err);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            ok++;
            eddy__expr_free(e);
        } else {
            cr_assert_eq(rc, EDDY_ENOMEM, "n=%lu: %s", n, err);
            cr_assert_str_eq(err, "out of memory");
        }
    }
    cr_assert_gt(ok, 0);
}
