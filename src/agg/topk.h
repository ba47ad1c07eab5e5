/*
 * topk.h - the heavy-hitters summary behind top_k(FIELD, K) and
 * top_k(FIELD, K, by: WEIGHT): per window row, the values of FIELD with their
 * counts (or weight sums), from which the K largest are reported.
 *
 * Values. BOOL, INT, NUM and STR values are kept (strings copied). A NUM
 * that is integral and in int64 range is the INT of that value (1 and 1.0
 * are one value, reported as 1; -0.0 is 0); NULL, NaN and JSON are ignored.
 * Order of values (ties in the output): booleans (false, true), then numbers
 * by value, then strings bytewise; eddy__topk_value_cmp().
 *
 * Weights. The count form adds 1 per value; the weighted form adds the
 * weight, which must be a finite number >= 0 (INT or NUM): a record whose
 * weight is anything else (NULL, negative, a string) is ignored.
 *
 * Bound and error. A summary holds at most EDDY_TOPK_CAPACITY values. While
 * a row sees at most that many distinct values every count (weight sum) is
 * exact, floor == 0. Past it, the summary is Space-Saving (Metwally et al.,
 * 2005): a new value replaces the one with the smallest count (ties: the
 * largest value), and starts from that count plus its own weight. The floor
 * F is the largest count ever replaced, and for every value v:
 *   - a value in the summary has true(v) <= count(v) <= true(v) + F;
 *   - a value not in it has true(v) <= F.
 * So every value whose true count exceeds F is reported when it is among the
 * K largest, and F <= N / EDDY_TOPK_CAPACITY for a summary fed by records
 * alone (N: the total count or weight it saw). Merging (rollups,
 * repartitioned partials) adds counts value by value, a value missing on one
 * side taking that side's floor (an upper bound of its count there); the
 * floors add; the result keeps the EDDY_TOPK_CAPACITY largest (output
 * order), and the floor becomes at least the largest count dropped. Both
 * properties above hold after merges, with F the merged floor (which may
 * then exceed N / EDDY_TOPK_CAPACITY). Merging exact summaries whose union
 * has at most EDDY_TOPK_CAPACITY values is exact.
 *
 * Result: JSON text, the first K values in order of count (weight sum)
 * descending, then value ascending:
 *   [{"value":"p-0042","count":12},{"value":"p-0007","count":9}]
 * (weighted: "sum" instead of "count", a JSON number); [] when empty. The
 * error reported with it is F / N (0 when exact): the largest possible
 * overestimate of a count, as a share of the row's total.
 *
 * Encoding (agg/varint.h primitives): u8 flags (bit 0: weighted; no other
 * bit) ‖ uvarint n (<= EDDY_TOPK_CAPACITY) ‖ floor ‖ total ‖ n entries in
 * output order, each: value (u8 type: 1 BOOL then u8 0/1, 2 INT then
 * svarint, 3 NUM then f64 (finite, not integral in int64 range), 4 STR then
 * uvarint length and the bytes) ‖ count. floor, total and the counts are
 * uvarints in the count form and f64s (finite, >= 0) in the weighted form.
 * The order makes the encoding canonical; a decoder rejects entries out of
 * order (which also rejects duplicates).
 *
 * Cost: one hash lookup per record while there is room; past the bound a
 * new value costs O(log CAPACITY) (a min-heap of the entries, built the
 * first time the summary is full). Memory: about 40 bytes per value plus
 * its string, allocated as values arrive. A summary is used by one thread
 * at a time; eddy__topk_json() writes into the summary (its rendering).
 */
#ifndef EDDY_AGG_TOPK_H
#define EDDY_AGG_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/record.h"

#define EDDY_TOPK_CAPACITY 1024
#define EDDY_TOPK_MAX_K 100

struct eddy_topk;

/* An empty summary, count form or @weighted. NULL when out of memory. */
struct eddy_topk *eddy__topk_new(bool weighted);
void eddy__topk_free(struct eddy_topk *tk);

/* Adds @weight (1 in the count form) to @value. Ignored values and weights
 * (see above) are no error. EDDY_ENOMEM leaves @tk unchanged. */
eddy_err_t eddy__topk_add(struct eddy_topk *tk, const struct eddy_value *value, double weight);

/* Folds @src into @dst (same form, else EDDY_EINVAL). EDDY_ENOMEM leaves
 * @dst as it was. */
eddy_err_t eddy__topk_merge(struct eddy_topk *dst, const struct eddy_topk *src);

/* The result for @k (1..EDDY_TOPK_MAX_K) into *@json and *@len, borrowed from
 * @tk until it is next changed, rendered or freed; *@error gets F / N.
 * EDDY_ENOMEM when the rendering could not be allocated. */
eddy_err_t eddy__topk_json(struct eddy_topk *tk, size_t k, const char **json, size_t *len,
                           double *error);

bool eddy__topk_weighted(const struct eddy_topk *tk);
size_t eddy__topk_size(const struct eddy_topk *tk); /* values held */
double eddy__topk_floor(const struct eddy_topk *tk);
/* The count (weight sum) held for @value; false when it is not held. */
bool eddy__topk_count(const struct eddy_topk *tk, const struct eddy_value *value, double *count);
size_t eddy__topk_memory(const struct eddy_topk *tk); /* heap bytes */

eddy_err_t eddy__topk_encode(const struct eddy_topk *tk, struct eddy_buf *out);
/* Decodes one summary from the start of @p; *@used gets its length.
 * EDDY_EPARSE on malformed bytes, EDDY_ENOMEM. */
eddy_err_t eddy__topk_decode(struct eddy_topk **out, const uint8_t *p, size_t len, size_t *used);

/* A normalised value as in the encoding above (u8 type, payload), and back:
 * a decoded STR borrows @p; false on malformed or unnormalised bytes. */
void eddy__topk_value_encode(const struct eddy_value *v, struct eddy_buf *out);
bool eddy__topk_value_decode(const uint8_t *p, size_t len, size_t *pos, struct eddy_value *v);

/* The value order above, for INT, NUM, BOOL and STR values (NUMs compared
 * exactly with INTs). Other types order first, equal to each other. */
int eddy__topk_value_cmp(const struct eddy_value *a, const struct eddy_value *b);
/* @v normalised as described above into @out (strings still borrowed);
 * false for a value that is ignored. */
bool eddy__topk_value_normalise(const struct eddy_value *v, struct eddy_value *out);

#endif
