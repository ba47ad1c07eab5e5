/*
 * core: JSON writing, UTF-8 validation, durations, time formatting, hash
 * stability (its values are part of persisted state), the process's allocator.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef EDDY_JEMALLOC
#include <jemalloc/jemalloc.h>
#include <librdkafka/rdkafka.h>
#include <rocksdb/c.h>
#endif

#include "core/alloc.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/time.h"
#include "eddy/err.h"

static const char *json_str(struct eddy_buf *b, const char *s, size_t len)
{
    eddy_buf_reset(b);
    eddy_buf_json_str(b, s, len);
    return b->data;
}

Test(core, json_strings_escape_quotes_backslashes_and_controls)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    cr_expect_str_eq(json_str(&b, "a\"b\\c\n\t\x01", 8), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    cr_expect_str_eq(json_str(&b, "caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
    cr_expect_str_eq(json_str(&b, "a\0b", 3), "\"a\\u0000b\"");
    eddy_buf_release(&b);
}

Test(core, json_numbers_round_trip_and_non_finite_is_null)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_json_num(&b, 0.1);
    eddy_buf_putc(&b, ' ');
    eddy_buf_json_num(&b, 1.0 / 3);
    eddy_buf_putc(&b, ' ');
    eddy_buf_json_num(&b, 350);
    eddy_buf_putc(&b, ' ');
    eddy_buf_json_num(&b, 1.0 / 0.0);
    eddy_buf_putc(&b, ' ');
    eddy_buf_json_i64(&b, INT64_MIN);
    cr_expect_str_eq(b.data, "0.1 0.3333333333333333 350 null -9223372036854775808");
    eddy_buf_release(&b);
}

Test(core, base64)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_json_base64(&b, "\xff\xfe", 2);
    eddy_buf_json_base64(&b, "abc", 3);
    eddy_buf_json_base64(&b, "a", 1);
    cr_expect_str_eq(b.data, "\"//4=\"\"YWJj\"\"YQ==\"");
    eddy_buf_release(&b);
}

Test(core, utf8_validation)
{
    cr_expect(eddy_utf8_valid("h\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", 12));
    cr_expect_not(eddy_utf8_valid("\xc0\xaf", 2));         /* overlong */
    cr_expect_not(eddy_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    cr_expect_not(eddy_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    cr_expect_not(eddy_utf8_valid("\xe6\x97", 2));         /* truncated */
    cr_expect_not(eddy_utf8_valid("\xff", 1));
}

Test(core, durations)
{
    int64_t ms;
    cr_expect(eddy_duration_parse("10m", &ms) && ms == 600000);
    cr_expect(eddy_duration_parse("1h30m", &ms) && ms == 5400000);
    cr_expect(eddy_duration_parse("250ms", &ms) && ms == 250);
    cr_expect(eddy_duration_parse("1d", &ms) && ms == 86400000);
    cr_expect_not(eddy_duration_parse("", &ms));
    cr_expect_not(eddy_duration_parse("10", &ms));
    cr_expect_not(eddy_duration_parse("5 m", &ms));
    cr_expect_not(eddy_duration_parse("1y", &ms));
    cr_expect_not(eddy_duration_parse("99999999999999999999s", &ms));
    char out[32];
    eddy_duration_format(5400000, out, sizeof out);
    cr_expect_str_eq(out, "1h30m");
    eddy_duration_format(250, out, sizeof out);
    cr_expect_str_eq(out, "250ms");
}

Test(core, time_format)
{
    char out[32];
    eddy_time_format(1746007260000LL, out);
    cr_expect_str_eq(out, "2025-04-30T10:01:00Z");
    eddy_time_format(1746007260250LL, out);
    cr_expect_str_eq(out, "2025-04-30T10:01:00.250Z");
    eddy_time_format(0, out);
    cr_expect_str_eq(out, "1970-01-01T00:00:00Z");
    eddy_time_format(951782400000LL, out); /* leap day 2000 */
    cr_expect_str_eq(out, "2000-02-29T00:00:00Z");
    cr_expect_eq(eddy_time_format(253402300799999LL, out), 24); /* the last 4-digit ms */
    cr_expect_str_eq(out, "9999-12-31T23:59:59.999Z");
    eddy_time_format(253402300800000LL, out); /* year 10000: the general path */
    cr_expect_str_eq(out, "10000-01-01T00:00:00Z");
    eddy_time_format(-1, out);
    cr_expect_str_eq(out, "1969-12-31T23:59:59.999Z");
    eddy_time_format(1746007269007LL, out);
    cr_expect_str_eq(out, "2025-04-30T10:01:09.007Z");
    cr_expect_eq(eddy_days_from_civil(2025, 4, 30), 20208);
}

Test(core, hash_values_are_stable)
{
    /* persisted in state and sketches: these values must never change */
    cr_expect_eq(eddy_hash64("", 0, 0), eddy_hash64("", 0, 0));
    cr_expect_neq(eddy_hash64("a", 1, 0), eddy_hash64("b", 1, 0));
    cr_expect_neq(eddy_hash64("a", 1, 0), eddy_hash64("a", 1, 1));
    cr_expect_neq(eddy_hash64("abcdefghijklmnop", 16, 0), eddy_hash64("abcdefghijklmnoq", 16, 0));
    uint64_t h = eddy_hash64("auth-service", 12, 0);
    cr_expect_eq(h, eddy_hash64("auth-service", 12, 0));
}

Test(core, error_table)
{
    cr_expect_str_eq(eddy_err_name(EDDY_ENOMEM), "EDDY_ENOMEM");
    cr_expect_str_eq(eddy_err_message(EDDY_ECONFIG), "invalid configuration");
    cr_expect(eddy_err_retriable(EDDY_EAGAIN));
    cr_expect_not(eddy_err_retriable(EDDY_ECONFIG));
    cr_expect_str_eq(eddy_err_name((eddy_err_t)999), "EDDY_UNKNOWN");
}

Test(core, array_reserve_doubles_and_keeps_contents)
{
    int *items = NULL;
    size_t cap = 0;
    cr_assert(eddy_array_reserve(&items, &cap, 3, sizeof *items, 2));
    cr_expect_eq(cap, 4);
    for (int i = 0; i < 3; i++)
        items[i] = i * 7;
    cr_assert(eddy_array_reserve(&items, &cap, 9, sizeof *items, 2));
    cr_expect_eq(cap, 16);
    cr_expect_eq(items[2], 14);
    cr_assert(eddy_array_reserve(&items, &cap, 16, sizeof *items, 2));
    cr_expect_eq(cap, 16);
    eddy_alloc_fail_at(1);
    cr_expect_not(eddy_array_reserve(&items, &cap, 17, sizeof *items, 2));
    eddy_alloc_fail_at(0);
    cr_expect_eq(cap, 16);
    cr_expect_eq(items[1], 7);
    eddy_free(items);
}

/* eddy_hash64 is in persisted state (dedup segments) and picks repartition
 * partitions: its values may never change. Pinned for lengths around every
 * word boundary of its tail handling, seeds 0 and 12345. */
Test(core, hash_values_are_pinned)
{
    static const char text[] = "The quick brown fox jumps over the lazy dog 0123456789";
    static const struct {
        size_t len;
        uint64_t seed0, seed12345;
    } pinned[] = {
        {0, 0x82d119fff7ef22c7ULL, 0xc56e9b27e52fdf75ULL},
        {1, 0x9fe55edf56a1f622ULL, 0x0a1cd3ec52d1a9b4ULL},
        {3, 0x92b9ac1fdb6ed0d6ULL, 0x5c709894d7fbe1f4ULL},
        {7, 0x0d0d6d84cd67546eULL, 0xf1a40677903e8ffaULL},
        {8, 0xfa875ef55369dde5ULL, 0x105935341571940dULL},
        {9, 0x39da9c7428918612ULL, 0x3697c7c0c83c2ec2ULL},
        {15, 0xf8ec37730c78c098ULL, 0x4eea1a8ef46f8cb4ULL},
        {16, 0xe87d15c7b0666450ULL, 0xa0826df245160765ULL},
        {17, 0x1e0508102e7ece63ULL, 0x4d76694b1665237aULL},
        {24, 0x795af4d755c37274ULL, 0xfe8969d188c1a120ULL},
        {31, 0x87eb5c7562d44a4bULL, 0xe152be243d9c9b90ULL},
        {32, 0xe83eaab45da20c3aULL, 0xa1638d8381fa16f8ULL},
        {33, 0xf1733c6d74b3dda9ULL, 0xf169ccbac6f690b3ULL},
        {40, 0xfa2df77682733cbeULL, 0xfe5a33ed026a3b0bULL},
    };
    for (size_t i = 0; i < sizeof pinned / sizeof *pinned; i++) {
        cr_expect_eq(eddy_hash64(text, pinned[i].len, 0), pinned[i].seed0, "length %zu, seed 0",
                     pinned[i].len);
        cr_expect_eq(eddy_hash64(text, pinned[i].len, 12345), pinned[i].seed12345,
                     "length %zu, seed 12345", pinned[i].len);
    }
}

Test(fs, mkdirs_makes_every_level_accepts_existing_ones_and_fails_on_a_file)
{
    char root[] = "/tmp/eddy-test-fs.XXXXXX", path[128], file[128];
    cr_assert_not_null(mkdtemp(root));
    snprintf(path, sizeof path, "%s/a/b=c/d/", root);
    cr_assert_eq(eddy_mkdirs(path, "test"), EDDY_OK);
    struct stat st;
    snprintf(file, sizeof file, "%s/a/b=c/d", root);
    cr_assert_eq(stat(file, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(eddy_mkdirs(path, "test"), EDDY_OK); /* all there already */
    snprintf(file, sizeof file, "%s/a/f", root);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/a/f/g", root);
    cr_assert_eq(eddy_mkdirs(path, "test"), EDDY_EIO); /* a file in the way */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

#ifdef EDDY_JEMALLOC
/* jemalloc must serve malloc for the whole process, the libraries included:
 * librdkafka's per-message allocations are why it is linked. Its per-thread
 * byte counter moves for a malloc of eddy's, one inside librdkafka and one
 * inside RocksDB (C++ new). */
Test(alloc, jemalloc_serves_eddy_librdkafka_and_rocksdb)
{
    uint64_t *allocated = NULL;
    size_t len = sizeof allocated;
    cr_assert_eq(mallctl("thread.allocatedp", &allocated, &len, NULL, 0), 0);
    uint64_t before = *allocated;
    void *block = eddy_malloc(1 << 20);
    cr_assert_not_null(block);
    cr_expect_geq(*allocated - before, 1u << 20);
    eddy_free(block);

    before = *allocated;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_expect_gt(*allocated, before, "librdkafka's allocation did not go through jemalloc");
    rd_kafka_conf_destroy(conf);

    before = *allocated;
    rocksdb_options_t *options = rocksdb_options_create();
    cr_expect_gt(*allocated, before, "RocksDB's allocation did not go through jemalloc");
    rocksdb_options_destroy(options);

    char name[128];
    eddy_allocator(name, sizeof name);
    cr_expect(strncmp(name, "jemalloc 5.", 11) == 0, "allocator: %s", name);

    /* core/alloc.c's malloc_conf was read */
    unsigned narenas = 0;
    len = sizeof narenas;
    cr_assert_eq(mallctl("opt.narenas", &narenas, &len, NULL, 0), 0);
    cr_expect_eq(narenas, 2);
    ssize_t decay_ms = 0;
    len = sizeof decay_ms;
    cr_assert_eq(mallctl("opt.dirty_decay_ms", &decay_ms, &len, NULL, 0), 0);
    cr_expect_eq(decay_ms, 1000);
}
#else
Test(alloc, sanitizer_builds_name_the_libc_allocator)
{
    char name[128];
    eddy_allocator(name, sizeof name);
    cr_expect_str_eq(name, "libc");
}
#endif
