/*
 * acc.h - accumulators: the state of one metric of one window row, for each
 * enum eddy_metric_kind (eddy/topology.h). An accumulator does not know its
 * kind; every call takes it, and it must be the same for the life of the
 * accumulator. Zero-initialised storage is an empty accumulator.
 *
 * Update semantics (one call per event that passed the aggregation's where):
 *   COUNT     counts every event (arg may be NULL);
 *   COUNT_IF  counts events whose arg is truthy (eddy_value_truthy);
 *   RATIO     total counts every event, hits the truthy ones;
 *   SUM, AVG, MIN, MAX, QUANTILE take numeric args (INT or NUM) and ignore
 *             every other type (NULL, strings, bools) and non-finite numbers;
 *   TOP_K     counts each value of the arg (agg/topk.h: normalised values,
 *             at most EDDY_TOPK_CAPACITY, Space-Saving past that);
 *   TOP_K_BY  adds arg2 (the weight: a finite number >= 0, else the event is
 *             ignored) to the arg's value;
 *   ARG_MAX, ARG_MIN keep arg2 (the field, normalised as in agg/topk.h;
 *             NULL, NaN: ignored) of the largest (smallest) numeric arg;
 *             on equal args the smallest field (eddy__topk_value_cmp), so
 *             the result does not depend on the order of events or merges;
 *   DISTINCT  hashes the value with a type tag (eddy_hash64, seed per tag):
 *             STR its bytes (seed EDDY_ACC_SEED_STR); INT its 8 bytes
 *             little-endian (EDDY_ACC_SEED_INT); NUM: -0.0 becomes 0.0, an
 *             integral NUM in int64 range hashes like the equal INT, any other
 *             NUM hashes its 8 IEEE bytes little-endian (EDDY_ACC_SEED_NUM);
 *             BOOL one byte 0/1 (EDDY_ACC_SEED_BOOL). NULL and NaN are ignored.
 *             So 1 and 1.0 are the same item, "1" and true are others.
 * Merging is exact for COUNT, COUNT_IF, RATIO, MIN, MAX, ARG_MAX, ARG_MIN and
 * for SUM/AVG of INTs (int64 sums with an overflow check; after an overflow
 * the double sum is used); QUANTILE and DISTINCT merge their sketches
 * (ddsketch.h, hll.h), TOP_K and TOP_K_BY their summaries (topk.h: exact
 * while the union has at most EDDY_TOPK_CAPACITY values).
 *
 * Results (eddy_acc_result), with *error the relative error bound:
 *   COUNT, COUNT_IF  INT                                     error 0
 *   RATIO            NUM hits/total; NULL when total is 0    error 0
 *   SUM              INT when every input was INT and the int64 sum did not
 *                    overflow (0 when empty), else NUM       error 0
 *   AVG              NUM; NULL when no input                 error 0
 *   MIN, MAX         INT or NUM as the extreme input was; NULL when none;
 *                    ties keep the first value seen          error 0
 *   QUANTILE         NUM of rank floor(q*(n-1)) (ddsketch.h); NULL when
 *                    empty or q is not in [0, 1]                 error 0.01
 *   DISTINCT         INT                error 0 (exact mode) or 1.04/128
 *   TOP_K, TOP_K_BY  JSON: the first K (param) entries, topk.h; [] when
 *                    empty; NULL when out of memory   error F / N (topk.h)
 *   ARG_MAX, ARG_MIN the field (BOOL, INT, NUM or STR); NULL when none
 *                                                            error 0
 * STR and JSON results borrow from @acc: valid until it is next updated,
 * merged, released or asked for a result.
 *
 * Encoding (eddy_acc_encode), per kind; no version byte: the owner of the
 * stored row versions it. Primitives in varint.h.
 *   COUNT, COUNT_IF  uvarint n
 *   RATIO            uvarint hits, uvarint total (hits <= total)
 *   SUM, AVG         u8 flags (bit0 not_int, bit1 overflow), uvarint n,
 *                    svarint isum (0 after an overflow), f64 sum
 *   MIN, MAX         u8 0 (none) | 1 then svarint int | 2 then f64 (finite)
 *   QUANTILE         u8 0 (no sketch) | 1 then the DDSketch encoding
 *   DISTINCT         u8 0 (no sketch) | 1 then the HyperLogLog encoding
 *   TOP_K, TOP_K_BY  u8 0 (no summary) | 1 then the topk.h encoding (its
 *                    weighted flag must match the kind)
 *   ARG_MAX, ARG_MIN u8 0 (none) | 1 then svarint int | 2 then f64 (finite):
 *                    the extreme; then the field as a topk.h value
 *
 * Allocation: QUANTILE, DISTINCT, TOP_K and TOP_K_BY allocate their sketch
 * or summary on the first value (and as they grow, see their headers),
 * ARG_MAX and ARG_MIN a copy of a STR field; other kinds never allocate.
 * An accumulator is used by one thread at a time.
 */
#ifndef EDDY_AGG_ACC_H
#define EDDY_AGG_ACC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

#define EDDY_ACC_SEED_STR 0xedd1ac5700000001ULL
#define EDDY_ACC_SEED_INT 0xedd1ac5700000002ULL
#define EDDY_ACC_SEED_NUM 0xedd1ac5700000003ULL
#define EDDY_ACC_SEED_BOOL 0xedd1ac5700000004ULL

struct eddy_acc { /* zero-initialised = empty */
    union {
        struct {
            uint64_t n;
        } count; /* COUNT, COUNT_IF */
        struct {
            uint64_t hits, total;
        } ratio; /* RATIO */
        struct {
            double sum;
            int64_t isum;
            uint64_t n;
            bool not_int;
            bool overflow;
        } sum; /* SUM, AVG */
        struct {
            double v; /* the extreme as a double, also when is_int */
            int64_t i;
            bool seen;
            bool is_int;
        } minmax;                       /* MIN, MAX */
        struct eddy_ddsketch *quantile; /* QUANTILE, lazily allocated */
        struct eddy_hll *distinct;      /* DISTINCT, lazily allocated */
        struct eddy_topk *top_k;        /* TOP_K, TOP_K_BY, lazily allocated */
        struct {
            union {
                double d;
                int64_t i;
            } best; /* the extreme arg */
            union {
                bool b;
                int64_t i;
                double n;
                const char *s; /* owned, field_len bytes */
            } field;
            uint32_t field_len;
            uint8_t field_type; /* enum eddy_vtype; EDDY_V_NULL: empty */
            bool best_is_int;
        } arg; /* ARG_MAX, ARG_MIN */
    } u;
};

/* Empties @acc (memset 0); does not free: use on fresh storage only. */
void eddy_acc_init(struct eddy_acc *acc);

/* Folds one event's argument into @acc (@arg NULL for COUNT). Returns
 * EDDY_ENOMEM when a sketch could not be allocated or grow (@acc unchanged),
 * EDDY_EINVAL for an unknown kind. Same as eddy_acc_update_pair() with a
 * NULL @arg2. */
eddy_err_t eddy_acc_update(struct eddy_acc *acc, enum eddy_metric_kind kind,
                           const struct eddy_value *arg);
/* eddy_acc_update_pair for the kinds not inlined there. */
eddy_err_t eddy__acc_update_other(struct eddy_acc *acc, enum eddy_metric_kind kind,
                                  const struct eddy_value *arg, const struct eddy_value *arg2);

/* The same with the second argument of TOP_K_BY (the weight) and ARG_MAX,
 * ARG_MIN (the field); other kinds ignore @arg2, which may be NULL. The
 * counting kinds, a few instructions each, are inlined (a window row
 * updates a dozen accumulators per event). */
static inline eddy_err_t eddy_acc_update_pair(struct eddy_acc *acc, enum eddy_metric_kind kind,
                                              const struct eddy_value *arg,
                                              const struct eddy_value *arg2)
{
    switch (kind) {
    case EDDY_M_COUNT: acc->u.count.n++; return EDDY_OK;
    case EDDY_M_COUNT_IF: acc->u.count.n += arg && eddy_value_truthy(arg); return EDDY_OK;
    case EDDY_M_RATIO:
        acc->u.ratio.total++;
        acc->u.ratio.hits += arg && eddy_value_truthy(arg);
        return EDDY_OK;
    default: return eddy__acc_update_other(acc, kind, arg, arg2);
    }
}

/* Folds @src into @dst (both of @kind). EDDY_ENOMEM leaves @dst unchanged. */
eddy_err_t eddy_acc_merge(struct eddy_acc *dst, const struct eddy_acc *src,
                          enum eddy_metric_kind kind);

/* The metric's value into @out (STR and JSON borrowed from @acc, see above)
 * and its relative error bound into @error (may be NULL). @q is the call's
 * parameter: QUANTILE's q, TOP_K's K (1..EDDY_TOPK_MAX_K); unused otherwise.
 * TOP_K and TOP_K_BY write their rendering into the summary. */
void eddy_acc_result(const struct eddy_acc *acc, enum eddy_metric_kind kind, double q,
                     struct eddy_value *out, double *error);

/* Frees the sketches and re-zeroes @acc. */
void eddy_acc_release(struct eddy_acc *acc, enum eddy_metric_kind kind);

/* Appends the encoding of @acc to @out; EDDY_ENOMEM when @out could not grow. */
eddy_err_t eddy_acc_encode(const struct eddy_acc *acc, enum eddy_metric_kind kind,
                           struct eddy_buf *out);

/* Decodes one accumulator from the start of @p into @acc, which must be empty
 * (initialised or released); *@used gets the bytes consumed. On failure @acc
 * is left empty and the result is EDDY_EPARSE, EDDY_ENOMEM or EDDY_EINVAL
 * (unknown kind). */
eddy_err_t eddy_acc_decode(struct eddy_acc *acc, enum eddy_metric_kind kind, const uint8_t *p,
                           size_t len, size_t *used);

/* Heap bytes owned by @acc beyond the struct itself (its sketches, summary
 * or string). */
size_t eddy_acc_memory(const struct eddy_acc *acc, enum eddy_metric_kind kind);

#endif
