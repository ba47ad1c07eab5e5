/*
 * test_kafka_mock.c - fault injection for eddy's Kafka producer
 * (src/sink/kafka.c) against librdkafka's in-process mock cluster.
 *
 * The mock cluster is NOT evidence that Kafka semantics hold (it has no real
 * fencing, read_committed or compaction; see tests/integration/test_kafka_io.c
 * for that). It is used only to inject faults the real broker cannot be made
 * to produce on demand: request errors (rd_kafka_mock_push_request_errors)
 * and a broker that is down for a while. The assertions are on how eddy's
 * layer classifies and survives them: retriable → eventual success,
 * abortable → EDDY_EAGAIN with the transaction aborted, fatal →
 * EDDY_EKAFKA_FATAL, broker down → no spinning, success after it returns.
 *
 * Each test makes its own one-broker cluster with topic "in" (3 partitions)
 * and arms alarm(20) as a watchdog. Protocol API keys (Kafka's numbers):
 * Produce 0, EndTxn 26.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "sink/kafka.h"
#include "source/kafka.h"

#define API_PRODUCE 0
#define API_END_TXN 26
#define TOPIC "in"

static rd_kafka_t *holder;
static rd_kafka_mock_cluster_t *mock;
/* Reconnect quickly once the broker is back, to keep the test short; this
 * also exercises the pass-through of properties. */
static const struct eddy_kv props[] = {
    {"reconnect.backoff.max.ms", "500"},
    {"producer.reconnect.backoff.ms", "100"},
    {"consumer.no.such.property", "ignored by producers"},
};
static struct eddy_kconf kconf = {.props = props, .n_props = 3};

static void watchdog_fired(int sig)
{
    static const char msg[] = "test_kafka_mock: watchdog: a test ran longer than 20 s\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* about to exit anyway */
    }
    _exit(124);
}

static void mock_up(void)
{
    char errstr[256];
    signal(SIGALRM, watchdog_fired);
    alarm(20);
    eddy_log_set_level(EDDY_LOG_WARN);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert_not_null(holder, "cannot make the mock cluster's handle: %s", errstr);
    mock = rd_kafka_mock_cluster_new(holder, 1);
    cr_assert_not_null(mock);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, TOPIC, 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    kconf.bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
}

static void mock_down(void)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(holder);
}

TestSuite(kafka_mock, .init = mock_up, .fini = mock_down);

static void send_records(struct eddy_kproducer *p, int32_t partition, int count)
{
    char key[16], value[32];
    for (int i = 0; i < count; i++) {
        int klen = snprintf(key, sizeof key, "k%d", i);
        int vlen = snprintf(value, sizeof value, "value-%d", i);
        eddy_err_t err =
            eddy__kproducer_send(p, TOPIC, partition, key, (size_t)klen, value, (size_t)vlen);
        cr_assert_eq(err, EDDY_OK, "send %d: %s", i, eddy_err_name(err));
    }
}

Test(kafka_mock, produce_survives_injected_retriable_errors)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, NULL, &p), EDDY_OK);
    rd_kafka_mock_push_request_errors(
        mock, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR__TRANSPORT);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 1, 200);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    /* Exactly 200 records at offsets 0..199: retried, not duplicated. */
    cr_assert_eq(eddy__kproducer_next_offset(p, TOPIC, 1), 200);
    cr_assert_eq(eddy__kproducer_next_offset(p, TOPIC, 0), -1);
    eddy__kproducer_reset_positions(p);
    cr_assert_eq(eddy__kproducer_next_offset(p, TOPIC, 1), -1);
    eddy__kproducer_free(p);
}

Test(kafka_mock, failed_delivery_makes_an_at_least_once_commit_return_eagain)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, NULL, &p), EDDY_OK);
    /* Warm up so that the next Produce request carries our records. */
    send_records(p, 0, 1);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 0, 1);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_EAGAIN);
    /* The batch is retried by the caller and goes through. */
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 0, 1);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    cr_assert_eq(eddy__kproducer_next_offset(p, TOPIC, 0), 2);
    eddy__kproducer_free(p);
}

Test(kafka_mock, abortable_error_aborts_and_returns_eagain_then_next_txn_commits)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, "mock-txn-abortable", &p), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    send_records(p, 2, 5);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_EAGAIN);
    /* Aborted already: the caller begins again and retries the batch. The
     * mock answers the first retry with OUT_OF_ORDER_SEQUENCE_NUMBER (it does
     * not reset sequences on the epoch bump), again abortable; the one after
     * commits. */
    eddy_err_t err = EDDY_EAGAIN;
    int attempts = 0;
    while (err == EDDY_EAGAIN && attempts++ < 3) {
        cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
        send_records(p, 2, 5);
        err = eddy__kproducer_commit(p, NULL, NULL);
    }
    cr_assert_eq(err, EDDY_OK, "no commit after %d retries: %s", attempts, eddy_err_name(err));
    cr_assert_gt(eddy__kproducer_next_offset(p, TOPIC, 2), 0);
    eddy__kproducer_free(p);
}

Test(kafka_mock, retriable_end_txn_errors_are_retried_until_commit_succeeds)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, "mock-txn-retriable", &p), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 0, 3);
    rd_kafka_mock_push_request_errors(mock, API_END_TXN, 2,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);
    eddy__kproducer_free(p);
}

Test(kafka_mock, fenced_end_txn_is_fatal)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, "mock-txn-fenced", &p), EDDY_OK);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 0, 3);
    rd_kafka_mock_push_request_errors(mock, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_EKAFKA_FATAL);
    /* Once fatal, every call says so: the caller must make a new producer. */
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_EKAFKA_FATAL);
    eddy__kproducer_free(p);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *bring_broker_up_after_3s(void *arg)
{
    (void)arg;
    sleep(3);
    rd_kafka_mock_broker_set_up(mock, 1);
    return NULL;
}

Test(kafka_mock, broker_down_for_3s_neither_crashes_nor_spins_and_then_delivers)
{
    /* A local queue of 100 records: the 1000 sends below hit
     * RD_KAFKA_RESP_ERR__QUEUE_FULL while the broker is down and must wait
     * (backpressure) rather than fail or spin. */
    static const struct eddy_kv small_queue_props[] = {
        {"reconnect.backoff.max.ms", "500"},
        {"queue.buffering.max.messages", "100"},
    };
    struct eddy_kconf small_queue = {kconf.bootstrap, small_queue_props, 2};
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&small_queue, NULL, &p), EDDY_OK);
    send_records(p, 0, 10);
    cr_assert_eq(eddy__kproducer_commit(p, NULL, NULL), EDDY_OK);

    pthread_t upper;
    double cpu0 = cpu_seconds();
    int64_t t0 = eddy_mono_ns();
    cr_assert_eq(rd_kafka_mock_broker_set_down(mock, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(pthread_create(&upper, NULL, bring_broker_up_after_3s, NULL), 0);
    cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
    send_records(p, 0, 1000);
    eddy_err_t err = eddy__kproducer_commit(p, NULL, NULL);
    double wall = (double)(eddy_mono_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    pthread_join(upper, NULL);

    cr_log_info("broker down 3 s: flushed after %.2f s using %.3f s of CPU", wall, cpu);
    cr_assert_eq(err, EDDY_OK, "commit after the broker came back: %s", eddy_err_name(err));
    cr_assert_geq(wall, 2.5, "the flush returned after %.2f s, before the broker was up", wall);
    cr_assert_lt(cpu, 1.0, "%.2f s of CPU in %.2f s with the broker down: spinning", cpu, wall);
    cr_assert_eq(eddy__kproducer_next_offset(p, TOPIC, 0), 1010);
    eddy__kproducer_free(p);
}

/* A record the broker keeps refusing as too large: the caller's
 * abort-and-replay would loop forever; after 5 transactions in a row the
 * producer says so and gives up with EDDY_EINVAL. */
Test(kafka_mock, a_record_refused_as_too_large_five_times_gives_up)
{
    struct eddy_kproducer *p = NULL;
    cr_assert_eq(eddy__kproducer_new(&kconf, "mock-txn-too-large", &p), EDDY_OK);
    eddy_err_t err = EDDY_OK;
    int attempts = 0;
    while (err != EDDY_EINVAL && attempts++ < 10) {
        rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
                                          RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
        cr_assert_eq(eddy__kproducer_begin(p), EDDY_OK);
        send_records(p, 2, 1);
        err = eddy__kproducer_commit(p, NULL, NULL);
        cr_assert(err == EDDY_EAGAIN || err == EDDY_EINVAL, "attempt %d: %s", attempts,
                  eddy_err_name(err));
    }
    cr_assert_eq(err, EDDY_EINVAL);
    cr_assert_eq(attempts, 5);
    eddy__kproducer_free(p);
}

/* The stream time committed as the input offset's metadata. */
Test(offset_meta, formats_and_parses_back_every_stream_time)
{
    const int64_t times[] = {0, 1, -1, 1795698000000, INT64_MAX, INT64_MIN + 1, INT64_MIN};
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        char buf[64];
        size_t len = eddy__offset_meta_format(buf, sizeof buf, times[i]);
        int64_t back = 42;
        cr_assert(eddy__offset_meta_parse(buf, len, &back), "%s", buf);
        cr_expect_eq(back, times[i], "%s", buf);
    }
    char buf[64];
    cr_expect_eq(eddy__offset_meta_format(buf, sizeof buf, 1795698000000), 21);
    cr_expect_str_eq(buf, "eddy:st=1795698000000");
}

Test(offset_meta, refuses_anything_else)
{
    static const char *const bad[] = {
        "", "eddy:st=", "eddy:st=-", "eddy:st=+5", "eddy:st= 5", "eddy:st=5 ", "eddy:st=5x",
        "eddy:st=9223372036854775808", "eddy:st=-9223372036854775809",
        "eddy:st=99999999999999999999", "eddy:ts=5", "EDDY:st=5", "st=5", "some tool's note",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t st = 42;
        cr_expect_not(eddy__offset_meta_parse(bad[i], strlen(bad[i]), &st), "'%s'", bad[i]);
        cr_expect_eq(st, 42, "'%s' changed the result", bad[i]);
    }
    int64_t st = 42;
    cr_expect_not(eddy__offset_meta_parse(NULL, 0, &st));
    /* the length counts, not a NUL: a longer buffer is not read past it */
    cr_expect(eddy__offset_meta_parse("eddy:st=123456", 10, &st));
    cr_expect_eq(st, 12);
}
