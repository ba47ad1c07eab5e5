/*
 * gen.c - the generator driver; see gen.h for the contract.
 *
 * Per emitted line, three draws decide, in this order, whether the line is a
 * duplicate, whether the event is late and whether it is malformed; they are
 * made even when a rate is 0 so that changing one rate does not reshuffle
 * the rest of the output. Duplicates come from a ring of the last DUP_RING
 * original events, copied into buffers that are reused, never reallocated
 * once grown.
 *
 * Pacing: with rate > 0 the driver sleeps (clock_nanosleep on
 * CLOCK_MONOTONIC, absolute deadlines so errors do not accumulate) before
 * every batch of rate/100 lines (at least 1), i.e. about every 10 ms.
 */
#include "gen/gen.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/time.h"
#include "gen/kinds.h"

#define DUP_RING 8

static const char *SUBSYSTEM = "gen";

static const struct eddy_gen_kind *const kinds[] = {&eddy__gen_service_logs, &eddy__gen_frames,
                                                    &eddy__gen_ecommerce, &eddy__gen_viewing,
                                                    &eddy__gen_nexmark};
static const char *const kind_names[] = {"service-logs", "frames",  "ecommerce",
                                         "viewing",      "nexmark", NULL};

const char *const *eddy_gen_kind_names(void)
{
    return kind_names;
}

void eddy_gen_opts_defaults(struct eddy_gen_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->count = 100000;
    opts->seed = 1;
    opts->start_ms = eddy_days_from_civil(2025, 4, 30) * 86400000 + 10 * 3600000;
    opts->event_rate = 1000;
    opts->frame_bytes = 2048;
    opts->users = 100000;
}

void eddy__gen_put_time(struct eddy_buf *buf, int64_t ms, struct eddy_gen_time_cache *cache)
{
    int64_t secs = eddy_floor_div(ms, 1000);
    if (cache->len == 0 || cache->secs != secs) {
        size_t n = eddy_time_format(secs * 1000, cache->text); /* "...:SSZ" */
        cache->len = n > 0 ? n - 1 : 0;
        cache->secs = secs;
    }
    int millis = (int)(ms - secs * 1000);
    char tail[5] = {'.', (char)('0' + millis / 100), (char)('0' + millis / 10 % 10),
                    (char)('0' + millis % 10), 'Z'};
    eddy_buf_append(buf, cache->text, cache->len);
    eddy_buf_append(buf, tail, sizeof tail);
}

void eddy__gen_put_i64(struct eddy_buf *buf, int64_t v)
{
    char text[24];
    size_t pos = sizeof text;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        text[--pos] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        text[--pos] = '-';
    eddy_buf_append(buf, text + pos, sizeof text - pos);
}

void eddy__gen_put_padded(struct eddy_buf *buf, const char *prefix, uint64_t v, int width)
{
    char text[24];
    size_t pos = sizeof text;
    do {
        text[--pos] = (char)('0' + v % 10);
        v /= 10;
    } while (pos > 0 && (v || (int)(sizeof text - pos) < width));
    eddy_buf_puts(buf, prefix);
    eddy_buf_append(buf, text + pos, sizeof text - pos);
}

void eddy__gen_put_hex(struct eddy_buf *buf, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char text[16];
    for (int i = digits - 1; i >= 0; i--) {
        text[i] = hex[v & 15];
        v >>= 4;
    }
    eddy_buf_append(buf, text, (size_t)digits);
}

void eddy__gen_splice(struct eddy_buf *buf, size_t from, size_t to, const char *with,
                      size_t with_len)
{
    size_t tail = buf->len - to;
    if (with_len > to - from && !eddy_buf_reserve(buf, with_len - (to - from)))
        return;
    memmove(buf->data + from + with_len, buf->data + to, tail);
    memcpy(buf->data + from, with, with_len);
    buf->len = from + with_len + tail;
    buf->data[buf->len] = '\0';
}

void eddy__gen_truncate(struct eddy_buf *buf, struct eddy_rng *rng)
{
    if (buf->len < 2)
        return;
    buf->len = 1 + (size_t)eddy__rng_below(rng, buf->len - 1);
    buf->data[buf->len] = '\0';
}

static bool is_fraction(const char *option, double value)
{
    if (value >= 0 && value <= 1)
        return true;
    eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "invalid option %s=%g: must be between 0 and 1", option,
             value);
    return false;
}

static bool is_nonnegative(const char *option, double value)
{
    if (value >= 0 && isfinite(value))
        return true;
    eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "invalid option %s=%g: must be a finite number >= 0",
             option, value);
    return false;
}

static eddy_err_t check_opts(const struct eddy_gen_opts *o)
{
    bool ok = is_fraction("--late-rate", o->late_rate) && is_fraction("--dup-rate", o->dup_rate) &&
              is_fraction("--malformed-rate", o->malformed_rate) &&
              is_nonnegative("--rate", o->rate) && is_nonnegative("--skew", o->skew) &&
              is_nonnegative("--max-late", (double)o->max_late_ms);
    if (ok && !o->live && !(o->event_rate > 0 && isfinite(o->event_rate))) {
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "invalid option --event-rate=%g: must be > 0",
                 o->event_rate);
        ok = false;
    }
    if (ok && o->users == 0) {
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "invalid option --users=0: must be at least 1");
        ok = false;
    }
    if (ok && o->frame_bytes > ((size_t)64 << 20)) {
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "invalid option --frame-bytes=%zu: at most 64 MiB",
                 o->frame_bytes);
        ok = false;
    }
    return ok ? EDDY_OK : EDDY_EINVAL;
}

struct pacer {
    double rate;
    uint64_t batch;
    int64_t start_ns;
};

static void pacer_init(struct pacer *p, double rate)
{
    p->rate = rate;
    p->batch = rate >= 200 ? (uint64_t)(rate / 100) : 1;
    p->start_ns = eddy_mono_ns();
}

/* Sleeps until line @emitted is due; a signal cuts the sleep short so that
 * the caller sees *stop promptly. */
static void pacer_wait(const struct pacer *p, uint64_t emitted)
{
    if (p->rate <= 0 || emitted % p->batch != 0)
        return;
    int64_t due = p->start_ns + (int64_t)((double)emitted * 1e9 / p->rate);
    if (due <= eddy_mono_ns())
        return;
    struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

struct dup_ring {
    struct eddy_buf key[DUP_RING], value[DUP_RING];
    size_t len, next;
};

static eddy_err_t ring_push(struct dup_ring *ring, const struct eddy_buf *key,
                            const struct eddy_buf *value)
{
    size_t i = ring->next;
    eddy_buf_reset(&ring->key[i]);
    eddy_buf_append(&ring->key[i], key->data, key->len);
    eddy_buf_reset(&ring->value[i]);
    eddy_buf_append(&ring->value[i], value->data, value->len);
    ring->next = (i + 1) % DUP_RING;
    if (ring->len < DUP_RING)
        ring->len++;
    return eddy_buf_err(&ring->key[i]) ? EDDY_ENOMEM : eddy_buf_err(&ring->value[i]);
}

static const struct eddy_gen_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

bool eddy_gen_kind_time(const char *kind, const char **path, const char **format)
{
    const struct eddy_gen_kind *k = find_kind(kind);
    if (!k)
        return false;
    *path = k->time_path;
    *format = k->time_format;
    return true;
}

eddy_err_t eddy_gen_run(const char *kind, const struct eddy_gen_opts *opts, eddy_gen_emit_fn emit,
                        void *ctx, volatile int *stop)
{
    const struct eddy_gen_kind *k = find_kind(kind);
    if (!k) {
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM,
                 "unknown generator kind '%s' (known: service-logs, frames, ecommerce, viewing, "
                 "nexmark)",
                 kind);
        return EDDY_EINVAL;
    }
    eddy_err_t err = check_opts(opts);
    if (err)
        return err;

    struct eddy_rng rng;
    struct eddy_buf key, value;
    struct dup_ring ring;
    struct pacer pacer;
    void *state = NULL;
    eddy__rng_seed(&rng, opts->seed);
    eddy_buf_init(&key);
    eddy_buf_init(&value);
    memset(&ring, 0, sizeof ring);
    err = k->state_new(opts, &state);
    if (err)
        goto out;
    pacer_init(&pacer, opts->rate);
    int64_t origin = opts->live ? eddy_now_ms() : opts->start_ms;
    uint64_t seq = 0;
    for (uint64_t emitted = 0; opts->count == 0 || emitted < opts->count; emitted++) {
        pacer_wait(&pacer, emitted);
        if (stop && *stop)
            break;
        bool dup = eddy__rng_chance(&rng, opts->dup_rate);
        bool late = eddy__rng_chance(&rng, opts->late_rate);
        bool malformed = eddy__rng_chance(&rng, opts->malformed_rate);
        if (dup && ring.len > 0) {
            size_t back = 1 + (size_t)eddy__rng_below(&rng, ring.len);
            size_t i = (ring.next + DUP_RING - back) % DUP_RING;
            err =
                emit(ctx, ring.key[i].data, ring.key[i].len, ring.value[i].data, ring.value[i].len);
            if (err)
                goto out;
            continue;
        }
        struct eddy_gen_event event = {.seq = seq++, .malformed = malformed};
        int64_t nominal =
            opts->live
                ? eddy_now_ms()
                : opts->start_ms + (int64_t)floor((double)event.seq * 1000.0 / opts->event_rate);
        event.elapsed_ms = nominal - origin;
        event.event_time_ms = nominal;
        if (late && opts->max_late_ms > 0)
            event.event_time_ms -= 1 + (int64_t)eddy__rng_below(&rng, (uint64_t)opts->max_late_ms);
        eddy_buf_reset(&key);
        eddy_buf_reset(&value);
        k->write(state, &rng, &event, &key, &value);
        if (key.oom || value.oom) {
            err = EDDY_ENOMEM;
            goto out;
        }
        err = emit(ctx, key.data, key.len, value.data, value.len);
        if (!err)
            err = ring_push(&ring, &key, &value);
        if (err)
            goto out;
    }
out:
    if (err == EDDY_ENOMEM)
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "cannot generate %s events: out of memory", kind);
    for (size_t i = 0; i < DUP_RING; i++) {
        eddy_buf_release(&ring.key[i]);
        eddy_buf_release(&ring.value[i]);
    }
    eddy_buf_release(&key);
    eddy_buf_release(&value);
    if (state)
        k->state_free(state);
    return err;
}
