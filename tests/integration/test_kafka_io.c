/*
 * test_kafka_io.c - eddy's Kafka I/O layer (src/sink/kafka.c,
 * src/sink/kafka_admin.c, src/source/kafka.c) against a real Apache Kafka
 * broker: topic creation and configuration, transactional produce with input
 * offsets, abort and rewind, fencing, the changelog partition reader, and
 * group rebalances with the range assignor.
 *
 * Every result is checked with an independent client (plain librdkafka:
 * read_committed / read_uncommitted readers, DescribeConfigs, the group's
 * committed offsets), never through the code under test.
 *
 * Preconditions: a broker answers on $EDDY_BOOTSTRAP (default
 * 127.0.0.1:9092), started by tests/integration/run.sh. Without one every
 * test fails after 30 s saying so. Each test arms alarm(120) and names its
 * topics, groups and transactional ids "eddy-io-<what>-<pid>-<time>-<n>".
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

#include "core/log.h"
#include "core/time.h"
#include "sink/kafka.h"
#include "sink/kafka_admin.h"
#include "source/kafka.h"

#define WATCHDOG_SECONDS 120
#define WAIT_MS 30000
#define MAX_VALUES 256

static const struct eddy_kv fast_group_props[] = {
    {"consumer.session.timeout.ms", "6000"},
    {"consumer.heartbeat.interval.ms", "500"},
    {"consumer.fetch.wait.max.ms", "100"},
};

static struct eddy_kconf kconf(void)
{
    const char *env = getenv("EDDY_BOOTSTRAP");
    struct eddy_kconf conf = {
        .bootstrap = env && *env ? env : "127.0.0.1:9092",
        .props = fast_group_props,
        .n_props = sizeof fast_group_props / sizeof fast_group_props[0],
    };
    return conf;
}

static int64_t now_ms(void)
{
    return eddy_mono_ns() / 1000000;
}

static void watchdog_fired(int sig)
{
    static const char msg[] = "test_kafka_io: watchdog: a test ran longer than 120 s\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* about to exit anyway */
    }
    _exit(124);
}

static void unique_name(char *out, size_t size, const char *what)
{
    static int counter;
    snprintf(out, size, "eddy-io-%s-%d-%lld-%d", what, (int)getpid(), (long long)time(NULL),
             ++counter);
}

static void require_broker(void)
{
    signal(SIGALRM, watchdog_fired);
    alarm(WATCHDOG_SECONDS);
    eddy_log_set_level(EDDY_LOG_WARN);
    struct eddy_kconf conf = kconf();
    int brokers = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    eddy_err_t err;
    while ((err = eddy__kafka_broker_count(&conf, &brokers)) && now_ms() < deadline)
        usleep(200 * 1000);
    cr_assert_eq(err, EDDY_OK,
                 "cannot reach the Kafka broker at %s within 30 s; start it with "
                 "'scripts/kafka start' or run tests/integration/run.sh",
                 conf.bootstrap);
}

static void make_topic(const char *name, int partitions, const char *policy)
{
    struct eddy_kconf conf = kconf();
    struct eddy_topic_spec spec = {name, partitions, -1, policy, -1};
    cr_assert_eq(eddy__kafka_create_topics(&conf, &spec, 1), EDDY_OK, "cannot create %s", name);
}

/* ---- independent librdkafka clients ---- */

static rd_kafka_t *raw_consumer(const char *group, const char *isolation)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[] = {
        "bootstrap.servers",
        kconf().bootstrap,
        "group.id",
        group,
        "isolation.level",
        isolation,
        "enable.auto.commit",
        "false",
        "enable.partition.eof",
        "true",
        "auto.offset.reset",
        "earliest",
        "fetch.wait.max.ms",
        "100",
        "log_level",
        "3",
        NULL,
    };
    for (int i = 0; settings[i]; i += 2)
        cr_assert_eq(rd_kafka_conf_set(conf, settings[i], settings[i + 1], errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

struct seen {
    int n;
    char values[MAX_VALUES][64];
    int32_t partitions[MAX_VALUES];
};

/* Reads every partition of @topic from the beginning to its end (for
 * read_committed: the last stable offset reaching the high watermark). */
static void read_all(const char *topic, int partitions, const char *isolation, struct seen *seen)
{
    char group[128];
    unique_name(group, sizeof group, "reader");
    rd_kafka_t *rk = raw_consumer(group, isolation);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    int64_t eof[16];
    for (int p = 0; p < partitions; p++)
        eof[p] = -1;
    seen->n = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        cr_assert_lt(now_ms(), deadline, "reading %s did not reach the end in 30 s", topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof[m->partition] = m->offset;
        } else if (m && !m->err) {
            cr_assert_lt(seen->n, MAX_VALUES);
            snprintf(seen->values[seen->n], sizeof seen->values[0], "%.*s", (int)m->len,
                     (const char *)m->payload);
            seen->partitions[seen->n++] = m->partition;
            eof[m->partition] = -1;
        }
        if (m) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int at_end = 1;
        for (int p = 0; p < partitions && at_end; p++) {
            int64_t lo, hi;
            at_end = eof[p] >= 0 &&
                     !rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) &&
                     eof[p] == hi;
        }
        if (at_end)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int count_prefix(const struct seen *seen, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < seen->n; i++)
        n += strncmp(seen->values[i], prefix, strlen(prefix)) == 0;
    return n;
}

/* The committed offsets of @group for @topic's partitions into @out. */
static void group_offsets(const char *group, const char *topic, int partitions, int64_t *out)
{
    rd_kafka_t *rk = raw_consumer(group, "read_committed");
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p);
    cr_assert_eq(rd_kafka_committed(rk, list, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int p = 0; p < partitions; p++)
        out[p] = list->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
}

static int64_t high_watermark(const char *topic, int32_t partition)
{
    rd_kafka_t *rk = raw_consumer("eddy-io-watermarks", "read_committed");
    int64_t lo = 0, hi = 0;
    cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 10000),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    return hi;
}

/* ---- eddy-side helpers ---- */

static void send_ok(struct eddy_kproducer *p, const char *topic, int32_t partition, const char *key,
                    const char *value)
{
    eddy_err_t err = eddy__kproducer_send(p, topic, partition, key, key ? strlen(key) : 0, value,
                                          value ? strlen(value) : 0);
    cr_assert_eq(err, EDDY_OK, "send to %s: %s", topic, eddy_err_name(err));
}

/* Produces @count records "<prefix><i>" to partition i % partitions, committed. */
static void produce_input(const char *topic, int partitions, const char *prefix, int count)
{
    struct eddy_kconf conf = kconf();
    struct eddy_kproducer *p = NULL;
    char value[64];
    cr_assert_eq(eddy__kproducer_new(&conf, NULL, &p), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    for (int i = 0; i < count; i++) {
        snprintf(value, sizeof value, "%s%d", prefix, i);
        send_ok(p, topic, i % partitions, NULL, value);
    }
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    eddy__kproducer_free(p);
}

/* Polls @c until @want records arrived; returns them in @msgs. */
static size_t poll_records(struct eddy_kconsumer *c, rd_kafka_message_t **msgs, size_t want)
{
    size_t got = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (got < want) {
        size_t n = 0;
        cr_assert_lt(now_ms(), deadline, "got %zu of %zu records in 30 s", got, want);
        cr_assert_eq(eddy__kconsumer_poll(c, msgs + got, want - got, 200, &n), EDDY_OK);
        got += n;
    }
    return got;
}

static void destroy_all(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
}

/* Sends "out-<input value>" for each record to @out (same partition) and
 * returns the input offsets to commit (last offset + 1 per partition). */
static rd_kafka_topic_partition_list_t *relay(struct eddy_kproducer *p, rd_kafka_message_t **msgs,
                                              size_t n, const char *out)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(4);
    char value[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(value, sizeof value, "out-%.*s", (int)msgs[i]->len,
                 (const char *)msgs[i]->payload);
        send_ok(p, out, msgs[i]->partition, NULL, value);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
            offsets, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offsets, rd_kafka_topic_name(msgs[i]->rkt),
                                                   msgs[i]->partition);
        if (msgs[i]->offset + 1 > tp->offset)
            tp->offset = msgs[i]->offset + 1;
    }
    return offsets;
}

/* ---- admin ---- */

static void describe_topic(const char *topic, const char *key, char *value, size_t size)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", kconf().bootstrap, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, queue);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, 20000);
    cr_assert_not_null(event, "DescribeConfigs(%s) got no answer", topic);
    cr_assert_eq(rd_kafka_event_error(event), RD_KAFKA_RESP_ERR_NO_ERROR, "%s",
                 rd_kafka_event_error_string(event));
    size_t n_res = 0, n_cfg = 0;
    const rd_kafka_ConfigResource_t **results = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(event), &n_res);
    cr_assert_eq(n_res, 1);
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(results[0], &n_cfg);
    value[0] = '\0';
    for (size_t i = 0; i < n_cfg; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), key) == 0)
            snprintf(value, size, "%s", rd_kafka_ConfigEntry_value(entries[i]));
    rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
}

static int replicas_of(const char *topic)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", kconf().bootstrap, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int replicas = md->topics[0].partitions[0].replica_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return replicas;
}

Test(kafka_io, create_topics_sets_partitions_policy_retention_and_replication)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char changelog[128], dlq[128], missing[128], value[64];
    unique_name(changelog, sizeof changelog, "store-changelog");
    unique_name(dlq, sizeof dlq, "dlq");
    unique_name(missing, sizeof missing, "missing");
    struct eddy_topic_spec specs[] = {
        {changelog, 3, -1, "compact", -1},
        {dlq, 2, -1, "delete", 3600000},
    };
    cr_assert_eq(eddy__kafka_create_topics(&conf, specs, 2), EDDY_OK);

    int partitions = 0, brokers = 0;
    cr_assert_eq(eddy__kafka_partition_count(&conf, changelog, &partitions), EDDY_OK);
    cr_assert_eq(partitions, 3);
    cr_assert_eq(eddy__kafka_partition_count(&conf, dlq, &partitions), EDDY_OK);
    cr_assert_eq(partitions, 2);
    cr_assert_eq(eddy__kafka_partition_count(&conf, missing, &partitions), EDDY_ENOTFOUND);
    cr_assert_eq(eddy__kafka_broker_count(&conf, &brokers), EDDY_OK);
    cr_assert_geq(brokers, 1);
    cr_assert_eq(replicas_of(changelog), brokers < 3 ? brokers : 3);

    describe_topic(changelog, "cleanup.policy", value, sizeof value);
    cr_assert_str_eq(value, "compact");
    describe_topic(dlq, "cleanup.policy", value, sizeof value);
    cr_assert_str_eq(value, "delete");
    describe_topic(dlq, "retention.ms", value, sizeof value);
    cr_assert_str_eq(value, "3600000");

    /* Existing topics are fine; one with another partition count is not. */
    cr_assert_eq(eddy__kafka_create_topics(&conf, specs, 2), EDDY_OK);
    struct eddy_topic_spec wrong = {changelog, 4, -1, "compact", -1};
    cr_assert_eq(eddy__kafka_create_topics(&conf, &wrong, 1), EDDY_ECONFIG);
    /* More replicas than brokers is a configuration error. */
    struct eddy_topic_spec too_many = {missing, 1, brokers + 1, NULL, -1};
    cr_assert_eq(eddy__kafka_create_topics(&conf, &too_many, 1), EDDY_ECONFIG);
    cr_assert_eq(eddy__kafka_partition_count(&conf, missing, &partitions), EDDY_ENOTFOUND);
}

/* ---- transactions ---- */

Test(kafka_io, transaction_commits_outputs_and_input_offsets_together)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char in[128], out[128], group[128], txn[128];
    unique_name(in, sizeof in, "in");
    unique_name(out, sizeof out, "out");
    unique_name(group, sizeof group, "group");
    unique_name(txn, sizeof txn, "txn");
    make_topic(in, 3, NULL);
    make_topic(out, 3, NULL);
    produce_input(in, 3, "event-", 30);

    const char *topics[] = {in};
    struct eddy_kconsumer *c = NULL;
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kconsumer_new(&conf, group, topics, 1, NULL, &c), EDDY_OK);
    cr_assert_eq(eddy__kproducer_new(&conf, txn, &p), EDDY_OK);
    const char *outputs[] = {out}, *nowhere[] = {out, "eddy-io-no-such-topic"};
    cr_assert_eq(eddy__kproducer_warm(p, outputs, 1), EDDY_OK);
    cr_assert_eq(eddy__kproducer_warm(p, nowhere, 2), EDDY_ENOTFOUND);
    rd_kafka_message_t *msgs[30];
    size_t n = poll_records(c, msgs, 30);

    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    rd_kafka_topic_partition_list_t *offsets = relay(p, msgs, n, out);
    cr_assert_eq(offsets->cnt, 3);
    cr_assert_eq(eddy__kproducer_commit(p, eddy__kconsumer_handle(c), offsets), EDDY_OK);
    for (int part = 0; part < 3; part++)
        cr_assert_eq(eddy__kproducer_next_offset(p, out, part), 10, "partition %d", part);
    cr_assert_eq(eddy__kproducer_next_offset(p, in, 0), -1);
    rd_kafka_topic_partition_list_destroy(offsets);
    destroy_all(msgs, n);
    eddy__kproducer_free(p);
    eddy__kconsumer_free(c);

    struct seen seen;
    read_all(out, 3, "read_committed", &seen);
    cr_assert_eq(seen.n, 30);
    cr_assert_eq(count_prefix(&seen, "out-event-"), 30);
    int64_t committed[3];
    group_offsets(group, in, 3, committed);
    for (int part = 0; part < 3; part++)
        cr_assert_eq(committed[part], 10, "group offset of %s[%d] is %" PRId64, in, part,
                     committed[part]);
}

Test(kafka_io, abort_hides_outputs_and_rewind_replays_from_committed_offsets)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char in[128], out[128], group[128], txn[128];
    unique_name(in, sizeof in, "in");
    unique_name(out, sizeof out, "out");
    unique_name(group, sizeof group, "group");
    unique_name(txn, sizeof txn, "txn");
    make_topic(in, 2, NULL);
    make_topic(out, 2, NULL);
    produce_input(in, 2, "event-", 20);

    const char *topics[] = {in};
    struct eddy_kconsumer *c = NULL;
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kconsumer_new(&conf, group, topics, 1, NULL, &c), EDDY_OK);
    cr_assert_eq(eddy__kproducer_new(&conf, txn, &p), EDDY_OK);

    /* First pass: processed, delivered, then aborted. */
    rd_kafka_message_t *msgs[20];
    size_t n = poll_records(c, msgs, 20);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    rd_kafka_topic_partition_list_t *offsets = relay(p, msgs, n, out);
    cr_assert_eq(rd_kafka_flush(eddy__kproducer_handle(p), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(eddy__kproducer_abort(p), EDDY_OK);
    destroy_all(msgs, n);

    /* Rewind: the same 20 records come again, from offset 0 of each partition. */
    cr_assert_eq(eddy__kconsumer_rewind(c, offsets), EDDY_OK);
    rd_kafka_topic_partition_list_destroy(offsets);
    n = poll_records(c, msgs, 20);
    int first[2] = {-1, -1}, per_partition[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (first[msgs[i]->partition] < 0)
            first[msgs[i]->partition] = (int)msgs[i]->offset;
        per_partition[msgs[i]->partition]++;
    }
    cr_assert_eq(first[0], 0);
    cr_assert_eq(first[1], 0);
    cr_assert_eq(per_partition[0], 10);
    cr_assert_eq(per_partition[1], 10);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    offsets = relay(p, msgs, n, out);
    cr_assert_eq(eddy__kproducer_commit(p, eddy__kconsumer_handle(c), offsets), EDDY_OK);
    rd_kafka_topic_partition_list_destroy(offsets);
    destroy_all(msgs, n);
    eddy__kproducer_free(p);
    eddy__kconsumer_free(c);

    struct seen committed_view, uncommitted_view;
    read_all(out, 2, "read_committed", &committed_view);
    read_all(out, 2, "read_uncommitted", &uncommitted_view);
    cr_assert_eq(committed_view.n, 20, "read_committed saw %d records", committed_view.n);
    cr_assert_eq(uncommitted_view.n, 40, "the aborted records are in the log too");
    int64_t group_committed[2];
    group_offsets(group, in, 2, group_committed);
    cr_assert_eq(group_committed[0], 10);
    cr_assert_eq(group_committed[1], 10);
}

Test(kafka_io, second_producer_with_same_transactional_id_fences_the_first)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char out[128], txn[128];
    unique_name(out, sizeof out, "out");
    unique_name(txn, sizeof txn, "txn");
    make_topic(out, 1, NULL);

    struct eddy_kproducer *zombie = NULL, *successor = NULL;
    cr_assert_eq(eddy__kproducer_new(&conf, txn, &zombie), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(zombie), EDDY_OK);
    send_ok(zombie, out, 0, "k", "from-zombie");
    cr_assert_eq(rd_kafka_flush(eddy__kproducer_handle(zombie), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    cr_assert_eq(eddy__kproducer_new(&conf, txn, &successor), EDDY_OK);
    cr_assert_eq(eddy__kproducer_commit(zombie, NULL, NULL), EDDY_EKAFKA_FATAL);
    eddy__kproducer_free(zombie);

    cr_assert_eq(eddy__kproducer_begin(successor), EDDY_OK);
    send_ok(successor, out, 0, "k", "from-successor");
    cr_assert_eq(eddy__kproducer_commit(successor, NULL, NULL), EDDY_OK);
    eddy__kproducer_free(successor);

    struct seen seen;
    read_all(out, 1, "read_committed", &seen);
    cr_assert_eq(seen.n, 1);
    cr_assert_str_eq(seen.values[0], "from-successor");
}

/* ---- changelog reader ---- */

struct restored {
    int n;
    char keys[32][16];
    char values[32][16];
    int tombstone[32];
    int64_t offsets[32];
    int fail_at; /* 1-based record number to fail at, 0: never */
};

static eddy_err_t collect(void *ctx, const void *key, size_t klen, const void *value, size_t vlen,
                          int64_t offset)
{
    struct restored *r = ctx;
    if (r->fail_at && r->n + 1 == r->fail_at)
        return EDDY_ESTATE;
    cr_assert_lt(r->n, 32);
    snprintf(r->keys[r->n], sizeof r->keys[0], "%.*s", (int)klen, (const char *)key);
    snprintf(r->values[r->n], sizeof r->values[0], "%.*s", (int)vlen,
             value ? (const char *)value : "");
    r->tombstone[r->n] = value == NULL;
    r->offsets[r->n++] = offset;
    return EDDY_OK;
}

Test(kafka_io, read_partition_reads_exactly_the_committed_records)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char topic[128], txn[128], missing[128];
    unique_name(topic, sizeof topic, "changelog");
    unique_name(txn, sizeof txn, "txn");
    unique_name(missing, sizeof missing, "missing");
    make_topic(topic, 2, "compact");

    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&conf, txn, &p), EDDY_OK);
    /* Partition 0: txn 1 at offsets 0-4 (+ marker 5), aborted txn 2 at 6-8
     * (+ marker 9), txn 3 at 10-11 (+ marker 12). Partition 1: one record. */
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_ok(p, topic, 0, "a", "1");
    send_ok(p, topic, 0, "b", "2");
    send_ok(p, topic, 0, "c", "3");
    send_ok(p, topic, 0, "b", NULL);
    send_ok(p, topic, 0, "d", "4");
    send_ok(p, topic, 1, "z", "other-partition");
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_ok(p, topic, 0, "a", "aborted");
    send_ok(p, topic, 0, "e", "aborted");
    send_ok(p, topic, 0, "f", "aborted");
    cr_assert_eq(rd_kafka_flush(eddy__kproducer_handle(p), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(eddy__kproducer_abort(p), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_ok(p, topic, 0, "a", "5");
    send_ok(p, topic, 0, "g", "6");
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    eddy__kproducer_free(p);
    int64_t high = high_watermark(topic, 0);
    cr_assert_eq(high, 13);

    struct restored r = {0};
    int64_t next = -1;
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 0, -1, collect, &r, &next), EDDY_OK);
    static const char *keys[] = {"a", "b", "c", "b", "d", "a", "g"};
    static const char *values[] = {"1", "2", "3", "", "4", "5", "6"};
    static const int64_t offsets[] = {0, 1, 2, 3, 4, 10, 11};
    cr_assert_eq(r.n, 7);
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(r.keys[i], keys[i], "record %d", i);
        cr_assert_str_eq(r.values[i], values[i], "record %d", i);
        cr_assert_eq(r.tombstone[i], i == 3, "record %d", i);
        cr_assert_eq(r.offsets[i], offsets[i], "record %d", i);
    }
    cr_assert_eq(next, 13);

    /* From a checkpoint inside the aborted transaction. */
    memset(&r, 0, sizeof r);
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 0, 6, collect, &r, &next), EDDY_OK);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.offsets[0], 10);
    cr_assert_str_eq(r.values[1], "6");
    cr_assert_eq(next, 13);

    /* At the end: nothing to read. Past it: a stale checkpoint. */
    memset(&r, 0, sizeof r);
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 0, 13, collect, &r, &next), EDDY_OK);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(next, 13);
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 0, 14, collect, &r, &next), EDDY_ERANGE);

    /* The other partition alone. */
    memset(&r, 0, sizeof r);
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 1, -1, collect, &r, &next), EDDY_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.values[0], "other-partition");
    cr_assert_eq(next, 2);

    /* The callback's error stops the read and is returned. */
    memset(&r, 0, sizeof r);
    r.fail_at = 3;
    cr_assert_eq(eddy__kafka_read_partition(&conf, topic, 0, -1, collect, &r, &next), EDDY_ESTATE);
    cr_assert_eq(r.n, 2);

    cr_assert_eq(eddy__kafka_read_partition(&conf, missing, 0, -1, collect, &r, &next),
                 EDDY_ENOTFOUND);
}

/* ---- rebalances ---- */

struct events {
    int n;
    char text[8][64];
};

static void record_event(struct events *ev, const char *what,
                         const rd_kafka_topic_partition_list_t *parts)
{
    cr_assert_lt(ev->n, 8);
    int len = snprintf(ev->text[ev->n], sizeof ev->text[0], "%s", what);
    for (int i = 0; i < parts->cnt; i++)
        len += snprintf(ev->text[ev->n] + len, sizeof ev->text[0] - (size_t)len, "%s%d",
                        i ? "," : " ", (int)parts->elems[i].partition);
    ev->n++;
}

static eddy_err_t on_assign(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    record_event(ctx, "assign", parts);
    return EDDY_OK;
}

static eddy_err_t on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    record_event(ctx, "revoke", parts);
    return EDDY_OK;
}

static void poll_until(struct eddy_kconsumer *a, struct events *ea, int want_a,
                       struct eddy_kconsumer *b, struct events *eb, int want_b)
{
    rd_kafka_message_t *msgs[8];
    int64_t deadline = now_ms() + WAIT_MS;
    while (ea->n < want_a || (b && eb->n < want_b)) {
        size_t n = 0;
        cr_assert_lt(now_ms(), deadline, "rebalance not done in 30 s (%d and %d events)", ea->n,
                     eb ? eb->n : 0);
        cr_assert_eq(eddy__kconsumer_poll(a, msgs, 8, 100, &n), EDDY_OK);
        destroy_all(msgs, n);
        if (b) {
            cr_assert_eq(eddy__kconsumer_poll(b, msgs, 8, 100, &n), EDDY_OK);
            destroy_all(msgs, n);
        }
    }
}

Test(kafka_io, range_assignor_splits_partitions_and_calls_back_on_each_rebalance)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char topic[128], group[128];
    unique_name(topic, sizeof topic, "in");
    unique_name(group, sizeof group, "group");
    make_topic(topic, 4, NULL);

    const char *topics[] = {topic};
    struct events ea = {0}, eb = {0};
    struct eddy_kconsumer_cbs cbs_a = {on_assign, on_revoke, &ea, NULL};
    struct eddy_kconsumer_cbs cbs_b = {on_assign, on_revoke, &eb, NULL};
    struct eddy_kconsumer *a = NULL, *b = NULL;
    cr_assert_eq(eddy__kconsumer_new(&conf, group, topics, 1, &cbs_a, &a), EDDY_OK);
    poll_until(a, &ea, 1, NULL, NULL, 0);
    cr_assert_str_eq(ea.text[0], "assign 0,1,2,3");

    cr_assert_eq(eddy__kconsumer_new(&conf, group, topics, 1, &cbs_b, &b), EDDY_OK);
    poll_until(a, &ea, 3, b, &eb, 1);
    cr_assert_str_eq(ea.text[1], "revoke 0,1,2,3");
    /* Range: the member whose id sorts first gets 0,1, the other 2,3. */
    int a_first = strcmp(ea.text[2], "assign 0,1") == 0;
    cr_assert_str_eq(ea.text[2], a_first ? "assign 0,1" : "assign 2,3");
    cr_assert_str_eq(eb.text[0], a_first ? "assign 2,3" : "assign 0,1");

    /* b leaves: its partitions are revoked in close, a takes all four. */
    eddy__kconsumer_free(b);
    cr_assert_eq(eb.n, 2);
    cr_assert_str_eq(eb.text[1], a_first ? "revoke 2,3" : "revoke 0,1");
    poll_until(a, &ea, 5, NULL, NULL, 0);
    cr_assert_str_eq(ea.text[3], a_first ? "revoke 0,1" : "revoke 2,3");
    cr_assert_str_eq(ea.text[4], "assign 0,1,2,3");
    eddy__kconsumer_free(a);
    cr_assert_eq(ea.n, 6);
    cr_assert_str_eq(ea.text[5], "revoke 0,1,2,3");
}

Test(kafka_io, paused_partition_is_not_fetched_until_resumed)
{
    require_broker();
    struct eddy_kconf conf = kconf();
    char topic[128], group[128];
    unique_name(topic, sizeof topic, "in");
    unique_name(group, sizeof group, "group");
    make_topic(topic, 2, NULL);

    const char *topics[] = {topic};
    struct events ev = {0};
    struct eddy_kconsumer_cbs cbs = {on_assign, on_revoke, &ev, NULL};
    struct eddy_kconsumer *c = NULL;
    cr_assert_eq(eddy__kconsumer_new(&conf, group, topics, 1, &cbs, &c), EDDY_OK);
    poll_until(c, &ev, 1, NULL, NULL, 0);
    cr_assert_str_eq(ev.text[0], "assign 0,1");

    rd_kafka_topic_partition_list_t *first = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(first, topic, 0);
    cr_assert_eq(eddy__kconsumer_pause(c, first), EDDY_OK);
    produce_input(topic, 2, "event-", 10);

    rd_kafka_message_t *msgs[10];
    size_t n = poll_records(c, msgs, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(msgs[i]->partition, 1, "record from paused partition 0");
    destroy_all(msgs, n);
    int64_t until = now_ms() + 1000;
    while (now_ms() < until) {
        cr_assert_eq(eddy__kconsumer_poll(c, msgs, 10, 100, &n), EDDY_OK);
        cr_assert_eq(n, 0, "%zu record(s) while partition 0 was paused", n);
    }

    cr_assert_eq(eddy__kconsumer_resume(c, first), EDDY_OK);
    n = poll_records(c, msgs, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(msgs[i]->partition, 0);
    destroy_all(msgs, n);
    rd_kafka_topic_partition_list_destroy(first);
    eddy__kconsumer_free(c);
}
