/*
 * eddy/topology.h - the immutable, validated plan of a topology.
 *
 * eddy_topology_load() turns a YAML topology file (grammar in
 * docs/topology.md) into a struct eddy_plan. After loading, the plan is never
 * modified; every thread may read it. All strings and arrays in it are owned
 * by the plan and released by eddy_plan_free().
 *
 * Slots: an event is an array of struct eddy_value (eddy/record.h). Slots
 * 0 .. source.n_fields-1 are the declared source fields in file order; slots
 * source.n_fields .. n_slots-1 are the derived fields in file order. Every
 * expression of derive, where and metric arguments is compiled against that
 * event scope. Alert expressions are compiled against an aggregation's output
 * scope: slots 0 .. n_group-1 are the group-by values, then one slot per
 * metric in declaration order.
 *
 * Store and topic names derive from the topology's names, never from
 * positions: dedup store "dedup", window store per aggregation "<agg name>",
 * pattern store per pattern "<pattern name>" (one namespace: a pattern cannot
 * share an aggregation's name).
 */
#ifndef EDDY_TOPOLOGY_H
#define EDDY_TOPOLOGY_H

/* The internal stores of every task besides one per aggregation and one per
 * pattern (named after them): stream times, dedup ids, alert states.
 * Aggregations and patterns cannot take these names. */
#define EDDY_STORE_META "meta"
#define EDDY_STORE_DEDUP "dedup"
#define EDDY_STORE_ALERTS "alerts"
#define EDDY_STORE_ARCHIVE "archive"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eddy/err.h"
#include "eddy/record.h"

enum eddy_field_type {
    EDDY_FT_STRING = 1,
    EDDY_FT_INT,    /* JSON integer without fraction/exponent, fits int64 */
    EDDY_FT_NUMBER, /* any JSON number, as double (integers keep INT type) */
    EDDY_FT_BOOL,
};

enum eddy_ts_format {
    EDDY_TS_RFC3339 = 1, /* string; fraction and offsets allowed */
    EDDY_TS_UNIX_S,      /* number of seconds, fraction allowed */
    EDDY_TS_UNIX_MS,     /* number of milliseconds */
};

/* "string", "int", "number" or "bool". */
const char *eddy_field_type_name(enum eddy_field_type type);

struct eddy_field {
    char *name; /* slot name used in expressions */
    char *path; /* dotted JSON path from the root, default = name */
    enum eddy_field_type type;
    bool required; /* default true */
    int line;      /* line in the topology file, for messages */
};

struct eddy_source {
    char *topic;
    char *ts_path; /* dotted JSON path of the event time */
    enum eddy_ts_format ts_format;
    struct eddy_field *fields;
    size_t n_fields;
    size_t max_event_bytes; /* larger records are dead letters "too_large" */
    /* The fields producers key the input topic by (source.key), so that all
     * records with equal values share a partition; empty when unknown. */
    char **key_names;
    size_t *key_slots;
    size_t n_key;
};

/* A compiled expression; opaque. Evaluate with eddy_expr_eval(). */
struct eddy_expr;

/* Reference data: rows keyed by a string column; looked up by the value of
 * the field of the same name as the key column. */
struct eddy_table;

struct eddy_eval_ctx {
    const struct eddy_value *slots; /* the scope the expression was compiled for */
};

/*
 * Evaluates @expr over @ctx into @out. Never allocates. Strings in @out are
 * borrowed from the slots or from the plan. Type errors at run time (e.g.
 * "abc" + 1) and a missing table row yield NULL, never an error; comparisons
 * involving NULL are false; `and`/`or`/`not` treat NULL as false.
 * Thread-safe: the expression is immutable.
 */
void eddy_expr_eval(const struct eddy_expr *expr, const struct eddy_eval_ctx *ctx,
                    struct eddy_value *out);

struct eddy_derive {
    char *name;
    struct eddy_expr *expr;
    size_t slot;
    int line;
};

struct eddy_dedup {
    bool enabled;
    char *field; /* slot name */
    size_t slot;
    int64_t within_ms; /* duplicates are detected within this event-time span */
};

enum eddy_window_kind {
    EDDY_WIN_TUMBLING = 1,
    EDDY_WIN_HOPPING,
    EDDY_WIN_SESSION, /* ops/session.c */
};

struct eddy_window {
    enum eddy_window_kind kind;
    int64_t size_ms;
    int64_t advance_ms; /* == size_ms for tumbling */
    int64_t gap_ms;     /* session windows only */
};

struct eddy_emit {
    bool updates;               /* false: emit: final */
    int64_t update_interval_ms; /* stream-time interval of intermediate results */
};

enum eddy_metric_kind {
    EDDY_M_COUNT = 1, /* count() */
    EDDY_M_COUNT_IF,  /* count_if(expr) */
    EDDY_M_SUM,       /* sum(expr) */
    EDDY_M_MIN,
    EDDY_M_MAX,
    EDDY_M_AVG,
    EDDY_M_RATIO,    /* ratio(expr): share of events where expr is true */
    EDDY_M_QUANTILE, /* quantile(expr, q) */
    EDDY_M_DISTINCT, /* distinct(expr) */
    EDDY_M_TOP_K,    /* top_k(expr, K): the K most frequent values (agg/topk.h) */
    EDDY_M_TOP_K_BY, /* top_k(expr, K, by: weight): the K values of largest weight sum */
    EDDY_M_ARG_MAX,  /* arg_max(value, field): field of the record with the largest value */
    EDDY_M_ARG_MIN,  /* arg_min(value, field): field of the record with the smallest value */
};

struct eddy_metric {
    char *name;
    enum eddy_metric_kind kind;
    struct eddy_expr *arg; /* NULL for count() */
    /* top_k's by: weight; arg_max's and arg_min's field; NULL for the others */
    struct eddy_expr *arg2;
    double q; /* quantile: q in [0, 1]; top_k: K, an integer in [1, 100] */
    int line;
};

/* One accumulator of an aggregation's rows. Metrics of the same family and
 * argument share one: count_if(x) and ratio(x) a RATIO accumulator, sum(x)
 * and avg(x) a SUM one, quantiles of x one sketch; count() one COUNT. This
 * layout (in order of first use) is also the persisted row format. */
struct eddy_acc_def {
    enum eddy_metric_kind kind;   /* COUNT, RATIO, SUM, MIN, MAX, QUANTILE, DISTINCT, TOP_K,
                                   * TOP_K_BY, ARG_MAX, ARG_MIN */
    const struct eddy_expr *arg;  /* borrowed from the first metric using it */
    const struct eddy_expr *arg2; /* TOP_K_BY's weight, ARG_MAX/ARG_MIN's field */
    /* TOP_K, TOP_K_BY: the K of the metric; metrics with another K get their
     * own accumulator (a result borrows the accumulator's rendering) */
    double q;
};

struct eddy_aggregation {
    char *name;
    char **group_names; /* slot names, in declaration order */
    size_t *group_slots;
    size_t n_group;
    struct eddy_expr *where; /* optional filter; NULL = all events */
    struct eddy_window window;
    struct eddy_emit emit;
    /* emit_empty: true (tumbling windows only): when a window closes, every
     * group key that had a row in the window just before it (by start) but
     * none in this one gets a row with empty accumulators (counts 0). */
    bool emit_empty;
    struct eddy_metric *metrics;
    size_t n_metrics;
    struct eddy_acc_def *accs; /* the accumulator layout */
    size_t n_accs;
    size_t *metric_acc; /* metric index -> accumulator index */
    char *output_topic; /* default "<topology name>-<aggregation name>" */
    /* Kafka mode: group keys may span input partitions (group_by does not
     * contain every source.key field), so partial aggregates go through the
     * topic "<topology name>-<aggregation name>-repartition" to the task that
     * owns the group key. */
    bool repartition;
    /* A rollup (window: {..., from: A}) reads no events: it merges the final
     * rows of the earlier aggregation A (index `from`, tumbling), whose
     * group_by and metrics it copies, into its coarser windows; sketches
     * merge, so a day's distinct count comes from its minutes. */
    bool rollup;
    size_t from;
    int line;
};

struct eddy_alert {
    char *name;
    size_t aggregation;     /* index into plan->aggregations */
    struct eddy_expr *when; /* compiled against the aggregation output scope */
    /* when: absent(N) (tumbling aggregations only): fires for a group key
     * that had rows once and then none in N consecutive closed windows;
     * resolves on its next row. 0 for an expression alert. For an absent
     * alert `when` is the constant expression "false" (never evaluated). */
    int64_t absent_windows;
    /* burn_rate: (tumbling aggregations only) the multiwindow, multi-burn-rate
     * alert on the error budget; NULL for other alerts, whose `when` is then
     * the constant "false" (never evaluated). */
    struct eddy_burn_rate *burn;
    char *output_topic; /* default "<topology name>-alerts" */
    int line;
};

/* One window pair of a burn-rate alert: it holds when the burn rate over
 * the last long_ms and over the last short_ms are both >= factor. */
struct eddy_burn_window {
    int64_t long_ms, short_ms;    /* multiples of the aggregation's window size */
    size_t long_span, short_span; /* indexes into struct eddy_burn_rate.spans_ms */
    double factor;                /* > 0 */
    char *severity;               /* [A-Za-z0-9._-]+ */
};

/*
 * burn_rate (Google SRE workbook, "Alerting on SLOs"). Over a span, burn
 * rate = (sum of `bad` / sum of `total` over the span's closed windows) /
 * budget, 0 without traffic. Pairs are listed from the most to the least
 * severe; an incident reports the first pair that holds when it fires.
 */
struct eddy_burn_rate {
    size_t total, bad;        /* metric indexes of the aggregation: count, count_if or sum */
    struct eddy_expr *budget; /* output scope: the allowed bad fraction, e.g. 0.001 */
    struct eddy_burn_window *windows;
    size_t n_windows; /* 1 .. EDDY_BURN_MAX_WINDOWS */
    /* the distinct window lengths in report order (each pair's short, then
     * long, first occurrence kept) */
    int64_t *spans_ms;
    size_t n_spans;
    int64_t ring; /* windows of the aggregation kept per key: longest span / size */
};
#define EDDY_BURN_MAX_WINDOWS 16
#define EDDY_BURN_MAX_RING 100000

/*
 * Patterns (ops/pattern.h has the semantics; grammar in docs/topology.md
 * "patterns"): a sequence of steps matched per key within `within` of event
 * time. A step takes `min` to `max` records of the key for which its `where`
 * holds (max EDDY_PATTERN_UNBOUNDED: `N+`); `capture` names the event slots
 * copied into the output from the last record it took.
 */
#define EDDY_PATTERN_UNBOUNDED UINT32_MAX
#define EDDY_PATTERN_MAX_STEPS 16
#define EDDY_PATTERN_MAX_TIMES 1000000
#define EDDY_PATTERN_MAX_CAPTURE 32
/* partial matches kept per pattern and key; see ops/pattern.h */
#define EDDY_PATTERN_MAX_PARTIALS 64

struct eddy_pattern_step {
    char *name;              /* `name`, default "step<1-based index>"; unique in the pattern */
    struct eddy_expr *where; /* event scope */
    uint32_t min, max;       /* times: N (N, N), N+ (N, UNBOUNDED), N..M (N, M); default 1 */
    char **capture_names;    /* event slot names, in declaration order */
    size_t *capture_slots;
    size_t n_capture;
    int line;
};

struct eddy_pattern {
    char *name;       /* also its store name */
    char **key_names; /* event slot names, like group_by */
    size_t *key_slots;
    size_t n_key;
    int64_t within_ms; /* > 0 */
    struct eddy_pattern_step *steps;
    size_t n_steps;     /* 1 .. EDDY_PATTERN_MAX_STEPS */
    bool timeout_emit;  /* timeout: emit (an expired partial match is emitted unmatched) */
    char *output_topic; /* default "<topology name>-<pattern name>" */
    int line;
};

struct eddy_kv {
    char *key;
    char *value;
};

/*
 * archive: {path, format: parquet, partition_by: [...], roll: D} on an
 * aggregation (its final rows) or at the top level (the cleaned raw stream:
 * every decoded, non-duplicate record). Files are Parquet, laid out Hive-style
 * under <path>/<name>/<col>=<value>/.../part-<task>-<first>-<last>.parquet
 * (sink/archive.h, docs/archive.md).
 */
enum eddy_archive_type { /* the Parquet column types (sink/parquet.h) */
                         EDDY_ARCHIVE_STRING = 0,
                         EDDY_ARCHIVE_INT64,
                         EDDY_ARCHIVE_DOUBLE,
                         EDDY_ARCHIVE_BOOLEAN,
                         EDDY_ARCHIVE_TIMESTAMP,
};

/* Where a row value comes from. Aggregations: window start/end, a group
 * value, a metric, a metric's error bound, the revision number. The raw
 * stream: the event time or a source field (slot). */
enum eddy_archive_from {
    EDDY_AR_WINDOW_START = 1,
    EDDY_AR_WINDOW_END,
    EDDY_AR_GROUP,
    EDDY_AR_METRIC,
    EDDY_AR_METRIC_ERROR,
    EDDY_AR_REVISION,
    EDDY_AR_EVENT_TIME,
    EDDY_AR_SLOT,
};

struct eddy_archive_column {
    char *name;
    enum eddy_archive_type type;
    enum eddy_archive_from from;
    size_t index; /* group, metric or slot index */
};

#define EDDY_ARCHIVE_DATE SIZE_MAX /* a partition_by entry "date" */

struct eddy_archive {
    char *name; /* directory under path: the aggregation's name, or `name` (default "events") */
    char *path; /* the lake root */
    size_t aggregation; /* index into plan->aggregations; SIZE_MAX for the raw stream */
    /* every row value, in row order; a partition column is a directory
     * level, not a file column (Hive) */
    struct eddy_archive_column *columns;
    size_t n_columns;
    /* partition_by, in directory order: a column index or EDDY_ARCHIVE_DATE
     * (the UTC day of the window start or the event time) */
    size_t *partition_by;
    size_t n_partition_by;
    int64_t roll_ms;     /* a file is sealed at most this long after it opened; default 5m */
    uint64_t roll_bytes; /* ... or once its rows take this many bytes; default 64 MiB */
    int line;
};

enum eddy_processing {
    EDDY_EXACTLY_ONCE = 1,
    EDDY_AT_LEAST_ONCE,
};

/* serve: what --http serves (docs/http.md). The status page reads the
 * aggregation `on` (tumbling): one service per group key; metrics by index
 * into its metrics; budget (allowed bad fraction) and latency_threshold are
 * expressions in its output scope (group values, then metrics; tables). */
struct eddy_serve_status {
    bool enabled;
    size_t aggregation;
    size_t requests, errors;
    size_t latency[3]; /* p50, p95, p99 */
    struct eddy_expr *budget;
    struct eddy_expr *latency_threshold;
};

struct eddy_serve_conf {
    int64_t retention_ms; /* closed windows stay queryable this long; default 20m */
    struct eddy_serve_status status;
};

struct eddy_plan {
    char *file; /* path it was loaded from */
    char *name;
    struct eddy_source source;
    struct eddy_dedup dedup;
    int64_t grace_ms;
    /* idle_timeout (0 = off): after this much wall-clock time without
     * records, eddy__task_tick() advances the task's stream time by
     * wall-clock progress (rules in docs/topology.md). */
    int64_t idle_timeout_ms;
    /* late: {correct_within: C} (0 = off): a record later than grace but
     * whose window end + grace + C > stream time corrects its closed window,
     * which is emitted again with "revision": N (rules in docs/topology.md,
     * "Late corrections"). Closed windows are kept until end + grace + C. */
    int64_t late_correct_ms;
    /* memory_limit (0 = none): bytes the Kafka-mode process may hold; split
     * into RocksDB, librdkafka queues and task state (docs/topology.md,
     * "Memory limit"). Local mode ignores it. */
    size_t memory_limit;
#define EDDY_MEMORY_LIMIT_MIN ((size_t)16 << 20)
    struct eddy_table **tables;
    size_t n_tables;
    struct eddy_derive *derives;
    size_t n_derives;
    size_t n_slots; /* source.n_fields + n_derives */
    struct eddy_aggregation *aggregations;
    size_t n_aggregations;
    struct eddy_alert *alerts;
    size_t n_alerts;
    struct eddy_pattern *patterns; /* may replace aggregations: one of both is required */
    size_t n_patterns;
    struct eddy_kv *kafka; /* librdkafka properties passed through */
    size_t n_kafka;
    enum eddy_processing processing;
    struct eddy_serve_conf serve;
    struct eddy_archive *archives; /* aggregations' in their order, then the raw stream's */
    size_t n_archives;
};

/*
 * Loads and validates the topology at @path. On success *out owns a new plan.
 * On failure returns EDDY_ECONFIG (or EDDY_EIO when the file cannot be read)
 * and writes into @errbuf a message naming the file, the line and the key:
 *   "topologies/x.yaml:12: aggregations[0].window: unknown window kind 'tumble'"
 * Relative table files are resolved against the topology file's directory.
 */
eddy_err_t eddy_topology_load(const char *path, struct eddy_plan **out, char *errbuf,
                              size_t errlen);

/* Same, from a YAML text in memory; @name is used in messages and to resolve
 * relative table files (its directory). */
eddy_err_t eddy_topology_parse(const char *name, const char *text, size_t len,
                               struct eddy_plan **out, char *errbuf, size_t errlen);

/* Releases a plan; accepts NULL. */
void eddy_plan_free(struct eddy_plan *plan);

/* Prints the plan (sources, operators, stores, topics) for `eddy validate`. */
void eddy_plan_print(const struct eddy_plan *plan, FILE *out);

/* Slot index of the event-scope name, or -1. */
long eddy_plan_slot(const struct eddy_plan *plan, const char *name);

#endif
