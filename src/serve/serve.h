/*
 * serve.h - `--http ADDR:PORT`: the HTTP server of an instance
 * (docs/http.md), with the serving view and metrics it reads, and in Kafka
 * mode the directory of instances it forwards queries to.
 *
 * Threads: libmicrohttpd runs a thread per connection (at most 64); the
 * directory a thread of its own. The processing thread only publishes into
 * the view and metrics with try-locks (view.h, metrics.h), so no request can
 * stall it.
 *
 * Directory (Kafka mode): every instance writes its record to the compacted
 * topic `<name>-instances` (one partition), key = instance id, value =
 * {"instance":ID,"http":"host:port","partitions":[...],"ts":ms} inside its
 * transaction, at each assignment change and every 10 s; each instance reads
 * the topic (read_committed) from the beginning. A peer is an instance other
 * than this one whose record is at most 60 s old and lists partitions.
 */
#ifndef EDDY_SERVE_SERVE_H
#define EDDY_SERVE_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/topology.h"
#include "serve/metrics.h"
#include "serve/view.h"

struct eddy_serve_opts {
    const char *listen;    /* "ADDR:PORT"; port 0 picks a free one */
    const char *advertise; /* what peers connect to; default the bound address */
    const char *instance;  /* this instance's id */
    /* Kafka mode (NULL: local mode, no directory): the cluster and the
     * librdkafka properties of the topology and -X */
    const char *bootstrap;
    const struct eddy_kv *props;
    size_t n_props;
};

struct eddy_serve;

eddy_err_t eddy__serve_start(const struct eddy_plan *plan, const struct eddy_serve_opts *opts,
                             struct eddy_serve **out);
void eddy__serve_stop(struct eddy_serve *s);

struct eddy_view *eddy__serve_view(struct eddy_serve *s);
struct eddy_metrics *eddy__serve_metrics(struct eddy_serve *s);
/* "host:port" peers reach this instance at. */
const char *eddy__serve_address(const struct eddy_serve *s);
/* The directory topic of @plan, "<name>-instances" (caller frees). */
char *eddy__serve_directory_topic(const struct eddy_plan *plan);

#endif
