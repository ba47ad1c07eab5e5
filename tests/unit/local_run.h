/*
 * local_run.h - a local-mode run of a test data directory for unit tests:
 * DIR/topology.yaml over DIR/input.jsonl must give exactly
 * DIR/expected.jsonl (results) and DIR/expected.dlq.jsonl (dead letters,
 * whose input path is written relative to the source tree). Returns the
 * run's task stats for the caller's own checks. Shared by test_session.c
 * and test_pattern.c.
 */
#ifndef EDDY_TESTS_UNIT_LOCAL_RUN_H
#define EDDY_TESTS_UNIT_LOCAL_RUN_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "eddy/output.h"
#include "eddy/topology.h"
#include "runtime/engine.h"
#include "runtime/task.h"

struct local_run_split {
    struct eddy_buf results, dead;
};

static inline eddy_err_t local_run_split(void *ctx, enum eddy_out_kind kind, const char *topic,
                                         const char *key, size_t key_len, const char *value,
                                         size_t value_len)
{
    struct local_run_split *s = ctx;
    struct eddy_buf *b = kind == EDDY_OUT_DEAD ? &s->dead : &s->results;
    eddy_buf_append(b, value, value_len);
    eddy_buf_putc(b, '\n');
    return EDDY_OK;
}

static inline char *local_run_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return text;
}

/* @dir ends with '/'. */
static inline struct eddy_task_stats local_run(const char *dir)
{
    char err[512], path[512];
    struct eddy_plan *plan;
    snprintf(path, sizeof path, "%stopology.yaml", dir);
    cr_assert_eq(eddy_topology_load(path, &plan, err, sizeof err), EDDY_OK, "%s", err);
    struct local_run_split s;
    eddy_buf_init(&s.results);
    eddy_buf_init(&s.dead);
    struct eddy_output out = {local_run_split, &s};
    struct eddy_task_stats stats;
    snprintf(path, sizeof path, "%sinput.jsonl", dir);
    cr_assert_eq(eddy__engine_run_local(plan, path, &out, NULL, &stats, NULL), EDDY_OK);
    eddy_buf_putc(&s.results, '\0');
    eddy_buf_putc(&s.dead, '\0');
    snprintf(path, sizeof path, "%sexpected.jsonl", dir);
    cr_expect_str_eq(s.results.data, local_run_slurp(path));
    /* dead letters name the input file: relative to the source tree there */
    const char *root = EDDY_SOURCE_DIR "/";
    char *at = strstr(s.dead.data, root);
    cr_assert(at);
    memmove(at, at + strlen(root), strlen(at + strlen(root)) + 1);
    snprintf(path, sizeof path, "%sexpected.dlq.jsonl", dir);
    cr_expect_str_eq(s.dead.data, local_run_slurp(path));
    eddy_buf_release(&s.results);
    eddy_buf_release(&s.dead);
    eddy_plan_free(plan);
    return stats;
}

#endif
