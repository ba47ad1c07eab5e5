/*
 * test_json.c - the projecting JSON parser (src/codec/json.c): RFC 8259
 * acceptance, exact error messages and offsets, projection semantics, and a
 * randomized acceptance/value cross-check against jansson (link -ljansson).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"

#define LIT(s) s, sizeof(s) - 1

struct parsed {
    eddy_err_t err;
    struct eddy_json_error jerr;
    struct eddy_value v[8];
    char *scratch;
};

/* Projects @paths (NULL-terminated) over doc[0..len). Caller frees scratch. */
static struct parsed project(const char *const *paths, const char *doc, size_t len)
{
    struct parsed r;
    memset(&r, 0, sizeof r);
    size_t n = 0;
    while (paths[n])
        n++;
    struct eddy_projection *p;
    cr_assert_eq(eddy__projection_new(paths, n, &p), EDDY_OK);
    cr_assert_eq(eddy__projection_count(p), n);
    r.scratch = malloc(len + 1);
    r.err = eddy__json_project(p, doc, len, r.v, r.scratch, NULL, &r.jerr);
    eddy__projection_free(p);
    return r;
}

static const char *const AB[] = {"a", "b", NULL};

struct valid_case {
    const char *doc;
    size_t len;
};

Test(json, accepts_rfc8259_documents)
{
    static const struct valid_case cases[] = {
        {LIT("{}")},
        {LIT(" \t\r\n{ \t\r\n} \t\r\n")},
        {LIT("{\"a\":1}")},
        {LIT("\t{\n\"a\"\r:\n[ 1 , 2 ,{ } ]\t,\"b\" : { \"c\" : null } }\n")},
        {LIT("{\"a\":\"\\u0000\"}")},
        {LIT("{\"a\":\"\\ud83d\\ude00\"}")},
        {LIT("{\"a\":\"\\uDBFF\\uDFFF\"}")},
        {LIT("{\"a\":-0}")},
        {LIT("{\"a\":-0.0e-0}")},
        {LIT("{\"a\":0.5e-3}")},
        {LIT("{\"a\":1E+2}")},
        {LIT("{\"a\":1e-400}")},
        {LIT("{\"a\":1.7976931348623157e308}")},
        {LIT("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}")},
        {LIT("{\"a\":\"\xed\x9f\xbf\xee\x80\x80\"}")}, /* U+D7FF, U+E000 */
        {LIT("{\"a\":\"\x7f\"}")},
        {LIT("{\"a\":[],\"b\":[[[]]],\"c\":[{}]}")},
        {LIT("{\"a\":true,\"b\":false,\"c\":null}")},
        {LIT("{\"a\":\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"}")},
        {LIT("{\"\":0}")},
        {LIT("{\"a\":1,\"a\":2}")},
        {LIT("{\"a\":123456789012345678901234567890}")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct parsed r = project(AB, cases[i].doc, cases[i].len);
        cr_expect_eq(r.err, EDDY_OK, "case %zu rejected: %s at %zu", i,
                     r.err ? r.jerr.message : "", r.err ? r.jerr.offset : 0);
        free(r.scratch);
    }
}

struct invalid_case {
    const char *doc;
    size_t len;
    const char *message;
    size_t offset;
};

Test(json, rejects_invalid_documents_with_message_and_offset)
{
    static const struct invalid_case cases[] = {
        {LIT(""), "empty input", 0},
        {LIT(" \n\t"), "empty input", 3},
        {LIT("[1]"), "top-level value is not an object", 0},
        {LIT(" \"x\""), "top-level value is not an object", 1},
        {LIT("1"), "top-level value is not an object", 0},
        {LIT("x"), "unexpected character 'x'", 0},
        {LIT("{\"a\":01}"), "leading zero in number", 6},
        {LIT("{\"a\":-}"), "invalid number", 6},
        {LIT("{\"a\":-a}"), "invalid number", 6},
        {LIT("{\"a\":1.}"), "invalid number", 7},
        {LIT("{\"a\":1.e5}"), "invalid number", 7},
        {LIT("{\"a\":.5}"), "unexpected character '.'", 5},
        {LIT("{\"a\":1e}"), "invalid number", 7},
        {LIT("{\"a\":1e+}"), "invalid number", 8},
        {LIT("{\"a\":+1}"), "unexpected character '+'", 5},
        {LIT("{\"a\":0x1}"), "unexpected character 'x'", 6},
        {LIT("{\"a\":1e400}"), "number out of range", 5},
        {LIT("{\"a\":-1e400}"), "number out of range", 5},
        {LIT("{\"b\":1.8e308}"), "number out of range", 5},
        {LIT("{\"a\":\"x\ny\"}"), "control character in string", 7},
        {LIT("{\"a\":\"\x1f\"}"), "control character in string", 6},
        {LIT("{\"a\":\"\\x\"}"), "invalid escape in string", 6},
        {LIT("{\"a\":\"\\U0041\"}"), "invalid escape in string", 6},
        {LIT("{\"a\":\"\\u12G4\"}"), "invalid \\u escape in string", 6},
        {LIT("{\"a\":\"\\u12\"}"), "invalid \\u escape in string", 6},
        {LIT("{\"a\":\"\\ud800\"}"), "lone surrogate in \\u escape", 6},
        {LIT("{\"a\":\"\\ud800\\u0041\"}"), "lone surrogate in \\u escape", 6},
        {LIT("{\"a\":\"\\ud800\\ud800\"}"), "lone surrogate in \\u escape", 6},
        {LIT("{\"a\":\"\\udc00\"}"), "lone surrogate in \\u escape", 6},
        {LIT("{\"a\":\"\xc0\xaf\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xc1\xbf\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xe0\x80\xaf\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xf0\x80\x80\xaf\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xed\xa0\x80\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xf4\x90\x80\x80\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xf5\x80\x80\x80\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\xff\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"\x80\"}"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\":\"abc\xe2\x82\"}"), "invalid UTF-8 in string", 9},
        {LIT("{\"a\":\"\xe2\x82"), "invalid UTF-8 in string", 6},
        {LIT("{\"a\xc3\":1}"), "invalid UTF-8 in string", 3},
        {LIT("{"), "unexpected end of input", 1},
        {LIT("{\"a\""), "unexpected end of input", 4},
        {LIT("{\"a\":"), "unexpected end of input", 5},
        {LIT("{\"a\":1"), "unexpected end of input", 6},
        {LIT("{\"a\":1,"), "unexpected end of input", 7},
        {LIT("{\"a\":[1"), "unexpected end of input", 7},
        {LIT("{\"a\":tru"), "unexpected end of input", 8},
        {LIT("{\"a\":\"abc"), "unterminated string", 9},
        {LIT("{\"a\":\"abc\\"), "unterminated string", 9},
        {LIT("{\"a"), "unterminated string", 3},
        {LIT("{\"a\":1,}"), "unexpected character '}'", 7},
        {LIT("{\"a\":[1,]}"), "unexpected character ']'", 8},
        {LIT("{\"a\":[1}"), "unexpected character '}'", 7},
        {LIT("{\"a\":{]}"), "unexpected character ']'", 6},
        {LIT("{\"a\":1 \"b\":2}"), "unexpected character '\"'", 7},
        {LIT("{\"a\" 1}"), "unexpected character '1'", 5},
        {LIT("{a:1}"), "unexpected character 'a'", 1},
        {LIT("{'a':1}"), "unexpected character '''", 1},
        {LIT("{\"a\":nul}"), "invalid literal", 5},
        {LIT("{\"a\":True}"), "unexpected character 'T'", 5},
        {LIT("{\"a\":NaN}"), "unexpected character 'N'", 5},
        {LIT("{} x"), "trailing characters after document", 3},
        {LIT("{}{}"), "trailing characters after document", 2},
        {LIT("{}\0"), "trailing characters after document", 2},
        {LIT("{\"a\":1}\n\n,"), "trailing characters after document", 9},
        {LIT("\xef\xbb\xbf{}"), "unexpected byte 0xef", 0},
        {LIT("{\"a\":\x00}"), "unexpected byte 0x00", 5},
        {LIT("{\"z\":{\"q\":[1,{\"r\":\"\xc0\"}]}}"), "invalid UTF-8 in string", 19},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct parsed r = project(AB, cases[i].doc, cases[i].len);
        cr_expect_eq(r.err, EDDY_EPARSE, "case %zu accepted", i);
        if (r.err == EDDY_EPARSE) {
            cr_expect_str_eq(r.jerr.message, cases[i].message, "case %zu", i);
            cr_expect_eq(r.jerr.offset, cases[i].offset, "case %zu: offset %zu", i,
                         r.jerr.offset);
        }
        free(r.scratch);
    }
}

Test(json, acceptance_does_not_depend_on_projection)
{
    static const char *const none[] = {NULL};
    struct parsed r = project(none, LIT("{\"a\":\"\\ud800\"}"));
    cr_assert_eq(r.err, EDDY_EPARSE);
    free(r.scratch);
    r = project(none, LIT("{\"a\":1.8e308}"));
    cr_assert_eq(r.err, EDDY_EPARSE);
    cr_assert_str_eq(r.jerr.message, "number out of range");
    free(r.scratch);
    r = project(none, LIT("{\"a\":{\"b\":[\"\xf5\"]}}"));
    cr_assert_eq(r.err, EDDY_EPARSE);
    cr_assert_str_eq(r.jerr.message, "invalid UTF-8 in string");
    free(r.scratch);
}

Test(json, deep_nesting_is_a_clean_error)
{
    size_t n = 100000;
    char *doc = malloc(n + 8);
    memcpy(doc, "{\"a\":", 5);
    memset(doc + 5, '[', n);
    struct parsed r = project(AB, doc, n + 5);
    cr_assert_eq(r.err, EDDY_EPARSE);
    cr_assert_str_eq(r.jerr.message, "nesting deeper than 128");
    cr_assert_eq(r.jerr.offset, 5 + 127); /* the root object is level 1 */
    free(r.scratch);
    free(doc);
}

Test(json, nesting_of_exactly_128_is_accepted)
{
    char doc[1024];
    size_t k = 0;
    k += (size_t)sprintf(doc, "{\"a\":");
    memset(doc + k, '[', 127);
    k += 127;
    memset(doc + k, ']', 127);
    k += 127;
    doc[k++] = '}';
    struct parsed r = project(AB, doc, k);
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_COMPOUND_ARRAY);
    free(r.scratch);
    /* 128 objects including the root: the 128th is "{}" */
    k = 0;
    doc[k++] = '{';
    for (int i = 0; i < 127; i++) {
        memcpy(doc + k, "\"\":{", 4);
        k += 4;
    }
    memset(doc + k, '}', 128);
    k += 128;
    r = project(AB, doc, k);
    cr_assert_eq(r.err, EDDY_OK, "%s at %zu", r.jerr.message, r.jerr.offset);
    free(r.scratch);
}

Test(json, five_megabyte_string_value)
{
    size_t n = 5u << 20;
    char *doc = malloc(n + 32);
    size_t k = (size_t)sprintf(doc, "{\"b\":1,\"a\":\"");
    for (size_t i = 0; i < n; i++)
        doc[k + i] = (char)('a' + i % 26);
    k += n;
    memcpy(doc + k, "\"}", 2);
    k += 2;
    struct parsed r = project(AB, doc, k);
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_STR);
    cr_assert_eq(r.v[0].as.s.len, n);
    cr_assert_eq(r.v[0].as.s.ptr, doc + 12, "unescaped strings borrow the input");
    cr_assert_eq(r.v[1].as.i, 1);
    free(r.scratch);
    free(doc);
}

Test(json, numbers_are_int_when_integral_and_in_range)
{
    static const char *const P[] = {"a", "b", "c", "d", "e", "f", "g", "h", NULL};
    const char doc[] = "{\"a\":9223372036854775807,\"b\":-9223372036854775808,"
                       "\"c\":9223372036854775808,\"d\":-9223372036854775809,"
                       "\"e\":-0,\"f\":1.0,\"g\":1e2,\"h\":-0.0}";
    struct parsed r = project(P, doc, sizeof doc - 1);
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_INT);
    cr_assert_eq(r.v[0].as.i, INT64_MAX);
    cr_assert_eq(r.v[1].type, EDDY_V_INT);
    cr_assert_eq(r.v[1].as.i, INT64_MIN);
    cr_assert_eq(r.v[2].type, EDDY_V_NUM);
    cr_assert_eq(r.v[2].as.n, 9223372036854775808.0);
    cr_assert_eq(r.v[3].type, EDDY_V_NUM);
    cr_assert_eq(r.v[3].as.n, -9223372036854775809.0);
    cr_assert_eq(r.v[4].type, EDDY_V_INT);
    cr_assert_eq(r.v[4].as.i, 0);
    cr_assert_eq(r.v[5].type, EDDY_V_NUM);
    cr_assert_eq(r.v[5].as.n, 1.0);
    cr_assert_eq(r.v[6].type, EDDY_V_NUM);
    cr_assert_eq(r.v[6].as.n, 100.0);
    cr_assert_eq(r.v[7].type, EDDY_V_NUM);
    cr_assert(r.v[7].as.n == 0.0 && signbit(r.v[7].as.n));
    free(r.scratch);
}

Test(json, doubles_match_strtod)
{
    static const char *const nums[] = {
        "0.1", "3.14159", "-2.5e-3", "350.0", "1e22", "1e23", "123456789012345678901234567890",
        "0.000000000000000000000000000001", "4.9e-324", "2.2250738585072014e-308", "1e-400",
        "1.7976931348623157e308", "17976931348623157e292", "0.30000000000000004",
        "9007199254740993", "1234567.1234567e-5", "-0.0000123e+10",
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char doc[128];
        int n = snprintf(doc, sizeof doc, "{\"a\":%s}", nums[i]);
        struct parsed r = project(AB, doc, (size_t)n);
        cr_assert_eq(r.err, EDDY_OK, "%s", nums[i]);
        double want = strtod(nums[i], NULL);
        if (r.v[0].type == EDDY_V_INT)
            cr_expect_eq((double)r.v[0].as.i, want, "%s", nums[i]);
        else
            cr_expect(r.v[0].type == EDDY_V_NUM && r.v[0].as.n == want, "%s: %.17g vs %.17g",
                      nums[i], r.v[0].as.n, want);
        free(r.scratch);
    }
}

static bool str_is(const struct eddy_value *v, const char *s, size_t len)
{
    return v->type == EDDY_V_STR && v->as.s.len == len && !memcmp(v->as.s.ptr, s, len);
}

Test(json, escaped_strings_are_unescaped_into_scratch)
{
    const char doc[] = "{\"a\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\\u0000\",\"b\":\"plain\"}";
    struct parsed r = project(AB, doc, sizeof doc - 1);
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(str_is(&r.v[0], LIT("a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80\0")));
    cr_assert_eq(r.v[0].as.s.ptr, r.scratch);
    cr_assert(str_is(&r.v[1], LIT("plain")));
    cr_assert_eq(r.v[1].as.s.ptr, doc + sizeof doc - 1 - 7);
    free(r.scratch);
}

Test(json, literals_and_absent_values)
{
    static const char *const P[] = {"t", "f", "n", "missing", NULL};
    struct parsed r = project(P, LIT("{\"t\":true,\"f\":false,\"n\":null}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(r.v[0].type == EDDY_V_BOOL && r.v[0].as.b);
    cr_assert(r.v[1].type == EDDY_V_BOOL && !r.v[1].as.b);
    cr_assert_eq(r.v[2].type, EDDY_V_NULL);
    cr_assert_eq(r.v[3].type, EDDY_V_NULL);
    free(r.scratch);
}

Test(json, duplicate_keys_last_occurrence_wins)
{
    static const char *const P[] = {"a", "a.b", "c", NULL};
    struct parsed r = project(P, LIT("{\"c\":1,\"a\":{\"b\":1},\"c\":\"x\",\"a\":{\"z\":2}}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_COMPOUND);
    cr_assert_eq(r.v[1].type, EDDY_V_NULL, "the later 'a' has no 'b'");
    cr_assert(str_is(&r.v[2], LIT("x")));
    free(r.scratch);
    r = project(P, LIT("{\"a\":{\"b\":1,\"b\":[1]},\"a\":5}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(r.v[0].type == EDDY_V_INT && r.v[0].as.i == 5);
    cr_assert_eq(r.v[1].type, EDDY_V_NULL);
    free(r.scratch);
    r = project(P, LIT("{\"a\":{\"b\":1,\"b\":[1]}}"));
    cr_assert_eq(r.v[1].type, EDDY_V_COMPOUND_ARRAY);
    free(r.scratch);
}

Test(json, nested_key_is_not_the_root_key)
{
    static const char *const P[] = {"uid", "x.uid", NULL};
    struct parsed r = project(P, LIT("{\"x\":{\"uid\":\"inner\"},\"y\":{\"uid\":\"other\"}}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_NULL);
    cr_assert(str_is(&r.v[1], LIT("inner")));
    free(r.scratch);
    r = project(P, LIT("{\"x\":{\"uid\":\"inner\",\"x\":{\"uid\":\"deeper\"}},\"uid\":\"root\"}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(str_is(&r.v[0], LIT("root")));
    cr_assert(str_is(&r.v[1], LIT("inner")));
    free(r.scratch);
}

Test(json, escaped_key_names_match)
{
    static const char *const P[] = {"uid", "props.d\xc3\xa9v", NULL};
    struct parsed r =
        project(P, LIT("{\"\\u0075id\":\"u1\",\"pr\\u006fps\":{\"d\\u00e9v\":\"x\\ty\"}}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(str_is(&r.v[0], LIT("u1")));
    cr_assert(str_is(&r.v[1], LIT("x\ty")));
    free(r.scratch);
}

Test(json, paths_do_not_descend_into_arrays)
{
    static const char *const P[] = {"a", "a.b", NULL};
    struct parsed r = project(P, LIT("{\"a\":[{\"b\":1},{\"b\":2}]}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_COMPOUND_ARRAY);
    cr_assert_eq(r.v[1].type, EDDY_V_NULL);
    free(r.scratch);
}

Test(json, parent_and_child_paths_and_duplicates)
{
    static const char *const P[] = {"a", "a.b", "a.b", "a.c.d", "k.l.m.n.o.p.q.r", NULL};
    struct parsed r = project(
        P, LIT("{\"a\":{\"c\":{\"d\":false},\"b\":\"x\"},\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{"
               "\"q\":{\"r\":7}}}}}}}}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert_eq(r.v[0].type, EDDY_V_COMPOUND);
    cr_assert(str_is(&r.v[1], LIT("x")));
    cr_assert(str_is(&r.v[2], LIT("x")));
    cr_assert(r.v[3].type == EDDY_V_BOOL && !r.v[3].as.b);
    cr_assert(r.v[4].type == EDDY_V_INT && r.v[4].as.i == 7);
    free(r.scratch);
}

Test(json, keys_may_hold_any_byte_but_dot)
{
    static const char *const P[] = {"a b/c:\"d", NULL};
    struct parsed r = project(P, LIT("{\"a b/c:\\\"d\":1}"));
    cr_assert_eq(r.err, EDDY_OK);
    cr_assert(r.v[0].type == EDDY_V_INT && r.v[0].as.i == 1);
    free(r.scratch);
}

Test(json, malformed_paths_are_rejected)
{
    static const char *const bad[] = {"", "a..b", ".a", "a.", "a.b.c.d.e.f.g.h.i"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct eddy_projection *p = (void *)1;
        cr_expect_eq(eddy__projection_new(&bad[i], 1, &p), EDDY_EINVAL, "%s", bad[i]);
        cr_expect_null(p);
    }
    const char *ok = "a.b.c.d.e.f.g.h";
    struct eddy_projection *p;
    cr_assert_eq(eddy__projection_new(&ok, 1, &p), EDDY_OK);
    eddy__projection_free(p);
    eddy__projection_free(NULL);
}

Test(json, projection_new_survives_allocation_failures)
{
    static const char *const P[] = {"a", "a.b", "c"};
    unsigned failures = 0;
    for (unsigned long nth = 1; nth < 12; nth++) {
        struct eddy_projection *p = NULL;
        eddy_alloc_fail_at(nth);
        eddy_err_t e = eddy__projection_new(P, 3, &p);
        eddy_alloc_fail_at(0);
        cr_assert(e == EDDY_OK || e == EDDY_ENOMEM);
        cr_assert(e == EDDY_OK ? p != NULL : p == NULL);
        failures += e == EDDY_ENOMEM;
        eddy__projection_free(p);
    }
    cr_assert_geq(failures, 5, "every allocation of projection_new is checked");
}

/* ---- cross-check with jansson -------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

struct gen {
    char buf[4096];
    size_t len;
};

static void put(struct gen *g, const char *s)
{
    size_t n = strlen(s);
    if (g->len + n < sizeof g->buf) {
        memcpy(g->buf + g->len, s, n);
        g->len += n;
    }
}

static void gen_ws(struct gen *g)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    put(g, ws[rnd(7)]);
}

static void gen_string(struct gen *g)
{
    static const char *const parts[] = {"a",      "b",  "uid",         "xyz", "\\n",    "\\\"",
                                        "\\u0041", "\xc3\xa9", "\xf0\x9f\x98\x80", "\\ud83d\\ude00",
                                        "\\/",     " ",  "\\u0000",     "\\u00e9", "\\\\", "\\u0062"};
    put(g, "\"");
    for (uint32_t i = 0, n = rnd(4); i < n; i++)
        put(g, parts[rnd(16)]);
    put(g, "\"");
}

static void gen_number(struct gen *g)
{
    static const char *const nums[] = {"0",   "-0", "1",     "-17",  "350",   "2.5",   "-0.001",
                                       "1e3", "1E-2", "6.02e+23", "9223372036854775807",
                                       "-9223372036854775808", "123.456e-7", "1e308"};
    put(g, nums[rnd(14)]);
}

static void gen_value(struct gen *g, int depth);

static void gen_object(struct gen *g, int depth)
{
    static const char *const keys[] = {"\"a\"", "\"b\"", "\"c\"", "\"uid\"", "\"\\u0061\"",
                                       "\"x\"", "\"\""};
    put(g, "{");
    gen_ws(g);
    for (uint32_t i = 0, n = rnd(5); i < n; i++) {
        if (i)
            put(g, ",");
        gen_ws(g);
        put(g, keys[rnd(7)]);
        gen_ws(g);
        put(g, ":");
        gen_ws(g);
        gen_value(g, depth + 1);
        gen_ws(g);
    }
    put(g, "}");
}

static void gen_value(struct gen *g, int depth)
{
    uint32_t k = rnd(depth > 4 ? 6 : 8);
    switch (k) {
    case 0:
    case 1: gen_string(g); break;
    case 2:
    case 3: gen_number(g); break;
    case 4: put(g, rnd(2) ? "true" : "false"); break;
    case 5: put(g, "null"); break;
    case 6: gen_object(g, depth); break;
    default:
        put(g, "[");
        for (uint32_t i = 0, n = rnd(4); i < n; i++) {
            if (i)
                put(g, ",");
            gen_ws(g);
            gen_value(g, depth + 1);
        }
        put(g, "]");
    }
}

static void mutate(struct gen *g)
{
    static const char interesting[] = "{}[]\",:\\0-.eEu+ \n\x80\xc0\xff\xed\xf4\x01tn9";
    size_t n_int = sizeof interesting - 1;
    uint32_t times = 1 + rnd(3);
    for (uint32_t t = 0; t < times && g->len > 0; t++) {
        size_t at = rnd((uint32_t)g->len);
        switch (rnd(5)) {
        case 0: g->buf[at] = interesting[rnd((uint32_t)n_int)]; break;
        case 1: g->buf[at] = (char)rnd(256); break;
        case 2:
            memmove(g->buf + at, g->buf + at + 1, g->len - at - 1);
            g->len--;
            break;
        case 3:
            if (g->len + 1 < sizeof g->buf) {
                memmove(g->buf + at + 1, g->buf + at, g->len - at);
                g->buf[at] = interesting[rnd((uint32_t)n_int)];
                g->len++;
            }
            break;
        default: g->len = at; break;
        }
    }
}

/* Classes where jansson intentionally differs from eddy: integers outside
 * int64 (jansson: error, eddy: NUM) and \u0000 in keys (jansson: error). */
static bool jansson_disagrees_by_design(const json_error_t *e)
{
    return strstr(e->text, "too big") != NULL || strstr(e->text, "NUL byte in object key") != NULL;
}

static void compare_value(const struct eddy_value *v, json_t *j, const char *doc)
{
    if (!j) {
        cr_assert_eq(v->type, EDDY_V_NULL, "doc: %s", doc);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_STRING:
        cr_assert(str_is(v, json_string_value(j), json_string_length(j)), "doc: %s", doc);
        break;
    case JSON_INTEGER:
        cr_assert(v->type == EDDY_V_INT && v->as.i == json_integer_value(j), "doc: %s", doc);
        break;
    case JSON_REAL:
        cr_assert(v->type == EDDY_V_NUM && v->as.n == json_real_value(j), "doc: %s", doc);
        break;
    case JSON_TRUE: cr_assert(v->type == EDDY_V_BOOL && v->as.b, "doc: %s", doc); break;
    case JSON_FALSE: cr_assert(v->type == EDDY_V_BOOL && !v->as.b, "doc: %s", doc); break;
    case JSON_NULL: cr_assert_eq(v->type, EDDY_V_NULL, "doc: %s", doc); break;
    case JSON_OBJECT: cr_assert_eq(v->type, EDDY_V_COMPOUND, "doc: %s", doc); break;
    case JSON_ARRAY: cr_assert_eq(v->type, EDDY_V_COMPOUND_ARRAY, "doc: %s", doc); break;
    }
}

Test(json, agrees_with_jansson_on_20k_generated_documents)
{
    static const char *const P[] = {"a", "b", "uid", "x.a", "x.uid", ""};
    struct eddy_projection *p;
    cr_assert_eq(eddy__projection_new(P, 5, &p), EDDY_OK);
    static char scratch[4096];
    unsigned accepted = 0, rejected = 0, skipped = 0;
    for (int i = 0; i < 20000; i++) {
        struct gen g = {.len = 0};
        gen_object(&g, 0);
        if (i % 3 != 0)
            mutate(&g);
        struct eddy_value v[5];
        struct eddy_json_error jerr;
        bool ours = eddy__json_project(p, g.buf, g.len, v, scratch, NULL, &jerr) == EDDY_OK;
        json_error_t je;
        json_t *root = json_loadb(g.buf, g.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!root && jansson_disagrees_by_design(&je)) {
            skipped++;
            continue;
        }
        bool theirs = root && json_is_object(root);
        if (theirs && memchr(g.buf, '\0', g.len)) {
            /* jansson bug: it accepts a raw NUL right after a number
             * ({"a":1<NUL>}); a raw NUL is never valid JSON */
            cr_assert(!ours);
            json_decref(root);
            skipped++;
            continue;
        }
        g.buf[g.len] = '\0';
        cr_assert_eq(ours, theirs, "doc %d: eddy %s (%s), jansson %s (%s): %s", i,
                     ours ? "accepts" : "rejects", ours ? "" : jerr.message,
                     theirs ? "accepts" : "rejects", root ? "" : je.text, g.buf);
        if (ours) {
            accepted++;
            json_t *x = json_object_get(root, "x");
            compare_value(&v[0], json_object_get(root, "a"), g.buf);
            compare_value(&v[1], json_object_get(root, "b"), g.buf);
            compare_value(&v[2], json_object_get(root, "uid"), g.buf);
            compare_value(&v[3], json_is_object(x) ? json_object_get(x, "a") : NULL, g.buf);
            compare_value(&v[4], json_is_object(x) ? json_object_get(x, "uid") : NULL, g.buf);
        } else {
            rejected++;
        }
        json_decref(root);
    }
    eddy__projection_free(p);
    cr_assert_gt(accepted, 5000);
    cr_assert_gt(rejected, 5000);
    cr_log_info("jansson cross-check: %u accepted, %u rejected, %u skipped", accepted, rejected,
                skipped);
}

/* ---- the key-order hint ---- */

/* Whether two projected values are the same (strings by content). */
static bool same_projected(const struct eddy_value *a, const struct eddy_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case EDDY_V_STR:
        return a->as.s.len == b->as.s.len && memcmp(a->as.s.ptr, b->as.s.ptr, a->as.s.len) == 0;
    case EDDY_V_INT: return a->as.i == b->as.i;
    case EDDY_V_NUM: return memcmp(&a->as.n, &b->as.n, sizeof a->as.n) == 0;
    case EDDY_V_BOOL: return a->as.b == b->as.b;
    default: return true;
    }
}

Test(json, a_key_order_hint_never_changes_a_result)
{
    /* documents in sequence through one hint, each compared with a parse
     * without it: the same keys in the same order (the hint's case), then
     * keys that share a remembered key's first bytes, lengths of 1, 7, 8, 9,
     * 15, 16 and 17 bytes, escaped keys, reordered and missing keys, nested
     * objects with root key names, documents cut right after a remembered
     * key, and duplicates (the last one wins) */
    static const char *const paths[] = {"service", "a", "abcdefgh", "abcdefghi",
                                        "abcdefghijklmno", "abcdefghijklmnop",
                                        "abcdefghijklmnopq", "x.service", NULL};
    static const struct valid_case docs[] = {
        {LIT("{\"service\":\"s1\",\"a\":1,\"abcdefgh\":2,\"abcdefghi\":3,\"abcdefghijklmno\":4,"
             "\"abcdefghijklmnop\":5,\"abcdefghijklmnopq\":6,\"x\":{\"service\":\"in\"}}")},
        {LIT("{\"service\":\"s2\",\"a\":1,\"abcdefgh\":2,\"abcdefghi\":3,\"abcdefghijklmno\":4,"
             "\"abcdefghijklmnop\":5,\"abcdefghijklmnopq\":6,\"x\":{\"service\":\"in\"}}")},
        {LIT("{\"services\":\"no\",\"b\":1,\"abcdefgi\":2,\"abcdefgh\":3,\"abcdefghijklmnoq\":4,"
             "\"abcdefghijklmnopq\":5,\"abcdefghijklmnop\":6}")},
        {LIT("{\"servic\":\"no\",\"a\":7}")},
        {LIT("{\"\\u0073ervice\":\"escaped\",\"a\":8}")},
        {LIT("{\"service\":\"s3\",\"a\":9}")},
        {LIT("{\"a\":10,\"service\":\"s4\"}")},
        {LIT("{\"service\":\"s5\",\"a\":11,\"service\":\"last\"}")},
        {LIT("{\"x\":{\"service\":\"nested\",\"a\":0},\"service\":\"s6\"}")},
        {LIT("{\"service\":\"s7\",\"a\":12}")},
        {LIT("{\"service\"")},
        {LIT("{\"service\":")},
        {LIT("{\"service\":\"s8\",\"a\"")},
        {LIT("{\"service\":\"s9\",\"a\":13} x")},
        {LIT("{\"service\" : \"s10\" , \"a\" : 14 }")},
        {LIT("{\"service\":\"s11\",\"a\":15}")},
        {LIT("{\"service\":\"s12\",\"\xc3\xa9\":1,\"a\":16}")},
        {LIT("{\"service\":\"s13\",\"\xc3\xa9\":1,\"a\":17}")},
        {LIT("{\"service\":\"s14\",\"\xc3\xa8\":1,\"a\":18}")},
        /* a nested key where the hint has the same root key */
        {LIT("{\"x\":0,\"service\":\"s15\"}")},
        {LIT("{\"x\":{\"service\":\"nested\"}}")},
        {LIT("{\"service\":\"s16\",\"\xc3\xa9\":1,\"a\":19}")},
    };
    size_t n = 0;
    while (paths[n])
        n++;
    struct eddy_projection *p;
    cr_assert_eq(eddy__projection_new(paths, n, &p), EDDY_OK);
    struct eddy_json_hint *hint = calloc(1, sizeof *hint);
    cr_assert(hint);
    for (int round = 0; round < 2; round++) {
        for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
            char cold_scratch[512], warm_scratch[512];
            struct eddy_value cold[8], warm[8];
            struct eddy_json_error cold_err = {0}, warm_err = {0};
            eddy_err_t ce = eddy__json_project(p, docs[d].doc, docs[d].len, cold, cold_scratch,
                                               NULL, &cold_err);
            eddy_err_t we = eddy__json_project(p, docs[d].doc, docs[d].len, warm, warm_scratch,
                                               hint, &warm_err);
            cr_assert_eq(we, ce, "document %zu", d);
            if (ce) {
                cr_expect_eq(warm_err.offset, cold_err.offset, "document %zu", d);
                cr_expect_str_eq(warm_err.message, cold_err.message, "document %zu", d);
                continue;
            }
            for (size_t i = 0; i < n; i++)
                cr_expect(same_projected(&warm[i], &cold[i]), "document %zu, path %s", d,
                          paths[i]);
        }
    }
    /* the hint holds the last document's root keys: "service", the 2-byte
     * "é" and "a", in that order */
    cr_expect_eq(hint->projection, p);
    cr_expect_eq(hint->keys[0].len, 7);
    cr_expect_eq(hint->keys[1].len, 2);
    cr_expect_eq(hint->keys[2].len, 1);
    free(hint);
    eddy__projection_free(p);
}

Test(json, a_hint_is_used_for_its_projection_only)
{
    /* a hint filled by one projection is emptied, not misread, by another
     * whose trie numbers the same keys differently */
    static const char *const first[] = {"a", "b", NULL};
    static const char *const second[] = {"b", "a", NULL};
    struct eddy_projection *p1, *p2;
    cr_assert_eq(eddy__projection_new(first, 2, &p1), EDDY_OK);
    cr_assert_eq(eddy__projection_new(second, 2, &p2), EDDY_OK);
    struct eddy_json_hint hint = {0};
    struct eddy_value v[2];
    char scratch[64];
    struct eddy_json_error err;
    cr_assert_eq(eddy__json_project(p1, LIT("{\"a\":1,\"b\":2}"), v, scratch, &hint, &err),
                 EDDY_OK);
    cr_assert_eq(eddy__json_project(p2, LIT("{\"a\":1,\"b\":2}"), v, scratch, &hint, &err),
                 EDDY_OK);
    cr_expect_eq(v[0].as.i, 2);
    cr_expect_eq(v[1].as.i, 1);
    cr_expect_eq(hint.projection, p2);
    eddy__projection_free(p1);
    eddy__projection_free(p2);
}
