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

struct eddy_ddsketch {
    struct store pos, neg;
    uint64_t zero;
    uint64_t count;
    double min, max;
};

static int32_t value_index(double x)
{
    return (int32_t)ceil(log(x) * INV_LOG_GAMMA);
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

eddy_err_t eddy_ddsketch_add(struct eddy_ddsketch *s, double x)
{
    if (!isfinite(x))
        return EDDY_EINVAL;
    eddy_err_t err = EDDY_OK;
    if (x >= EDDY_DDSKETCH_MIN_INDEXABLE)
        err = store_add(&s->pos, value_index(x));
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
    /* grow both stores before touching any count: failure adds nothing */
    if (src->pos.total && (err = store_extend(&dst->pos, src->pos.lo, src->pos.hi)))
        return err;
    if (src->neg.total && (err = store_extend(&dst->neg, src->neg.lo, src->neg.hi)))
        return err;
    store_merge(&dst->pos, &src->pos);
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

eddy_err_t eddy_ddsketch_encode(const struct eddy_ddsketch *s, struct eddy_buf *out)
{
    uint8_t head[2] = {FORMAT_VERSION,
                       (uint8_t)((s->pos.collapsed ? 1 : 0) | (s->neg.collapsed ? 2 : 0))};
    eddy_buf_append(out, head, sizeof head);
    eddy__varint_put_u(out, s->zero);
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
