/*
 * test_gen.c - the event generators: determinism, the service-log schema and
 * its scenario (late, duplicate, malformed events, the payment incident), the
 * frames format, options, stopping and pacing.
 *
 * Lines are checked with jansson, an independent parser, and the expected
 * timestamps are computed here from the documented formula.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "gen/gen.h"

struct lines {
    char **value;
    char **key;
    size_t n, cap;
    size_t bytes;
    size_t stop_after; /* sets *stop after this many lines when non-zero */
    volatile int *stop;
};

static eddy_err_t collect(void *ctx, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
    struct lines *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->value = realloc(l->value, l->cap * sizeof *l->value);
        l->key = realloc(l->key, l->cap * sizeof *l->key);
    }
    l->value[l->n] = strndup(value, value_len);
    l->key[l->n] = strndup(key, key_len);
    cr_assert_eq(strlen(l->value[l->n]), value_len, "no NUL inside a line");
    l->n++;
    l->bytes += value_len;
    if (l->stop_after && l->n == l->stop_after)
        *l->stop = 1;
    return EDDY_OK;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->value[i]);
        free(l->key[i]);
    }
    free(l->value);
    free(l->key);
    memset(l, 0, sizeof *l);
}

static struct lines generate(const char *kind, const struct eddy_gen_opts *o)
{
    struct lines l = {0};
    cr_assert_eq(eddy_gen_run(kind, o, collect, &l, NULL), EDDY_OK);
    cr_assert_eq(l.n, o->count);
    return l;
}

static const int64_t START_MS = 1746007200000; /* 2025-04-30T10:00:00Z */

static const char *const SERVICES[] = {"auth-service",         "payment-service",  "search-service",
                                       "catalog-service",      "checkout-service", "user-service",
                                       "notification-service", "inventory-service"};

static const char *const FIELDS[] = {"service", "timestamp",  "status_code", "latency_ms",
                                     "error",   "request_id", "tenant_id",   "tenant_tier",
                                     "region",  "endpoint",   "user_id",     "bytes_out"};

/* Milliseconds of "YYYY-MM-DDTHH:MM:SS.mmmZ", or -1. */
static int64_t parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, ms, n = 0;
    if (strlen(s) != 24 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &sec, &ms, &n) != 7 ||
        n != 24)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return -1;
    return ((eddy_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000 +
           sec * 1000 + ms;
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

enum verdict { VALID, INVALID_JSON, MISSING_FIELD, WRONG_TYPE, BAD_TIMESTAMP, ODD };

struct service_log {
    const char *service;
    int64_t time_ms;
    int status;
    int latency;
    const char *request_id;
    int tenant;
    const char *tier;
};

/* Checks one service-log line against SPEC section 6 and the generator's
 * documented value ranges. Fills @out (valid while @root lives). */
static enum verdict check_service_log(const char *line, json_t **root, struct service_log *out)
{
    static const char *const tiers[] = {"premium", "standard", "free"};
    static const char *const regions[] = {"NA", "EMEA", "APAC"};
    json_error_t jerr;
    *root = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root || !json_is_object(*root))
        return INVALID_JSON;
    json_t *o = *root, *v[12];
    for (int i = 0; i < 12; i++)
        if (!(v[i] = json_object_get(o, FIELDS[i])))
            return MISSING_FIELD;
    if (json_object_size(o) != 12)
        return ODD;
    if (!json_is_string(v[0]) || !json_is_string(v[1]) || !json_is_integer(v[2]) ||
        !json_is_integer(v[3]) || !json_is_boolean(v[4]) || !json_is_string(v[5]) ||
        !json_is_string(v[6]) || !json_is_string(v[7]) || !json_is_string(v[8]) ||
        !json_is_string(v[9]) || !json_is_string(v[10]) || !json_is_integer(v[11]))
        return WRONG_TYPE;
    out->time_ms = parse_time(json_string_value(v[1]));
    if (out->time_ms < 0)
        return BAD_TIMESTAMP;
    /* the fields appear in the documented order */
    const char *prev = line;
    for (int i = 0; i < 12; i++) {
        char quoted[32];
        snprintf(quoted, sizeof quoted, "\"%s\":", FIELDS[i]);
        const char *at = strstr(line, quoted);
        if (!at || at < prev)
            return ODD;
        prev = at;
    }
    out->service = json_string_value(v[0]);
    out->status = (int)json_integer_value(v[2]);
    out->latency = (int)json_integer_value(v[3]);
    out->request_id = json_string_value(v[5]);
    out->tier = json_string_value(v[7]);
    const char *tenant = json_string_value(v[6]);
    const char *user = json_string_value(v[10]);
    int user_no = 0, n = 0;
    out->tenant = 0;
    if (!in_list(out->service, SERVICES, 8) || out->status < 200 || out->status > 599 ||
        out->latency < 1 || json_is_true(v[4]) != (out->status >= 500) ||
        !is_hex(out->request_id, 16) || sscanf(tenant, "t-%d%n", &out->tenant, &n) != 1 ||
        n != (int)strlen(tenant) || out->tenant < 1 || out->tenant > 200 ||
        !in_list(out->tier, tiers, 3) || !in_list(json_string_value(v[8]), regions, 3) ||
        strncmp(json_string_value(v[9]), "/api/v1/", 8) != 0 || strlen(user) != 8 ||
        sscanf(user, "u-%6d", &user_no) != 1 || user_no < 1 || user_no > 50000 ||
        json_integer_value(v[11]) < 0)
        return ODD;
    return VALID;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct eddy_gen_opts opts(uint64_t count)
{
    struct eddy_gen_opts o;
    eddy_gen_opts_defaults(&o);
    o.count = count;
    return o;
}

Test(gen, defaults_are_documented_values)
{
    struct eddy_gen_opts o = opts(0);
    eddy_gen_opts_defaults(&o);
    cr_assert_eq(o.count, 100000);
    cr_assert_eq(o.seed, 1);
    cr_assert_eq(o.start_ms, START_MS);
    cr_assert_eq(o.event_rate, 1000);
    cr_assert_eq(o.frame_bytes, 2048);
    cr_assert_eq(o.users, 100000);
    cr_assert(o.rate == 0 && o.late_rate == 0 && o.dup_rate == 0 && o.malformed_rate == 0 &&
              o.skew == 0 && o.max_late_ms == 0 && !o.live);
}

static bool same_lines(const struct lines *a, const struct lines *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->value[i], b->value[i]) != 0 || strcmp(a->key[i], b->key[i]) != 0)
            return false;
    return true;
}

Test(gen, same_seed_gives_same_bytes_and_another_seed_differs)
{
    const char *kinds[] = {"service-logs", "frames"};
    for (int k = 0; k < 2; k++) {
        struct eddy_gen_opts o = opts(3000);
        o.seed = 42;
        o.late_rate = 0.1;
        o.max_late_ms = 30000;
        o.dup_rate = 0.05;
        o.malformed_rate = 0.05;
        o.skew = 1.1;
        o.frame_bytes = 300;
        struct lines a = generate(kinds[k], &o), b = generate(kinds[k], &o);
        cr_assert(same_lines(&a, &b), "%s", kinds[k]);
        o.seed = 43;
        struct lines c = generate(kinds[k], &o);
        size_t differing = 0;
        for (size_t i = 0; i < a.n; i++)
            differing += strcmp(a.value[i], c.value[i]) != 0;
        cr_assert_gt(differing, a.n * 9 / 10, "%s: %zu lines differ", kinds[k], differing);
        lines_free(&a);
        lines_free(&b);
        lines_free(&c);
    }
}

Test(gen, service_log_lines_have_the_twelve_fields_in_order_with_their_types)
{
    struct eddy_gen_opts o = opts(20000);
    o.late_rate = 0.05;
    o.max_late_ms = 60000;
    o.dup_rate = 0.02;
    struct lines l = generate("service-logs", &o);
    const char *tier_of[201] = {0};
    size_t per_service[8] = {0}, status_4xx = 0, status_5xx = 0;
    for (size_t i = 0; i < l.n; i++) {
        json_t *root;
        struct service_log s;
        enum verdict v = check_service_log(l.value[i], &root, &s);
        cr_assert_eq(v, VALID, "line %zu (verdict %d): %s", i, v, l.value[i]);
        cr_assert_str_eq(l.key[i], s.service, "the key is the service");
        if (!tier_of[s.tenant])
            tier_of[s.tenant] = strdup(s.tier);
        cr_assert_str_eq(tier_of[s.tenant], s.tier, "tenant %d keeps its tier", s.tenant);
        for (int k = 0; k < 8; k++)
            per_service[k] += strcmp(s.service, SERVICES[k]) == 0;
        status_4xx += s.status >= 400 && s.status < 500;
        status_5xx += s.status >= 500;
        json_decref(root);
    }
    for (int k = 0; k < 8; k++)
        cr_assert_gt(per_service[k], l.n / 25, "%s is generated", SERVICES[k]);
    /* incident-free first 20 s: about 3% 4xx and 0.5% 5xx */
    cr_assert(status_4xx > l.n * 0.025 && status_4xx < l.n * 0.035, "%zu 4xx", status_4xx);
    cr_assert(status_5xx > l.n * 0.003 && status_5xx < l.n * 0.008, "%zu 5xx", status_5xx);
    size_t premium = 0, standard = 0;
    for (int t = 1; t <= 200; t++) {
        premium += tier_of[t] && strcmp(tier_of[t], "premium") == 0;
        standard += tier_of[t] && strcmp(tier_of[t], "standard") == 0;
        free((char *)tier_of[t]);
    }
    cr_assert(premium >= 10 && premium <= 35, "%zu premium tenants of 200", premium);
    cr_assert(standard >= 60 && standard <= 100, "%zu standard tenants of 200", standard);
    lines_free(&l);
}

Test(gen, timestamps_advance_by_one_event_rate_step_per_event)
{
    struct eddy_gen_opts o = opts(5000);
    o.event_rate = 300; /* 3.33 ms per event: floor(i * 1000 / 300) */
    o.start_ms = START_MS + 7;
    struct lines l = generate("service-logs", &o);
    for (size_t i = 0; i < l.n; i++) {
        json_t *root;
        struct service_log s;
        cr_assert_eq(check_service_log(l.value[i], &root, &s), VALID);
        cr_assert_eq(s.time_ms, START_MS + 7 + (int64_t)(i * 1000 / 300), "line %zu", i);
        json_decref(root);
    }
    lines_free(&l);
}

static const char *ts_of(const char *line, char *out)
{
    const char *p = strstr(line, "\"timestamp\":\"");
    cr_assert_not_null(p);
    memcpy(out, p + 13, 24);
    out[24] = '\0';
    return out;
}

Test(gen, late_events_are_at_most_max_late_earlier_and_others_never_go_back)
{
    struct eddy_gen_opts o = opts(10000);
    o.late_rate = 0.1;
    o.max_late_ms = 5000;
    struct lines l = generate("service-logs", &o);
    size_t late = 0;
    int64_t longest = 0;
    for (size_t i = 0; i < l.n; i++) {
        char text[32];
        int64_t t = parse_time(ts_of(l.value[i], text));
        int64_t nominal = START_MS + (int64_t)i; /* 1000 events/s, no duplicates */
        cr_assert(t <= nominal && nominal - t <= 5000, "line %zu: %lld", i, (long long)t);
        if (t < nominal) {
            late++;
            longest = nominal - t > longest ? nominal - t : longest;
        }
    }
    cr_assert(late > 850 && late < 1150, "%zu late events", late);
    cr_assert_gt(longest, 4500);
    lines_free(&l);
}

Test(gen, duplicates_repeat_a_recent_event_byte_for_byte)
{
    struct eddy_gen_opts o = opts(10000);
    o.dup_rate = 0.05;
    o.late_rate = 0.05;
    o.max_late_ms = 2000;
    struct lines l = generate("service-logs", &o);
    size_t dups = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *id = strstr(l.value[i], "\"request_id\":\"");
        cr_assert_not_null(id);
        for (size_t j = i > 32 ? i - 32 : 0; j < i; j++) {
            if (strncmp(strstr(l.value[j], "\"request_id\":\""), id, 31) == 0) {
                cr_assert_str_eq(l.value[j], l.value[i], "same id, same bytes");
                cr_assert_leq(i - j, 24, "a few events later");
                dups++;
                break;
            }
        }
    }
    cr_assert(dups > 400 && dups < 600, "%zu duplicates", dups);
    lines_free(&l);

    o.dup_rate = 0; /* request ids are unique: compare them sorted */
    l = generate("service-logs", &o);
    char **ids = malloc(l.n * sizeof *ids);
    for (size_t i = 0; i < l.n; i++)
        ids[i] = strstr(l.value[i], "\"request_id\":\"") + 14;
    qsort(ids, l.n, sizeof *ids, cmp_str);
    for (size_t i = 1; i < l.n; i++)
        cr_assert_neq(strncmp(ids[i - 1], ids[i], 16), 0, "request id repeated");
    free(ids);
    lines_free(&l);
}

Test(gen, malformed_fraction_matches_the_rate_and_covers_every_kind_of_damage)
{
    struct eddy_gen_opts o = opts(10000);
    o.malformed_rate = 0.1;
    struct lines l = generate("service-logs", &o);
    size_t verdicts[ODD + 1] = {0};
    for (size_t i = 0; i < l.n; i++) {
        json_t *root;
        struct service_log s;
        enum verdict v = check_service_log(l.value[i], &root, &s);
        cr_assert_neq(v, ODD, "line %zu: %s", i, l.value[i]);
        verdicts[v]++;
        json_decref(root);
    }
    size_t bad = l.n - verdicts[VALID];
    cr_assert(bad >= 900 && bad <= 1100, "%zu malformed of 10000", bad);
    cr_assert_gt(verdicts[INVALID_JSON], 350); /* 3 of the 6 kinds of damage */
    cr_assert_gt(verdicts[MISSING_FIELD], 100);
    cr_assert_gt(verdicts[WRONG_TYPE], 100);
    cr_assert_gt(verdicts[BAD_TIMESTAMP], 100);
    lines_free(&l);
}

Test(gen, payment_incident_between_minutes_5_and_8_raises_errors_and_latency)
{
    struct eddy_gen_opts o = opts(12000);
    o.event_rate = 20; /* 10 minutes of event time */
    struct lines l = generate("service-logs", &o);
    size_t n[2] = {0}, errors[2] = {0}, others[2] = {0}, other_errors[2] = {0};
    size_t timed[2] = {0}; /* 504s take 3-5 s whatever the incident: left out */
    double latency[2] = {0};
    for (size_t i = 0; i < l.n; i++) {
        json_t *root;
        struct service_log s;
        cr_assert_eq(check_service_log(l.value[i], &root, &s), VALID);
        int64_t minute = (s.time_ms - START_MS) / 60000;
        int in = minute >= 5 && minute < 8;
        if (strcmp(s.service, "payment-service") == 0) {
            n[in]++;
            errors[in] += s.status >= 500;
            if (s.status != 504) {
                latency[in] += s.latency;
                timed[in]++;
            }
        } else {
            others[in]++;
            other_errors[in] += s.status >= 500;
        }
        json_decref(root);
    }
    double rate_in = (double)errors[1] / (double)n[1], rate_out = (double)errors[0] / (double)n[0];
    cr_assert(rate_in > 0.14 && rate_in < 0.26, "incident error rate %f", rate_in);
    cr_assert_lt(rate_out, 0.015, "normal error rate %f", rate_out);
    cr_assert_lt((double)other_errors[1] / (double)others[1], 0.015, "others are healthy");
    double mean_in = latency[1] / (double)timed[1], mean_out = latency[0] / (double)timed[0];
    cr_assert_gt(mean_in, 2.2 * mean_out, "latency %f vs %f", mean_in, mean_out);
    lines_free(&l);
}

static double t1_share(double skew)
{
    struct eddy_gen_opts o = opts(20000);
    o.skew = skew;
    struct lines l = generate("service-logs", &o);
    size_t t1 = 0;
    for (size_t i = 0; i < l.n; i++)
        t1 += strstr(l.value[i], "\"tenant_id\":\"t-1\"") != NULL;
    lines_free(&l);
    return (double)t1 / 20000.0;
}

Test(gen, skew_makes_the_first_tenant_hot)
{
    double uniform = t1_share(0), skewed = t1_share(1.2);
    cr_assert(uniform > 0.003 && uniform < 0.008, "uniform share %f", uniform);
    cr_assert(skewed > 0.15 && skewed < 0.35, "zipf(1.2) share %f", skewed);
}

/* Whether any object below the root has a "uid" or "ts" member. */
static bool has_nested_uid_or_ts(json_t *v, int depth)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        if (depth > 0 && (json_object_get(v, "uid") || json_object_get(v, "ts")))
            return true;
        json_object_foreach(v, k, child)
        {
            if (has_nested_uid_or_ts(child, depth + 1))
                return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            if (has_nested_uid_or_ts(child, depth + 1))
                return true;
        }
    }
    return false;
}

Test(gen, frames_have_root_uid_and_ts_among_tricky_fillers)
{
    struct eddy_gen_opts o = opts(5000);
    o.users = 400;
    o.event_rate = 50;
    struct lines l = generate("frames", &o);
    size_t nested = 0, escaped = 0, raw_utf8 = 0, first_is_uid = 0;
    char **uids = malloc(l.n * sizeof *uids);
    for (size_t i = 0; i < l.n; i++) {
        json_error_t jerr;
        json_t *root = json_loads(l.value[i], JSON_REJECT_DUPLICATES, &jerr);
        cr_assert_not_null(root, "line %zu: %s: %s", i, jerr.text, l.value[i]);
        json_t *uid = json_object_get(root, "uid"), *ts = json_object_get(root, "ts");
        cr_assert(json_is_string(uid) && is_hex(json_string_value(uid), 19), "line %zu", i);
        cr_assert(json_is_integer(ts), "line %zu", i);
        cr_assert_eq(json_integer_value(ts), (START_MS + (int64_t)i * 20) / 1000, "line %zu", i);
        cr_assert_eq(strlen(l.value[i]), 2048, "line %zu has %zu bytes", i, strlen(l.value[i]));
        cr_assert_str_eq(l.key[i], json_string_value(uid), "the key is the uid");
        uids[i] = l.key[i];
        nested += has_nested_uid_or_ts(root, 0);
        escaped += strstr(l.value[i], "\\u00e9") != NULL && strstr(l.value[i], "\\\"") != NULL;
        raw_utf8 += strstr(l.value[i], "\u65e5\u672c") != NULL;
        first_is_uid += strncmp(l.value[i], "{\"uid\"", 6) == 0;
        json_decref(root);
    }
    cr_assert(nested > l.n / 5 && nested < l.n * 4 / 5, "%zu frames with nested uid/ts", nested);
    cr_assert_gt(escaped, l.n / 10);
    cr_assert_gt(raw_utf8, l.n / 10);
    cr_assert(first_is_uid > l.n / 10 && first_is_uid < l.n / 2, "root uid moves around");
    qsort(uids, l.n, sizeof *uids, cmp_str);
    size_t distinct = 1;
    for (size_t i = 1; i < l.n; i++)
        distinct += strcmp(uids[i - 1], uids[i]) != 0;
    cr_assert(distinct <= 400 && distinct >= 390, "%zu distinct uids from a pool of 400", distinct);
    free(uids);
    lines_free(&l);
}

Test(gen, frames_without_padding_are_small_and_late_ones_go_back_at_most_max_late)
{
    struct eddy_gen_opts o = opts(4000);
    o.frame_bytes = 0;
    o.late_rate = 0.2;
    o.max_late_ms = 10000;
    struct lines l = generate("frames", &o);
    size_t late = 0;
    for (size_t i = 0; i < l.n; i++) {
        json_t *root = json_loads(l.value[i], 0, NULL);
        cr_assert_not_null(root);
        cr_assert_null(json_object_get(root, "blob"));
        cr_assert_lt(strlen(l.value[i]), 400);
        int64_t ts = json_integer_value(json_object_get(root, "ts"));
        int64_t nominal = (START_MS + (int64_t)i) / 1000;
        cr_assert(ts <= nominal && ts >= nominal - 10, "line %zu: ts %lld", i, (long long)ts);
        late += ts < nominal;
        json_decref(root);
    }
    cr_assert_gt(late, 400, "%zu frames moved to an earlier second", late);
    lines_free(&l);
}

Test(gen, malformed_frames_lack_a_valid_root_uid_or_ts)
{
    struct eddy_gen_opts o = opts(10000);
    o.malformed_rate = 0.2;
    o.frame_bytes = 256;
    struct lines l = generate("frames", &o);
    size_t bad = 0;
    for (size_t i = 0; i < l.n; i++) {
        json_t *root = json_loads(l.value[i], 0, NULL);
        json_t *uid = root ? json_object_get(root, "uid") : NULL;
        json_t *ts = root ? json_object_get(root, "ts") : NULL;
        bad += !(json_is_string(uid) && is_hex(json_string_value(uid), 19) && json_is_integer(ts));
        json_decref(root);
    }
    cr_assert(bad >= 1850 && bad <= 2150, "%zu malformed frames of 10000", bad);
    lines_free(&l);
}

Test(gen, unknown_kind_and_out_of_range_options_are_rejected)
{
    struct lines l = {0};
    struct eddy_gen_opts o = opts(10);
    cr_assert_eq(eddy_gen_run("clicks", &o, collect, &l, NULL), EDDY_EINVAL);
    o.late_rate = 1.5;
    cr_assert_eq(eddy_gen_run("frames", &o, collect, &l, NULL), EDDY_EINVAL);
    o = opts(10);
    o.event_rate = 0;
    cr_assert_eq(eddy_gen_run("service-logs", &o, collect, &l, NULL), EDDY_EINVAL);
    o.live = true; /* the wall clock drives time: no event rate needed */
    cr_assert_eq(eddy_gen_run("service-logs", &o, collect, &l, NULL), EDDY_OK);
    o = opts(10);
    o.users = 0;
    cr_assert_eq(eddy_gen_run("frames", &o, collect, &l, NULL), EDDY_EINVAL);
    cr_assert_eq(l.n, 10);
    const char *const *names = eddy_gen_kind_names();
    cr_assert_str_eq(names[0], "service-logs");
    cr_assert_str_eq(names[1], "frames");
    cr_assert_str_eq(names[2], "ecommerce"); /* the others: test_gen_workloads.c */
    lines_free(&l);
}

Test(gen, live_timestamps_follow_the_wall_clock)
{
    struct eddy_gen_opts o = opts(100);
    o.live = true;
    int64_t before = eddy_now_ms();
    struct lines l = generate("service-logs", &o);
    int64_t after = eddy_now_ms();
    for (size_t i = 0; i < l.n; i++) {
        char text[32];
        int64_t t = parse_time(ts_of(l.value[i], text));
        cr_assert(t >= before && t <= after);
    }
    lines_free(&l);
}

Test(gen, stop_flag_ends_an_unbounded_run)
{
    volatile int stop = 0;
    struct lines l = {.stop_after = 37, .stop = &stop};
    struct eddy_gen_opts o = opts(0); /* unbounded */
    cr_assert_eq(eddy_gen_run("frames", &o, collect, &l, &stop), EDDY_OK);
    cr_assert_eq(l.n, 37);
    lines_free(&l);
}

static eddy_err_t fail_on_fifth(void *ctx, const char *key, size_t key_len, const char *value,
                                size_t value_len)
{
    int *calls = ctx;
    return ++*calls == 5 ? EDDY_EKAFKA : EDDY_OK;
}

Test(gen, emit_error_ends_the_run_and_is_returned)
{
    int calls = 0;
    struct eddy_gen_opts o = opts(100);
    cr_assert_eq(eddy_gen_run("service-logs", &o, fail_on_fifth, &calls, NULL), EDDY_EKAFKA);
    cr_assert_eq(calls, 5);
}

Test(gen, rate_paces_wall_clock_output)
{
    struct eddy_gen_opts o = opts(500);
    o.rate = 2500; /* 500 lines: 0.2 s */
    int64_t t0 = eddy_mono_ns();
    struct lines l = generate("service-logs", &o);
    double seconds = (double)(eddy_mono_ns() - t0) / 1e9;
    cr_assert(seconds > 0.18 && seconds < 0.6, "took %f s", seconds);
    lines_free(&l);
}

Test(gen, allocation_failure_is_reported_without_leaks)
{
    const char *kinds[] = {"service-logs", "frames"};
    for (int k = 0; k < 2; k++) {
        eddy_err_t err = EDDY_ENOMEM;
        for (unsigned long nth = 1; nth <= 64 && err; nth++) {
            struct lines l = {0};
            struct eddy_gen_opts o = opts(50);
            o.dup_rate = 0.2;
            eddy_alloc_fail_at(nth);
            err = eddy_gen_run(kinds[k], &o, collect, &l, NULL);
            eddy_alloc_fail_at(0);
            cr_assert(err == EDDY_ENOMEM || (err == EDDY_OK && l.n == 50), "%s nth %lu: %s",
                      kinds[k], nth, eddy_err_name(err));
            lines_free(&l);
        }
        cr_assert_eq(err, EDDY_OK, "%s: every allocation was failed once", kinds[k]);
    }
}
