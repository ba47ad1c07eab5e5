/*
 * task.c - see task.h.
 *
 * Idle-aware time (plan idle_timeout): records only count; eddy__task_tick()
 * notices them (records_timed changed since the previous tick) and takes
 * its @now as the wall time of the last record, with the stream time then
 * as the anchor. A tick with nothing new, idle_timeout or more after that
 * anchor, moves stream time to min(anchor stream time + (now - anchor wall
 * time), now - grace), never backwards, and runs the ordinary advance().
 */
#include "runtime/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/decode.h"
#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/time.h"
#include "ops/alert.h"
#include "ops/dedup.h"
#include "ops/pattern.h"
#include "ops/result.h"
#include "ops/window.h"
#include "sink/archive.h"
#include "state/be64.h"

/* eddy_task.agg_advance */
enum { ADVANCE_ALERTS = 1, ADVANCE_ROLLUPS = 2 };

struct eddy_task {
    const struct eddy_plan *plan;
    char *topic;
    int32_t partition;
    struct eddy_output out;
    struct eddy_decoder *decoder;
    struct eddy_dedup_store *dedup;
    struct eddy_window_store **stores;
    /* Kafka mode, aggregations with repartition: partials of this partition
     * (combine[a]) */
    struct eddy_window_store **combine;
    /* the stream time of stores[a] when it is not the task's: the watermark
     * of a repartitioned aggregation, or for a rollup the end + grace of the
     * last source window merged (persisted for rollups) */
    int64_t *agg_time, *agg_time_persisted;
    /* per repartitioned aggregation, per source partition: the latest stream
     * time that source reported (INT64_MIN: none yet); agg_time[a] is their
     * minimum over the sources that reported (a watermark) */
    int64_t **source_time, **source_time_persisted;
    size_t n_sources;
    struct eddy_alert_state *alerts;
    struct eddy_pattern_store **patterns; /* per plan pattern */
    struct eddy_value *slots;
    char *scratch;
    size_t scratch_cap;
    struct eddy_json_hint json_hint; /* the key order of the task's events */
    int64_t stream_time;
    int64_t persisted_stream_time;
    /* the stream time of the last advance (INT64_MIN: none since the task
     * was made or loaded); in a plan whose advance depends on stream time
     * alone (time_driven), a record that leaves stream time there has
     * nothing to close or emit, and the advance is skipped */
    int64_t advanced_at;
    bool time_driven;
    /* the stores prepare_aggregates() prepares, in aggregation order (see
     * list_prepared) */
    struct eddy_window_store **prepared_stores;
    size_t n_prepared;
    /* per aggregation, what advancing it involves besides its store */
    uint8_t *agg_advance; /* ADVANCE_ALERTS | ADVANCE_ROLLUPS */
    /* idle-aware time: records with an event time so far, and as of the
     * last tick that saw new ones: that count, the tick's wall time and the
     * stream time then (INT64_MIN: no tick yet) */
    uint64_t records_timed, idle_seen;
    int64_t idle_wall, idle_stream_time;
    struct eddy_buf value, key;          /* output formatting */
    struct eddy_archive_sink **archives; /* per plan archive */
    struct eddy_value *archive_row;      /* one row of the widest archive */
    eddy_task_final_fn final_fn;         /* eddy__task_on_final */
    void *final_ctx;
    struct eddy_task_stats stats;
};

static void list_prepared(struct eddy_task *t);

eddy_err_t eddy__task_new(const struct eddy_plan *plan, const char *topic, int32_t partition,
                          const struct eddy_output *out, struct eddy_task **out_task)
{
    struct eddy_task *t = eddy_calloc(1, sizeof *t);
    if (!t)
        return EDDY_ENOMEM;
    t->plan = plan;
    t->partition = partition;
    t->out = *out;
    t->stream_time = INT64_MIN;
    t->persisted_stream_time = INT64_MIN;
    t->advanced_at = INT64_MIN;
    t->idle_wall = INT64_MIN;
    /* what else than stream time makes an advance emit: revisions of
     * records into closed windows (late corrections), session merges and
     * pattern timeouts; repartitioned aggregations are checked in
     * advance_due() */
    t->time_driven = !plan->late_correct_ms && !plan->n_patterns;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (plan->aggregations[a].window.kind == EDDY_WIN_SESSION)
            t->time_driven = false;
    eddy_buf_init(&t->value);
    eddy_buf_init(&t->key);
    eddy_err_t err = EDDY_ENOMEM;
    t->topic = eddy_strdup(topic);
    t->slots = eddy_calloc(plan->n_slots ? plan->n_slots : 1, sizeof *t->slots);
    t->stores = eddy_calloc(plan->n_aggregations ? plan->n_aggregations : 1, sizeof *t->stores);
    t->agg_time = eddy_calloc(plan->n_aggregations + 1, sizeof *t->agg_time);
    t->agg_time_persisted = eddy_calloc(plan->n_aggregations + 1, sizeof *t->agg_time_persisted);
    t->patterns = eddy_calloc(plan->n_patterns + 1, sizeof *t->patterns);
    t->agg_advance = eddy_calloc(plan->n_aggregations + 1, sizeof *t->agg_advance);
    t->prepared_stores = eddy_calloc(plan->n_aggregations + 1, sizeof *t->prepared_stores);
    if (!t->topic || !t->slots || !t->stores || !t->agg_time || !t->agg_time_persisted ||
        !t->patterns || !t->agg_advance || !t->prepared_stores)
        goto out;
    for (size_t i = 0; i < plan->n_alerts; i++)
        if (plan->alerts[i].burn || plan->alerts[i].absent_windows) /* expire or fire on time */
            t->agg_advance[plan->alerts[i].aggregation] |= ADVANCE_ALERTS;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (plan->aggregations[a].rollup)
            t->agg_advance[plan->aggregations[a].from] |= ADVANCE_ROLLUPS;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        t->agg_time[a] = t->agg_time_persisted[a] = INT64_MIN;
    if ((err = eddy__decoder_new(&plan->source, &t->decoder)))
        goto out;
    if (plan->dedup.enabled && (err = eddy__dedup_new(plan->dedup.within_ms, &t->dedup)))
        goto out;
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        if ((err = eddy__window_store_new(&plan->aggregations[a], plan->grace_ms, &t->stores[a])))
            goto out;
        if (!plan->aggregations[a].rollup) /* rollups are not corrected */
            eddy__window_correct(t->stores[a], plan->late_correct_ms);
    }
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (plan->aggregations[a].rollup) /* its source's final rows feed it */
            eddy__window_export(t->stores[plan->aggregations[a].from]);
    list_prepared(t);
    for (size_t p = 0; p < plan->n_patterns; p++)
        if ((err = eddy__pattern_store_new(&plan->patterns[p], plan->grace_ms, &t->patterns[p])))
            goto out;
    if ((err = eddy__alert_state_new(plan, &t->alerts)))
        goto out;
    char label[16];
    snprintf(label, sizeof label, "%d", (int)partition);
    err = eddy__task_archive_label(t, label, true);
out:
    if (err) {
        eddy__task_free(t);
        return err;
    }
    *out_task = t;
    return EDDY_OK;
}

void eddy__task_free(struct eddy_task *task)
{
    if (!task)
        return;
    eddy__decoder_free(task->decoder);
    eddy__dedup_free(task->dedup);
    for (size_t a = 0; task->stores && a < task->plan->n_aggregations; a++)
        eddy__window_store_free(task->stores[a]);
    for (size_t a = 0; task->combine && a < task->plan->n_aggregations; a++)
        eddy__window_store_free(task->combine[a]);
    eddy_free(task->stores);
    eddy_free(task->combine);
    eddy_free(task->agg_time);
    eddy_free(task->agg_time_persisted);
    for (size_t a = 0; task->source_time && a < task->plan->n_aggregations; a++) {
        eddy_free(task->source_time[a]);
        eddy_free(task->source_time_persisted[a]);
    }
    eddy_free(task->source_time);
    eddy_free(task->source_time_persisted);
    eddy__alert_state_free(task->alerts);
    for (size_t p = 0; task->patterns && p < task->plan->n_patterns; p++)
        eddy__pattern_store_free(task->patterns[p]);
    eddy_free(task->patterns);
    eddy_free(task->agg_advance);
    eddy_free(task->prepared_stores);
    for (size_t i = 0; task->archives && i < task->plan->n_archives; i++)
        eddy__archive_sink_free(task->archives[i]);
    eddy_free(task->archives);
    eddy_free(task->archive_row);
    eddy_free(task->slots);
    eddy_free(task->scratch);
    eddy_free(task->topic);
    eddy_buf_release(&task->value);
    eddy_buf_release(&task->key);
    eddy_free(task);
}

static eddy_err_t dead_letter(struct eddy_task *t, enum eddy_dl_reason reason, const char *detail,
                              const char *raw, size_t len, int64_t offset)
{
    t->stats.dead_letters[reason]++;
    eddy_buf_reset(&t->value);
    eddy__dl_format(&t->value, reason, detail, t->topic, t->partition, offset, raw, len);
    eddy_err_t err = eddy_buf_err(&t->value);
    if (err)
        return err;
    return t->out.write(t->out.ctx, EDDY_OUT_DEAD, NULL, NULL, 0, t->value.data, t->value.len);
}

static eddy_err_t emit_alert(void *ctx, const struct eddy_alert *alert, bool firing,
                             const struct eddy_aggregation *agg, const struct eddy_window_row *row,
                             const struct eddy_alert_burn *burn)
{
    struct eddy_task *t = ctx;
    eddy_buf_reset(&t->value);
    eddy_buf_reset(&t->key);
    eddy__alert_json(&t->value, alert, firing, agg, row);
    if (burn && !t->value.oom) { /* reopen the object for the burn-rate fields */
        t->value.len--;
        eddy__alert_burn_json(&t->value, alert, burn);
        eddy_buf_putc(&t->value, '}');
    }
    eddy__result_key_json(&t->key, agg, row);
    eddy_err_t err = eddy_buf_err(&t->value) ? EDDY_ENOMEM : eddy_buf_err(&t->key);
    if (err)
        return err;
    t->stats.alerts_out++;
    return t->out.write(t->out.ctx, EDDY_OUT_ALERT, alert->output_topic, t->key.data, t->key.len,
                        t->value.data, t->value.len);
}

static eddy_err_t roll_up(struct eddy_task *t, size_t a, const struct eddy_window_row *row);

/* A final row of aggregation @a goes to its archives. */
static eddy_err_t archive_result(struct eddy_task *t, size_t a, const struct eddy_window_row *row)
{
    for (size_t i = 0; i < t->plan->n_archives; i++) {
        const struct eddy_archive *ar = &t->plan->archives[i];
        if (ar->aggregation != a)
            continue;
        for (size_t c = 0; c < ar->n_columns; c++) {
            const struct eddy_archive_column *col = &ar->columns[c];
            struct eddy_value *v = &t->archive_row[c];
            switch (col->from) {
            case EDDY_AR_WINDOW_START:
                *v = (struct eddy_value){EDDY_V_INT, {.i = row->window_start}};
                break;
            case EDDY_AR_WINDOW_END:
                *v = (struct eddy_value){EDDY_V_INT, {.i = row->window_end}};
                break;
            case EDDY_AR_GROUP: *v = row->group[col->index]; break;
            case EDDY_AR_METRIC: *v = row->metrics[col->index]; break;
            case EDDY_AR_METRIC_ERROR:
                *v = (struct eddy_value){EDDY_V_NUM, {.n = row->errors[col->index]}};
                break;
            case EDDY_AR_REVISION:
                *v = (struct eddy_value){EDDY_V_INT, {.i = (int64_t)row->revision}};
                break;
            default: *v = eddy_value_null(); break;
            }
        }
        eddy_err_t err = eddy__archive_add(t->archives[i], t->archive_row);
        if (err)
            return err;
    }
    return EDDY_OK;
}

/* The decoded, non-duplicate record at event time @ts goes to the raw archives. */
static eddy_err_t archive_record(struct eddy_task *t, int64_t ts)
{
    for (size_t i = 0; i < t->plan->n_archives; i++) {
        const struct eddy_archive *ar = &t->plan->archives[i];
        if (ar->aggregation != SIZE_MAX)
            continue;
        for (size_t c = 0; c < ar->n_columns; c++) {
            const struct eddy_archive_column *col = &ar->columns[c];
            t->archive_row[c] = col->from == EDDY_AR_EVENT_TIME
                                    ? (struct eddy_value){EDDY_V_INT, {.i = ts}}
                                    : t->slots[col->index];
        }
        eddy_err_t err = eddy__archive_add(t->archives[i], t->archive_row);
        if (err)
            return err;
    }
    return EDDY_OK;
}

static eddy_err_t emit_row(void *ctx, const struct eddy_aggregation *agg,
                           const struct eddy_window_row *row)
{
    struct eddy_task *t = ctx;
    eddy_buf_reset(&t->value);
    eddy_buf_reset(&t->key);
    eddy__result_json(&t->value, agg, row);
    eddy__result_key_json(&t->key, agg, row);
    eddy_err_t err = eddy_buf_err(&t->value) ? EDDY_ENOMEM : eddy_buf_err(&t->key);
    if (err)
        return err;
    if (row->final)
        t->stats.results_out++;
    else
        t->stats.updates_out++;
    if (row->revision)
        t->stats.revisions_out++;
    err = t->out.write(t->out.ctx, EDDY_OUT_RESULT, agg->output_topic, t->key.data, t->key.len,
                       t->value.data, t->value.len);
    if (err || !row->final)
        return err;
    size_t a = (size_t)(agg - t->plan->aggregations);
    if (!row->retracted && (err = archive_result(t, a, row)))
        return err;
    if (t->final_fn && row->state_key && !row->revision &&
        (err = t->final_fn(t->final_ctx, agg->name, row->state_key, row->state_key_len,
                           row->state_value, row->state_value_len)))
        return err;
    /* revisions do not go into rollups (their windows may be closed), and
     * re-evaluate alerts only for the last closed window */
    if (!row->revision && (row->state_key || row->empty) && (err = roll_up(t, a, row)))
        return err;
    if (row->superseded)
        return EDDY_OK;
    return eddy__alert_on_row(t->alerts, a, row, emit_alert, t);
}

static eddy_err_t emit_match(void *ctx, const struct eddy_pattern *pattern,
                             const struct eddy_pattern_match *match)
{
    struct eddy_task *t = ctx;
    eddy_buf_reset(&t->value);
    eddy_buf_reset(&t->key);
    eddy__pattern_json(&t->value, pattern, match);
    eddy__pattern_key_json(&t->key, pattern, match);
    eddy_err_t err = eddy_buf_err(&t->value) ? EDDY_ENOMEM : eddy_buf_err(&t->key);
    if (err)
        return err;
    t->stats.matches_out++;
    return t->out.write(t->out.ctx, EDDY_OUT_MATCH, pattern->output_topic, t->key.data, t->key.len,
                        t->value.data, t->value.len);
}

static void count_dropped(struct eddy_task *t)
{
    uint64_t dropped = 0;
    for (size_t p = 0; p < t->plan->n_patterns; p++)
        dropped += eddy__pattern_dropped(t->patterns[p]);
    t->stats.partials_dropped = dropped;
}

/* Stream time of the store that emits aggregation @a: the task's, or for a
 * repartitioned aggregation its watermark, and for a rollup its source's. */
static int64_t emit_time(const struct eddy_task *t, size_t a)
{
    if (t->plan->aggregations[a].rollup || (t->combine && t->combine[a]))
        return t->agg_time[a];
    return t->stream_time;
}

/* Closes what is due in aggregation @a, then in the rollups it feeds (their
 * windows end with their last source window, so they close right after). */
static eddy_err_t advance_one(struct eddy_task *t, size_t a, bool flush)
{
    eddy_err_t err = eddy__window_advance(t->stores[a], emit_time(t, a), flush, emit_row, t);
    if (!err && (t->agg_advance[a] & ADVANCE_ALERTS))
        err = eddy__alert_advance(t->alerts, a, emit_time(t, a), emit_alert, t);
    if (!(t->agg_advance[a] & ADVANCE_ROLLUPS))
        return err;
    for (size_t b = a + 1; !err && b < t->plan->n_aggregations; b++)
        if (t->plan->aggregations[b].rollup && t->plan->aggregations[b].from == a)
            err = advance_one(t, b, flush);
    return err;
}

static eddy_err_t advance(struct eddy_task *t, bool flush)
{
    t->advanced_at = INT64_MIN; /* set again once every store advanced */
    for (size_t a = 0; a < t->plan->n_aggregations; a++) {
        if (t->plan->aggregations[a].rollup)
            continue; /* advanced with its source */
        eddy_err_t err = advance_one(t, a, flush);
        if (err)
            return err;
    }
    for (size_t p = 0; p < t->plan->n_patterns; p++) {
        eddy_err_t err =
            eddy__pattern_advance(t->patterns[p], t->stream_time, flush, emit_match, t);
        if (err)
            return err;
    }
    if (t->plan->n_patterns)
        count_dropped(t);
    t->advanced_at = t->stream_time;
    return EDDY_OK;
}

/* Whether the record just processed may have made something due: stream
 * time moved since the last advance, or the plan is not time_driven (see
 * there; partials merged from the repartition topic may revise too). */
static bool advance_due(const struct eddy_task *t)
{
    return t->stream_time != t->advanced_at || !t->time_driven || t->combine;
}

/* A final row of aggregation @a goes into the rollups it feeds. */
static eddy_err_t roll_up(struct eddy_task *t, size_t a, const struct eddy_window_row *row)
{
    for (size_t b = a + 1; b < t->plan->n_aggregations; b++) {
        const struct eddy_aggregation *rollup = &t->plan->aggregations[b];
        if (!rollup->rollup || rollup->from != a)
            continue;
        bool late;
        eddy_err_t err = EDDY_OK;
        if (!row->empty) /* an empty row has nothing to merge, but time passes */
            err =
                eddy__window_rollup(t->stores[b], row->state_key, row->state_key_len,
                                    row->state_value, row->state_value_len, t->agg_time[b], &late);
        if (err)
            return err;
        /* rollup windows close once their last source window is merged */
        int64_t horizon = row->window_end + t->plan->grace_ms;
        if (horizon > t->agg_time[b])
            t->agg_time[b] = horizon;
    }
    return EDDY_OK;
}

/* The dedup id's hash of the decoded record; false without an id (never a
 * duplicate). */
static bool dedup_hash(const struct eddy_task *t, uint64_t *hash)
{
    if (!t->dedup)
        return false;
    const struct eddy_value *id = &t->slots[t->plan->dedup.slot];
    switch (id->type) {
    case EDDY_V_STR: *hash = eddy_hash64(id->as.s.ptr, id->as.s.len, 0x64656475); return true;
    case EDDY_V_INT: *hash = eddy_hash64(&id->as.i, 8, 0x696e74); return true;
    default: return false;
    }
}

/* Appends @name to the list of what a record was late for. */
static void note_late(char *late_names, size_t cap, size_t *used, const char *name)
{
    if (*used + strlen(name) + 3 < cap)
        *used += (size_t)snprintf(late_names + *used, cap - *used, "%s%s", *used ? ", " : "", name);
}

/* Offers the decoded record to every pattern; notes those it was late for. */
static eddy_err_t match_patterns(struct eddy_task *t, int64_t ts, char *late_names, size_t cap)
{
    size_t used = strlen(late_names);
    for (size_t p = 0; p < t->plan->n_patterns; p++) {
        bool late;
        eddy_err_t err =
            eddy__pattern_add(t->patterns[p], t->slots, ts, t->stream_time, &late, emit_match, t);
        if (err)
            return err;
        if (late)
            note_late(late_names, cap, &used, t->plan->patterns[p].name);
    }
    return EDDY_OK;
}

/* The store that takes the records of aggregation @a. */
static struct eddy_window_store *agg_store(const struct eddy_task *t, size_t a)
{
    return t->combine && t->combine[a] ? t->combine[a] : t->stores[a];
}

/* Whether aggregation @a is prepared by prepare_aggregates(). */
static bool prepared(const struct eddy_task *t, size_t a)
{
    return !t->plan->aggregations[a].rollup && !t->plan->aggregations[a].where;
}

/* Lists the stores of the prepared() aggregations (once the stores, and
 * the partial stores of repartitioned aggregations, are made). */
static void list_prepared(struct eddy_task *t)
{
    t->n_prepared = 0;
    for (size_t a = 0; a < t->plan->n_aggregations; a++)
        if (prepared(t, a))
            t->prepared_stores[t->n_prepared++] = agg_store(t, a);
}

/* The first half of aggregate(), run before the dedup check so that the
 * misses of that check and of the rows overlap: prepares every aggregation
 * fed by events and without a where filter (eddy__window_prepare_*: no
 * effect but on its scratch, so harmless for a duplicate). Every key is
 * encoded before any is hashed (see window.h). */
static void prepare_aggregates(struct eddy_task *t, int64_t ts)
{
    struct eddy_window_store **ws = t->prepared_stores;
    size_t n = t->n_prepared;
    for (size_t i = 0; i < n; i++)
        eddy__window_prepare_key(ws[i], t->slots);
    for (size_t i = 0; i < n; i++)
        eddy__window_prepare_row(ws[i], ts);
    for (size_t i = 0; i < n; i++)
        eddy__window_prepare_args(ws[i], t->slots);
}

/* Aggregates the decoded record (prepared by prepare_aggregates); names the
 * aggregations it was late for. */
static eddy_err_t aggregate(struct eddy_task *t, int64_t ts, char *late_names, size_t cap)
{
    const struct eddy_plan *plan = t->plan;
    struct eddy_eval_ctx ctx = {.slots = t->slots};
    size_t used = 0;
    late_names[0] = '\0';
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        const struct eddy_aggregation *agg = &plan->aggregations[a];
        if (agg->rollup)
            continue; /* fed by its source's final rows, not by events */
        if (agg->where) {
            struct eddy_value keep;
            eddy_expr_eval(agg->where, &ctx, &keep);
            if (!eddy_value_truthy(&keep))
                continue;
        }
        bool late;
        struct eddy_window_store *ws = agg_store(t, a);
        eddy_err_t err = agg->where ? eddy__window_add(ws, t->slots, ts, t->stream_time, &late)
                                    : eddy__window_add_prepared(ws, ts, t->stream_time, &late);
        if (err)
            return err;
        if (late)
            note_late(late_names, cap, &used, agg->name);
    }
    return EDDY_OK;
}

eddy_err_t eddy__task_process(struct eddy_task *t, const char *raw, size_t len, int64_t offset,
                              bool too_large)
{
    const struct eddy_plan *plan = t->plan;
    char detail[256];
    t->stats.records_in++;
    for (size_t i = 0; i < plan->n_archives; i++)
        eddy__archive_consumed(t->archives[i], offset);
    if (too_large) {
        snprintf(detail, sizeof detail, "record longer than max_event_bytes %zu (truncated)",
                 plan->source.max_event_bytes);
        return dead_letter(t, EDDY_DL_TOO_LARGE, detail, raw, len, offset);
    }
    if (len > t->scratch_cap) {
        char *scratch = eddy_realloc(t->scratch, len);
        if (!scratch)
            return EDDY_ENOMEM;
        t->scratch = scratch;
        t->scratch_cap = len;
    }
    int64_t ts;
    enum eddy_dl_reason reason = eddy__decode(t->decoder, raw, len, t->slots, &ts, t->scratch,
                                              &t->json_hint, detail, sizeof detail);
    if (!reason && ts < 0) {
        reason = EDDY_DL_BAD_TIMESTAMP;
        snprintf(detail, sizeof detail, "event time %lld ms is before 1970-01-01", (long long)ts);
    }
    if (reason)
        return dead_letter(t, reason, detail, raw, len, offset);
    t->records_timed++;
    if (ts > t->stream_time)
        t->stream_time = ts;
    eddy_err_t err = EDDY_OK;
    /* the dedup table is large and probed at random: fetch its slot while
     * the derived fields are computed and the aggregations prepared (pure,
     * so harmless for a duplicate) */
    uint64_t id_hash;
    bool has_id = dedup_hash(t, &id_hash);
    if (has_id)
        eddy__dedup_prefetch(t->dedup, id_hash);
    struct eddy_eval_ctx ctx = {.slots = t->slots};
    for (size_t d = 0; d < plan->n_derives; d++)
        eddy_expr_eval(plan->derives[d].expr, &ctx, &t->slots[plan->derives[d].slot]);
    prepare_aggregates(t, ts);
    if (has_id && eddy__dedup_seen(t->dedup, id_hash, ts, t->stream_time, &err)) {
        t->stats.duplicates++;
        return EDDY_OK;
    }
    if (err)
        return err;
    t->stats.records_ok++;
    if (plan->n_archives && (err = archive_record(t, ts)))
        return err;
    char late_names[160];
    if ((err = aggregate(t, ts, late_names, sizeof late_names)) ||
        (err = match_patterns(t, ts, late_names, sizeof late_names)))
        return err;
    if (late_names[0]) {
        char start[32];
        eddy_time_format(ts, start);
        snprintf(detail, sizeof detail,
                 "event time %s is behind stream time by more than "
                 "grace for: %s",
                 start, late_names);
        if ((err = dead_letter(t, EDDY_DL_LATE, detail, raw, len, offset)))
            return err;
    }
    return advance_due(t) ? advance(t, false) : EDDY_OK;
}

eddy_err_t eddy__task_flush(struct eddy_task *t)
{
    return advance(t, true);
}

eddy_err_t eddy__task_tick(struct eddy_task *t, int64_t now_ms)
{
    int64_t idle = t->plan->idle_timeout_ms;
    if (idle <= 0)
        return EDDY_OK;
    if (t->idle_wall == INT64_MIN || t->records_timed != t->idle_seen) {
        /* records since the previous tick (or the first tick of the task):
         * the last one arrived at about @now_ms */
        t->idle_seen = t->records_timed;
        t->idle_wall = now_ms;
        t->idle_stream_time = t->stream_time;
        return EDDY_OK;
    }
    if (t->idle_stream_time == INT64_MIN || now_ms - t->idle_wall < idle)
        return EDDY_OK; /* no event time to extrapolate from, or not idle yet */
    int64_t target = t->idle_stream_time + (now_ms - t->idle_wall);
    if (target > now_ms - t->plan->grace_ms)
        target = now_ms - t->plan->grace_ms;
    if (target <= t->stream_time)
        return EDDY_OK;
    t->stream_time = target;
    return advance(t, false);
}

int64_t eddy__task_stream_time(const struct eddy_task *task)
{
    return task->stream_time;
}

void eddy__task_raise_stream_time(struct eddy_task *task, int64_t stream_time)
{
    if (stream_time > task->stream_time)
        task->stream_time = stream_time;
}

const struct eddy_task_stats *eddy__task_stats(const struct eddy_task *task)
{
    return &task->stats;
}

/* ---- memory budget ---- */

eddy_err_t eddy__task_backing(struct eddy_task *t, const char *store,
                              const struct eddy_window_backing *b)
{
    for (size_t a = 0; a < t->plan->n_aggregations; a++) {
        if (strcmp(t->plan->aggregations[a].name, store) == 0) {
            eddy__window_backing(t->stores[a], b);
            return EDDY_OK;
        }
    }
    return EDDY_ENOTFOUND;
}

size_t eddy__task_evict(struct eddy_task *t)
{
    size_t freed = 0;
    for (size_t a = 0; a < t->plan->n_aggregations; a++)
        freed += eddy__window_evict(t->stores[a]);
    return freed;
}

size_t eddy__task_memory(const struct eddy_task *t)
{
    size_t bytes = t->scratch_cap + t->value.cap + t->key.cap;
    for (size_t a = 0; a < t->plan->n_aggregations; a++) {
        bytes += eddy__window_memory(t->stores[a]);
        if (t->combine && t->combine[a])
            bytes += eddy__window_memory(t->combine[a]);
    }
    if (t->dedup)
        bytes += eddy__dedup_size(t->dedup) * EDDY_TASK_DEDUP_ID_BYTES;
    if (t->alerts)
        bytes += eddy__alert_memory(t->alerts);
    for (size_t p = 0; p < t->plan->n_patterns; p++)
        bytes += eddy__pattern_memory(t->patterns[p]);
    for (size_t i = 0; i < t->plan->n_archives; i++)
        bytes += eddy__archive_memory(t->archives[i]);
    return bytes;
}

static void watermark(struct eddy_task *t, size_t a);

/* ---- persistence ---- */

struct change_ctx {
    const struct eddy_task_changes *changes;
    const char *store;
};

static eddy_err_t put_change(void *ctx, const void *key, size_t key_len, const void *value,
                             size_t value_len)
{
    struct change_ctx *c = ctx;
    return c->changes->put(c->changes->ctx, c->store, key, key_len, value, value_len);
}

static eddy_err_t window_retired(void *ctx, const void *key, size_t key_len)
{
    struct change_ctx *c = ctx;
    if (c->changes->retire)
        return c->changes->retire(c->changes->ctx, c->store, key, key_len);
    return c->changes->put(c->changes->ctx, c->store, key, key_len, NULL, 0);
}

static eddy_err_t window_closed(void *ctx, int64_t start)
{
    struct change_ctx *c = ctx;
    return c->changes->closed_window(c->changes->ctx, c->store, start);
}

static eddy_err_t alert_put(void *ctx, const void *key, size_t key_len, const void *value,
                            size_t value_len)
{
    struct change_ctx *c = ctx;
    return c->changes->put(c->changes->ctx, c->store, key, key_len, value, value_len);
}

eddy_err_t eddy__task_changes(struct eddy_task *t, const struct eddy_task_changes *changes)
{
    eddy_err_t err = EDDY_OK;
    if (t->stream_time != t->persisted_stream_time) {
        unsigned char be[8];
        eddy__be64_put(be, t->stream_time);
        err = changes->put(changes->ctx, EDDY_TASK_META_STORE, "stream_time", 11, be, 8);
        if (err)
            return err;
        t->persisted_stream_time = t->stream_time;
    }
    for (size_t a = 0; a < t->plan->n_aggregations; a++) {
        if (!t->plan->aggregations[a].rollup || t->agg_time[a] == t->agg_time_persisted[a])
            continue;
        char key[160];
        unsigned char be[8];
        int n = snprintf(key, sizeof key, "stream_time:%s", t->plan->aggregations[a].name);
        eddy__be64_put(be, t->agg_time[a]);
        if ((err = changes->put(changes->ctx, EDDY_TASK_META_STORE, key, (size_t)n, be, 8)))
            return err;
        t->agg_time_persisted[a] = t->agg_time[a];
    }
    for (size_t a = 0; t->combine && a < t->plan->n_aggregations; a++) {
        for (size_t src = 0; t->combine[a] && src < t->n_sources; src++) {
            if (t->source_time[a][src] == t->source_time_persisted[a][src])
                continue;
            char key[192];
            unsigned char be[8];
            int n =
                snprintf(key, sizeof key, "source_time:%s:%zu", t->plan->aggregations[a].name, src);
            eddy__be64_put(be, t->source_time[a][src]);
            if ((err = changes->put(changes->ctx, EDDY_TASK_META_STORE, key, (size_t)n, be, 8)))
                return err;
            t->source_time_persisted[a][src] = t->source_time[a][src];
        }
    }
    if (t->dedup) {
        struct change_ctx c = {changes, EDDY_TASK_DEDUP_STORE};
        struct eddy_dedup_changes dc = {put_change, &c};
        if ((err = eddy__dedup_changes(t->dedup, t->stream_time, &dc)))
            return err;
    }
    for (size_t a = 0; a < t->plan->n_aggregations; a++) {
        struct change_ctx c = {changes, t->plan->aggregations[a].name};
        struct eddy_window_changes wc = {put_change, window_closed, &c, window_retired};
        if ((err = eddy__window_changes(t->stores[a], &wc)))
            return err;
    }
    if (t->plan->n_alerts) {
        struct change_ctx c = {changes, EDDY_TASK_ALERTS_STORE};
        if ((err = eddy__alert_changes(t->alerts, alert_put, &c)))
            return err;
    }
    for (size_t p = 0; p < t->plan->n_patterns; p++) {
        struct change_ctx c = {changes, t->plan->patterns[p].name};
        if ((err = eddy__pattern_changes(t->patterns[p], put_change, &c)))
            return err;
    }
    for (size_t i = 0; i < t->plan->n_archives; i++) {
        struct change_ctx c = {changes, EDDY_STORE_ARCHIVE};
        if ((err = eddy__archive_changes(t->archives[i], put_change, &c)))
            return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__task_load(struct eddy_task *t, const char *store, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    t->advanced_at = INT64_MIN; /* loaded state: the next record advances */
    if (strcmp(store, EDDY_TASK_META_STORE) == 0) {
        if (value_len != 8)
            return EDDY_EPARSE;
        if (key_len == 11 && memcmp(key, "stream_time", 11) == 0) {
            /* never below a time raised before the load */
            eddy__task_raise_stream_time(t, eddy__be64_get(value));
            t->persisted_stream_time = eddy__be64_get(value);
        }
        for (size_t a = 0; a < t->plan->n_aggregations; a++) {
            const char *name = t->plan->aggregations[a].name;
            if (t->plan->aggregations[a].rollup && key_len == 12 + strlen(name) &&
                memcmp(key, "stream_time:", 12) == 0 &&
                memcmp((const char *)key + 12, name, key_len - 12) == 0)
                t->agg_time[a] = t->agg_time_persisted[a] = eddy__be64_get(value);
        }
        for (size_t a = 0; t->combine && a < t->plan->n_aggregations; a++) {
            const char *name = t->plan->aggregations[a].name;
            size_t nl = strlen(name);
            const char *k = key;
            if (!t->combine[a] || key_len <= 12 + nl + 1 || memcmp(k, "source_time:", 12) != 0 ||
                memcmp(k + 12, name, nl) != 0 || k[12 + nl] != ':')
                continue;
            char digits[24];
            size_t dl = key_len - 13 - nl;
            if (dl >= sizeof digits)
                return EDDY_EPARSE;
            memcpy(digits, k + 13 + nl, dl);
            digits[dl] = '\0';
            size_t src = (size_t)strtoull(digits, NULL, 10);
            if (src < t->n_sources)
                t->source_time[a][src] = t->source_time_persisted[a][src] = eddy__be64_get(value);
            watermark(t, a);
        }
        return EDDY_OK;
    }
    if (strcmp(store, EDDY_TASK_DEDUP_STORE) == 0 && t->dedup)
        return eddy__dedup_load(t->dedup, key, key_len, value, value_len, t->stream_time);
    if (strcmp(store, EDDY_TASK_ALERTS_STORE) == 0)
        return eddy__alert_load(t->alerts, key, key_len, value, value_len);
    for (size_t a = 0; a < t->plan->n_aggregations; a++)
        if (strcmp(store, t->plan->aggregations[a].name) == 0)
            return eddy__window_load(t->stores[a], key, key_len, value, value_len, emit_time(t, a));
    for (size_t p = 0; p < t->plan->n_patterns; p++)
        if (strcmp(store, t->plan->patterns[p].name) == 0)
            return eddy__pattern_load(t->patterns[p], key, key_len, value, value_len);
    size_t i;
    if (strcmp(store, EDDY_STORE_ARCHIVE) == 0 && eddy__archive_key_index(key, key_len, &i) &&
        i < t->plan->n_archives)
        return eddy__archive_load(t->archives[i], key, key_len, value, value_len);
    return EDDY_ENOTFOUND;
}

/* ---- archives ---- */

eddy_err_t eddy__task_archive_label(struct eddy_task *t, const char *label, bool durable)
{
    const struct eddy_plan *plan = t->plan;
    if (!plan->n_archives)
        return EDDY_OK;
    size_t width = 1;
    for (size_t i = 0; i < plan->n_archives; i++)
        if (plan->archives[i].n_columns > width)
            width = plan->archives[i].n_columns;
    if (!t->archives && !(t->archives = eddy_calloc(plan->n_archives, sizeof *t->archives)))
        return EDDY_ENOMEM;
    if (!t->archive_row && !(t->archive_row = eddy_calloc(width, sizeof *t->archive_row)))
        return EDDY_ENOMEM;
    for (size_t i = 0; i < plan->n_archives; i++) {
        struct eddy_archive_sink *s;
        eddy_err_t err = eddy__archive_sink_new(&plan->archives[i], i, label, durable, &s);
        if (err)
            return err;
        eddy__archive_sink_free(t->archives[i]);
        t->archives[i] = s;
    }
    return EDDY_OK;
}

bool eddy__task_archive_roll(struct eddy_task *t, int64_t now_ms, bool force)
{
    bool sealed = false;
    for (size_t i = 0; i < t->plan->n_archives; i++)
        sealed |= eddy__archive_roll(t->archives[i], now_ms, force);
    return sealed;
}

void eddy__task_archive_committed(struct eddy_task *t)
{
    for (size_t i = 0; i < t->plan->n_archives; i++)
        eddy__archive_committed(t->archives[i]);
}

eddy_err_t eddy__task_archive_publish(struct eddy_task *t)
{
    eddy_err_t first = EDDY_OK;
    for (size_t i = 0; i < t->plan->n_archives; i++) {
        eddy_err_t err = eddy__archive_publish(t->archives[i]);
        if (err && !first)
            first = err;
    }
    struct eddy_task_stats *st = &t->stats;
    st->archive_rows = st->archive_rows_written = st->archive_files = st->archive_errors = 0;
    for (size_t i = 0; i < t->plan->n_archives; i++) {
        const struct eddy_archive_stats *as = eddy__archive_stats(t->archives[i]);
        st->archive_rows += as->rows;
        st->archive_rows_written += as->rows_written;
        st->archive_files += as->files;
        st->archive_errors += as->errors;
    }
    return first;
}

/* ---- repartitioning ---- */

eddy_err_t eddy__task_enable_repartition(struct eddy_task *t, size_t n_sources)
{
    const struct eddy_plan *plan = t->plan;
    size_t n = plan->n_aggregations ? plan->n_aggregations : 1;
    t->n_sources = n_sources;
    t->combine = eddy_calloc(n, sizeof *t->combine);
    t->source_time = eddy_calloc(n, sizeof *t->source_time);
    t->source_time_persisted = eddy_calloc(n, sizeof *t->source_time_persisted);
    if (!t->combine || !t->source_time || !t->source_time_persisted)
        return EDDY_ENOMEM;
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        if (!plan->aggregations[a].repartition)
            continue;
        t->source_time[a] = eddy_malloc(n_sources * sizeof(int64_t) + 1);
        t->source_time_persisted[a] = eddy_malloc(n_sources * sizeof(int64_t) + 1);
        if (!t->source_time[a] || !t->source_time_persisted[a])
            return EDDY_ENOMEM;
        for (size_t src = 0; src < n_sources; src++)
            t->source_time[a][src] = t->source_time_persisted[a][src] = EDDY_TASK_TIME_UNKNOWN;
        eddy_err_t err =
            eddy__window_store_new(&plan->aggregations[a], plan->grace_ms, &t->combine[a]);
        if (err)
            return err;
        /* partials of closed windows within the horizon are shipped: the
         * owning task's store revises its retained row */
        eddy__window_correct(t->combine[a], plan->late_correct_ms);
    }
    list_prepared(t);
    return EDDY_OK;
}

/* The merged store's stream time: the minimum over the source partitions
 * that reported a stream time, so a window closes only once every source
 * has passed its end + grace (it never moves back). */
static void watermark(struct eddy_task *t, size_t a)
{
    int64_t low = INT64_MAX;
    for (size_t src = 0; src < t->n_sources; src++) {
        int64_t time = t->source_time[a][src];
        if (time == EDDY_TASK_TIME_UNKNOWN)
            return; /* a source has not reported yet: nothing may close */
        if (time != EDDY_TASK_TIME_EMPTY && time < low)
            low = time;
    }
    if (low != INT64_MAX && low > t->agg_time[a])
        t->agg_time[a] = low;
}

eddy_err_t eddy__task_source_time(struct eddy_task *t, size_t a, size_t source,
                                  int64_t source_stream_time)
{
    if (!t->combine || a >= t->plan->n_aggregations || !t->combine[a] || source >= t->n_sources)
        return EDDY_EINVAL;
    if (source_stream_time > t->source_time[a][source])
        t->source_time[a][source] = source_stream_time;
    watermark(t, a);
    return advance_one(t, a, false);
}

struct ship_ctx {
    eddy_task_ship_fn fn;
    void *ctx;
    size_t aggregation;
};

static eddy_err_t ship_row(void *ctx, const void *key, size_t key_len, const void *value,
                           size_t value_len)
{
    struct ship_ctx *s = ctx;
    return s->fn(s->ctx, s->aggregation, key, key_len, value, value_len);
}

eddy_err_t eddy__task_ship(struct eddy_task *t, eddy_task_ship_fn fn, void *ctx)
{
    for (size_t a = 0; t->combine && a < t->plan->n_aggregations; a++) {
        if (!t->combine[a])
            continue;
        struct ship_ctx s = {fn, ctx, a};
        eddy_err_t err = eddy__window_ship(t->combine[a], ship_row, &s);
        if (err)
            return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__task_merge(struct eddy_task *t, size_t a, const void *key, size_t key_len,
                            const void *value, size_t value_len, int64_t offset)
{
    if (!t->combine || a >= t->plan->n_aggregations || !t->combine[a])
        return EDDY_EINVAL;
    bool late;
    eddy_err_t err =
        eddy__window_merge(t->stores[a], key, key_len, value, value_len, t->agg_time[a], &late);
    if (err == EDDY_EPARSE) {
        t->stats.records_in++;
        return dead_letter(t, EDDY_DL_MALFORMED_JSON,
                           "undecodable partial aggregate on the "
                           "repartition topic",
                           value, value_len, offset);
    }
    if (err)
        return err;
    if (late) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "partial aggregate of %s arrived after its window "
                 "closed",
                 t->plan->aggregations[a].name);
        t->stats.records_in++;
        if ((err = dead_letter(t, EDDY_DL_LATE, detail, key, key_len, offset)))
            return err;
    }
    return EDDY_OK;
}

void eddy__task_window_rows(const struct eddy_task *task, uint64_t *rows, size_t max)
{
    for (size_t a = 0; a < task->plan->n_aggregations && a < max; a++) {
        if (task->stores[a])
            rows[a] += eddy__window_rows(task->stores[a]);
        if (task->combine && task->combine[a])
            rows[a] += eddy__window_rows(task->combine[a]);
    }
}

void eddy__task_on_final(struct eddy_task *task, eddy_task_final_fn fn, void *ctx)
{
    task->final_fn = fn;
    task->final_ctx = ctx;
    for (size_t a = 0; a < task->plan->n_aggregations; a++)
        if (task->stores[a])
            eddy__window_export(task->stores[a]);
}
