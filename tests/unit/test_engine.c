/*
 * The local engine end to end on hostile input: binary garbage, a 5 MB line,
 * 100k nested brackets, invalid UTF-8, out-of-range numbers, NUL bytes and
 * empty lines, among good records. Nothing crashes or hangs, every bad record
 * is a dead letter with its reason, and every good record is counted.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/topology.h"
#include "runtime/engine.h"

struct counts {
    int dead[16];
    long requests; /* sum of the final results' count() */
    int results;
};

static const char *reasons[] = {"", "malformed_json", "missing_field", "wrong_type",
                                "bad_timestamp", "too_large", "late"};

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct counts *c = ctx;
    json_t *doc = json_loadb(value, value_len, JSON_ALLOW_NUL, NULL);
    cr_assert(doc, "output is not JSON: %.*s", (int)(value_len > 300 ? 300 : value_len), value);
    if (kind == EDDY_OUT_DEAD) {
        const char *reason = json_string_value(json_object_get(doc, "reason"));
        for (int r = 1; r < 7; r++)
            if (strcmp(reason, reasons[r]) == 0)
                c->dead[r]++;
        cr_assert(json_object_get(doc, "raw") || json_object_get(doc, "raw_base64"));
    } else if (kind == EDDY_OUT_RESULT) {
        c->results++;
        c->requests += json_integer_value(json_object_get(json_object_get(doc, "metrics"), "n"));
    }
    json_decref(doc);
    return EDDY_OK;
}

static const char topology[] = "name: hostile\n"
                               "source:\n"
                               "  topic: in\n"
                               "  max_event_bytes: 1MB\n"
                               "  timestamp: {field: ts, format: unix_s}\n"
                               "  fields: {k: string, v: {type: number, required: false}}\n"
                               "aggregations:\n"
                               "  - name: a\n"
                               "    group_by: [k]\n"
                               "    window: {tumbling: 1m}\n"
                               "    metrics: {n: count(), s: sum(v)}\n";

static void good(FILE *fp, int i)
{
    fprintf(fp, "{\"k\":\"key%d\",\"ts\":%d,\"v\":%d}\n", i % 3, 1000 + i, i);
}

Test(engine, hostile_input_is_dead_lettered_and_good_records_all_count, .timeout = 60)
{
    char path[] = "/tmp/eddy-hostile-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    int n_good = 0;
    good(fp, n_good++);
    for (int i = 0; i < 4096; i++) /* binary garbage, no newline inside */
        fputc((i * 7919 + 13) % 256 == '\n' ? 0 : (i * 7919 + 13) % 256, fp);
    fputc('\n', fp);
    good(fp, n_good++);
    fputs("{\"k\":\"", fp); /* a 5 MB line */
    for (int i = 0; i < 5 << 20; i++)
        fputc('x', fp);
    fputs("\",\"ts\":1}\n", fp);
    good(fp, n_good++);
    for (int i = 0; i < 100000; i++) /* 100k nested brackets */
        fputc('[', fp);
    fputc('\n', fp);
    fputs("{\"k\":", fp);
    for (int i = 0; i < 100000; i++)
        fputs("{\"a\":", fp);
    fputs("1\n", fp);
    good(fp, n_good++);
    fputs("{\"k\":\"bad \xff\xfe utf8\",\"ts\":1000}\n", fp); /* invalid UTF-8 */
    fputs("{\"k\":\"x\",\"ts\":1000,\"v\":1e400}\n", fp);     /* number out of range */
    fputs("{\"k\":\"x\",\"ts\":1e300}\n", fp);                /* time out of range */
    fputs("{\"k\":\"x\",\"ts\":1000,\"v\":\"12\"}\n", fp);    /* wrong type */
    fputs("{\"ts\":1000}\n", fp);                             /* missing field */
    fwrite("{\"k\":\"a\0b\",\"ts\":1000}\n", 1, 22, fp);      /* raw NUL byte */
    fputs("\n\n\r\n", fp);                                    /* empty lines */
    good(fp, n_good++);
    fputs("{\"k\":\"key0\",\"ts\":1000,\"v\":1,\"k\":\"key1\"}\n", fp); /* repeated key: last wins */
    n_good++;
    fputs("{\"k\":\"x\",\"ts\":1}{\"k\":\"y\",\"ts\":1}\n", fp); /* trailing document */
    good(fp, n_good++);
    fclose(fp);

    char err[512];
    struct eddy_plan *plan;
    cr_assert_eq(eddy_topology_parse("hostile.yaml", topology, sizeof topology - 1, &plan, err,
                                     sizeof err),
                 EDDY_OK, "%s", err);
    struct counts c = {0};
    struct eddy_output out = {collect, &c};
    struct eddy_task_stats stats;
    cr_assert_eq(eddy__engine_run_local(plan, path, &out, NULL, &stats, NULL), EDDY_OK);
    unlink(path);
    eddy_plan_free(plan);

    cr_expect_eq(c.requests, n_good, "good records counted: %ld of %d", c.requests, n_good);
    cr_expect_eq(c.dead[5], 1, "too_large: %d", c.dead[5]);
    cr_expect_eq(c.dead[1], 7, "malformed_json: %d", c.dead[1]); /* garbage, [[[, {{{, utf8, 1e400, NUL, trailing */
    cr_expect_eq(c.dead[3], 1, "wrong_type: %d", c.dead[3]);
    cr_expect_eq(c.dead[2], 1, "missing_field: %d", c.dead[2]);
    cr_expect_eq(c.dead[4], 1, "bad_timestamp: %d", c.dead[4]);
    cr_expect_eq(c.dead[6], 0, "late: %d", c.dead[6]);
    /* the raw NUL byte inside a string is a control character: malformed */
    cr_expect_eq(stats.records_in, (uint64_t)(n_good + 11));
}
