/*
 * ktable.c - topic tables: the reader thread, the update queue and applying
 * updates at safe points; see ktable.h.
 *
 * An update is one allocation: the struct, then the decoded cells (a put),
 * then the key bytes and a NUL. The queue is a singly linked FIFO (head,
 * tail) under @lock; @queued mirrors its length so that an empty apply costs
 * one atomic load. The processing thread takes the whole list at once
 * (@held) and applies it; when a serving thread holds a table's read lock,
 * @held waits for the next call (never reordered: nothing is taken while
 * @held is non-empty).
 */
#include "source/ktable.h"

#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "sink/kafka_admin.h"

#define SUBSYS "table"
#define WAIT_TOPIC_MS 60000       /* a missing table topic is waited for this long */
#define LOCK_PATIENCE_NS 1000000000LL /* try-locks fail this long before apply blocks */
#define APPLY_LOG_INTERVAL_NS 1000000000LL
#define WARN_INTERVAL_MS 10000
#define PROGRESS_INTERVAL_NS 5000000000LL
#define READ_BATCH 256
#define WATERMARK_TIMEOUT_MS 10000

enum update_kind {
    U_PUT = 1,
    U_DELETE,
    U_BAD, /* skipped: no key, or not a JSON object; only counted */
};

struct update {
    struct update *next;
    struct eddy_table *table;
    enum update_kind kind;
    unsigned type_errors;
    struct eddy_value *cells; /* U_PUT: table->n_columns values, strings owned */
    char *key;                /* key_len bytes and a NUL */
    uint32_t key_len;
};

/* One partition of a table topic, as the reader thread follows it. */
struct part {
    const char *topic; /* the table's */
    int32_t partition;
    int64_t end;    /* high watermark at the start */
    bool caught_up; /* read up to end, or end-of-partition seen */
};

/* Per topic table: what the apply log has not reported yet. */
struct applied {
    uint64_t puts, deletes, bad, type_errors;
    int64_t logged_ns;
};

struct eddy_ktables {
    const struct eddy_plan *plan;
    size_t *tables; /* plan indices of the topic tables */
    size_t n_tables;
    struct applied *applied; /* per entry of tables; processing thread */

    pthread_mutex_t lock; /* head, tail, bootstrapped; signals cond */
    pthread_cond_t cond;  /* an update was queued, bootstrap done, reader failed */
    struct update *head, *tail;
    atomic_size_t queued;
    bool bootstrapped;
    atomic_int reader_err; /* eddy_err_t: the reader thread stopped on it */

    /* processing thread */
    struct update *held; /* taken from the queue, not applied yet (locks busy) */
    int64_t busy_since_ns;
    bool bootstrapping; /* quiet apply logs: bootstrap logs one summary */
    bool unlogged;      /* applied counts wait for the next log line */

    /* reader thread (set up before it starts) */
    rd_kafka_t *rk;
    struct part *parts;
    size_t n_parts;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop_reader;
    atomic_uint_fast64_t records; /* records read, for bootstrap progress */
    int64_t warned_ms;            /* rate limit of decode warnings */
    unsigned long warn_suppressed;
};

/* ---- decoding ------------------------------------------------------------ */

static bool json_cell(json_t *v, enum eddy_field_type type, struct eddy_value *cell, bool *nomem)
{
    switch (type) {
    case EDDY_FT_INT:
        if (!json_is_integer(v))
            return false;
        *cell = (struct eddy_value){.type = EDDY_V_INT, .as.i = json_integer_value(v)};
        return true;
    case EDDY_FT_NUMBER:
        if (json_is_integer(v))
            *cell = (struct eddy_value){.type = EDDY_V_INT, .as.i = json_integer_value(v)};
        else if (json_is_real(v))
            *cell = (struct eddy_value){.type = EDDY_V_NUM, .as.n = json_real_value(v)};
        else
            return false;
        return true;
    case EDDY_FT_BOOL:
        if (!json_is_boolean(v))
            return false;
        *cell = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = json_is_true(v)};
        return true;
    default: {
        if (!json_is_string(v))
            return false;
        size_t len = json_string_length(v);
        char *copy = len <= UINT32_MAX ? eddy_malloc(len + 1) : NULL;
        if (!copy) {
            *nomem = true;
            return true;
        }
        memcpy(copy, json_string_value(v), len);
        copy[len] = '\0';
        *cell = (struct eddy_value){.type = EDDY_V_STR, .as.s = {copy, (uint32_t)len}};
        return true;
    }
    }
}

eddy_err_t eddy__ktable_decode(const struct eddy_table *t, const void *value, size_t len,
                               struct eddy_value *cells, unsigned *type_errors,
                               const char **first_error)
{
    for (size_t j = 0; j < t->n_columns; j++)
        cells[j] = eddy_value_null();
    *type_errors = 0;
    *first_error = NULL;
    json_error_t jerr;
    json_t *doc = value ? json_loadb(value, len, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return EDDY_EPARSE;
    }
    bool nomem = false;
    for (size_t j = 0; j < t->n_columns && !nomem; j++) {
        json_t *v = j == t->key_column ? NULL : json_object_get(doc, t->columns[j]);
        if (!v || json_is_null(v) || json_cell(v, t->types[j], &cells[j], &nomem))
            continue;
        ++*type_errors;
        if (!*first_error)
            *first_error = t->columns[j];
    }
    json_decref(doc);
    if (nomem) {
        eddy__table_values_release(cells, t->n_columns);
        return EDDY_ENOMEM;
    }
    return EDDY_OK;
}

/* ---- the queue ------------------------------------------------------------ */

static void update_free(struct update *u)
{
    if (u && u->cells)
        eddy__table_values_release(u->cells, u->table->n_columns);
    eddy_free(u);
}

static void updates_free(struct update *u)
{
    while (u) {
        struct update *next = u->next;
        update_free(u);
        u = next;
    }
}

size_t eddy__ktables_queued(const struct eddy_ktables *kt)
{
    return kt ? atomic_load_explicit(&kt->queued, memory_order_relaxed) : 0;
}

/* A decode warning, at most one line per 10 s (reader thread). */
static void warn(struct eddy_ktables *kt, const struct eddy_table *t, int32_t partition,
                 int64_t offset, const char *what, const char *column)
{
    int64_t now = eddy_mono_ns() / 1000000;
    if (kt->warned_ms && now - kt->warned_ms < WARN_INTERVAL_MS) {
        kt->warn_suppressed++;
        return;
    }
    char suppressed[64] = "";
    if (kt->warn_suppressed)
        snprintf(suppressed, sizeof suppressed, " (%lu more warnings suppressed)",
                 kt->warn_suppressed);
    eddy_log(EDDY_LOG_WARN, SUBSYS, "table %s: record %s[%d]@%" PRId64 " %s%s%s%s", t->name,
             t->topic, (int)partition, offset, what, column ? column : "",
             column ? "' set to NULL" : "", suppressed);
    kt->warned_ms = now;
    kt->warn_suppressed = 0;
}

eddy_err_t eddy__ktables_push(struct eddy_ktables *kt, size_t table, const void *key, size_t klen,
                              const void *value, size_t vlen, int32_t partition, int64_t offset)
{
    struct eddy_table *t = kt->plan->tables[table];
    if (klen > UINT32_MAX) /* not a key Kafka can carry */
        key = NULL, klen = 0;
    size_t n_cells = value && key ? t->n_columns : 0;
    struct update *u = eddy_malloc(sizeof *u + n_cells * sizeof *u->cells + klen + 1);
    if (!u)
        return EDDY_ENOMEM;
    *u = (struct update){.table = t, .key_len = (uint32_t)klen};
    u->cells = n_cells ? (struct eddy_value *)(u + 1) : NULL;
    u->key = (char *)(u + 1) + n_cells * sizeof *u->cells;
    if (klen)
        memcpy(u->key, key, klen);
    u->key[klen] = '\0';
    const char *column = NULL;
    if (!key) {
        u->kind = U_BAD;
        warn(kt, t, partition, offset, "has no key: skipped", NULL);
    } else if (!value) {
        u->kind = U_DELETE;
    } else {
        eddy_err_t err = eddy__ktable_decode(t, value, vlen, u->cells, &u->type_errors, &column);
        if (err == EDDY_ENOMEM) {
            eddy_free(u);
            return err;
        }
        u->kind = err ? U_BAD : U_PUT;
        if (err) {
            u->cells = NULL; /* all NULL: nothing to release */
            warn(kt, t, partition, offset, "is not a JSON object: skipped", NULL);
        } else if (u->type_errors) {
            warn(kt, t, partition, offset, "has a value of the wrong type: column '", column);
        }
    }
    pthread_mutex_lock(&kt->lock);
    if (kt->tail)
        kt->tail->next = u;
    else
        kt->head = u;
    kt->tail = u;
    atomic_fetch_add_explicit(&kt->queued, 1, memory_order_relaxed);
    pthread_cond_broadcast(&kt->cond);
    pthread_mutex_unlock(&kt->lock);
    return EDDY_OK;
}

eddy_err_t eddy__ktables_new(const struct eddy_plan *plan, struct eddy_ktables **out)
{
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < plan->n_tables; i++)
        n += plan->tables[i]->topic != NULL;
    if (!n)
        return EDDY_OK;
    struct eddy_ktables *kt = eddy_calloc(1, sizeof *kt);
    if (!kt)
        return EDDY_ENOMEM;
    kt->plan = plan;
    kt->tables = eddy_calloc(n, sizeof *kt->tables);
    kt->applied = eddy_calloc(n, sizeof *kt->applied);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&kt->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&kt->lock, NULL);
    atomic_init(&kt->queued, 0);
    atomic_init(&kt->reader_err, EDDY_OK);
    atomic_init(&kt->stop_reader, false);
    atomic_init(&kt->records, 0);
    if (!kt->tables || !kt->applied) {
        eddy__ktables_stop(kt);
        return EDDY_ENOMEM;
    }
    for (size_t i = 0; i < plan->n_tables; i++)
        if (plan->tables[i]->topic)
            kt->tables[kt->n_tables++] = i;
    *out = kt;
    return EDDY_OK;
}

/* ---- applying ------------------------------------------------------------- */

static void unlock_tables(struct eddy_ktables *kt, size_t n)
{
    while (n-- > 0)
        pthread_rwlock_unlock(&kt->plan->tables[kt->tables[n]]->lock);
}

/* Write-locks every topic table: try-locks, or blocking once they have
 * failed for LOCK_PATIENCE_NS (or at once with @block). False: busy, try at
 * the next call. */
static bool lock_tables(struct eddy_ktables *kt, bool block)
{
    size_t i = 0;
    while (i < kt->n_tables &&
           pthread_rwlock_trywrlock(&kt->plan->tables[kt->tables[i]]->lock) == 0)
        i++;
    if (i == kt->n_tables) {
        kt->busy_since_ns = 0;
        return true;
    }
    unlock_tables(kt, i);
    int64_t now = eddy_mono_ns();
    if (!kt->busy_since_ns)
        kt->busy_since_ns = now;
    if (!block && now - kt->busy_since_ns < LOCK_PATIENCE_NS)
        return false;
    for (i = 0; i < kt->n_tables; i++)
        pthread_rwlock_wrlock(&kt->plan->tables[kt->tables[i]]->lock);
    kt->busy_since_ns = 0;
    return true;
}

static struct applied *applied_of(struct eddy_ktables *kt, const struct eddy_table *t)
{
    for (size_t i = 0; i < kt->n_tables; i++)
        if (kt->plan->tables[kt->tables[i]] == t)
            return &kt->applied[i];
    return &kt->applied[0]; /* not reached: updates come from topic tables */
}

/* Logs what was applied per table, at most once a second each. */
static void log_applied(struct eddy_ktables *kt)
{
    int64_t now = eddy_mono_ns();
    kt->unlogged = false;
    for (size_t i = 0; i < kt->n_tables; i++) {
        struct applied *a = &kt->applied[i];
        const struct eddy_table *t = kt->plan->tables[kt->tables[i]];
        uint64_t n = a->puts + a->deletes + a->bad;
        if (!n)
            continue;
        if (a->logged_ns && now - a->logged_ns < APPLY_LOG_INTERVAL_NS) {
            kt->unlogged = true;
            continue;
        }
        eddy_log(EDDY_LOG_INFO, SUBSYS,
                 "table %s: %" PRIu64 " update%s from %s applied (%" PRIu64 " put, %" PRIu64
                 " tombstones, %" PRIu64 " skipped, %" PRIu64 " type errors), %zu row%s",
                 t->name, n, n == 1 ? "" : "s", t->topic, a->puts, a->deletes, a->bad,
                 a->type_errors, t->n_rows, t->n_rows == 1 ? "" : "s");
        *a = (struct applied){.logged_ns = now};
    }
}

static eddy_err_t apply_one(struct eddy_ktables *kt, struct update *u)
{
    struct eddy_table *t = u->table;
    struct applied *a = applied_of(kt, t);
    switch (u->kind) {
    case U_PUT: {
        eddy_err_t err = eddy__table_put_take(t, u->key, u->key_len, u->cells);
        u->cells = NULL; /* taken */
        if (err)
            return err;
        t->stats.puts++;
        t->stats.type_errors += u->type_errors;
        a->puts++;
        a->type_errors += u->type_errors;
        return EDDY_OK;
    }
    case U_DELETE:
        t->stats.deletes += eddy__table_delete(t, u->key, u->key_len);
        a->deletes++; /* tombstones, whether or not the row was there */
        return EDDY_OK;
    default:
        t->stats.bad_records++;
        a->bad++;
        return EDDY_OK;
    }
}

static eddy_err_t apply(struct eddy_ktables *kt, bool block)
{
    if (!kt)
        return EDDY_OK;
    eddy_err_t err = (eddy_err_t)atomic_load_explicit(&kt->reader_err, memory_order_relaxed);
    if (!kt->held) {
        if (atomic_load_explicit(&kt->queued, memory_order_relaxed) == 0) {
            if (kt->unlogged)
                log_applied(kt);
            return err;
        }
        pthread_mutex_lock(&kt->lock);
        kt->held = kt->head;
        kt->head = kt->tail = NULL;
        atomic_store_explicit(&kt->queued, 0, memory_order_relaxed);
        pthread_mutex_unlock(&kt->lock);
    }
    if (!kt->held || !lock_tables(kt, block))
        return err;
    eddy_err_t applied = EDDY_OK;
    while (kt->held && !applied) {
        struct update *u = kt->held;
        kt->held = u->next;
        applied = apply_one(kt, u);
        update_free(u);
    }
    unlock_tables(kt, kt->n_tables);
    if (!kt->bootstrapping)
        log_applied(kt);
    return applied ? applied : err;
}

eddy_err_t eddy__ktables_apply(struct eddy_ktables *kt)
{
    return apply(kt, false);
}

/* ---- the reader thread ---------------------------------------------------- */

static struct part *part_of(struct eddy_ktables *kt, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < kt->n_parts; i++)
        if (kt->parts[i].partition == partition && strcmp(kt->parts[i].topic, topic) == 0)
            return &kt->parts[i];
    return NULL;
}

static eddy_err_t on_message(struct eddy_ktables *kt, const rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    struct part *p = part_of(kt, topic, m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p)
            p->caught_up = true;
        return EDDY_OK;
    }
    if (m->err) {
        if (rd_kafka_fatal_error(kt->rk, NULL, 0)) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot read table topic %s: %s", topic,
                     rd_kafka_message_errstr(m));
            return EDDY_EKAFKA_FATAL;
        }
        int64_t now = eddy_mono_ns() / 1000000;
        if (!kt->warned_ms || now - kt->warned_ms >= WARN_INTERVAL_MS) {
            eddy_log(EDDY_LOG_WARN, SUBSYS, "consumer error on %s[%d]: %s", topic,
                     (int)m->partition, rd_kafka_message_errstr(m));
            kt->warned_ms = now;
        }
        return EDDY_OK;
    }
    atomic_fetch_add_explicit(&kt->records, 1, memory_order_relaxed);
    for (size_t i = 0; i < kt->n_tables; i++) {
        const struct eddy_table *t = kt->plan->tables[kt->tables[i]];
        if (strcmp(t->topic, topic) != 0)
            continue;
        eddy_err_t err = eddy__ktables_push(kt, kt->tables[i], m->key, m->key ? m->key_len : 0,
                                            m->payload, m->payload ? m->len : 0, m->partition,
                                            m->offset);
        if (err)
            return err;
    }
    if (p && m->offset + 1 >= p->end)
        p->caught_up = true;
    return EDDY_OK;
}

static bool all_caught_up(const struct eddy_ktables *kt)
{
    for (size_t i = 0; i < kt->n_parts; i++)
        if (!kt->parts[i].caught_up)
            return false;
    return true;
}

static void *reader_main(void *arg)
{
    struct eddy_ktables *kt = arg;
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(kt->rk);
    rd_kafka_message_t *batch[READ_BATCH];
    eddy_err_t err = EDDY_OK;
    bool bootstrapped = false;
    while (!err && !atomic_load(&kt->stop_reader)) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, READ_BATCH);
        if (n < 0) {
            struct timespec pause = {0, 100000000L};
            nanosleep(&pause, NULL);
            n = 0;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (!err)
                err = on_message(kt, batch[i]);
            rd_kafka_message_destroy(batch[i]);
        }
        if (!bootstrapped && all_caught_up(kt)) {
            bootstrapped = true;
            pthread_mutex_lock(&kt->lock);
            kt->bootstrapped = true;
            pthread_cond_broadcast(&kt->cond);
            pthread_mutex_unlock(&kt->lock);
        }
    }
    if (err) {
        pthread_mutex_lock(&kt->lock);
        atomic_store(&kt->reader_err, err);
        pthread_cond_broadcast(&kt->cond);
        pthread_mutex_unlock(&kt->lock);
    }
    rd_kafka_queue_destroy(queue);
    return NULL;
}

/* ---- starting: partitions, the client, bootstrap --------------------------- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Partition count of @topic; waits up to a minute for a missing topic and as
 * long as it takes for an unreachable cluster (like the input topic). */
static eddy_err_t partition_count(const struct eddy_kconf *conf, const struct eddy_table *t,
                                  volatile sig_atomic_t *stop, int *out)
{
    int64_t waited_ms = 0;
    for (int64_t backoff_ms = 500;; backoff_ms = backoff_ms < 8000 ? backoff_ms * 2 : 8000) {
        eddy_err_t err = eddy__kafka_partition_count(conf, t->topic, out);
        bool retry = err == EDDY_EKAFKA || (err == EDDY_ENOTFOUND && waited_ms < WAIT_TOPIC_MS);
        if (!retry || (stop && *stop)) {
            if (err == EDDY_ENOTFOUND)
                eddy_log(EDDY_LOG_ERROR, SUBSYS, "table %s: topic '%s' does not exist", t->name,
                         t->topic);
            return err;
        }
        if (err == EDDY_ENOTFOUND)
            eddy_log(EDDY_LOG_WARN, SUBSYS, "table %s: topic '%s' does not exist (yet); retrying "
                     "in %.1f s", t->name, t->topic, (double)backoff_ms / 1000);
        sleep_ms(backoff_ms);
        waited_ms += backoff_ms;
    }
}

static eddy_err_t reader_client(struct eddy_ktables *kt, const struct eddy_kconf *conf)
{
    /* A group.id is needed for assign() in librdkafka 2.0; this consumer
     * never subscribes nor commits, so it never joins the group. */
    static const char *const forced[] = {
        "group.id", "eddy-table-reader", "enable.auto.commit", "false",
        "enable.auto.offset.store", "false", "enable.partition.eof", "true",
        "isolation.level", "read_committed", "auto.offset.reset", "earliest", NULL,
    };
    /* Changes reach the processing thread within about 0.2 s: the broker
     * answers a fetch when data arrives or after fetch.wait.max.ms, and an
     * empty fetch backs off fetch.error.backoff.ms (500 ms by default). */
    static const char *const defaults[] = {
        "fetch.wait.max.ms", "100", "fetch.error.backoff.ms", "100", NULL,
    };
    rd_kafka_conf_t *rconf = NULL;
    eddy_err_t err = eddy__kafka_conf_new(conf, EDDY_KCLIENT_CONSUMER, defaults, forced, &rconf);
    if (!err)
        err = eddy__kafka_client_new(EDDY_KCLIENT_CONSUMER, rconf, &kt->rk);
    if (!err)
        rd_kafka_poll_set_consumer(kt->rk);
    return err;
}

/* Partitions of every table topic (each topic once), their ends, and the
 * assignment from the beginning. */
static eddy_err_t reader_open(struct eddy_ktables *kt, const struct eddy_kconf *conf,
                              volatile sig_atomic_t *stop)
{
    int *counts = eddy_calloc(kt->n_tables, sizeof *counts);
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(8);
    eddy_err_t err = counts ? EDDY_OK : EDDY_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; !err && i < kt->n_tables; i++) {
        const struct eddy_table *t = kt->plan->tables[kt->tables[i]];
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(kt->plan->tables[kt->tables[j]]->topic, t->topic) == 0;
        if (!seen && !(err = partition_count(conf, t, stop, &counts[i])))
            total += (size_t)counts[i];
    }
    if (!err)
        err = reader_client(kt, conf);
    if (!err && !(kt->parts = eddy_calloc(total ? total : 1, sizeof *kt->parts)))
        err = EDDY_ENOMEM;
    for (size_t i = 0; !err && i < kt->n_tables; i++) {
        const char *topic = kt->plan->tables[kt->tables[i]]->topic;
        for (int32_t p = 0; !err && p < counts[i]; p++) {
            int64_t low = 0, high = 0;
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(kt->rk, topic, p, &low, &high,
                                                                     WATERMARK_TIMEOUT_MS);
            if (e) {
                char what[320];
                snprintf(what, sizeof what, "cannot read the end offset of %s[%d]", topic, (int)p);
                err = eddy__kafka_err(kt->rk, e, what);
                break;
            }
            kt->parts[kt->n_parts++] = (struct part){topic, p, high, high <= low};
            rd_kafka_topic_partition_list_add(assignment, topic, p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    if (!err) {
        rd_kafka_resp_err_t e = rd_kafka_assign(kt->rk, assignment);
        if (e)
            err = eddy__kafka_err(kt->rk, e, "cannot assign the table topics");
    }
    rd_kafka_topic_partition_list_destroy(assignment);
    eddy_free(counts);
    return err;
}

/* The summary line of each table once its topic has been read. */
static void log_bootstrapped(struct eddy_ktables *kt, int64_t started_ns)
{
    double secs = (double)(eddy_mono_ns() - started_ns) / 1e9;
    for (size_t i = 0; i < kt->n_tables; i++) {
        struct eddy_table *t = kt->plan->tables[kt->tables[i]];
        pthread_rwlock_wrlock(&t->lock);
        size_t dropped = eddy__table_drop_file_rows(t);
        pthread_rwlock_unlock(&t->lock);
        struct applied *a = &kt->applied[i];
        eddy_log(EDDY_LOG_INFO, SUBSYS, "table %s: %zu row%s from %s in %.1f s", t->name,
                 t->n_rows, t->n_rows == 1 ? "" : "s", t->topic, secs);
        if (dropped)
            eddy_log(EDDY_LOG_WARN, SUBSYS, "table %s: %zu row%s of %s not on %s: dropped",
                     t->name, dropped, dropped == 1 ? "" : "s", t->file, t->topic);
        if (a->bad || a->type_errors)
            eddy_log(EDDY_LOG_WARN, SUBSYS, "table %s: %" PRIu64 " records skipped, %" PRIu64
                     " cells of the wrong type set to NULL", t->name, a->bad, a->type_errors);
        *a = (struct applied){0};
    }
}

/* Applies updates as they come until the reader has caught up. */
static eddy_err_t bootstrap(struct eddy_ktables *kt, volatile sig_atomic_t *stop)
{
    int64_t started = eddy_mono_ns(), logged = started;
    kt->bootstrapping = true;
    eddy_err_t err = EDDY_OK;
    for (bool done = false; !err && !done;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&kt->lock);
        if (!kt->bootstrapped && !kt->head && !atomic_load(&kt->reader_err))
            pthread_cond_timedwait(&kt->cond, &kt->lock, &until);
        done = kt->bootstrapped;
        pthread_mutex_unlock(&kt->lock);
        /* done: everything queued before bootstrapped was set is applied
         * now (the second call takes what the first found held) */
        err = apply(kt, done);
        if (!err && done)
            err = apply(kt, true);
        if (!err && !done && stop && *stop) {
            eddy_log(EDDY_LOG_INFO, SUBSYS, "reading the table topics: interrupted");
            kt->bootstrapping = false;
            return EDDY_OK;
        }
        int64_t now = eddy_mono_ns();
        if (!done && now - logged >= PROGRESS_INTERVAL_NS) {
            eddy_log(EDDY_LOG_INFO, SUBSYS, "reading the table topics: %" PRIu64 " records",
                     (uint64_t)atomic_load(&kt->records));
            logged = now;
        }
    }
    kt->bootstrapping = false;
    if (!err)
        log_bootstrapped(kt, started);
    return err;
}

eddy_err_t eddy__ktables_start(const struct eddy_plan *plan, const struct eddy_kconf *conf,
                               volatile sig_atomic_t *stop, struct eddy_ktables **out)
{
    struct eddy_ktables *kt = NULL;
    *out = NULL;
    eddy_err_t err = eddy__ktables_new(plan, &kt);
    if (err || !kt)
        return err;
    if ((err = reader_open(kt, conf, stop)))
        goto fail;
    if (pthread_create(&kt->thread, NULL, reader_main, kt) != 0) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot start the table reader thread");
        err = EDDY_ENOMEM;
        goto fail;
    }
    kt->thread_started = true;
    if ((err = bootstrap(kt, stop)))
        goto fail;
    *out = kt;
    return EDDY_OK;
fail:
    eddy__ktables_stop(kt);
    return err;
}

void eddy__ktables_stop(struct eddy_ktables *kt)
{
    if (!kt)
        return;
    if (kt->thread_started) {
        atomic_store(&kt->stop_reader, true);
        pthread_join(kt->thread, NULL);
    }
    if (kt->rk) {
        rd_kafka_consumer_close(kt->rk);
        rd_kafka_destroy(kt->rk);
    }
    updates_free(kt->held);
    updates_free(kt->head);
    pthread_cond_destroy(&kt->cond);
    pthread_mutex_destroy(&kt->lock);
    eddy_free(kt->parts);
    eddy_free(kt->tables);
    eddy_free(kt->applied);
    eddy_free(kt);
}

void eddy__ktables_log_unread(const struct eddy_plan *plan)
{
    for (size_t i = 0; i < plan->n_tables; i++) {
        const struct eddy_table *t = plan->tables[i];
        if (t->topic)
            eddy_log(EDDY_LOG_INFO, SUBSYS,
                     "table %s: topic %s not read (no --bootstrap): %zu row%s%s%s", t->name,
                     t->topic, t->n_rows, t->n_rows == 1 ? "" : "s", t->file ? " from " : "",
                     t->file ? t->file : "");
    }
}
