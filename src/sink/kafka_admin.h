/*
 * sink/kafka_admin.h - topic administration for eddy's internal topics
 * (changelogs, repartition topics, dead letters) and cluster facts.
 *
 * Each call opens its own short-lived client (these run at startup and on
 * rebalance, never per record), waits a bounded time and logs failures with
 * librdkafka's message (subsystem "kafka"). May be called from any thread.
 */
#ifndef EDDY_SINK_KAFKA_ADMIN_H
#define EDDY_SINK_KAFKA_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "sink/kafka.h"

struct eddy_topic_spec {
    const char *name;
    int partitions;
    int replication;            /* -1: min(3, number of brokers) */
    const char *cleanup_policy; /* "compact", "delete", "compact,delete" or NULL (broker default) */
    int64_t retention_ms;       /* -1: broker default */
};

/*
 * Creates the topics of @specs that do not exist yet (an existing topic is
 * fine, but one whose partition count differs from its spec is EDDY_ECONFIG:
 * changelogs must be partitioned like their input), then waits (at most 30 s)
 * until metadata shows every partition of every topic with a leader.
 * Errors: EDDY_ECONFIG for a spec the broker rejects (replication above the
 * broker count, bad config), EDDY_EKAFKA when the cluster did not answer or
 * the topics did not become ready in time.
 */
eddy_err_t eddy__kafka_create_topics(const struct eddy_kconf *conf,
                                     const struct eddy_topic_spec *specs, size_t n);
/* Partition count of @topic; EDDY_ENOTFOUND when it does not exist. */
eddy_err_t eddy__kafka_partition_count(const struct eddy_kconf *conf, const char *topic, int *out);
/* Number of brokers in the cluster's metadata. */
eddy_err_t eddy__kafka_broker_count(const struct eddy_kconf *conf, int *out);

#endif
