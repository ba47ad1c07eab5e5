/*
 * kengine.c - see kengine.h.
 *
 * One thread drives everything: it polls the consumer, feeds each record to
 * the task of its partition, and every commit interval runs the commit
 * protocol:
 *   1. collect each task's changes (one per changed key) and send them to the
 *      store's changelog (<name>-<store>-changelog, same partition as the
 *      input) inside the open transaction, next to the results, alerts and
 *      dead letters the records produced;
 *   2. commit the transaction together with the input positions
 *      (send_offsets_to_transaction with the group metadata);
 *   3. only then apply the same changes to RocksDB in one atomic batch with
 *      each store's changelog position (the local checkpoint);
 *   4. begin the next transaction.
 * If the transaction aborts (abortable error, fencing, retries exhausted),
 * the in-memory task state is thrown away, the input is rewound to the
 * committed offsets and every task is reloaded from RocksDB, which holds
 * exactly the last committed state. A crash between 2 and 3 leaves RocksDB
 * behind the changelog: the next start replays the changelog from the
 * checkpoint. A task restores (changelog from its checkpoint, or from the
 * beginning without one) when its partition is assigned, before processing.
 *
 * eddy backfill (opts->backfill, section "eddy backfill" below): the same
 * engine on a versioned plan, with input partitions starting at a time and,
 * with a stop time, a finish: drain the repartition topics, flush, exit.
 *
 * memory_limit L (enforce_budget): RocksDB gets L/4 block cache and L/8
 * memtables, librdkafka's queues at most L/16 each (4 MB by default; these
 * are defaults under the topology's and -X properties), task state L/2
 * (jemalloc keeps two arenas in any case: core/alloc.c). Each aggregation
 * store is backed by its column family (ops/window.h "Bounded write cache"):
 * over L/2 the loop commits early, then evicts clean rows after the commit;
 * still over, it pauses the input partitions until under (at most one commit
 * interval, >= 1 s, per pause: throttling rather than a stall).
 */
#include "runtime/kengine.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/time.h"
#include "ops/result.h"
#include "ops/window.h"
#include "runtime/engine.h"
#include "runtime/task.h"
#include "serve/serve.h"
#include "sink/kafka.h"
#include "sink/kafka_admin.h"
#include "source/kafka.h"
#include "source/ktable.h"
#include "state/be64.h"
#include "state/pending.h"
#include "state/store.h"

struct ktask {
    struct eddy_kengine *engine;
    int32_t partition;
    struct eddy_task *task;
    struct eddy_store **stores; /* per store name */
    int64_t next_offset;        /* next input offset to commit, -1: none processed */
    /* the input offset last committed (-1: none) and the stream time it was
     * committed with (INT64_MIN: none); see positions() */
    int64_t committed_offset, committed_stream_time;
    int64_t *repart_next;       /* per aggregation: next repartition offset, -1: none */
    int64_t reported_time;      /* stream time last sent to the repartition topics */
    int64_t opened_ns;          /* when the partition was assigned (monotonic) */
    bool active;
    struct backing *backing; /* per store name (memory_limit) */
    /* eddy backfill: the next input offset to process (where the partition
     * started, then past each record processed; -1 unknown, after a
     * rewind), the last end-of-partition offset per consumed topic (0: the
     * input, 1 + a: the repartition topic of aggregation a; -1 none), with a
     * stop time whether the input partition reached it (then paused), and
     * the repartition ends to drain to before the final flush */
    int64_t position;
    int64_t *eof;
    int64_t *drain_to;
    bool done;
};

/* The backing store of an aggregation's window store: the task's column
 * family of that store, looked up at each call (restores replace it). */
struct backing {
    struct ktask *kt;
    size_t store;
};

struct pending_put {
    int32_t partition;
    char *key, *value;
};

struct eddy_kengine {
    const struct eddy_plan *plan;
    struct eddy_ktables *ktables; /* topic tables (NULL: none) */
    const struct eddy_kengine_opts *opts;
    struct eddy_kconf conf;
    struct eddy_kv *props; /* topology kafka: then -X */
    char *txn_id;
    struct eddy_state *state;
    struct eddy_kconsumer *consumer;
    struct eddy_kproducer *producer;
    struct eddy_kreader *reader; /* changelogs, for restores */
    /* the bulk loader of the restores of one assignment (its buffer, up to
     * 64 MB, faulted in once, not per store partition), freed after it */
    struct eddy_state_loader *loader;
    const char **store_names;
    size_t n_stores;
    char **changelogs; /* per store */
    char *dlq_topic;
    char **repart_topics; /* per aggregation; NULL when it is not repartitioned */
    const char **topics;  /* every topic written: for warming the producer */
    size_t n_topics;
    int n_partitions;
    struct ktask *tasks; /* indexed by partition */
    struct eddy_state_batch *batch;
    /* committed changes not yet in RocksDB (state/pending.h), written every
     * STATE_FLUSH_NS, over STATE_FLUSH_BYTES, and before RocksDB is read */
    struct eddy_pending *unflushed;
    int64_t flushed_ns;
    size_t flush_bytes;
    bool exactly_once;
    volatile sig_atomic_t *stop;
    struct pending_put *pending_puts; /* meta records to write with the next commit */
    size_t n_pending_puts, cap_pending_puts;
    eddy_err_t pending; /* error raised inside a callback */
    bool failed;        /* a runtime failure: never commit what is in flight */
    /* memory_limit: librdkafka queue defaults (before the topology's and -X
     * properties), the task state budget, and the backpressure state */
    char queue_kbytes[24], fetch_bytes[24], fetch_max_bytes[24], produce_kbytes[24];
    size_t state_budget;
    bool commit_early, paused;
    int64_t paused_ns, memory_logged_ns;
    uint64_t evictions, early_commits, pauses;
    /* counters */
    uint64_t records, commits, aborts;
    int64_t commit_ns_total, commit_ns_max;
    /* --http (serve/serve.h): the view gets committed rows and alerts, the
     * metrics a snapshot every 250 ms, the directory this instance's record */
    struct eddy_serve *serve;
    struct eddy_view *view;
    struct eddy_metrics_snapshot snap;
    struct eddy_task_stats closed_totals; /* of tasks closed since start */
    int64_t *fresh_ends;                  /* window ends of final rows in the open transaction */
    size_t n_fresh, cap_fresh;
    int64_t published_ns, directory_ns;
    bool directory_dirty;
    char *directory_topic;
    /* eddy backfill (opts->backfill): per input partition the offset for
     * --from and the end offset (for --to, or the high watermark at start) */
    const struct eddy_backfill_opts *backfill;
    int64_t *bf_start, *bf_end;
    /* per aggregation and partition (a * n_partitions + p): past the last
     * repartition record this process committed there, -1 none */
    int64_t *bf_written;
    enum { BF_RUNNING, BF_DRAINING, BF_FINISHED } bf_phase;
    bool bf_caught_up;
    struct eddy_backfill_progress bf_progress;
};

/* ---- outputs of a task: into the open transaction ---- */

static eddy_err_t task_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                              const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct ktask *kt = ctx;
    struct eddy_kengine *e = kt->engine;
    if (kind == EDDY_OUT_DEAD)
        return eddy__kproducer_send(e->producer, e->dlq_topic, kt->partition, NULL, 0, value,
                                    value_len);
    if (e->view && kind == EDDY_OUT_ALERT) {
        eddy_err_t err = eddy__view_stage_alert(e->view, kt->partition, value, value_len);
        if (err)
            return err;
    }
    int64_t end;
    if (e->view && kind == EDDY_OUT_RESULT && eddy__result_final_end(value, value_len, &end)) {
        if (!eddy_array_reserve(&e->fresh_ends, &e->cap_fresh, e->n_fresh + 1,
                                sizeof *e->fresh_ends, 256))
            return EDDY_ENOMEM;
        e->fresh_ends[e->n_fresh++] = end;
    }
    return eddy__kproducer_send(e->producer, topic, -1, key, key_len, value, value_len);
}

/* ---- topics ---- */

static char *topic_name(const char *name, const char *store, const char *suffix)
{
    size_t len = strlen(name) + strlen(store) + strlen(suffix) + 3;
    char *out = eddy_malloc(len);
    if (out)
        snprintf(out, len, "%s-%s%s%s", name, store, *suffix ? "-" : "", suffix);
    return out;
}

static int64_t store_retention_ms(const struct eddy_plan *plan, const char *store)
{
    const int64_t day = 86400000;
    if (strcmp(store, EDDY_TASK_DEDUP_STORE) == 0)
        return plan->dedup.within_ms + day;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (strcmp(store, plan->aggregations[a].name) == 0)
            return (plan->aggregations[a].window.kind == EDDY_WIN_SESSION
                        ? plan->aggregations[a].window.gap_ms
                        : plan->aggregations[a].window.size_ms) +
                   plan->grace_ms + (plan->aggregations[a].rollup ? 0 : plan->late_correct_ms) +
                   day;
    return -1;
}

static eddy_err_t create_topics(struct eddy_kengine *e)
{
    const struct eddy_plan *plan = e->plan;
    size_t n = 0,
           cap = e->n_stores + 2 * plan->n_aggregations + plan->n_alerts + plan->n_patterns + 2;
    struct eddy_topic_spec *specs = eddy_calloc(cap, sizeof *specs);
    if (!specs)
        return EDDY_ENOMEM;
    for (size_t s = 0; s < e->n_stores; s++) {
        int64_t retention = store_retention_ms(plan, e->store_names[s]);
        specs[n++] =
            (struct eddy_topic_spec){e->changelogs[s], e->n_partitions, e->opts->replication,
                                     retention > 0 ? "compact,delete" : "compact", retention};
    }
    specs[n++] =
        (struct eddy_topic_spec){e->dlq_topic, e->n_partitions, e->opts->replication, "delete", -1};
    for (size_t a = 0; a < plan->n_aggregations; a++)
        specs[n++] = (struct eddy_topic_spec){plan->aggregations[a].output_topic, e->n_partitions,
                                              e->opts->replication, "delete", -1};
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (e->repart_topics[a])
            specs[n++] = (struct eddy_topic_spec){e->repart_topics[a], e->n_partitions,
                                                  e->opts->replication, "delete", 86400000};
    for (size_t a = 0; a < plan->n_alerts; a++) {
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen |= strcmp(specs[k].name, plan->alerts[a].output_topic) == 0;
        if (!seen)
            specs[n++] = (struct eddy_topic_spec){plan->alerts[a].output_topic, e->n_partitions,
                                                  e->opts->replication, "delete", -1};
    }
    for (size_t p = 0; p < plan->n_patterns; p++) { /* ops/pattern.h: matches */
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen |= strcmp(specs[k].name, plan->patterns[p].output_topic) == 0;
        if (!seen)
            specs[n++] = (struct eddy_topic_spec){plan->patterns[p].output_topic, e->n_partitions,
                                                  e->opts->replication, "delete", -1};
    }
    if (e->directory_topic) /* serve.h: one partition, latest record per instance */
        specs[n++] =
            (struct eddy_topic_spec){e->directory_topic, 1, e->opts->replication, "compact", -1};
    eddy_err_t err = eddy__kafka_create_topics(&e->conf, specs, n);
    for (size_t k = 0; k < n; k++)
        e->topics[k] = specs[k].name;
    e->n_topics = n;
    eddy_free(specs);
    return err;
}

/* ---- tasks: create, restore, load, close ---- */

struct restore_ctx {
    struct eddy_state_loader *loader;
    uint64_t records;
    struct eddy_kengine *engine;
};

static eddy_err_t restore_record(void *ctx, const void *key, size_t klen, const void *value,
                                 size_t vlen, int64_t offset)
{
    struct restore_ctx *r = ctx;
    r->records++;
    if (r->engine && r->engine->view) {
        struct eddy_metrics_snapshot *snap = &r->engine->snap;
        snap->restored++;
        snap->restore_remaining -= snap->restore_remaining > 0;
        if (r->records % 8192 == 0) {
            snap->heartbeat_ns = eddy_mono_ns();
            eddy__metrics_publish(eddy__serve_metrics(r->engine->serve), snap, false);
        }
    }
    return eddy__state_loader_add(r->loader, offset, key, klen, value, value ? vlen : 0);
}

/* Brings the store of one partition up to the end of its changelog. */
static eddy_err_t restore_store(struct eddy_kengine *e, struct eddy_kreader *reader, size_t s,
                                int32_t partition, struct eddy_store **store)
{
    int64_t from = -1, next = -1;
    eddy_err_t err = eddy__state_store(e->state, e->store_names[s], partition, store);
    if (!err)
        err = eddy__store_checkpoint(*store, &from);
    for (int attempt = 0; !err && attempt < 2; attempt++) {
        struct restore_ctx r = {.engine = e};
        if ((err = e->loader ? eddy__state_loader_reset(e->loader, *store)
                             : eddy__state_loader_new(*store, 0, &e->loader)))
            break;
        r.loader = e->loader;
        int64_t low = 0, high = 0; /* for eddy_restore_remaining_records */
        if (e->view && rd_kafka_query_watermark_offsets(eddy__kconsumer_handle(e->consumer),
                                                        e->changelogs[s], partition, &low, &high,
                                                        2000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            e->snap.restore_remaining += (uint64_t)(high - (from > low ? from : low));
        int64_t started = eddy_mono_ns();
        err = eddy__kreader_read(reader, e->changelogs[s], partition, from, restore_record, &r,
                                 &next);
        if (!err)
            err = eddy__state_loader_finish(r.loader, next);
        if (err == EDDY_ERANGE && attempt == 0) {
            /* the checkpoint is past the changelog's end: the topic was
             * recreated or truncated; start over from an empty store */
            eddy_log(EDDY_LOG_WARN, "restore",
                     "checkpoint %lld of %s[%d] is invalid; "
                     "restoring from the beginning",
                     (long long)from, e->changelogs[s], partition);
            if ((err = eddy__state_drop(e->state, e->store_names[s], partition)) ||
                (err = eddy__state_store(e->state, e->store_names[s], partition, store)))
                break;
            from = -1;
            continue;
        }
        if (!err && r.records)
            eddy_log(EDDY_LOG_INFO, "restore",
                     "%s[%d]: %llu records from offset %lld in "
                     "%.3f s",
                     e->changelogs[s], partition, (unsigned long long)r.records,
                     (long long)(from < 0 ? 0 : from), (double)(eddy_mono_ns() - started) / 1e9);
        break;
    }
    return err;
}

struct load_ctx {
    struct eddy_task *task;
    const char *store;
    eddy_err_t err;
    uint64_t rows;
    size_t budget; /* memory_limit: evict loaded rows while over it */
    struct eddy_view *view;
    int32_t partition;
};

#define FINGERPRINT_PREFIX "fingerprint:"

static int load_record(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    struct load_ctx *l = ctx;
    size_t pl = strlen(FINGERPRINT_PREFIX);
    if (strcmp(l->store, EDDY_TASK_META_STORE) == 0 && kl >= pl &&
        memcmp(k, FINGERPRINT_PREFIX, pl) == 0)
        return 0; /* the engine's, checked in check_fingerprints */
    l->err = eddy__task_load(l->task, l->store, k, kl, v, vl);
    if (!l->err && l->view) /* queries see restored windows at once */
        l->err = eddy__view_stage_row(l->view, l->partition, l->store, k, kl, v, vl);
    l->rows++;
    /* loaded rows are persisted (clean): a restore stays within the budget */
    if (l->budget && l->rows % 4096 == 0 && eddy__task_memory(l->task) > l->budget)
        eddy__task_evict(l->task);
    return l->err != EDDY_OK;
}

static eddy_err_t ignore_put(void *ctx, const char *store, const void *key, size_t key_len,
                             const void *value, size_t value_len)
{
    return EDDY_OK;
}

static eddy_err_t ignore_closed(void *ctx, const char *store, int64_t start)
{
    return EDDY_OK;
}

/* ---- memory budget: window stores backed by RocksDB ---- */

static size_t store_index(const struct eddy_kengine *e, const char *store);
static eddy_err_t backfill_rewound(struct eddy_kengine *e);

static eddy_err_t backing_get(void *ctx, const void *key, size_t klen, struct eddy_buf *value,
                              bool *found)
{
    struct backing *b = ctx;
    return eddy__store_get(b->kt->stores[b->store], key, klen, value, found);
}

static eddy_err_t
backing_scan(void *ctx, int64_t window_start,
             int (*fn)(void *c, const void *k, size_t kl, const void *v, size_t vl), void *c)
{
    struct backing *b = ctx;
    unsigned char begin[8], end[8];
    eddy__be64_put(begin, window_start);
    eddy__be64_put(end, window_start + 1);
    return eddy__store_scan(b->kt->stores[b->store], begin, 8, end, 8, fn, c);
}

static size_t tasks_memory(const struct eddy_kengine *e)
{
    size_t bytes = e->unflushed ? eddy__pending_bytes(e->unflushed) : 0;
    for (int p = 0; p < e->n_partitions; p++)
        if (e->tasks[p].active && e->tasks[p].task)
            bytes += eddy__task_memory(e->tasks[p].task);
    return bytes;
}

/* Gives each aggregation store of @kt's task its RocksDB backing store. */
static eddy_err_t task_backing(struct eddy_kengine *e, struct ktask *kt)
{
    for (size_t a = 0; e->state_budget && a < e->plan->n_aggregations; a++) {
        size_t s = store_index(e, e->plan->aggregations[a].name);
        if (s >= e->n_stores)
            continue;
        kt->backing[s] = (struct backing){kt, s};
        struct eddy_window_backing wb = {backing_get, backing_scan, &kt->backing[s]};
        eddy_err_t err = eddy__task_backing(kt->task, e->plan->aggregations[a].name, &wb);
        if (err)
            return err;
    }
    return EDDY_OK;
}

/* --http: final rows go to the view (published with the commit) */
static eddy_err_t stage_final(void *ctx, const char *store, const void *key, size_t key_len,
                              const void *value, size_t value_len)
{
    struct ktask *kt = ctx;
    return eddy__view_stage_row(kt->engine->view, kt->partition, store, key, key_len, value,
                                value_len);
}

/* (Re)builds the in-memory task of @kt from RocksDB. */
static eddy_err_t task_load(struct eddy_kengine *e, struct ktask *kt)
{
    eddy__task_free(kt->task);
    kt->task = NULL;
    struct eddy_output out = {task_output, kt};
    eddy_err_t err = eddy__task_new(e->plan, e->plan->source.topic, kt->partition, &out, &kt->task);
    if (!err)
        err = eddy__task_enable_repartition(kt->task, (size_t)e->n_partitions);
    if (!err && e->view)
        eddy__task_on_final(kt->task, stage_final, kt);
    if (!err)
        err = task_backing(e, kt);
    /* the stream time committed with the input offset (positions()), before
     * the load skips the windows closed at it; RocksDB and the meta
     * changelog (state of earlier versions) may hold an older one */
    if (!err)
        eddy__task_raise_stream_time(kt->task, kt->committed_stream_time);
    for (size_t s = 0; !err && s < e->n_stores; s++) {
        struct load_ctx l = {kt->task,        e->store_names[s], EDDY_OK,      0,
                             e->state_budget, e->view,           kt->partition};
        err = eddy__store_scan(kt->stores[s], NULL, 0, NULL, 0, load_record, &l);
        if (!err && l.err) {
            eddy_log(EDDY_LOG_ERROR, "restore",
                     "cannot load store '%s' of partition %d: %s "
                     "(state written by another topology? reset it with --reset-store)",
                     e->store_names[s], kt->partition, eddy_err_message(l.err));
            err = l.err;
        }
    }
    if (!err) {
        /* start recording changes: everything loaded is persisted already */
        struct eddy_task_changes none = {ignore_put, ignore_closed, NULL, NULL};
        err = eddy__task_changes(kt->task, &none);
    }
    /* files sealed by a committed transaction but perhaps not written before
     * a crash: written again, same name and bytes (EDDY_EIO: retried later) */
    if (!err && eddy__task_archive_publish(kt->task) == EDDY_ENOMEM)
        err = EDDY_ENOMEM;
    return err;
}

/* restore_store, retried with backoff while the cluster answers with
 * retriable errors (leader elections right after topic creation, a broker
 * restarting): at most about a minute, logging each attempt. */
static eddy_err_t restore_store_retrying(struct eddy_kengine *e, struct eddy_kreader *reader,
                                         size_t s, int32_t partition, struct eddy_store **store)
{
    int64_t backoff_ms = 100;
    for (int attempt = 1;; attempt++) {
        eddy_err_t err = restore_store(e, reader, s, partition, store);
        if (err != EDDY_EKAFKA || attempt == 12)
            return err;
        eddy_log(EDDY_LOG_WARN, "restore",
                 "restoring %s[%d] failed (attempt %d); retrying in "
                 "%lld ms",
                 e->changelogs[s], partition, attempt, (long long)backoff_ms);
        struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        if (backoff_ms < 10000)
            backoff_ms *= 2;
    }
}

/* Removes every record of a changelog partition (a store being reset must
 * not come back from it on a later restore). */
static eddy_err_t delete_changelog(struct eddy_kengine *e, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = eddy__kproducer_handle(e->producer);
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, topic, partition)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &del, 1, NULL, queue);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 30000);
    eddy_err_t err = EDDY_EKAFKA;
    if (ev) {
        const rd_kafka_topic_partition_list_t *res =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        rd_kafka_resp_err_t rerr = rd_kafka_event_error(ev);
        if (!rerr && res && res->cnt == 1)
            rerr = res->elems[0].err;
        err = rerr ? eddy__kafka_err(rk, rerr, "cannot delete changelog records") : EDDY_OK;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(queue);
    rd_kafka_DeleteRecords_destroy(del);
    return err;
}

static bool reset_requested(const struct eddy_kengine *e, const char *store)
{
    for (size_t i = 0; i < e->opts->n_reset_stores; i++)
        if (strcmp(e->opts->reset_stores[i], store) == 0)
            return true;
    return false;
}

static eddy_err_t pending_put(struct eddy_kengine *e, int32_t partition, const char *key,
                              const char *value)
{
    if (!eddy_array_reserve(&e->pending_puts, &e->cap_pending_puts, e->n_pending_puts + 1,
                            sizeof *e->pending_puts, 16))
        return EDDY_ENOMEM;
    struct pending_put *p = &e->pending_puts[e->n_pending_puts];
    p->partition = partition;
    p->key = eddy_strdup(key);
    p->value = eddy_strdup(value);
    if (!p->key || !p->value) {
        eddy_free(p->key);
        eddy_free(p->value);
        return EDDY_ENOMEM;
    }
    e->n_pending_puts++;
    return EDDY_OK;
}

/*
 * Safe upgrades: each store's state carries the fingerprint of the topology
 * that wrote it ("fingerprint:<store>" in the meta store, config/diff.h). A
 * store whose saved fingerprint is incompatible with the running topology is
 * refused (EDDY_ECONFIG: `eddy run` exits 2) unless --reset-store names it:
 * then its RocksDB column family and changelog partition are emptied and it
 * starts over. A store without a fingerprint (new) gets the current one.
 */
static eddy_err_t check_fingerprints(struct eddy_kengine *e, struct ktask *kt)
{
    /* read every saved fingerprint first: resetting "meta" empties them */
    char **saved = eddy_calloc(e->n_stores, sizeof *saved);
    struct eddy_buf value;
    eddy_buf_init(&value);
    eddy_err_t err = saved ? EDDY_OK : EDDY_ENOMEM;
    char key[256];
    for (size_t s = 0; !err && s < e->n_stores; s++) {
        bool found = false;
        snprintf(key, sizeof key, FINGERPRINT_PREFIX "%s", e->store_names[s]);
        eddy_buf_reset(&value);
        err = eddy__store_get(kt->stores[0], key, strlen(key), &value, &found);
        if (!err && found && !(saved[s] = eddy_strndup(value.data, value.len)))
            err = EDDY_ENOMEM;
    }
    for (size_t s = 0; !err && s < e->n_stores; s++) {
        const char *store = e->store_names[s];
        char *current = eddy_plan_store_fingerprint(e->plan, store);
        if (!current) {
            err = EDDY_ENOMEM;
            break;
        }
        bool compatible = !saved[s] || eddy_plan_fingerprint_compatible(saved[s], current);
        if (!compatible && !reset_requested(e, store)) {
            char why[2048];
            eddy_plan_fingerprint_explain(saved[s], current, why, sizeof why);
            eddy_log(EDDY_LOG_ERROR, "upgrade",
                     "store '%s' (partition %d) was written by an "
                     "incompatible topology (%s); see `eddy diff OLD NEW`, and start with "
                     "--reset-store %s to rebuild it",
                     store, kt->partition, why, store);
            err = EDDY_ECONFIG;
        } else if (!compatible) {
            eddy_log(EDDY_LOG_WARN, "upgrade", "resetting store '%s' of partition %d", store,
                     kt->partition);
            if (!(err = delete_changelog(e, e->changelogs[s], kt->partition)) &&
                !(err = eddy__state_drop(e->state, store, kt->partition)))
                err = eddy__state_store(e->state, store, kt->partition, &kt->stores[s]);
        }
        /* save it whenever it differs, so the next check compares with it */
        snprintf(key, sizeof key, FINGERPRINT_PREFIX "%s", store);
        if (!err && (!saved[s] || strcmp(saved[s], current) != 0))
            err = pending_put(e, kt->partition, key, current);
        eddy_free(current);
    }
    for (size_t s = 0; saved && s < e->n_stores; s++)
        eddy_free(saved[s]);
    eddy_free(saved);
    eddy_buf_release(&value);
    return err;
}

static eddy_err_t task_open(struct eddy_kengine *e, int32_t partition)
{
    if (partition < 0 || partition >= e->n_partitions)
        return EDDY_EINVAL;
    struct ktask *kt = &e->tasks[partition];
    if (kt->active)
        return EDDY_OK; /* opened for another topic of the same partition */
    kt->engine = e;
    kt->partition = partition;
    kt->next_offset = -1;
    for (size_t a = 0; a < e->plan->n_aggregations; a++)
        kt->repart_next[a] = -1;
    kt->reported_time = INT64_MIN;
    kt->position = -1;
    kt->done = false;
    for (size_t a = 0; a <= e->plan->n_aggregations; a++)
        kt->eof[a] = kt->drain_to[a] = -1;
    int64_t started = eddy_mono_ns();
    kt->opened_ns = started;
    /* one changelog reader for the engine's life: a new client costs about
     * half a second of connection and metadata before its first record */
    eddy_err_t err = EDDY_OK;
    if (!e->reader && !(err = eddy__kreader_new(&e->conf, &e->reader)))
        eddy__kreader_warm(e->reader, (const char *const *)e->changelogs, e->n_stores);
    for (size_t s = 0; !err && s < e->n_stores; s++)
        err = restore_store_retrying(e, e->reader, s, partition, &kt->stores[s]);
    if (!err)
        err = check_fingerprints(e, kt);
    if (!err)
        err = eddy__kconsumer_committed(e->consumer, e->plan->source.topic, partition,
                                        &kt->committed_offset, &kt->committed_stream_time);
    if (!err)
        err = task_load(e, kt);
    if (err) {
        eddy_log(EDDY_LOG_ERROR, "task", "cannot open task for partition %d: %s", partition,
                 eddy_err_message(err));
        return err;
    }
    kt->active = true;
    eddy_log(EDDY_LOG_INFO, "task", "partition %d ready in %.3f s (stream time %lld)", partition,
             (double)(eddy_mono_ns() - started) / 1e9, (long long)eddy__task_stream_time(kt->task));
    return EDDY_OK;
}

static void add_stats(struct eddy_task_stats *sum, const struct eddy_task_stats *st)
{
    sum->records_in += st->records_in;
    sum->records_ok += st->records_ok;
    sum->duplicates += st->duplicates;
    sum->results_out += st->results_out;
    sum->revisions_out += st->revisions_out;
    sum->updates_out += st->updates_out;
    sum->alerts_out += st->alerts_out;
    sum->matches_out += st->matches_out;
    sum->partials_dropped += st->partials_dropped;
    sum->archive_rows += st->archive_rows;
    sum->archive_rows_written += st->archive_rows_written;
    sum->archive_files += st->archive_files;
    sum->archive_errors += st->archive_errors;
    for (int r = 0; r < EDDY_DL__COUNT; r++)
        sum->dead_letters[r] += st->dead_letters[r];
}

static void task_close(struct ktask *kt)
{
    if (!kt->active)
        return;
    struct eddy_kengine *e = kt->engine;
    add_stats(&e->closed_totals, eddy__task_stats(kt->task));
    if (e->view) {
        eddy__view_drop_partition(e->view, kt->partition);
        e->directory_dirty = true;
    }
    eddy__task_free(kt->task);
    kt->task = NULL;
    kt->active = false;
    kt->next_offset = -1;
}

/* ---- commit protocol ---- */

struct commit_ctx {
    struct eddy_kengine *engine;
    struct ktask *kt;
};

static size_t store_index(const struct eddy_kengine *e, const char *store)
{
    for (size_t s = 0; s < e->n_stores; s++)
        if (strcmp(e->store_names[s], store) == 0)
            return s;
    return 0;
}

static eddy_err_t change_put(void *ctx, const char *store, const void *key, size_t key_len,
                             const void *value, size_t value_len)
{
    struct commit_ctx *c = ctx;
    struct eddy_kengine *e = c->engine;
    size_t s = store_index(e, store);
    eddy_err_t perr =
        eddy__pending_put(e->unflushed, s, c->kt->partition, key, key_len, value, value_len);
    if (perr)
        return perr;
    /* the stream time commits with the input offset (positions()); RocksDB
     * keeps it too, the changelog no longer does */
    if (key_len == 11 && memcmp(key, "stream_time", 11) == 0 &&
        strcmp(store, EDDY_TASK_META_STORE) == 0)
        return EDDY_OK;
    if (e->view) {
        eddy_err_t err =
            eddy__view_stage_row(e->view, c->kt->partition, store, key, key_len, value, value_len);
        if (err)
            return err;
    }
    return eddy__kproducer_send(e->producer, e->changelogs[s], c->kt->partition, key, key_len,
                                value, value_len);
}

/* A closed session's row leaves the store and the changelog; the serving
 * view keeps it for its retention. */
static eddy_err_t change_retire(void *ctx, const char *store, const void *key, size_t key_len)
{
    struct commit_ctx *c = ctx;
    struct eddy_kengine *e = c->engine;
    size_t s = store_index(e, store);
    eddy_err_t err = eddy__pending_put(e->unflushed, s, c->kt->partition, key, key_len, NULL, 0);
    return err ? err
               : eddy__kproducer_send(e->producer, e->changelogs[s], c->kt->partition, key, key_len,
                                      NULL, 0);
}

static eddy_err_t change_closed(void *ctx, const char *store, int64_t start)
{
    struct commit_ctx *c = ctx;
    return eddy__pending_closed(c->engine->unflushed, store_index(c->engine, store),
                                c->kt->partition, start);
}

/* The input offset a commit carries for @kt (-1: none); positions(). */
static int64_t input_offset(const struct ktask *kt)
{
    return kt->next_offset >= 0 ? kt->next_offset : kt->committed_offset;
}

/*
 * The offsets to commit: each active task's input and repartition
 * positions. The input offset carries the task's stream time as its
 * metadata (source/kafka.h, eddy__offset_meta_format), so that it commits in
 * the same transaction; a record in the meta changelog at every commit added
 * that topic's partitions to every transaction (1.0-1.3 s of broker CPU over
 * 2M events instead of 0.5-0.8 s). A task that has processed nothing since
 * it opened commits its committed offset again, with its stream time (idle
 * ticks move it without records).
 */
static eddy_err_t positions(struct eddy_kengine *e, rd_kafka_topic_partition_list_t **out)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(e->n_partitions);
    eddy_err_t err = EDDY_OK;
    for (int p = 0; p < e->n_partitions; p++) {
        const struct ktask *kt = &e->tasks[p];
        if (!kt->active)
            continue;
        int64_t offset = input_offset(kt), stream_time = eddy__task_stream_time(kt->task);
        if (offset >= 0) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_add(list, e->plan->source.topic, p);
            tp->offset = offset;
            if (stream_time != INT64_MIN) {
                char meta[64];
                size_t len = eddy__offset_meta_format(meta, sizeof meta, stream_time);
                /* freed by librdkafka with the list (free(), the same allocator) */
                if (!(tp->metadata = eddy_malloc(len))) {
                    err = EDDY_ENOMEM;
                } else {
                    memcpy(tp->metadata, meta, len);
                    tp->metadata_size = len;
                }
            }
        }
        for (size_t a = 0; a < e->plan->n_aggregations; a++)
            if (e->repart_topics[a] && kt->repart_next[a] >= 0)
                rd_kafka_topic_partition_list_add(list, e->repart_topics[a], p)->offset =
                    kt->repart_next[a];
    }
    *out = list;
    return err;
}

static rd_kafka_topic_partition_list_t *active_partitions(struct eddy_kengine *e)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(e->n_partitions);
    for (int p = 0; p < e->n_partitions; p++) {
        if (!e->tasks[p].active)
            continue;
        rd_kafka_topic_partition_list_add(list, e->plan->source.topic, p);
        for (size_t a = 0; a < e->plan->n_aggregations; a++)
            if (e->repart_topics[a])
                rd_kafka_topic_partition_list_add(list, e->repart_topics[a], p);
    }
    return list;
}

/* A new producer (transactional with exactly once), its topics warmed so the
 * first commit does not wait for topic discovery. */
static eddy_err_t new_producer(struct eddy_kengine *e)
{
    eddy_err_t err =
        eddy__kproducer_new(&e->conf, e->exactly_once ? e->txn_id : NULL, &e->producer);
    if (!err)
        err = eddy__kproducer_warm(e->producer, e->topics, e->n_topics);
    return err;
}

static eddy_err_t begin(struct eddy_kengine *e)
{
    eddy__kproducer_reset_positions(e->producer);
    return e->exactly_once ? eddy__kproducer_begin(e->producer) : EDDY_OK;
}

/* After an aborted transaction: rewind the input, reload state from RocksDB. */
static int64_t changelog_next(void *ctx, size_t s, int32_t p)
{
    struct eddy_kengine *e = ctx;
    return e->tasks[p].active ? eddy__kproducer_next_offset(e->producer, e->changelogs[s], p) : -1;
}

static struct eddy_store *store_of(void *ctx, size_t s, int32_t p)
{
    struct eddy_kengine *e = ctx;
    return e->tasks[p].active ? e->tasks[p].stores[s] : NULL;
}

/* Writes the committed changes of @partition (-1: all) to RocksDB. */
static eddy_err_t flush_state(struct eddy_kengine *e, int32_t partition)
{
    eddy_err_t err = eddy__pending_flush(e->unflushed, e->state, e->batch, partition, store_of, e);
    if (partition < 0)
        e->flushed_ns = eddy_mono_ns();
    if (err)
        eddy_log(EDDY_LOG_ERROR, "state", "cannot write committed state to RocksDB: %s",
                 eddy_err_message(err));
    return err;
}

#define STATE_FLUSH_NS 2000000000LL

static eddy_err_t recover(struct eddy_kengine *e, eddy_err_t cause)
{
    e->aborts++;
    if (e->view) { /* nothing of the aborted transaction is served */
        eddy__view_discard(e->view);
        e->n_fresh = 0;
    }
    if (cause == EDDY_EKAFKA_FATAL) {
        eddy_log(EDDY_LOG_WARN, "commit", "producer is unusable; making a new one");
        eddy__kproducer_free(e->producer);
        e->producer = NULL;
        eddy_err_t err = new_producer(e);
        if (err)
            return err;
    } else if (cause == EDDY_EKAFKA && e->exactly_once) {
        eddy__kproducer_abort(e->producer);
    }
    eddy_log(EDDY_LOG_WARN, "commit",
             "transaction aborted (%s): rewinding to the committed "
             "offsets and reloading state",
             eddy_err_message(cause));
    eddy__pending_abort(e->unflushed);
    eddy_err_t ferr = flush_state(e, -1); /* the reload reads RocksDB */
    if (ferr)
        return ferr;
    rd_kafka_topic_partition_list_t *parts = active_partitions(e);
    eddy_err_t err = eddy__kconsumer_rewind(e->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    for (int p = 0; !err && p < e->n_partitions; p++)
        if (e->tasks[p].active) {
            e->tasks[p].next_offset = -1;
            for (size_t a = 0; a < e->plan->n_aggregations; a++)
                e->tasks[p].repart_next[a] = -1;
            err = task_load(e, &e->tasks[p]);
        }
    if (!err && e->backfill)
        err = backfill_rewound(e);
    return err ? err : begin(e);
}

/*
 * Repartition topic records:
 *   partial row: key = 8-byte window start + group key, value = the row's
 *     persisted form (ops/window.h; first byte EDDY_WINDOW_ROW_FORMAT), sent
 *     to the partition that owns the group key (eddy_hash64 of the group key
 *     modulo the partition count);
 *   stream-time report: no key, value = 'W', 8-byte big-endian source
 *     partition, 8-byte order-preserving stream time; sent to every partition
 *     after the task's partials of the same commit, so a report never
 *     overtakes a partial it covers.
 */
#define REPORT_TAG 'W'
#define EMPTY_REPORT_NS 5000000000LL /* 5 s, like Kafka Streams' task idling */

static eddy_err_t ship(void *ctx, size_t a, const void *key, size_t key_len, const void *value,
                       size_t value_len)
{
    struct ktask *kt = ctx;
    struct eddy_kengine *e = kt->engine;
    int32_t partition =
        (int32_t)(eddy_hash64((const char *)key + 8, key_len - 8, 0) % (uint64_t)e->n_partitions);
    return eddy__kproducer_send(e->producer, e->repart_topics[a], partition, key, key_len, value,
                                value_len);
}

/* Ships the partials of @kt and reports its stream time when it moved. */
static eddy_err_t ship_task(struct eddy_kengine *e, struct ktask *kt)
{
    eddy_err_t err = eddy__task_ship(kt->task, ship, kt);
    int64_t now = eddy__task_stream_time(kt->task);
    if (now == INT64_MIN) {
        /* no data yet: report "empty" (which lets downstream windows close
         * without this partition) only after an idle grace period, so a
         * partition the consumer has not fetched from yet holds them back */
        if (eddy_mono_ns() - kt->opened_ns < EMPTY_REPORT_NS)
            return err;
        now = EDDY_TASK_TIME_EMPTY;
    }
    if (err || now == kt->reported_time)
        return err;
    unsigned char report[17] = {REPORT_TAG};
    eddy__be64_put(report + 1, kt->partition);
    eddy__be64_put(report + 9, now);
    for (size_t a = 0; !err && a < e->plan->n_aggregations; a++)
        for (int p = 0; !err && e->repart_topics[a] && p < e->n_partitions; p++)
            err = eddy__kproducer_send(e->producer, e->repart_topics[a], p, NULL, 0, report,
                                       sizeof report);
    if (!err)
        kt->reported_time = now;
    return err;
}

static void clear_pending(struct eddy_kengine *e)
{
    for (size_t i = 0; i < e->n_pending_puts; i++) {
        eddy_free(e->pending_puts[i].key);
        eddy_free(e->pending_puts[i].value);
    }
    e->n_pending_puts = 0;
}

/* This instance's record in the directory (serve/serve.h). */
static eddy_err_t send_directory(struct eddy_kengine *e)
{
    struct eddy_buf v;
    eddy_buf_init(&v);
    eddy_buf_puts(&v, "{\"instance\":");
    eddy_buf_json_str(&v, e->opts->instance, strlen(e->opts->instance));
    eddy_buf_puts(&v, ",\"http\":");
    const char *addr = eddy__serve_address(e->serve);
    eddy_buf_json_str(&v, addr, strlen(addr));
    eddy_buf_puts(&v, ",\"partitions\":[");
    bool first = true;
    for (int p = 0; p < e->n_partitions; p++)
        if (e->tasks[p].active) {
            eddy_buf_printf(&v, first ? "%d" : ",%d", p);
            first = false;
        }
    eddy_buf_printf(&v, "],\"ts\":%lld}", (long long)eddy_now_ms());
    eddy_err_t err = eddy_buf_err(&v);
    if (!err)
        err = eddy__kproducer_send(e->producer, e->directory_topic, 0, e->opts->instance,
                                   strlen(e->opts->instance), v.data, v.len);
    eddy_buf_release(&v);
    if (!err) {
        e->directory_dirty = false;
        e->directory_ns = eddy_mono_ns();
    }
    return err;
}

/* The metrics snapshot, every 250 ms of the poll loop (and at once with @now). */
static void publish_metrics(struct eddy_kengine *e, bool now)
{
    int64_t t = eddy_mono_ns();
    if (!e->view || (!now && t - e->published_ns < 250000000LL))
        return;
    e->published_ns = t;
    struct eddy_metrics_snapshot *s = &e->snap;
    s->totals = e->closed_totals;
    s->commits = e->commits;
    s->aborts = e->aborts;
    s->n_partitions = e->n_partitions;
    s->assigned = 0;
    s->state_bytes = 0;
    memset(s->window_rows, 0, sizeof s->window_rows);
    rd_kafka_t *rk = e->consumer ? eddy__kconsumer_handle(e->consumer) : NULL;
    for (int p = 0; p < e->n_partitions && p < EDDY_METRICS_MAX_PARTITIONS; p++) {
        struct ktask *kt = &e->tasks[p];
        s->lag[p] = -1;
        if (!kt->active)
            continue;
        s->assigned++;
        add_stats(&s->totals, eddy__task_stats(kt->task));
        s->state_bytes += eddy__task_memory(kt->task);
        eddy__task_window_rows(kt->task, s->window_rows, EDDY_METRICS_MAX_AGGS);
        int64_t low, high;
        if (rk &&
            rd_kafka_get_watermark_offsets(rk, e->plan->source.topic, p, &low, &high) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            high >= 0) {
            int64_t pos = kt->next_offset >= 0 ? kt->next_offset : low;
            s->lag[p] = high > pos ? high - pos : 0;
        }
    }
    s->heartbeat_ns = t;
    eddy__metrics_publish(eddy__serve_metrics(e->serve), s, false);
}

/* Backfill: where the repartition records this process committed end (the
 * read_committed end read right after a commit can lag behind them: the
 * coordinator writes the commit markers after commit_transaction returns). */
static void note_repartition_writes(struct eddy_kengine *e)
{
    for (size_t a = 0; a < e->plan->n_aggregations; a++)
        for (int p = 0; e->repart_topics[a] && p < e->n_partitions; p++) {
            int64_t next = eddy__kproducer_next_offset(e->producer, e->repart_topics[a], p);
            int64_t *written = &e->bf_written[a * (size_t)e->n_partitions + (size_t)p];
            if (next > *written)
                *written = next;
        }
}

static eddy_err_t commit(struct eddy_kengine *e)
{
    int64_t started = eddy_mono_ns();
    eddy__pending_abort(e->unflushed); /* nothing is left from an earlier transaction */
    eddy_err_t err = EDDY_OK;
    int64_t now = eddy_now_ms();
    for (int p = 0; e->plan->n_archives && p < e->n_partitions; p++)
        if (e->tasks[p].active) /* seals go out with this transaction */
            eddy__task_archive_roll(e->tasks[p].task, now, false);
    for (int p = 0; !err && p < e->n_partitions; p++)
        if (e->tasks[p].active)
            err = ship_task(e, &e->tasks[p]);
    for (int p = 0; !err && p < e->n_partitions; p++) {
        if (!e->tasks[p].active)
            continue;
        struct commit_ctx c = {e, &e->tasks[p]};
        struct eddy_task_changes changes = {change_put, change_closed, &c, change_retire};
        err = eddy__task_changes(e->tasks[p].task, &changes);
    }
    for (size_t i = 0; !err && i < e->n_pending_puts; i++) {
        struct pending_put *p = &e->pending_puts[i];
        struct commit_ctx c = {e, &e->tasks[p->partition]};
        if (e->tasks[p->partition].active)
            err = change_put(&c, EDDY_TASK_META_STORE, p->key, strlen(p->key), p->value,
                             strlen(p->value));
    }
    if (!err && e->directory_topic &&
        (e->directory_dirty || eddy_mono_ns() - e->directory_ns >= 10000000000LL))
        err = send_directory(e);
    rd_kafka_topic_partition_list_t *offsets = NULL;
    eddy_err_t perr = positions(e, &offsets);
    if (!err)
        err = perr;
    if (!err)
        err = eddy__kproducer_commit(e->producer, eddy__kconsumer_handle(e->consumer), offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err == EDDY_EAGAIN || err == EDDY_EKAFKA || err == EDDY_EKAFKA_FATAL)
        return recover(e, err);
    if (err)
        return err;
    if (e->bf_written)
        note_repartition_writes(e);
    for (int p = 0; p < e->n_partitions; p++) { /* what positions() committed */
        struct ktask *kt = &e->tasks[p];
        if (!kt->active || input_offset(kt) < 0)
            continue;
        kt->committed_offset = input_offset(kt);
        kt->committed_stream_time = eddy__task_stream_time(kt->task);
    }
    /* committed: the changes join those waiting for RocksDB, with each
     * store's changelog position; written every STATE_FLUSH_NS */
    if ((err = eddy__pending_commit(e->unflushed, changelog_next, e)))
        return err;
    if ((eddy_mono_ns() - e->flushed_ns >= STATE_FLUSH_NS ||
         eddy__pending_bytes(e->unflushed) > e->flush_bytes) &&
        (err = flush_state(e, -1)))
        return err;
    clear_pending(e);
    /* archives: files sealed in a committed transaction become visible */
    for (int p = 0; e->plan->n_archives && p < e->n_partitions; p++) {
        if (!e->tasks[p].active)
            continue;
        eddy__task_archive_committed(e->tasks[p].task);
        if (eddy__task_archive_publish(e->tasks[p].task) == EDDY_ENOMEM)
            return EDDY_ENOMEM; /* EDDY_EIO: logged, tried again later */
    }
    int64_t took = eddy_mono_ns() - started;
    e->commits++;
    e->commit_ns_total += took;
    if (took > e->commit_ns_max)
        e->commit_ns_max = took;
    if (e->view) {
        eddy__view_publish(e->view, false); /* busy: with the next commit */
        eddy__hist_observe(&e->snap.commit, (double)took / 1e9);
        int64_t now = eddy_now_ms();
        for (size_t i = 0; i < e->n_fresh; i++)
            eddy__hist_observe(&e->snap.freshness, now > e->fresh_ends[i]
                                                       ? (double)(now - e->fresh_ends[i]) / 1e3
                                                       : 0.0);
        e->n_fresh = 0;
    }
    return begin(e);
}

/* ---- rebalance callbacks ---- */

static eddy_err_t on_assign(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct eddy_kengine *e = ctx;
    e->snap.readiness = EDDY_RESTORING;
    e->bf_phase = BF_RUNNING; /* backfill: a new assignment starts the finish over */
    publish_metrics(e, true);
    eddy_err_t err = EDDY_OK;
    for (int i = 0; !err && i < parts->cnt; i++) {
        eddy_log(EDDY_LOG_INFO, "rebalance", "assigned %s[%d]", parts->elems[i].topic,
                 parts->elems[i].partition);
        err = task_open(e, parts->elems[i].partition);
        /* backfill: the consumer set where input partitions start */
        if (!err && e->backfill && strcmp(parts->elems[i].topic, e->plan->source.topic) == 0)
            e->tasks[parts->elems[i].partition].position = parts->elems[i].offset;
    }
    eddy__state_loader_free(e->loader); /* the assignment's restores are done */
    e->loader = NULL;
    if (err)
        return e->pending = err;
    e->snap.readiness = EDDY_READY;
    e->snap.restore_remaining = 0;
    e->directory_dirty = true;
    if (e->view)
        eddy__view_publish(e->view, true); /* the restored windows */
    publish_metrics(e, true);
    return EDDY_OK;
}

static eddy_err_t on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct eddy_kengine *e = ctx;
    eddy_err_t err = EDDY_OK;
    if (e->failed || eddy__kconsumer_assignment_lost(e->consumer)) {
        eddy_log(EDDY_LOG_WARN, "rebalance", "partitions lost: dropping uncommitted work");
        if (e->exactly_once)
            eddy__kproducer_abort(e->producer);
        eddy__pending_abort(e->unflushed);
    } else {
        err = commit(e);
    }
    /* what was committed goes to RocksDB before the tasks close */
    eddy_err_t ferr = flush_state(e, -1);
    if (!err)
        err = ferr;
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        eddy_log(EDDY_LOG_INFO, "rebalance", "revoked %s[%d]", parts->elems[i].topic, p);
        if (p >= 0 && p < e->n_partitions)
            task_close(&e->tasks[p]);
    }
    if (err)
        e->pending = err;
    return err;
}

/* ---- eddy backfill ----
 *
 * Start: the consumer starts input partitions without a committed offset at
 * the offset for --from (eddy__kconsumer_start_at); on_assign notes where
 * each started. With --to, an input partition is done at its first record
 * at or past its end offset (bf_end: the first offset with a timestamp >=
 * --to, or the high watermark at start) or with a timestamp >= --to, or
 * once the consumer reports its end at or past bf_end (the end may be a
 * transaction marker): it is paused and its later records dropped. When
 * every input partition is done and this process owns them all: commit
 * (ships the last partials and stream times), then (BF_DRAINING) consume
 * the repartition partitions it owns past the last partial it committed to
 * each (bf_written) and at least to their read_committed end (what earlier
 * incarnations committed), then flush every task (every open window emitted
 * final, as at the end of a local run), commit, and stop. An abort on the
 * way rewinds everything (recover): the partitions are done again at once
 * and the sequence repeats from the reloaded, committed state.
 */

/* The offsets of every input partition for --from and for --to (or its
 * high watermark), for progress and for the stop point. */
static eddy_err_t backfill_offsets(struct eddy_kengine *e)
{
    const struct eddy_backfill_opts *b = e->backfill;
    rd_kafka_t *rk = eddy__kproducer_handle(e->producer);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(e->n_partitions);
    size_t n_written = (e->plan->n_aggregations + 1) * (size_t)e->n_partitions;
    e->bf_start = eddy_calloc((size_t)e->n_partitions, sizeof *e->bf_start);
    e->bf_end = eddy_calloc((size_t)e->n_partitions, sizeof *e->bf_end);
    e->bf_written = eddy_calloc(n_written, sizeof *e->bf_written);
    eddy_err_t err = e->bf_start && e->bf_end && e->bf_written ? EDDY_OK : EDDY_ENOMEM;
    for (size_t i = 0; e->bf_written && i < n_written; i++)
        e->bf_written[i] = -1;
    for (int p = 0; p < e->n_partitions; p++)
        rd_kafka_topic_partition_list_add(parts, e->plan->source.topic, p);
    if (!err)
        err = eddy__kafka_offsets_for_time(rk, parts, b->from_ms);
    for (int p = 0; !err && p < e->n_partitions; p++)
        e->bf_start[p] = parts->elems[p].offset;
    /* open-ended: "none is that new" is the high watermark */
    if (!err)
        err = eddy__kafka_offsets_for_time(rk, parts, b->to_ms);
    uint64_t total = 0;
    for (int p = 0; !err && p < e->n_partitions; p++) {
        e->bf_end[p] = parts->elems[p].offset;
        total += e->bf_end[p] > e->bf_start[p] ? (uint64_t)(e->bf_end[p] - e->bf_start[p]) : 0;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        eddy_log(EDDY_LOG_ERROR, "backfill", "cannot read the offsets of '%s' for the backfill",
                 e->plan->source.topic);
        return err;
    }
    char from[40], to[40] = "now, then live", count[16];
    eddy_time_format(b->from_ms, from);
    if (b->to_ms != EDDY_BACKFILL_OPEN_END)
        eddy_time_format(b->to_ms, to);
    eddy__backfill_count(total, count, sizeof count);
    eddy_log(EDDY_LOG_INFO, "backfill", "%s from %s to %s: %s records in %d partitions of '%s'",
             e->plan->name, from, to, count, e->n_partitions, e->plan->source.topic);
    e->bf_progress.tty = b->tty;
    return EDDY_OK;
}

static void on_eof(void *ctx, const char *topic, int32_t partition, int64_t offset)
{
    struct eddy_kengine *e = ctx;
    if (partition < 0 || partition >= e->n_partitions || !e->tasks[partition].active)
        return;
    struct ktask *kt = &e->tasks[partition];
    if (strcmp(topic, e->plan->source.topic) == 0)
        kt->eof[0] = offset;
    for (size_t a = 0; a < e->plan->n_aggregations; a++)
        if (e->repart_topics[a] && strcmp(topic, e->repart_topics[a]) == 0)
            kt->eof[1 + a] = offset;
}

static bool bounded(const struct eddy_kengine *e)
{
    return e->backfill && e->backfill->to_ms != EDDY_BACKFILL_OPEN_END;
}

/* Whether input partition @kt has reached its end offset. */
static bool reached_end(const struct eddy_kengine *e, const struct ktask *kt)
{
    int64_t end = e->bf_end[kt->partition];
    return kt->done || (kt->position >= 0 && kt->position >= end) || kt->eof[0] >= end;
}

static eddy_err_t pause_partition(struct eddy_kengine *e, int32_t partition, bool pause)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, e->plan->source.topic, partition);
    eddy_err_t err = pause ? eddy__kconsumer_pause(e->consumer, list)
                           : eddy__kconsumer_resume(e->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

static eddy_err_t mark_done(struct eddy_kengine *e, struct ktask *kt)
{
    kt->done = true;
    eddy__backfill_report_clear(&e->bf_progress);
    eddy_log(EDDY_LOG_INFO, "backfill", "%s[%d] done at offset %lld (end %lld)",
             e->plan->source.topic, kt->partition,
             (long long)(kt->position >= 0 ? kt->position : e->bf_start[kt->partition]),
             (long long)e->bf_end[kt->partition]);
    return pause_partition(e, kt->partition, true);
}

/* After a rewind to the committed offsets: nothing is done any more. */
static eddy_err_t backfill_rewound(struct eddy_kengine *e)
{
    e->bf_phase = BF_RUNNING;
    for (int p = 0; p < e->n_partitions; p++) {
        struct ktask *kt = &e->tasks[p];
        if (!kt->active)
            continue;
        kt->position = -1;
        for (size_t a = 0; a <= e->plan->n_aggregations; a++)
            kt->eof[a] = kt->drain_to[a] = -1;
        if (kt->done) {
            kt->done = false;
            eddy_err_t err = pause_partition(e, kt->partition, false);
            if (err)
                return err;
        }
    }
    return EDDY_OK;
}

/* Offsets done and to do of the assigned input partitions. */
static void backfill_count(const struct eddy_kengine *e, uint64_t *done, uint64_t *total,
                           int *assigned, int *at_end)
{
    *done = *total = 0;
    *assigned = *at_end = 0;
    for (int p = 0; p < e->n_partitions; p++) {
        const struct ktask *kt = &e->tasks[p];
        if (!kt->active)
            continue;
        int64_t start = e->bf_start[p], end = e->bf_end[p];
        int64_t pos = reached_end(e, kt) ? end : kt->position >= 0 ? kt->position : start;
        if (pos > end)
            pos = end;
        *total += end > start ? (uint64_t)(end - start) : 0;
        *done += pos > start ? (uint64_t)(pos - start) : 0;
        (*assigned)++;
        *at_end += reached_end(e, kt);
    }
}

/* BF_DRAINING: whether every owned repartition partition was consumed up
 * to the end read after the input was done. */
static bool drained(const struct eddy_kengine *e)
{
    for (int p = 0; p < e->n_partitions; p++)
        for (size_t a = 0; e->tasks[p].active && a < e->plan->n_aggregations; a++) {
            const struct ktask *kt = &e->tasks[p];
            if (e->repart_topics[a] && kt->eof[1 + a] < kt->drain_to[a] &&
                kt->repart_next[a] < kt->drain_to[a])
                return false;
        }
    return true;
}

/* The end to drain each owned repartition partition to: past the last
 * record this process committed there, and at least its read_committed end
 * now (records committed by an earlier incarnation, whose markers are long
 * written). */
static eddy_err_t start_draining(struct eddy_kengine *e)
{
    /* the producer's connection: the consumer's may be held by a long-poll
     * fetch (fetch.wait.max.ms) for each query */
    rd_kafka_t *rk = eddy__kproducer_handle(e->producer);
    for (int p = 0; p < e->n_partitions; p++)
        for (size_t a = 0; e->tasks[p].active && a < e->plan->n_aggregations; a++) {
            int64_t low, high;
            if (!e->repart_topics[a])
                continue;
            rd_kafka_resp_err_t rerr =
                rd_kafka_query_watermark_offsets(rk, e->repart_topics[a], p, &low, &high, 10000);
            if (rerr)
                return eddy__kafka_err(rk, rerr, "cannot read the end of a repartition topic");
            int64_t written = e->bf_written[a * (size_t)e->n_partitions + (size_t)p];
            e->tasks[p].drain_to[a] = high > written ? high : written;
            eddy_log(EDDY_LOG_DEBUG, "backfill",
                     "draining %s[%d] from %lld (end seen %lld) to "
                     "%lld",
                     e->repart_topics[a], p, (long long)e->tasks[p].repart_next[a],
                     (long long)e->tasks[p].eof[1 + a], (long long)e->tasks[p].drain_to[a]);
        }
    e->bf_phase = BF_DRAINING;
    return EDDY_OK;
}

/* Commits now; *committed is false when the transaction aborted instead
 * (commit() then recovered: everything was rewound). */
static eddy_err_t commit_now(struct eddy_kengine *e, bool *committed)
{
    uint64_t aborts = e->aborts;
    eddy_err_t err = commit(e);
    *committed = !err && e->aborts == aborts;
    return err;
}

static eddy_err_t backfill_finish(struct eddy_kengine *e)
{
    eddy_err_t err = EDDY_OK;
    for (int p = 0; !err && p < e->n_partitions; p++)
        if (e->tasks[p].active)
            err = eddy__task_flush(e->tasks[p].task);
    for (int p = 0; !err && p < e->n_partitions; p++)
        if (e->tasks[p].active) /* the last files are sealed with the last commit */
            eddy__task_archive_roll(e->tasks[p].task, eddy_now_ms(), true);
    bool committed = false;
    if (!err)
        err = commit_now(e, &committed);
    if (!err && committed) {
        e->bf_phase = BF_FINISHED;
        eddy__backfill_report_end(&e->bf_progress);
        char to[40];
        eddy_time_format(e->backfill->to_ms, to);
        eddy_log(EDDY_LOG_INFO, "backfill",
                 "complete: every input partition processed up to "
                 "%s, every open window emitted and committed",
                 to);
    }
    return err;
}

/* Once per poll-loop pass: done partitions, progress, and with a stop time
 * the finishing sequence. Sets *finished when the backfill is complete. */
static eddy_err_t backfill_step(struct eddy_kengine *e, bool *finished)
{
    eddy_err_t err = EDDY_OK;
    for (int p = 0; bounded(e) && !err && p < e->n_partitions; p++)
        if (e->tasks[p].active && !e->tasks[p].done && reached_end(e, &e->tasks[p]))
            err = mark_done(e, &e->tasks[p]);
    uint64_t done, total;
    int assigned, at_end;
    backfill_count(e, &done, &total, &assigned, &at_end);
    bool complete = !err && assigned > 0 && at_end == assigned;
    if (!e->bf_caught_up && assigned > 0)
        eddy__backfill_report(&e->bf_progress, done, total, eddy_mono_ns(), complete);
    if (complete && !e->bf_caught_up) {
        e->bf_caught_up = true; /* reported once per run */
        eddy__backfill_report_end(&e->bf_progress);
        if (!bounded(e))
            eddy_log(EDDY_LOG_INFO, "backfill", "backfill caught up: live from here");
    }
    if (err || !bounded(e) || !complete)
        return err;
    bool committed = false;
    if (e->bf_phase == BF_RUNNING) {
        if (assigned < e->n_partitions) {
            eddy__backfill_report_clear(&e->bf_progress);
            eddy_log(EDDY_LOG_ERROR, "backfill",
                     "cannot finish: this process owns %d of the %d "
                     "input partitions, another process is in group '%s'; a backfill with --to "
                     "must run as one process (docs/backfill.md): stop the others and start "
                     "one again (it resumes from the committed offsets)",
                     assigned, e->n_partitions, e->plan->name);
            return EDDY_ECONFIG;
        }
        if ((err = commit_now(e, &committed)) || !committed)
            return err;
        if ((err = start_draining(e)))
            return err;
        eddy_log(EDDY_LOG_INFO, "backfill", "every input partition is done; %s",
                 drained(e) ? "flushing every open window"
                            : "draining the repartition topics, then flushing");
    }
    if (e->bf_phase == BF_DRAINING && drained(e))
        err = backfill_finish(e);
    *finished = e->bf_phase == BF_FINISHED;
    return err;
}

/* ---- setup and main loop ---- */

static eddy_err_t setup(struct eddy_kengine *e)
{
    const struct eddy_plan *plan = e->plan;
    const struct eddy_kengine_opts *o = e->opts;
    e->exactly_once = plan->processing != EDDY_AT_LEAST_ONCE;
    if ((e->serve = o->serve) != NULL) {
        e->view = eddy__serve_view(e->serve);
        if (!(e->directory_topic = eddy__serve_directory_topic(plan)))
            return EDDY_ENOMEM;
    }
    e->props = eddy_calloc(plan->n_kafka + o->n_props + 5, sizeof *e->props);
    if (!e->props)
        return EDDY_ENOMEM;
    /* defaults that the topology's kafka: and -X properties (set after them)
     * override. The consumer's prefetch is small (512 KB per partition,
     * 4 MB per request and in the queue): with the fetch kicker
     * (source/kafka.c) it keeps one thread busy on a backlog (~1.1M
     * events/s at 53 MB RSS, where 16 MB fetches and a 64 MB queue without
     * the kicker gave ~450k at 420 MB). memory_limit L: at most L/64 per
     * partition and L/16 per request, in the queue and in the producer. */
    size_t n_defaults = 0, limit = plan->memory_limit;
    size_t fetch = limit && limit / 64 < ((size_t)512 << 10) ? limit / 64 : (size_t)512 << 10;
    size_t fetch_max = limit && limit / 16 < ((size_t)4 << 20) ? limit / 16 : (size_t)4 << 20;
    snprintf(e->fetch_bytes, sizeof e->fetch_bytes, "%zu", fetch);
    snprintf(e->fetch_max_bytes, sizeof e->fetch_max_bytes, "%zu", fetch_max);
    snprintf(e->queue_kbytes, sizeof e->queue_kbytes, "%zu", fetch_max / 1024);
    e->props[n_defaults++] =
        (struct eddy_kv){(char *)"consumer.max.partition.fetch.bytes", e->fetch_bytes};
    e->props[n_defaults++] =
        (struct eddy_kv){(char *)"consumer.fetch.max.bytes", e->fetch_max_bytes};
    e->props[n_defaults++] =
        (struct eddy_kv){(char *)"consumer.queued.max.messages.kbytes", e->queue_kbytes};
    if (plan->memory_limit) {
        snprintf(e->produce_kbytes, sizeof e->produce_kbytes, "%zu", limit / 16 / 1024);
        e->props[n_defaults++] =
            (struct eddy_kv){(char *)"producer.queue.buffering.max.kbytes", e->produce_kbytes};
        e->state_budget = plan->memory_limit / 2;
    }
    if (plan->n_kafka)
        memcpy(e->props + n_defaults, plan->kafka, plan->n_kafka * sizeof *e->props);
    if (o->n_props)
        memcpy(e->props + n_defaults + plan->n_kafka, o->props, o->n_props * sizeof *e->props);
    e->conf = (struct eddy_kconf){o->bootstrap, e->props, n_defaults + plan->n_kafka + o->n_props};
    eddy_err_t err;
    int64_t waited_ms = 0;
    for (int64_t backoff_ms = 500;; backoff_ms = backoff_ms < 30000 ? backoff_ms * 2 : 30000) {
        err = eddy__kafka_partition_count(&e->conf, plan->source.topic, &e->n_partitions);
        /* a topic just created may not be in every broker's metadata yet:
         * a missing input topic is waited for a minute, an unreachable
         * cluster until it answers */
        bool retry = err == EDDY_EKAFKA || (err == EDDY_ENOTFOUND && waited_ms < 60000);
        if (!retry || *e->stop)
            break;
        if (err == EDDY_ENOTFOUND)
            eddy_log(EDDY_LOG_WARN, "engine",
                     "input topic '%s' does not exist (yet); retrying "
                     "in %.1f s",
                     plan->source.topic, (double)backoff_ms / 1000);
        else
            eddy_log(EDDY_LOG_WARN, "engine",
                     "cannot reach the Kafka cluster at %s; retrying "
                     "in %.1f s",
                     o->bootstrap, (double)backoff_ms / 1000);
        struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        waited_ms += backoff_ms;
    }
    if (err == EDDY_ENOTFOUND)
        eddy_log(EDDY_LOG_ERROR, "engine", "input topic '%s' does not exist", plan->source.topic);
    if (err)
        return err;
    e->store_names = eddy_plan_store_names(plan, &e->n_stores);
    e->changelogs = eddy_calloc(e->n_stores, sizeof *e->changelogs);
    e->tasks = eddy_calloc((size_t)e->n_partitions, sizeof *e->tasks);
    e->dlq_topic = o->dlq_topic ? eddy_strdup(o->dlq_topic) : topic_name(plan->name, "dlq", "");
    e->txn_id = topic_name(plan->name, o->instance, "");
    e->repart_topics = eddy_calloc(plan->n_aggregations + 1, sizeof *e->repart_topics);
    e->topics =
        eddy_calloc(e->n_stores + 2 * plan->n_aggregations + plan->n_alerts + plan->n_patterns + 2,
                    sizeof *e->topics);
    if (!e->store_names || !e->changelogs || !e->tasks || !e->dlq_topic || !e->txn_id ||
        !e->repart_topics || !e->topics)
        return EDDY_ENOMEM;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (plan->aggregations[a].repartition &&
            !(e->repart_topics[a] =
                  topic_name(plan->name, plan->aggregations[a].name, "repartition")))
            return EDDY_ENOMEM;
    for (size_t s = 0; s < e->n_stores; s++) {
        if (!(e->changelogs[s] = topic_name(plan->name, e->store_names[s], "changelog")))
            return EDDY_ENOMEM;
    }
    for (int p = 0; p < e->n_partitions; p++) {
        e->tasks[p].stores = eddy_calloc(e->n_stores, sizeof *e->tasks[p].stores);
        e->tasks[p].repart_next = eddy_calloc(plan->n_aggregations + 1, sizeof(int64_t));
        e->tasks[p].backing = eddy_calloc(e->n_stores, sizeof *e->tasks[p].backing);
        e->tasks[p].eof = eddy_calloc(plan->n_aggregations + 1, sizeof(int64_t));
        e->tasks[p].drain_to = eddy_calloc(plan->n_aggregations + 1, sizeof(int64_t));
        if (!e->tasks[p].stores || !e->tasks[p].repart_next || !e->tasks[p].backing ||
            !e->tasks[p].eof || !e->tasks[p].drain_to)
            return EDDY_ENOMEM;
    }
    if ((err = create_topics(e)))
        return err;
    struct eddy_state_opts sopts = {0};
    if (plan->memory_limit) { /* RocksDB: block cache 1/4, memtables 1/8 */
        sopts.block_cache_bytes = plan->memory_limit / 4;
        sopts.write_buffer_bytes = plan->memory_limit / 8;
        eddy_log(EDDY_LOG_INFO, "memory",
                 "memory_limit %zu bytes: task state %zu, RocksDB block "
                 "cache %zu and memtables %zu, librdkafka queues %s KB (consumer) and %s KB "
                 "(producer)",
                 plan->memory_limit, e->state_budget, sopts.block_cache_bytes,
                 sopts.write_buffer_bytes, e->queue_kbytes, e->produce_kbytes);
    }
    if ((err = eddy__state_open(o->state_dir, &sopts, &e->state)))
        return err;
    if ((err = eddy__state_batch_new(&e->batch)) ||
        (err = eddy__pending_new(e->n_stores, e->n_partitions, &e->unflushed)))
        return err;
    e->flushed_ns = eddy_mono_ns();
    /* the unflushed changes are part of the task state's share */
    e->flush_bytes = e->state_budget ? e->state_budget / 4 : (size_t)64 << 20;
    if ((err = new_producer(e)) || (err = begin(e)))
        return err;
    if (e->backfill && (err = backfill_offsets(e)))
        return err;
    /* topic tables are read to their end before the group is joined */
    if ((err = eddy__ktables_start(plan, &e->conf, e->stop, &e->ktables)))
        return err;
    struct eddy_kconsumer_cbs cbs = {on_assign, on_revoke, e, e->backfill ? on_eof : NULL};
    const char **topics = eddy_calloc(plan->n_aggregations + 1, sizeof *topics);
    if (!topics)
        return EDDY_ENOMEM;
    size_t n = 0;
    topics[n++] = plan->source.topic;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (e->repart_topics[a])
            topics[n++] = e->repart_topics[a];
    err = eddy__kconsumer_new(&e->conf, plan->name, topics, n, &cbs, &e->consumer);
    eddy_free(topics);
    if (!err && e->backfill)
        err = eddy__kconsumer_start_at(e->consumer, plan->source.topic, e->backfill->from_ms);
    return err;
}

static void teardown(struct eddy_kengine *e)
{
    eddy__ktables_stop(e->ktables);
    eddy__kconsumer_free(e->consumer); /* revokes: the final commit happens there */
    eddy__kproducer_free(e->producer);
    eddy__kreader_free(e->reader);
    eddy__state_loader_free(e->loader);
    for (int p = 0; e->tasks && p < e->n_partitions; p++) {
        eddy__task_free(e->tasks[p].task);
        eddy_free(e->tasks[p].stores);
        eddy_free(e->tasks[p].repart_next);
        eddy_free(e->tasks[p].backing);
        eddy_free(e->tasks[p].eof);
        eddy_free(e->tasks[p].drain_to);
    }
    eddy_free(e->bf_start);
    eddy_free(e->bf_end);
    eddy_free(e->bf_written);
    for (size_t a = 0; e->repart_topics && a < e->plan->n_aggregations; a++)
        eddy_free(e->repart_topics[a]);
    eddy_free(e->repart_topics);
    eddy_free(e->topics);
    eddy_free(e->tasks);
    clear_pending(e);
    eddy_free(e->pending_puts);
    eddy__state_batch_free(e->batch);
    eddy__pending_free(e->unflushed);
    eddy__state_close(e->state);
    for (size_t s = 0; e->changelogs && s < e->n_stores; s++)
        eddy_free(e->changelogs[s]);
    eddy_free(e->changelogs);
    eddy_free(e->store_names);
    eddy_free(e->dlq_topic);
    eddy_free(e->txn_id);
    eddy_free(e->props);
    eddy_free(e->fresh_ends);
    eddy_free(e->directory_topic);
}

/* Whether a task has yet to report its stream time to the repartition
 * topics (even a task without data must, or no window closes downstream). */
static bool unreported(const struct eddy_kengine *e)
{
    for (size_t a = 0; a < e->plan->n_aggregations; a++)
        if (e->repart_topics[a])
            for (int p = 0; p < e->n_partitions; p++)
                if (e->tasks[p].active && e->tasks[p].reported_time == INT64_MIN)
                    return true;
    return false;
}

/* One consumed record: input to its task, or a partial aggregate from a
 * repartition topic to the task that owns its group key. */
static eddy_err_t route(struct eddy_kengine *e, struct ktask *kt, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (strcmp(topic, e->plan->source.topic) == 0) {
        if (bounded(e)) { /* backfill: nothing at or past the stop point */
            rd_kafka_timestamp_type_t type;
            int64_t ts = rd_kafka_message_timestamp(m, &type);
            if (kt->done)
                return EDDY_OK;
            if (m->offset >= e->bf_end[kt->partition] ||
                (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= e->backfill->to_ms))
                return mark_done(e, kt);
        }
        eddy_err_t err =
            eddy__task_process(kt->task, m->payload ? m->payload : "", m->len, m->offset, false);
        if (!err)
            kt->next_offset = kt->position = m->offset + 1;
        return err;
    }
    for (size_t a = 0; a < e->plan->n_aggregations; a++) {
        if (!e->repart_topics[a] || strcmp(topic, e->repart_topics[a]) != 0)
            continue;
        eddy_err_t err = EDDY_OK;
        const unsigned char *v = m->payload;
        if (m->len == 17 && v[0] == REPORT_TAG) {
            err = eddy__task_source_time(kt->task, a, (size_t)eddy__be64_get(v + 1),
                                         eddy__be64_get(v + 9));
        } else if (m->len > 0 && m->key) {
            err = eddy__task_merge(kt->task, a, m->key, m->key_len, v, m->len, m->offset);
        } else {
            eddy_log(EDDY_LOG_WARN, "engine", "skipping malformed record %s[%d]@%lld", topic,
                     kt->partition, (long long)m->offset);
        }
        if (!err)
            kt->repart_next[a] = m->offset + 1;
        return err;
    }
    return EDDY_OK;
}

static void log_progress(struct eddy_kengine *e, int64_t *last_log, uint64_t *last_records)
{
    int64_t now = eddy_mono_ns();
    if (now - *last_log < 10000000000LL)
        return;
    double secs = (double)(now - *last_log) / 1e9;
    struct eddy_task_stats sum = {0};
    for (int p = 0; p < e->n_partitions; p++)
        if (e->tasks[p].active)
            add_stats(&sum, eddy__task_stats(e->tasks[p].task));
    char counts[512];
    eddy__stats_format(&sum, counts, sizeof counts);
    eddy_log(EDDY_LOG_INFO, "engine",
             "%.0f records/s, %llu commits (avg %.1f ms, max %.1f ms), "
             "%llu aborts; tasks since opened: %s",
             (double)(e->records - *last_records) / secs, (unsigned long long)e->commits,
             e->commits ? (double)e->commit_ns_total / (double)e->commits / 1e6 : 0.0,
             (double)e->commit_ns_max / 1e6, (unsigned long long)e->aborts, counts);
    *last_log = now;
    *last_records = e->records;
}

/* Evictions and early commits may happen at every commit: logged at INFO
 * at most every 10 s, else at DEBUG. */
static enum eddy_log_level memory_log_level(struct eddy_kengine *e)
{
    int64_t now = eddy_mono_ns();
    if (e->memory_logged_ns && now - e->memory_logged_ns < 10000000000LL)
        return EDDY_LOG_DEBUG;
    e->memory_logged_ns = now;
    return EDDY_LOG_INFO;
}

static eddy_err_t pause_input(struct eddy_kengine *e, bool pause)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(e->n_partitions);
    for (int p = 0; p < e->n_partitions; p++)
        if (e->tasks[p].active && !e->tasks[p].done) /* a done backfill partition stays paused */
            rd_kafka_topic_partition_list_add(list, e->plan->source.topic, p);
    eddy_err_t err = pause ? eddy__kconsumer_pause(e->consumer, list)
                           : eddy__kconsumer_resume(e->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

/*
 * The memory budget, after each poll-loop pass. After a commit every row is
 * clean: when the task state is over the budget, evict (all tasks). Still
 * over right after a commit and eviction: what remains cannot be evicted
 * (rows waiting for an update emission, retained windows, dedup ids, a
 * closing window), so pause fetching the input partitions. A pause is lifted
 * as soon as the state is back under the budget, and in any case after one
 * commit interval (at least 1 s): that state shrinks only as stream time
 * advances, which needs input (or idle ticks), so a budget smaller than the
 * working set throttles input to one poll batch per pause instead of
 * stopping it for good.
 */
static eddy_err_t enforce_budget(struct eddy_kengine *e, bool committed, int64_t interval_ns)
{
    size_t mem = tasks_memory(e);
    if (committed) {
        e->commit_early = false;
        if (mem > e->state_budget) {
            /* evicted rows are read back from RocksDB: write it first */
            eddy_err_t err = flush_state(e, -1);
            if (err)
                return err;
            size_t freed = 0;
            for (int p = 0; p < e->n_partitions; p++)
                if (e->tasks[p].active && e->tasks[p].task)
                    freed += eddy__task_evict(e->tasks[p].task);
            e->evictions++;
            size_t after = tasks_memory(e);
            eddy_log(memory_log_level(e), "memory",
                     "task state %zu bytes over the budget of %zu: "
                     "evicted %zu bytes of committed rows, %zu left (%llu evictions, %llu early "
                     "commits, %llu pauses so far)",
                     mem, e->state_budget, freed, after, (unsigned long long)e->evictions,
                     (unsigned long long)e->early_commits, (unsigned long long)e->pauses);
            mem = after;
        }
        if (mem > e->state_budget && !e->paused) {
            eddy_err_t err = pause_input(e, true);
            if (err)
                return err;
            e->paused = true;
            e->paused_ns = eddy_mono_ns();
            e->pauses++;
            eddy_log(EDDY_LOG_WARN, "memory",
                     "task state %zu bytes still over the budget of "
                     "%zu after a commit and eviction: pausing input (RocksDB %zu bytes)",
                     mem, e->state_budget, eddy__state_memory(e->state));
            return EDDY_OK;
        }
    }
    if (!e->paused)
        return EDDY_OK;
    int64_t held = eddy_mono_ns() - e->paused_ns;
    int64_t max_ns = interval_ns > 1000000000LL ? interval_ns : 1000000000LL;
    if (mem <= e->state_budget || held >= max_ns) {
        eddy_err_t err = pause_input(e, false);
        if (err)
            return err;
        e->paused = false;
        eddy_log(mem <= e->state_budget ? EDDY_LOG_INFO : EDDY_LOG_WARN, "memory",
                 "resuming input after %.1f s: task state %zu bytes, budget %zu%s",
                 (double)held / 1e9, mem, e->state_budget,
                 mem <= e->state_budget ? "" : " (still over: throttling)");
    }
    return EDDY_OK;
}

eddy_err_t eddy__kengine_run(const struct eddy_plan *plan, const struct eddy_kengine_opts *opts,
                             volatile sig_atomic_t *stop)
{
    struct eddy_kengine e = {.plan = plan, .opts = opts, .stop = stop, .backfill = opts->backfill};
    int64_t interval_ns = (opts->commit_interval_ms > 0 ? opts->commit_interval_ms : 100) * 1000000;
    enum { BATCH = 2048 };
    rd_kafka_message_t *msgs[BATCH];
    eddy_err_t err = setup(&e);
    int64_t last_commit = eddy_mono_ns(), last_log = last_commit;
    uint64_t last_records = 0, uncommitted = 0;
    if (!err)
        eddy_log(EDDY_LOG_INFO, "engine", "%s: instance %s, %d input partitions, %s", plan->name,
                 opts->instance, e.n_partitions, e.exactly_once ? "exactly once" : "at least once");
    bool sealed = false; /* an archive file was sealed since the last commit */
    while (!err && !*stop) {
        size_t n = 0;
        err = eddy__kconsumer_poll(e.consumer, msgs, BATCH, 100, &n);
        if (!err && e.pending)
            err = e.pending;
        if (!err) /* safe point: topic-table updates land between poll batches */
            err = eddy__ktables_apply(e.ktables);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            struct ktask *kt = (m->partition >= 0 && m->partition < e.n_partitions)
                                   ? &e.tasks[m->partition]
                                   : NULL;
            if (!err && kt && kt->active) {
                err = route(&e, kt, m);
                uncommitted += !err;
            }
            rd_kafka_message_destroy(m);
        }
        e.records += n;
        /* idle-aware time: silent partitions move their stream time on */
        int64_t now_ms = eddy_now_ms();
        for (int p = 0; !err && p < e.n_partitions; p++)
            if (e.tasks[p].active && !e.tasks[p].done) /* done: waits for the final flush */
                err = eddy__task_tick(e.tasks[p].task, now_ms);
        if (err == EDDY_EAGAIN || err == EDDY_EKAFKA_FATAL) /* a send needed an abort */
            err = recover(&e, err);
        /* memory_limit: over the state budget, commit at once (then evict) */
        if (!err && e.state_budget && !e.commit_early && uncommitted &&
            tasks_memory(&e) > e.state_budget) {
            e.commit_early = true;
            e.early_commits++;
            eddy_log(EDDY_LOG_DEBUG, "memory",
                     "task state %zu bytes over the budget of %zu: "
                     "committing early",
                     tasks_memory(&e), e.state_budget);
        }
        /* archives: a file due is sealed, and the seal needs a commit; over
         * half the state budget every open file is (its rows leave memory
         * once published) */
        bool pressure = plan->n_archives && e.state_budget && tasks_memory(&e) > e.state_budget / 2;
        for (int p = 0; !err && plan->n_archives && p < e.n_partitions; p++)
            if (e.tasks[p].active)
                sealed |= eddy__task_archive_roll(e.tasks[p].task, now_ms, pressure);
        bool committed = false;
        if (!err &&
            (uncommitted || unreported(&e) || e.n_pending_puts || plan->idle_timeout_ms ||
             e.commit_early || sealed) &&
            (eddy_mono_ns() - last_commit >= interval_ns || e.commit_early)) {
            err = commit(&e);
            last_commit = eddy_mono_ns();
            uncommitted = 0;
            sealed = false;
            committed = true;
        }
        if (!err && e.state_budget)
            err = enforce_budget(&e, committed, interval_ns);
        /* archives: files whose publication failed are tried again */
        for (int p = 0; !err && plan->n_archives && p < e.n_partitions; p++)
            if (e.tasks[p].active && eddy__task_archive_publish(e.tasks[p].task) == EDDY_ENOMEM)
                err = EDDY_ENOMEM;
        bool finished = false;
        if (!err && e.backfill) {
            uint64_t commits = e.commits, aborts = e.aborts;
            err = backfill_step(&e, &finished);
            if (e.commits != commits || e.aborts != aborts) {
                last_commit = eddy_mono_ns();
                uncommitted = 0;
            }
        }
        log_progress(&e, &last_log, &last_records);
        publish_metrics(&e, false);
        if (finished)
            break;
    }
    if (e.backfill)
        eddy__backfill_report_end(&e.bf_progress);
    e.failed = err != EDDY_OK;
    if (err)
        eddy_log(EDDY_LOG_ERROR, "engine", "stopping: %s", eddy_err_message(err));
    else
        eddy_log(EDDY_LOG_INFO, "engine", "stopping: committing and leaving the group");
    teardown(&e);
    return err;
}
