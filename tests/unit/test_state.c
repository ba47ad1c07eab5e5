/*
 * RocksDB state layer: column family isolation, ordered scans, atomic
 * data + checkpoint batches across reopen and kill -9, drop, time-bucket
 * expiry, the format marker and order-preserving keys. Each test works in
 * its own mkdtemp dir under /tmp, removed at the end.
 */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "state/be64.h"
#include "state/store.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/eddy-state-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    eddy_log_set_level(EDDY_LOG_WARN);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(state, .init = make_tmpdir, .fini = remove_tmpdir);

static struct eddy_state *open_state(void)
{
    struct eddy_state *st;
    cr_assert_eq(eddy__state_open(tmpdir, NULL, &st), EDDY_OK);
    return st;
}

static struct eddy_store *store(struct eddy_state *st, const char *name, int32_t part)
{
    struct eddy_store *s;
    cr_assert_eq(eddy__state_store(st, name, part, &s), EDDY_OK);
    return s;
}

static void put_str(struct eddy_state_batch *b, struct eddy_store *s, const char *k, const char *v)
{
    eddy__state_batch_put(b, s, k, strlen(k), v, strlen(v));
}

/* Value of @k as a string, or "<none>". */
static const char *get_str(struct eddy_store *s, const char *k, struct eddy_buf *buf)
{
    bool found;
    cr_assert_eq(eddy__store_get(s, k, strlen(k), buf, &found), EDDY_OK);
    return found ? buf->data : "<none>";
}

static int64_t checkpoint_of(struct eddy_store *s)
{
    int64_t off;
    cr_assert_eq(eddy__store_checkpoint(s, &off), EDDY_OK);
    return off;
}

/* Scan callback: appends "k=v;" to a buffer. */
static int collect(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    struct eddy_buf *out = ctx;
    eddy_buf_append(out, k, kl);
    eddy_buf_putc(out, '=');
    eddy_buf_append(out, v, vl);
    eddy_buf_putc(out, ';');
    return 0;
}

static const char *scan_all(struct eddy_store *s, struct eddy_buf *out)
{
    eddy_buf_reset(out);
    eddy_buf_puts(out, "");
    cr_assert_eq(eddy__store_scan(s, NULL, 0, NULL, 0, collect, out), EDDY_OK);
    return out->data;
}

/* ---- keys ---- */

Test(state, be64_keys_sort_like_the_integers_and_round_trip)
{
    const int64_t vals[] = {INT64_MIN, INT64_MIN + 1, -1000, -1, 0, 1, 255, 256, 1000,
                            INT64_MAX - 1, INT64_MAX};
    const size_t n = sizeof vals / sizeof vals[0];
    unsigned char a[8], b[8];
    for (size_t i = 0; i < n; i++) {
        eddy__be64_put(a, vals[i]);
        cr_expect_eq(eddy__be64_get(a), vals[i], "round trip of %lld", (long long)vals[i]);
        if (i + 1 < n) {
            eddy__be64_put(b, vals[i + 1]);
            cr_expect_lt(memcmp(a, b, 8), 0, "%lld < %lld", (long long)vals[i],
                         (long long)vals[i + 1]);
        }
    }
    const unsigned char zero[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    eddy__be64_put(a, 0);
    cr_expect_arr_eq(a, zero, 8);
    const unsigned char lowest[8] = {0};
    eddy__be64_put(a, INT64_MIN);
    cr_expect_arr_eq(a, lowest, 8);
}

/* ---- data ---- */

Test(state, put_get_delete_and_scan_are_isolated_per_store_and_partition)
{
    struct eddy_state *st = open_state();
    struct eddy_store *w0 = store(st, "win", 0), *w1 = store(st, "win", 1);
    struct eddy_store *d0 = store(st, "dedup", 0);
    cr_expect_eq(store(st, "win", 0), w0, "the same store is returned again");
    cr_expect_str_eq(eddy__store_name(w1), "win@1");

    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, w0, "c", "3");
    put_str(b, w0, "a", "1");
    put_str(b, w0, "b", "2");
    put_str(b, w1, "a", "p1");
    put_str(b, d0, "a", "dd");
    cr_expect_eq(eddy__state_batch_count(b), 5);
    cr_expect_gt(eddy__state_batch_bytes(b), 0);
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    cr_expect_eq(eddy__state_batch_count(b), 5, "commit leaves the batch as is");
    eddy__state_batch_clear(b);
    cr_expect_eq(eddy__state_batch_count(b), 0);

    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(get_str(w0, "a", &buf), "1");
    cr_expect_str_eq(get_str(w1, "a", &buf), "p1");
    cr_expect_str_eq(get_str(d0, "a", &buf), "dd");
    cr_expect_str_eq(get_str(w1, "b", &buf), "<none>");
    cr_expect_str_eq(scan_all(w0, &buf), "a=1;b=2;c=3;");
    cr_expect_str_eq(scan_all(w1, &buf), "a=p1;");

    /* [b, c) and [b, end) */
    eddy_buf_reset(&buf);
    eddy_buf_puts(&buf, "");
    cr_expect_eq(eddy__store_scan(w0, "b", 1, "c", 1, collect, &buf), EDDY_OK);
    cr_expect_str_eq(buf.data, "b=2;");
    eddy_buf_reset(&buf);
    cr_expect_eq(eddy__store_scan(w0, "b", 1, NULL, 0, collect, &buf), EDDY_OK);
    cr_expect_str_eq(buf.data, "b=2;c=3;");

    eddy__state_batch_delete(b, w0, "b", 1);
    put_str(b, w0, "a", "10");
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    cr_expect_str_eq(scan_all(w0, &buf), "a=10;c=3;");
    cr_expect_str_eq(scan_all(d0, &buf), "a=dd;");

    eddy_buf_release(&buf);
    eddy__state_batch_free(b);
    eddy__state_close(st);
}

static int stop_after_two(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    int *n = ctx;
    return ++*n == 2;
}

Test(state, scan_stops_when_the_callback_says_so)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, s, "a", "1");
    put_str(b, s, "b", "2");
    put_str(b, s, "c", "3");
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    int n = 0;
    cr_expect_eq(eddy__store_scan(s, NULL, 0, NULL, 0, stop_after_two, &n), EDDY_OK);
    cr_expect_eq(n, 2);
    eddy__state_batch_free(b);
    eddy__state_close(st);
}

Test(state, invalid_store_names_are_refused)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s;
    cr_expect_eq(eddy__state_store(st, "", 0, &s), EDDY_EINVAL);
    cr_expect_eq(eddy__state_store(st, "win", -1, &s), EDDY_EINVAL);
    cr_expect_eq(eddy__state_store(st, "eddy.meta", 0, &s), EDDY_EINVAL);
    cr_expect_eq(eddy__state_store(st, "default", 0, &s), EDDY_EINVAL);
    cr_expect_null(s);
    eddy__state_close(st);
}

/* ---- checkpoints and atomicity ---- */

Test(state, committed_data_and_checkpoint_survive_reopen_and_uncommitted_do_not)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 2);
    cr_expect_eq(checkpoint_of(s), -1);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, s, "k1", "v1");
    eddy__state_batch_checkpoint(b, s, 41);
    eddy__state_batch_checkpoint(b, s, 42); /* the last one in a batch wins */
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy__state_batch_clear(b);
    cr_expect_eq(checkpoint_of(s), 42);

    put_str(b, s, "k2", "v2"); /* never committed */
    eddy__state_batch_checkpoint(b, s, 99);
    eddy__state_close(st);
    eddy__state_batch_free(b);

    st = open_state();
    s = store(st, "win", 2);
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(scan_all(s, &buf), "k1=v1;");
    cr_expect_eq(checkpoint_of(s), 42);
    cr_expect_eq(checkpoint_of(store(st, "win", 3)), -1, "checkpoints are per partition");
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

/* Child: commit batch 1 (data + checkpoint), fill batch 2, exit without
 * committing it or closing. Exit code 0 when every call succeeded. */
static void child_commit_one_then_exit(void)
{
    struct eddy_state *st;
    struct eddy_store *s;
    struct eddy_state_batch *b;
    if (eddy__state_open(tmpdir, NULL, &st) || eddy__state_store(st, "win", 0, &s) ||
        eddy__state_batch_new(&b))
        _exit(2);
    eddy__state_batch_put(b, s, "one", 3, "1", 1);
    eddy__state_batch_checkpoint(b, s, 100);
    if (eddy__state_commit(st, b))
        _exit(3);
    eddy__state_batch_clear(b);
    eddy__state_batch_put(b, s, "two", 3, "2", 1);
    eddy__state_batch_checkpoint(b, s, 200);
    _exit(0);
}

Test(state, process_exit_without_close_keeps_exactly_the_committed_batch)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        child_commit_one_then_exit();
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(scan_all(s, &buf), "one=1;");
    cr_expect_eq(checkpoint_of(s), 100);
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

/* Child: batch i puts key i into two stores and checkpoints both at i + 1,
 * forever; writes one byte to @ready_fd after 20 batches. */
static void child_commit_forever(int ready_fd)
{
    struct eddy_state *st;
    struct eddy_store *a, *c;
    struct eddy_state_batch *b;
    if (eddy__state_open(tmpdir, NULL, &st) || eddy__state_store(st, "a", 0, &a) ||
        eddy__state_store(st, "c", 0, &c) || eddy__state_batch_new(&b))
        _exit(2);
    char value[200];
    memset(value, 'x', sizeof value);
    for (int64_t i = 0;; i++) {
        unsigned char key[8];
        eddy__be64_put(key, i);
        eddy__state_batch_put(b, a, key, 8, value, sizeof value);
        eddy__state_batch_put(b, c, key, 8, value, sizeof value);
        eddy__state_batch_checkpoint(b, a, i + 1);
        eddy__state_batch_checkpoint(b, c, i + 1);
        if (eddy__state_commit(st, b))
            _exit(3);
        eddy__state_batch_clear(b);
        if (i == 20 && write(ready_fd, "r", 1) != 1)
            _exit(4);
    }
}

static int count_keys(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    int64_t *expect = ctx;
    if (kl != 8 || eddy__be64_get(k) != *expect)
        return 1;
    ++*expect;
    return 0;
}

Test(state, kill_9_during_commits_leaves_data_equal_to_the_checkpoint)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        child_commit_forever(fds[1]);
    }
    close(fds[1]);
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 1, "child started committing");
    close(fds[0]);
    usleep(30000);
    kill(pid, SIGKILL);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    struct eddy_state *st = open_state();
    struct eddy_store *a = store(st, "a", 0), *cs = store(st, "c", 0);
    int64_t cp = checkpoint_of(a);
    cr_expect_gt(cp, 20);
    cr_expect_eq(checkpoint_of(cs), cp, "both stores committed together");
    int64_t next = 0;
    cr_assert_eq(eddy__store_scan(a, NULL, 0, NULL, 0, count_keys, &next), EDDY_OK);
    cr_expect_eq(next, cp, "store a holds keys 0..checkpoint-1 exactly");
    next = 0;
    cr_assert_eq(eddy__store_scan(cs, NULL, 0, NULL, 0, count_keys, &next), EDDY_OK);
    cr_expect_eq(next, cp, "store c holds keys 0..checkpoint-1 exactly");
    eddy__state_close(st);
}

/* ---- drop and expiry ---- */

Test(state, drop_clears_data_and_checkpoint_of_that_store_only)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0), *other = store(st, "win", 1);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, s, "k", "v");
    eddy__state_batch_checkpoint(b, s, 7);
    put_str(b, other, "k", "o");
    eddy__state_batch_checkpoint(b, other, 8);
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy__state_batch_free(b);

    cr_assert_eq(eddy__state_drop(st, "win", 0), EDDY_OK);
    cr_assert_eq(eddy__state_drop(st, "win", 5), EDDY_OK, "dropping a missing store is ok");
    s = store(st, "win", 0);
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(scan_all(s, &buf), "");
    cr_expect_eq(checkpoint_of(s), -1);
    cr_expect_str_eq(scan_all(other, &buf), "k=o;");
    cr_expect_eq(checkpoint_of(other), 8);
    eddy__state_close(st);

    st = open_state(); /* and it stays dropped */
    cr_expect_eq(checkpoint_of(store(st, "win", 0)), -1);
    cr_expect_str_eq(scan_all(store(st, "win", 0), &buf), "");
    cr_expect_eq(checkpoint_of(store(st, "win", 1)), 8);
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

static int collect_buckets(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    struct eddy_buf *out = ctx;
    eddy_buf_printf(out, "%lld/%.*s ", (long long)eddy__be64_get(k), (int)(kl - 8),
                    (const char *)k + 8);
    return 0;
}

Test(state, expire_before_removes_exactly_the_keys_below_the_bucket)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "dedup", 0), *other = store(st, "dedup", 1);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    const int64_t buckets[] = {INT64_MIN, -5, -1, 0, 999, 1000, 1001, INT64_MAX};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        for (int g = 0; g < 2; g++) {
            unsigned char key[9];
            eddy__be64_put(key, buckets[i]);
            key[8] = (unsigned char)('x' + g);
            eddy__state_batch_put(b, s, key, 9, "v", 1);
            eddy__state_batch_put(b, other, key, 9, "v", 1);
        }
    }
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy__state_batch_clear(b);

    eddy__state_batch_expire_before(b, s, 1000);
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    eddy_buf_puts(&buf, "");
    cr_assert_eq(eddy__store_scan(s, NULL, 0, NULL, 0, collect_buckets, &buf), EDDY_OK);
    cr_expect_str_eq(buf.data, "1000/x 1000/y 1001/x 1001/y 9223372036854775807/x "
                               "9223372036854775807/y ");
    eddy_buf_reset(&buf);
    eddy_buf_puts(&buf, "");
    cr_assert_eq(eddy__store_scan(other, NULL, 0, NULL, 0, collect_buckets, &buf), EDDY_OK);
    cr_expect_str_eq(buf.data, "-9223372036854775808/x -9223372036854775808/y -5/x -5/y "
                               "-1/x -1/y 0/x 0/y 999/x 999/y 1000/x 1000/y 1001/x 1001/y "
                               "9223372036854775807/x 9223372036854775807/y ",
                     "the other partition keeps its keys");

    eddy__state_batch_clear(b);
    eddy__state_batch_expire_before(b, s, INT64_MAX);
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy_buf_reset(&buf);
    eddy_buf_puts(&buf, "");
    cr_assert_eq(eddy__store_scan(s, NULL, 0, NULL, 0, collect_buckets, &buf), EDDY_OK);
    cr_expect_str_eq(buf.data, "9223372036854775807/x 9223372036854775807/y ");
    eddy_buf_release(&buf);
    eddy__state_batch_free(b);
    eddy__state_close(st);
}

/* ---- format and reopen ---- */

/* Writes @value under "format" in eddy.meta with the raw RocksDB API. */
static void write_raw_format(const char *value)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rocksdb", tmpdir);
    rocksdb_options_t *o = rocksdb_options_create();
    const char *names[] = {"default", EDDY_STATE_META_CF};
    const rocksdb_options_t *cf_opts[] = {o, o};
    rocksdb_column_family_handle_t *h[2];
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 2, names, cf_opts, h, &err);
    cr_assert_null(err, "%s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, wo, h[1], "format", 6, value, strlen(value), &err);
    cr_assert_null(err, "%s", err);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_column_family_handle_destroy(h[0]);
    rocksdb_column_family_handle_destroy(h[1]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

Test(state, unknown_format_is_refused_with_a_clear_message)
{
    eddy__state_close(open_state()); /* a valid, empty state dir */
    write_raw_format("999");

    char logpath[128];
    snprintf(logpath, sizeof logpath, "%s/stderr.txt", tmpdir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    dup2(fd, 2);
    close(fd);
    struct eddy_state *st = (struct eddy_state *)1;
    eddy_err_t err = eddy__state_open(tmpdir, NULL, &st);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    cr_expect_eq(err, EDDY_ESTATE);
    cr_expect_null(st);
    char log[2048] = {0};
    FILE *f = fopen(logpath, "r");
    cr_assert_not_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    fclose(f);
    log[n] = '\0';
    char want[512];
    snprintf(want, sizeof want,
             " error state: cannot open state '%s/rocksdb': written with state format '999', "
             "this eddy reads format 1; wipe the state dir to restore from the changelogs\n",
             tmpdir);
    cr_expect_not_null(strstr(log, want), "log was: %s", log);

    write_raw_format("1"); /* the supported format opens again */
    eddy__state_close(open_state());
}

static int list_names(void *ctx, const char *name, int32_t partition)
{
    eddy_buf_printf(ctx, "%s/%d ", name, (int)partition);
    return 0;
}

Test(state, reopen_lists_and_reopens_existing_stores)
{
    struct eddy_state *st = open_state();
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, store(st, "win", 10), "k", "w10");
    put_str(b, store(st, "win", 2), "k", "w2");
    put_str(b, store(st, "dedup", 0), "k", "d0");
    eddy__state_batch_checkpoint(b, store(st, "win", 10), 5);
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy__state_batch_free(b);
    eddy__state_close(st);

    st = open_state();
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    eddy_buf_puts(&buf, "");
    eddy__state_list(st, list_names, &buf);
    cr_expect_str_eq(buf.data, "dedup/0 win/10 win/2 ");
    cr_expect_str_eq(get_str(store(st, "win", 10), "k", &buf), "w10");
    cr_expect_str_eq(get_str(store(st, "win", 2), "k", &buf), "w2");
    cr_expect_str_eq(get_str(store(st, "dedup", 0), "k", &buf), "d0");
    cr_expect_eq(checkpoint_of(store(st, "win", 10)), 5);
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

Test(state, a_state_dir_in_use_is_refused)
{
    struct eddy_state *st = open_state(), *second = NULL;
    cr_expect_eq(eddy__state_open(tmpdir, NULL, &second), EDDY_ESTATE);
    cr_expect_null(second);
    eddy__state_close(st);
}

Test(state, open_creates_missing_parent_dirs)
{
    char nested[128];
    snprintf(nested, sizeof nested, "%s/a/b", tmpdir);
    struct eddy_state *st;
    cr_assert_eq(eddy__state_open(nested, NULL, &st), EDDY_OK);
    eddy__state_close(st);
    snprintf(nested, sizeof nested, "%s/a/b/rocksdb/CURRENT", tmpdir);
    cr_expect_eq(access(nested, F_OK), 0);
}

Test(state, memory_counts_memtables_and_stays_within_the_configured_budget)
{
    struct eddy_state_opts opts = {.block_cache_bytes = 8 << 20, .write_buffer_bytes = 4 << 20};
    struct eddy_state *st;
    cr_assert_eq(eddy__state_open(tmpdir, &opts, &st), EDDY_OK);
    size_t before = eddy__state_memory(st);
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    char value[100];
    memset(value, 'v', sizeof value);
    for (int64_t i = 0; i < 100000; i++) {
        unsigned char key[8];
        eddy__be64_put(key, i * 7919 % 100003);
        eddy__state_batch_put(b, s, key, 8, value, sizeof value);
        if (i % 1000 == 999) {
            cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
            eddy__state_batch_clear(b);
        }
    }
    size_t after = eddy__state_memory(st);
    cr_expect_gt(after, before);
    /* 100000 x 108 bytes = 10.8 MB written; memtables are capped at 4 MiB
     * (plus one memtable in flight), the cache at 8 MiB. */
    cr_expect_lt(after, (size_t)(8 + 4 + 2 + 1) << 20, "memory %zu", after);
    eddy__state_batch_free(b);
    eddy__state_close(st);
}

Test(state, failed_allocations_during_open_leave_nothing_behind)
{
    struct eddy_state *st = open_state();
    store(st, "win", 0);
    store(st, "win", 1);
    eddy__state_close(st);
    int failures = 0;
    for (unsigned long nth = 1; nth <= 40; nth++) {
        eddy_alloc_fail_at(nth);
        st = (struct eddy_state *)1;
        eddy_err_t err = eddy__state_open(tmpdir, NULL, &st);
        eddy_alloc_fail_at(0);
        if (err) {
            cr_expect_eq(err, EDDY_ENOMEM, "allocation %lu: %s", nth, eddy_err_name(err));
            cr_expect_null(st);
            failures++;
        } else {
            cr_expect_eq(eddy__store_checkpoint(store(st, "win", 1), &(int64_t){0}), EDDY_OK);
            eddy__state_close(st);
        }
    }
    cr_expect_gt(failures, 5, "open makes several allocations of its own");
}

/* ---- bulk loader ---- */

static void load(struct eddy_state_loader *l, int64_t offset, const char *k, const char *v)
{
    cr_assert_eq(eddy__state_loader_add(l, offset, k, strlen(k), v, v ? strlen(v) : 0), EDDY_OK);
}

Test(state, loader_gives_the_same_state_as_batches_with_checkpoints)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    put_str(b, s, "old", "0");
    put_str(b, s, "gone", "0");
    cr_assert_eq(eddy__state_commit(st, b), EDDY_OK);
    eddy__state_batch_free(b);

    struct eddy_state_loader *l;
    /* 64 bytes: a few records per SST file, so keys repeat across files */
    cr_assert_eq(eddy__state_loader_new(s, 64, &l), EDDY_OK);
    load(l, 10, "b", "1");
    load(l, 11, "a", "1");
    load(l, 12, "b", "2"); /* same buffer: the later one wins */
    load(l, 13, "gone", NULL);
    load(l, 14, "c", "1");
    cr_expect_gt(eddy__state_loader_ingested(l), 0, "the budget forced an ingest");
    int64_t cp = checkpoint_of(s);
    cr_expect(cp >= 11 && cp <= 15, "checkpoint %lld after an automatic ingest", (long long)cp);
    load(l, 15, "a", "2"); /* overrides a record of an earlier file */
    load(l, 16, "c", NULL);
    load(l, 17, "old", "1");
    load(l, 18, "d", "");
    cr_assert_eq(eddy__state_loader_finish(l, 20), EDDY_OK);
    eddy__state_loader_free(l);

    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(scan_all(s, &buf), "a=2;b=2;d=;old=1;");
    cr_expect_eq(checkpoint_of(s), 20);
    eddy__state_close(st);

    st = open_state();
    s = store(st, "win", 0);
    cr_expect_str_eq(scan_all(s, &buf), "a=2;b=2;d=;old=1;");
    cr_expect_eq(checkpoint_of(s), 20);
    eddy_buf_release(&buf);
    eddy__state_close(st);

    char leftover[128];
    snprintf(leftover, sizeof leftover, "%s/load-win@0.sst", tmpdir);
    cr_expect_neq(access(leftover, F_OK), 0, "no load file is left behind");
}

Test(state, a_loader_reset_to_another_store_starts_over_there)
{
    /* one loader for the restores of several partitions: finished records
     * stay in their store, records buffered before a reset are discarded
     * (a restore that failed half way), checkpoints follow their store */
    struct eddy_state *st = open_state();
    struct eddy_store *a = store(st, "win", 0), *b = store(st, "win", 1), *c = store(st, "dd", 0);
    struct eddy_state_loader *l;
    cr_assert_eq(eddy__state_loader_new(a, 0, &l), EDDY_OK);
    load(l, 0, "k1", "a");
    load(l, 1, "k2", "a");
    cr_assert_eq(eddy__state_loader_finish(l, 2), EDDY_OK);
    cr_assert_eq(eddy__state_loader_reset(l, b), EDDY_OK);
    load(l, 5, "k1", "b"); /* never finished: discarded by the reset below */
    cr_assert_eq(eddy__state_loader_reset(l, c), EDDY_OK);
    cr_expect_eq(eddy__state_loader_ingested(l), 0);
    load(l, 7, "k3", "c");
    cr_assert_eq(eddy__state_loader_finish(l, 8), EDDY_OK);
    cr_assert_eq(eddy__state_loader_reset(l, b), EDDY_OK);
    load(l, 9, "k4", "b");
    cr_assert_eq(eddy__state_loader_finish(l, 10), EDDY_OK);
    eddy__state_loader_free(l);
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    cr_expect_str_eq(scan_all(a, &buf), "k1=a;k2=a;");
    cr_expect_str_eq(scan_all(b, &buf), "k4=b;");
    cr_expect_str_eq(scan_all(c, &buf), "k3=c;");
    cr_expect_eq(checkpoint_of(a), 2);
    cr_expect_eq(checkpoint_of(b), 10);
    cr_expect_eq(checkpoint_of(c), 8);
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(state, loader_sorts_keys_sharing_long_prefixes_and_keeps_the_last_of_each)
{
    /* 6000 records over 900 keys in random order: 30-byte keys in groups
     * that share their first 24 bytes (the radix sort cannot tell them
     * apart), keys of 3..26 bytes that are prefixes of one another, and
     * buckets of every size; some keys deleted, most written several times.
     * The store must hold exactly the last write of each key, in byte order */
    enum { KEYS = 900, RECORDS = 6000 };
    static char keys[KEYS][40];
    static int last[KEYS]; /* value of the last write, -1: deleted, -2: none */
    for (int k = 0; k < KEYS; k++) {
        if (k % 3 == 0) /* 30 bytes, 30 groups of shared 24-byte prefixes */
            snprintf(keys[k], sizeof keys[k], "w0000000000000000grp%04d%06d", k % 30, k);
        else if (k % 3 == 1 && k / 3 < 24) /* 3..26 bytes, prefixes of one another */
            snprintf(keys[k], sizeof keys[k], "%.*s", 3 + k / 3, "pppppppppppppppppppppppppp");
        else if (k % 3 == 1)
            snprintf(keys[k], sizeof keys[k], "%.*s-%d", 3 + k % 24, "pppppppppppppppppppppppppp",
                     k);
        else
            snprintf(keys[k], sizeof keys[k], "q%02d-%d", k % 50, k);
        last[k] = -2;
    }
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_state_loader *l;
    cr_assert_eq(eddy__state_loader_new(s, 0, &l), EDDY_OK);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char value[16];
    for (int r = 0; r < RECORDS; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % KEYS);
        if (x >> 60 == 0) {
            load(l, r, keys[k], NULL);
            last[k] = -1;
        } else {
            snprintf(value, sizeof value, "%d", r);
            load(l, r, keys[k], value);
            last[k] = r;
        }
    }
    cr_assert_eq(eddy__state_loader_finish(l, RECORDS), EDDY_OK);
    eddy__state_loader_free(l);
    /* the model: distinct keys with a value, sorted, as scan_all prints */
    char *sorted[KEYS];
    int n = 0;
    for (int k = 0; k < KEYS; k++) {
        bool dup = false;
        for (int j = 0; j < k && !dup; j++)
            dup = strcmp(keys[j], keys[k]) == 0;
        cr_assert_not(dup, "key %d repeats", k); /* every key distinct */
        if (last[k] >= 0)
            sorted[n++] = keys[k];
    }
    qsort(sorted, (size_t)n, sizeof *sorted, str_cmp);
    struct eddy_buf want, got;
    eddy_buf_init(&want);
    eddy_buf_init(&got);
    for (int i = 0; i < n; i++) {
        int k = (int)((sorted[i] - keys[0]) / sizeof keys[0]);
        snprintf(value, sizeof value, "%d", last[k]);
        eddy_buf_puts(&want, sorted[i]);
        eddy_buf_puts(&want, "=");
        eddy_buf_puts(&want, value);
        eddy_buf_puts(&want, ";");
    }
    cr_expect_gt(n, 500);
    cr_expect_str_eq(scan_all(s, &got), want.data);
    eddy_buf_release(&want);
    eddy_buf_release(&got);
    eddy__state_close(st);
}

Test(state, loader_finish_with_nothing_buffered_commits_the_checkpoint)
{
    struct eddy_state *st = open_state();
    struct eddy_store *s = store(st, "win", 0);
    struct eddy_state_loader *l;
    cr_assert_eq(eddy__state_loader_new(s, 0, &l), EDDY_OK);
    cr_assert_eq(eddy__state_loader_finish(l, 7), EDDY_OK);
    cr_expect_eq(checkpoint_of(s), 7);
    cr_expect_eq(eddy__state_loader_ingested(l), 0);
    eddy__state_loader_free(l);
    eddy__state_close(st);
}

Test(state, column_families_that_are_not_stores_are_kept_but_not_listed)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rocksdb", tmpdir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    const char *names[] = {"default", EDDY_STATE_META_CF, "junk", "win@ 3", "win@03", "win@4"};
    const rocksdb_options_t *cf_opts[] = {o, o, o, o, o, o};
    rocksdb_column_family_handle_t *h[6];
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 6, names, cf_opts, h, &err);
    cr_assert_null(err, "%s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, wo, h[1], "format", 6, "1", 1, &err);
    cr_assert_null(err, "%s", err);
    rocksdb_writeoptions_destroy(wo);
    for (int i = 0; i < 6; i++)
        rocksdb_column_family_handle_destroy(h[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);

    struct eddy_state *st = open_state();
    struct eddy_buf buf;
    eddy_buf_init(&buf);
    eddy_buf_puts(&buf, "");
    eddy__state_list(st, list_names, &buf);
    cr_expect_str_eq(buf.data, "win/4 ");
    cr_expect_str_eq(eddy__store_name(store(st, "win", 3)), "win@3");
    eddy__state_close(st);
    st = open_state();
    eddy_buf_reset(&buf);
    eddy_buf_puts(&buf, "");
    eddy__state_list(st, list_names, &buf);
    cr_expect_str_eq(buf.data, "win/3 win/4 ");
    eddy_buf_release(&buf);
    eddy__state_close(st);
}

/* ---- pending (committed, not yet written) changes: state/pending.h ---- */

#include "state/pending.h"

static struct eddy_store *pending_store;

static struct eddy_store *only_store(void *ctx, size_t s, int32_t p)
{
    return s == 0 && p == 1 ? pending_store : NULL;
}

static int64_t offset_of(void *ctx, size_t s, int32_t p)
{
    return s == 0 && p == 1 ? *(int64_t *)ctx : -1;
}

/* key: window start (8 order-preserving bytes) then a name */
static size_t wkey(unsigned char *out, int64_t start, const char *name)
{
    eddy__be64_put(out, start);
    memcpy(out + 8, name, strlen(name));
    return 8 + strlen(name);
}

static void expect_value(struct eddy_store *s, int64_t start, const char *name,
                         const char *want)
{
    unsigned char k[64];
    size_t kl = wkey(k, start, name);
    struct eddy_buf v;
    eddy_buf_init(&v);
    bool found = false;
    cr_assert_eq(eddy__store_get(s, k, kl, &v, &found), EDDY_OK);
    if (!want)
        cr_assert(!found, "%s of window %lld should be gone", name, (long long)start);
    else
        cr_assert(found && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0,
                  "%s of window %lld: want %s", name, (long long)start, want);
    eddy_buf_release(&v);
}

static void put(struct eddy_pending *pd, int64_t start, const char *name, const char *value)
{
    unsigned char k[64];
    size_t kl = wkey(k, start, name);
    cr_assert_eq(eddy__pending_put(pd, 0, 1, k, kl, value, value ? strlen(value) : 0), EDDY_OK);
}

Test(state, pending_changes_fold_and_flush)
{
    struct eddy_state *st = open_state();
    pending_store = store(st, "w", 1);
    struct eddy_state_batch *b;
    cr_assert_eq(eddy__state_batch_new(&b), EDDY_OK);
    struct eddy_pending *pd;
    cr_assert_eq(eddy__pending_new(2, 3, &pd), EDDY_OK);
    int64_t next = 10;
    put(pd, 60000, "a", "1");
    put(pd, 120000, "b", "2");
    cr_assert_eq(eddy__pending_commit(pd, offset_of, &next), EDDY_OK);
    expect_value(pending_store, 60000, "a", NULL); /* nothing written before a flush */
    cr_assert_eq(eddy__pending_flush(pd, st, b, -1, only_store, NULL), EDDY_OK);
    expect_value(pending_store, 60000, "a", "1");
    expect_value(pending_store, 120000, "b", "2");
    int64_t cp;
    cr_assert_eq(eddy__store_checkpoint(pending_store, &cp), EDDY_OK);
    cr_assert_eq(cp, 10);
    /* an aborted transaction leaves nothing */
    put(pd, 60000, "a", "aborted");
    put(pd, 120000, "c", "aborted");
    eddy__pending_abort(pd);
    /* committed: a rewritten twice (the newest wins), window 120000 closed
     * (b goes, c never existed), then d written into it again; e deleted */
    put(pd, 60000, "a", "3");
    put(pd, 60000, "e", "5");
    cr_assert_eq(eddy__pending_commit(pd, offset_of, &next), EDDY_OK);
    put(pd, 60000, "a", "4");
    put(pd, 120000, "c", "6");
    cr_assert_eq(eddy__pending_closed(pd, 0, 1, 120000), EDDY_OK);
    put(pd, 120000, "d", "7");
    put(pd, 60000, "e", NULL);
    next = 20;
    cr_assert_eq(eddy__pending_commit(pd, offset_of, &next), EDDY_OK);
    cr_assert_eq(eddy__pending_keys(pd), 3); /* a, e (a delete), d */
    cr_assert_eq(eddy__pending_flush(pd, st, b, -1, only_store, NULL), EDDY_OK);
    cr_assert_eq(eddy__pending_keys(pd), 0);
    expect_value(pending_store, 60000, "a", "4");
    expect_value(pending_store, 60000, "e", NULL);
    expect_value(pending_store, 120000, "b", NULL);
    expect_value(pending_store, 120000, "c", NULL);
    expect_value(pending_store, 120000, "d", "7");
    cr_assert_eq(eddy__store_checkpoint(pending_store, &cp), EDDY_OK);
    cr_assert_eq(cp, 20);
    /* bad store or partition */
    cr_assert_eq(eddy__pending_put(pd, 2, 0, "k", 1, "v", 1), EDDY_EINVAL);
    cr_assert_eq(eddy__pending_closed(pd, 0, 3, 0), EDDY_EINVAL);
    eddy__pending_free(pd);
    eddy__state_batch_free(b);
    eddy__state_close(st);
}
