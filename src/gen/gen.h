/*
 * gen.h - realistic, deterministic event generators (`eddy gen KIND`).
 *
 * Kinds:
 *   service-logs  one JSON object per line, the service-log schema of SPEC
 *                 section 6, fields in this order: service, timestamp
 *                 (RFC 3339 UTC with milliseconds), status_code, latency_ms,
 *                 error, request_id, tenant_id, tenant_tier, region, endpoint,
 *                 user_id, bytes_out. Key = service name. An incident is built
 *                 in: payment-service answers 20% 5xx at 3x latency during
 *                 event-time minutes [5, 8) of every 30-minute cycle after
 *                 start_ms (in live mode: after the start of the run).
 *   frames        the distinct-counting challenge frames: a JSON object with
 *                 root "uid" (19 lowercase hex chars) and "ts" (unix seconds,
 *                 integer) among filler members, some of them nested objects
 *                 that hold their own "uid"/"ts"; escaped and raw UTF-8
 *                 strings; about frame_bytes per line. Key = uid.
 *   ecommerce     shop clickstream: view, add_to_cart and purchase events of
 *                 shopping sessions (user_id, session_id, product_id,
 *                 category, price, quantity; "ts" RFC 3339), a few products
 *                 much more popular, a checkout outage in minutes [20, 25)
 *                 of every hour (ecommerce.c). Key = user_id.
 *   viewing       video playback events with nested user, device and video
 *                 objects ("ts" unix ms), binge watchers among the users
 *                 (viewing.c). Key = user.id.
 *   nexmark       the NEXMark auction benchmark's persons, auctions and bids
 *                 (2%, 6%, 92%) as in its reference generator, hot auctions
 *                 and bidders included (nexmark.c). Key = auction or person
 *                 id.
 *
 * Determinism: the output is a function of (kind, options) only, except with
 * live = true (timestamps from the wall clock). The generator state is
 * xoshiro256** (gen/rng.h) seeded from opts.seed.
 *
 * Event time: event i (duplicates not counted) is nominally at
 * start_ms + floor(i * 1000 / event_rate). A late event (probability
 * late_rate) is moved 1..max_late_ms earlier, uniformly. A duplicate
 * (probability dup_rate per emitted line) re-emits, byte for byte, one of the
 * last 8 original events instead of a new one. A malformed event (probability
 * malformed_rate) is corrupted in a kind-specific way (see each kind's file).
 * `count` counts emitted lines, duplicates included.
 *
 * No allocation per event: key and value buffers are reused; emit() borrows
 * them for the duration of the call.
 */
#ifndef EDDY_GEN_GEN_H
#define EDDY_GEN_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"

struct eddy_gen_opts {
    uint64_t count; /* lines to emit; 0 = until *stop */
    double rate;    /* wall-clock pacing in lines/s; 0 = as fast as possible */
    uint64_t seed;
    double late_rate;      /* probability that an event is late */
    int64_t max_late_ms;   /* how late at most */
    double dup_rate;       /* probability that a line repeats a recent event */
    double malformed_rate; /* probability that an event is corrupted */
    double skew;           /* Zipf exponent of the tenant distribution, 0 = uniform;
                            * ecommerce: of products, viewing: of series (0:
                            * their default) */
    int64_t start_ms;      /* event time of the first event */
    double event_rate;     /* events per second of event time */
    bool live;             /* timestamps follow the wall clock instead */
    size_t frame_bytes;    /* frames: target line size */
    uint64_t users;        /* frames: size of the user pool */
};

/* count 100000, seed 1, start_ms 2025-04-30T10:00:00Z, event_rate 1000,
 * frame_bytes 2048, users 100000, everything else 0/false. */
void eddy_gen_opts_defaults(struct eddy_gen_opts *opts);

/* Receives one generated line; @key and @value are borrowed (not
 * NUL-terminated by contract) until it returns. A non-zero return ends the
 * generation and is returned by eddy_gen_run. */
typedef eddy_err_t (*eddy_gen_emit_fn)(void *ctx, const char *key, size_t key_len,
                                       const char *value, size_t value_len);

/* Generates opts->count lines of @kind (one of eddy_gen_kind_names()) into
 * @emit, pacing them to opts->rate with CLOCK_MONOTONIC sleeps. Stops early,
 * returning EDDY_OK, once @stop (may be NULL) is non-zero, e.g. set by a
 * signal handler. Errors: EDDY_EINVAL for an unknown kind or options out of
 * range (logged, naming the option), EDDY_ENOMEM, or emit's error. Runs on
 * the calling thread. */
eddy_err_t eddy_gen_run(const char *kind, const struct eddy_gen_opts *opts, eddy_gen_emit_fn emit,
                        void *ctx, volatile int *stop);

/* NULL-terminated list of the kind names, for usage messages. */
const char *const *eddy_gen_kind_names(void);

/* Where @kind's lines hold their event time: a dotted JSON path and its
 * format ("rfc3339", "unix_s" or "unix_ms"), both static. False for an
 * unknown kind. */
bool eddy_gen_kind_time(const char *kind, const char **path, const char **format);

#endif
