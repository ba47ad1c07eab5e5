/*
 * bench_latency.c - end-to-end latency of a Kafka-mode topology: from the
 * moment an event is produced to the moment its result is readable by a
 * read_committed consumer. Driven by bench/latency.sh, which starts eddy.
 *
 *   bench_latency --bootstrap H:P --input TOPIC --output TOPIC [--rate EPS]
 *                 [--seconds S] [--warmup S] [--tail S] [--probe-ms MS] [--drain S]
 *                 [--fetch-wait-ms MS] [--update-ms MS] [--samples PATH]
 *
 * Load: `eddy gen service-logs --live` in this process (eddy_gen_run, the
 * same producer settings as `eddy gen --topic`: idempotent, lz4, linger 5 ms,
 * murmur2 by service) paced at --rate events/s (default 100000) for
 * --warmup + --seconds (default 5 + 60) of wall time, then --tail (default
 * 2) more seconds without probes, so that stream time passes the 1 s
 * boundary after the last probe (else its update would never be emitted).
 *
 * Probes: every --probe-ms (default 10) the producer loop also sends one
 * service-log event of service "probe-<n>" (a new group key each time,
 * keyed like the load, so probes spread over every input partition) whose
 * timestamp is its wall-clock send time t. Its first output row (an
 * intermediate update, emit {updates: 1s}) is emitted when its partition's
 * stream time crosses a multiple of 1 s (--update-ms, default 1000: the
 * topology's updates interval), and becomes readable when eddy's
 * transaction holding it commits. eddy aggregates a record, then advances
 * stream time to it and emits updates, so the earliest moment U at which
 * the update can exist is known from the order of records in the
 * partition: U = t when the probe itself crosses the boundary (no earlier
 * record of its partition has a time in [floor(t / 1 s) s, t]), else the
 * next boundary, U = (floor(t / 1 s) + 1) s, which a later record crosses.
 * To know that order this program partitions every record itself with
 * librdkafka's murmur2_random partitioner (what `eddy gen --topic` and
 * eddy's producers use) and remembers the latest event time sent to each
 * partition. A consumer thread reads the output topic (read_committed,
 * every partition from the start, fetch.wait.max.ms --fetch-wait-ms,
 * default 10, which bounds the delay this reader adds) and notes, for each
 * probe, the wall time r at which its first row arrived. Two distributions
 * over the probes sent after the warm-up:
 *   latency       r - t   what a reader sees (includes the wait for the
 *                         next boundary: 500 ms on average, up to 1 s);
 *   after_update  r - U   eddy's share: from the earliest moment the update
 *                         could be made to it being readable (fetch,
 *                         process, the rest of the commit interval, the
 *                         transaction commit, the reader's fetch).
 * Probes not seen --drain seconds (default 30) after the load stops are
 * reported as missing (never counted as fast).
 *
 * Output (stdout): a few explained lines, then one line of key=value:
 *   RESULT target_rate= rate= events= seconds= probes= missing= rows=
 *          p50_ms= p90_ms= p99_ms= p999_ms= max_ms=
 *          upd_p50_ms= upd_p90_ms= upd_p99_ms= upd_p999_ms= upd_max_ms=
 * rate is events produced per second of the measured period (probes
 * excluded). --samples PATH writes one line per measured probe:
 * "n t_us U_us r_us" (r_us -1 when missing).
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/timestamp.h"
#include "core/time.h"
#include "gen/gen.h"
#include "sink/kafka.h"

#define PROBE_PREFIX "probe-"

struct probe {
    int64_t sent_us;             /* wall clock at send (µs) = event time */
    int64_t update_us;           /* earliest moment its update can be emitted */
    _Atomic int64_t received_us; /* wall clock of the first result row; 0 = none yet */
};

struct options {
    const char *bootstrap, *input, *output, *samples;
    double rate;
    int seconds, warmup, tail, probe_ms, drain, fetch_wait_ms, update_ms;
};

struct bench {
    struct options opt;
    struct eddy_kproducer *producer;
    rd_kafka_topic_t *input_topic; /* for the partitioner */
    int32_t n_partitions;
    int64_t *partition_time; /* latest event time sent to each input partition (ms) */
    struct probe *probes;
    uint32_t n_probes, max_probes, first_measured; /* probes [first_measured, n_probes) count */
    int64_t start_ns, warm_ns, end_ns, next_probe_ns;
    int64_t probe_end_ns; /* end of the measured period; the load goes on to end_ns */
    uint64_t produced, produced_at_warm, produced_at_end;
    bool measured; /* the measured period is over: no more probes */
    volatile int stop;
    /* consumer thread */
    rd_kafka_t *consumer;
    _Atomic int consumer_stop;
    _Atomic uint64_t rows, updates;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- probes and load (producer thread = main thread) ---- */

/* Partition of @key as the producer's murmur2_random partitioner picks it. */
static int32_t partition_of(const struct bench *b, const char *key, size_t len)
{
    return rd_kafka_msg_partitioner_murmur2_random(b->input_topic, key, len, b->n_partitions, NULL,
                                                   NULL);
}

/* Sends a record to its partition, noting the partition's latest event time. */
static eddy_err_t send_record(struct bench *b, const char *key, size_t klen, const char *value,
                              size_t vlen, int64_t event_ms)
{
    int32_t p = partition_of(b, key, klen);
    if (event_ms > b->partition_time[p])
        b->partition_time[p] = event_ms;
    return eddy__kproducer_send(b->producer, b->opt.input, p, key, klen, value, vlen);
}

/* Event time of a generated service log (its "timestamp"), or -1. */
static int64_t event_time_of(const char *value, size_t len)
{
    static const char needle[] = "\"timestamp\":\"";
    const char *hit = memmem(value, len, needle, sizeof needle - 1);
    if (!hit)
        return -1;
    const char *start = hit + sizeof needle - 1;
    const char *end = memchr(start, '"', len - (size_t)(start - value));
    int64_t ms;
    return end && eddy__ts_parse_rfc3339(start, (size_t)(end - start), &ms) ? ms : -1;
}

static eddy_err_t send_probe(struct bench *b)
{
    int64_t now_us = wall_us();
    if (b->n_probes == b->max_probes)
        return EDDY_OK;
    uint32_t n = b->n_probes++;
    char ts[32], key[32], value[512];
    eddy_time_format(now_us / 1000, ts);
    int klen = snprintf(key, sizeof key, PROBE_PREFIX "%" PRIu32, n);
    int vlen = snprintf(value, sizeof value,
                        "{\"service\":\"%s\",\"timestamp\":\"%s\",\"status_code\":200,"
                        "\"latency_ms\":1,\"error\":false,\"request_id\":\"%s\","
                        "\"tenant_id\":\"t-probe\",\"tenant_tier\":\"free\",\"region\":\"NA\","
                        "\"endpoint\":\"/probe\",\"user_id\":\"u-probe\",\"bytes_out\":1}",
                        key, ts, key);
    int64_t t_ms = now_us / 1000, every = b->opt.update_ms, boundary_ms = t_ms - t_ms % every;
    bool crosses = b->partition_time[partition_of(b, key, (size_t)klen)] < boundary_ms;
    b->probes[n].sent_us = now_us;
    b->probes[n].update_us = crosses ? now_us : (boundary_ms + every) * 1000;
    int64_t interval = (int64_t)b->opt.probe_ms * 1000000, now = eddy_mono_ns();
    b->next_probe_ns += interval;
    if (b->next_probe_ns < now) /* the loop stalled: no burst of probes to catch up */
        b->next_probe_ns = now + interval;
    return send_record(b, key, (size_t)klen, value, (size_t)vlen, t_ms);
}

static eddy_err_t emit_event(void *ctx, const char *key, size_t key_len, const char *value,
                             size_t value_len)
{
    struct bench *b = ctx;
    int64_t now = eddy_mono_ns();
    if (now >= b->end_ns || interrupted) {
        b->stop = 1; /* eddy_gen_run checks it before the next event */
        return EDDY_OK;
    }
    if (!b->measured && now >= b->probe_end_ns) {
        b->measured = true;
        b->probe_end_ns = now;
        b->produced_at_end = b->produced;
    }
    if (!b->warm_ns && now >= b->start_ns + (int64_t)b->opt.warmup * 1000000000) {
        b->warm_ns = now;
        b->produced_at_warm = b->produced;
        b->first_measured = b->n_probes;
    }
    eddy_err_t err = EDDY_OK;
    if (now >= b->next_probe_ns && !b->measured)
        err = send_probe(b);
    int64_t event_ms = event_time_of(value, value_len);
    if (!err && event_ms < 0) {
        fprintf(stderr, "bench_latency: no timestamp in a generated event: %.*s\n", (int)value_len,
                value);
        err = EDDY_EINVAL;
    }
    if (!err)
        err = send_record(b, key, key_len, value, value_len, event_ms);
    if (!err && (++b->produced & 1023) == 0)
        rd_kafka_poll(eddy__kproducer_handle(b->producer), 0); /* delivery reports */
    return err;
}

/* ---- the read_committed reader (its own thread) ---- */

/* "probe-<n>" as the service of a result row, else -1. */
static int64_t probe_of_row(const rd_kafka_message_t *m)
{
    static const char needle[] = "\"service\":\"" PROBE_PREFIX;
    const char *v = m->payload;
    if (!v || !m->len)
        return -1;
    const char *hit = memmem(v, m->len, needle, sizeof needle - 1);
    if (!hit)
        return -1;
    const char *p = hit + sizeof needle - 1, *end = v + m->len;
    int64_t n = 0;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9')
        n = n * 10 + (*p++ - '0');
    return (p < end && *p == '"') ? n : -1;
}

static void note_row(struct bench *b, const rd_kafka_message_t *m, int64_t now_us)
{
    atomic_fetch_add(&b->rows, 1);
    if (m->payload && memmem(m->payload, m->len, "\"final\":false", 13))
        atomic_fetch_add(&b->updates, 1);
    int64_t n = probe_of_row(m);
    if (n < 0 || n >= (int64_t)b->max_probes)
        return;
    int64_t none = 0;
    atomic_compare_exchange_strong(&b->probes[n].received_us, &none, now_us);
}

static void *consume(void *arg)
{
    struct bench *b = arg;
    while (!atomic_load(&b->consumer_stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->consumer, 100);
        if (!m)
            continue;
        int64_t now_us = wall_us();
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            note_row(b, m, now_us);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "bench_latency: consumer: %s\n", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return 0;
    fprintf(stderr, "bench_latency: %s=%s: %s\n", key, value, errstr);
    return -1;
}

/* Partitions of @topic, waiting up to 30 s for it to exist; -1 on failure. */
static int partition_count(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int count = -1;
    for (int attempt = 0; t && attempt < 60 && count <= 0; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                count = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (count <= 0)
            nanosleep(&(struct timespec){0, 500000000}, NULL);
    }
    if (t)
        rd_kafka_topic_destroy(t);
    return count;
}

static int consumer_start(struct bench *b)
{
    char errstr[256], group[64], wait[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "bench-latency-%d", (int)getpid());
    snprintf(wait, sizeof wait, "%d", b->opt.fetch_wait_ms);
    if (set(conf, "bootstrap.servers", b->opt.bootstrap) || set(conf, "group.id", group) ||
        set(conf, "isolation.level", "read_committed") ||
        set(conf, "enable.auto.commit", "false") || set(conf, "fetch.wait.max.ms", wait)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    b->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!b->consumer) {
        fprintf(stderr, "bench_latency: cannot make a consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int partitions = partition_count(b->consumer, b->opt.output);
    if (partitions <= 0) {
        fprintf(stderr, "bench_latency: output topic '%s' not found\n", b->opt.output);
        return -1;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, b->opt.output, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(b->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        fprintf(stderr, "bench_latency: assign: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* ---- statistics ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted @v (n > 0), in ms. */
static double pct(const int64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return (double)v[rank - 1] / 1000.0;
}

struct dist {
    double p50, p90, p99, p999, max;
};

static struct dist summarize(int64_t *v, size_t n)
{
    struct dist d = {0};
    if (!n)
        return d;
    qsort(v, n, sizeof *v, cmp_i64);
    d = (struct dist){pct(v, n, .5), pct(v, n, .9), pct(v, n, .99), pct(v, n, .999),
                      (double)v[n - 1] / 1000.0};
    return d;
}

static void print_dist(const char *what, const struct dist *d, size_t n)
{
    printf("%-13s n=%zu  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms\n", what,
           n, d->p50, d->p90, d->p99, d->p999, d->max);
}

/* Waits until every measured probe has a row or @drain seconds passed. */
static void drain(struct bench *b)
{
    int64_t deadline = eddy_mono_ns() + (int64_t)b->opt.drain * 1000000000;
    while (eddy_mono_ns() < deadline && !interrupted) {
        uint32_t missing = 0;
        for (uint32_t i = b->first_measured; i < b->n_probes; i++)
            missing += atomic_load(&b->probes[i].received_us) == 0;
        if (!missing)
            return;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
}

static int report(struct bench *b)
{
    size_t measured = b->n_probes - b->first_measured, n = 0, crossed = 0;
    int64_t *lat = calloc(measured + 1, sizeof *lat), *upd = calloc(measured + 1, sizeof *upd);
    FILE *samples = b->opt.samples ? fopen(b->opt.samples, "w") : NULL;
    if (!lat || !upd || (b->opt.samples && !samples)) {
        fprintf(stderr, "bench_latency: out of memory or cannot write samples\n");
        return 1;
    }
    for (uint32_t i = b->first_measured; i < b->n_probes; i++) {
        int64_t t = b->probes[i].sent_us, r = atomic_load(&b->probes[i].received_us);
        int64_t u = b->probes[i].update_us;
        crossed += u == t;
        if (samples)
            fprintf(samples, "%" PRIu32 " %" PRId64 " %" PRId64 " %" PRId64 "\n", i, t, u,
                    r ? r : -1);
        if (!r)
            continue;
        lat[n] = r - t;
        upd[n++] = r - u;
    }
    if (samples)
        fclose(samples);
    double secs = (double)(b->probe_end_ns - b->warm_ns) / 1e9;
    uint64_t events = b->produced_at_end - b->produced_at_warm;
    double rate = (double)events / secs;
    struct dist dl = summarize(lat, n), du = summarize(upd, n);
    printf("producer: %" PRIu64 " events in %.1f s measured after %d s of warm-up = %.0f "
           "events/s (target %.0f), plus %zu probes\n",
           events, secs, b->opt.warmup, rate, b->opt.rate, measured);
    printf("output: %" PRIu64 " rows read (read_committed), %" PRIu64 " of them updates\n",
           atomic_load(&b->rows), atomic_load(&b->updates));
    print_dist("latency", &dl, n);
    print_dist("after_update", &du, n);
    printf("(%zu probes crossed a %d ms boundary themselves: U = t for them)\n", crossed,
           b->opt.update_ms);
    if (n < measured)
        printf("MISSING: %zu probes had no result row %d s after the load stopped\n", measured - n,
               b->opt.drain);
    printf("RESULT target_rate=%.0f rate=%.0f events=%" PRIu64 " seconds=%.1f probes=%zu "
           "missing=%zu rows=%" PRIu64 " p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f p999_ms=%.1f "
           "max_ms=%.1f upd_p50_ms=%.1f upd_p90_ms=%.1f upd_p99_ms=%.1f upd_p999_ms=%.1f "
           "upd_max_ms=%.1f\n",
           b->opt.rate, rate, events, secs, measured, measured - n, atomic_load(&b->rows), dl.p50,
           dl.p90, dl.p99, dl.p999, dl.max, du.p50, du.p90, du.p99, du.p999, du.max);
    free(lat);
    free(upd);
    return n ? 0 : 1;
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.rate = 100000,
                          .seconds = 60,
                          .warmup = 5,
                          .tail = 2,
                          .probe_ms = 10,
                          .drain = 30,
                          .fetch_wait_ms = 10,
                          .update_ms = 1000};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--bootstrap"))
            o->bootstrap = v;
        else if (!strcmp(a, "--input"))
            o->input = v;
        else if (!strcmp(a, "--output"))
            o->output = v;
        else if (!strcmp(a, "--samples"))
            o->samples = v;
        else if (!strcmp(a, "--rate"))
            o->rate = atof(v);
        else if (!strcmp(a, "--seconds"))
            o->seconds = atoi(v);
        else if (!strcmp(a, "--warmup"))
            o->warmup = atoi(v);
        else if (!strcmp(a, "--tail"))
            o->tail = atoi(v);
        else if (!strcmp(a, "--probe-ms"))
            o->probe_ms = atoi(v);
        else if (!strcmp(a, "--drain"))
            o->drain = atoi(v);
        else if (!strcmp(a, "--fetch-wait-ms"))
            o->fetch_wait_ms = atoi(v);
        else if (!strcmp(a, "--update-ms"))
            o->update_ms = atoi(v);
        else
            return -1;
    }
    if (!o->bootstrap || !o->input || !o->output || o->rate <= 0 || o->seconds <= 0 ||
        o->warmup < 0 || o->tail < 0 || o->probe_ms <= 0 || o->drain < 0 || o->fetch_wait_ms < 0 ||
        o->update_ms <= 0 ||
        argc % 2 == 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    if (parse_args(argc, argv, &b.opt)) {
        fprintf(stderr, "usage: bench_latency --bootstrap H:P --input TOPIC --output TOPIC "
                        "[--rate EPS] [--seconds S] [--warmup S] [--tail S] [--probe-ms MS] "
                        "[--drain S] "
                        "[--fetch-wait-ms MS] [--update-ms MS] [--samples PATH]\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    b.max_probes = (uint32_t)((int64_t)(b.opt.warmup + b.opt.seconds) * 1000 / b.opt.probe_ms + 16);
    b.probes = calloc(b.max_probes, sizeof *b.probes);
    struct eddy_kconf kconf = {b.opt.bootstrap, NULL, 0};
    pthread_t reader;
    if (!b.probes || consumer_start(&b) || eddy__kproducer_new(&kconf, NULL, &b.producer))
        return 1;
    rd_kafka_t *rk = eddy__kproducer_handle(b.producer);
    b.input_topic = rd_kafka_topic_new(rk, b.opt.input, NULL);
    b.n_partitions = partition_count(rk, b.opt.input);
    if (!b.input_topic || b.n_partitions <= 0) {
        fprintf(stderr, "bench_latency: input topic '%s' not found\n", b.opt.input);
        return 1;
    }
    b.partition_time = calloc((size_t)b.n_partitions, sizeof *b.partition_time);
    if (!b.partition_time)
        return 1;
    if (pthread_create(&reader, NULL, consume, &b)) {
        fprintf(stderr, "bench_latency: cannot start the reader thread\n");
        return 1;
    }
    struct eddy_gen_opts gen;
    eddy_gen_opts_defaults(&gen);
    gen.count = 0; /* until b.stop */
    gen.rate = b.opt.rate;
    gen.live = true;
    b.start_ns = b.next_probe_ns = eddy_mono_ns();
    b.probe_end_ns = b.start_ns + (int64_t)(b.opt.warmup + b.opt.seconds) * 1000000000;
    b.end_ns = b.probe_end_ns + (int64_t)b.opt.tail * 1000000000;
    fprintf(stderr, "bench_latency: load started\n");
    eddy_err_t err = eddy_gen_run("service-logs", &gen, emit_event, &b, &b.stop);
    if (!err)
        err = eddy__kproducer_commit(b.producer, NULL, NULL); /* flush: every record delivered */
    if (err)
        fprintf(stderr, "bench_latency: producing failed: %s\n", eddy_err_message(err));
    if (!b.warm_ns || !b.measured) {
        fprintf(stderr, "bench_latency: stopped before the end of the measured period\n");
        err = err ? err : EDDY_EINVAL;
    }
    if (!err)
        drain(&b);
    atomic_store(&b.consumer_stop, 1);
    pthread_join(reader, NULL);
    int rc = err ? 1 : report(&b);
    rd_kafka_consumer_close(b.consumer);
    rd_kafka_destroy(b.consumer);
    rd_kafka_topic_destroy(b.input_topic);
    eddy__kproducer_free(b.producer);
    free(b.partition_time);
    free(b.probes);
    return rc;
}
