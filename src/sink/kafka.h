/*
 * sink/kafka.h - the Kafka producer of eddy (transactional for exactly-once,
 * idempotent for at-least-once) and the pieces every Kafka client of eddy
 * shares: struct eddy_kconf, configuration building, error conversion and the
 * routing of librdkafka's own log lines into eddy_log (subsystem "kafka").
 *
 * Error convention at this boundary (every librdkafka error becomes one of):
 *   EDDY_EKAFKA        retriable: calling the same function again may succeed;
 *   EDDY_EAGAIN        abortable: the transaction has already been aborted by
 *                      the producer; the caller rewinds its consumer to the
 *                      committed offsets and reprocesses the batch;
 *   EDDY_EKAFKA_FATAL  the producer is unusable (fenced, fatal idempotence
 *                      error): free it and make a new one;
 *   EDDY_ECONFIG       a property was rejected by librdkafka.
 * Every error is logged once, here, with librdkafka's message.
 *
 * Properties: conf->props are passed to librdkafka verbatim, after eddy's
 * defaults (so they override them) and before the settings correctness rests
 * on (which they cannot override: enable.idempotence, acks=all, the
 * murmur2_random partitioner, transactional.id; for consumers the assignor,
 * offset handling and isolation). A key prefixed "producer." applies to
 * producers only and "consumer." to consumers only (prefix stripped); others
 * apply to every client.
 *
 * Threads: a producer is used by one thread at a time. Delivery reports are
 * served from eddy__kproducer_send/_commit/_free on that thread (librdkafka's
 * rd_kafka_poll), so the delivery bookkeeping needs no lock.
 *
 * Transactional calls use infinite (-1) timeouts as librdkafka 2.0.x wants;
 * they block (without spinning) while the coordinator is unreachable and are
 * bounded in practice by transaction.timeout.ms (default 60 s here).
 */
#ifndef EDDY_SINK_KAFKA_H
#define EDDY_SINK_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/topology.h"

struct eddy_kconf {
    const char *bootstrap;       /* "host:port[,host:port...]" */
    const struct eddy_kv *props; /* passed-through librdkafka properties */
    size_t n_props;
};

enum eddy_kclient {
    EDDY_KCLIENT_PRODUCER,
    EDDY_KCLIENT_CONSUMER,
};

/* ---- shared by eddy's Kafka clients (source/kafka.c, sink/kafka_admin.c) ---- */

/*
 * Builds a librdkafka configuration: bootstrap.servers, eddy's log and error
 * callbacks, then @defaults, then the conf->props that apply to @kind, then
 * @forced. @defaults and @forced are NULL-terminated key, value, key, value,
 * ... arrays (may be NULL). On success *out is owned by the caller (pass it to
 * eddy__kafka_client_new or rd_kafka_conf_destroy). EDDY_ECONFIG names the
 * rejected property.
 */
eddy_err_t eddy__kafka_conf_new(const struct eddy_kconf *conf, enum eddy_kclient kind,
                                const char *const *defaults, const char *const *forced,
                                rd_kafka_conf_t **out);
/* rd_kafka_new; takes @rconf in every case. EDDY_ECONFIG on failure, logged. */
eddy_err_t eddy__kafka_client_new(enum eddy_kclient kind, rd_kafka_conf_t *rconf, rd_kafka_t **out);
/*
 * Converts a librdkafka response error into eddy_err_t and logs it at warn
 * ("<what>: <librdkafka message>"). Fatal client state (RD_KAFKA_RESP_ERR__FATAL,
 * fencing) gives EDDY_EKAFKA_FATAL, everything else EDDY_EKAFKA. @rk may be
 * NULL; when given, the underlying fatal error is looked up and logged.
 */
eddy_err_t eddy__kafka_err(rd_kafka_t *rk, rd_kafka_resp_err_t err, const char *what);

/* ---- producer ---- */

struct eddy_kproducer;

/*
 * Makes a producer: lz4, linger.ms 5, acks all, idempotent, murmur2_random
 * partitioner (Java-compatible: keys land where Kafka Streams puts them).
 * With a @transactional_id the producer is transactional and
 * init_transactions has run when this returns (fencing older producers with
 * the same id and aborting their open transaction); NULL makes an idempotent
 * at-least-once producer. On success *out is owned by the caller.
 */
eddy_err_t eddy__kproducer_new(const struct eddy_kconf *conf, const char *transactional_id,
                               struct eddy_kproducer **out);
/* Flushes (at most 10 s) and destroys. An open transaction is left to the
 * broker (aborted by the next producer with the same id). Accepts NULL. */
void eddy__kproducer_free(struct eddy_kproducer *p);
/* Begins a transaction (transactional) and clears the first delivery error. */
eddy_err_t eddy__kproducer_begin(struct eddy_kproducer *p);
/*
 * Enqueues one record; copies @key and @value (either may be NULL: a NULL
 * value is a tombstone). @partition -1 partitions by key. A full local queue
 * is backpressure: librdkafka is polled (serving delivery reports) until there
 * is room, for at most 30 s, then EDDY_EKAFKA. In a transaction that needs
 * aborting this aborts it and returns EDDY_EAGAIN.
 */
eddy_err_t eddy__kproducer_send(struct eddy_kproducer *p, const char *topic, int32_t partition,
                                const void *key, size_t klen, const void *value, size_t vlen);
/* Same, with the record timestamp @timestamp_ms (ms since the epoch; 0: the
 * time of sending, as eddy__kproducer_send). */
eddy_err_t eddy__kproducer_send_at(struct eddy_kproducer *p, const char *topic, int32_t partition,
                                   const void *key, size_t klen, const void *value, size_t vlen,
                                   int64_t timestamp_ms);
/*
 * Commits what was sent since begin together with @offsets (the next offsets
 * to consume of @consumer's input partitions; NULL or empty for none).
 * Transactional: send_offsets_to_transaction with @consumer's group metadata,
 * then commit_transaction; retriable errors are retried (5 times, backoff
 * 100 ms doubling, each logged), then EDDY_EKAFKA with the transaction still
 * open; abortable errors abort and give EDDY_EAGAIN; fatal ones
 * EDDY_EKAFKA_FATAL. Idempotent: flush (at most 30 s, else EDDY_EKAFKA), a
 * failed delivery gives EDDY_EAGAIN (nothing committed), then
 * rd_kafka_commit(@consumer, @offsets) synchronously. @consumer may be NULL
 * only when @offsets is NULL or empty.
 */
eddy_err_t eddy__kproducer_commit(struct eddy_kproducer *p, rd_kafka_t *consumer,
                                  const rd_kafka_topic_partition_list_t *offsets);
/* Aborts the open transaction (transactional) or drops queued, unsent records
 * (idempotent). */
eddy_err_t eddy__kproducer_abort(struct eddy_kproducer *p);
/* Highest delivered offset + 1 of @topic/@partition since the last
 * eddy__kproducer_reset_positions, or -1 when nothing was delivered there. */
int64_t eddy__kproducer_next_offset(const struct eddy_kproducer *p, const char *topic,
                                    int32_t partition);
void eddy__kproducer_reset_positions(struct eddy_kproducer *p);
/*
 * Loads the metadata of @topics (at most 10 s) so that the first send to each
 * does not wait for librdkafka's 1 s topic-discovery timer: call after
 * eddy__kproducer_new with the output and changelog topics. Without it the
 * first commit to a topic takes about a second longer. EDDY_ENOTFOUND when a
 * topic does not exist.
 */
eddy_err_t eddy__kproducer_warm(struct eddy_kproducer *p, const char *const *topics, size_t n);
/* The underlying handle (for metadata queries); owned by the producer. */
rd_kafka_t *eddy__kproducer_handle(struct eddy_kproducer *p);

#endif
