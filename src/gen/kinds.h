/*
 * kinds.h - private interface between the generator driver (gen.c) and the
 * event kinds (service_logs.c, frames.c, ecommerce.c, viewing.c, nexmark.c).
 *
 * The driver owns the random generator, the clock, pacing, late shifts,
 * duplicates and the decision to corrupt an event; a kind only turns one
 * event description into key and value bytes, drawing its content from the
 * driver's generator so that the whole output follows from the seed.
 */
#ifndef EDDY_GEN_KINDS_H
#define EDDY_GEN_KINDS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "gen/gen.h"
#include "gen/rng.h"

struct eddy_gen_event {
    uint64_t seq;          /* 0-based among original (non-duplicate) events */
    int64_t event_time_ms; /* to write, after any late shift */
    int64_t elapsed_ms;    /* nominal event time since the start: drives scenarios */
    bool malformed;        /* corrupt this event */
};

struct eddy_gen_kind {
    const char *name;
    /* where lines hold their event time: JSON path, "rfc3339", "unix_s" or
     * "unix_ms" (eddy_gen_kind_time) */
    const char *time_path, *time_format;
    eddy_err_t (*state_new)(const struct eddy_gen_opts *opts, void **out);
    void (*state_free)(void *state);
    /* Appends the event's key and value to the (empty) buffers; allocation
     * failures poison the buffers (see core/buf.h). */
    void (*write)(void *state, struct eddy_rng *rng, const struct eddy_gen_event *event,
                  struct eddy_buf *key, struct eddy_buf *value);
};

extern const struct eddy_gen_kind eddy__gen_service_logs;
extern const struct eddy_gen_kind eddy__gen_frames;
extern const struct eddy_gen_kind eddy__gen_ecommerce;
extern const struct eddy_gen_kind eddy__gen_viewing;
extern const struct eddy_gen_kind eddy__gen_nexmark;

/* Remembers the last formatted second: consecutive events mostly share it. */
struct eddy_gen_time_cache {
    int64_t secs;
    size_t len; /* 0 = empty */
    char text[40];
};
/* "2025-04-30T10:00:00.123Z" (always with milliseconds), without quotes. */
void eddy__gen_put_time(struct eddy_buf *buf, int64_t ms, struct eddy_gen_time_cache *cache);
/* Decimal digits of @v. */
void eddy__gen_put_i64(struct eddy_buf *buf, int64_t v);
/* "<prefix><v>", v zero-padded to @width digits (at most 20). */
void eddy__gen_put_padded(struct eddy_buf *buf, const char *prefix, uint64_t v, int width);
/* @digits (<= 16) lowercase hex digits of the low bits of @v. */
void eddy__gen_put_hex(struct eddy_buf *buf, uint64_t v, int digits);
/* Replaces bytes [from, to) of @buf with @with (@with_len bytes). */
void eddy__gen_splice(struct eddy_buf *buf, size_t from, size_t to, const char *with,
                      size_t with_len);
/* Cuts @buf to a random non-empty proper prefix (invalid JSON for an object). */
void eddy__gen_truncate(struct eddy_buf *buf, struct eddy_rng *rng);

#endif
