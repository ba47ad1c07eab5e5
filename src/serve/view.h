/*
 * view.h - the serving view: the window rows and firing alerts that /v1
 * queries read, shared between the processing thread and the HTTP threads.
 *
 * The processing thread stages what its tasks committed (window rows in
 * their persisted form, ops/window.h; alert events; partitions dropped on
 * revocation) and publishes the staged batch with a try-lock: when a query
 * holds the lock, the batch waits for the next publish, so a query never
 * stalls processing (a batch over EDDY_VIEW_STAGE_MAX bytes is published
 * with a blocking lock: the wait is one query's row copy, not its merge).
 * Queries copy the rows they match under the lock and decode and merge them
 * after releasing it.
 *
 * Rows are kept per (aggregation, window start, group key), the newest value
 * wins, for `retention_ms` after their window's end measured against the
 * newest window end the aggregation has seen (event time, so replays of old
 * data are served like live data). Rows are tagged with the partition whose
 * task committed them; dropping a partition (revoked) drops them.
 */
#ifndef EDDY_SERVE_VIEW_H
#define EDDY_SERVE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/topology.h"

#define EDDY_VIEW_STAGE_MAX (64u << 20)

struct eddy_view;

eddy_err_t eddy__view_new(const struct eddy_plan *plan, int64_t retention_ms,
                          struct eddy_view **out);
void eddy__view_free(struct eddy_view *v);

/* ---- processing thread ---- */

/* A committed change of store @store (rows of stores that are not
 * aggregations, and deletes (@value NULL), are ignored). */
eddy_err_t eddy__view_stage_row(struct eddy_view *v, int32_t partition, const char *store,
                                const void *key, size_t key_len, const void *value,
                                size_t value_len);
/* An alert event (the JSON of ops/result.h): "firing" adds or replaces the
 * (alert, key) entry, "resolved" removes it. */
eddy_err_t eddy__view_stage_alert(struct eddy_view *v, int32_t partition, const char *json,
                                  size_t len);
/* Drops every row and alert of @partition now (a blocking lock: a revoked
 * partition, rare), and what is staged for it. */
void eddy__view_drop_partition(struct eddy_view *v, int32_t partition);
/* Forgets what was staged since the last publish (an aborted transaction). */
void eddy__view_discard(struct eddy_view *v);
/* Applies the staged batch; with @wait false gives up (keeping the batch)
 * when a query holds the lock. True when the batch was applied. */
bool eddy__view_publish(struct eddy_view *v, bool wait);

/* ---- query threads ---- */

/* Equality filter on group field @field (index into the aggregation's
 * group_by): the value's text form (strings as is, integers in decimal,
 * numbers %.17g, true/false, null) equals one of @values. */
struct eddy_view_filter {
    size_t field;
    const char **values;
    size_t n_values;
};

struct eddy_view_query {
    size_t aggregation;
    int64_t from, to; /* window starts in [from, to) */
    const size_t *by; /* group field indices of the projected key */
    size_t n_by;
    const struct eddy_view_filter *filters;
    size_t n_filters;
};

/* One matched row, projected: @key is the encoded values of the `by`
 * fields (ops/window.h group key encoding), @value the row value. */
struct eddy_view_match {
    int64_t start;
    const unsigned char *key;
    size_t key_len;
    const unsigned char *value;
    size_t value_len;
};

/* Copies the matching rows of @q into @arena (reset first) and calls @fn on
 * each after releasing the lock (everything borrowed from @arena until it
 * is reset). *newest_end gets the aggregation's newest window end (INT64_MIN
 * when it has none). */
eddy_err_t eddy__view_query(struct eddy_view *v, const struct eddy_view_query *q,
                            struct eddy_buf *arena, int64_t *newest_end,
                            eddy_err_t (*fn)(void *ctx, const struct eddy_view_match *m),
                            void *ctx);

/* Appends a JSON array of the firing alert events ([{...},...], in (alert,
 * key) order). */
eddy_err_t eddy__view_alerts_json(struct eddy_view *v, struct eddy_buf *out);

/* Rows held now. */
size_t eddy__view_rows(struct eddy_view *v);

/* The text form of a group value, as filters compare it; into @buf. */
const char *eddy__view_value_text(const struct eddy_value *val, char *buf, size_t len,
                                  size_t *out_len);

/* Appends the encoding of group fields @by of the encoded group key @key
 * (@n_group values) to @out; false on malformed bytes. */
bool eddy__group_key_project(const unsigned char *key, size_t len, size_t n_group,
                             const size_t *by, size_t n_by, struct eddy_buf *out);

#endif
