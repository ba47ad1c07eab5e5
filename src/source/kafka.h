/*
 * source/kafka.h - eddy's Kafka consumer: a group member on the input topics
 * (eager "range" assignment, manual offsets, read_committed) whose rebalances
 * call the runtime back, and a one-partition reader for restoring state
 * from changelog topics.
 *
 * Configuration and errors follow sink/kafka.h (struct eddy_kconf, the
 * "consumer."/"producer." property prefixes, EDDY_EKAFKA retriable,
 * EDDY_EKAFKA_FATAL fatal); every error is logged here.
 *
 * Threads: a consumer belongs to the thread that calls eddy__kconsumer_poll;
 * the callbacks run on that thread, inside eddy__kconsumer_poll (and inside
 * eddy__kconsumer_free, which revokes the assignment).
 */
#ifndef EDDY_SOURCE_KAFKA_H
#define EDDY_SOURCE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "sink/kafka.h"

struct eddy_kconsumer;

struct eddy_kconsumer_cbs {
    /* Partitions were assigned (their offsets are not set: consumption starts
     * at the group's committed offsets, else at the beginning; but see
     * eddy__kconsumer_start_at). Called before
     * rd_kafka_assign. An error from either callback is returned by the
     * eddy__kconsumer_poll that ran it; the assignment change happens anyway. */
    eddy_err_t (*on_assign)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    /* Partitions are about to be revoked: commit and close their tasks here.
     * Called before rd_kafka_assign(NULL). eddy__kconsumer_assignment_lost
     * tells whether the group already gave them away (session timeout). */
    eddy_err_t (*on_revoke)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    void *ctx;
    /* Optional: the consumer reached the end of @topic[@partition] at
     * @offset (read_committed: its fetch position at the last stable
     * offset, past transaction markers and aborted records); the records
     * before it were all returned, by this poll or an earlier one. Given,
     * it turns on enable.partition.eof. Called inside eddy__kconsumer_poll;
     * after a seek (assignment, rewind) the end is reported again. */
    void (*on_eof)(void *ctx, const char *topic, int32_t partition, int64_t offset);
};

/*
 * Joins @group_id and subscribes to @topics. Settings: partition.assignment.
 * strategy=range, enable.auto.commit=false, enable.auto.offset.store=false,
 * isolation.level=read_committed, auto.offset.reset=earliest (all forced);
 * session.timeout.ms=10000 (a default, overridable through conf->props).
 * Either callback may be NULL. *out is owned by the caller.
 */
eddy_err_t eddy__kconsumer_new(const struct eddy_kconf *conf, const char *group_id,
                               const char *const *topics, size_t n_topics,
                               const struct eddy_kconsumer_cbs *cbs, struct eddy_kconsumer **out);
/* Closes (leaving the group: on_revoke runs for the current assignment) and
 * destroys. Accepts NULL. */
void eddy__kconsumer_free(struct eddy_kconsumer *c);
/*
 * Fills @msgs with up to @max records, waiting at most @timeout_ms for the
 * first one; *n says how many. Each record is owned by the caller (free with
 * rd_kafka_message_destroy). Rebalances happen in here: when one happens,
 * the records gathered before it in this call are dropped (they are
 * re-fetched from the committed offsets) so no record of a revoked partition
 * is returned. Message-level errors (transport, unknown topic) are logged
 * here, at most once per error code per 10 s, and not returned. Returns the
 * error of an on_assign/on_revoke callback, or EDDY_EKAFKA_FATAL when the
 * consumer is unusable.
 */
eddy_err_t eddy__kconsumer_poll(struct eddy_kconsumer *c, rd_kafka_message_t **msgs, size_t max,
                                int timeout_ms, size_t *n);
/* The librdkafka handle (for send_offsets_to_transaction, positions). */
rd_kafka_t *eddy__kconsumer_handle(struct eddy_kconsumer *c);
/* Inside on_revoke: whether the partitions were lost rather than revoked. */
bool eddy__kconsumer_assignment_lost(struct eddy_kconsumer *c);
/*
 * Moves @parts (offsets ignored) back to the group's committed offsets
 * (the beginning where none is committed), e.g. after an aborted
 * transaction. Prefetched records of those partitions are discarded.
 */
eddy_err_t eddy__kconsumer_rewind(struct eddy_kconsumer *c,
                                  const rd_kafka_topic_partition_list_t *parts);
/*
 * Where partitions of @topic start when the group has no committed offset
 * for them: the first offset whose record timestamp is >= @ts_ms, or the
 * partition's end when none is that new (eddy__kafka_offsets_for_time),
 * instead of the beginning. Applies to every later assignment and rewind;
 * call it before the first eddy__kconsumer_poll. With it, the offsets of
 * @topic's partitions in the list on_assign receives are set: where each
 * starts (its committed offset, else the one for @ts_ms). Failing to read
 * either is the error of the poll that assigned them (never a silent start
 * from the beginning). @topic is copied.
 */
eddy_err_t eddy__kconsumer_start_at(struct eddy_kconsumer *c, const char *topic, int64_t ts_ms);
/*
 * The group's committed offset of @topic[@partition] (*offset -1: none) and
 * its stream time, from the commit's metadata (eddy__offset_meta_format;
 * *stream_time INT64_MIN when the metadata is absent or not eddy's). Retried
 * a few times; EDDY_EKAFKA (logged) when it cannot be read.
 */
eddy_err_t eddy__kconsumer_committed(struct eddy_kconsumer *c, const char *topic,
                                     int32_t partition, int64_t *offset, int64_t *stream_time);
/*
 * The metadata of a committed input offset: the task's stream time, so that
 * it commits in the same transaction as the offset (runtime/kengine.c).
 * Format "eddy:st=<decimal milliseconds>"; writes at most @cap bytes
 * (NUL included) and returns the length. Parse: true and *stream_time only
 * for exactly that form (no sign but '-', no leading '+', digits only, in
 * int64 range); anything else (another tool's metadata, none) is false.
 */
size_t eddy__offset_meta_format(char *buf, size_t cap, int64_t stream_time);
bool eddy__offset_meta_parse(const void *meta, size_t len, int64_t *stream_time);
/* Stop / restart fetching @parts (backpressure); the assignment is kept. */
eddy_err_t eddy__kconsumer_pause(struct eddy_kconsumer *c,
                                 const rd_kafka_topic_partition_list_t *parts);
eddy_err_t eddy__kconsumer_resume(struct eddy_kconsumer *c,
                                  const rd_kafka_topic_partition_list_t *parts);

/*
 * Sets the offset of each element of @parts to the first offset of its
 * partition whose record timestamp is >= @ts_ms (ListOffsets by time,
 * rd_kafka_offsets_for_times), or to the partition's high watermark when no
 * record is that new. The high watermark is read first, so a record
 * appended in between is never skipped. Any client type; at most about 10 s
 * per request. EDDY_EKAFKA (logged) when an offset cannot be read.
 */
eddy_err_t eddy__kafka_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                                        int64_t ts_ms);

/*
 * Reads partition @partition of @topic with a separate, group-less,
 * read_committed consumer from @from_offset (from the beginning when < 0) up
 * to the partition's high watermark at call time, calling @fn for each
 * committed record in offset order (a tombstone has value NULL, vlen 0; an
 * absent key is NULL). Logs progress every 2 s (records, records/s, ETA) and
 * a summary at the end. *next_offset receives the offset to read from next
 * time: the consumer position at the end, which is past the last record read
 * and past any transaction markers (== the high watermark at call time when
 * nothing was pending). Returns @fn's first error, EDDY_ENOTFOUND when the
 * topic does not exist, EDDY_ERANGE when @from_offset is beyond the high
 * watermark (a stale checkpoint), EDDY_EKAFKA when no progress was made for
 * 120 s (e.g. a transaction left open by a producer that is not replaced).
 */
/* A reader reused for several eddy__kreader_read() calls: a restore reads the
 * changelog partitions of every store of a task with one client, instead of
 * paying a client's start and stop per partition. One thread at a time. */
struct eddy_kreader;
eddy_err_t eddy__kreader_new(const struct eddy_kconf *conf, struct eddy_kreader **out);
void eddy__kreader_free(struct eddy_kreader *reader);
/* Logs progress, summaries and a missing topic at DEBUG: for readers that
 * poll a small topic (the instance directory, serve/serve.h). */
void eddy__kreader_quiet(struct eddy_kreader *reader);
/* Fetches the metadata of @topics in one request (the first read of a topic
 * the client has not seen otherwise waits about half a second for it). */
void eddy__kreader_warm(struct eddy_kreader *reader, const char *const *topics, size_t n);
/* Same contract as eddy__kafka_read_partition below, on @reader's client. */
eddy_err_t eddy__kreader_read(struct eddy_kreader *reader, const char *topic, int32_t partition,
                              int64_t from_offset,
                              eddy_err_t (*fn)(void *ctx, const void *key, size_t klen,
                                               const void *value, size_t vlen, int64_t offset),
                              void *ctx, int64_t *next_offset);

eddy_err_t eddy__kafka_read_partition(const struct eddy_kconf *conf, const char *topic,
                                      int32_t partition, int64_t from_offset,
                                      eddy_err_t (*fn)(void *ctx, const void *key, size_t klen,
                                                       const void *value, size_t vlen,
                                                       int64_t offset),
                                      void *ctx, int64_t *next_offset);

#endif
