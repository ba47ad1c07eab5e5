/*
 * test_history.c - two years of history through topologies/unique-users.yaml
 * (issue 6: history at full speed with bounded memory).
 *
 * 730 days of frames, one every 10 minutes of event time, users cycling
 * through 50 ids: every minute, hour and day window must be emitted exactly
 * once with exact counts (HyperLogLog is exact below 256 values), and the
 * windows held in memory must stay a handful however long the history is:
 * windows close as stream time advances, not at end of input.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/output.h"
#include "eddy/topology.h"
#include "runtime/task.h"

#define DAYS 730
#define STEP_S 600 /* one frame every 10 minutes */
#define FRAMES_PER_DAY (86400 / STEP_S)
#define USERS 50
#define START_S 1732492800LL /* 2024-11-25T00:00:00Z */

struct tally {
    uint64_t rows[3];     /* users_1m, users_1h, users_1d */
    uint64_t bad[3];      /* rows whose metrics are not the expected ones */
    uint64_t dead, other; /* dead letters; anything else */
    int64_t last_day_start;
};

static int agg_index(const char *name)
{
    static const char *const names[] = {"users_1m", "users_1h", "users_1d"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static eddy_err_t tally_output(void *ctx, enum eddy_out_kind kind, const char *topic,
                               const char *key, size_t key_len, const char *value,
                               size_t value_len)
{
    (void)topic, (void)key, (void)key_len;
    struct tally *t = ctx;
    if (kind == EDDY_OUT_DEAD) {
        t->dead++;
        return EDDY_OK;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    int a = doc ? agg_index(json_string_value(json_object_get(doc, "aggregation"))) : -1;
    if (kind != EDDY_OUT_RESULT || a < 0) {
        t->other++;
        json_decref(doc);
        return EDDY_OK;
    }
    t->rows[a]++;
    json_t *m = json_object_get(doc, "metrics");
    json_int_t users = json_integer_value(json_object_get(m, "users"));
    json_int_t frames = json_integer_value(json_object_get(m, "frames"));
    /* a minute holds one frame; an hour six consecutive users; a day 144
     * frames over all 50 users */
    static const json_int_t want_users[] = {1, 6, USERS}, want_frames[] = {1, 6, FRAMES_PER_DAY};
    if (users != want_users[a] || frames != want_frames[a] ||
        !json_is_true(json_object_get(doc, "final")))
        t->bad[a]++;
    json_decref(doc);
    return EDDY_OK;
}

Test(history, two_years_of_frames_with_bounded_windows)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    cr_assert_eq(eddy_topology_load(EDDY_SOURCE_DIR "/topologies/unique-users.yaml", &plan, err,
                                    sizeof err),
                 EDDY_OK, "%s", err);
    cr_assert_eq(plan->n_aggregations, 3);
    struct tally t;
    memset(&t, 0, sizeof t);
    struct eddy_output out = {tally_output, &t};
    struct eddy_task *task = NULL;
    cr_assert_eq(eddy__task_new(plan, "frames", 0, &out, &task), EDDY_OK);

    uint64_t most[3] = {0};
    char line[128];
    const int64_t frames = (int64_t)DAYS * FRAMES_PER_DAY;
    for (int64_t i = 0; i < frames; i++) {
        int n = snprintf(line, sizeof line, "{\"uid\":\"u-%02d\",\"ts\":%lld,\"v\":1}",
                         (int)(i % USERS), (long long)(START_S + i * STEP_S));
        cr_assert_eq(eddy__task_process(task, line, (size_t)n, i, false), EDDY_OK);
        uint64_t rows[3] = {0};
        eddy__task_window_rows(task, rows, 3);
        for (int a = 0; a < 3; a++)
            if (rows[a] > most[a])
                most[a] = rows[a];
    }
    /* before the end of input every minute and hour but the last has been
     * emitted, and every day but the last */
    cr_expect_eq(t.rows[0], (uint64_t)frames - 1);
    cr_expect_eq(t.rows[1], (uint64_t)DAYS * 24 - 1);
    cr_expect_eq(t.rows[2], (uint64_t)DAYS - 1);
    cr_assert_eq(eddy__task_flush(task), EDDY_OK);

    cr_expect_eq(t.rows[0], (uint64_t)frames, "minute rows");
    cr_expect_eq(t.rows[1], (uint64_t)DAYS * 24, "hour rows");
    cr_expect_eq(t.rows[2], (uint64_t)DAYS, "day rows");
    for (int a = 0; a < 3; a++)
        cr_expect_eq(t.bad[a], 0, "aggregation %d: %llu rows with other metrics", a,
                     (unsigned long long)t.bad[a]);
    cr_expect_eq(t.dead, 0);
    cr_expect_eq(t.other, 0);
    /* bounded: the open minute, and the hour and day it rolls into */
    for (int a = 0; a < 3; a++)
        cr_expect_leq(most[a], 2, "aggregation %d held %llu windows at once", a,
                      (unsigned long long)most[a]);
    const struct eddy_task_stats *st = eddy__task_stats(task);
    cr_expect_eq(st->records_ok, (uint64_t)frames);
    eddy__task_free(task);
    eddy_plan_free(plan);
}
