/*
 * frames.c - the `frames` generator kind: log frames for distinct counting,
 * in the spirit of the data engineer challenge data (one JSON object per
 * line with root "ts", unix seconds, and "uid").
 *
 * A frame has these members, in a random order:
 *   "uid":"<19 lowercase hex>"   the user, uniform over a pool of opts.users
 *   "ts":<unix seconds>          integer, from the event time
 *   0-3 fillers, distinct, drawn from templates: plain strings and numbers,
 *     nested objects and arrays that hold their own "uid" and "ts" (other
 *     values, other types: a string ts, a null uid), strings with escapes
 *     (\" \\ \n \t \u00e9) and raw UTF-8 (é, 日本, 🎉);
 *   "blob":"<ASCII letters>"     padding so that the line has exactly
 *     frame_bytes bytes, omitted when the rest is already that long.
 * A parser that looks for the first "uid" or "ts" substring instead of the
 * root member gets wrong answers on about half the frames: that is the point.
 *
 * Malformed frames are one of, uniformly: a random proper prefix; the root
 * uid key without its opening quote; the root ts as a string; no root uid; no
 * root ts.
 *
 * Pool user k has uid hex16(mix64(k + key1)) . hex3(mix64(k + key2)), keys
 * from the seed: mix64 is a bijection, so the pool has exactly opts.users
 * distinct uids.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "gen/kinds.h"

#define FILLER_KINDS 7
#define MAX_MEMBERS (3 + 3)
#define PAD_POOL 4096

struct member {
    size_t offset, len;
};

struct state {
    uint64_t users;
    uint64_t uid_key1, uid_key2;
    size_t frame_bytes;
    struct eddy_buf parts; /* member texts, see members */
    struct member members[MAX_MEMBERS];
    size_t n_members;
    char pad[PAD_POOL];
};

static eddy_err_t state_new(const struct eddy_gen_opts *opts, void **out)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    st->users = opts->users;
    st->uid_key1 = eddy_hash_mix64(opts->seed ^ 0xf4a3e5c1d2b09786ULL);
    st->uid_key2 = eddy_hash_mix64(opts->seed ^ 0x1b2c3d4e5f607182ULL);
    st->frame_bytes = opts->frame_bytes;
    struct eddy_rng pad_rng;
    eddy__rng_seed(&pad_rng, opts->seed ^ 0x9ad9ad9ad9ad9adULL);
    for (size_t i = 0; i < PAD_POOL; i++)
        st->pad[i] = letters[eddy__rng_below(&pad_rng, sizeof letters - 1)];
    eddy_buf_init(&st->parts);
    *out = st;
    return EDDY_OK;
}

static void state_free(void *state)
{
    struct state *st = state;
    eddy_buf_release(&st->parts);
    eddy_free(st);
}

static void begin_member(struct state *st)
{
    st->members[st->n_members].offset = st->parts.len;
}

static void end_member(struct state *st)
{
    struct member *m = &st->members[st->n_members++];
    m->len = st->parts.len - m->offset;
}

static void put_random_uid(struct eddy_buf *b, struct eddy_rng *rng)
{
    eddy__gen_put_hex(b, eddy__rng_next(rng), 16);
    eddy__gen_put_hex(b, eddy__rng_next(rng), 3);
}

static void put_filler(struct state *st, struct eddy_rng *rng, int kind, int64_t ts)
{
    static const char *const cities[] = {"Z\u00fcrich", "Gen\u00e8ve", "\u6771\u4eac",
                                         "S\u00e3o Paulo", "Lyon"};
    static const char *const os[] = {"android", "ios", "web", "tvOS"};
    struct eddy_buf *b = &st->parts;
    begin_member(st);
    switch (kind) {
    case 0:
        eddy_buf_puts(b, "\"session\":\"");
        eddy__gen_put_hex(b, eddy__rng_next(rng), 16);
        eddy_buf_putc(b, '"');
        break;
    case 1: eddy_buf_printf(b, "\"version\":%u", 1 + (unsigned)eddy__rng_below(rng, 9)); break;
    case 2:
        eddy_buf_puts(b, "\"ctx\":{\"uid\":\"");
        put_random_uid(b, rng);
        eddy_buf_printf(b, "\",\"ts\":%lld,",
                        (long long)(ts - 1 - (int64_t)eddy__rng_below(rng, 86400)));
        eddy_buf_puts(b, "\"name\":\"Jos\\u00e9 \\\"Pepe\\\" Garc\\u00eda\"}");
        break;
    case 3:
        eddy_buf_printf(b,
                        "\"geo\":{\"city\":\"%s\",\"country\":\"\u65e5\u672c\","
                        "\"note\":\"line1\\nline2 \\\\ C:\\\\path\"}",
                        cities[eddy__rng_below(rng, 5)]);
        break;
    case 4:
        eddy_buf_printf(b,
                        "\"device\":{\"os\":\"%s\",\"meta\":{\"ts\":\"2024-01-01T00:00:00Z\","
                        "\"uid\":null,\"build\":%u}}",
                        os[eddy__rng_below(rng, 4)], (unsigned)eddy__rng_below(rng, 10000));
        break;
    case 5:
        eddy_buf_puts(b, "\"tags\":[\"\u00e9\",\"\u65e5\u672c\",1,{\"uid\":\"");
        put_random_uid(b, rng);
        eddy_buf_printf(b, "\",\"ts\":%u},true,null]", (unsigned)eddy__rng_below(rng, 100));
        break;
    default:
        eddy_buf_puts(b, "\"msg\":\"caf\\u00e9 \\\"quoted\\\" \\\\ back\\\\slash\\ttab "
                         "\U0001F389\"");
    }
    end_member(st);
}

static void put_root_members(struct state *st, struct eddy_rng *rng, int64_t ts, int broken)
{
    struct eddy_buf *b = &st->parts;
    uint64_t user = eddy__rng_below(rng, st->users);
    if (broken != 3) {
        begin_member(st);
        eddy_buf_puts(b, broken == 1 ? "uid\":\"" : "\"uid\":\"");
        eddy__gen_put_hex(b, eddy_hash_mix64(user + st->uid_key1), 16);
        eddy__gen_put_hex(b, eddy_hash_mix64(user + st->uid_key2), 3);
        eddy_buf_putc(b, '"');
        end_member(st);
    }
    if (broken != 4) {
        begin_member(st);
        eddy_buf_printf(b, broken == 2 ? "\"ts\":\"%lld\"" : "\"ts\":%lld", (long long)ts);
        end_member(st);
    }
}

/* The uid member's value (the key of the record), or "" when absent. */
static void put_key(const struct state *st, struct eddy_buf *key)
{
    for (size_t i = 0; i < st->n_members; i++) {
        const char *text = st->parts.data + st->members[i].offset;
        const char *value = NULL;
        if (strncmp(text, "\"uid\":\"", 7) == 0)
            value = text + 7;
        else if (strncmp(text, "uid\":\"", 6) == 0)
            value = text + 6;
        if (value) {
            eddy_buf_append(key, value, 19);
            return;
        }
    }
}

static void put_pad(struct state *st, struct eddy_rng *rng)
{
    size_t size = 2 + st->n_members - 1; /* braces and commas */
    for (size_t i = 0; i < st->n_members; i++)
        size += st->members[i].len;
    const size_t overhead = sizeof ",\"blob\":\"\"" - 1;
    if (st->frame_bytes < size + overhead)
        return;
    size_t need = st->frame_bytes - size - overhead;
    begin_member(st);
    eddy_buf_puts(&st->parts, "\"blob\":\"");
    size_t from = (size_t)eddy__rng_below(rng, PAD_POOL);
    while (need > 0) {
        size_t n = PAD_POOL - from < need ? PAD_POOL - from : need;
        eddy_buf_append(&st->parts, st->pad + from, n);
        need -= n;
        from = 0;
    }
    eddy_buf_putc(&st->parts, '"');
    end_member(st);
}

static void write_frame(void *state, struct eddy_rng *rng, const struct eddy_gen_event *ev,
                        struct eddy_buf *key, struct eddy_buf *b)
{
    struct state *st = state;
    int64_t ts =
        ev->event_time_ms >= 0 ? ev->event_time_ms / 1000 : -((-ev->event_time_ms + 999) / 1000);
    int broken = ev->malformed ? (int)eddy__rng_below(rng, 5) : -1;
    eddy_buf_reset(&st->parts);
    st->n_members = 0;
    put_root_members(st, rng, ts, broken);
    int kinds[FILLER_KINDS];
    for (int i = 0; i < FILLER_KINDS; i++)
        kinds[i] = i;
    size_t fillers = (size_t)eddy__rng_below(rng, 4);
    for (size_t i = 0; i < fillers; i++) { /* distinct kinds: partial Fisher-Yates */
        size_t j = i + (size_t)eddy__rng_below(rng, FILLER_KINDS - i);
        int k = kinds[j];
        kinds[j] = kinds[i];
        kinds[i] = k;
        put_filler(st, rng, k, ts);
    }
    put_pad(st, rng);
    for (size_t i = st->n_members - 1; i > 0; i--) {
        size_t j = (size_t)eddy__rng_below(rng, i + 1);
        struct member m = st->members[i];
        st->members[i] = st->members[j];
        st->members[j] = m;
    }
    if (st->parts.oom) {
        b->oom = true;
        return;
    }
    eddy_buf_putc(b, '{');
    for (size_t i = 0; i < st->n_members; i++) {
        if (i > 0)
            eddy_buf_putc(b, ',');
        eddy_buf_append(b, st->parts.data + st->members[i].offset, st->members[i].len);
    }
    eddy_buf_putc(b, '}');
    put_key(st, key);
    if (broken == 0)
        eddy__gen_truncate(b, rng);
}

const struct eddy_gen_kind eddy__gen_frames = {
    .name = "frames",
    .time_path = "ts",
    .time_format = "unix_s",
    .state_new = state_new,
    .state_free = state_free,
    .write = write_frame,
};
