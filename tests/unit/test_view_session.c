/*
 * test_view_session.c - the serving view over session windows, fed the way
 * the Kafka engine feeds it (store changes and final rows, published per
 * commit): a session merged into another leaves the view at once, a closed
 * session stays queryable for the view's retention.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "eddy/topology.h"
#include "plan_from.h"
#include "runtime/task.h"
#include "serve/view.h"

static const char topology[] = "name: t\n"
                               "source:\n"
                               "  topic: in\n"
                               "  timestamp: {field: ts, format: unix_ms}\n"
                               "  fields: {user: string}\n"
                               "grace: 10s\n"
                               "aggregations:\n"
                               "  - name: visits\n"
                               "    group_by: [user]\n"
                               "    window: {session: 6s}\n"
                               "    metrics: {n: count()}\n";

static eddy_err_t discard(void *ctx, enum eddy_out_kind kind, const char *topic, const char *key,
                          size_t key_len, const char *value, size_t value_len)
{
    return EDDY_OK;
}

/* kengine's change_put and change_retire, as far as the view sees them */
static eddy_err_t stage_put(void *ctx, const char *store, const void *key, size_t key_len,
                            const void *value, size_t value_len)
{
    return eddy__view_stage_row(ctx, 0, store, key, key_len, value, value_len);
}

static eddy_err_t stage_closed(void *ctx, const char *store, int64_t start)
{
    return EDDY_OK;
}

static eddy_err_t not_staged(void *ctx, const char *store, const void *key, size_t key_len)
{
    return EDDY_OK;
}

static void record(struct eddy_task *task, const char *user, long ts, int64_t offset)
{
    char line[128];
    int n = snprintf(line, sizeof line, "{\"user\":\"%s\",\"ts\":%ld}", user, ts);
    cr_assert_eq(eddy__task_process(task, line, (size_t)n, offset, false), EDDY_OK);
}

static void commit(struct eddy_task *task, struct eddy_view *view)
{
    struct eddy_task_changes changes = {stage_put, stage_closed, view, not_staged};
    cr_assert_eq(eddy__task_changes(task, &changes), EDDY_OK);
    cr_assert(eddy__view_publish(view, true));
}

Test(view_session, merged_sessions_leave_the_view_closed_ones_stay)
{
    struct eddy_plan *plan = plan_from(topology);
    struct eddy_view *view;
    cr_assert_eq(eddy__view_new(plan, 3600000, &view), EDDY_OK);
    struct eddy_task *task;
    struct eddy_output out = {discard, NULL};
    cr_assert_eq(eddy__task_new(plan, "in", 0, &out, &task), EDDY_OK);
    eddy__task_on_final(task, stage_put, view);
    commit(task, view); /* starts recording */
    record(task, "a", 0, 0);
    record(task, "a", 10000, 1); /* beyond the 6 s gap: a second session */
    commit(task, view);
    cr_assert_eq(eddy__view_rows(view), 2);
    record(task, "a", 5000, 2); /* within the gap of both: they merge into one */
    commit(task, view);
    cr_assert_eq(eddy__view_rows(view), 1, "the merged-away session is still queryable");
    record(task, "b", 100000, 3); /* a's session closes (final), b opens */
    commit(task, view);
    cr_assert_eq(eddy__view_rows(view), 2, "the closed session left the view");
    eddy__task_free(task);
    eddy__view_free(view);
    eddy_plan_free(plan);
}

/* Deletes keep every other row findable (backward-shift deletion over long
 * probe runs): after deleting half of the rows at random, putting every
 * remaining key again must find it (the row count stays), and putting the
 * deleted ones adds exactly them. */
Test(view_session, deletes_keep_every_other_row_findable)
{
    static const char tumbling[] = "name: t\n"
                                   "source:\n"
                                   "  topic: in\n"
                                   "  timestamp: {field: ts, format: unix_ms}\n"
                                   "  fields: {user: string}\n"
                                   "aggregations:\n"
                                   "  - name: visits\n"
                                   "    group_by: [user]\n"
                                   "    window: {tumbling: 1m}\n"
                                   "    metrics: {n: count()}\n";
    struct eddy_plan *plan = plan_from(tumbling);
    struct eddy_view *view;
    cr_assert_eq(eddy__view_new(plan, 365LL * 86400000, &view), EDDY_OK);
    enum { N = 3000 };
    static unsigned char keys[N][16];
    static bool gone[N];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        keys[i][0] = 0x80; /* be64 of a small positive start: a window in 1970 */
        memset(keys[i] + 1, 0, 7);
        keys[i][7] = (unsigned char)(i % 4) * 60; /* four windows */
        memcpy(keys[i] + 8, &x, 8);
        cr_assert_eq(eddy__view_stage_row(view, 0, "visits", keys[i], 16, "v", 1), EDDY_OK);
    }
    cr_assert(eddy__view_publish(view, true));
    cr_assert_eq(eddy__view_rows(view), N);
    size_t deleted = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x & 1) {
            gone[i] = true;
            deleted++;
            cr_assert_eq(eddy__view_stage_row(view, 0, "visits", keys[i], 16, NULL, 0), EDDY_OK);
        }
    }
    cr_assert(eddy__view_publish(view, true));
    cr_assert_eq(eddy__view_rows(view), N - deleted);
    for (int i = 0; i < N; i++)
        if (!gone[i])
            cr_assert_eq(eddy__view_stage_row(view, 0, "visits", keys[i], 16, "w", 1), EDDY_OK);
    cr_assert(eddy__view_publish(view, true));
    cr_assert_eq(eddy__view_rows(view), N - deleted, "a remaining row was not found");
    for (int i = 0; i < N; i++)
        if (gone[i])
            cr_assert_eq(eddy__view_stage_row(view, 0, "visits", keys[i], 16, "w", 1), EDDY_OK);
    cr_assert(eddy__view_publish(view, true));
    cr_assert_eq(eddy__view_rows(view), N);
    eddy__view_free(view);
    eddy_plan_free(plan);
}
