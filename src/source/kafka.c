/*
 * source/kafka.c - the Kafka consumer and the changelog partition reader; see
 * kafka.h for the contract.
 *
 * Invariants:
 * - c->rebalances counts rebalance callbacks; eddy__kconsumer_poll compares it
 *   around each rd_kafka_consumer_poll to drop records gathered before a
 *   rebalance (eager protocol: every partition was revoked, so they belong to
 *   no task any more).
 * - c->cb_err holds the first callback error not yet returned by a poll.
 * - With a start time (eddy__kconsumer_start_at), every assignment and rewind
 *   sets an explicit offset on each partition of the start topic: its
 *   committed offset, else the one for the start time; never
 *   auto.offset.reset.
 * - The partition reader is done when librdkafka reports end-of-partition at
 *   an offset >= the high watermark read at the start: the end-of-partition
 *   offset of a read_committed consumer is its fetch position at the last
 *   stable offset, past transaction markers and aborted records.
 */
#include "source/kafka.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"

#define SUBSYS "kafka"
#define ERR_LOG_INTERVAL_MS 10000
#define ERR_LOG_SLOTS 8
#define COMMITTED_TIMEOUT_MS 10000
#define WATERMARK_TIMEOUT_MS 10000
#define PROGRESS_INTERVAL_MS 2000
#define STALL_TIMEOUT_MS 120000
#define READ_BATCH 1024

static int64_t mono_ms(void)
{
    return eddy_mono_ns() / 1000000;
}

/* Rate limit for repeated message-level errors: one line per code per 10 s. */
struct err_limiter {
    rd_kafka_resp_err_t code[ERR_LOG_SLOTS];
    int64_t last_ms[ERR_LOG_SLOTS];
    unsigned long suppressed[ERR_LOG_SLOTS];
};

static void log_message_error(struct err_limiter *lim, const rd_kafka_message_t *m)
{
    int64_t now = mono_ms();
    size_t slot = 0, oldest = 0;
    for (; slot < ERR_LOG_SLOTS; slot++) {
        if (lim->code[slot] == m->err && lim->last_ms[slot])
            break;
        if (lim->last_ms[slot] < lim->last_ms[oldest])
            oldest = slot;
    }
    if (slot == ERR_LOG_SLOTS) {
        slot = oldest;
        lim->code[slot] = m->err;
        lim->last_ms[slot] = 0;
        lim->suppressed[slot] = 0;
    } else if (now - lim->last_ms[slot] < ERR_LOG_INTERVAL_MS) {
        lim->suppressed[slot]++;
        return;
    }
    eddy_log(EDDY_LOG_WARN, SUBSYS, "consumer error on %s[%d]: %s (%lu more like it suppressed)",
             m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
             rd_kafka_message_errstr(m), lim->suppressed[slot]);
    lim->last_ms[slot] = now ? now : 1;
    lim->suppressed[slot] = 0;
}

/* "topic[0,1,2] other[3]" into @out (truncated with "..."). */
static void format_parts(const rd_kafka_topic_partition_list_t *parts, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; parts && i < parts->cnt && len + 1 < size; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        bool same = i > 0 && strcmp(parts->elems[i - 1].topic, tp->topic) == 0;
        int w = same ? snprintf(out + len - 1, size - len + 1, ",%d]", (int)tp->partition) - 1
                     : snprintf(out + len, size - len, "%s%s[%d]", i ? " " : "", tp->topic,
                                (int)tp->partition);
        if (w < 0 || len + (size_t)w >= size) {
            if (size > 4)
                memcpy(out + size - 4, "...", 4);
            return;
        }
        len += (size_t)w;
    }
}

/* ---- group consumer ---- */

/* ---- fetch kicker ----
 *
 * librdkafka 2.0.2 stops fetching a partition while the consumer queue holds
 * queued.min.messages records or queued.max.messages.kbytes bytes, and looks
 * again only when its broker thread next wakes up: up to a second later when
 * nothing else happens on that connection (later versions added
 * fetch.queue.backoff.ms for this). With queues small enough for a memory
 * budget, eddy drains them long before that: the processing thread waited
 * for records 70% of the time of a backlog. A kicker thread watches the
 * queue; once it has drained to half of its peak since the last kick it asks
 * the partitions' leaders for their end offsets (rd_kafka_offsets_for_times:
 * one ListOffsets request per leader), which wakes each leader's broker
 * thread, and fetching resumes at once. A queue that never fills (live
 * traffic) is never kicked.
 */
#define KICK_MIN_PEAK 256 /* records: below this the fetcher is not stalled */
#define KICK_TICK_NS 1000000
#define KICK_TIMEOUT_MS 1000

struct kicker {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    rd_kafka_topic_partition_list_t *parts; /* under lock; NULL when unassigned */
    uint64_t kicks;                         /* under lock */
};

static void kick(struct kicker *k)
{
    pthread_mutex_lock(&k->lock);
    rd_kafka_topic_partition_list_t *parts =
        k->parts ? rd_kafka_topic_partition_list_copy(k->parts) : NULL;
    k->kicks++;
    pthread_mutex_unlock(&k->lock);
    if (!parts)
        return;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = -1; /* the latest offset: any answer will do */
    rd_kafka_offsets_for_times(k->rk, parts, KICK_TIMEOUT_MS);
    rd_kafka_topic_partition_list_destroy(parts);
}

static void *kicker_main(void *arg)
{
    struct kicker *k = arg;
    size_t peak = 0;
    pthread_mutex_lock(&k->lock);
    while (!k->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += KICK_TICK_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&k->cond, &k->lock, &until);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->lock);
        size_t len = rd_kafka_queue_length(k->queue);
        if (len > peak)
            peak = len;
        if (peak >= KICK_MIN_PEAK && len <= peak / 2) {
            kick(k);
            peak = rd_kafka_queue_length(k->queue);
        }
        pthread_mutex_lock(&k->lock);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

static struct kicker *kicker_start(rd_kafka_t *rk)
{
    struct kicker *k = eddy_calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->rk = rk;
    k->queue = rd_kafka_queue_get_consumer(rk);
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    if (!k->queue || pthread_create(&k->thread, NULL, kicker_main, k) != 0) {
        eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot start the fetch kicker: a drained queue may "
                                        "wait up to 1 s for the next fetch");
        if (k->queue)
            rd_kafka_queue_destroy(k->queue);
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        eddy_free(k);
        return NULL;
    }
    return k;
}

/* @parts: the partitions being fetched now (copied), or NULL for none. */
static void kicker_assign(struct kicker *k, const rd_kafka_topic_partition_list_t *parts)
{
    if (!k)
        return;
    rd_kafka_topic_partition_list_t *copy =
        parts && parts->cnt ? rd_kafka_topic_partition_list_copy(parts) : NULL;
    pthread_mutex_lock(&k->lock);
    rd_kafka_topic_partition_list_t *old = k->parts;
    k->parts = copy;
    pthread_mutex_unlock(&k->lock);
    if (old)
        rd_kafka_topic_partition_list_destroy(old);
}

/* Before the client is closed. Accepts NULL. */
static void kicker_stop(struct kicker *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    eddy_log(EDDY_LOG_DEBUG, SUBSYS, "fetch kicker: %" PRIu64 " kicks", k->kicks);
    kicker_assign(k, NULL);
    rd_kafka_queue_destroy(k->queue);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
    eddy_free(k);
}

struct eddy_kconsumer {
    rd_kafka_t *rk;
    struct eddy_kconsumer_cbs cbs;
    unsigned long rebalances;
    eddy_err_t cb_err;
    struct err_limiter limiter;
    struct kicker *kicker; /* NULL if it could not start */
    /* eddy__kconsumer_start_at: where partitions of start_topic without a
     * committed offset start (NULL: at the beginning) */
    char *start_topic;
    int64_t start_ms;
};

/* ---- start offsets by time ---- */

eddy_err_t eddy__kafka_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                                        int64_t ts_ms)
{
    char what[320];
    /* the high watermarks first: a record appended after them is past the
     * answer for "none is that new", never skipped by it */
    int64_t *high = eddy_calloc((size_t)parts->cnt + 1, sizeof *high);
    if (!high)
        return EDDY_ENOMEM;
    eddy_err_t result = EDDY_OK;
    rd_kafka_topic_partition_list_t *query = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t low = 0;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, tp->topic, tp->partition, &low, &high[i], WATERMARK_TIMEOUT_MS);
        if (err) {
            snprintf(what, sizeof what, "cannot read the offsets of %s[%d]", tp->topic,
                     (int)tp->partition);
            result = eddy__kafka_err(rk, err, what);
            goto out;
        }
        query->elems[i].offset = ts_ms;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, query, WATERMARK_TIMEOUT_MS);
    for (int i = 0; !err && i < query->cnt; i++)
        err = query->elems[i].err;
    if (err) {
        result = eddy__kafka_err(rk, err, "cannot look up offsets by timestamp");
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = query->elems[i].offset >= 0 ? query->elems[i].offset : high[i];
out:
    rd_kafka_topic_partition_list_destroy(query);
    eddy_free(high);
    return result;
}

/* The group's committed offsets of the elements of @list (offsets < 0:
 * none), then for those of the start topic without one the offset for the
 * start time. Retried a few times: a rebalance has no one to report to. */
static eddy_err_t start_offsets(struct eddy_kconsumer *c, rd_kafka_topic_partition_list_t *list)
{
    eddy_err_t err = EDDY_EKAFKA;
    for (int attempt = 0; attempt < 3 && err == EDDY_EKAFKA; attempt++) {
        if (attempt)
            usleep(500000);
        for (int i = 0; i < list->cnt; i++)
            list->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t rerr = rd_kafka_committed(c->rk, list, COMMITTED_TIMEOUT_MS);
        for (int i = 0; !rerr && i < list->cnt; i++)
            rerr = list->elems[i].err;
        if (rerr) {
            err = eddy__kafka_err(c->rk, rerr, "cannot read the committed offsets");
            continue;
        }
        rd_kafka_topic_partition_list_t *by_time = rd_kafka_topic_partition_list_new(list->cnt);
        for (int i = 0; i < list->cnt; i++)
            if (list->elems[i].offset < 0 && c->start_topic &&
                strcmp(list->elems[i].topic, c->start_topic) == 0)
                rd_kafka_topic_partition_list_add(by_time, list->elems[i].topic,
                                                  list->elems[i].partition);
        err = by_time->cnt ? eddy__kafka_offsets_for_time(c->rk, by_time, c->start_ms) : EDDY_OK;
        for (int i = 0; !err && i < by_time->cnt; i++)
            rd_kafka_topic_partition_list_find(list, by_time->elems[i].topic,
                                               by_time->elems[i].partition)
                ->offset = by_time->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(by_time);
    }
    return err;
}

#define OFFSET_META_PREFIX "eddy:st="

size_t eddy__offset_meta_format(char *buf, size_t cap, int64_t stream_time)
{
    int n = snprintf(buf, cap, OFFSET_META_PREFIX "%" PRId64, stream_time);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

bool eddy__offset_meta_parse(const void *meta, size_t len, int64_t *stream_time)
{
    const char *s = meta;
    size_t plen = sizeof OFFSET_META_PREFIX - 1, i = plen;
    if (!meta || len <= plen || memcmp(s, OFFSET_META_PREFIX, plen) != 0)
        return false;
    bool negative = s[i] == '-';
    i += negative;
    if (i == len || len - i > 19)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + negative)
        return false;
    *stream_time = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

eddy_err_t eddy__kconsumer_committed(struct eddy_kconsumer *c, const char *topic,
                                     int32_t partition, int64_t *offset, int64_t *stream_time)
{
    eddy_err_t err = EDDY_EKAFKA;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, topic, partition);
    for (int attempt = 0; attempt < 3 && err == EDDY_EKAFKA; attempt++) {
        if (attempt)
            usleep(500000);
        tp->offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t rerr = rd_kafka_committed(c->rk, list, COMMITTED_TIMEOUT_MS);
        if (!rerr)
            rerr = tp->err;
        err = rerr ? eddy__kafka_err(c->rk, rerr, "cannot read the committed offset") : EDDY_OK;
    }
    if (!err) {
        *offset = tp->offset >= 0 ? tp->offset : -1;
        if (!eddy__offset_meta_parse(tp->metadata, tp->metadata_size, stream_time))
            *stream_time = INT64_MIN;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

eddy_err_t eddy__kconsumer_start_at(struct eddy_kconsumer *c, const char *topic, int64_t ts_ms)
{
    char *copy = eddy_strdup(topic);
    if (!copy)
        return EDDY_ENOMEM;
    eddy_free(c->start_topic);
    c->start_topic = copy;
    c->start_ms = ts_ms;
    return EDDY_OK;
}

/* On assignment with a start time: the offsets of the start topic's
 * partitions become where they start. */
static eddy_err_t set_start_offsets(struct eddy_kconsumer *c,
                                    rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, c->start_topic) == 0)
            rd_kafka_topic_partition_list_add(list, parts->elems[i].topic,
                                              parts->elems[i].partition);
    eddy_err_t err = list->cnt ? start_offsets(c, list) : EDDY_OK;
    for (int i = 0; !err && i < list->cnt; i++) {
        rd_kafka_topic_partition_list_find(parts, list->elems[i].topic, list->elems[i].partition)
            ->offset = list->elems[i].offset;
        eddy_log(EDDY_LOG_DEBUG, SUBSYS, "%s[%d] starts at offset %" PRId64,
                 list->elems[i].topic, (int)list->elems[i].partition, list->elems[i].offset);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct eddy_kconsumer *c = opaque;
    char text[512];
    eddy_err_t cb_err = EDDY_OK;
    rd_kafka_resp_err_t assign_err;
    c->rebalances++;
    format_parts(parts, text, sizeof text);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        eddy_log(EDDY_LOG_INFO, SUBSYS, "assigned %d partition(s): %s", parts->cnt, text);
        if (c->start_topic && (cb_err = set_start_offsets(c, parts)))
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot tell where to start %s: not processing it",
                     text);
        else if (c->cbs.on_assign)
            cb_err = c->cbs.on_assign(c->cbs.ctx, parts);
        assign_err = rd_kafka_assign(rk, parts);
        kicker_assign(c->kicker, parts);
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            eddy_log(rd_kafka_assignment_lost(rk) ? EDDY_LOG_WARN : EDDY_LOG_INFO, SUBSYS,
                     "%s %d partition(s): %s", rd_kafka_assignment_lost(rk) ? "lost" : "revoked",
                     parts->cnt, text);
        else
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "rebalance failed: %s; dropping %s",
                     rd_kafka_err2str(err), text);
        if (c->cbs.on_revoke)
            cb_err = c->cbs.on_revoke(c->cbs.ctx, parts);
        kicker_assign(c->kicker, NULL);
        assign_err = rd_kafka_assign(rk, NULL);
    }
    if (cb_err && !c->cb_err)
        c->cb_err = cb_err;
    if (assign_err) {
        eddy_err_t e = eddy__kafka_err(rk, assign_err, "cannot apply the new assignment");
        if (!c->cb_err)
            c->cb_err = e;
    }
}

static eddy_err_t subscribe(rd_kafka_t *rk, const char *const *topics, size_t n_topics)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    return err ? eddy__kafka_err(rk, err, "cannot subscribe") : EDDY_OK;
}

eddy_err_t eddy__kconsumer_new(const struct eddy_kconf *conf, const char *group_id,
                               const char *const *topics, size_t n_topics,
                               const struct eddy_kconsumer_cbs *cbs, struct eddy_kconsumer **out)
{
    static const char *const defaults[] = {"session.timeout.ms", "10000", NULL};
    const char *forced[] = {
        "enable.partition.eof",
        cbs && cbs->on_eof ? "true" : "false",
        "group.id",
        group_id,
        "partition.assignment.strategy",
        "range",
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        "isolation.level",
        "read_committed",
        "auto.offset.reset",
        "earliest",
        NULL,
    };
    rd_kafka_conf_t *rconf = NULL;
    eddy_err_t err;
    struct eddy_kconsumer *c = eddy_calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return EDDY_ENOMEM;
    if (cbs)
        c->cbs = *cbs;
    if ((err = eddy__kafka_conf_new(conf, EDDY_KCLIENT_CONSUMER, defaults, forced, &rconf)))
        goto out;
    rd_kafka_conf_set_rebalance_cb(rconf, on_rebalance);
    rd_kafka_conf_set_opaque(rconf, c);
    if ((err = eddy__kafka_client_new(EDDY_KCLIENT_CONSUMER, rconf, &c->rk)))
        goto out;
    rd_kafka_poll_set_consumer(c->rk);
    c->kicker = kicker_start(c->rk);
    err = subscribe(c->rk, topics, n_topics);
out:
    if (err) {
        eddy__kconsumer_free(c);
        return err;
    }
    *out = c;
    return EDDY_OK;
}

void eddy__kconsumer_free(struct eddy_kconsumer *c)
{
    if (!c)
        return;
    if (c->rk) {
        kicker_stop(c->kicker); /* before the close's revocation */
        c->kicker = NULL;
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
        if (err)
            eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot close the consumer cleanly: %s",
                     rd_kafka_err2str(err));
        rd_kafka_destroy(c->rk);
    }
    eddy_free(c->start_topic);
    eddy_free(c);
}

rd_kafka_t *eddy__kconsumer_handle(struct eddy_kconsumer *c)
{
    return c->rk;
}

bool eddy__kconsumer_assignment_lost(struct eddy_kconsumer *c)
{
    return rd_kafka_assignment_lost(c->rk) != 0;
}

static void drop_messages(rd_kafka_message_t **msgs, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        rd_kafka_message_destroy(msgs[i]);
    *n = 0;
}

eddy_err_t eddy__kconsumer_poll(struct eddy_kconsumer *c, rd_kafka_message_t **msgs, size_t max,
                                int timeout_ms, size_t *n)
{
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    *n = 0;
    while (*n < max) {
        /* once a message is in, the rest of the batch is taken without
         * waiting (and without reading the clock per message: it was 6% of
         * the thread on a backlog) */
        int64_t left = *n ? 0 : deadline - mono_ms();
        unsigned long rebalances = c->rebalances;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left <= 0 ? 0 : (int)left);
        if (c->rebalances != rebalances)
            drop_messages(msgs, n);
        if (!m) {
            if (*n || mono_ms() >= deadline || c->cb_err)
                break;
            continue;
        }
        if (!m->err) {
            msgs[(*n)++] = m;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
            rd_kafka_message_destroy(m);
            drop_messages(msgs, n);
            return eddy__kafka_err(c->rk, RD_KAFKA_RESP_ERR__FATAL, "consumer failed");
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && c->cbs.on_eof && m->rkt)
            c->cbs.on_eof(c->cbs.ctx, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_message_error(&c->limiter, m);
        rd_kafka_message_destroy(m);
    }
    if (c->cb_err) {
        eddy_err_t err = c->cb_err;
        c->cb_err = EDDY_OK;
        drop_messages(msgs, n);
        return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__kconsumer_rewind(struct eddy_kconsumer *c,
                                  const rd_kafka_topic_partition_list_t *parts)
{
    char text[512];
    eddy_err_t result = EDDY_OK;
    rd_kafka_error_t *error = NULL;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < list->cnt; i++)
        list->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    if (c->start_topic) { /* no committed offset: the one for the start time */
        if ((result = start_offsets(c, list)))
            goto out;
    } else {
        rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, list, COMMITTED_TIMEOUT_MS);
        if (err) {
            result = eddy__kafka_err(c->rk, err, "cannot read the committed offsets to rewind to");
            goto out;
        }
    }
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err) {
            snprintf(text, sizeof text, "cannot read the committed offset of %s[%d]", tp->topic,
                     (int)tp->partition);
            result = eddy__kafka_err(c->rk, tp->err, text);
            goto out;
        }
        if (tp->offset < 0)
            tp->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    /* -1: a finite timeout is buggy in librdkafka 2.0.x. */
    if ((error = rd_kafka_seek_partitions(c->rk, list, -1))) {
        eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot rewind: %s", rd_kafka_error_string(error));
        result = rd_kafka_error_is_fatal(error) ? EDDY_EKAFKA_FATAL : EDDY_EKAFKA;
        goto out;
    }
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err) {
            snprintf(text, sizeof text, "cannot rewind %s[%d]", list->elems[i].topic,
                     (int)list->elems[i].partition);
            result = eddy__kafka_err(c->rk, list->elems[i].err, text);
            goto out;
        }
    format_parts(list, text, sizeof text);
    eddy_log(EDDY_LOG_INFO, SUBSYS, "rewound %d partition(s) to their committed offsets: %s",
             list->cnt, text);
out:
    if (error)
        rd_kafka_error_destroy(error);
    rd_kafka_topic_partition_list_destroy(list);
    return result;
}

static eddy_err_t pause_resume(struct eddy_kconsumer *c,
                               const rd_kafka_topic_partition_list_t *parts, bool pause)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(c->rk, list) : rd_kafka_resume_partitions(c->rk, list);
    for (int i = 0; !err && i < list->cnt; i++)
        err = list->elems[i].err;
    rd_kafka_topic_partition_list_destroy(list);
    return err ? eddy__kafka_err(c->rk, err,
                                 pause ? "cannot pause partitions" : "cannot resume partitions")
               : EDDY_OK;
}

eddy_err_t eddy__kconsumer_pause(struct eddy_kconsumer *c,
                                 const rd_kafka_topic_partition_list_t *parts)
{
    return pause_resume(c, parts, true);
}

eddy_err_t eddy__kconsumer_resume(struct eddy_kconsumer *c,
                                  const rd_kafka_topic_partition_list_t *parts)
{
    return pause_resume(c, parts, false);
}

/* ---- changelog partition reader ---- */

typedef eddy_err_t (*record_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                size_t vlen, int64_t offset);

struct reader {
    const char *topic;
    int32_t partition;
    int64_t start, high; /* offsets to read: [start, high) */
    int64_t records;
    int64_t t0_ms, last_log_ms, last_progress_ms;
    int64_t offset; /* the last record's offset + 1, or the end-of-partition offset */
    bool quiet;     /* eddy__kreader_quiet */
};

static void reader_progress(struct reader *r, int64_t now, bool done)
{
    double secs = (double)(now - r->t0_ms) / 1000.0;
    double rate = secs > 0 ? (double)r->records / secs : 0;
    double offsets_rate = secs > 0 ? (double)(r->offset - r->start) / secs : 0;
    enum eddy_log_level level = r->quiet ? EDDY_LOG_DEBUG : EDDY_LOG_INFO;
    if (done) {
        eddy_log(level, SUBSYS,
                 "read %s[%d]: %" PRId64
                 " records in %.1f s (%.0f records/s), next offset %" PRId64,
                 r->topic, (int)r->partition, r->records, secs, rate, r->offset);
        return;
    }
    double eta = offsets_rate > 0 ? (double)(r->high - r->offset) / offsets_rate : -1;
    eddy_log(level, SUBSYS,
             "reading %s[%d]: %" PRId64 " records, %.0f records/s, offset %" PRId64 " of %" PRId64
             ", eta %.0f s",
             r->topic, (int)r->partition, r->records, rate, r->offset, r->high, eta);
    r->last_log_ms = now;
}

static eddy_err_t reader_client(const struct eddy_kconf *conf, rd_kafka_t **out)
{
    /* A group.id is needed for assign() in librdkafka 2.0; this one never
     * subscribes nor commits, so it never joins. */
    static const char *const forced[] = {
        "group.id",
        "eddy-partition-reader",
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        "enable.partition.eof",
        "true",
        "isolation.level",
        "read_committed",
        "auto.offset.reset",
        "earliest",
        NULL,
    };
    /* Restores read one partition as fast as possible: large fetches. */
    static const char *const defaults[] = {
        "max.partition.fetch.bytes",
        "16777216",
        "fetch.max.bytes",
        "67108864",
        /* at the end of a partition the broker holds an empty fetch this
         * long before the end-of-partition event: 100 ms cost a restore
         * 0.2 s per partition; with data waiting it does not matter */
        "fetch.wait.max.ms",
        "10",
        /* an empty fetch at the end of a small partition must not back off
         * for the default 500 ms before the end-of-partition event */
        "fetch.error.backoff.ms",
        "10",
        NULL,
    };
    rd_kafka_conf_t *rconf = NULL;
    eddy_err_t err = eddy__kafka_conf_new(conf, EDDY_KCLIENT_CONSUMER, defaults, forced, &rconf);
    if (err)
        return err;
    if ((err = eddy__kafka_client_new(EDDY_KCLIENT_CONSUMER, rconf, out)))
        return err;
    rd_kafka_poll_set_consumer(*out);
    return EDDY_OK;
}

static bool topic_missing(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* Handles one record or event of the reader; sets *done at the end. */
static eddy_err_t reader_message(struct reader *r, const rd_kafka_message_t *m, int64_t now,
                                 record_fn fn, void *ctx, struct err_limiter *limiter, bool *done)
{
    if (!m->err) {
        r->records++;
        r->offset = m->offset + 1;
        r->last_progress_ms = now;
        return fn(ctx, m->key, m->key_len, m->payload, m->payload ? m->len : 0, m->offset);
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        r->last_progress_ms = now;
        if (m->offset > r->offset)
            r->offset = m->offset;
        *done = m->offset >= r->high;
        return EDDY_OK;
    }
    if (topic_missing(m->err)) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot read %s[%d]: %s", r->topic, (int)r->partition,
                 rd_kafka_message_errstr(m));
        return EDDY_ENOTFOUND;
    }
    log_message_error(limiter, m);
    return EDDY_OK;
}

/* Consumes until end-of-partition at or past r->high, in batches (a restore
 * is throughput-bound: one queue pop per record costs a third of it). A
 * batch call waits until it is full or its timeout passes: a short timeout
 * keeps small partitions (and the end-of-partition event) from waiting. */
static eddy_err_t reader_loop(rd_kafka_t *rk, struct reader *r, record_fn fn, void *ctx)
{
    struct err_limiter limiter = {.code = {0}};
    rd_kafka_message_t *batch[READ_BATCH];
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(rk);
    eddy_err_t err = EDDY_OK;
    bool done = false;
    while (!err && !done) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, 20, batch, READ_BATCH);
        int64_t now = mono_ms();
        for (ssize_t i = 0; i < n; i++) {
            if (!err && !done)
                err = reader_message(r, batch[i], now, fn, ctx, &limiter, &done);
            rd_kafka_message_destroy(batch[i]);
        }
        if (err || done)
            break;
        if (now - r->last_log_ms >= PROGRESS_INTERVAL_MS)
            reader_progress(r, now, false);
        if (now - r->last_progress_ms >= STALL_TIMEOUT_MS) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS,
                     "cannot read %s[%d]: no progress for %d s at offset %" PRId64 " of %" PRId64
                     " (an open transaction?)",
                     r->topic, (int)r->partition, STALL_TIMEOUT_MS / 1000, r->offset, r->high);
            err = EDDY_EKAFKA;
        }
    }
    rd_kafka_queue_destroy(queue);
    return err;
}

struct eddy_kreader {
    rd_kafka_t *rk;
    struct kicker *kicker; /* NULL if it could not start */
    bool quiet;
};

void eddy__kreader_quiet(struct eddy_kreader *reader)
{
    reader->quiet = true;
}

void eddy__kreader_warm(struct eddy_kreader *reader, const char *const *topics, size_t n)
{
    /* one metadata request for all of them: a topic the client has not seen
     * otherwise costs about half a second on its first read */
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(reader->rk, topics[i], NULL);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(reader->rk, 0, NULL, &md, WATERMARK_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md)
        rd_kafka_metadata_destroy(md);
}

eddy_err_t eddy__kreader_new(const struct eddy_kconf *conf, struct eddy_kreader **out)
{
    struct eddy_kreader *reader = eddy_calloc(1, sizeof *reader);
    if (!reader)
        return EDDY_ENOMEM;
    eddy_err_t err = reader_client(conf, &reader->rk);
    if (err) {
        eddy_free(reader);
        return err;
    }
    reader->kicker = kicker_start(reader->rk);
    *out = reader;
    return EDDY_OK;
}

void eddy__kreader_free(struct eddy_kreader *reader)
{
    if (!reader)
        return;
    kicker_stop(reader->kicker);
    reader->kicker = NULL;
    rd_kafka_consumer_close(reader->rk);
    rd_kafka_destroy(reader->rk);
    eddy_free(reader);
}

eddy_err_t eddy__kafka_read_partition(const struct eddy_kconf *conf, const char *topic,
                                      int32_t partition, int64_t from_offset, record_fn fn,
                                      void *ctx, int64_t *next_offset)
{
    struct eddy_kreader *reader = NULL;
    eddy_err_t err = eddy__kreader_new(conf, &reader);
    if (!err)
        err = eddy__kreader_read(reader, topic, partition, from_offset, fn, ctx, next_offset);
    eddy__kreader_free(reader);
    return err;
}

eddy_err_t eddy__kreader_read(struct eddy_kreader *reader, const char *topic, int32_t partition,
                              int64_t from_offset, record_fn fn, void *ctx, int64_t *next_offset)
{
    rd_kafka_t *rk = reader->rk;
    rd_kafka_topic_partition_list_t *assignment = NULL;
    int64_t low = 0, high = 0;
    char what[320];
    eddy_err_t err = EDDY_OK;
    rd_kafka_resp_err_t rerr =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, WATERMARK_TIMEOUT_MS);
    if (rerr) {
        snprintf(what, sizeof what, "cannot read the offsets of %s[%d]", topic, (int)partition);
        err = topic_missing(rerr) ? EDDY_ENOTFOUND : eddy__kafka_err(rk, rerr, what);
        if (err == EDDY_ENOTFOUND)
            eddy_log(reader->quiet ? EDDY_LOG_DEBUG : EDDY_LOG_ERROR, SUBSYS, "%s: %s", what,
                     rd_kafka_err2str(rerr));
        goto out;
    }
    if (from_offset > high) {
        eddy_log(EDDY_LOG_WARN, SUBSYS,
                 "cannot read %s[%d] from offset %" PRId64 ": the partition ends at %" PRId64,
                 topic, (int)partition, from_offset, high);
        err = EDDY_ERANGE;
        goto out;
    }
    int64_t now = mono_ms();
    struct reader r = {
        .topic = topic,
        .partition = partition,
        .high = high,
        .t0_ms = now,
        .last_log_ms = now,
        .last_progress_ms = now,
        .start = from_offset < low ? low : from_offset,
        .quiet = reader->quiet,
    };
    r.offset = r.start;
    if (r.start < high) {
        assignment = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(assignment, topic, partition)->offset =
            from_offset < 0 ? RD_KAFKA_OFFSET_BEGINNING : from_offset;
        if ((rerr = rd_kafka_assign(rk, assignment))) {
            snprintf(what, sizeof what, "cannot assign %s[%d]", topic, (int)partition);
            err = eddy__kafka_err(rk, rerr, what);
            goto out;
        }
        kicker_assign(reader->kicker, assignment);
        if ((err = reader_loop(rk, &r, fn, ctx)))
            goto out;
    }
    reader_progress(&r, mono_ms(), true);
    *next_offset = r.offset;
out:
    if (assignment) {
        kicker_assign(reader->kicker, NULL);
        rd_kafka_assign(rk, NULL); /* ready for the next partition */
        rd_kafka_topic_partition_list_destroy(assignment);
    }
    return err;
}
