/*
 * ddsketch.c - DDSketch with collapsing dense stores; see ddsketch.h for the
 * mapping, the accuracy contract and the wire format.
 *
 * Store invariants (struct store):
 *   - bins[k] counts index offset + k, for 0 <= k < cap; cap is 0 or a power
 *     of two in [64, 2048];
 *   - when total > 0, lo and hi are exactly the lowest and highest index with
 *     a non-zero count, and offset <= lo <= hi < offset + cap; every counter
 *     outside [lo, hi] is zero;
 *   - hi - lo < EDDY_DDSKETCH_MAX_BINS.
 *
 * Small sketches. Until it has more than SMALL_MAX positive values, a sketch
 * keeps their indices, unsorted, in small[] inside the struct, and its
 * positive store stays empty (cap 0): a window row of a high-cardinality
 * group sees a few dozen values, and a dense array of 64-256 counters for
 * them made the sketches of such an aggregation a working set of megabytes
 * touched at random, one cache miss per value. The small values count
 * exactly as if they were in the store: every read (quantiles, encoding,
 * merging) sees the same counts, and when the store is first needed
 * (densify) they are put into it. That is exact, whatever the order: the
 * counts of a store depend only on the multiset of its indices (a collapse
 * keeps the window [H - 2047, H] of the highest index H, with everything
 * below in its edge bin), only the capacity and offset of the array depend
 * on the order of growth, and they are never observable.
 * Invariants: n_small > 0 => pos.cap == 0 (hence pos.total == 0), and the
 * small indices span at most EDDY_DDSKETCH_MAX_BINS (a wider range goes to
 * the store, which collapses it).
 */
#include "agg/ddsketch.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "agg/varint.h"
#include "core/alloc.h"

/* Literals, not computed, so that every build maps values to the same bins
 * (persisted state): a = 0.00999999, gamma = (1+a)/(1-a). */
#define LOG_GAMMA 0.020000646704669327
#define INV_LOG_GAMMA 49.998383290603364
#define VALUE_FACTOR 0.99000001 /* 2 / (gamma + 1) == 1 - a */
#define MIN_CAP 64
#define FORMAT_VERSION 1

struct store {
    uint64_t *bins;
    int32_t offset;
    uint32_t cap;
    int32_t lo, hi;
    uint64_t total;
    bool collapse_high; /* negative store: the lowest values have high indices */
    bool collapsed;
};

#define SMALL_MAX 32

/* What an add and the memory accounting after it read comes first, so
 * that it spans two cache lines plus the one of the small value or bin. */
struct eddy_ddsketch {
    uint64_t count;
    double min, max;
    uint32_t n_small;
    int32_t small_lo, small_hi; /* the range of small[], when n_small > 0 */
    struct store pos, neg;
    uint64_t zero;
    int32_t small[SMALL_MAX]; /* positive indices not in pos yet */
};

static int32_t value_index(double x)
{
    /* Callers often add the same value to several sketches in a row (one
     * event, a quantile per aggregation): log() once per value. */
    static _Thread_local double last_x = -1.0;
    static _Thread_local int32_t last_index;
    if (x == last_x)
        return last_index;
    int32_t i = (int32_t)ceil(log(x) * INV_LOG_GAMMA);
    last_x = x;
    last_index = i;
    return i;
}

static double index_value(int32_t i)
{
    return exp((double)i * LOG_GAMMA) * VALUE_FACTOR;
}

static int32_t min_index(void)
{
    return value_index(EDDY_DDSKETCH_MIN_INDEXABLE);
}

static int32_t max_index(void)
{
    return value_index(DBL_MAX);
}

struct eddy_ddsketch *eddy_ddsketch_new(void)
{
    struct eddy_ddsketch *s = eddy_calloc(1, sizeof *s);
    if (s)
        s->neg.collapse_high = true;
    return s;
}

void eddy_ddsketch_free(struct eddy_ddsketch *s)
{
    if (!s)
        return;
    eddy_free(s->pos.bins);
    eddy_free(s->neg.bins);
    eddy_free(s);
}

static uint32_t cap_for(uint32_t cap, int64_t width)
{
    uint32_t c = cap ? cap : MIN_CAP;
    while ((int64_t)c < width)
        c *= 2;
    return c < EDDY_DDSKETCH_MAX_BINS ? c : EDDY_DDSKETCH_MAX_BINS;
}

/* Sums and zeroes the counters of [from, to] (clipped to the live range). */
static uint64_t take_range(struct store *st, int64_t from, int64_t to)
{
    uint64_t sum = 0;
    if (from < st->lo)
        from = st->lo;
    if (to > st->hi)
        to = st->hi;
    for (int64_t i = from; i <= to; i++) {
        sum += st->bins[i - st->offset];
        st->bins[i - st->offset] = 0;
    }
    return sum;
}

/* Moves the live counters [a, b] (a > b: none) of the old array into @dest
 * (st->bins itself or a zeroed new array of @cap) starting at @offset, and
 * zeroes the rest of an in-place array. */
static void move_live(struct store *st, int64_t a, int64_t b, uint64_t *dest, uint32_t cap,
                      int32_t offset)
{
    size_t n = a <= b ? (size_t)(b - a + 1) : 0;
    size_t before = n ? (size_t)(a - offset) : cap;
    if (n)
        memmove(dest + before, st->bins + (a - st->offset), n * sizeof *dest);
    if (dest == st->bins) {
        memset(dest, 0, before * sizeof *dest);
        if (n)
            memset(dest + before + n, 0, (cap - before - n) * sizeof *dest);
    }
}

/* The window of at most MAX_BINS indices the store must cover to hold
 * [want_lo, want_hi] and its live range; true when that cuts off the lowest
 * values (collapse). */
static bool store_window(const struct store *st, int32_t want_lo, int32_t want_hi, int64_t *lo,
                         int64_t *hi)
{
    *lo = want_lo;
    *hi = want_hi;
    if (st->total) {
        *lo = st->lo < *lo ? st->lo : *lo;
        *hi = st->hi > *hi ? st->hi : *hi;
    }
    if (*hi - *lo + 1 <= EDDY_DDSKETCH_MAX_BINS)
        return false;
    if (st->collapse_high)
        *hi = *lo + EDDY_DDSKETCH_MAX_BINS - 1;
    else
        *lo = *hi - EDDY_DDSKETCH_MAX_BINS + 1;
    return true;
}

/* Moves the store into @dest (@cap counters, window [lo, hi] centered),
 * folding the live counters outside the window into its edge bin. */
static void store_relocate(struct store *st, uint64_t *dest, uint32_t cap, int64_t lo, int64_t hi)
{
    int32_t offset = (int32_t)(lo - (int64_t)(cap - (hi - lo + 1)) / 2);
    uint64_t folded = 0;
    int64_t a = st->lo, b = st->hi;
    if (st->total) {
        folded =
            st->collapse_high ? take_range(st, hi + 1, st->hi) : take_range(st, st->lo, lo - 1);
        a = a > lo ? a : lo;
        b = b < hi ? b : hi;
        move_live(st, a, b, dest, cap, offset);
    } else if (dest == st->bins && st->bins) {
        memset(dest, 0, cap * sizeof *dest);
    }
    if (folded) {
        int64_t edge = st->collapse_high ? hi : lo;
        dest[edge - offset] += folded;
        if (a > b) {
            a = b = edge;
        } else {
            a = edge < a ? edge : a;
            b = edge > b ? edge : b;
        }
    }
    if (dest != st->bins)
        eddy_free(st->bins);
    st->bins = dest;
    st->cap = cap;
    st->offset = offset;
    st->lo = (int32_t)a;
    st->hi = (int32_t)b;
}

/*
 * Makes the array cover [want_lo, want_hi] together with the live range,
 * collapsing the lowest values when that spans more than MAX_BINS. Allocates
 * (first, so that failure changes nothing) only when the capacity must grow.
 * Afterwards an index outside the array belongs to the collapsed edge bin.
 */
static eddy_err_t store_extend(struct store *st, int32_t want_lo, int32_t want_hi)
{
    int64_t lo, hi;
    bool cut = store_window(st, want_lo, want_hi, &lo, &hi);
    bool live_inside = !st->total || (st->lo >= lo && st->hi <= hi);
    if (st->cap && lo >= st->offset && hi < (int64_t)st->offset + st->cap && live_inside) {
        st->collapsed |= cut; /* e.g. one more value below a collapsed window */
        return EDDY_OK;
    }
    uint32_t cap = cap_for(st->cap, hi - lo + 1);
    uint64_t *dest = st->bins;
    if (cap != st->cap && !(dest = eddy_calloc(cap, sizeof *dest)))
        return EDDY_ENOMEM;
    store_relocate(st, dest, cap, lo, hi);
    st->collapsed |= cut;
    return EDDY_OK;
}

/* Index of the bin that counts @idx once the array covers it or collapsed. */
static int32_t clamp_index(const struct store *st, int32_t idx)
{
    if (idx < st->offset)
        return st->offset;
    if (idx >= (int64_t)st->offset + st->cap)
        return (int32_t)(st->offset + st->cap - 1);
    return idx;
}

static void store_put(struct store *st, int32_t idx, uint64_t n)
{
    idx = clamp_index(st, idx);
    st->bins[idx - st->offset] += n;
    if (st->total == 0) {
        st->lo = st->hi = idx;
    } else {
        st->lo = idx < st->lo ? idx : st->lo;
        st->hi = idx > st->hi ? idx : st->hi;
    }
    st->total += n;
}

static eddy_err_t store_add(struct store *st, int32_t idx)
{
    if (!st->cap || idx < st->offset || idx >= (int64_t)st->offset + st->cap) {
        eddy_err_t err = store_extend(st, idx, idx);
        if (err)
            return err;
    }
    store_put(st, idx, 1);
    return EDDY_OK;
}

/* Sorts the small indices into @out (insertion sort: at most SMALL_MAX). */
static void small_sorted(const struct eddy_ddsketch *s, int32_t *out)
{
    for (uint32_t i = 0; i < s->n_small; i++) {
        int32_t x = s->small[i];
        uint32_t j = i;
        for (; j > 0 && out[j - 1] > x; j--)
            out[j] = out[j - 1];
        out[j] = x;
    }
}

/* Moves the small indices (and @n_extra more, not counted yet) into the
 * positive store, allocating it for all of them at once; on EDDY_ENOMEM
 * nothing changed. Afterwards the store covers every one of them (or its
 * collapse window does), so putting the extra ones cannot fail. */
static eddy_err_t densify(struct eddy_ddsketch *s, const int32_t *extra, uint32_t n_extra)
{
    int32_t lo = s->n_small ? s->small_lo : INT32_MAX, hi = s->n_small ? s->small_hi : INT32_MIN;
    for (uint32_t i = 0; i < n_extra; i++) {
        lo = extra[i] < lo ? extra[i] : lo;
        hi = extra[i] > hi ? extra[i] : hi;
    }
    if (lo > hi)
        return EDDY_OK;
    eddy_err_t err = store_extend(&s->pos, lo, hi);
    if (err)
        return err;
    for (uint32_t i = 0; i < s->n_small; i++)
        store_put(&s->pos, s->small[i], 1);
    s->n_small = 0;
    return EDDY_OK;
}

/* Whether the small indices, widened to [lo, hi], stay within the store's
 * maximum width (else the store would collapse them). */
static bool small_fits(const struct eddy_ddsketch *s, uint32_t n, int32_t lo, int32_t hi)
{
    if (s->n_small + n > SMALL_MAX)
        return false;
    if (s->n_small) {
        lo = s->small_lo < lo ? s->small_lo : lo;
        hi = s->small_hi > hi ? s->small_hi : hi;
    }
    return (int64_t)hi - lo < EDDY_DDSKETCH_MAX_BINS;
}

static void small_put(struct eddy_ddsketch *s, const int32_t *idx, uint32_t n, int32_t lo,
                      int32_t hi)
{
    if (!n)
        return;
    if (!s->n_small) {
        s->small_lo = lo;
        s->small_hi = hi;
    } else {
        s->small_lo = s->small_lo < lo ? s->small_lo : lo;
        s->small_hi = s->small_hi > hi ? s->small_hi : hi;
    }
    memcpy(s->small + s->n_small, idx, n * sizeof *idx);
    s->n_small += n;
}

static eddy_err_t pos_add(struct eddy_ddsketch *s, int32_t idx)
{
    if (s->pos.cap)
        return store_add(&s->pos, idx);
    if (small_fits(s, 1, idx, idx)) {
        small_put(s, &idx, 1, idx, idx);
        return EDDY_OK;
    }
    eddy_err_t err = densify(s, &idx, 1);
    if (!err)
        store_put(&s->pos, idx, 1);
    return err;
}

eddy_err_t eddy_ddsketch_add(struct eddy_ddsketch *s, double x)
{
    if (!isfinite(x))
        return EDDY_EINVAL;
    eddy_err_t err = EDDY_OK;
    if (x >= EDDY_DDSKETCH_MIN_INDEXABLE)
        err = pos_add(s, value_index(x));
    else if (x <= -EDDY_DDSKETCH_MIN_INDEXABLE)
        err = store_add(&s->neg, value_index(-x));
    else
        s->zero++;
    if (err)
        return err;
    if (s->count == 0 || x < s->min)
        s->min = x;
    if (s->count == 0 || x > s->max)
        s->max = x;
    s->count++;
    return EDDY_OK;
}

static void store_merge(struct store *dst, const struct store *src)
{
    for (int32_t i = src->lo; src->total && i <= src->hi; i++) {
        uint64_t n = src->bins[i - src->offset];
        if (n)
            store_put(dst, i, n);
    }
    dst->collapsed |= src->collapsed;
}

eddy_err_t eddy_ddsketch_merge(struct eddy_ddsketch *dst, const struct eddy_ddsketch *src)
{
    eddy_err_t err = EDDY_OK;
    if (src->count == 0)
        return EDDY_OK;
    /* the positive values of dst stay small when those of src fit along */
    bool small = !dst->pos.cap && !src->pos.total &&
                 (!src->n_small || small_fits(dst, src->n_small, src->small_lo, src->small_hi));
    /* grow both stores before touching any count: failure adds nothing (a
     * densified dst has the same counts) */
    if (!small) {
        if ((err = densify(dst, src->small, src->n_small)))
            return err;
        if (src->pos.total && (err = store_extend(&dst->pos, src->pos.lo, src->pos.hi)))
            return err;
    }
    if (src->neg.total && (err = store_extend(&dst->neg, src->neg.lo, src->neg.hi)))
        return err;
    if (small) {
        small_put(dst, src->small, src->n_small, src->small_lo, src->small_hi);
    } else {
        for (uint32_t i = 0; i < src->n_small; i++)
            store_put(&dst->pos, src->small[i], 1);
        store_merge(&dst->pos, &src->pos);
    }
    store_merge(&dst->neg, &src->neg);
    dst->zero += src->zero;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    return EDDY_OK;
}

uint64_t eddy_ddsketch_count(const struct eddy_ddsketch *s)
{
    return s->count;
}

bool eddy_ddsketch_collapsed(const struct eddy_ddsketch *s)
{
    return s->pos.collapsed || s->neg.collapsed;
}

static double rank_value(const struct eddy_ddsketch *s, uint64_t rank)
{
    uint64_t seen = 0;
    const struct store *neg = &s->neg, *pos = &s->pos;
    /* ascending values: negatives from the largest magnitude, zero, positives */
    for (int32_t i = neg->hi; neg->total && i >= neg->lo; i--) {
        seen += neg->bins[i - neg->offset];
        if (seen > rank)
            return -index_value(i);
    }
    seen += s->zero;
    if (seen > rank)
        return 0.0;
    if (s->n_small) {
        int32_t sorted[SMALL_MAX];
        small_sorted(s, sorted);
        return index_value(sorted[rank - seen]); /* rank < count */
    }
    for (int32_t i = pos->lo; pos->total && i <= pos->hi; i++) {
        seen += pos->bins[i - pos->offset];
        if (seen > rank)
            return index_value(i);
    }
    return s->max; /* unreachable: the counts sum to count */
}

double eddy_ddsketch_quantile(const struct eddy_ddsketch *s, double q)
{
    if (s->count == 0 || !(q >= 0.0 && q <= 1.0))
        return NAN;
    if (q == 0.0)
        return s->min;
    if (q == 1.0)
        return s->max;
    uint64_t rank = (uint64_t)floor(q * (double)(s->count - 1));
    if (rank > s->count - 1)
        rank = s->count - 1;
    double v = rank_value(s, rank);
    return v < s->min ? s->min : v > s->max ? s->max : v;
}

size_t eddy_ddsketch_memory(const struct eddy_ddsketch *s)
{
    return sizeof *s + ((size_t)s->pos.cap + s->neg.cap) * sizeof(uint64_t);
}

static void store_encode(const struct store *st, struct eddy_buf *out)
{
    if (!st->total) {
        eddy__varint_put_u(out, 0);
        return;
    }
    eddy__varint_put_u(out, (uint64_t)(st->hi - st->lo + 1));
    eddy__varint_put_s(out, st->lo);
    for (int32_t i = st->lo; i <= st->hi; i++)
        eddy__varint_put_u(out, st->bins[i - st->offset]);
}

/* store_encode of the positive store the small indices would make. */
static void small_encode(const struct eddy_ddsketch *s, struct eddy_buf *out)
{
    int32_t sorted[SMALL_MAX];
    small_sorted(s, sorted);
    int32_t lo = s->small_lo, hi = s->small_hi;
    eddy__varint_put_u(out, (uint64_t)(hi - lo + 1));
    eddy__varint_put_s(out, lo);
    uint32_t k = 0;
    for (int32_t i = lo; i <= hi; i++) {
        uint64_t n = 0;
        for (; k < s->n_small && sorted[k] == i; k++)
            n++;
        eddy__varint_put_u(out, n);
    }
}

eddy_err_t eddy_ddsketch_encode(const struct eddy_ddsketch *s, struct eddy_buf *out)
{
    uint8_t head[2] = {FORMAT_VERSION,
                       (uint8_t)((s->pos.collapsed ? 1 : 0) | (s->neg.collapsed ? 2 : 0))};
    eddy_buf_append(out, head, sizeof head);
    eddy__varint_put_u(out, s->zero);
    if (s->n_small)
        small_encode(s, out);
    else
        store_encode(&s->pos, out);
    store_encode(&s->neg, out);
    if (s->count) {
        eddy__varint_put_f64(out, s->min);
        eddy__varint_put_f64(out, s->max);
    }
    return eddy_buf_err(out);
}

static eddy_err_t store_decode(struct store *st, const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t nbins;
    int64_t first;
    if (!eddy__varint_get_u(p, len, pos, &nbins) || nbins > EDDY_DDSKETCH_MAX_BINS)
        return EDDY_EPARSE;
    if (nbins == 0)
        return EDDY_OK;
    /* first + nbins - 1 <= max_index(), written so that it cannot overflow */
    if (!eddy__varint_get_s(p, len, pos, &first) || first < min_index() ||
        first > max_index() - ((int64_t)nbins - 1))
        return EDDY_EPARSE;
    /* every count takes at least one byte: reject before allocating */
    if (len - *pos < nbins)
        return EDDY_EPARSE;
    uint32_t cap = cap_for(0, (int64_t)nbins);
    st->bins = eddy_calloc(cap, sizeof *st->bins);
    if (!st->bins)
        return EDDY_ENOMEM;
    st->cap = cap;
    st->offset = (int32_t)first;
    st->lo = (int32_t)first;
    st->hi = (int32_t)(first + (int64_t)nbins - 1);
    for (uint64_t k = 0; k < nbins; k++) {
        uint64_t n;
        if (!eddy__varint_get_u(p, len, pos, &n) || n > UINT64_MAX - st->total)
            return EDDY_EPARSE;
        if (n == 0 && (k == 0 || k == nbins - 1))
            return EDDY_EPARSE; /* not canonical */
        st->bins[k] = n;
        st->total += n;
    }
    return EDDY_OK;
}

/* Checks what the stores imply about min and max. */
static bool extremes_valid(const struct eddy_ddsketch *s)
{
    if (!isfinite(s->min) || !isfinite(s->max) || s->min > s->max)
        return false;
    if (s->neg.total ? !(s->min <= -EDDY_DDSKETCH_MIN_INDEXABLE)
                     : !(s->min > -EDDY_DDSKETCH_MIN_INDEXABLE))
        return false;
    if (s->pos.total ? !(s->max >= EDDY_DDSKETCH_MIN_INDEXABLE)
                     : !(s->max < EDDY_DDSKETCH_MIN_INDEXABLE))
        return false;
    return true;
}

eddy_err_t eddy_ddsketch_decode(struct eddy_ddsketch **out, const uint8_t *p, size_t len,
                                size_t *used)
{
    eddy_err_t err = EDDY_EPARSE;
    size_t pos = 0;
    uint8_t version, flags;
    struct eddy_ddsketch *s = NULL;
    *out = NULL;
    if (!eddy__varint_get_byte(p, len, &pos, &version) || version != FORMAT_VERSION ||
        !eddy__varint_get_byte(p, len, &pos, &flags) || (flags & ~3u))
        goto out;
    if (!(s = eddy_ddsketch_new())) {
        err = EDDY_ENOMEM;
        goto out;
    }
    s->pos.collapsed = flags & 1;
    s->neg.collapsed = (flags & 2) != 0;
    if (!eddy__varint_get_u(p, len, &pos, &s->zero))
        goto out;
    if ((err = store_decode(&s->pos, p, len, &pos)) || (err = store_decode(&s->neg, p, len, &pos)))
        goto out;
    err = EDDY_EPARSE;
    if ((s->pos.collapsed && !s->pos.total) || (s->neg.collapsed && !s->neg.total))
        goto out;
    if (s->pos.total > UINT64_MAX - s->neg.total ||
        s->zero > UINT64_MAX - s->pos.total - s->neg.total)
        goto out;
    s->count = s->zero + s->pos.total + s->neg.total;
    if (s->count && (!eddy__varint_get_f64(p, len, &pos, &s->min) ||
                     !eddy__varint_get_f64(p, len, &pos, &s->max) || !extremes_valid(s)))
        goto out;
    *out = s;
    s = NULL;
    *used = pos;
    err = EDDY_OK;
out:
    eddy_ddsketch_free(s);
    return err;
}
