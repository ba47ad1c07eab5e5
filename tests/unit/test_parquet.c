/*
 * parquet: the Thrift compact and RLE/bit-packed hybrid encoders byte for
 * byte, a dictionary-encoded file byte for byte, and the writer's contract:
 * rows all-or-nothing, clear errors, atomic publication, no partial or
 * temporary files left after a failure, output byte-identical when the same
 * rows are written again and when allocations fail and are retried. What
 * readers make of the files is checked by tests/parquet/check.py (pyarrow
 * and duckdb).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "sink/parquet.h"
#include "sink/parquet_enc.h"

/* ---- helpers ---- */

static void expect_bytes(const struct eddy_buf *b, const uint8_t *want, size_t len)
{
    cr_assert_eq(b->len, len, "length %zu, expected %zu", b->len, len);
    for (size_t i = 0; i < len; i++)
        cr_expect_eq((uint8_t)b->data[i], want[i], "byte %zu: 0x%02x, expected 0x%02x", i,
                     (uint8_t)b->data[i], want[i]);
}

static void rle(struct eddy_buf *b, const uint8_t *values, size_t n, int width)
{
    eddy_buf_reset(b);
    eddy__rle_hybrid_encode(b, values, n, width);
}

static char test_dir[64];

static void make_test_dir(void)
{
    strcpy(test_dir, "/tmp/eddy-parquet-test.XXXXXX");
    cr_assert_not_null(mkdtemp(test_dir));
}

static void remove_tree(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    cr_expect_eq(system(cmd), 0);
}

/* Number of entries in @dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(*len ? *len : 1);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

static const struct eddy_parquet_column cols[] = {
    {"s", EDDY_PARQUET_STRING},           {"i", EDDY_PARQUET_INT64},
    {"d", EDDY_PARQUET_DOUBLE},           {"b", EDDY_PARQUET_BOOLEAN},
    {"t", EDDY_PARQUET_TIMESTAMP_MILLIS},
};
static const struct eddy_parquet_schema schema = {cols, 5};

/* Strings: "row-N-é", and every 7th a long run of 'a' (the page minimum,
 * longer than the maximum). */
static void sample_row(int r, struct eddy_value row[5], char *scratch)
{
    static char long_a[600];
    memset(long_a, 'a', sizeof(long_a));
    snprintf(scratch, 32, "row-%d-\xC3\xA9", r);
    struct eddy_str s = {scratch, (uint32_t)strlen(scratch)};
    if (r % 7 == 1)
        s = (struct eddy_str){long_a, (uint32_t)(300 + r % 300)};
    row[0] = r % 5 ? (struct eddy_value){.type = EDDY_V_STR, .as.s = s} : eddy_value_null();
    row[1] = (struct eddy_value){.type = EDDY_V_INT, .as.i = r * 1000003LL};
    row[2] = r % 3 ? (struct eddy_value){.type = EDDY_V_NUM, .as.n = r / 7.0} : eddy_value_null();
    row[3] = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = r % 2};
    row[4] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 1700000000000LL + r};
}

/* ---- Thrift compact protocol ---- */

Test(parquet, varints_and_zigzag)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy__tc_varint(&b, 0);
    eddy__tc_varint(&b, 127);
    eddy__tc_varint(&b, 128);
    eddy__tc_varint(&b, 300);
    expect_bytes(&b, (const uint8_t[]){0x00, 0x7F, 0x80, 0x01, 0xAC, 0x02}, 6);
    cr_expect_eq(eddy__tc_zigzag(0), 0);
    cr_expect_eq(eddy__tc_zigzag(-1), 1);
    cr_expect_eq(eddy__tc_zigzag(1), 2);
    cr_expect_eq(eddy__tc_zigzag(-2), 3);
    cr_expect_eq(eddy__tc_zigzag(INT64_MIN), UINT64_MAX);
    cr_expect_eq(eddy__tc_zigzag(INT64_MAX), UINT64_MAX - 1);
    eddy_buf_release(&b);
}

Test(parquet, compact_fields_use_short_and_long_headers)
{
    struct eddy_buf b;
    struct eddy_tc tc;
    eddy_buf_init(&b);
    eddy__tc_init(&tc, &b);
    eddy__tc_struct_begin(&tc);
    eddy__tc_field_i32(&tc, 1, -3);               /* 0x15, zigzag 5 */
    eddy__tc_field_bool(&tc, 2, true);            /* 0x11 */
    eddy__tc_field_bool(&tc, 3, false);           /* 0x12 */
    eddy__tc_field_i64(&tc, 20, 64);              /* delta 17: 0x06, id zigzag 40, value 128 */
    eddy__tc_field_string(&tc, 21, "ab");         /* 0x18 0x02 'a' 'b' */
    eddy__tc_field_struct(&tc, 22);               /* 0x1C, new scope */
    eddy__tc_field_i16(&tc, 1, 1);                /* 0x14 0x02 */
    eddy__tc_struct_end(&tc);                     /* 0x00 */
    eddy__tc_field_list(&tc, 23, EDDY_TC_I32, 2); /* 0x19 0x25 */
    eddy__tc_elem_i32(&tc, 1);
    eddy__tc_elem_i32(&tc, -1);
    eddy__tc_field_list(&tc, 24, EDDY_TC_BINARY, 15); /* 0x19 0xF8 0x0F */
    eddy__tc_struct_end(&tc);
    cr_assert_eq(eddy__tc_err(&tc), EDDY_OK);
    expect_bytes(&b, (const uint8_t[]){0x15, 0x05, 0x11, 0x12, 0x06, 0x28, 0x80, 0x01,
                                       0x18, 0x02, 'a',  'b',  0x1C, 0x14, 0x02, 0x00,
                                       0x19, 0x25, 0x02, 0x01, 0x19, 0xF8, 0x0F, 0x00},
                 24);
    eddy_buf_release(&b);
}

Test(parquet, compact_field_outside_struct_is_an_error)
{
    struct eddy_buf b;
    struct eddy_tc tc;
    eddy_buf_init(&b);
    eddy__tc_init(&tc, &b);
    eddy__tc_field_i32(&tc, 1, 1);
    cr_expect_eq(eddy__tc_err(&tc), EDDY_EINVAL);
    eddy_buf_release(&b);
}

/* ---- RLE / bit-packed hybrid ---- */

Test(parquet, rle_hybrid_long_runs_are_rle)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    uint8_t ones[300];
    memset(ones, 1, sizeof(ones));
    rle(&b, ones, 10, 1);
    expect_bytes(&b, (const uint8_t[]){0x14, 0x01}, 2);
    rle(&b, ones, 300, 1); /* varint(600) = 0xD8 0x04 */
    expect_bytes(&b, (const uint8_t[]){0xD8, 0x04, 0x01}, 3);
    eddy_buf_release(&b);
}

Test(parquet, rle_hybrid_short_runs_are_bit_packed_lsb_first)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    rle(&b, (const uint8_t[]){1, 0, 1, 0, 1, 0, 1, 0}, 8, 1);
    expect_bytes(&b, (const uint8_t[]){0x03, 0x55}, 2);
    rle(&b, (const uint8_t[]){1, 1, 0}, 3, 1); /* padded to one group */
    expect_bytes(&b, (const uint8_t[]){0x03, 0x03}, 2);
    /* Encodings.md: 0..7 at bit width 3 pack to 10001000 11000110 11111010 */
    rle(&b, (const uint8_t[]){0, 1, 2, 3, 4, 5, 6, 7}, 8, 3);
    expect_bytes(&b, (const uint8_t[]){0x03, 0x88, 0xC6, 0xFA}, 4);
    eddy_buf_release(&b);
}

Test(parquet, rle_hybrid_mixes_runs_on_group_boundaries)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    /* 8 zeros, then 3 ones */
    rle(&b, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, 11, 1);
    expect_bytes(&b, (const uint8_t[]){0x10, 0x00, 0x03, 0x07}, 4);
    /* 1,0 then 12 ones: the literal group takes 6 of them, the 6 left are
     * too few for a run and are packed too */
    uint8_t v[14] = {1, 0};
    memset(v + 2, 1, 12);
    rle(&b, v, 14, 1);
    expect_bytes(&b, (const uint8_t[]){0x05, 0xFD, 0x3F}, 3);
    /* 1,0 then 20 ones: after one literal group, a run of 14 */
    uint8_t w[22] = {1, 0};
    memset(w + 2, 1, 20);
    rle(&b, w, 22, 1);
    expect_bytes(&b, (const uint8_t[]){0x03, 0xFD, 0x1C, 0x01}, 4);
    eddy_buf_release(&b);
}

Test(parquet, rle_hybrid_wide_values_use_their_bit_width)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    /* width 0: one value, no value bytes in the run */
    eddy_buf_reset(&b);
    eddy__rle_hybrid_encode32(&b, (const uint32_t[]){0, 0, 0}, 3, 0);
    expect_bytes(&b, (const uint8_t[]){0x06}, 1); /* even for fewer than 8 values */
    /* width 9: 8 values 0, 1, ..., 7 and 511 packed LSB first in 9 bytes */
    eddy_buf_reset(&b);
    eddy__rle_hybrid_encode32(&b, (const uint32_t[]){0, 1, 2, 3, 4, 5, 6, 511}, 8, 9);
    /* bits: 0@0 1@9 2@18 3@27 4@36 5@45 6@54 511@63..71 */
    expect_bytes(&b, (const uint8_t[]){0x03, 0x00, 0x02, 0x08, 0x18, 0x40, 0xA0, 0x80, 0x81, 0xFF},
                 10);
    /* width 17: an RLE run stores its value in 3 bytes, LE */
    uint32_t run[9];
    for (int i = 0; i < 9; i++)
        run[i] = 0x1ABCD;
    eddy_buf_reset(&b);
    eddy__rle_hybrid_encode32(&b, run, 9, 17);
    expect_bytes(&b, (const uint8_t[]){0x12, 0xCD, 0xAB, 0x01}, 4);
    /* width 32: a literal group of 8 takes 32 bytes */
    eddy_buf_reset(&b);
    eddy__rle_hybrid_encode32(&b, (const uint32_t[]){UINT32_MAX, 1}, 2, 32);
    uint8_t wide[33] = {0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}; /* then zero padding */
    expect_bytes(&b, wide, sizeof(wide));
    cr_expect_eq(eddy__bit_width(0), 0);
    cr_expect_eq(eddy__bit_width(1), 1);
    cr_expect_eq(eddy__bit_width(2), 2);
    cr_expect_eq(eddy__bit_width(289), 9);
    cr_expect_eq(eddy__bit_width(UINT32_MAX), 32);
    eddy_buf_release(&b);
}

Test(parquet, dictionary_finds_entries_in_insertion_order_across_growth)
{
    struct eddy_parquet_dict d;
    eddy__parquet_dict_init(&d);
    char key[16];
    for (int round = 0; round < 2; round++) { /* the second round after a reset */
        for (uint32_t i = 0; i < 1000; i++) {
            int len = snprintf(key, sizeof(key), "k%u", i * 7919 % 1000);
            uint64_t hash = eddy__parquet_dict_hash(key, (size_t)len);
            uint32_t index;
            cr_assert_not(eddy__parquet_dict_find(&d, key, (size_t)len, hash, &index));
            cr_assert(eddy__parquet_dict_reserve(&d, (size_t)len));
            cr_assert_eq(eddy__parquet_dict_insert(&d, key, (size_t)len, hash), i);
        }
        for (uint32_t i = 0; i < 1000; i++) {
            int len = snprintf(key, sizeof(key), "k%u", i * 7919 % 1000);
            uint32_t index = UINT32_MAX;
            cr_assert(eddy__parquet_dict_find(&d, key, (size_t)len,
                                              eddy__parquet_dict_hash(key, (size_t)len), &index));
            cr_assert_eq(index, i);
        }
        cr_expect_eq(d.count, 1000);
        /* the page body: u32 LE length + bytes, in index order */
        cr_expect_eq(memcmp(d.plain.data, "\x02\x00\x00\x00k0\x04\x00\x00\x00k919", 14), 0);
        eddy__parquet_dict_reset(&d);
        cr_expect_eq(d.count, 0);
        cr_expect_eq(d.plain.len, 0);
    }
    eddy__parquet_dict_release(&d);
}

/* ---- the writer ---- */

static const uint8_t *find_bytes(const char *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    return memmem(hay, hay_len, needle, len);
}

Test(parquet, dictionary_encoded_file_byte_for_byte)
{
    make_test_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/dict.parquet", test_dir);
    static const struct eddy_parquet_column one[] = {{"s", EDDY_PARQUET_STRING}};
    struct eddy_parquet_options opt = {.codec = EDDY_PARQUET_UNCOMPRESSED};
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &(struct eddy_parquet_schema){one, 1}, &opt, &w),
                 EDDY_OK);
    const char *values[] = {"a", "b", NULL, "a"};
    for (int r = 0; r < 4; r++) {
        struct eddy_value v = values[r]
                                  ? (struct eddy_value){.type = EDDY_V_STR, .as.s = {values[r], 1}}
                                  : eddy_value_null();
        cr_assert_eq(eddy__parquet_append(w, &v), EDDY_OK);
    }
    cr_assert_eq(eddy__parquet_close(w), EDDY_OK);
    size_t len;
    char *data = slurp(path, &len);
    static const uint8_t pages[] = {
        'P', 'A', 'R', '1',
        /* dictionary page header: DICTIONARY_PAGE, 10 bytes, 10 bytes,
         * DictionaryPageHeader {2 entries, PLAIN} */
        0x15, 0x04, 0x15, 0x14, 0x15, 0x14, 0x4C, 0x15, 0x04, 0x15, 0x00, 0x00, 0x00,
        /* the entries, PLAIN */
        0x01, 0x00, 0x00, 0x00, 'a', 0x01, 0x00, 0x00, 0x00, 'b',
        /* data page header: DATA_PAGE, 9 bytes, 9 bytes, DataPageHeader {4 values,
         * RLE_DICTIONARY, RLE, RLE, Statistics {null_count 1, max "b", min "a",
         * both exact}} */
        0x15, 0x00, 0x15, 0x12, 0x15, 0x12, 0x2C, 0x15, 0x08, 0x15, 0x10, 0x15, 0x06, 0x15, 0x06,
        0x1C, 0x36, 0x02, 0x28, 0x01, 'b', 0x18, 0x01, 'a', 0x11, 0x11, 0x00, 0x00, 0x00,
        /* levels: 2 bytes, one bit-packed group 1,1,0,1; bit width 1; indices
         * 0,1,0 in one bit-packed group */
        0x02, 0x00, 0x00, 0x00, 0x03, 0x0B, 0x01, 0x03, 0x02};
    cr_assert_geq(len, sizeof(pages));
    for (size_t i = 0; i < sizeof(pages); i++)
        cr_expect_eq((uint8_t)data[i], pages[i], "byte %zu: 0x%02x, expected 0x%02x", i,
                     (uint8_t)data[i], pages[i]);
    static const uint8_t column_chunk[] = {
        0x26, 0x00, 0x1C,             /* file_offset 0, meta_data: */
        0x15, 0x0C,                   /* BYTE_ARRAY */
        0x19, 0x35, 0x00, 0x06, 0x10, /* encodings PLAIN, RLE, RLE_DICTIONARY */
        0x19, 0x18, 0x01, 's',        /* path_in_schema */
        0x15, 0x00,                   /* UNCOMPRESSED */
        0x16, 0x08,                   /* 4 values */
        0x16, 0x7A, 0x16, 0x7A,       /* 61 bytes, both sizes */
        0x26, 0x36,                   /* data_page_offset 27 */
        0x26, 0x08,                   /* dictionary_page_offset 4 */
        0x1C, 0x36, 0x02, 0x28, 0x01, 'b',  0x18, 0x01, 'a', 0x11, 0x11, 0x00, /* statistics */
        0x19, 0x2C,                                                            /* encoding_stats: */
        0x15, 0x04, 0x15, 0x00, 0x15, 0x02, 0x00, /* DICTIONARY_PAGE PLAIN 1 */
        0x15, 0x00, 0x15, 0x10, 0x15, 0x02, 0x00, /* DATA_PAGE RLE_DICTIONARY 1 */
        0x00, 0x00};
    cr_expect_not_null(find_bytes(data, len, column_chunk, sizeof(column_chunk)),
                       "the ColumnChunk of the footer");
    free(data);
    remove_tree(test_dir);
}

Test(parquet, close_publishes_the_file_and_leaves_no_temporary)
{
    make_test_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/out.parquet", test_dir);
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &schema, NULL, &w), EDDY_OK);
    cr_expect_eq(access(path, F_OK), -1, "the final path appears only on close");
    cr_expect_eq(dir_entries(test_dir), 1, "one hidden temporary file");
    char scratch[32];
    struct eddy_value row[5];
    for (int r = 0; r < 100; r++) {
        sample_row(r, row, scratch);
        cr_assert_eq(eddy__parquet_append(w, row), EDDY_OK);
    }
    cr_expect_eq(eddy__parquet_rows(w), 100);
    cr_expect_gt(eddy__parquet_bytes(w), 4);
    cr_assert_eq(eddy__parquet_close(w), EDDY_OK);
    cr_expect_eq(dir_entries(test_dir), 1, "only the final file");
    size_t len;
    char *data = slurp(path, &len);
    cr_assert_not_null(data);
    cr_expect(len > 12 && memcmp(data, "PAR1", 4) == 0 && memcmp(data + len - 4, "PAR1", 4) == 0);
    free(data);
    remove_tree(test_dir);
}

Test(parquet, wrong_types_and_bad_utf8_reject_the_whole_row)
{
    make_test_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/out.parquet", test_dir);
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &schema, NULL, &w), EDDY_OK);
    char scratch[32];
    struct eddy_value row[5];
    sample_row(1, row, scratch);
    row[4] = (struct eddy_value){.type = EDDY_V_NUM, .as.n = 1.5};
    cr_expect_eq(eddy__parquet_append(w, row), EDDY_EINVAL);
    cr_expect_str_eq(eddy__parquet_error(w), "column 't': expected TIMESTAMP_MILLIS, got NUM");
    sample_row(1, row, scratch);
    row[0].as.s = (struct eddy_str){"\xC3(", 2};
    cr_expect_eq(eddy__parquet_append(w, row), EDDY_EINVAL);
    cr_expect_str_eq(eddy__parquet_error(w), "column 's': string is not valid UTF-8");
    sample_row(1, row, scratch);
    row[3] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 1};
    cr_expect_eq(eddy__parquet_append(w, row), EDDY_EINVAL);
    cr_expect_eq(eddy__parquet_rows(w), 0, "nothing of the rejected rows was kept");
    sample_row(1, row, scratch);
    row[2] = (struct eddy_value){.type = EDDY_V_INT, .as.i = 3}; /* INT into DOUBLE is fine */
    cr_expect_eq(eddy__parquet_append(w, row), EDDY_OK);
    cr_expect_str_eq(eddy__parquet_error(w), "");
    cr_expect_eq(eddy__parquet_rows(w), 1);
    cr_expect_eq(eddy__parquet_close(w), EDDY_OK);
    remove_tree(test_dir);
}

Test(parquet, bad_schemas_and_options_are_refused, .init = cr_redirect_stderr)
{
    struct eddy_parquet_writer *w = (void *)1;
    const struct eddy_parquet_column dup[] = {{"a", EDDY_PARQUET_INT64},
                                              {"a", EDDY_PARQUET_STRING}};
    const struct eddy_parquet_column empty[] = {{"", EDDY_PARQUET_INT64}};
    const struct eddy_parquet_column bad_type[] = {{"a", (enum eddy_parquet_type)42}};
    cr_expect_eq(
        eddy__parquet_open("/tmp/x.parquet", &(struct eddy_parquet_schema){dup, 2}, NULL, &w),
        EDDY_EINVAL);
    cr_expect_null(w);
    cr_expect_eq(
        eddy__parquet_open("/tmp/x.parquet", &(struct eddy_parquet_schema){empty, 1}, NULL, &w),
        EDDY_EINVAL);
    cr_expect_eq(
        eddy__parquet_open("/tmp/x.parquet", &(struct eddy_parquet_schema){bad_type, 1}, NULL, &w),
        EDDY_EINVAL);
    cr_expect_eq(
        eddy__parquet_open("/tmp/x.parquet", &(struct eddy_parquet_schema){dup, 0}, NULL, &w),
        EDDY_EINVAL);
    struct eddy_parquet_options opt = {.stats_max_bytes = 100000};
    cr_expect_eq(eddy__parquet_open("/tmp/x.parquet", &schema, &opt, &w), EDDY_EINVAL);
    cr_expect_eq(eddy__parquet_open("/tmp/dir/", &schema, NULL, &w), EDDY_EINVAL);
    cr_expect_eq(access("/tmp/x.parquet", F_OK), -1);
}

Test(parquet, missing_directory_fails_unless_create_dirs, .init = cr_redirect_stderr)
{
    make_test_dir();
    char path[160];
    snprintf(path, sizeof(path), "%s/day=2024-01-01/region=eu/part-0.parquet", test_dir);
    struct eddy_parquet_writer *w;
    cr_expect_eq(eddy__parquet_open(path, &schema, NULL, &w), EDDY_EIO);
    cr_expect_null(w);
    struct eddy_parquet_options opt = {.create_dirs = true};
    cr_assert_eq(eddy__parquet_open(path, &schema, &opt, &w), EDDY_OK);
    cr_expect_eq(eddy__parquet_close(w), EDDY_OK);
    cr_expect_eq(access(path, F_OK), 0);
    remove_tree(test_dir);
}

Test(parquet, discard_removes_the_temporary_and_keeps_the_old_file)
{
    make_test_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/out.parquet", test_dir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &schema, NULL, &w), EDDY_OK);
    char scratch[32];
    struct eddy_value row[5];
    sample_row(1, row, scratch);
    cr_assert_eq(eddy__parquet_append(w, row), EDDY_OK);
    eddy__parquet_discard(w);
    eddy__parquet_discard(NULL);
    cr_expect_eq(eddy__parquet_close(NULL), EDDY_OK);
    size_t len;
    char *data = slurp(path, &len);
    cr_expect(len == 3 && memcmp(data, "old", 3) == 0);
    free(data);
    cr_expect_eq(dir_entries(test_dir), 1);
    /* and close replaces it whole */
    cr_assert_eq(eddy__parquet_open(path, &schema, NULL, &w), EDDY_OK);
    cr_expect_eq(eddy__parquet_close(w), EDDY_OK);
    data = slurp(path, &len);
    cr_expect(len > 12 && memcmp(data, "PAR1", 4) == 0);
    free(data);
    cr_expect_eq(dir_entries(test_dir), 1);
    remove_tree(test_dir);
}

Test(parquet, write_errors_are_sticky_and_leave_nothing, .init = cr_redirect_stderr)
{
    make_test_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/out.parquet", test_dir);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {64 << 10, 64 << 10}; /* writes past 64 KiB fail with EFBIG */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    struct eddy_parquet_options opt = {.row_group_rows = 1000, .codec = EDDY_PARQUET_UNCOMPRESSED};
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &schema, &opt, &w), EDDY_OK);
    char scratch[32];
    struct eddy_value row[5];
    eddy_err_t err = EDDY_OK;
    int r;
    for (r = 0; r < 100000 && !err; r++) {
        sample_row(r, row, scratch);
        err = eddy__parquet_append(w, row);
    }
    cr_expect_eq(err, EDDY_EIO);
    cr_expect(strstr(eddy__parquet_error(w), "cannot write") != NULL, "%s", eddy__parquet_error(w));
    cr_expect_eq(eddy__parquet_append(w, row), EDDY_EIO, "sticky");
    cr_expect_eq(eddy__parquet_close(w), EDDY_EIO);
    cr_expect_eq(dir_entries(test_dir), 0, "no partial file, no temporary");
    remove_tree(test_dir);
}

static bool saw_enomem;

/* Writes the sample rows, retrying each call that fails for memory. Returns
 * false when open or close failed (the file is then discarded). */
static bool write_with_retries(const char *path)
{
    /* 20 entries: each row group's dictionary falls back to PLAIN midway */
    struct eddy_parquet_options opt = {
        .row_group_rows = 37, .page_rows = 10, .dict_max_entries = 20};
    struct eddy_parquet_writer *w;
    eddy_err_t err;
    if ((err = eddy__parquet_open(path, &schema, &opt, &w))) {
        cr_assert_eq(err, EDDY_ENOMEM);
        saw_enomem = true;
        return false;
    }
    char scratch[32];
    struct eddy_value row[5];
    for (int r = 0; r < 120; r++) {
        sample_row(r, row, scratch);
        while ((err = eddy__parquet_append(w, row)) == EDDY_ENOMEM)
            saw_enomem = true;
        cr_assert_eq(err, EDDY_OK, "row %d: %s", r, eddy_err_name(err));
    }
    if ((err = eddy__parquet_close(w))) {
        cr_assert_eq(err, EDDY_ENOMEM);
        saw_enomem = true;
        return false;
    }
    return true;
}

Test(parquet, failed_allocations_are_retriable_and_output_is_identical, .init = cr_redirect_stderr)
{
    make_test_dir();
    char ref_path[128], path[128];
    snprintf(ref_path, sizeof(ref_path), "%s/ref.parquet", test_dir);
    snprintf(path, sizeof(path), "%s/out.parquet", test_dir);
    cr_assert(write_with_retries(ref_path));
    size_t ref_len;
    char *ref = slurp(ref_path, &ref_len);
    int published = 0, discarded = 0;
    unsigned long nth;
    for (nth = 1; nth <= 5000; nth++) { /* every allocation of a run, in turn */
        saw_enomem = false;
        eddy_alloc_fail_at(nth);
        bool ok = write_with_retries(path);
        eddy_alloc_fail_at(0);
        if (!ok) {
            discarded++;
            cr_expect_eq(access(path, F_OK), -1, "fail at %lu: no file", nth);
            cr_expect_eq(dir_entries(test_dir), 1, "fail at %lu: no temporary", nth);
            continue;
        }
        published++;
        size_t len;
        char *data = slurp(path, &len);
        cr_expect(len == ref_len && memcmp(data, ref, len) == 0, "fail at %lu: output differs",
                  nth);
        free(data);
        unlink(path);
        if (!saw_enomem) /* the failure point is past the last allocation */
            break;
    }
    cr_log_info("allocation sweep: %lu runs, %d published, %d discarded", nth, published,
                discarded);
    cr_expect_lt(nth, 5000, "the sweep reached a run with no failed allocation");
    cr_expect_gt(discarded, 0);
    cr_expect_gt(published, 0);
    free(ref);
    remove_tree(test_dir);
}

/* Rows for the determinism test: a few distinct strings, strings that take
 * the dictionary past 1000 entries (fallback to PLAIN), numbers. */
static void write_mixed_rows(const char *path, int seed)
{
    static const struct eddy_parquet_column mixed[] = {{"few", EDDY_PARQUET_STRING},
                                                       {"many", EDDY_PARQUET_STRING},
                                                       {"i", EDDY_PARQUET_INT64},
                                                       {"d", EDDY_PARQUET_DOUBLE}};
    struct eddy_parquet_options opt = {
        .row_group_rows = 3000, .page_rows = 500, .dict_max_entries = 1000};
    struct eddy_parquet_writer *w;
    cr_assert_eq(eddy__parquet_open(path, &(struct eddy_parquet_schema){mixed, 4}, &opt, &w),
                 EDDY_OK);
    static const char *const few[] = {"north", "south", "east", "west \xE2\x86\x92"};
    char many[32];
    for (int r = 0; r < 7000; r++) {
        int n = snprintf(many, sizeof(many), "id-%d", (r * 7 + seed) % 5000);
        struct eddy_value row[4] = {
            r % 9 ? (struct eddy_value){.type = EDDY_V_STR,
                                        .as.s = {few[r % 4], (uint32_t)strlen(few[r % 4])}}
                  : eddy_value_null(),
            (struct eddy_value){.type = EDDY_V_STR, .as.s = {many, (uint32_t)n}},
            (struct eddy_value){.type = EDDY_V_INT, .as.i = r * 31 + seed},
            (struct eddy_value){.type = EDDY_V_NUM, .as.n = r / 3.0 + seed}};
        cr_assert_eq(eddy__parquet_append(w, row), EDDY_OK);
    }
    cr_assert_eq(eddy__parquet_close(w), EDDY_OK);
}

/* The archive sink relies on it: a replay rewrites a file with the same
 * rows, and must produce the same bytes. */
Test(parquet, same_rows_give_byte_identical_files)
{
    make_test_dir();
    char first[128], second[128], other[128];
    snprintf(first, sizeof(first), "%s/first.parquet", test_dir);
    snprintf(second, sizeof(second), "%s/second.parquet", test_dir);
    snprintf(other, sizeof(other), "%s/other.parquet", test_dir);
    write_mixed_rows(first, 0);
    /* leave the heap dirty (freed blocks full of 0xA5) and write other rows,
     * so that nothing uninitialized or left over can go unnoticed */
    for (int i = 0; i < 64; i++) {
        void *junk[8];
        for (int k = 0; k < 8; k++) {
            junk[k] = malloc((size_t)64 << (k + i % 8));
            memset(junk[k], 0xA5, (size_t)64 << (k + i % 8));
        }
        for (int k = 0; k < 8; k++)
            free(junk[k]);
    }
    write_mixed_rows(other, 1);
    write_mixed_rows(second, 0);
    size_t len1, len2, len3;
    char *a = slurp(first, &len1), *b = slurp(second, &len2), *c = slurp(other, &len3);
    cr_assert(len1 == len2 && memcmp(a, b, len1) == 0, "the two files differ");
    cr_expect(len1 != len3 || memcmp(a, c, len1) != 0, "other rows give another file");
    static const uint8_t rle_dictionary_stats[] = {0x15, 0x00, 0x15,
                                                   0x10}; /* DATA_PAGE, RLE_DICT */
    cr_expect_not_null(find_bytes(a, len1, rle_dictionary_stats, 4), "dictionary pages written");
    free(a);
    free(b);
    free(c);
    remove_tree(test_dir);
}

Test(parquet, hive_escape_matches_hive)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy__parquet_hive_escape(&b, "a/b c=d%e", 9);
    cr_expect_str_eq(b.data, "a%2Fb c%3Dd%25e");
    eddy_buf_reset(&b);
    eddy__parquet_hive_escape(&b, "", 0);
    cr_expect_str_eq(b.data, "__HIVE_DEFAULT_PARTITION__");
    eddy_buf_reset(&b);
    eddy__parquet_hive_escape(&b, "x\n\x7f:\xC3\xA9", 6);
    cr_expect_str_eq(b.data, "x%0A%7F%3A\xC3\xA9");
    eddy_buf_release(&b);
}
