/*
 * ddsketch.h - DDSketch: a mergeable quantile sketch with relative error.
 *
 * Accuracy. Every quantile estimate v of a true value x satisfies
 * |v - x| <= 0.01 * |x| (relative accuracy alpha = 0.01), as long as the
 * store holding x has not collapsed (below) and |x| >= 1e-9.
 *
 * Mapping. gamma = (1 + a) / (1 - a) with a = 0.01 * (1 - 1e-6): the tiny
 * margin below 0.01 absorbs the rounding of log(), so the bound above holds
 * in floating point, not only on paper. A value x >= 1e-9 goes to bin
 *     index(x) = ceil(log(x) / log(gamma))   (bin i covers (gamma^(i-1), gamma^i])
 * and bin i is represented by value(i) = 2 * gamma^i / (gamma + 1), whose
 * relative distance to any point of the bin is at most a.
 *   - positive values x >= 1e-9 are counted in the positive store at index(x);
 *   - negative values x <= -1e-9 in the negative store at index(-x) (mirror);
 *   - |x| < 1e-9 ("min indexable value") counts as zero, in a zero counter.
 *   - NaN and +-inf are rejected (EDDY_EINVAL).
 *
 * Stores. Each store is a dense array of uint64 counters with an index offset,
 * growing by doubling (64, 128, ... bins) and capped at 2048 bins (a dynamic
 * range of gamma^2048 ~ 6e17). When a value would need more than 2048 bins,
 * the store collapses the bins holding the LOWEST values into one bin (like
 * DataDog's CollapsingLowestDenseStore): in the positive store those are the
 * lowest indices, in the negative store the highest indices (the most
 * negative values). After that the lowest quantiles lose the accuracy
 * guarantee (they are overestimated, never outside [min, max]); the high
 * quantiles that latency monitoring cares about keep it.
 * eddy_ddsketch_collapsed() tells whether this happened.
 *
 * Exact extremes. min and max are tracked exactly: quantile 0 is the exact
 * min, quantile 1 the exact max, and every estimate is clamped into
 * [min, max].
 *
 * Rank. quantile(q) estimates the item of 0-based rank floor(q * (n - 1)) in
 * sorted order (the "lower" rank, as DDSketch's reference implementation).
 *
 * Merging adds bin counts, so merge(sketch(A), sketch(B)) equals sketch(A u B)
 * exactly (same encoded bytes), whatever the order of the values. This holds
 * after collapses too: a store's final window is [H - 2047, H] for the
 * highest index H ever seen (mirrored for negatives), and every value below
 * it ends in its edge bin, however many collapses it went through.
 *
 * Wire format (version 1), see varint.h for the primitives:
 *   u8       version = 1
 *   u8       flags: bit0 = positive store collapsed, bit1 = negative store
 *            collapsed; other bits 0
 *   uvarint  zero count
 *   store    positive store
 *   store    negative store
 *   f64 min, f64 max      only when the total count is > 0
 * where store = uvarint nbins (0: empty, nothing follows; at most 2048),
 *               svarint index of the first bin, then nbins uvarint counts of
 *               consecutive bins; the first and the last count are non-zero.
 * Decoding validates every field (ranges, canonical form, count overflow,
 * min <= max, signs of min/max against the stores) so that garbage is
 * rejected with EDDY_EPARSE and never crashes; decode(encode(s)) re-encodes
 * to the same bytes.
 *
 * Allocation: adding allocates only when the bin range of a store grows past
 * its capacity. A sketch is not thread-safe; one thread at a time.
 */
#ifndef EDDY_AGG_DDSKETCH_H
#define EDDY_AGG_DDSKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"

#define EDDY_DDSKETCH_ALPHA 0.01
#define EDDY_DDSKETCH_MIN_INDEXABLE 1e-9
#define EDDY_DDSKETCH_MAX_BINS 2048

struct eddy_ddsketch;

/* New empty sketch; NULL when out of memory. Allocates only the struct. */
struct eddy_ddsketch *eddy_ddsketch_new(void);
/* Accepts NULL. */
void eddy_ddsketch_free(struct eddy_ddsketch *s);

/* Adds one value. EDDY_EINVAL for NaN/inf (sketch unchanged), EDDY_ENOMEM
 * when a store could not grow (sketch unchanged). */
eddy_err_t eddy_ddsketch_add(struct eddy_ddsketch *s, double x);

/* Adds every value of @src into @dst. On EDDY_ENOMEM @dst keeps all of its own
 * counts (its bins may have been collapsed) and none of @src's. */
eddy_err_t eddy_ddsketch_merge(struct eddy_ddsketch *dst, const struct eddy_ddsketch *src);

/* Estimate of the rank-floor(q*(n-1)) value; NaN when empty or q is not in
 * [0, 1]. */
double eddy_ddsketch_quantile(const struct eddy_ddsketch *s, double q);

uint64_t eddy_ddsketch_count(const struct eddy_ddsketch *s);

/* Whether a store collapsed (low quantiles may exceed the error bound). */
bool eddy_ddsketch_collapsed(const struct eddy_ddsketch *s);

/* Appends the encoding to @out; EDDY_ENOMEM when @out could not grow. */
eddy_err_t eddy_ddsketch_encode(const struct eddy_ddsketch *s, struct eddy_buf *out);

/* Decodes one sketch from the start of @p; *@used gets the bytes consumed
 * (trailing bytes are left to the caller). On success *@out owns a new
 * sketch; on failure *@out is NULL and the result is EDDY_EPARSE (malformed
 * or truncated) or EDDY_ENOMEM. */
eddy_err_t eddy_ddsketch_decode(struct eddy_ddsketch **out, const uint8_t *p, size_t len,
                                size_t *used);

/* Heap bytes owned by the sketch, struct included. */
size_t eddy_ddsketch_memory(const struct eddy_ddsketch *s);

#endif
