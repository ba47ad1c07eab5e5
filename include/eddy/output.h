/*
 * eddy/output.h - the interface through which operators hand records to a
 * sink: results of aggregations, alert events, pattern matches and dead
 * letters.
 *
 * An operator never knows where its output goes: the runtime wires an
 * eddy_output to a file sink (local mode), a transactional Kafka producer
 * (Kafka mode) or a test collector. The bytes passed are borrowed for the
 * duration of the call; the sink copies what it keeps.
 */
#ifndef EDDY_OUTPUT_H
#define EDDY_OUTPUT_H

#include <stddef.h>

#include "eddy/err.h"

enum eddy_out_kind {
    EDDY_OUT_RESULT = 1, /* an aggregation result (final or update) */
    EDDY_OUT_ALERT,      /* an alert firing or resolved */
    EDDY_OUT_DEAD,       /* a dead letter */
    EDDY_OUT_MATCH,      /* a pattern match, or an expired partial match (ops/pattern.h) */
};

/* @topic is the plan's output topic for this record; @key is the message key
 * (the JSON object of the group key for results and alerts, of the pattern
 * key for matches, NULL for dead letters); @value is one JSON object without
 * a trailing newline. */
typedef eddy_err_t (*eddy_output_fn)(void *ctx, enum eddy_out_kind kind, const char *topic,
                                     const char *key, size_t key_len, const char *value,
                                     size_t value_len);

struct eddy_output {
    eddy_output_fn write;
    void *ctx;
};

#endif
