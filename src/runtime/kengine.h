/*
 * kengine.h - Kafka mode: one process instance of a consumer group running a
 * topology over its share of the input partitions, exactly once.
 *
 * See ARCHITECTURE.md, "Kafka mode", for the commit protocol.
 */
#ifndef EDDY_RUNTIME_KENGINE_H
#define EDDY_RUNTIME_KENGINE_H

#include <signal.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/topology.h"
#include "runtime/backfill.h"

struct eddy_kengine_opts {
    const char *bootstrap;
    const char *state_dir;   /* RocksDB lives in <state_dir>/rocksdb */
    const char *instance;    /* stable id: transactional.id = <name>-<instance> */
    const struct eddy_kv *props; /* -X key=value properties, after the topology's */
    size_t n_props;
    int64_t commit_interval_ms; /* default 100 */
    int replication;            /* of created topics; -1: min(3, brokers) */
    const char *const *reset_stores; /* --reset-store: stores to rebuild if incompatible */
    size_t n_reset_stores;
    /* --http: the serving view, metrics and instance directory to feed
     * (serve/serve.h); NULL without --http */
    struct eddy_serve *serve;
    /* the dead-letter topic; NULL: "<plan name>-dlq" */
    const char *dlq_topic;
    /* eddy backfill (runtime/backfill.h, docs/backfill.md): input partitions
     * without a committed offset start at backfill->from_ms; with a stop
     * time the run ends once every input partition reached it, its
     * repartition topics are drained and every task is flushed and
     * committed. NULL for eddy run. */
    const struct eddy_backfill_opts *backfill;
};

/* Runs until *stop becomes non-zero (or a backfill with a stop time has
 * finished), then commits, leaves the group and returns. Runtime failures
 * return an error after logging the cause; a backfill with a stop time that
 * does not own every input partition when its own are done returns
 * EDDY_ECONFIG (it must run as one process). */
eddy_err_t eddy__kengine_run(const struct eddy_plan *plan, const struct eddy_kengine_opts *opts,
                             volatile sig_atomic_t *stop);

#endif
