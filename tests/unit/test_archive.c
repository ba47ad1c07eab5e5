/*
 * test_archive.c - the archive sink (sink/archive.h) through the task:
 * topology parsing of `archive:`, the files and their names in local mode,
 * and effectively-once publication in Kafka mode: a run that "crashes" at
 * many points (before a commit, between a commit and the publication,
 * right after a publication) and resumes from the committed state must
 * leave exactly the files, byte for byte, of a run without crashes.
 * (The files' contents are read back by real readers in tests/parquet and
 * tests/integration/test_archive.sh.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/time.h"
#include "eddy/topology.h"
#include "kvmap.h"
#include "runtime/task.h"
#include "sink/archive.h"

static char tmp_root[256];

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/eddy-test-archive.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_root));
}

static void remove_tree(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

static const char *topology_fmt =
    "name: t\n"
    "source:\n"
    "  topic: in\n"
    "  key: [service]\n"
    "  timestamp: {field: ts, format: unix_ms}\n"
    "  fields:\n"
    "    service: string\n"
    "    latency: int\n"
    "    user: {type: string, required: false}\n"
    "    ok: {type: bool, required: false}\n"
    "    id: string\n"
    "dedup: {field: id, within: 10m}\n"
    "grace: 0s\n"
    "derive:\n"
    "  slow: latency > 100\n"
    "archive: {path: %s/lake, partition_by: [date, service], roll: 1h, roll_size: 4KB}\n"
    "aggregations:\n"
    "  - name: per_service\n"
    "    group_by: [service, slow]\n"
    "    window: {tumbling: 1m}\n"
    "    metrics:\n"
    "      requests: count()\n"
    "      total: sum(latency)\n"
    "      p90: quantile(latency, 0.9)\n"
    "      users: distinct(user)\n"
    "      top: top_k(user, 2)\n"
    "      slowest: arg_max(latency, user)\n"
    "    archive: {path: %s/lake, format: parquet, partition_by: [service], roll: 1h, "
    "roll_size: 4KB}\n";

static struct eddy_plan *load_plan(const char *root)
{
    char yaml[4096], err[512];
    snprintf(yaml, sizeof yaml, topology_fmt, root, root);
    struct eddy_plan *plan = NULL;
    eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "%s", err);
    return plan;
}

Test(archive, columns_types_and_partitions_from_the_topology)
{
    struct eddy_plan *plan = load_plan("/lake");
    cr_assert_eq(plan->n_archives, 2);
    const struct eddy_archive *agg = &plan->archives[0], *raw = &plan->archives[1];
    cr_assert_str_eq(agg->name, "per_service");
    cr_assert_eq(agg->aggregation, 0);
    cr_assert_str_eq(agg->path, "/lake/lake");
    cr_assert_eq(agg->roll_ms, 3600000);
    cr_assert_eq(agg->roll_bytes, 4096);
    static const char *const agg_cols[] = {
        "window_start", "window_end", "service",     "slow", "requests",  "total",  "p90",
        "p90_error",    "users",      "users_error", "top",  "top_error", "slowest"};
    static const enum eddy_archive_type agg_types[] = {
        EDDY_ARCHIVE_TIMESTAMP, EDDY_ARCHIVE_TIMESTAMP, EDDY_ARCHIVE_STRING, EDDY_ARCHIVE_STRING,
        EDDY_ARCHIVE_INT64,     EDDY_ARCHIVE_DOUBLE,    EDDY_ARCHIVE_DOUBLE, EDDY_ARCHIVE_DOUBLE,
        EDDY_ARCHIVE_INT64,     EDDY_ARCHIVE_DOUBLE,    EDDY_ARCHIVE_STRING, EDDY_ARCHIVE_DOUBLE,
        EDDY_ARCHIVE_STRING};
    cr_assert_eq(agg->n_columns, 13);
    for (size_t c = 0; c < 13; c++) {
        cr_assert_str_eq(agg->columns[c].name, agg_cols[c]);
        cr_assert_eq(agg->columns[c].type, agg_types[c], "column %s", agg_cols[c]);
    }
    cr_assert_eq(agg->n_partition_by, 1);
    cr_assert_eq(agg->partition_by[0], 2); /* service */
    cr_assert_str_eq(raw->name, "events");
    cr_assert_eq(raw->aggregation, SIZE_MAX);
    static const char *const raw_cols[] = {"event_time", "service", "latency", "user", "ok", "id"};
    static const enum eddy_archive_type raw_types[] = {EDDY_ARCHIVE_TIMESTAMP, EDDY_ARCHIVE_STRING,
                                                       EDDY_ARCHIVE_INT64,     EDDY_ARCHIVE_STRING,
                                                       EDDY_ARCHIVE_BOOLEAN,   EDDY_ARCHIVE_STRING};
    cr_assert_eq(raw->n_columns, 6);
    for (size_t c = 0; c < 6; c++) {
        cr_assert_str_eq(raw->columns[c].name, raw_cols[c]);
        cr_assert_eq(raw->columns[c].type, raw_types[c]);
    }
    cr_assert_eq(raw->n_partition_by, 2);
    cr_assert_eq(raw->partition_by[0], EDDY_ARCHIVE_DATE);
    cr_assert_eq(raw->partition_by[1], 1);
    eddy_plan_free(plan);
}

static void expect_error(const char *archive_line, const char *message)
{
    char yaml[2048], err[512];
    snprintf(yaml, sizeof yaml,
             "name: t\nsource:\n  topic: in\n  timestamp: {field: ts, format: unix_ms}\n"
             "  fields: {service: string}\n"
             "aggregations:\n  - name: a\n    group_by: [service]\n    window: {tumbling: 1m}\n"
             "    metrics: {n: count()}\n%s\n",
             archive_line);
    struct eddy_plan *plan = NULL;
    cr_assert_eq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                 EDDY_ECONFIG, "accepted: %s", archive_line);
    cr_assert(strstr(err, message), "'%s': got '%s', want '%s'", archive_line, err, message);
}

Test(archive, configuration_errors_name_file_line_and_key)
{
    expect_error("    archive: {path: /l, format: csv}",
                 "t.yaml:11: aggregations[0].archive.format: unknown archive format 'csv' "
                 "(supported: parquet)");
    expect_error("    archive: {path: /l, partition_by: [region]}",
                 "t.yaml:11: aggregations[0].archive.partition_by[0]: cannot partition by "
                 "'region': not a group_by field (or date)");
    expect_error("    archive: {path: /l, partition_by: [date, date]}",
                 "aggregations[0].archive.partition_by[1]: 'date' is listed twice");
    expect_error("    archive: {path: /l, roll_size: 100}",
                 "aggregations[0].archive.roll_size: roll_size below the minimum of 4KB");
    expect_error("    archive: {path: /l, name: x}",
                 "aggregations[0].archive.name: an aggregation's archive is named after the "
                 "aggregation");
    expect_error("    archive: {format: parquet}",
                 "t.yaml:11: aggregations[0].archive.path: missing required key");
    expect_error("    archive: {path: /l, rol: 5m}",
                 "t.yaml:11: aggregations[0].archive.rol: unknown key (did you mean 'roll'?)");
    expect_error("archive: {path: /l, partition_by: [nope]}",
                 "archive.partition_by[0]: cannot partition by 'nope': not a source field");
}

/* ---- runs ---- */

#define N_RECORDS 2400
#define COMMIT_EVERY 97

static size_t make_record(char *buf, size_t cap, size_t i)
{
    static const char *const services[] = {"auth", "cart", "search/v2", "pay ment"};
    unsigned h = (unsigned)(i * 2654435761u);
    int64_t ts = 1746000000000LL + (int64_t)i * 997 - (int64_t)(h % 3000);
    /* some duplicates, some without a user, a few malformed */
    size_t id = (h % 13 == 0 && i > 0) ? i - 1 : i;
    if (h % 101 == 0)
        return (size_t)snprintf(buf, cap, "{not json %zu", i);
    if (h % 7 == 0)
        return (size_t)snprintf(buf, cap,
                                "{\"service\":\"%s\",\"latency\":%u,\"ts\":%lld,\"id\":\"r%zu\"}",
                                services[h % 4], h % 300, (long long)ts, id);
    return (size_t)snprintf(buf, cap,
                            "{\"service\":\"%s\",\"latency\":%u,\"user\":\"u%u\",\"ok\":%s,\"ts\":%"
                            "lld,\"id\":\"r%zu\"}",
                            services[h % 4], h % 300, (h >> 8) % 17, h % 5 ? "true" : "false",
                            (long long)ts, id);
}

static eddy_err_t drop_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                              const char *key, size_t key_len, const char *value, size_t value_len)
{
    return EDDY_OK;
}

static const struct eddy_output null_out = {drop_output, NULL};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = strcmp(x->store, y->store);
    if (c)
        return c;
    c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static void kv_copy(struct kvmap *dst, const struct kvmap *src)
{
    kv_release(dst);
    for (size_t i = 0; i < src->n; i++)
        kv_put(dst, src->items[i].store, src->items[i].key, src->items[i].key_len,
               src->items[i].value, src->items[i].value_len);
}

/* A fresh durable task loaded from @committed in key order (as from RocksDB). */
static struct eddy_task *task_from(const struct eddy_plan *plan, struct kvmap *committed)
{
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "in", 3, &null_out, &task), EDDY_OK);
    if (committed->n)
        qsort(committed->items, committed->n, sizeof *committed->items, kv_cmp);
    for (size_t i = 0; i < committed->n; i++) {
        struct kv *kv = &committed->items[i];
        cr_assert_eq(
            eddy__task_load(task, kv->store, kv->key, kv->key_len, kv->value, kv->value_len),
            EDDY_OK, "load %s", kv->store);
    }
    struct kvmap none = {0};
    cr_assert_eq(
        eddy__task_changes(task, &(struct eddy_task_changes){kv_put, kv_closed, &none, NULL}),
        EDDY_OK);
    kv_release(&none);
    cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK); /* as the runtime after a load */
    return task;
}

enum crash { NO_CRASH, BEFORE_COMMIT, AFTER_COMMIT, AFTER_PUBLISH };

static void lake_listing(struct eddy_buf *out);

/* A Kafka-mode run: commits every COMMIT_EVERY records (roll, changes into
 * the committed map, publish); at record @crash_at the process "dies" in
 * the way @how says and a new task resumes from the committed state. */
static void kafka_run(const struct eddy_plan *plan, size_t crash_at, enum crash how)
{
    struct kvmap committed = {0}, txn = {0};
    struct eddy_task *task = task_from(plan, &committed);
    size_t next = 0; /* the committed input position */
    bool crashed = false;
    char rec[512];
    for (size_t i = next; i < N_RECORDS; i++) {
        size_t len = make_record(rec, sizeof rec, i);
        cr_assert_eq(eddy__task_process(task, rec, len, (int64_t)i, false), EDDY_OK);
        bool last = i + 1 == N_RECORDS;
        if ((i + 1) % COMMIT_EVERY && !last)
            continue;
        if (last) {
            cr_assert_eq(eddy__task_flush(task), EDDY_OK);
        }
        eddy__task_archive_roll(task, 0, last);
        kv_copy(&txn, &committed);
        cr_assert_eq(
            eddy__task_changes(task, &(struct eddy_task_changes){kv_put, kv_closed, &txn, NULL}),
            EDDY_OK);
        if (!crashed && how == BEFORE_COMMIT && i + 1 >= crash_at) {
            /* a file sealed in this transaction must not appear before it
             * commits, whoever asks */
            struct eddy_buf before, after;
            eddy_buf_init(&before);
            eddy_buf_init(&after);
            lake_listing(&before);
            cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK);
            lake_listing(&after);
            cr_assert_str_eq(after.data ? after.data : "", before.data ? before.data : "",
                             "published before the commit");
            eddy_buf_release(&before);
            eddy_buf_release(&after);
            crashed = true; /* the transaction aborts: back to the last commit */
            eddy__task_free(task);
            task = task_from(plan, &committed);
            i = next - 1;
            continue;
        }
        kv_copy(&committed, &txn);
        next = i + 1;
        if (!crashed && how == AFTER_COMMIT && i + 1 >= crash_at) {
            crashed = true; /* committed, not published */
            eddy__task_free(task);
            task = task_from(plan, &committed);
            continue;
        }
        eddy__task_archive_committed(task);
        cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK);
        if (!crashed && how == AFTER_PUBLISH && i + 1 >= crash_at) {
            crashed = true; /* published, its deletes not committed */
            eddy__task_free(task);
            task = task_from(plan, &committed);
        }
    }
    /* the deletes of the last publication */
    cr_assert_eq(
        eddy__task_changes(task, &(struct eddy_task_changes){kv_put, kv_closed, &committed, NULL}),
        EDDY_OK);
    size_t archive_keys = 0;
    for (size_t i = 0; i < committed.n; i++)
        if (strcmp(committed.items[i].store, EDDY_STORE_ARCHIVE) == 0 &&
            committed.items[i].key[0] != 'H')
            archive_keys++;
    cr_assert_eq(archive_keys, 0, "segments or seals left after every file was published");
    cr_assert(how == NO_CRASH || crashed);
    eddy__task_free(task);
    kv_release(&committed);
    kv_release(&txn);
}

/* Appends "relative path\tsize\tfnv1a of bytes\n" of every file under @dir,
 * sorted by path (hidden files included: none may be left). */
static void list_tree(const char *dir, const char *rel, struct eddy_buf *out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s", path);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..")) {
            char sub[1024], full[2048];
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", name);
            snprintf(full, sizeof full, "%s/%s", dir, sub);
            struct stat st;
            cr_assert_eq(lstat(full, &st), 0);
            if (S_ISDIR(st.st_mode)) {
                list_tree(dir, sub, out);
            } else {
                FILE *f = fopen(full, "rb");
                cr_assert_not_null(f);
                uint64_t h = 1469598103934665603ULL;
                int c;
                while ((c = fgetc(f)) != EOF)
                    h = (h ^ (unsigned char)c) * 1099511628211ULL;
                fclose(f);
                eddy_buf_printf(out, "%s\t%lld\t%016llx\n", sub, (long long)st.st_size,
                                (unsigned long long)h);
            }
        }
        free(names[i]);
    }
    free(names);
}

static void lake_listing(struct eddy_buf *out)
{
    eddy_buf_reset(out);
    char lake[300];
    struct stat st;
    snprintf(lake, sizeof lake, "%s/lake", tmp_root);
    if (stat(lake, &st) == 0)
        list_tree(lake, "", out);
    cr_assert_eq(eddy_buf_err(out), EDDY_OK);
}

Test(archive, kafka_mode_crashes_leave_exactly_the_files_of_a_run_without_crashes)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    struct eddy_buf want, got;
    eddy_buf_init(&want);
    eddy_buf_init(&got);
    kafka_run(plan, 0, NO_CRASH);
    lake_listing(&want);
    /* several seals per archive and task, in partition directories */
    size_t files = 0;
    for (const char *p = want.data; (p = strstr(p, ".parquet\t")); p++)
        files++;
    cr_assert_geq(files, 20, "%s", want.data);
    cr_assert(strstr(want.data, "per_service/service=search%2Fv2/part-3-0-"), "%s", want.data);
    cr_assert(strstr(want.data, "events/date=2025-04-30/service=pay ment/part-3-"), "%s",
              want.data);
    static const enum crash hows[] = {BEFORE_COMMIT, AFTER_COMMIT, AFTER_PUBLISH};
    static const size_t points[] = {1, 97, 300, 777, 1400, 2399, 2400};
    for (size_t h = 0; h < 3; h++)
        for (size_t k = 0; k < sizeof points / sizeof *points; k++) {
            char lake[300];
            snprintf(lake, sizeof lake, "%s/lake", tmp_root);
            remove_tree(lake);
            kafka_run(plan, points[k], hows[h]);
            lake_listing(&got);
            cr_assert_str_eq(got.data, want.data, "crash %zu at record %zu", h, points[k]);
        }
    eddy_buf_release(&want);
    eddy_buf_release(&got);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}

static uint64_t files_in(const struct eddy_buf *listing)
{
    uint64_t n = 0;
    for (const char *p = listing->data; (p = strstr(p, ".parquet\t")); p++)
        n++;
    return n;
}

Test(archive, local_mode_files_are_named_after_the_input_and_visible_only_when_sealed)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &null_out, &task), EDDY_OK);
    cr_assert_eq(eddy__task_archive_label(task, "day-1.jsonl", false), EDDY_OK);
    char rec[512], lake[300];
    snprintf(lake, sizeof lake, "%s/lake", tmp_root);
    for (size_t i = 0; i < 40; i++) {
        size_t len = make_record(rec, sizeof rec, i);
        cr_assert_eq(eddy__task_process(task, rec, len, (int64_t)i, false), EDDY_OK);
    }
    cr_assert_not(eddy__task_archive_roll(task, eddy_now_ms(), false)); /* not due: 1h, 4KB */
    cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK);
    struct stat st;
    cr_assert_neq(stat(lake, &st), 0, "nothing is written before a file is sealed");
    cr_assert(eddy__task_archive_roll(task, eddy_now_ms() + 3600000, false)); /* 1h later */
    cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK);
    struct eddy_buf got;
    eddy_buf_init(&got);
    lake_listing(&got);
    cr_assert(strstr(got.data, "events/date=2025-04-30/service=auth/part-day-1.jsonl-0-39.parquet"),
              "%s", got.data);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);
    cr_assert(eddy__task_archive_roll(task, 0, true));
    cr_assert_eq(eddy__task_archive_publish(task), EDDY_OK);
    lake_listing(&got);
    /* the first file of each sink covers records 0-39, its next one 40-39:
     * no record since (an empty range after the previous file) */
    cr_assert(strstr(got.data, "per_service/service=auth/part-day-1.jsonl-40-39-s1.parquet"), "%s",
              got.data);
    cr_assert_null(strstr(got.data, "/."), "no temporary file left: %s", got.data);
    const struct eddy_task_stats *ts = eddy__task_stats(task);
    cr_assert_gt(ts->archive_rows, 40);
    cr_assert_eq(ts->archive_rows, ts->archive_rows_written);
    cr_assert_eq(ts->archive_files, files_in(&got));
    cr_assert_eq(ts->archive_errors, 0);
    eddy_buf_release(&got);
    eddy__task_free(task);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}

Test(archive, a_failed_publication_reports_eio_and_publishes_nothing)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    struct eddy_task *task;
    cr_assert_eq(eddy__task_new(plan, "in", 0, &null_out, &task), EDDY_OK);
    cr_assert_eq(eddy__task_archive_label(task, "x", false), EDDY_OK);
    char rec[512], lake[300];
    snprintf(lake, sizeof lake, "%s/lake", tmp_root);
    cr_assert_eq(mkdir(lake, 0500), 0); /* not writable */
    for (size_t i = 0; i < 10; i++) {
        size_t len = make_record(rec, sizeof rec, i);
        cr_assert_eq(eddy__task_process(task, rec, len, (int64_t)i, false), EDDY_OK);
    }
    cr_assert(eddy__task_archive_roll(task, 0, true));
    if (geteuid() != 0) /* root writes anyway */
        cr_assert_eq(eddy__task_archive_publish(task), EDDY_EIO);
    const struct eddy_task_stats *st = eddy__task_stats(task);
    cr_assert_eq(st->archive_files, 0);
    cr_assert_eq(st->archive_errors, geteuid() != 0 ? 1 : 0);
    cr_assert_eq(st->archive_rows_written, 0);
    eddy__task_free(task);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}

/* A row of archive @def (per_service, at most 13 columns): window start
 * 2025-04-30T08:00:00Z, service "auth", every other column null. */
static void auth_row(const struct eddy_archive *def, struct eddy_value row[13])
{
    for (size_t c = 0; c < def->n_columns; c++)
        row[c] = eddy_value_null();
    row[0] = (struct eddy_value){EDDY_V_INT, {.i = 1746000000000LL}};
    row[2] = (struct eddy_value){EDDY_V_STR, {.s = {"auth", 4}}};
}

Test(archive, files_sealed_without_input_in_between_do_not_overwrite_each_other)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    const struct eddy_archive *def = &plan->archives[0]; /* per_service */
    struct eddy_archive_sink *s;
    cr_assert_eq(eddy__archive_sink_new(def, 0, "7", false, &s), EDDY_OK);
    struct eddy_value row[13];
    auth_row(def, row);
    for (int file = 0; file < 3; file++) { /* rows of merged partials only: no offsets */
        cr_assert_eq(eddy__archive_add(s, row), EDDY_OK);
        cr_assert(eddy__archive_roll(s, 0, true));
        cr_assert_eq(eddy__archive_publish(s), EDDY_OK);
    }
    eddy__archive_consumed(s, 500);
    eddy__archive_consumed(s, 501);
    cr_assert_eq(eddy__archive_add(s, row), EDDY_OK);
    cr_assert(eddy__archive_roll(s, 0, true));
    cr_assert_eq(eddy__archive_publish(s), EDDY_OK);
    cr_assert_eq(eddy__archive_stats(s)->files, 4);
    struct eddy_buf got;
    eddy_buf_init(&got);
    lake_listing(&got);
    const char *want[] = {"per_service/service=auth/part-7-0--1-s0.parquet\t",
                          "per_service/service=auth/part-7-0--1-s1.parquet\t",
                          "per_service/service=auth/part-7-0--1-s2.parquet\t",
                          "per_service/service=auth/part-7-500-501.parquet\t"};
    for (size_t i = 0; i < 4; i++)
        cr_assert(strstr(got.data, want[i]), "%s not in %s", want[i], got.data);
    cr_assert_eq(files_in(&got), 4);
    eddy_buf_release(&got);
    eddy__archive_sink_free(s);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}

struct sizes {
    struct kvmap *map;
    size_t max_value, segments;
};

static eddy_err_t put_sized(void *ctx, const void *key, size_t key_len, const void *value,
                            size_t value_len)
{
    struct sizes *sz = ctx;
    if (value && ((const unsigned char *)key)[0] == 'F') {
        sz->segments++;
        if (value_len > sz->max_value)
            sz->max_value = value_len;
        cr_assert(value_len <= (512 << 10) || value_len > (700 << 10), "segment of %zu bytes",
                  value_len);
    }
    return kv_put(sz->map, EDDY_STORE_ARCHIVE, key, key_len, value, value_len);
}

Test(archive, a_commit_of_many_rows_is_cut_into_segments_below_the_message_limit)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    const struct eddy_archive *def = &plan->archives[0];
    struct eddy_archive_sink *a, *b;
    cr_assert_eq(eddy__archive_sink_new(def, 0, "1", true, &a), EDDY_OK);
    struct eddy_value row[13];
    auth_row(def, row);
    static char big[700 << 10];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 40; i++) { /* 40 rows of 100 KB, one of 700 KB in the middle */
        row[3] = (struct eddy_value){EDDY_V_STR, {.s = {big, i == 20 ? sizeof big : 100 << 10}}};
        eddy__archive_consumed(a, i);
        cr_assert_eq(eddy__archive_add(a, row), EDDY_OK);
    }
    struct kvmap map = {0};
    struct sizes sz = {&map, 0, 0};
    cr_assert(eddy__archive_roll(a, 0, true));
    cr_assert_eq(eddy__archive_changes(a, put_sized, &sz), EDDY_OK);
    cr_assert_geq(sz.segments, 9);
    /* the largest segment is the 700 KB row alone: timestamp 9 bytes, two
     * strings with 5-byte headers, 10 nulls; the others hold at most 512 KB */
    cr_assert_eq(sz.max_value, 9 + (5 + 4) + (5 + (700 << 10)) + 10, "max %zu", sz.max_value);
    /* a fresh sink loads the segments in key order and writes the same file */
    cr_assert_eq(eddy__archive_sink_new(def, 0, "1", true, &b), EDDY_OK);
    qsort(map.items, map.n, sizeof *map.items, kv_cmp);
    for (size_t i = 0; i < map.n; i++)
        cr_assert_eq(eddy__archive_load(b, map.items[i].key, map.items[i].key_len,
                                        map.items[i].value, map.items[i].value_len),
                     EDDY_OK);
    cr_assert_eq(eddy__archive_publish(b), EDDY_OK);
    struct eddy_buf from_load, direct;
    eddy_buf_init(&from_load);
    eddy_buf_init(&direct);
    lake_listing(&from_load);
    char lake[300];
    snprintf(lake, sizeof lake, "%s/lake", tmp_root);
    remove_tree(lake);
    eddy__archive_committed(a);
    cr_assert_eq(eddy__archive_publish(a), EDDY_OK);
    lake_listing(&direct);
    cr_assert_str_eq(from_load.data, direct.data);
    cr_assert(strstr(direct.data, "per_service/service=auth/part-1-0-39.parquet\t"), "%s",
              direct.data);
    cr_assert_eq(eddy__archive_stats(b)->rows_written, 40);
    eddy_buf_release(&from_load);
    eddy_buf_release(&direct);
    kv_release(&map);
    eddy__archive_sink_free(a);
    eddy__archive_sink_free(b);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}

Test(archive, writing_a_file_removes_the_temporary_files_of_earlier_attempts_at_it)
{
    make_root();
    struct eddy_plan *plan = load_plan(tmp_root);
    const struct eddy_archive *def = &plan->archives[0];
    struct eddy_archive_sink *s;
    cr_assert_eq(eddy__archive_sink_new(def, 0, "7", false, &s), EDDY_OK);
    char dir[400], path[600];
    snprintf(dir, sizeof dir, "%s/lake/per_service/service=auth", tmp_root);
    cr_assert_eq(eddy_mkdirs(dir, "test"), EDDY_OK);
    static const char *const leftovers[] = {
        ".part-7-0-9.parquet.4242.0.tmp",   /* killed while writing this file: removed */
        ".part-7-0-9.parquet.77.3.tmp",     /* removed */
        ".part-7-0-99.parquet.4242.0.tmp",  /* another file's: kept */
        ".part-7-0-9.parquet.4242.0.other", /* not a temporary file: kept */
    };
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, leftovers[i]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    struct eddy_value row[13];
    auth_row(def, row);
    for (int64_t i = 0; i < 10; i++)
        eddy__archive_consumed(s, i);
    cr_assert_eq(eddy__archive_add(s, row), EDDY_OK);
    cr_assert(eddy__archive_roll(s, 0, true));
    cr_assert_eq(eddy__archive_publish(s), EDDY_OK);
    struct eddy_buf got;
    eddy_buf_init(&got);
    lake_listing(&got);
    cr_assert(strstr(got.data, "service=auth/.part-7-0-9.parquet.4242.0.other\t"), "%s", got.data);
    cr_assert(strstr(got.data, "service=auth/.part-7-0-99.parquet.4242.0.tmp\t"), "%s", got.data);
    cr_assert(strstr(got.data, "service=auth/part-7-0-9.parquet\t"), "%s", got.data);
    cr_assert_null(strstr(got.data, ".part-7-0-9.parquet.4242.0.tmp"), "%s", got.data);
    cr_assert_null(strstr(got.data, ".part-7-0-9.parquet.77.3.tmp"), "%s", got.data);
    eddy_buf_release(&got);
    eddy__archive_sink_free(s);
    eddy_plan_free(plan);
    remove_tree(tmp_root);
}
