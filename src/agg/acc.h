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
 *   DISTINCT  hashes the value with a type tag (eddy_hash64, seed per tag):
 *             STR its bytes (seed EDDY_ACC_SEED_STR); INT its 8 bytes
 *             little-endian (EDDY_ACC_SEED_INT); NUM: -0.0 becomes 0.0, an
 *             integral NUM in int64 range hashes like the equal INT, any other
 *             NUM hashes its 8 IEEE bytes little-endian (EDDY_ACC_SEED_NUM);
 *             BOOL one byte 0/1 (EDDY_ACC_SEED_BOOL). NULL and NaN are ignored.
 *             So 1 and 1.0 are the same item, "1" and true are others.
 * Merging is exact for COUNT, COUNT_IF, RATIO, MIN, MAX and for SUM/AVG of
 * INTs (int64 sums with an overflow check; after an overflow the double sum
 * is used); QUANTILE and DISTINCT merge their sketches (ddsketch.h, hll.h).
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
 *
 * Allocation: QUANTILE and DISTINCT allocate their sketch on the first value
 * (and as the sketches grow, see their headers); other kinds never allocate.
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
    } u;
};

/* Empties @acc (memset 0); does not free: use on fresh storage only. */
void eddy_acc_init(struct eddy_acc *acc);

/* Folds one event's argument into @acc (@arg NULL for COUNT). Returns
 * EDDY_ENOMEM when a sketch could not be allocated or grow (@acc unchanged),
 * EDDY_EINVAL for an unknown kind. */
eddy_err_t eddy_acc_update(struct eddy_acc *acc, enum eddy_metric_kind kind,
                           const struct eddy_value *arg);

/* Folds @src into @dst (both of @kind). EDDY_ENOMEM leaves @dst unchanged. */
eddy_err_t eddy_acc_merge(struct eddy_acc *dst, const struct eddy_acc *src,
                          enum eddy_metric_kind kind);

/* The metric's value into @out (never borrowed) and its relative error bound
 * into @error (may be NULL). @q is used by QUANTILE only. */
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

/* Heap bytes owned by @acc beyond the struct itself (its sketches). */
size_t eddy_acc_memory(const struct eddy_acc *acc, enum eddy_metric_kind kind);

#endif
