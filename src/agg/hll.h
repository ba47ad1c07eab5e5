/*
 * hll.h - HyperLogLog distinct counter with an exact small-set mode.
 *
 * Input is a 64-bit hash per item (callers hash with eddy_hash64, see
 * core/hash.h); equal items must give equal hashes, so the hash is part of
 * the persisted state.
 *
 * Modes.
 *   - exact: up to 256 distinct hashes are kept in a sorted array (growing
 *     4, 8, ... 256) and counted exactly; std error 0.
 *   - dense: adding the 257th distinct hash converts the sketch to 2^14 =
 *     16384 registers (precision p = 14), one byte each holding a 6-bit value.
 *     A hash h goes to register h >> 50; its value is the position of the
 *     first 1 bit in the remaining 50 bits (1..50), or 51 when they are all
 *     zero; a register keeps the largest value seen. Standard error
 *     1.04 / sqrt(16384) = 0.8125%.
 * Merging takes the union of exact sets (staying exact when the union has at
 * most 256 hashes) or the register-wise max, so merge(sketch(A), sketch(B))
 * is exactly sketch(A u B), whatever the order of the items.
 *
 * Estimator (dense). Otmar Ertl's improved raw estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017), with
 * C[k] the number of registers of value k, q = 50, m = 16384,
 *     z = m * tau(1 - C[q+1]/m);  for k = q .. 1: z = (z + C[k]) / 2;
 *     z += m * sigma(C[0]/m);     estimate = m^2 / (2 ln 2) / z
 * where sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1) and
 * tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3 correct for empty
 * and saturated registers. It needs no bias tables or linear-counting switch
 * and has no bias bumps at any cardinality.
 *
 * Wire format (version 1), see varint.h for the primitives:
 *   u8 version = 1, u8 mode (0 = exact, 1 = dense), then
 *   exact: uvarint n (<= 256), uvarint first hash, n-1 uvarint deltas (> 0)
 *          between consecutive hashes in ascending order;
 *   dense: 12288 bytes, the 16384 registers packed 6 bits each, four
 *          registers r0..r3 in three bytes as the 24-bit little-endian word
 *          r0 | r1 << 6 | r2 << 12 | r3 << 18; every register <= 51.
 * Decoding validates everything (EDDY_EPARSE) and never crashes on garbage;
 * decode(encode(h)) re-encodes to the same bytes.
 *
 * Allocation: adding allocates when the exact array doubles and once when
 * the sketch turns dense; dense adds never allocate. Not thread-safe.
 */
#ifndef EDDY_AGG_HLL_H
#define EDDY_AGG_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"

#define EDDY_HLL_PRECISION 14
#define EDDY_HLL_REGISTERS (1u << EDDY_HLL_PRECISION)
#define EDDY_HLL_EXACT_MAX 256
#define EDDY_HLL_STD_ERROR (1.04 / 128.0)

struct eddy_hll;

/* New empty (exact) sketch; NULL when out of memory. */
struct eddy_hll *eddy_hll_new(void);
/* Accepts NULL. */
void eddy_hll_free(struct eddy_hll *h);

/* Adds one item by its hash. EDDY_ENOMEM leaves the sketch unchanged. */
eddy_err_t eddy_hll_add_hash(struct eddy_hll *h, uint64_t hash);

/* Adds every item of @src into @dst. EDDY_ENOMEM leaves @dst unchanged. */
eddy_err_t eddy_hll_merge(struct eddy_hll *dst, const struct eddy_hll *src);

/* Number of distinct items: exact in exact mode, else the rounded estimate. */
uint64_t eddy_hll_estimate(const struct eddy_hll *h);

bool eddy_hll_is_exact(const struct eddy_hll *h);

/* Relative standard error of eddy_hll_estimate: 0 when exact, else 1.04/128. */
double eddy_hll_std_error(const struct eddy_hll *h);

/* Appends the encoding to @out; EDDY_ENOMEM when @out could not grow. */
eddy_err_t eddy_hll_encode(const struct eddy_hll *h, struct eddy_buf *out);

/* Decodes one sketch from the start of @p; *@used gets the bytes consumed.
 * On success *@out owns a new sketch; on failure *@out is NULL and the result
 * is EDDY_EPARSE or EDDY_ENOMEM. */
eddy_err_t eddy_hll_decode(struct eddy_hll **out, const uint8_t *p, size_t len, size_t *used);

/* Heap bytes owned by the sketch, struct included. */
size_t eddy_hll_memory(const struct eddy_hll *h);

#endif
