/*
 * parquet_stats.h - min/max/null/NaN statistics of a Parquet page or column
 * chunk, and their Thrift Statistics encoding (see docs/parquet.md, Statistics).
 *
 * Bounds are kept exact while values are added (strings are copied into
 * buffers that only grow); strings longer than the limit given to
 * eddy__parquet_stats_write() are cut, and the max incremented, only when
 * serialized. Adding never allocates: the caller reserves room for a string
 * in min_s and max_s first (eddy__parquet_reserve), or for a merge with
 * eddy__parquet_stats_reserve_merge().
 */
#ifndef EDDY_SINK_PARQUET_STATS_H
#define EDDY_SINK_PARQUET_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sink/parquet.h"
#include "sink/parquet_enc.h"

/* Longest string bound written, in bytes. */
#define EDDY_PARQUET_STATS_MAX_BYTES_LIMIT 1024

struct eddy_parquet_stats {
    uint64_t null_count;
    uint64_t nan_count;   /* DOUBLE only */
    bool has_minmax;      /* false while every value was null (or NaN) */
    int64_t min_i, max_i; /* INT64, TIMESTAMP_MILLIS, BOOLEAN (0/1) */
    double min_d, max_d;
    struct eddy_buf min_s, max_s; /* STRING: exact values */
};

void eddy__parquet_stats_init(struct eddy_parquet_stats *s);
void eddy__parquet_stats_release(struct eddy_parquet_stats *s);
void eddy__parquet_stats_reset(struct eddy_parquet_stats *s);
/* INT64, TIMESTAMP_MILLIS, and BOOLEAN as 0/1. */
void eddy__parquet_stats_add_i(struct eddy_parquet_stats *s, int64_t v);
/* NaN is only counted. */
void eddy__parquet_stats_add_d(struct eddy_parquet_stats *s, double v);
/* Unsigned byte-wise order; room for @len bytes is reserved in min_s and max_s. */
void eddy__parquet_stats_add_s(struct eddy_parquet_stats *s, const char *v, size_t len);
/* Reserves what merging @from into @into may need; false when out of memory. */
bool eddy__parquet_stats_reserve_merge(struct eddy_parquet_stats *into,
                                       const struct eddy_parquet_stats *from);
void eddy__parquet_stats_merge(struct eddy_parquet_stats *into,
                               const struct eddy_parquet_stats *from, enum eddy_parquet_type type);
/* Writes @s as the Statistics struct field @id of the current struct;
 * string bounds are cut to at most @max_bytes (<= the limit above). */
void eddy__parquet_stats_write(struct eddy_tc *tc, int16_t id, const struct eddy_parquet_stats *s,
                               enum eddy_parquet_type type, size_t max_bytes);

#endif
