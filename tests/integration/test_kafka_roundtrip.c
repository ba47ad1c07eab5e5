/*
 * test_kafka_roundtrip.c — proves, on a real Apache Kafka broker, the broker
 * properties eddy's exactly-once processing rests on, using librdkafka only
 * (no eddy code): keyed lz4 produce/consume through a consumer group with
 * exactly-once delivery and per-key order, read_committed isolation of
 * committed vs aborted transactions, and consumer offsets committed atomically
 * with a transaction (send_offsets_to_transaction).
 *
 * Preconditions: a broker answers on $EDDY_BOOTSTRAP (default 127.0.0.1:9092),
 * started by tests/integration/run.sh (scripts/kafka start). Without one every
 * test fails after 30 s with a message saying so; nothing is skipped.
 *
 * Invariants: each test makes its own topics, group and transactional ids
 * named "eddy-it-<what>-<pid>-<unix time>-<n>", so runs never see each other's
 * data; each test process arms alarm(120) so a hang becomes a failure.
 * Transactional calls use infinite (-1) timeouts as librdkafka 2.0.x wants.
 *
 * Message format of the keyed test: key "key-NNN" (NNN < KEYS), value
 * "key-NNN#SSSSSS#" followed by (SSSSSS % 97) payload bytes, byte j being
 * (NNN * 31 + SSSSSS * 7 + j) & 0xff, where SSSSSS is the per-key sequence.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WATCHDOG_SECONDS
#define WATCHDOG_SECONDS 120
#endif
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define BROKER_WAIT_MS 30000
#define DRAIN_TIMEOUT_MS 60000
#define MAX_PARTITIONS 8

#define KEYS 100
#define PER_KEY 100
#define VALUE_MAX 64

static const char *bootstrap(void)
{
    const char *env = getenv("EDDY_BOOTSTRAP");
    return env && *env ? env : "127.0.0.1:9092";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void watchdog_fired(int sig)
{
    static const char msg[] = "test_kafka_roundtrip: watchdog: the test ran longer than " STRINGIFY(WATCHDOG_SECONDS) " s\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do: we are about to exit */
    }
    _exit(124);
}

static void unique_name(char *out, size_t size, const char *what)
{
    static int counter;
    snprintf(out, size, "eddy-it-%s-%d-%lld-%d", what, (int)getpid(), (long long)time(NULL),
             ++counter);
}

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        cr_assert_fail("cannot set librdkafka property %s=%s: %s", key, value, errstr);
}

static rd_kafka_conf_t *base_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap());
    conf_set(conf, "log.connection.close", "false");
    return conf;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk)
        cr_assert_fail("cannot create librdkafka client: %s", errstr);
    return rk;
}

/* ---- delivery accounting for producers ---- */

struct delivery_stats {
    int delivered;
    int failed;
    char first_error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct delivery_stats *stats = opaque;
    (void)rk;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        stats->delivered++;
        return;
    }
    if (stats->failed++ == 0)
        snprintf(stats->first_error, sizeof stats->first_error, "%s", rd_kafka_err2str(msg->err));
}

static rd_kafka_t *producer_new(struct delivery_stats *stats, const char *transactional_id)
{
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "acks", "all");
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "compression.codec", "lz4");
    conf_set(conf, "linger.ms", "5");
    if (transactional_id)
        conf_set(conf, "transactional.id", transactional_id);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, stats);
    return client_new(RD_KAFKA_PRODUCER, conf);
}

static void produce_one(rd_kafka_t *producer, const char *topic, int32_t partition,
                        const void *key, size_t key_len, const void *value, size_t value_len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            cr_assert_fail("cannot produce to %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_poll(producer, 50);
    }
}

static void flush_all(rd_kafka_t *producer, const struct delivery_stats *stats, int expected)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(producer, 30000);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "flush did not finish in 30 s: %s",
                 rd_kafka_err2str(err));
    cr_assert_eq(stats->failed, 0, "%d message(s) failed delivery, first: %s", stats->failed,
                 stats->first_error);
    cr_assert_eq(stats->delivered, expected, "delivered %d messages, expected %d",
                 stats->delivered, expected);
}

/* Fails the test on any error from a transactional call, naming its class. */
static void txn_ok(rd_kafka_error_t *error, const char *call)
{
    if (!error)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "%s failed: %s (%s%s%s)", call, rd_kafka_error_string(error),
             rd_kafka_error_is_fatal(error) ? "fatal" : "",
             rd_kafka_error_is_retriable(error) ? "retriable" : "",
             rd_kafka_error_txn_requires_abort(error) ? "abortable" : "");
    rd_kafka_error_destroy(error);
    cr_assert_fail("%s", msg);
}

/* ---- broker, topics ---- */

/* Arms the watchdog and fails the test unless a broker answers metadata
 * within 30 s. Called first in each test body (not as .init, so that a missing
 * broker reports as a plain failure with this message). */
static void require_broker(void)
{
    signal(SIGALRM, watchdog_fired);
    alarm(WATCHDOG_SECONDS);

    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "log_level", "2"); /* quiet "connection refused" while waiting */
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf);
    int64_t deadline = now_ms() + BROKER_WAIT_MS;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TRANSPORT;
    while (now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        err = rd_kafka_metadata(rk, 0, NULL, &md, 2000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0)
                break;
            err = RD_KAFKA_RESP_ERR__TRANSPORT;
        }
        usleep(200 * 1000);
    }
    rd_kafka_destroy(rk);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR,
                 "cannot reach the Kafka broker at %s within %d s (%s); start it with "
                 "'scripts/kafka start' or run tests/integration/run.sh",
                 bootstrap(), BROKER_WAIT_MS / 1000, rd_kafka_err2str(err));
}

/* Waits until metadata shows the topic with a leader for each partition. */
static void wait_topic_ready(rd_kafka_t *rk, const char *topic, int partitions)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = now_ms() + 15000;
    int ready = 0;
    while (!ready && now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt == partitions) {
                ready = 1;
                for (int p = 0; p < partitions; p++)
                    if (md->topics[0].partitions[p].leader < 0)
                        ready = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (!ready)
            usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    cr_assert(ready, "topic %s has no leader for all %d partitions after 15 s", topic, partitions);
}

/* Creates a topic through the Admin API; replication is the broker default. */
static void create_topic(const char *topic, int partitions)
{
    char errstr[512];
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, base_conf());
    rd_kafka_NewTopic_t *new_topic =
        rd_kafka_NewTopic_new(topic, partitions, -1, errstr, sizeof errstr);
    cr_assert_not_null(new_topic, "cannot describe topic %s: %s", topic, errstr);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(options, 15000, errstr, sizeof errstr);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);

    rd_kafka_CreateTopics(rk, &new_topic, 1, options, queue);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, 30000);
    cr_assert_not_null(event, "CreateTopics(%s) got no answer in 30 s", topic);
    cr_assert_eq(rd_kafka_event_type(event), RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    cr_assert_eq(rd_kafka_event_error(event), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "CreateTopics(%s) failed: %s", topic, rd_kafka_event_error_string(event));
    size_t count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    cr_assert_eq(count, 1);
    cr_assert_eq(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "cannot create topic %s: %s", topic, rd_kafka_topic_result_error_string(results[0]));

    rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(new_topic);
    wait_topic_ready(rk, topic, partitions);
    rd_kafka_destroy(rk);
}

/* ---- consumers ---- */

static rd_kafka_t *consumer_new(const char *group, const char *isolation)
{
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", group);
    conf_set(conf, "isolation.level", isolation);
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.partition.eof", "true");
    conf_set(conf, "partition.assignment.strategy", "range");
    conf_set(conf, "session.timeout.ms", "6000");
    conf_set(conf, "fetch.wait.max.ms", "100");
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void subscribe(rd_kafka_t *consumer, const char *topic)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "cannot subscribe to %s: %s", topic,
                 rd_kafka_err2str(err));
}

static void assign_from_beginning(rd_kafka_t *consumer, const char *topic, int partitions)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "cannot assign %s: %s", topic,
                 rd_kafka_err2str(err));
}

typedef void (*on_message_fn)(const rd_kafka_message_t *msg, void *ctx);

/*
 * Consumes until every partition reported end-of-partition at its high
 * watermark, i.e. the consumer is past every record and transaction marker
 * (for read_committed the end is the last stable offset, which reaches the
 * high watermark only once every transaction is resolved). Returns the number
 * of messages handed to on_message.
 */
static int drain(rd_kafka_t *consumer, const char *topic, int partitions, on_message_fn on_message,
                 void *ctx)
{
    int64_t eof_offset[MAX_PARTITIONS];
    int64_t deadline = now_ms() + DRAIN_TIMEOUT_MS;
    int64_t next_check = 0;
    int received = 0;
    cr_assert_leq(partitions, MAX_PARTITIONS);
    for (int p = 0; p < partitions; p++)
        eof_offset[p] = -1;

    while (now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);
        if (msg) {
            if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                cr_assert_lt(msg->partition, partitions);
                eof_offset[msg->partition] = msg->offset;
            } else if (msg->err) {
                char text[512];
                snprintf(text, sizeof text, "%s", rd_kafka_message_errstr(msg));
                rd_kafka_message_destroy(msg);
                cr_assert_fail("consumer error on %s: %s", topic, text);
            } else {
                cr_assert_str_eq(rd_kafka_topic_name(msg->rkt), topic);
                eof_offset[msg->partition] = -1;
                received++;
                on_message(msg, ctx);
            }
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (now_ms() < next_check)
            continue;
        next_check = now_ms() + 250;
        int at_end = 1;
        for (int p = 0; p < partitions && at_end; p++) {
            int64_t low = 0, high = 0;
            if (eof_offset[p] < 0 ||
                rd_kafka_query_watermark_offsets(consumer, topic, p, &low, &high, 5000) ||
                eof_offset[p] != high)
                at_end = 0;
        }
        if (at_end)
            return received;
    }
    cr_assert_fail("consuming %s did not reach the end of all %d partitions in %d s (%d messages so "
             "far)",
             topic, partitions, DRAIN_TIMEOUT_MS / 1000, received);
    return received;
}

static void consumer_free(rd_kafka_t *consumer)
{
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
}

/* ---- test 1: 10,000 keyed lz4 messages through a consumer group ---- */

static size_t keyed_value(char *out, int key, int seq)
{
    int header = snprintf(out, VALUE_MAX + 128, "key-%03d#%06d#", key, seq);
    int payload = seq % 97;
    for (int j = 0; j < payload; j++)
        out[header + j] = (char)((key * 31 + seq * 7 + j) & 0xff);
    return (size_t)(header + payload);
}

struct keyed_check {
    int next_seq[KEYS];
    int32_t partition_of[KEYS];
    int bad;
    char first_bad[256];
};

static void keyed_bad(struct keyed_check *check, const char *fmt, int a, int b)
{
    if (check->bad++ == 0)
        snprintf(check->first_bad, sizeof check->first_bad, fmt, a, b);
}

static void check_keyed(const rd_kafka_message_t *msg, void *ctx)
{
    struct keyed_check *check = ctx;
    char key_text[16];
    int key = -1;
    if (msg->key_len != 7 || memcmp(msg->key, "key-", 4) != 0) {
        keyed_bad(check, "unexpected key length %d at offset %d", (int)msg->key_len,
                  (int)msg->offset);
        return;
    }
    memcpy(key_text, msg->key, 7);
    key_text[7] = '\0';
    key = atoi(key_text + 4);
    if (key < 0 || key >= KEYS) {
        keyed_bad(check, "key %d out of range at offset %d", key, (int)msg->offset);
        return;
    }
    if (check->partition_of[key] < 0)
        check->partition_of[key] = msg->partition;
    else if (check->partition_of[key] != msg->partition)
        keyed_bad(check, "key %d seen on two partitions (second: %d)", key, msg->partition);

    int seq = check->next_seq[key];
    char expected[VALUE_MAX + 128];
    size_t expected_len = keyed_value(expected, key, seq);
    if (seq >= PER_KEY || msg->len != expected_len || memcmp(msg->payload, expected, msg->len))
        keyed_bad(check, "key %d: message %d is missing, duplicated, reordered or altered", key,
                  seq);
    check->next_seq[key] = seq + 1;
}

Test(kafka_roundtrip, keyed_lz4_messages_arrive_once_in_key_order)
{
    require_broker();
    char topic[128], group[128];
    unique_name(topic, sizeof topic, "keyed");
    unique_name(group, sizeof group, "keyed-group");
    create_topic(topic, 3);

    struct delivery_stats stats = {0};
    rd_kafka_t *producer = producer_new(&stats, NULL);
    char value[VALUE_MAX + 128], key[16];
    for (int seq = 0; seq < PER_KEY; seq++) {
        for (int k = 0; k < KEYS; k++) {
            snprintf(key, sizeof key, "key-%03d", k);
            size_t len = keyed_value(value, k, seq);
            produce_one(producer, topic, RD_KAFKA_PARTITION_UA, key, 7, value, len);
        }
        rd_kafka_poll(producer, 0);
    }
    flush_all(producer, &stats, KEYS * PER_KEY);
    rd_kafka_destroy(producer);

    struct keyed_check check = {.bad = 0};
    for (int k = 0; k < KEYS; k++)
        check.partition_of[k] = -1;
    rd_kafka_t *consumer = consumer_new(group, "read_committed");
    subscribe(consumer, topic);
    int received = drain(consumer, topic, 3, check_keyed, &check);
    consumer_free(consumer);

    cr_assert_eq(check.bad, 0, "%d bad message(s); first: %s", check.bad, check.first_bad);
    cr_assert_eq(received, KEYS * PER_KEY, "received %d messages, expected %d", received,
                 KEYS * PER_KEY);
    int partitions_used[3] = {0, 0, 0};
    for (int k = 0; k < KEYS; k++) {
        cr_assert_eq(check.next_seq[k], PER_KEY, "key %d: %d messages, expected %d", k,
                     check.next_seq[k], PER_KEY);
        partitions_used[check.partition_of[k]] = 1;
    }
    cr_assert(partitions_used[0] && partitions_used[1] && partitions_used[2],
              "100 keys should spread over all 3 partitions");
}

/* ---- test 2: committed vs aborted transactions ---- */

struct prefix_count {
    int committed;
    int aborted;
    int other;
};

static void count_prefix(const rd_kafka_message_t *msg, void *ctx)
{
    struct prefix_count *count = ctx;
    if (msg->len >= 10 && memcmp(msg->payload, "committed-", 10) == 0)
        count->committed++;
    else if (msg->len >= 8 && memcmp(msg->payload, "aborted-", 8) == 0)
        count->aborted++;
    else
        count->other++;
}

static void produce_transaction(rd_kafka_t *producer, struct delivery_stats *stats,
                                const char *topic, const char *prefix, int count)
{
    char value[64];
    txn_ok(rd_kafka_begin_transaction(producer), "begin_transaction");
    for (int i = 0; i < count; i++) {
        int len = snprintf(value, sizeof value, "%s%d", prefix, i);
        produce_one(producer, topic, i % 3, NULL, 0, value, (size_t)len);
    }
    /* Deliver before ending, so an aborted transaction's records are in the
     * log (read_uncommitted must see them) and not merely purged. */
    cr_assert_eq(rd_kafka_flush(producer, -1), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(stats->failed, 0, "delivery failed: %s", stats->first_error);
}

Test(kafka_roundtrip, read_committed_sees_only_committed_transaction)
{
    require_broker();
    char topic[128], txn_id[128], group[128];
    unique_name(topic, sizeof topic, "txn");
    unique_name(txn_id, sizeof txn_id, "txn-id");
    create_topic(topic, 3);

    struct delivery_stats stats = {0};
    rd_kafka_t *producer = producer_new(&stats, txn_id);
    txn_ok(rd_kafka_init_transactions(producer, -1), "init_transactions");
    produce_transaction(producer, &stats, topic, "committed-", 100);
    txn_ok(rd_kafka_commit_transaction(producer, -1), "commit_transaction");
    produce_transaction(producer, &stats, topic, "aborted-", 100);
    txn_ok(rd_kafka_abort_transaction(producer, -1), "abort_transaction");
    cr_assert_eq(stats.delivered, 200, "delivered %d, expected 200", stats.delivered);
    rd_kafka_destroy(producer);

    struct prefix_count committed_view = {0}, uncommitted_view = {0};
    unique_name(group, sizeof group, "txn-rc");
    rd_kafka_t *consumer = consumer_new(group, "read_committed");
    assign_from_beginning(consumer, topic, 3);
    int received = drain(consumer, topic, 3, count_prefix, &committed_view);
    consumer_free(consumer);
    cr_assert_eq(received, 100, "read_committed consumer got %d messages, expected 100", received);
    cr_assert_eq(committed_view.committed, 100);
    cr_assert_eq(committed_view.aborted, 0, "read_committed saw %d aborted messages",
                 committed_view.aborted);
    cr_assert_eq(committed_view.other, 0);

    unique_name(group, sizeof group, "txn-ru");
    consumer = consumer_new(group, "read_uncommitted");
    assign_from_beginning(consumer, topic, 3);
    received = drain(consumer, topic, 3, count_prefix, &uncommitted_view);
    consumer_free(consumer);
    cr_assert_eq(received, 200, "read_uncommitted consumer got %d messages, expected 200",
                 received);
    cr_assert_eq(uncommitted_view.committed, 100);
    cr_assert_eq(uncommitted_view.aborted, 100);
}

/* ---- test 3: consumer offsets committed inside a transaction ---- */

#define RELAY_MESSAGES 300
#define RELAY_BATCH 100

struct relay {
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    const char *output_topic;
    int in_transaction;
    int batch_count;
    int64_t next_offset[3]; /* last consumed offset + 1, per input partition */
};

static void relay_commit(struct relay *relay)
{
    rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(relay->consumer, &offsets);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "cannot read assignment: %s",
                 rd_kafka_err2str(err));
    err = rd_kafka_position(relay->consumer, offsets);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "cannot read positions: %s",
                 rd_kafka_err2str(err));
    rd_kafka_consumer_group_metadata_t *group = rd_kafka_consumer_group_metadata(relay->consumer);
    txn_ok(rd_kafka_send_offsets_to_transaction(relay->producer, offsets, group, -1),
           "send_offsets_to_transaction");
    rd_kafka_consumer_group_metadata_destroy(group);
    rd_kafka_topic_partition_list_destroy(offsets);
    txn_ok(rd_kafka_commit_transaction(relay->producer, -1), "commit_transaction");
    relay->in_transaction = 0;
    relay->batch_count = 0;
}

static void relay_message(const rd_kafka_message_t *msg, void *ctx)
{
    struct relay *relay = ctx;
    char value[64];
    if (!relay->in_transaction) {
        txn_ok(rd_kafka_begin_transaction(relay->producer), "begin_transaction");
        relay->in_transaction = 1;
    }
    int len = snprintf(value, sizeof value, "relayed:%.*s", (int)msg->len,
                       (const char *)msg->payload);
    produce_one(relay->producer, relay->output_topic, msg->partition, NULL, 0, value,
                (size_t)len);
    relay->next_offset[msg->partition] = msg->offset + 1;
    if (++relay->batch_count == RELAY_BATCH)
        relay_commit(relay);
}

static void count_relayed(const rd_kafka_message_t *msg, void *ctx)
{
    int *count = ctx;
    if (msg->len > 8 && memcmp(msg->payload, "relayed:", 8) == 0)
        (*count)++;
}

Test(kafka_roundtrip, offsets_sent_to_transaction_become_group_offsets)
{
    require_broker();
    char input[128], output[128], group[128], txn_id[128], check_group[128];
    unique_name(input, sizeof input, "relay-in");
    unique_name(output, sizeof output, "relay-out");
    unique_name(group, sizeof group, "relay-group");
    unique_name(txn_id, sizeof txn_id, "relay-txn");
    create_topic(input, 3);
    create_topic(output, 3);

    struct delivery_stats stats = {0};
    rd_kafka_t *producer = producer_new(&stats, NULL);
    char value[64];
    for (int i = 0; i < RELAY_MESSAGES; i++) {
        int len = snprintf(value, sizeof value, "event-%d", i);
        produce_one(producer, input, i % 3, NULL, 0, value, (size_t)len);
    }
    flush_all(producer, &stats, RELAY_MESSAGES);
    rd_kafka_destroy(producer);

    struct delivery_stats txn_stats = {0};
    struct relay relay = {
        .producer = producer_new(&txn_stats, txn_id),
        .consumer = consumer_new(group, "read_committed"),
        .output_topic = output,
        .next_offset = {-1, -1, -1},
    };
    txn_ok(rd_kafka_init_transactions(relay.producer, -1), "init_transactions");
    subscribe(relay.consumer, input);
    int consumed = drain(relay.consumer, input, 3, relay_message, &relay);
    cr_assert_eq(consumed, RELAY_MESSAGES);
    cr_assert_eq(relay.in_transaction, 0, "%d messages left outside a committed transaction",
                 relay.batch_count);
    cr_assert_eq(txn_stats.failed, 0, "relay delivery failed: %s", txn_stats.first_error);
    cr_assert_eq(txn_stats.delivered, RELAY_MESSAGES);
    for (int p = 0; p < 3; p++)
        cr_assert_eq(relay.next_offset[p], RELAY_MESSAGES / 3, "partition %d consumed to %" PRId64,
                     p, relay.next_offset[p]);

    /* The group's committed offsets, as the relay consumer and as a fresh
     * member of the same group (which never consumed) see them. */
    rd_kafka_t *fresh = consumer_new(group, "read_committed");
    rd_kafka_t *viewers[2] = {relay.consumer, fresh};
    for (int v = 0; v < 2; v++) {
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(3);
        for (int p = 0; p < 3; p++)
            rd_kafka_topic_partition_list_add(committed, input, p);
        rd_kafka_resp_err_t err = rd_kafka_committed(viewers[v], committed, 10000);
        cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "committed() failed: %s",
                     rd_kafka_err2str(err));
        for (int p = 0; p < 3; p++) {
            cr_assert_eq(committed->elems[p].err, RD_KAFKA_RESP_ERR_NO_ERROR);
            cr_assert_eq(committed->elems[p].offset, RELAY_MESSAGES / 3,
                         "%s: group offset of partition %d is %" PRId64 ", expected %d",
                         v == 0 ? "relay consumer" : "fresh consumer", p,
                         committed->elems[p].offset, RELAY_MESSAGES / 3);
        }
        rd_kafka_topic_partition_list_destroy(committed);
    }
    consumer_free(fresh);
    consumer_free(relay.consumer);
    rd_kafka_destroy(relay.producer);

    int relayed = 0;
    unique_name(check_group, sizeof check_group, "relay-check");
    rd_kafka_t *checker = consumer_new(check_group, "read_committed");
    assign_from_beginning(checker, output, 3);
    int received = drain(checker, output, 3, count_relayed, &relayed);
    consumer_free(checker);
    cr_assert_eq(received, RELAY_MESSAGES);
    cr_assert_eq(relayed, RELAY_MESSAGES);
}
