/*
 * sink/kafka.c - eddy's Kafka producer and the configuration, error and log
 * plumbing shared by its Kafka clients; see kafka.h for the contract.
 *
 * Invariants:
 * - p->in_txn is true between a successful begin and the commit or abort that
 *   ends the transaction (an EDDY_EKAFKA from commit leaves it open).
 * - p->pos holds one entry per topic-partition that received a delivery
 *   report since the last reset: the highest delivered offset + 1. It grows
 *   only when a new topic-partition appears, never per record.
 * - p->n_failed / p->first_failure describe failed deliveries since the last
 *   begin, commit or abort.
 */
#include "sink/kafka.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"

#define SUBSYS "kafka"
#define TXN_ATTEMPTS 5
#define TXN_BACKOFF_MS 100
#define QUEUE_FULL_WAIT_MS 30000
#define COMMIT_FLUSH_MS 30000
#define FREE_FLUSH_MS 10000
#define WARM_TIMEOUT_MS 10000

/* ---- shared plumbing ---- */

static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *message)
{
    /* librdkafka logs connection failures at LOG_ERR (3): for eddy they are
     * warnings; what is really fatal reaches on_error as __FATAL. */
    enum eddy_log_level eddy_level = level <= 2   ? EDDY_LOG_ERROR
                                     : level <= 4 ? EDDY_LOG_WARN
                                     : level == 5 ? EDDY_LOG_INFO
                                                  : EDDY_LOG_DEBUG;
    eddy_log(eddy_level, SUBSYS, "%s: %s: %s", rd_kafka_name(rk), facility, message);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "%s: fatal error: %s: %s", rd_kafka_name(rk),
                 rd_kafka_err2name(code), fatal);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
        return; /* librdkafka's own log line (FAIL) already says it */
    eddy_log(EDDY_LOG_WARN, SUBSYS, "%s: %s: %s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static eddy_err_t conf_set(rd_kafka_conf_t *rconf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(rconf, key, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return EDDY_OK;
    /* Never log secrets (sasl.password, ssl.key.password, ...). */
    bool secret = strstr(key, "password") || strstr(key, "secret");
    eddy_log(EDDY_LOG_ERROR, SUBSYS, "invalid kafka property '%s=%s': %s", key,
             secret ? "***" : value, errstr);
    return EDDY_ECONFIG;
}

static eddy_err_t conf_set_pairs(rd_kafka_conf_t *rconf, const char *const *pairs)
{
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        eddy_err_t err = conf_set(rconf, pairs[i], pairs[i + 1]);
        if (err)
            return err;
    }
    return EDDY_OK;
}

/* The property name a passed-through key sets for @kind, or NULL when the
 * key is meant for the other kind of client. */
static const char *prop_for(const char *key, enum eddy_kclient kind)
{
    static const char producer[] = "producer.", consumer[] = "consumer.";
    if (strncmp(key, producer, sizeof producer - 1) == 0)
        return kind == EDDY_KCLIENT_PRODUCER ? key + sizeof producer - 1 : NULL;
    if (strncmp(key, consumer, sizeof consumer - 1) == 0)
        return kind == EDDY_KCLIENT_CONSUMER ? key + sizeof consumer - 1 : NULL;
    return key;
}

eddy_err_t eddy__kafka_conf_new(const struct eddy_kconf *conf, enum eddy_kclient kind,
                                const char *const *defaults, const char *const *forced,
                                rd_kafka_conf_t **out)
{
    rd_kafka_conf_t *rconf = rd_kafka_conf_new();
    eddy_err_t err = EDDY_OK;
    *out = NULL;
    if (!conf->bootstrap || !*conf->bootstrap) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "no kafka bootstrap servers given");
        err = EDDY_ECONFIG;
        goto out;
    }
    rd_kafka_conf_set_log_cb(rconf, on_log);
    rd_kafka_conf_set_error_cb(rconf, on_error);
    if ((err = conf_set(rconf, "bootstrap.servers", conf->bootstrap)) ||
        (err = conf_set(rconf, "log.connection.close", "false")) ||
        (err = conf_set_pairs(rconf, defaults)))
        goto out;
    for (size_t i = 0; i < conf->n_props; i++) {
        const char *key = prop_for(conf->props[i].key, kind);
        if (key && (err = conf_set(rconf, key, conf->props[i].value)))
            goto out;
    }
    err = conf_set_pairs(rconf, forced);
out:
    if (err)
        rd_kafka_conf_destroy(rconf);
    else
        *out = rconf;
    return err;
}

eddy_err_t eddy__kafka_client_new(enum eddy_kclient kind, rd_kafka_conf_t *rconf, rd_kafka_t **out)
{
    char errstr[512];
    rd_kafka_t *rk =
        rd_kafka_new(kind == EDDY_KCLIENT_PRODUCER ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, rconf,
                     errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(rconf);
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot create kafka %s: %s",
                 kind == EDDY_KCLIENT_PRODUCER ? "producer" : "consumer", errstr);
        return EDDY_ECONFIG;
    }
    *out = rk;
    return EDDY_OK;
}

eddy_err_t eddy__kafka_err(rd_kafka_t *rk, rd_kafka_resp_err_t err, const char *what)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL ||
        (rk && rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        char fatal[512] = "";
        rd_kafka_resp_err_t code = rk ? rd_kafka_fatal_error(rk, fatal, sizeof fatal) : err;
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "%s: fatal: %s: %s", what, rd_kafka_err2name(code),
                 *fatal ? fatal : rd_kafka_err2str(err));
        return EDDY_EKAFKA_FATAL;
    }
    eddy_log(EDDY_LOG_WARN, SUBSYS, "%s: %s", what, rd_kafka_err2str(err));
    return EDDY_EKAFKA;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- producer ---- */

struct position {
    char *topic;
    int32_t partition;
    int64_t next_offset;
};

struct eddy_kproducer {
    rd_kafka_t *rk;
    char *transactional_id; /* NULL: idempotent producer */
    bool in_txn;
    struct position *pos;
    size_t n_pos, cap_pos;
    size_t last_pos; /* index of the last hit, the common case */
    unsigned long n_failed;
    char first_failure[384];
    /* a delivery failed for a reason retrying rarely fixes (a record over
     * the broker's size limit, no authorization): after GIVE_UP_AFTER such
     * transactions in a row, give up instead of aborting and replaying the
     * same records forever */
    bool permanent;
    unsigned permanent_streak;
    char permanent_what[384];
};

static struct position *position_find(struct eddy_kproducer *p, const char *topic,
                                      int32_t partition)
{
    if (p->last_pos < p->n_pos) {
        struct position *hit = &p->pos[p->last_pos];
        if (hit->partition == partition && strcmp(hit->topic, topic) == 0)
            return hit;
    }
    for (size_t i = 0; i < p->n_pos; i++)
        if (p->pos[i].partition == partition && strcmp(p->pos[i].topic, topic) == 0) {
            p->last_pos = i;
            return &p->pos[i];
        }
    return NULL;
}

static void position_record(struct eddy_kproducer *p, const char *topic, int32_t partition,
                            int64_t offset)
{
    struct position *pos = position_find(p, topic, partition);
    if (!pos) {
        if (!eddy_array_reserve(&p->pos, &p->cap_pos, p->n_pos + 1, sizeof *p->pos, 16))
            goto oom;
        pos = &p->pos[p->n_pos];
        if (!(pos->topic = eddy_strdup(topic)))
            goto oom;
        pos->partition = partition;
        pos->next_offset = -1;
        p->last_pos = p->n_pos++;
    }
    if (offset + 1 > pos->next_offset)
        pos->next_offset = offset + 1;
    return;
oom:
    eddy_log(EDDY_LOG_ERROR, SUBSYS, "out of memory recording the delivered offset of %s[%d]",
             topic, (int)partition);
}

/* Delivery report; runs inside rd_kafka_poll/flush on the producer's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct eddy_kproducer *p = opaque;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    (void)rk;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        position_record(p, topic, msg->partition, msg->offset);
        return;
    }
    if (msg->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
        msg->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
        msg->err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
        msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        msg->err == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED) {
        snprintf(p->permanent_what, sizeof p->permanent_what, "%s[%d]: %s", topic,
                 (int)msg->partition, rd_kafka_err2str(msg->err));
        p->permanent = true;
    }
    if (p->n_failed++ == 0) {
        snprintf(p->first_failure, sizeof p->first_failure, "%s[%d]: %s", topic,
                 (int)msg->partition, rd_kafka_err2str(msg->err));
        /* Purged records of an abort are expected, not worth a warning. */
        eddy_log(msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                         msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
                     ? EDDY_LOG_DEBUG
                     : EDDY_LOG_WARN,
                 SUBSYS, "delivery failed to %s", p->first_failure);
    }
}

#define GIVE_UP_AFTER 5

/* A transaction failed for a permanent-looking reason: true (after logging)
 * once that happened GIVE_UP_AFTER times in a row. */
static bool give_up(struct eddy_kproducer *p)
{
    if (!p->permanent)
        return false;
    p->permanent = false;
    if (++p->permanent_streak < GIVE_UP_AFTER)
        return false;
    eddy_log(EDDY_LOG_ERROR, SUBSYS,
             "delivery to %s failed %d transactions in a row; retrying cannot fix it (check "
             "the broker's and topic's max.message.bytes and the ACLs): stopping",
             p->permanent_what, GIVE_UP_AFTER);
    return true;
}

static void failures_clear(struct eddy_kproducer *p)
{
    p->n_failed = 0;
    p->first_failure[0] = '\0';
}

typedef rd_kafka_error_t *(*txn_call_fn)(struct eddy_kproducer *p, const void *arg);

static rd_kafka_error_t *call_abort(struct eddy_kproducer *p, const void *arg)
{
    (void)arg;
    return rd_kafka_abort_transaction(p->rk, -1);
}

/*
 * Runs a transactional call: retriable errors are retried with backoff, up to
 * TXN_ATTEMPTS calls; an abortable error aborts the transaction (unless
 * @call is the abort itself) and gives EDDY_EAGAIN.
 */
static eddy_err_t txn_run(struct eddy_kproducer *p, const char *what, txn_call_fn call,
                          const void *arg)
{
    int backoff = TXN_BACKOFF_MS;
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *error = call(p, arg);
        if (!error)
            return EDDY_OK;
        const char *text = rd_kafka_error_string(error);
        eddy_err_t err;
        if (rd_kafka_error_is_fatal(error)) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "%s of '%s' failed fatally: %s", what,
                     p->transactional_id, text);
            err = EDDY_EKAFKA_FATAL;
        } else if (rd_kafka_error_txn_requires_abort(error)) {
            eddy_log(EDDY_LOG_WARN, SUBSYS, "%s of '%s' failed, aborting the transaction: %s", what,
                     p->transactional_id, text);
            err = call == call_abort ? EDDY_EKAFKA : EDDY_EAGAIN;
        } else if (rd_kafka_error_is_retriable(error) && attempt < TXN_ATTEMPTS) {
            eddy_log(EDDY_LOG_WARN, SUBSYS,
                     "%s of '%s' failed (attempt %d of %d), retrying in %d ms: %s", what,
                     p->transactional_id, attempt, TXN_ATTEMPTS, backoff, text);
            rd_kafka_error_destroy(error);
            sleep_ms(backoff);
            backoff *= 2;
            continue;
        } else if (rd_kafka_error_is_retriable(error)) {
            eddy_log(EDDY_LOG_WARN, SUBSYS, "%s of '%s' failed %d times, giving up: %s", what,
                     p->transactional_id, attempt, text);
            err = EDDY_EKAFKA;
        } else if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__STATE) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "%s of '%s' called in the wrong state: %s", what,
                     p->transactional_id, text);
            err = EDDY_EINVAL;
        } else {
            /* Neither retriable nor abortable: the producer's state is
             * unknown, so treat it as unusable. */
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "%s of '%s' failed: %s", what, p->transactional_id,
                     text);
            err = EDDY_EKAFKA_FATAL;
        }
        rd_kafka_error_destroy(error);
        if (err == EDDY_EAGAIN) {
            eddy_err_t abort_err = eddy__kproducer_abort(p);
            if (abort_err)
                return abort_err;
        }
        return err;
    }
}

static rd_kafka_error_t *call_init(struct eddy_kproducer *p, const void *arg)
{
    (void)arg;
    return rd_kafka_init_transactions(p->rk, -1);
}

eddy_err_t eddy__kproducer_new(const struct eddy_kconf *conf, const char *transactional_id,
                               struct eddy_kproducer **out)
{
    static const char *const defaults[] = {
        "compression.codec", "lz4", "linger.ms", "5", "transaction.timeout.ms", "60000", NULL,
    };
    const char *forced[] = {
        "enable.idempotence",
        "true",
        "acks",
        "all",
        "partitioner",
        "murmur2_random",
        transactional_id ? "transactional.id" : NULL,
        transactional_id,
        NULL,
    };
    rd_kafka_conf_t *rconf = NULL;
    eddy_err_t err;
    struct eddy_kproducer *p = eddy_calloc(1, sizeof *p);
    *out = NULL;
    if (!p || (transactional_id && !(p->transactional_id = eddy_strdup(transactional_id)))) {
        err = EDDY_ENOMEM;
        goto out;
    }
    if ((err = eddy__kafka_conf_new(conf, EDDY_KCLIENT_PRODUCER, defaults, forced, &rconf)))
        goto out;
    rd_kafka_conf_set_dr_msg_cb(rconf, on_delivery);
    rd_kafka_conf_set_opaque(rconf, p);
    err = eddy__kafka_client_new(EDDY_KCLIENT_PRODUCER, rconf, &p->rk);
    rconf = NULL;
    if (err)
        goto out;
    if (transactional_id && (err = txn_run(p, "init_transactions", call_init, NULL)))
        goto out;
    eddy_log(EDDY_LOG_DEBUG, SUBSYS, "%s producer %s ready on %s",
             transactional_id ? "transactional" : "idempotent", rd_kafka_name(p->rk),
             conf->bootstrap);
out:
    if (err) {
        eddy__kproducer_free(p);
        return err;
    }
    *out = p;
    return EDDY_OK;
}

void eddy__kproducer_free(struct eddy_kproducer *p)
{
    if (!p)
        return;
    if (p->rk) {
        rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, FREE_FLUSH_MS);
        if (err)
            eddy_log(EDDY_LOG_WARN, SUBSYS, "%s: %d record(s) undelivered at close: %s",
                     rd_kafka_name(p->rk), rd_kafka_outq_len(p->rk), rd_kafka_err2str(err));
        rd_kafka_destroy(p->rk);
    }
    for (size_t i = 0; i < p->n_pos; i++)
        eddy_free(p->pos[i].topic);
    eddy_free(p->pos);
    eddy_free(p->transactional_id);
    eddy_free(p);
}

eddy_err_t eddy__kproducer_warm(struct eddy_kproducer *p, const char *const *topics, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct rd_kafka_metadata *md = NULL;
        char what[320];
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topics[i], NULL);
        rd_kafka_resp_err_t err =
            rkt ? rd_kafka_metadata(p->rk, 0, rkt, &md, WARM_TIMEOUT_MS) : rd_kafka_last_error();
        if (!err && md->topic_cnt == 1)
            err = md->topics[0].err;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot produce to topic '%s': it does not exist",
                     topics[i]);
            return EDDY_ENOTFOUND;
        }
        if (err) {
            snprintf(what, sizeof what, "cannot load the metadata of topic '%s'", topics[i]);
            return eddy__kafka_err(p->rk, err, what);
        }
    }
    return EDDY_OK;
}

rd_kafka_t *eddy__kproducer_handle(struct eddy_kproducer *p)
{
    return p->rk;
}

static rd_kafka_error_t *call_begin(struct eddy_kproducer *p, const void *arg)
{
    (void)arg;
    return rd_kafka_begin_transaction(p->rk);
}

eddy_err_t eddy__kproducer_begin(struct eddy_kproducer *p)
{
    failures_clear(p);
    if (!p->transactional_id)
        return EDDY_OK;
    eddy_err_t err = txn_run(p, "begin_transaction", call_begin, NULL);
    if (!err)
        p->in_txn = true;
    return err;
}

eddy_err_t eddy__kproducer_send(struct eddy_kproducer *p, const char *topic, int32_t partition,
                                const void *key, size_t klen, const void *value, size_t vlen)
{
    return eddy__kproducer_send_at(p, topic, partition, key, klen, value, vlen, 0);
}

eddy_err_t eddy__kproducer_send_at(struct eddy_kproducer *p, const char *topic, int32_t partition,
                                   const void *key, size_t klen, const void *value, size_t vlen,
                                   int64_t timestamp_ms)
{
    int64_t deadline = 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key ? klen : 0), RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
            RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return EDDY_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int64_t now = eddy_mono_ns() / 1000000;
            if (!deadline) {
                deadline = now + QUEUE_FULL_WAIT_MS;
            } else if (now >= deadline) {
                eddy_log(EDDY_LOG_WARN, SUBSYS,
                         "cannot send to %s: the local queue stayed full for %d s (%d records "
                         "waiting)",
                         topic, QUEUE_FULL_WAIT_MS / 1000, rd_kafka_outq_len(p->rk));
                return EDDY_EKAFKA;
            }
            rd_kafka_poll(p->rk, 100); /* serves delivery reports, frees room */
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__STATE && p->transactional_id &&
            rd_kafka_fatal_error(p->rk, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (!p->in_txn) {
                eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot send to %s outside a transaction", topic);
                return EDDY_EINVAL;
            }
            /* The transaction entered an abortable error state. */
            rd_kafka_poll(p->rk, 0); /* the delivery report that says why */
            if (give_up(p))
                return EDDY_EINVAL;
            eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot send to %s: %s; aborting the transaction",
                     topic, rd_kafka_err2str(err));
            eddy_err_t abort_err = eddy__kproducer_abort(p);
            return abort_err ? abort_err : EDDY_EAGAIN;
        }
        char what[320];
        snprintf(what, sizeof what, "cannot send to %s[%d]", topic, (int)partition);
        return eddy__kafka_err(p->rk, err, what);
    }
}

struct send_offsets_arg {
    const rd_kafka_topic_partition_list_t *offsets;
    const rd_kafka_consumer_group_metadata_t *group;
};

static rd_kafka_error_t *call_send_offsets(struct eddy_kproducer *p, const void *arg)
{
    const struct send_offsets_arg *a = arg;
    return rd_kafka_send_offsets_to_transaction(p->rk, a->offsets, a->group, -1);
}

static rd_kafka_error_t *call_commit(struct eddy_kproducer *p, const void *arg)
{
    (void)arg;
    return rd_kafka_commit_transaction(p->rk, -1);
}

static eddy_err_t commit_transactional(struct eddy_kproducer *p, rd_kafka_t *consumer,
                                       const rd_kafka_topic_partition_list_t *offsets)
{
    eddy_err_t err = EDDY_OK;
    if (!p->in_txn) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "commit of '%s' without a transaction",
                 p->transactional_id);
        return EDDY_EINVAL;
    }
    if (offsets && offsets->cnt > 0) {
        struct send_offsets_arg arg = {offsets, rd_kafka_consumer_group_metadata(consumer)};
        err = txn_run(p, "send_offsets_to_transaction", call_send_offsets, &arg);
        rd_kafka_consumer_group_metadata_destroy((rd_kafka_consumer_group_metadata_t *)arg.group);
    }
    if (!err)
        err = txn_run(p, "commit_transaction", call_commit, NULL);
    if (err != EDDY_EKAFKA)
        p->in_txn = false;
    if (!err) {
        failures_clear(p);
        p->permanent_streak = 0;
    } else if (err == EDDY_EAGAIN && give_up(p)) {
        err = EDDY_EINVAL;
    }
    return err;
}

static bool commit_err_retriable(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD: return true;
    default: return false;
    }
}

static eddy_err_t commit_consumer_offsets(rd_kafka_t *consumer,
                                          const rd_kafka_topic_partition_list_t *offsets)
{
    int backoff = TXN_BACKOFF_MS;
    for (int attempt = 1;; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_commit(consumer, offsets, 0);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
            return EDDY_OK;
        if (commit_err_retriable(err) && attempt < TXN_ATTEMPTS) {
            eddy_log(EDDY_LOG_WARN, SUBSYS,
                     "cannot commit consumer offsets (attempt %d of %d), retrying in %d ms: %s",
                     attempt, TXN_ATTEMPTS, backoff, rd_kafka_err2str(err));
            sleep_ms(backoff);
            backoff *= 2;
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
            err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
            err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
            eddy_log(EDDY_LOG_WARN, SUBSYS,
                     "cannot commit consumer offsets, the group is rebalancing: %s",
                     rd_kafka_err2str(err));
            return EDDY_EAGAIN;
        }
        return eddy__kafka_err(consumer, err, "cannot commit consumer offsets");
    }
}

static eddy_err_t commit_idempotent(struct eddy_kproducer *p, rd_kafka_t *consumer,
                                    const rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_resp_err_t ferr = rd_kafka_flush(p->rk, COMMIT_FLUSH_MS);
    if (rd_kafka_fatal_error(p->rk, NULL, 0))
        return eddy__kafka_err(p->rk, RD_KAFKA_RESP_ERR__FATAL, "cannot flush the producer");
    if (ferr) {
        eddy_log(EDDY_LOG_WARN, SUBSYS,
                 "cannot flush the producer: %d record(s) undelivered "
                 "after %d s",
                 rd_kafka_outq_len(p->rk), COMMIT_FLUSH_MS / 1000);
        return EDDY_EKAFKA;
    }
    if (give_up(p))
        return EDDY_EINVAL;
    if (p->n_failed) {
        eddy_log(EDDY_LOG_WARN, SUBSYS,
                 "%lu record(s) failed delivery, first to %s; not committing the input offsets",
                 p->n_failed, p->first_failure);
        failures_clear(p);
        return EDDY_EAGAIN;
    }
    p->permanent_streak = 0;
    if (!offsets || offsets->cnt == 0)
        return EDDY_OK;
    return commit_consumer_offsets(consumer, offsets);
}

eddy_err_t eddy__kproducer_commit(struct eddy_kproducer *p, rd_kafka_t *consumer,
                                  const rd_kafka_topic_partition_list_t *offsets)
{
    if (offsets && offsets->cnt > 0 && !consumer) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot commit input offsets without a consumer");
        return EDDY_EINVAL;
    }
    return p->transactional_id ? commit_transactional(p, consumer, offsets)
                               : commit_idempotent(p, consumer, offsets);
}

eddy_err_t eddy__kproducer_abort(struct eddy_kproducer *p)
{
    eddy_err_t err = EDDY_OK;
    if (p->transactional_id) {
        err = txn_run(p, "abort_transaction", call_abort, NULL);
        if (err == EDDY_OK || err == EDDY_EKAFKA_FATAL)
            p->in_txn = false;
    } else {
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
        rd_kafka_poll(p->rk, 0);
    }
    failures_clear(p);
    return err;
}

int64_t eddy__kproducer_next_offset(const struct eddy_kproducer *p, const char *topic,
                                    int32_t partition)
{
    for (size_t i = 0; i < p->n_pos; i++)
        if (p->pos[i].partition == partition && strcmp(p->pos[i].topic, topic) == 0)
            return p->pos[i].next_offset;
    return -1;
}

void eddy__kproducer_reset_positions(struct eddy_kproducer *p)
{
    for (size_t i = 0; i < p->n_pos; i++)
        p->pos[i].next_offset = -1;
}
