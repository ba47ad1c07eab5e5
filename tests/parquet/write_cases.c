/*
 * write_cases.c - writes Parquet files with the eddy writer, plus what a
 * reader must find in them, for tests/parquet/check.py.
 *
 * Usage: write_cases OUTDIR
 *
 * OUTDIR/manifest.jsonl has one JSON object per case:
 *   {"name", "file" (a file, or a dataset directory when "hive" is true),
 *    "expected" (JSONL file), "columns": [{"name","type"}], "codec",
 *    "row_group_rows", "page_rows", "stats_max_bytes", "min_row_groups",
 *    "dictionary" (string columns dictionary-encoded), "dict_max_bytes",
 *    "dict_max_entries", "metadata": {k: v}, "partitions": [names] (hive only)}
 * The expected JSONL has one JSON array per row, values in column order
 * (hive: then the partition values as strings): null, strings, integers,
 * booleans, and doubles always with a '.', 'e', NaN or Infinity so that they
 * read back as floats with their sign of zero.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "sink/parquet.h"

static const char *out_dir;
static FILE *manifest;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

static void die(const char *what)
{
    fprintf(stderr, "write_cases: %s\n", what);
    exit(1);
}

static const char *type_label(enum eddy_parquet_type t)
{
    static const char *const names[] = {"STRING", "INT64", "DOUBLE", "BOOLEAN", "TIMESTAMP_MILLIS"};
    return names[t];
}

/* ---- one case: a writer and its expected JSONL ---- */

struct case_ctx {
    struct eddy_parquet_writer *w;
    FILE *expected;
    const struct eddy_parquet_column *cols;
    size_t ncols;
    struct eddy_buf line;
    uint64_t rows;
    const char *const *partition_values; /* hive: appended to each expected row */
    size_t npartitions;
};

static void json_double(struct eddy_buf *b, double d)
{
    if (isnan(d)) {
        eddy_buf_puts(b, "NaN");
        return;
    }
    if (isinf(d)) {
        eddy_buf_puts(b, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char tmp[40];
    snprintf(tmp, sizeof(tmp), "%.17g", d);
    eddy_buf_puts(b, tmp);
    if (!strpbrk(tmp, ".e"))
        eddy_buf_puts(b, ".0");
}

static void expect_value(struct eddy_buf *b, enum eddy_parquet_type t, const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_NULL: eddy_buf_puts(b, "null"); return;
    case EDDY_V_BOOL: eddy_buf_puts(b, v->as.b ? "true" : "false"); return;
    case EDDY_V_STR:
    case EDDY_V_JSON: eddy_buf_json_str(b, v->as.s.ptr, v->as.s.len); return;
    case EDDY_V_NUM: json_double(b, v->as.n); return;
    case EDDY_V_INT:
        if (t == EDDY_PARQUET_DOUBLE)
            json_double(b, (double)v->as.i);
        else
            eddy_buf_json_i64(b, v->as.i);
        return;
    }
}

static void case_row(struct case_ctx *cx, const struct eddy_value *row)
{
    eddy_err_t err = eddy__parquet_append(cx->w, row);
    if (err) {
        fprintf(stderr, "append: %s: %s\n", eddy_err_name(err), eddy__parquet_error(cx->w));
        exit(1);
    }
    eddy_buf_reset(&cx->line);
    eddy_buf_putc(&cx->line, '[');
    for (size_t i = 0; i < cx->ncols; i++) {
        if (i)
            eddy_buf_putc(&cx->line, ',');
        expect_value(&cx->line, cx->cols[i].type, &row[i]);
    }
    for (size_t i = 0; i < cx->npartitions; i++) {
        eddy_buf_putc(&cx->line, ',');
        eddy_buf_json_str(&cx->line, cx->partition_values[i], strlen(cx->partition_values[i]));
    }
    eddy_buf_puts(&cx->line, "]\n");
    if (eddy_buf_err(&cx->line))
        die("out of memory");
    fwrite(cx->line.data, 1, cx->line.len, cx->expected);
    cx->rows++;
}

struct case_spec {
    const char *name;
    const char *file;     /* relative to out_dir */
    const char *expected; /* relative to out_dir */
    const struct eddy_parquet_column *cols;
    size_t ncols;
    struct eddy_parquet_options opt;
    unsigned min_row_groups;
};

static char *path_join(const char *rel)
{
    size_t len = strlen(out_dir) + strlen(rel) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", out_dir, rel);
    return p;
}

static void case_begin(struct case_ctx *cx, const struct case_spec *spec, bool append_expected)
{
    memset(cx, 0, sizeof(*cx));
    cx->cols = spec->cols;
    cx->ncols = spec->ncols;
    eddy_buf_init(&cx->line);
    char *file = path_join(spec->file), *expected = path_join(spec->expected);
    struct eddy_parquet_schema schema = {spec->cols, spec->ncols};
    eddy_err_t err = eddy__parquet_open(file, &schema, &spec->opt, &cx->w);
    if (err) {
        fprintf(stderr, "open %s: %s\n", file, eddy_err_name(err));
        exit(1);
    }
    cx->expected = fopen(expected, append_expected ? "a" : "w");
    if (!cx->expected)
        die("cannot open expected file");
    free(file);
    free(expected);
}

static void case_end(struct case_ctx *cx)
{
    eddy_err_t err = eddy__parquet_close(cx->w);
    if (err) {
        fprintf(stderr, "close: %s\n", eddy_err_name(err));
        exit(1);
    }
    fclose(cx->expected);
    eddy_buf_release(&cx->line);
}

static void manifest_entry(const struct case_spec *spec, bool hive, const char *extra)
{
    const struct eddy_parquet_options *o = &spec->opt;
    fprintf(manifest,
            "{\"name\":\"%s\",\"file\":\"%s\",\"expected\":\"%s\",\"hive\":%s,"
            "\"codec\":\"%s\",\"row_group_rows\":%" PRIu64 ",\"page_rows\":%u,"
            "\"stats_max_bytes\":%u,\"min_row_groups\":%u,\"dictionary\":%s,"
            "\"dict_max_bytes\":%u,\"dict_max_entries\":%u,\"columns\":[",
            spec->name, spec->file, spec->expected, hive ? "true" : "false",
            o->codec == EDDY_PARQUET_UNCOMPRESSED ? "UNCOMPRESSED" : "LZ4_RAW",
            o->row_group_rows ? o->row_group_rows : 1000000, o->page_rows ? o->page_rows : 20000,
            o->stats_max_bytes ? o->stats_max_bytes : 64, spec->min_row_groups,
            o->no_dictionary ? "false" : "true", o->dict_max_bytes ? o->dict_max_bytes : 1u << 20,
            o->dict_max_entries ? o->dict_max_entries : 65536);
    for (size_t i = 0; i < spec->ncols; i++)
        fprintf(manifest, "%s{\"name\":\"%s\",\"type\":\"%s\"}", i ? "," : "", spec->cols[i].name,
                type_label(spec->cols[i].type));
    fprintf(manifest, "],\"metadata\":{");
    for (size_t i = 0; i < o->metadata_count; i++)
        fprintf(manifest, "%s\"%s\":\"%s\"", i ? "," : "", o->metadata[i].key,
                o->metadata[i].value);
    fprintf(manifest, "}%s}\n", extra ? extra : "");
}

/* ---- values ---- */

static struct eddy_value v_null(void)
{
    return eddy_value_null();
}
static struct eddy_value v_int(int64_t i)
{
    return (struct eddy_value){.type = EDDY_V_INT, .as.i = i};
}
static struct eddy_value v_num(double n)
{
    return (struct eddy_value){.type = EDDY_V_NUM, .as.n = n};
}
static struct eddy_value v_bool(bool b)
{
    return (struct eddy_value){.type = EDDY_V_BOOL, .as.b = b};
}
static struct eddy_value v_strn(const char *s, size_t len)
{
    return (struct eddy_value){.type = EDDY_V_STR, .as.s = {s, (uint32_t)len}};
}
static struct eddy_value v_str(const char *s)
{
    return v_strn(s, strlen(s));
}

/* A random valid UTF-8 string of about @len bytes in @buf, mixing ASCII,
 * 2-, 3- and 4-byte sequences. */
static size_t random_utf8(char *buf, size_t len)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "-",
                                         "\xC3\xA9",
                                         "\xC3\xBC",
                                         "\xE6\x97\xA5",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80",
                                         "\xF4\x8F\xBF\xBF",
                                         "~",
                                         "q"};
    size_t n = 0;
    while (n < len) {
        const char *p = pieces[rnd_below(sizeof(pieces) / sizeof(pieces[0]))];
        size_t plen = strlen(p);
        if (n + plen > len)
            break;
        memcpy(buf + n, p, plen);
        n += plen;
    }
    return n;
}

static struct eddy_value random_value(enum eddy_parquet_type t, unsigned null_pct, char *scratch,
                                      size_t scratch_len)
{
    if (rnd_below(100) < null_pct)
        return v_null();
    switch (t) {
    case EDDY_PARQUET_STRING: {
        size_t len = rnd_below(8) == 0 ? 0 : rnd_below(scratch_len < 40 ? scratch_len : 40);
        return v_strn(scratch, random_utf8(scratch, len));
    }
    case EDDY_PARQUET_INT64: return v_int((int64_t)rnd());
    case EDDY_PARQUET_DOUBLE:
        if (rnd_below(10) == 0)
            return v_int((int64_t)rnd_below(1000000) - 500000); /* INT into DOUBLE */
        return v_num(((double)(int64_t)rnd() / 1e6));
    case EDDY_PARQUET_BOOLEAN: return v_bool(rnd() & 1);
    case EDDY_PARQUET_TIMESTAMP_MILLIS:
        return v_int(1600000000000 + (int64_t)rnd_below(200000000000ull));
    }
    return v_null();
}

/* ---- the cases ---- */

static const struct eddy_parquet_column all_types[] = {
    {"s", EDDY_PARQUET_STRING},           {"i", EDDY_PARQUET_INT64},
    {"d", EDDY_PARQUET_DOUBLE},           {"b", EDDY_PARQUET_BOOLEAN},
    {"t", EDDY_PARQUET_TIMESTAMP_MILLIS},
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

/* Edge values first, then random rows; small pages and row groups. The
 * 3 MB string takes the dictionary of its chunk past 1 MiB. */
static void case_types(const char *name, enum eddy_parquet_codec codec, bool no_dictionary)
{
    char file[64], expected[64];
    snprintf(file, sizeof(file), "%s.parquet", name);
    snprintf(expected, sizeof(expected), "%s.expected.jsonl", name);
    static const struct eddy_parquet_kv kv[] = {{"topology", "orders-by-region"},
                                                {"unicode", "\xC3\xA9t\xC3\xA9"}};
    struct case_spec spec = {name,
                             file,
                             expected,
                             all_types,
                             NTYPES,
                             {.row_group_rows = 700,
                              .page_rows = 300,
                              .codec = codec,
                              .no_dictionary = no_dictionary,
                              .metadata = kv,
                              .metadata_count = 2},
                             3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);

    size_t big_len = 3u << 20;
    char *big = malloc(big_len), *mid = malloc(100000);
    big_len = random_utf8(big, big_len);
    size_t mid_len = random_utf8(mid, 100000);
    static const char nul_inside[] = "nul\0inside";
    struct eddy_value edge[][NTYPES] = {
        {v_null(), v_null(), v_null(), v_null(), v_null()},
        {v_str(""), v_int(0), v_num(0.0), v_bool(false), v_int(0)},
        {v_str("h\xC3\xA9llo w\xC3\xB6rld"), v_int(INT64_MIN), v_num(-0.0), v_bool(true),
         v_int(-1)},
        {v_str("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), v_int(INT64_MAX), v_num(DBL_MAX), v_null(),
         v_int(1700000000123)},
        {v_str("emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89"), v_int(-1), v_num(-DBL_MAX), v_bool(true),
         v_int(253402300799999)},
        {v_str("\xF4\x8F\xBF\xBF"), v_int(1), v_num(5e-324), v_bool(false), v_int(-62135596800000)},
        {v_strn(nul_inside, sizeof(nul_inside) - 1), v_null(), v_num(INFINITY), v_null(), v_null()},
        {v_strn(big, big_len), v_int(42), v_num(-INFINITY), v_bool(true), v_int(86400000)},
        {v_strn(mid, mid_len), v_int(-42), v_num(NAN), v_bool(false), v_int(1)},
        {v_str("quote \" backslash \\ tab \t newline \n"), v_int(7), v_int(123456789), v_null(),
         v_int(1234567890123)},
        {(struct eddy_value){.type = EDDY_V_JSON, .as.s = {"[1,2]", 5}}, v_int(8), v_num(1e-300),
         v_bool(true), v_int(2)},
    };
    for (size_t r = 0; r < sizeof(edge) / sizeof(edge[0]); r++)
        case_row(&cx, edge[r]);
    char scratch[NTYPES][64];
    for (int r = 0; r < 2000; r++) {
        struct eddy_value row[NTYPES];
        for (size_t c = 0; c < NTYPES; c++)
            row[c] = random_value(all_types[c].type, 20, scratch[c], sizeof(scratch[c]));
        case_row(&cx, row);
    }
    case_end(&cx);
    free(big);
    free(mid);
    manifest_entry(&spec, false, NULL);
}

/* Enough rows for several row groups of several default-sized pages. */
static void case_many_rows(void)
{
    static const struct eddy_parquet_column cols[] = {
        {"seq", EDDY_PARQUET_INT64},           {"name", EDDY_PARQUET_STRING},
        {"price", EDDY_PARQUET_DOUBLE},        {"flag", EDDY_PARQUET_BOOLEAN},
        {"ts", EDDY_PARQUET_TIMESTAMP_MILLIS},
    };
    struct case_spec spec = {"many_rows",
                             "many_rows.parquet",
                             "many_rows.expected.jsonl",
                             cols,
                             5,
                             {.row_group_rows = 100000},
                             3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    char name[32];
    for (int64_t r = 0; r < 250000; r++) {
        snprintf(name, sizeof(name), "item-%06" PRId64, r % 5000);
        struct eddy_value row[5] = {v_int(r), r % 97 == 0 ? v_null() : v_str(name),
                                    r % 11 == 0 ? v_null() : v_num((double)r * 0.25 - 1000),
                                    r % 13 == 0 ? v_null() : v_bool(r % 3 == 0),
                                    v_int(1700000000000 + r * 1000)};
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* Row groups cut by buffered bytes, not rows: 20 KB strings, 1 MiB groups. */
static void case_by_bytes(void)
{
    static const struct eddy_parquet_column cols[] = {{"id", EDDY_PARQUET_INT64},
                                                      {"blob", EDDY_PARQUET_STRING}};
    struct case_spec spec = {"by_bytes",
                             "by_bytes.parquet",
                             "by_bytes.expected.jsonl",
                             cols,
                             2,
                             {.row_group_bytes = 1u << 20, .page_bytes = 64u << 10},
                             4};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    static char blob[20000];
    for (int r = 0; r < 400; r++) {
        for (size_t i = 0; i < sizeof(blob); i++) /* poorly compressible */
            blob[i] = (char)('!' + rnd_below(90));
        struct eddy_value row[2] = {v_int(r), v_strn(blob, sizeof(blob))};
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* Null runs of every length 1..40 around page cuts at odd places, to go
 * through both RLE and bit-packed runs of definition levels. */
static void case_null_patterns(void)
{
    static const struct eddy_parquet_column cols[] = {{"n", EDDY_PARQUET_INT64},
                                                      {"flag", EDDY_PARQUET_BOOLEAN},
                                                      {"always_null", EDDY_PARQUET_STRING},
                                                      {"never_null", EDDY_PARQUET_DOUBLE}};
    struct case_spec spec = {"null_patterns",
                             "null_patterns.parquet",
                             "null_patterns.expected.jsonl",
                             cols,
                             4,
                             {.page_rows = 997, .row_group_rows = 7919},
                             3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    int64_t r = 0;
    for (int run = 1; run <= 40; run++) {
        for (int rep = 0; rep < 12; rep++) {
            bool null_run = rep % 2 == 0;
            int len = rep % 4 == 3 ? (int)rnd_below(40) + 1 : run;
            for (int k = 0; k < len; k++, r++) {
                struct eddy_value row[4] = {null_run ? v_null() : v_int(r),
                                            rnd_below(3) == 0 ? v_null() : v_bool(rnd() & 1),
                                            v_null(), v_num((double)r)};
                case_row(&cx, row);
            }
        }
    }
    for (int k = 0; k < 20000; k++, r++) { /* alternating */
        struct eddy_value row[4] = {k % 2 ? v_null() : v_int(r), k % 3 ? v_bool(k & 4) : v_null(),
                                    v_null(), v_num(-(double)r)};
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

static void case_all_null(void)
{
    struct case_spec spec = {"all_null",
                             "all_null.parquet",
                             "all_null.expected.jsonl",
                             all_types,
                             NTYPES,
                             {.page_rows = 100},
                             1};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    struct eddy_value row[NTYPES] = {v_null(), v_null(), v_null(), v_null(), v_null()};
    for (int r = 0; r < 1000; r++)
        case_row(&cx, row);
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* A double column of NaN and null only: no min/max, nan_count set. */
static void case_nan_only(void)
{
    static const struct eddy_parquet_column cols[] = {{"x", EDDY_PARQUET_DOUBLE}};
    struct case_spec spec = {
        "nan_only", "nan_only.parquet", "nan_only.expected.jsonl", cols, 1, {0}, 1};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    for (int r = 0; r < 100; r++) {
        struct eddy_value row[1] = {r % 3 ? v_num(NAN) : v_null()};
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

static void case_empty(void)
{
    struct case_spec spec = {
        "empty", "empty.parquet", "empty.expected.jsonl", all_types, NTYPES, {0}, 0};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* String statistics longer than stats_max_bytes: cut min, cut-and-bumped max. */
static void case_stats_trunc(void)
{
    static const struct eddy_parquet_column cols[] = {{"s", EDDY_PARQUET_STRING},
                                                      {"short", EDDY_PARQUET_STRING}};
    struct case_spec spec = {"stats_trunc",
                             "stats_trunc.parquet",
                             "stats_trunc.expected.jsonl",
                             cols,
                             2,
                             {.stats_max_bytes = 16, .row_group_rows = 4},
                             3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    const char *values[] = {
        /* group 1: max ends in U+10FFFF at the cut, so the code point before it is bumped */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "zzzzzzzzzzzz\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF tail",
        "mmmm",
        "zzzz",
        /* group 2: a multi-byte code point straddles byte 16 */
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
        "b",
        "c",
        "\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5",
        /* group 3: exactly 16 bytes stays exact */
        "0123456789abcdef",
        "0123456789abcdef",
        "0123456789abcdeg",
        "0123456789abcde",
        /* group 4: only U+10FFFF past the cut: no max can be made, no bounds */
        "\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF",
    };
    for (size_t r = 0; r < sizeof(values) / sizeof(values[0]); r++) {
        struct eddy_value row[2] = {v_str(values[r]), r % 2 ? v_str("x") : v_null()};
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* Dictionary encoding of string columns: few distinct values (RLE runs and
 * bit-packed indices), one value (bit width 0), 290 values (bit width 9),
 * fallback to PLAIN on the entry limit and on the byte limit, a first value
 * over the byte limit (no dictionary page), and a column null until the
 * middle of each row group (PLAIN pages of nulls before the dictionary).
 * At the byte limit (4096): "fit" has 64 entries of 60 bytes, 64 * (4 + 60)
 * = 4096, which fit exactly; "no_fit" has 63 of them and one of 62 bytes,
 * 4 bytes too many, so it falls back at the first row of that one. */
static void case_dictionary(void)
{
    static const struct eddy_parquet_column cols[] = {
        {"n", EDDY_PARQUET_INT64},           {"low", EDDY_PARQUET_STRING},
        {"one", EDDY_PARQUET_STRING},        {"width9", EDDY_PARQUET_STRING},
        {"by_entries", EDDY_PARQUET_STRING}, {"by_bytes", EDDY_PARQUET_STRING},
        {"huge_first", EDDY_PARQUET_STRING}, {"nulls_first", EDDY_PARQUET_STRING},
        {"fit", EDDY_PARQUET_STRING},        {"no_fit", EDDY_PARQUET_STRING},
    };
    struct case_spec spec = {
        "dictionary",
        "dictionary.parquet",
        "dictionary.expected.jsonl",
        cols,
        10,
        {.row_group_rows = 1500, .page_rows = 128, .dict_max_entries = 300, .dict_max_bytes = 4096},
        3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    static const char *const low[] = {"red", "green", "blue \xE2\x82\xAC"};
    static char huge[5000];
    memset(huge, 'h', sizeof(huge));
    char width9[16], by_entries[16], by_bytes[128], small[16], nulls_first[16], fit[64], no_fit[64];
    for (int64_t r = 0; r < 4000; r++) {
        int64_t in_group = r % 1500;
        snprintf(width9, sizeof(width9), "w%d", (int)(r % 290));
        snprintf(by_entries, sizeof(by_entries), "k-%d", (int)r);
        snprintf(by_bytes, sizeof(by_bytes), "%-99d|", (int)(r % 80)); /* 100 bytes */
        snprintf(small, sizeof(small), "h%d", (int)(r % 3));
        snprintf(nulls_first, sizeof(nulls_first), "x%d", (int)(r % 5));
        snprintf(fit, sizeof(fit), "%-59d|", (int)(r % 64)); /* 60 bytes */
        snprintf(no_fit, sizeof(no_fit), r % 64 == 63 ? "%-61d|" : "%-59d|", (int)(r % 64));
        /* runs of 13 equal values, then random ones */
        int pick = r % 400 < 200 ? (int)(r / 13 % 3) : (int)rnd_below(3);
        struct eddy_value row[10] = {
            v_int(r),
            rnd_below(10) == 0 ? v_null() : v_str(low[pick]),
            v_str("only"),
            v_str(width9),
            v_str(by_entries),
            v_str(by_bytes),
            in_group == 0 ? v_strn(huge, sizeof(huge)) : v_str(small),
            in_group < 500 ? v_null() : v_str(nulls_first),
            v_str(fit),
            v_str(no_fit),
        };
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* Many columns of every type. */
static void case_wide(void)
{
    enum { NCOLS = 60 };
    static struct eddy_parquet_column cols[NCOLS];
    static char names[NCOLS][16];
    for (int c = 0; c < NCOLS; c++) {
        snprintf(names[c], sizeof(names[c]), "c%02d", c);
        cols[c] = (struct eddy_parquet_column){names[c], (enum eddy_parquet_type)(c % 5)};
    }
    struct case_spec spec = {"wide", "wide.parquet", "wide.expected.jsonl",
                             cols,   NCOLS,          {.row_group_rows = 2000, .page_rows = 512},
                             3};
    struct case_ctx cx;
    case_begin(&cx, &spec, false);
    static char scratch[NCOLS][64];
    for (int r = 0; r < 5000; r++) {
        struct eddy_value row[NCOLS];
        for (int c = 0; c < NCOLS; c++)
            row[c] = random_value(cols[c].type, (unsigned)c, scratch[c], sizeof(scratch[c]));
        case_row(&cx, row);
    }
    case_end(&cx);
    manifest_entry(&spec, false, NULL);
}

/* A Hive-partitioned dataset: hive/day=.../region=.../part-0.parquet, the
 * region values escaped as Hive does. */
static void case_hive(void)
{
    static const struct eddy_parquet_column cols[] = {{"order_id", EDDY_PARQUET_INT64},
                                                      {"amount", EDDY_PARQUET_DOUBLE},
                                                      {"customer", EDDY_PARQUET_STRING},
                                                      {"at", EDDY_PARQUET_TIMESTAMP_MILLIS}};
    const char *days[] = {"2024-01-01", "2024-01-02", "2024-01-03"};
    const char *regions[] = {"eu", "us-east", "a/b c"};
    int64_t id = 0;
    char file[256];
    struct case_spec spec = {"hive", "hive", "hive.expected.jsonl",
                             cols,   4,      {.create_dirs = true, .row_group_rows = 50},
                             0};
    for (int d = 0; d < 3; d++) {
        for (int g = 0; g < 3; g++) {
            struct eddy_buf dir;
            eddy_buf_init(&dir);
            eddy_buf_printf(&dir, "hive/day=%s/region=", days[d]);
            eddy__parquet_hive_escape(&dir, regions[g], strlen(regions[g]));
            snprintf(file, sizeof(file), "%s/part-00000.parquet", dir.data);
            eddy_buf_release(&dir);
            struct case_spec part = spec;
            part.file = file;
            const char *partition_values[2] = {days[d], regions[g]};
            struct case_ctx cx;
            case_begin(&cx, &part, d + g > 0);
            cx.partition_values = partition_values;
            cx.npartitions = 2;
            int rows = 40 + d * 30 + g * 7;
            for (int r = 0; r < rows; r++, id++) {
                char customer[32];
                snprintf(customer, sizeof(customer), "cust-%d", (int)rnd_below(20));
                struct eddy_value row[4] = {v_int(id), v_num((double)rnd_below(100000) / 100),
                                            r % 9 ? v_str(customer) : v_null(),
                                            v_int(1704067200000 + d * 86400000ll + r * 60000)};
                case_row(&cx, row);
            }
            case_end(&cx);
        }
    }
    manifest_entry(&spec, true, ",\"partitions\":[\"day\",\"region\"]");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: write_cases OUTDIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    char *manifest_path = path_join("manifest.jsonl");
    manifest = fopen(manifest_path, "w");
    free(manifest_path);
    if (!manifest)
        die("cannot write manifest");
    case_types("types", EDDY_PARQUET_LZ4_RAW, false);
    case_types("types_uncompressed", EDDY_PARQUET_UNCOMPRESSED, false);
    case_types("types_plain", EDDY_PARQUET_LZ4_RAW, true);
    case_dictionary();
    case_many_rows();
    case_by_bytes();
    case_null_patterns();
    case_all_null();
    case_nan_only();
    case_empty();
    case_stats_trunc();
    case_wide();
    case_hive();
    fclose(manifest);
    printf("write_cases: wrote cases to %s\n", out_dir);
    return 0;
}
