/*
 * test_archive_prune.c - retention of the archive sink (src/sink/archive_prune.c):
 * which paths of a Hive-style tree survive a prune, the counts, dry runs,
 * the day boundary, idempotence, symbolic links, failures part-way, and the
 * --older-than durations.
 *
 * Each test builds its tree in a fresh directory under /tmp and checks the
 * complete listing of that directory afterwards (nftw without following
 * links), so a stray deletion anywhere fails the test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/time.h"
#include "sink/archive_prune.h"

#define DAY_MS INT64_C(86400000)

static char base[64];

static void make_base(void)
{
    strcpy(base, "/tmp/eddy_test_prune_XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_base(void)
{
    if (base[0])
        nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(archive_prune, .init = make_base, .fini = remove_base);

/* base/@rel, in one of a few rotating buffers */
static const char *at(const char *rel)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", base, rel);
    return path;
}

static void make_dirs(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s", at(rel));
    for (char *p = path + strlen(base) + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            cr_assert(mkdir(path, 0777) == 0 || errno == EEXIST, "mkdir %s", path);
            *p = c;
            if (!c)
                return;
        }
    }
}

/* A file of @size bytes at base/@rel, with its parent directories. */
static void put_file(const char *rel, size_t size)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        make_dirs(dir);
    }
    FILE *f = fopen(at(rel), "wb");
    cr_assert_not_null(f, "create %s", rel);
    for (size_t i = 0; i < size; i++)
        cr_assert_eq(putc('x', f), 'x');
    cr_assert_eq(fclose(f), 0);
}

static void put_link(const char *rel, const char *target_rel)
{
    cr_assert_eq(symlink(at(target_rel), at(rel)), 0, "symlink %s", rel);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @paths sorted and joined with newlines; free() the result. */
static char *joined(const char **paths, size_t n)
{
    const char **sorted = malloc(n * sizeof *sorted + 1);
    size_t len = 1;
    memcpy(sorted, paths, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    for (size_t i = 0; i < n; i++)
        len += strlen(sorted[i]) + 1;
    char *out = malloc(len), *o = out;
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s\n", sorted[i]);
    *o = '\0';
    free(sorted);
    return out;
}

static char *found[256];
static size_t n_found;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0 && n_found < 256)
        found[n_found++] = strdup(path + strlen(base) + 1);
    return 0;
}

/* Every path under base (links not followed), sorted, one a line. */
static char *listing(void)
{
    n_found = 0;
    cr_assert_eq(nftw(base, collect, 16, FTW_PHYS), 0);
    char *out = joined((const char **)found, n_found);
    for (size_t i = 0; i < n_found; i++)
        free(found[i]);
    return out;
}

static void assert_listing(const char **expected, size_t n)
{
    char *want = joined(expected, n), *got = listing();
    cr_assert_str_eq(got, want);
    free(want);
    free(got);
}

static int64_t day_ms(int64_t y, unsigned m, unsigned d)
{
    return eddy_days_from_civil(y, m, d) * DAY_MS;
}

static void assert_stats(const struct eddy_archive_prune_stats *st, uint64_t partitions,
                         uint64_t files, uint64_t bytes, uint64_t skipped)
{
    cr_assert_eq(st->partitions, partitions, "partitions %llu", (unsigned long long)st->partitions);
    cr_assert_eq(st->files, files, "files %llu", (unsigned long long)st->files);
    cr_assert_eq(st->bytes, bytes, "bytes %llu", (unsigned long long)st->bytes);
    cr_assert_eq(st->skipped, skipped, "skipped %llu", (unsigned long long)st->skipped);
}

/*
 * The lake: partition columns in either order, a NULL value, nested non-date
 * partitions, bad dates, hidden and in-progress files, links pointing outside
 * (to a tree that itself holds an expired date= directory), files outside any
 * partition. Expired by a cutoff at the start of 2025-03-10: 8 partitions, 12
 * files (2 of them links), 237 bytes; 3 bad dates.
 */
static void build_lake(void)
{
    put_file("outside/target.parquet", 64);
    put_file("outside/date=2020-01-01/keep.parquet", 32);

    put_file("lake/agg1/README", 3);
    put_file("lake/agg1/service=a/date=2025-03-01/part-0-0-9.parquet", 100);
    put_file("lake/agg1/service=a/date=2025-03-01/.part-0-10-19.parquet", 7); /* in progress */
    put_link("lake/agg1/service=a/date=2025-03-01/link.parquet", "outside/target.parquet");
    put_link("lake/agg1/service=a/date=2025-03-01/linkdir", "outside/date=2020-01-01");
    put_file("lake/agg1/service=a/date=2025-03-09/part-0-20-29.parquet", 50); /* ends at cutoff */
    put_file("lake/agg1/service=a/date=2025-03-10/part-0-30-39.parquet", 60);
    put_file("lake/agg1/service=b/date=2025-02-28/part-1-0-5.parquet", 10);
    make_dirs("lake/agg1/service=c"); /* empty before: not ours to remove */
    put_file("lake/agg1/service=__HIVE_DEFAULT_PARTITION__/date=2025-01-01/part-2-0-0.parquet", 5);
    put_link("lake/agg1/service=d", "outside");
    put_link("lake/agg1/date=2020-01-01", "outside/date=2020-01-01");

    put_file("lake/agg2/date=2025-03-05/service=a/part-0-1-2.parquet", 20);
    put_file("lake/agg2/date=2025-03-05/service=b/part-1-3-4.parquet", 30);
    put_file("lake/agg2/date=2025-03-10/service=a/part-0-40-41.parquet", 9);

    put_file("lake/agg3/notes.txt", 2);
    put_file("lake/agg3/date=2020-01-01", 1); /* a file, not a partition */
    put_file("lake/agg3/date=2025-13-01/f.parquet", 1);
    put_file("lake/agg3/date=yesterday/f.parquet", 1);
    put_file("lake/agg3/date=2025-02-29/f.parquet", 1); /* not a leap year */
    put_file("lake/agg3/service=a/date=2025-03-02/part-0-5-6.parquet", 8);

    put_file("lake/agg4/x=1/y=%2F/date=2025-03-03/part-0-0-0.parquet", 3);
    put_file("lake/date=2025-03-01/part-9-0-0.parquet", 4);
    put_file("lake/.snapshot/date=2020-01-01/f.parquet", 6); /* hidden: not walked */
}

static const char *lake_after[] = {
    "outside",
    "outside/target.parquet",
    "outside/date=2020-01-01",
    "outside/date=2020-01-01/keep.parquet",
    "lake",
    "lake/agg1",
    "lake/agg1/README",
    "lake/agg1/service=a",
    "lake/agg1/service=a/date=2025-03-10",
    "lake/agg1/service=a/date=2025-03-10/part-0-30-39.parquet",
    "lake/agg1/service=c",
    "lake/agg1/service=d",
    "lake/agg1/date=2020-01-01",
    "lake/agg2",
    "lake/agg2/date=2025-03-10",
    "lake/agg2/date=2025-03-10/service=a",
    "lake/agg2/date=2025-03-10/service=a/part-0-40-41.parquet",
    "lake/agg3",
    "lake/agg3/notes.txt",
    "lake/agg3/date=2020-01-01",
    "lake/agg3/date=2025-13-01",
    "lake/agg3/date=2025-13-01/f.parquet",
    "lake/agg3/date=yesterday",
    "lake/agg3/date=yesterday/f.parquet",
    "lake/agg3/date=2025-02-29",
    "lake/agg3/date=2025-02-29/f.parquet",
    "lake/.snapshot",
    "lake/.snapshot/date=2020-01-01",
    "lake/.snapshot/date=2020-01-01/f.parquet",
};
#define N_LAKE_AFTER (sizeof lake_after / sizeof lake_after[0])

Test(archive_prune, deletes_expired_partitions_and_their_emptied_parents_only)
{
    struct eddy_archive_prune_stats st;
    build_lake();
    cr_assert_eq(eddy__archive_prune(at("lake"), day_ms(2025, 3, 10), false, &st), EDDY_OK);
    assert_stats(&st, 8, 12, 237, 3);
    assert_listing(lake_after, N_LAKE_AFTER);
}

Test(archive_prune, second_run_deletes_nothing)
{
    struct eddy_archive_prune_stats st;
    build_lake();
    cr_assert_eq(eddy__archive_prune(at("lake/"), day_ms(2025, 3, 10), false, &st), EDDY_OK);
    cr_assert_eq(eddy__archive_prune(at("lake"), day_ms(2025, 3, 10), false, &st), EDDY_OK);
    assert_stats(&st, 0, 0, 0, 3);
    assert_listing(lake_after, N_LAKE_AFTER);
}

Test(archive_prune, dry_run_counts_and_deletes_nothing)
{
    struct eddy_archive_prune_stats st = {99, 99, 99, 99};
    build_lake();
    char *before = listing();
    cr_assert_eq(eddy__archive_prune(at("lake"), day_ms(2025, 3, 10), true, &st), EDDY_OK);
    assert_stats(&st, 8, 12, 237, 3);
    char *after = listing();
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
}

Test(archive_prune, one_aggregation_directory)
{
    struct eddy_archive_prune_stats st;
    build_lake();
    cr_assert_eq(eddy__archive_prune(at("lake/agg2"), day_ms(2025, 3, 10), false, &st), EDDY_OK);
    assert_stats(&st, 1, 2, 50, 0);
    cr_assert_eq(access(at("lake/agg2/date=2025-03-05"), F_OK), -1);
    cr_assert_eq(access(at("lake/agg2/date=2025-03-10/service=a/part-0-40-41.parquet"), F_OK), 0);
    cr_assert_eq(access(at("lake/agg1/service=b/date=2025-02-28"), F_OK), 0);
}

Test(archive_prune, day_ending_at_the_cutoff_is_deleted_the_next_kept)
{
    struct eddy_archive_prune_stats st;
    put_file("agg/date=2024-02-28/a", 1);
    put_file("agg/date=2024-02-29/b", 2);
    put_file("agg/date=2024-03-01/c", 4);
    /* 2024-02-29 ends 1 ms after this cutoff */
    cr_assert_eq(eddy__archive_prune(base, day_ms(2024, 3, 1) - 1, false, &st), EDDY_OK);
    assert_stats(&st, 1, 1, 1, 0);
    const char *after_first[] = {"agg", "agg/date=2024-02-29", "agg/date=2024-02-29/b",
                                 "agg/date=2024-03-01", "agg/date=2024-03-01/c"};
    assert_listing(after_first, 5);
    /* now it ends exactly at the cutoff; 2024-03-01 starts there */
    cr_assert_eq(eddy__archive_prune(base, day_ms(2024, 3, 1), false, &st), EDDY_OK);
    assert_stats(&st, 1, 1, 2, 0);
    const char *after_second[] = {"agg", "agg/date=2024-03-01", "agg/date=2024-03-01/c"};
    assert_listing(after_second, 3);
    cr_assert_eq(eddy__archive_prune(base, day_ms(2024, 3, 2) - 1, false, &st), EDDY_OK);
    assert_stats(&st, 0, 0, 0, 0);
    assert_listing(after_second, 3);
}

Test(archive_prune, root_is_never_removed)
{
    struct eddy_archive_prune_stats st;
    put_file("agg/service=a/date=2025-01-01/part-0-0-0.parquet", 10);
    cr_assert_eq(eddy__archive_prune(at("agg"), day_ms(2025, 6, 1), false, &st), EDDY_OK);
    assert_stats(&st, 1, 1, 10, 0);
    const char *after[] = {"agg"};
    assert_listing(after, 1);
}

Test(archive_prune, missing_root_is_an_io_error)
{
    struct eddy_archive_prune_stats st;
    cr_assert_eq(eddy__archive_prune(at("nope"), day_ms(2025, 6, 1), false, &st), EDDY_EIO);
    assert_stats(&st, 0, 0, 0, 0);
}

/*
 * A partition whose files cannot be deleted (its directory is read-only to
 * the pruning user): the error is returned at the end and the other expired
 * partition is still deleted. Root ignores permissions, so as root the prune
 * runs in a child process that switched to an unprivileged user.
 */
Test(archive_prune, keeps_going_after_a_failed_delete)
{
    put_file("agg/date=2025-03-01/a.parquet", 5);
    put_file("agg/date=2025-03-01/b.parquet", 6);
    put_file("agg/date=2025-03-02/c.parquet", 7);
    cr_assert_eq(chmod(base, 0755), 0);
    cr_assert_eq(chmod(at("agg"), 0777), 0);
    cr_assert_eq(chmod(at("agg/date=2025-03-02"), 0777), 0);
    cr_assert_eq(chmod(at("agg/date=2025-03-01"), 0555), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct eddy_archive_prune_stats st = {0};
        if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        eddy_err_t err = eddy__archive_prune(at("agg"), day_ms(2025, 3, 10), false, &st);
        if (write(fds[1], &st, sizeof st) != (ssize_t)sizeof st)
            _exit(101);
        _exit((int)err);
    }
    close(fds[1]);
    int status;
    struct eddy_archive_prune_stats st = {0};
    cr_assert_eq(read(fds[0], &st, sizeof st), (ssize_t)sizeof st);
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), EDDY_EIO);
    assert_stats(&st, 1, 1, 7, 0);
    cr_assert_eq(chmod(at("agg/date=2025-03-01"), 0755), 0);
    const char *after[] = {"agg", "agg/date=2025-03-01", "agg/date=2025-03-01/a.parquet",
                           "agg/date=2025-03-01/b.parquet"};
    assert_listing(after, 4);
}

/* The root's path copy, then the first growth of the path of messages. */
Test(archive_prune, out_of_memory_deletes_nothing_it_cannot_name)
{
    struct eddy_archive_prune_stats st;
    put_file("agg/date=2025-01-01/f", 1);
    const char *after[] = {"agg", "agg/date=2025-01-01", "agg/date=2025-01-01/f"};
    for (unsigned long nth = 1; nth <= 2; nth++) {
        eddy_alloc_fail_at(nth);
        cr_assert_eq(eddy__archive_prune(at("agg"), day_ms(2025, 6, 1), false, &st), EDDY_ENOMEM);
        eddy_alloc_fail_at(0);
        assert_stats(&st, 0, 0, 0, 0);
        assert_listing(after, 3);
    }
    cr_assert_eq(eddy__archive_prune(at("agg"), day_ms(2025, 6, 1), false, &st), EDDY_OK);
    assert_stats(&st, 1, 1, 1, 0);
}

Test(archive_prune, retention_durations)
{
    int64_t ms;
    cr_assert(eddy__archive_retention_parse("90d", &ms));
    cr_assert_eq(ms, 90 * DAY_MS);
    cr_assert(eddy__archive_retention_parse("13mo", &ms));
    cr_assert_eq(ms, 13 * 30 * DAY_MS);
    cr_assert(eddy__archive_retention_parse("1y6mo", &ms));
    cr_assert_eq(ms, (365 + 180) * DAY_MS);
    cr_assert(eddy__archive_retention_parse("2w3d", &ms));
    cr_assert_eq(ms, 17 * DAY_MS);
    cr_assert(eddy__archive_retention_parse("1d12h30m", &ms));
    cr_assert_eq(ms, DAY_MS + 12 * 3600000 + 30 * 60000);
    cr_assert(eddy__archive_retention_parse("45s", &ms));
    cr_assert_eq(ms, 45000);
    ms = -7;
    cr_assert_not(eddy__archive_retention_parse("", &ms));
    cr_assert_not(eddy__archive_retention_parse("mo", &ms));
    cr_assert_not(eddy__archive_retention_parse("90", &ms));
    cr_assert_not(eddy__archive_retention_parse("90 d", &ms));
    cr_assert_not(eddy__archive_retention_parse("3mon", &ms));
    cr_assert_not(eddy__archive_retention_parse("-1d", &ms));
    cr_assert_not(eddy__archive_retention_parse("1D", &ms));
    cr_assert_not(eddy__archive_retention_parse("300000000y", &ms));
    cr_assert_not(eddy__archive_retention_parse("99999999999999999999d", &ms));
    cr_assert_not(eddy__archive_retention_parse("106751991167d1y", &ms)); /* sum overflows */
    cr_assert_eq(ms, -7);
}
