/*
 * Patterns (ops/pattern.h, docs/topology.md "patterns"): sequences of steps
 * per key within a span of event time, and the stream-stream join as a
 * two-step pattern with captures and `timeout: emit`. Scenarios run through
 * a whole task: each step is a record and the exact outputs right after it,
 * written "PATTERN/KEY match|timeout START-END COUNTS[ CAPTURED]" (times
 * HH:MM[:SS] of 1970-01-01, counts per step joined by ','), "late@OFFSET"
 * for a dead letter. Then: full JSON of matched and unmatched joins, the
 * bound on partial matches, a restored task continuing exactly where the
 * first stood (at every split point), config errors, `eddy validate` text,
 * fingerprints and `eddy diff`, and a local run over tests/unit/data/pattern/.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "eddy/topology.h"
#include "ops/pattern.h"
#include "runtime/engine.h"
#include "runtime/task.h"

#include "kvmap.h"
#include "plan_from.h"
#include "local_run.h"

/* ---- outputs ---- */

struct collector {
    struct eddy_buf text; /* compact outputs of the current step, separated by spaces */
    struct eddy_buf json; /* every raw value, one per line */
    struct eddy_buf all;  /* every compact output, one per line */
};

/* "1970-01-01T00:05:00Z" -> "00:05", "...T00:05:30Z" -> "00:05:30" */
static void put_time(struct eddy_buf *b, const char *t)
{
    cr_assert(t);
    if (strncmp(t, "1970-01-01T", 11) != 0 || strlen(t) != 20) {
        eddy_buf_puts(b, t);
        return;
    }
    eddy_buf_append(b, t + 11, 5);
    if (strncmp(t + 17, "00Z", 3) != 0)
        eddy_buf_append(b, t + 16, 3);
}

static void put_match(struct eddy_buf *b, json_t *doc, const char *topic, const char *key,
                      size_t key_len)
{
    json_t *k = json_object_get(doc, "key"), *counts = json_object_get(doc, "counts");
    json_t *captured = json_object_get(doc, "captured");
    char *key_text = json_dumps(k, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_eq(strlen(key_text), key_len, "message key %.*s", (int)key_len, key);
    cr_assert(memcmp(key_text, key, key_len) == 0, "message key %.*s", (int)key_len, key);
    free(key_text);
    cr_assert(topic && *topic);
    eddy_buf_printf(b, "%s/", json_string_value(json_object_get(doc, "pattern")));
    const char *name;
    json_t *v;
    bool first = true;
    json_object_foreach(k, name, v) {
        eddy_buf_printf(b, "%s%s", first ? "" : ",", json_string_value(v));
        first = false;
    }
    eddy_buf_puts(b, json_is_true(json_object_get(doc, "matched")) ? " match " : " timeout ");
    put_time(b, json_string_value(json_object_get(doc, "start")));
    eddy_buf_putc(b, '-');
    put_time(b, json_string_value(json_object_get(doc, "end")));
    first = true;
    json_object_foreach(counts, name, v) {
        eddy_buf_printf(b, "%c%lld", first ? ' ' : ',', json_integer_value(v));
        first = false;
    }
    if (json_object_size(captured)) {
        char *text = json_dumps(captured, JSON_COMPACT | JSON_PRESERVE_ORDER);
        eddy_buf_printf(b, " %s", text);
        free(text);
    }
}

static eddy_err_t collect(void *ctx, enum eddy_out_kind kind, const char *topic,
                          const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct collector *c = ctx;
    json_error_t jerr;
    json_t *doc = json_loadb(value, value_len, 0, &jerr);
    cr_assert(doc, "output is not JSON: %.*s", (int)value_len, value);
    eddy_buf_append(&c->json, value, value_len);
    eddy_buf_putc(&c->json, '\n');
    size_t from = c->text.len;
    if (c->text.len)
        eddy_buf_putc(&c->text, ' ');
    if (kind == EDDY_OUT_DEAD) {
        eddy_buf_printf(&c->text, "%s@%lld", json_string_value(json_object_get(doc, "reason")),
                        json_integer_value(json_object_get(json_object_get(doc, "source"),
                                                           "offset")));
    } else {
        cr_assert_eq(kind, EDDY_OUT_MATCH, "%.*s", (int)value_len, value);
        put_match(&c->text, doc, topic, key, key_len);
    }
    eddy_buf_append(&c->all, c->text.data + from + (from ? 1 : 0),
                    c->text.len - from - (from ? 1 : 0));
    eddy_buf_putc(&c->all, '\n');
    json_decref(doc);
    return EDDY_OK;
}

static void collector_init(struct collector *c)
{
    eddy_buf_init(&c->text);
    eddy_buf_init(&c->json);
    eddy_buf_init(&c->all);
}

static void collector_release(struct collector *c)
{
    eddy_buf_release(&c->text);
    eddy_buf_release(&c->json);
    eddy_buf_release(&c->all);
}

static const char *text_of(struct eddy_buf *b)
{
    eddy_buf_putc(b, '\0');
    b->len--;
    return b->data;
}

/* ---- scenarios ---- */

#define TOPOLOGY(grace)                                                                      \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: rfc3339}\n"                                            \
    "  fields:\n"                                                                            \
    "    type: string\n"                                                                     \
    "    k: string\n"                                                                        \
    "    amount: {type: number, required: false}\n"                                         \
    "    who: {type: string, required: false}\n"                                            \
    "grace: " grace "\n"                                                                     \
    "patterns:\n"                                                                            \
    "  - name: binge\n"                                                                      \
    "    key: [k]\n"                                                                         \
    "    within: 4h\n"                                                                       \
    "    sequence:\n"                                                                        \
    "      - {where: type == \"video_complete\", times: 3+}\n"                              \
    "    output: {topic: binge-sessions}\n"                                                  \
    "  - name: brute\n"                                                                      \
    "    key: [k]\n"                                                                         \
    "    within: 10m\n"                                                                      \
    "    sequence:\n"                                                                        \
    "      - {where: type == \"login_failure\", times: 5+}\n"                               \
    "      - {where: type == \"login_success\"}\n"                                          \
    "  - name: pay\n"                                                                        \
    "    key: [k]\n"                                                                         \
    "    within: 15m\n"                                                                      \
    "    sequence:\n"                                                                        \
    "      - {name: order, where: type == \"order_placed\", capture: [amount, who]}\n"      \
    "      - {name: payment, where: type == \"payment\", capture: [amount]}\n"              \
    "    timeout: emit\n"

/* records: time "HH:MM" (or "HH:MM:SS" with EVS) of 1970-01-01, type, key */
#define EVS(hms, type, k, extra)                                                             \
    "{\"t\":\"1970-01-01T" hms "Z\",\"type\":\"" type "\",\"k\":\"" k "\"" extra "}"
#define EV(hm, type, k) EVS(hm ":00", type, k, "")
#define EVX(hm, type, k, extra) EVS(hm ":00", type, k, extra)

struct step {
    const char *record;
    const char *expect; /* outputs right after it, "" for none */
};

struct fixture {
    struct eddy_plan *plan;
    struct collector c;
    struct eddy_output out;
    struct eddy_task *task;
};

static void fixture_init(struct fixture *f, const char *yaml)
{
    f->plan = plan_from(yaml);
    collector_init(&f->c);
    f->out = (struct eddy_output){collect, &f->c};
    cr_assert_eq(eddy__task_new(f->plan, "input", 0, &f->out, &f->task), EDDY_OK);
}

static void fixture_release(struct fixture *f)
{
    eddy__task_free(f->task);
    eddy_plan_free(f->plan);
    collector_release(&f->c);
}

static void run_steps(struct fixture *f, const struct step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        eddy_buf_reset(&f->c.text);
        cr_assert_eq(eddy__task_process(f->task, steps[i].record, strlen(steps[i].record),
                                        (int64_t)i, false),
                     EDDY_OK);
        cr_expect_str_eq(text_of(&f->c.text), steps[i].expect, "after record %zu: %s", i,
                         steps[i].record);
    }
}

static void expect_flush(struct fixture *f, const char *expect)
{
    eddy_buf_reset(&f->c.text);
    cr_assert_eq(eddy__task_flush(f->task), EDDY_OK);
    cr_expect_str_eq(text_of(&f->c.text), expect, "at end of input");
}

static void run_scenario(const char *yaml, const struct step *steps, size_t n,
                         const char *at_flush)
{
    struct fixture f;
    fixture_init(&f, yaml);
    run_steps(&f, steps, n);
    expect_flush(&f, at_flush);
    fixture_release(&f);
}

#define N(steps) (sizeof steps / sizeof steps[0])

Test(pattern, binge_is_three_or_more_within_four_hours_emitted_when_within_ends)
{
    static const struct step steps[] = {
        {EV("00:00", "video_complete", "u1"), ""},
        {EV("00:00", "video_complete", "u2"), ""},
        {EV("00:10", "video_complete", "u2"), ""},
        {EV("01:00", "video_complete", "u1"), ""},
        {EV("00:20", "video_complete", "u2"), "late@4"}, /* grace 0: behind stream time */
        {EV("01:20", "video_complete", "u2"), ""},
        {EV("03:59", "video_complete", "u2"), ""},
        {EV("03:59", "noise", "x"), ""},
        /* 00:00 + 4h: u1's first run ends with 2 (nothing); u2's with 4 */
        {EV("04:00", "noise", "x"), "binge/u2 match 00:00-03:59 4"},
        /* u1's second run (01:00) has 1 and ends at 05:00: still nothing */
        {EV("05:00", "video_complete", "u1"), ""},
        {EV("05:01", "video_complete", "u1"), ""},
        /* 5 within 4h: one match with count 5 (the later runs are part of it) */
        {EV("06:00", "video_complete", "u3"), ""},
        {EV("06:01", "video_complete", "u3"), ""},
        {EV("06:02", "video_complete", "u3"), ""},
        {EV("09:00", "video_complete", "u3"), ""},
        {EV("09:59", "video_complete", "u3"), ""},
        {EV("10:00", "video_complete", "u3"), "binge/u3 match 06:00-09:59 5"},
    };
    /* u1 ends with 2 (05:00, 05:01), u3's 10:00 run with 1 */
    run_scenario(TOPOLOGY("0s"), steps, N(steps), "");
}

Test(pattern, brute_force_is_five_failures_then_a_success_within_ten_minutes)
{
    static const struct step steps[] = {
        /* u1: five failures then a success */
        {EV("00:00", "login_failure", "u1"), ""},
        /* u2: four failures then a success: nothing */
        {EV("00:00", "login_failure", "u2"), ""},
        /* u3: failures every 3 minutes: never five within 10 */
        {EV("00:00", "login_failure", "u3"), ""},
        /* u4: six failures over 8 minutes, the success at 11: the run from
         * 00:04 holds five */
        {EV("00:00", "login_failure", "u4"), ""},
        {EV("00:01", "login_failure", "u1"), ""},
        {EV("00:01", "login_failure", "u2"), ""},
        {EV("00:02", "login_failure", "u1"), ""},
        {EV("00:02", "login_failure", "u2"), ""},
        {EV("00:03", "login_failure", "u1"), ""},
        {EV("00:03", "login_failure", "u2"), ""},
        {EV("00:03", "login_failure", "u3"), ""},
        {EV("00:04", "login_failure", "u1"), ""},
        {EV("00:04", "login_success", "u2"), ""},
        {EV("00:04", "login_failure", "u4"), ""},
        {EV("00:05", "login_success", "u1"), "brute/u1 match 00:00-00:05 5,1"},
        {EV("00:05", "login_failure", "u4"), ""},
        {EV("00:06", "login_failure", "u3"), ""},
        {EV("00:06", "login_failure", "u4"), ""},
        {EV("00:07", "login_failure", "u4"), ""},
        {EV("00:08", "login_failure", "u4"), ""},
        {EV("00:09", "login_failure", "u3"), ""},
        {EV("00:11", "login_success", "u4"), "brute/u4 match 00:04-00:11 5,1"},
        {EV("00:12", "login_failure", "u3"), ""},
        {EV("00:12", "login_success", "u3"), ""},
        /* a success alone starts nothing */
        {EV("00:13", "login_success", "u5"), ""},
    };
    run_scenario(TOPOLOGY("0s"), steps, N(steps), "");
}

#define ORDER(hm, k, amount, who) EVX(hm, "order_placed", k, ",\"amount\":" amount ",\"who\":\"" who "\"")
#define PAYMENT(hm, k, amount) EVX(hm, "payment", k, ",\"amount\":" amount)

Test(pattern, order_then_payment_is_a_join_and_no_payment_is_emitted_when_within_ends)
{
    static const struct step steps[] = {
        {ORDER("00:00", "o1", "30", "c1"), ""},
        {ORDER("00:01", "o2", "12.5", "c2"), ""},
        {PAYMENT("00:05", "o1", "30"),
         "pay/o1 match 00:00-00:05 1,1 {\"order\":{\"amount\":30,\"who\":\"c1\"},"
         "\"payment\":{\"amount\":30}}"},
        /* a payment without an order: nothing, now or later */
        {PAYMENT("00:06", "o3", "7"), ""},
        /* a second payment of o1 starts nothing either */
        {PAYMENT("00:07", "o1", "30"), ""},
        {EVS("00:15:59", "noise", "x", ""), ""},
        /* 00:01 + 15m: o2 had no payment */
        {EV("00:16", "noise", "x"),
         "pay/o2 timeout 00:01-00:01 1,0 {\"order\":{\"amount\":12.5,\"who\":\"c2\"}}"},
        {PAYMENT("00:17", "o2", "12.5"), ""},
    };
    run_scenario(TOPOLOGY("0s"), steps, N(steps), "");
}

Test(pattern, join_output_is_the_documented_json)
{
    static const struct step steps[] = {
        {ORDER("00:00", "o1", "30", "c1"), ""},
        {EV("00:00", "noise", "o1"), ""},
        {PAYMENT("00:05", "o1", "29.5"), "pay/o1 match 00:00-00:05 1,1 "
                                         "{\"order\":{\"amount\":30,\"who\":\"c1\"},"
                                         "\"payment\":{\"amount\":29.5}}"},
        {EVX("00:06", "order_placed", "o2", ""), ""},
        {EV("00:20", "noise", "x"), ""},
    };
    struct fixture f;
    fixture_init(&f, TOPOLOGY("2m"));
    /* with grace 2m the match waits for stream time 00:07, the timeout of
     * o2 (00:06 + 15m) for 00:23 */
    static const struct step graced[] = {
        {ORDER("00:00", "o1", "30", "c1"), ""},
        {EV("00:00", "noise", "o1"), ""},
        {PAYMENT("00:05", "o1", "29.5"), ""},
        {EVX("00:06", "order_placed", "o2", ""), ""},
        {EV("00:07", "noise", "x"), "pay/o1 match 00:00-00:05 1,1 "
                                    "{\"order\":{\"amount\":30,\"who\":\"c1\"},"
                                    "\"payment\":{\"amount\":29.5}}"},
        {EVS("00:22:59", "noise", "x", ""), ""},
        {EV("00:23", "noise", "x"), "pay/o2 timeout 00:06-00:06 1,0 "
                                    "{\"order\":{\"amount\":null,\"who\":null}}"},
    };
    run_steps(&f, graced, N(graced));
    cr_expect_str_eq(
        text_of(&f.c.json),
        "{\"pattern\":\"pay\",\"key\":{\"k\":\"o1\"},\"matched\":true,"
        "\"start\":\"1970-01-01T00:00:00Z\",\"end\":\"1970-01-01T00:05:00Z\","
        "\"counts\":{\"order\":1,\"payment\":1},"
        "\"captured\":{\"order\":{\"amount\":30,\"who\":\"c1\"},\"payment\":{\"amount\":29.5}}}\n"
        "{\"pattern\":\"pay\",\"key\":{\"k\":\"o2\"},\"matched\":false,"
        "\"start\":\"1970-01-01T00:06:00Z\",\"end\":\"1970-01-01T00:06:00Z\","
        "\"counts\":{\"order\":1,\"payment\":0},"
        "\"captured\":{\"order\":{\"amount\":null,\"who\":null}}}\n");
    cr_expect_eq(eddy__task_stats(f.task)->matches_out, 2);
    fixture_release(&f);
    run_scenario(TOPOLOGY("0s"), steps, N(steps),
                 "pay/o2 timeout 00:06-00:06 1,0 {\"order\":{\"amount\":null,\"who\":null}}");
}

/* Within grace, records are matched in event-time order: a payment that
 * arrives before its order still joins it; any arrival order gives the same
 * output. */
static const char *const shuffled[] = {
    PAYMENT("00:03", "o1", "5"),
    ORDER("00:00", "o1", "5", "c1"),
    EV("00:02", "login_failure", "u1"),
    EV("00:01", "login_failure", "u1"),
    EV("00:04", "login_success", "u1"),
    EV("00:00", "login_failure", "u1"),
    EV("00:03", "login_failure", "u1"),
    EV("00:02", "login_failure", "u1"),
    ORDER("00:04", "o2", "1", "c2"),
    EV("00:05", "noise", "x"),
};

Test(pattern, out_of_order_within_grace_is_matched_in_event_time_order)
{
    static const struct step steps[] = {
        {shuffled[0], ""}, {shuffled[1], ""}, {shuffled[2], ""}, {shuffled[3], ""},
        {shuffled[4], ""}, {shuffled[5], ""}, {shuffled[6], ""}, {shuffled[7], ""},
        {shuffled[8], ""}, {shuffled[9], ""},
        /* grace 5m: the watermark reaches 00:03 */
        {EV("00:08", "noise", "x"), "pay/o1 match 00:00-00:03 1,1 "
                                    "{\"order\":{\"amount\":5,\"who\":\"c1\"},"
                                    "\"payment\":{\"amount\":5}}"},
        {EV("00:09", "noise", "x"), "brute/u1 match 00:00-00:04 5,1"},
    };
    run_scenario(TOPOLOGY("5m"), steps, N(steps),
                 "pay/o2 timeout 00:04-00:04 1,0 {\"order\":{\"amount\":1,\"who\":\"c2\"}}");
    /* every rotation of the arrival order gives the same output */
    const char *expected = "brute/u1 match 00:00-00:04 5,1\n"
                           "pay/o1 match 00:00-00:03 1,1 {\"order\":{\"amount\":5,\"who\":"
                           "\"c1\"},\"payment\":{\"amount\":5}}\n"
                           "pay/o2 timeout 00:04-00:04 1,0 {\"order\":{\"amount\":1,\"who\":"
                           "\"c2\"}}\n";
    size_t n = sizeof shuffled / sizeof shuffled[0];
    for (size_t rot = 0; rot < n; rot++) {
        struct fixture f;
        fixture_init(&f, TOPOLOGY("5m"));
        for (size_t i = 0; i < n; i++) {
            const char *r = shuffled[(i + rot) % n];
            cr_assert_eq(eddy__task_process(f.task, r, strlen(r), (int64_t)i, false), EDDY_OK);
        }
        cr_assert_eq(eddy__task_flush(f.task), EDDY_OK);
        cr_expect_str_eq(text_of(&f.c.all), expected, "rotation %zu", rot);
        fixture_release(&f);
    }
}

Test(pattern, late_beyond_grace_is_a_dead_letter_naming_the_pattern)
{
    static const struct step steps[] = {
        {ORDER("00:00", "o1", "5", "c1"), ""},
        {EV("00:20", "noise", "x"), "pay/o1 timeout 00:00-00:00 1,0 "
                                    "{\"order\":{\"amount\":5,\"who\":\"c1\"}}"},
        /* 00:15 = stream time - grace: not late */
        {ORDER("00:15", "o2", "5", "c1"), ""},
        /* behind it: late, for the pattern whose step it matches */
        {EVS("00:14:59", "payment", "o2", ",\"amount\":5"), "late@3"},
        /* a record no step matches is never late for a pattern */
        {EV("00:01", "noise", "x"), ""},
        {PAYMENT("00:16", "o2", "5"), ""},
        {EV("00:21", "noise", "x"), "pay/o2 match 00:15-00:16 1,1 "
                                    "{\"order\":{\"amount\":5,\"who\":\"c1\"},"
                                    "\"payment\":{\"amount\":5}}"},
    };
    struct fixture f;
    fixture_init(&f, TOPOLOGY("5m"));
    run_steps(&f, steps, N(steps));
    const char *json = text_of(&f.c.json);
    cr_expect(strstr(json, "{\"reason\":\"late\",\"detail\":\"event time 1970-01-01T00:14:59Z is "
                           "behind stream time by more than grace for: pay\",\"source\":"
                           "{\"topic\":\"input\",\"partition\":0,\"offset\":3}"),
              "%s", json);
    cr_expect_eq(eddy__task_stats(f.task)->dead_letters[EDDY_DL_LATE], 1);
    fixture_release(&f);
}

Test(pattern, a_bounded_last_step_completes_at_its_maximum_and_a_single_record_at_once)
{
    static const char *yaml =
        "name: t\n"
        "source:\n"
        "  topic: input\n"
        "  timestamp: {field: t, format: rfc3339}\n"
        "  fields: {type: string, k: string, amount: {type: number, required: false}}\n"
        "patterns:\n"
        "  - name: big\n"
        "    key: [k]\n"
        "    within: 1h\n"
        "    sequence:\n"
        "      - {where: amount > 100, capture: [amount]}\n"
        "  - name: burst\n"
        "    key: [k]\n"
        "    within: 10m\n"
        "    sequence:\n"
        "      - {where: type == \"a\", times: 2..3}\n"
        "      - {where: type == \"b\", times: 1..2}\n";
    static const struct step steps[] = {
        {EVX("00:00", "a", "x", ",\"amount\":150"), "big/x match 00:00-00:00 1 "
                                                    "{\"step1\":{\"amount\":150}}"},
        {EV("00:01", "a", "x"), ""},
        {EV("00:02", "a", "x"), ""},
        /* the first run is at its maximum of a's: it ignores this one */
        {EV("00:03", "a", "x"), ""},
        {EV("00:04", "b", "x"), ""},
        {EV("00:05", "b", "x"), "burst/x match 00:00-00:05 3,2"},
        /* the runs that started at 00:01..00:03 were part of it */
        {EV("00:06", "b", "x"), ""},
        {EV("00:20", "a", "x"), ""},
        {EV("00:21", "a", "x"), ""},
        {EV("00:22", "b", "x"), ""},
        {EVX("00:23", "c", "y", ",\"amount\":101"), "big/y match 00:23-00:23 1 "
                                                    "{\"step1\":{\"amount\":101}}"},
        {EV("00:29", "noise", "x"), ""},
        /* at 00:20 + 10m the run has 2 a's and 1 b: enough */
        {EV("00:30", "noise", "x"), "burst/x match 00:20-00:22 2,1"},
    };
    run_scenario(yaml, steps, N(steps), "");
}

/* ---- the bound ---- */

static void feed_times(struct fixture *f, const char *type, const char *k, int n, int step_s,
                       int from_s)
{
    for (int i = 0; i < n; i++) {
        char line[160];
        int t = from_s + i * step_s;
        snprintf(line, sizeof line,
                 "{\"t\":\"1970-01-01T%02d:%02d:%02dZ\",\"type\":\"%s\",\"k\":\"%s\"}", t / 3600,
                 t / 60 % 60, t % 60, type, k);
        cr_assert_eq(eddy__task_process(f->task, line, strlen(line), i, false), EDDY_OK);
    }
}

Test(pattern, partial_matches_per_key_are_bounded)
{
    cr_assert_eq(EDDY_PATTERN_MAX_PARTIALS, 64);
    struct fixture f;
    fixture_init(&f, TOPOLOGY("0s"));
    /* binge: 70 within a minute each. The 65th record would start the 65th
     * run: the oldest ends, already a match (65 records), and takes the
     * others with it; the last 5 are the next match. */
    feed_times(&f, "video_complete", "u1", 70, 60, 0);
    cr_expect_str_eq(text_of(&f.c.all), "binge/u1 match 00:00-01:04 65\n");
    cr_expect_eq(eddy__task_stats(f.task)->partials_dropped, 0);
    /* brute: 70 failures 5 s apart, then a success: the runs of the first 6
     * failures are dropped (not yet matches), the 7th's has 64 */
    feed_times(&f, "login_failure", "u2", 70, 5, 2 * 3600);
    feed_times(&f, "login_success", "u2", 1, 5, 2 * 3600 + 350);
    cr_expect_eq(eddy__task_stats(f.task)->partials_dropped, 6);
    cr_assert_eq(eddy__task_flush(f.task), EDDY_OK);
    cr_expect_str_eq(text_of(&f.c.all), "binge/u1 match 00:00-01:04 65\n"
                                        "brute/u2 match 02:00:30-02:05:50 64,1\n"
                                        "binge/u1 match 01:05-01:09 5\n");
    fixture_release(&f);
}

/* ---- persistence ---- */

static const char *const story[] = {
    ORDER("00:00", "o1", "10", "c1"),
    EV("00:00", "login_failure", "u1"),
    EV("00:01", "video_complete", "v1"),
    ORDER("00:01", "o2", "20", "c2"),
    EV("00:02", "login_failure", "u1"),
    PAYMENT("00:01", "o1", "10"), /* out of order, within grace */
    EV("00:02", "login_failure", "u1"),
    EV("00:03", "video_complete", "v1"),
    EV("00:03", "login_failure", "u1"),
    EV("00:04", "video_complete", "v1"),
    EV("00:02", "login_failure", "u1"),
    ORDER("00:05", "o3", "30", "c3"),
    EV("00:06", "login_success", "u1"),
    EV("00:06", "video_complete", "v1"),
    PAYMENT("00:07", "o3", "31"),
    EV("00:01", "login_failure", "u1"), /* late */
    EV("00:09", "video_complete", "v2"),
    EV("00:12", "login_failure", "u2"),
    EV("00:17", "noise", "x"),
    ORDER("00:18", "o4", "40", "c4"),
    EV("00:20", "video_complete", "v2"),
    EV("00:25", "video_complete", "v2"),
    EV("00:40", "noise", "x"),
    PAYMENT("00:41", "o4", "40"),
    EV("04:30", "noise", "x"),
    ORDER("04:31", "o5", "50", "c5"),
};
#define STORY_N (sizeof story / sizeof story[0])

static void run_story(struct eddy_task *t, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        cr_assert_eq(eddy__task_process(t, story[i], strlen(story[i]), (int64_t)i, false),
                     EDDY_OK);
}

static void load_all(struct eddy_task *t, const struct eddy_plan *plan, struct kvmap *state)
{
    size_t n_stores;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    cr_assert(stores);
    for (size_t s = 0; s < n_stores; s++)
        for (size_t i = 0; i < state->n; i++)
            if (strcmp(state->items[i].store, stores[s]) == 0)
                cr_assert_eq(eddy__task_load(t, stores[s], state->items[i].key,
                                             state->items[i].key_len, state->items[i].value,
                                             state->items[i].value_len),
                             EDDY_OK, "store %s", stores[s]);
    eddy_free((void *)stores);
}

Test(pattern, a_restored_task_continues_exactly_where_the_first_stood)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("2m"));
    struct collector whole;
    collector_init(&whole);
    struct eddy_output o_whole = {collect, &whole};
    struct eddy_task *all;
    cr_assert_eq(eddy__task_new(plan, "input", 0, &o_whole, &all), EDDY_OK);
    run_story(all, 0, STORY_N);
    cr_assert_eq(eddy__task_flush(all), EDDY_OK);
    const char *expected = text_of(&whole.json);
    cr_assert_str_eq(text_of(&whole.all),
                     "pay/o1 match 00:00-00:01 1,1 {\"order\":{\"amount\":10,\"who\":\"c1\"},"
                     "\"payment\":{\"amount\":10}}\n"
                     "late@15\n"
                     "brute/u1 match 00:00-00:06 5,1\n"
                     "pay/o3 match 00:05-00:07 1,1 {\"order\":{\"amount\":30,\"who\":\"c3\"},"
                     "\"payment\":{\"amount\":31}}\n"
                     "pay/o2 timeout 00:01-00:01 1,0 {\"order\":{\"amount\":20,\"who\":\"c2\"}}\n"
                     "pay/o4 timeout 00:18-00:18 1,0 {\"order\":{\"amount\":40,\"who\":\"c4\"}}\n"
                     "binge/v1 match 00:01-00:06 4\n"
                     "binge/v2 match 00:09-00:25 3\n"
                     "pay/o5 timeout 04:31-04:31 1,0 {\"order\":{\"amount\":50,\"who\":\"c5\"}}\n");
    /* commit after every record (each split point then follows a commit),
     * or every third one (splits at those) */
    for (size_t every = 1; every <= 3; every += 2) {
        for (size_t split = 0; split <= STORY_N; split += every) {
            struct collector first, second;
            collector_init(&first);
            collector_init(&second);
            struct eddy_output o_first = {collect, &first}, o_second = {collect, &second};
            struct eddy_task *a, *b;
            struct kvmap state = {0};
            struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
            cr_assert_eq(eddy__task_new(plan, "input", 0, &o_first, &a), EDDY_OK);
            cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
            for (size_t i = 0; i < split; i++) {
                run_story(a, i, i + 1);
                if ((i + 1) % every == 0)
                    cr_assert_eq(eddy__task_changes(a, &changes), EDDY_OK);
            }
            eddy__task_free(a);
            cr_assert_eq(eddy__task_new(plan, "input", 0, &o_second, &b), EDDY_OK);
            load_all(b, plan, &state);
            cr_assert_eq(eddy__task_changes(b, &changes), EDDY_OK);
            run_story(b, split, STORY_N);
            cr_assert_eq(eddy__task_flush(b), EDDY_OK);
            /* after the end every partial match and waiting record is gone */
            cr_assert_eq(eddy__task_changes(b, &changes), EDDY_OK);
            for (size_t i = 0; i < state.n; i++)
                cr_expect_str_eq(state.items[i].store, "meta", "split %zu: left in %s", split,
                                 state.items[i].store);
            eddy_buf_append(&first.json, second.json.data, second.json.len);
            cr_expect_str_eq(text_of(&first.json), expected, "split %zu every %zu", split,
                             every);
            eddy__task_free(b);
            kv_release(&state);
            collector_release(&first);
            collector_release(&second);
        }
    }
    eddy__task_free(all);
    collector_release(&whole);
    eddy_plan_free(plan);
}

Test(pattern, persisted_values_have_the_documented_layout_and_bad_bytes_are_refused)
{
    struct fixture f;
    fixture_init(&f, TOPOLOGY("1m"));
    struct kvmap state = {0};
    struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
    cr_assert_eq(eddy__task_changes(f.task, &changes), EDDY_OK);
    const char *order = ORDER("00:00", "o1", "10", "c1");
    const char *later = EVS("00:00:30", "order_placed", "o2", "");
    cr_assert_eq(eddy__task_process(f.task, order, strlen(order), 0, false), EDDY_OK);
    cr_assert_eq(eddy__task_changes(f.task, &changes), EDDY_OK);
    /* waiting for the watermark: 'b' ‖ be64 t ‖ be64 arrival number */
    unsigned char bkey[17] = {'b'};
    eddy__be64_put(bkey + 1, 0);
    eddy__be64_put(bkey + 9, 0);
    struct kv *w = kv_find(&state, "pay", bkey, sizeof bkey);
    cr_assert(w);
    /* mask 1 (order), key length 7 ("o1": tag, 4-byte length, 2 bytes),
     * then amount (an int: tag, 8 bytes), who (slot order) */
    static const unsigned char wvalue[] = {0, 0, 0, 1, 0, 0, 0, 7, 4, 2, 0, 0, 0, 'o', '1',
                                           2, 10, 0, 0, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0,
                                           'c', '1'};
    cr_assert_eq(w->value_len, sizeof wvalue);
    cr_expect(memcmp(w->value, wvalue, sizeof wvalue) == 0);
    /* stream time 00:01:30: the order is processed: a run, no waiting record */
    const char *noise = EVS("00:01:30", "noise", "x", "");
    cr_assert_eq(eddy__task_process(f.task, later, strlen(later), 1, false), EDDY_OK);
    cr_assert_eq(eddy__task_process(f.task, noise, strlen(noise), 2, false), EDDY_OK);
    cr_assert_eq(eddy__task_changes(f.task, &changes), EDDY_OK);
    cr_expect_null(kv_find(&state, "pay", bkey, sizeof bkey));
    static const unsigned char kkey[] = {'k', 4, 2, 0, 0, 0, 'o', '1'};
    struct kv *k = kv_find(&state, "pay", kkey, sizeof kkey);
    cr_assert(k);
    unsigned char expect[128], *p = expect;
    *p++ = EDDY_PATTERN_STATE_FORMAT;
    *p++ = 2;                               /* steps */
    memcpy(p, "\0\0\0\1", 4), p += 4;       /* runs */
    eddy__be64_put(p, 0), p += 8;           /* first t */
    eddy__be64_put(p, 0), p += 8;           /* last t */
    eddy__be64_put(p, 0), p += 8;           /* first ordinal */
    eddy__be64_put(p, 0), p += 8;           /* last ordinal */
    *p++ = 0;                               /* step */
    memcpy(p, "\0\0\0\1", 4), p += 4;       /* count of step 0 */
    memcpy(p, "\0\0\0\x14", 4), p += 4;     /* captures: 20 bytes */
    memcpy(p, "\0\0\0\x10", 4), p += 4;     /* step 0: 16 bytes */
    static const unsigned char values[] = {2, 10, 0, 0, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 'c', '1'};
    memcpy(p, values, sizeof values), p += sizeof values;
    cr_assert_eq(k->value_len, (size_t)(p - expect));
    cr_expect(memcmp(k->value, expect, k->value_len) == 0);
    /* another layout is refused */
    struct eddy_task *t2;
    cr_assert_eq(eddy__task_new(f.plan, "input", 0, &f.out, &t2), EDDY_OK);
    unsigned char bad[128];
    memcpy(bad, k->value, k->value_len);
    bad[1] = 3; /* steps */
    cr_expect_eq(eddy__task_load(t2, "pay", k->key, k->key_len, bad, k->value_len), EDDY_EPARSE);
    memcpy(bad, k->value, k->value_len);
    cr_expect_eq(eddy__task_load(t2, "pay", k->key, k->key_len, bad, k->value_len - 1),
                 EDDY_EPARSE);
    cr_expect_eq(eddy__task_load(t2, "pay", "z", 1, bad, 4), EDDY_EPARSE);
    cr_expect_eq(eddy__task_load(t2, "pay", bkey, sizeof bkey, wvalue, sizeof wvalue - 1),
                 EDDY_EPARSE);
    cr_expect_eq(eddy__task_load(t2, "pay", k->key, k->key_len, k->value, k->value_len), EDDY_OK);
    eddy__task_free(t2);
    kv_release(&state);
    fixture_release(&f);
}

Test(pattern, allocation_failures_fail_cleanly, .timeout = 120)
{
    const char *yaml = TOPOLOGY("2m");
    int successes = 0, failures = 0;
    for (unsigned long n = 1; n < 4000 && successes < 3; n++) {
        struct eddy_plan *plan = NULL;
        char err[512];
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
        eddy_alloc_fail_at(0);
        if (rc == EDDY_OK) {
            successes++;
            eddy_plan_free(plan);
            continue;
        }
        cr_assert_eq(rc, EDDY_ENOMEM, "n=%lu: %s", n, err);
        cr_assert_null(plan);
        failures++;
    }
    cr_assert_eq(successes, 3);
    cr_assert_gt(failures, 50);

    struct eddy_plan *plan = plan_from(yaml);
    size_t ok_runs = 0, failed_runs = 0;
    for (unsigned long n = 1; n < 3000 && ok_runs < 3; n++) {
        struct collector c;
        collector_init(&c);
        struct eddy_output out = {collect, &c};
        struct kvmap state = {0};
        struct eddy_task_changes changes = {kv_put, kv_closed, &state, NULL};
        struct eddy_task *task = NULL;
        eddy_alloc_fail_at(n);
        eddy_err_t rc = eddy__task_new(plan, "input", 0, &out, &task);
        if (!rc)
            rc = eddy__task_changes(task, &changes);
        for (size_t i = 0; i < STORY_N && !rc; i++) {
            rc = eddy__task_process(task, story[i], strlen(story[i]), (int64_t)i, false);
            if (!rc && i % 4 == 3)
                rc = eddy__task_changes(task, &changes);
        }
        if (!rc)
            rc = eddy__task_flush(task);
        eddy_alloc_fail_at(0);
        cr_assert(rc == EDDY_OK || rc == EDDY_ENOMEM, "n=%lu rc=%d", n, rc);
        ok_runs += rc == EDDY_OK;
        failed_runs += rc == EDDY_ENOMEM;
        eddy__task_free(task);
        kv_release(&state);
        collector_release(&c);
    }
    cr_assert_eq(ok_runs, 3);
    cr_assert_gt(failed_runs, 50);
    eddy_plan_free(plan);
}

/* ---- config ---- */

#define HEAD                                                                                 \
    "name: t\n"                                                                              \
    "source:\n"                                                                              \
    "  topic: input\n"                                                                       \
    "  timestamp: {field: t, format: unix_ms}\n"                                            \
    "  fields: {k: string, e: string}\n"                                                     \
    "patterns:\n"                                                                            \
    "  - name: p\n"                                                                          \
    "    key: [k]\n"                                                                         \
    "    within: 1m\n"                                                                       \
    "    sequence:\n"

static void expect_error(const char *yaml, const char *message)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    cr_assert_neq(eddy_topology_parse("t.yaml", yaml, strlen(yaml), &plan, err, sizeof err),
                  EDDY_OK, "%s", yaml);
    cr_expect_str_eq(err, message);
    eddy_plan_free(plan);
}

Test(pattern, config_errors_name_file_line_and_key)
{
    expect_error(HEAD "      - {where: e == \"a\", times: 0}\n",
                 "t.yaml:11: patterns[0].sequence[0].times: expected N, N+ or N..M with 1 <= N "
                 "<= M <= 1000000, got '0'");
    expect_error(HEAD "      - {where: e == \"a\", times: 3..2}\n",
                 "t.yaml:11: patterns[0].sequence[0].times: expected N, N+ or N..M with 1 <= N "
                 "<= M <= 1000000, got '3..2'");
    expect_error(HEAD "      - {where: e == \"a\", times: 2+3}\n",
                 "t.yaml:11: patterns[0].sequence[0].times: expected N, N+ or N..M with 1 <= N "
                 "<= M <= 1000000, got '2+3'");
    expect_error(HEAD "      - {where: e == \"a\", times: 1000001}\n",
                 "t.yaml:11: patterns[0].sequence[0].times: expected N, N+ or N..M with 1 <= N "
                 "<= M <= 1000000, got '1000001'");
    expect_error(HEAD "      - {where: x == 1}\n",
                 "t.yaml:11: patterns[0].sequence[0].where: unknown name 'x' at column 1");
    expect_error(HEAD "      - {times: 2}\n",
                 "t.yaml:11: patterns[0].sequence[0].where: missing required key");
    expect_error(HEAD "      - {where: e == \"a\", capture: [nope]}\n",
                 "t.yaml:11: patterns[0].sequence[0].capture[0]: unknown field 'nope'");
    expect_error(HEAD "      - {where: e == \"a\", name: a}\n      - {where: e == \"b\", name: a}\n",
                 "t.yaml:12: patterns[0].sequence[1].name: duplicate step name 'a' (first at "
                 "line 11)");
    expect_error(HEAD "      - {where: e == \"a\", name: step2}\n      - {where: e == \"b\"}\n",
                 "t.yaml:12: patterns[0].sequence[1]: duplicate step name 'step2' (first at "
                 "line 11); unnamed steps are called step<N>");
    expect_error(HEAD "      - {where: e == \"a\", wher: 1}\n",
                 "t.yaml:11: patterns[0].sequence[0].wher: unknown key (did you mean 'where'?)");
    expect_error(HEAD "      - {where: e == \"a\"}\n    timeout: later\n",
                 "t.yaml:12: patterns[0].timeout: unknown timeout 'later' (expected emit or "
                 "drop)");
    expect_error(HEAD "      x\n",
                 "t.yaml:11: patterns[0].sequence: expected a sequence of steps, got a "
                 "scalar");
    expect_error(HEAD "      []\n",
                 "t.yaml:11: patterns[0].sequence: expected 1 to 16 steps, got 0");
    expect_error("name: t\nsource:\n  topic: input\n  timestamp: {field: t}\n  fields: {k: "
                 "string}\npatterns:\n  - name: p\n    key: []\n    within: 1m\n    sequence: "
                 "[{where: true}]\n",
                 "t.yaml:8: patterns[0].key: at least one field is needed");
    expect_error("name: t\nsource:\n  topic: input\n  key: [k]\n  timestamp: {field: t}\n  "
                 "fields: {k: string, u: string}\npatterns:\n  - name: p\n    key: [u]\n    "
                 "within: 1m\n    sequence: [{where: true}]\n",
                 "t.yaml:9: patterns[0].key: must contain every source.key field (missing 'k'): "
                 "a pattern is matched where its records arrive");
    expect_error("name: t\nsource:\n  topic: input\n  timestamp: {field: t}\n  fields: {k: "
                 "string}\naggregations:\n  - name: p\n    window: {tumbling: 1m}\n    metrics: "
                 "{n: count()}\npatterns:\n  - name: p\n    key: [k]\n    within: 1m\n    "
                 "sequence: [{where: true}]\n",
                 "t.yaml:11: patterns[0].name: 'p' is the name of an aggregation (line 7); "
                 "patterns and aggregations name their stores, choose another name");
    expect_error("name: t\nsource:\n  topic: input\n  timestamp: {field: t}\n  fields: {k: "
                 "string}\npatterns:\n  - name: alerts\n    key: [k]\n    within: 1m\n    "
                 "sequence: [{where: true}]\n",
                 "t.yaml:7: patterns[0].name: 'alerts' names an internal store; choose another "
                 "name");
    expect_error("name: t\nsource:\n  topic: input\n  timestamp: {field: t}\n  fields: {k: "
                 "string}\npatterns:\n  - name: p\n    key: [k]\n    within: 0s\n    sequence: "
                 "[{where: true}]\n",
                 "t.yaml:9: patterns[0].within: duration must be greater than 0");
    /* without patterns, aggregations stay required */
    expect_error("name: t\nsource:\n  topic: input\n  timestamp: {field: t}\n  fields: {k: "
                 "string}\n",
                 "t.yaml:1: aggregations: missing required key");
}

Test(pattern, validate_prints_the_patterns)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("1m") "    output: {topic: payments}\n");
    cr_assert_eq(plan->n_aggregations, 0);
    cr_assert_eq(plan->n_patterns, 3);
    const struct eddy_pattern *pay = &plan->patterns[2];
    cr_expect_eq(pay->steps[0].min, 1);
    cr_expect_eq(plan->patterns[0].steps[0].max, EDDY_PATTERN_UNBOUNDED);
    cr_expect(pay->timeout_emit);
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    eddy_plan_print(plan, fp);
    fclose(fp);
    cr_expect_str_eq(
        text,
        "topology t (test.yaml), processing exactly_once\n"
        "source: topic input, json, timestamp t (rfc3339), max event 1048576 bytes\n"
        "  fields: type string required, k string required, amount number optional, who "
        "string optional\n"
        "dedup: none\n"
        "grace: 1m\n"
        "pattern binge: key [k], within 4h, timeout drop\n"
        "  sequence: step1 where type == \"video_complete\" times 3+\n"
        "  store binge (changelog t-binge-changelog), output topic binge-sessions\n"
        "pattern brute: key [k], within 10m, timeout drop\n"
        "  sequence: step1 where type == \"login_failure\" times 5+ -> step2 where type == "
        "\"login_success\" times 1\n"
        "  store brute (changelog t-brute-changelog), output topic t-brute\n"
        "pattern pay: key [k], within 15m, timeout emit\n"
        "  sequence: order where type == \"order_placed\" times 1 capture [amount, who] -> "
        "payment where type == \"payment\" times 1 capture [amount]\n"
        "  store pay (changelog t-pay-changelog), output topic payments\n"
        "topics: in input; out binge-sessions, t-brute, payments, t-dlq; internal "
        "t-meta-changelog, t-binge-changelog, t-brute-changelog, t-pay-changelog\n");
    free(text);
    eddy_plan_free(plan);
    plan = plan_from(HEAD "      - {where: e == \"a\", times: 2..5}\n");
    cr_expect_eq(plan->patterns[0].steps[0].min, 2);
    cr_expect_eq(plan->patterns[0].steps[0].max, 5);
    eddy_plan_free(plan);
}

/* ---- upgrades ---- */

static char *diff_text(const char *old_yaml, const char *new_yaml, int *incompatible)
{
    struct eddy_plan *a = plan_from(old_yaml), *b = plan_from(new_yaml);
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    cr_assert_eq(eddy_plan_diff(a, b, fp, incompatible), EDDY_OK);
    fclose(fp);
    eddy_plan_free(a);
    eddy_plan_free(b);
    return text;
}

Test(pattern, each_pattern_is_a_store_with_a_fingerprint)
{
    struct eddy_plan *plan = plan_from(TOPOLOGY("1m"));
    size_t n;
    const char **stores = eddy_plan_store_names(plan, &n);
    cr_assert_eq(n, 4);
    cr_expect_str_eq(stores[0], "meta");
    cr_expect_str_eq(stores[1], "binge");
    cr_expect_str_eq(stores[3], "pay");
    eddy_free((void *)stores);
    char *fp = eddy_plan_store_fingerprint(plan, "pay");
    cr_expect_str_eq(fp, "pattern v1;topology=t;source=input;time=t rfc3339;grace=1m;key=k;"
                         "span=15m;sequence=where type == \"order_placed\" times 1 capture "
                         "amount,who -> where type == \"payment\" times 1 capture amount;"
                         "defs=amount:number@amount,k:string@k,type:string@type,who:string@who");
    eddy_free(fp);
    eddy_plan_free(plan);
    /* step names and timeout name output only: the state is kept, the
     * output topic changes meaning */
    int incompatible;
    char *text = diff_text(TOPOLOGY("1m"), TOPOLOGY("1m") "    output: {topic: payments}\n",
                           &incompatible);
    cr_expect_eq(incompatible, 0);
    cr_expect(strstr(text, "keep store pay (changelog t-pay-changelog)\n"), "%s", text);
    cr_expect(strstr(text, "output topic t-pay: no longer written\n"), "%s", text);
    cr_expect(strstr(text, "output topic payments: new\n"), "%s", text);
    free(text);
    const char *renamed = "  - name: pay\n"
                          "    key: [k]\n"
                          "    within: 20m\n"
                          "    sequence:\n"
                          "      - {name: placed, where: type == \"order_placed\", "
                          "capture: [amount, who]}\n"
                          "      - {name: payment, where: type == \"payment\", capture: [amount]}\n";
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%.*s%s", (int)(strstr(TOPOLOGY("1m"), "  - name: pay") -
                                                 TOPOLOGY("1m")),
             TOPOLOGY("1m"), renamed);
    text = diff_text(TOPOLOGY("1m"), yaml, &incompatible);
    cr_expect_eq(incompatible, 1);
    cr_expect(strstr(text, "rebuild store pay: within changed (15m -> 20m) (its changelog "
                           "t-pay-changelog is reset; partial matches in progress are "
                           "forgotten)\n"),
              "%s", text);
    cr_expect(strstr(text, "output topic t-pay: changes meaning: within changed (15m -> 20m); "
                           "sequence changed (order: where type == \"order_placed\" times 1 "
                           "capture amount,who -> payment: where type == \"payment\" times 1 "
                           "capture amount -> placed: where type == \"order_placed\" times 1 "
                           "capture amount,who -> payment: where type == \"payment\" times 1 "
                           "capture amount); timeout changed (emit -> drop)\n"),
              "%s", text);
    free(text);
}

/* ---- local mode end to end ---- */

#define DATA EDDY_SOURCE_DIR "/tests/unit/data/pattern/"

Test(pattern, local_run_over_a_file_gives_the_expected_matches)
{
    struct eddy_task_stats stats = local_run(DATA);
    cr_expect_eq(stats.dead_letters[EDDY_DL_LATE], 1);
    cr_expect_eq(stats.matches_out, 7);
}
