/*
 * acc.c - per-metric accumulators; see acc.h for the semantics of each kind,
 * the results and the encoding.
 *
 * Invariants: SUM/AVG keep isum == 0 once overflow is set (so the encoding
 * is canonical); MIN/MAX keep v == (double)i when is_int.
 */
#include "agg/acc.h"

#include <math.h>
#include <string.h>

#include "agg/ddsketch.h"
#include "agg/hll.h"
#include "agg/varint.h"
#include "core/hash.h"

#define TWO_63 9223372036854775808.0

void eddy_acc_init(struct eddy_acc *acc)
{
    memset(acc, 0, sizeof *acc);
}

/* Numeric argument: INT, or a finite NUM. */
static bool numeric_arg(const struct eddy_value *arg, bool *is_int, int64_t *i, double *d)
{
    if (!arg)
        return false;
    if (arg->type == EDDY_V_INT) {
        *is_int = true;
        *i = arg->as.i;
        *d = (double)arg->as.i;
        return true;
    }
    if (arg->type == EDDY_V_NUM && isfinite(arg->as.n)) {
        *is_int = false;
        *i = 0;
        *d = arg->as.n;
        return true;
    }
    return false;
}

static void sum_add(struct eddy_acc *acc, bool is_int, int64_t i, double d)
{
    acc->u.sum.sum += d;
    acc->u.sum.n++;
    if (!is_int) {
        acc->u.sum.not_int = true;
        return;
    }
    if (!acc->u.sum.overflow && __builtin_add_overflow(acc->u.sum.isum, i, &acc->u.sum.isum)) {
        acc->u.sum.overflow = true;
        acc->u.sum.isum = 0;
    }
}

/* <0, 0, >0 as the integer @i is below, equal to, above the double @d. */
static int cmp_int_num(int64_t i, double d)
{
    if (d >= TWO_63)
        return -1;
    if (d < -TWO_63)
        return 1;
    int64_t t = (int64_t)d; /* exact: |d| < 2^63, truncated */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* Compares the candidate (is_int, i, d) with the current extreme. */
static int cmp_extreme(bool is_int, int64_t i, double d, const struct eddy_acc *acc)
{
    if (is_int && acc->u.minmax.is_int)
        return i < acc->u.minmax.i ? -1 : i > acc->u.minmax.i;
    if (!is_int && !acc->u.minmax.is_int)
        return d < acc->u.minmax.v ? -1 : d > acc->u.minmax.v;
    if (is_int)
        return cmp_int_num(i, acc->u.minmax.v);
    return -cmp_int_num(acc->u.minmax.i, d);
}

static void minmax_add(struct eddy_acc *acc, bool want_max, bool is_int, int64_t i, double d)
{
    if (acc->u.minmax.seen) {
        int c = cmp_extreme(is_int, i, d, acc);
        if (want_max ? c <= 0 : c >= 0)
            return; /* ties keep the first value */
    }
    acc->u.minmax.seen = true;
    acc->u.minmax.is_int = is_int;
    acc->u.minmax.i = i;
    acc->u.minmax.v = d;
}

static void put_le64(uint8_t *b, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(v >> (8 * k));
}

/* Hash of a DISTINCT argument; false when the value is ignored. */
static bool distinct_hash(const struct eddy_value *arg, uint64_t *hash)
{
    uint8_t bytes[8];
    double d;
    switch (arg ? arg->type : EDDY_V_NULL) {
    case EDDY_V_STR:
        *hash = eddy_hash64(arg->as.s.ptr, arg->as.s.len, EDDY_ACC_SEED_STR);
        return true;
    case EDDY_V_BOOL:
        bytes[0] = arg->as.b ? 1 : 0;
        *hash = eddy_hash64(bytes, 1, EDDY_ACC_SEED_BOOL);
        return true;
    case EDDY_V_INT:
        put_le64(bytes, (uint64_t)arg->as.i);
        *hash = eddy_hash64(bytes, 8, EDDY_ACC_SEED_INT);
        return true;
    case EDDY_V_NUM:
        d = arg->as.n;
        if (isnan(d))
            return false;
        if (d >= -TWO_63 && d < TWO_63 && d == trunc(d)) {
            put_le64(bytes, (uint64_t)(int64_t)d); /* also folds -0.0 into 0 */
            *hash = eddy_hash64(bytes, 8, EDDY_ACC_SEED_INT);
            return true;
        }
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_le64(bytes, bits);
        *hash = eddy_hash64(bytes, 8, EDDY_ACC_SEED_NUM);
        return true;
    default: return false;
    }
}

static eddy_err_t quantile_add(struct eddy_acc *acc, double d)
{
    bool fresh = acc->u.quantile == NULL;
    if (fresh && !(acc->u.quantile = eddy_ddsketch_new()))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy_ddsketch_add(acc->u.quantile, d);
    if (err && fresh) {
        eddy_ddsketch_free(acc->u.quantile);
        acc->u.quantile = NULL;
    }
    return err;
}

static eddy_err_t distinct_add(struct eddy_acc *acc, uint64_t hash)
{
    bool fresh = acc->u.distinct == NULL;
    if (fresh && !(acc->u.distinct = eddy_hll_new()))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy_hll_add_hash(acc->u.distinct, hash);
    if (err && fresh) {
        eddy_hll_free(acc->u.distinct);
        acc->u.distinct = NULL;
    }
    return err;
}

eddy_err_t eddy_acc_update(struct eddy_acc *acc, enum eddy_metric_kind kind,
                           const struct eddy_value *arg)
{
    bool is_int;
    int64_t i;
    double d;
    uint64_t hash;
    switch (kind) {
    case EDDY_M_COUNT: acc->u.count.n++; return EDDY_OK;
    case EDDY_M_COUNT_IF: acc->u.count.n += arg && eddy_value_truthy(arg); return EDDY_OK;
    case EDDY_M_RATIO:
        acc->u.ratio.total++;
        acc->u.ratio.hits += arg && eddy_value_truthy(arg);
        return EDDY_OK;
    case EDDY_M_SUM:
    case EDDY_M_AVG:
        if (numeric_arg(arg, &is_int, &i, &d))
            sum_add(acc, is_int, i, d);
        return EDDY_OK;
    case EDDY_M_MIN:
    case EDDY_M_MAX:
        if (numeric_arg(arg, &is_int, &i, &d))
            minmax_add(acc, kind == EDDY_M_MAX, is_int, i, d);
        return EDDY_OK;
    case EDDY_M_QUANTILE: return numeric_arg(arg, &is_int, &i, &d) ? quantile_add(acc, d) : EDDY_OK;
    case EDDY_M_DISTINCT: return distinct_hash(arg, &hash) ? distinct_add(acc, hash) : EDDY_OK;
    }
    return EDDY_EINVAL;
}

static void sum_merge(struct eddy_acc *dst, const struct eddy_acc *src)
{
    dst->u.sum.sum += src->u.sum.sum;
    dst->u.sum.n += src->u.sum.n;
    dst->u.sum.not_int |= src->u.sum.not_int;
    dst->u.sum.overflow |= src->u.sum.overflow;
    if (dst->u.sum.overflow ||
        __builtin_add_overflow(dst->u.sum.isum, src->u.sum.isum, &dst->u.sum.isum)) {
        dst->u.sum.overflow = true;
        dst->u.sum.isum = 0;
    }
}

/* The sketch kinds merge into a lazily allocated sketch: @dst gets a new one
 * when it has none, and loses it again when the merge fails. */
static eddy_err_t quantile_merge(struct eddy_acc *dst, const struct eddy_acc *src)
{
    if (!src->u.quantile)
        return EDDY_OK;
    bool fresh = dst->u.quantile == NULL;
    if (fresh && !(dst->u.quantile = eddy_ddsketch_new()))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy_ddsketch_merge(dst->u.quantile, src->u.quantile);
    if (err && fresh) {
        eddy_ddsketch_free(dst->u.quantile);
        dst->u.quantile = NULL;
    }
    return err;
}

static eddy_err_t distinct_merge(struct eddy_acc *dst, const struct eddy_acc *src)
{
    if (!src->u.distinct)
        return EDDY_OK;
    bool fresh = dst->u.distinct == NULL;
    if (fresh && !(dst->u.distinct = eddy_hll_new()))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy_hll_merge(dst->u.distinct, src->u.distinct);
    if (err && fresh) {
        eddy_hll_free(dst->u.distinct);
        dst->u.distinct = NULL;
    }
    return err;
}

eddy_err_t eddy_acc_merge(struct eddy_acc *dst, const struct eddy_acc *src,
                          enum eddy_metric_kind kind)
{
    switch (kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF: dst->u.count.n += src->u.count.n; return EDDY_OK;
    case EDDY_M_RATIO:
        dst->u.ratio.hits += src->u.ratio.hits;
        dst->u.ratio.total += src->u.ratio.total;
        return EDDY_OK;
    case EDDY_M_SUM:
    case EDDY_M_AVG: sum_merge(dst, src); return EDDY_OK;
    case EDDY_M_MIN:
    case EDDY_M_MAX:
        if (src->u.minmax.seen)
            minmax_add(dst, kind == EDDY_M_MAX, src->u.minmax.is_int, src->u.minmax.i,
                       src->u.minmax.v);
        return EDDY_OK;
    case EDDY_M_QUANTILE: return quantile_merge(dst, src);
    case EDDY_M_DISTINCT: return distinct_merge(dst, src);
    }
    return EDDY_EINVAL;
}

static struct eddy_value int_value(int64_t i)
{
    struct eddy_value v = {.type = EDDY_V_INT, .as.i = i};
    return v;
}

static struct eddy_value num_value(double n)
{
    struct eddy_value v = {.type = EDDY_V_NUM, .as.n = n};
    return v;
}

void eddy_acc_result(const struct eddy_acc *acc, enum eddy_metric_kind kind, double q,
                     struct eddy_value *out, double *error)
{
    double err = 0.0;
    *out = eddy_value_null();
    switch (kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF: *out = int_value((int64_t)acc->u.count.n); break;
    case EDDY_M_RATIO:
        if (acc->u.ratio.total)
            *out = num_value((double)acc->u.ratio.hits / (double)acc->u.ratio.total);
        break;
    case EDDY_M_SUM:
        if (acc->u.sum.not_int || acc->u.sum.overflow)
            *out = num_value(acc->u.sum.sum);
        else
            *out = int_value(acc->u.sum.isum);
        break;
    case EDDY_M_AVG:
        if (acc->u.sum.n == 0)
            break;
        *out = num_value(
            (acc->u.sum.not_int || acc->u.sum.overflow ? acc->u.sum.sum : (double)acc->u.sum.isum) /
            (double)acc->u.sum.n);
        break;
    case EDDY_M_MIN:
    case EDDY_M_MAX:
        if (acc->u.minmax.seen)
            *out = acc->u.minmax.is_int ? int_value(acc->u.minmax.i) : num_value(acc->u.minmax.v);
        break;
    case EDDY_M_QUANTILE:
        if (acc->u.quantile && eddy_ddsketch_count(acc->u.quantile)) {
            double v = eddy_ddsketch_quantile(acc->u.quantile, q);
            if (!isnan(v)) {
                *out = num_value(v);
                err = EDDY_DDSKETCH_ALPHA;
            }
        }
        break;
    case EDDY_M_DISTINCT:
        *out = int_value(acc->u.distinct ? (int64_t)eddy_hll_estimate(acc->u.distinct) : 0);
        err = acc->u.distinct ? eddy_hll_std_error(acc->u.distinct) : 0.0;
        break;
    }
    if (error)
        *error = err;
}

void eddy_acc_release(struct eddy_acc *acc, enum eddy_metric_kind kind)
{
    if (kind == EDDY_M_QUANTILE)
        eddy_ddsketch_free(acc->u.quantile);
    else if (kind == EDDY_M_DISTINCT)
        eddy_hll_free(acc->u.distinct);
    memset(acc, 0, sizeof *acc);
}

size_t eddy_acc_memory(const struct eddy_acc *acc, enum eddy_metric_kind kind)
{
    if (kind == EDDY_M_QUANTILE && acc->u.quantile)
        return eddy_ddsketch_memory(acc->u.quantile);
    if (kind == EDDY_M_DISTINCT && acc->u.distinct)
        return eddy_hll_memory(acc->u.distinct);
    return 0;
}

static void put_byte(struct eddy_buf *out, uint8_t b)
{
    eddy_buf_append(out, &b, 1);
}

eddy_err_t eddy_acc_encode(const struct eddy_acc *acc, enum eddy_metric_kind kind,
                           struct eddy_buf *out)
{
    switch (kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF: eddy__varint_put_u(out, acc->u.count.n); break;
    case EDDY_M_RATIO:
        eddy__varint_put_u(out, acc->u.ratio.hits);
        eddy__varint_put_u(out, acc->u.ratio.total);
        break;
    case EDDY_M_SUM:
    case EDDY_M_AVG:
        put_byte(out, (uint8_t)(acc->u.sum.not_int | acc->u.sum.overflow << 1));
        eddy__varint_put_u(out, acc->u.sum.n);
        eddy__varint_put_s(out, acc->u.sum.isum);
        eddy__varint_put_f64(out, acc->u.sum.sum);
        break;
    case EDDY_M_MIN:
    case EDDY_M_MAX:
        if (!acc->u.minmax.seen) {
            put_byte(out, 0);
        } else if (acc->u.minmax.is_int) {
            put_byte(out, 1);
            eddy__varint_put_s(out, acc->u.minmax.i);
        } else {
            put_byte(out, 2);
            eddy__varint_put_f64(out, acc->u.minmax.v);
        }
        break;
    case EDDY_M_QUANTILE:
        put_byte(out, acc->u.quantile ? 1 : 0);
        if (acc->u.quantile)
            return eddy_ddsketch_encode(acc->u.quantile, out);
        break;
    case EDDY_M_DISTINCT:
        put_byte(out, acc->u.distinct ? 1 : 0);
        if (acc->u.distinct)
            return eddy_hll_encode(acc->u.distinct, out);
        break;
    default: return EDDY_EINVAL;
    }
    return eddy_buf_err(out);
}

static eddy_err_t decode_sum(struct eddy_acc *acc, const uint8_t *p, size_t len, size_t *pos)
{
    uint8_t flags;
    if (!eddy__varint_get_byte(p, len, pos, &flags) || flags > 3 ||
        !eddy__varint_get_u(p, len, pos, &acc->u.sum.n) ||
        !eddy__varint_get_s(p, len, pos, &acc->u.sum.isum) ||
        !eddy__varint_get_f64(p, len, pos, &acc->u.sum.sum))
        return EDDY_EPARSE;
    acc->u.sum.not_int = flags & 1;
    acc->u.sum.overflow = (flags & 2) != 0;
    if (acc->u.sum.overflow && acc->u.sum.isum != 0)
        return EDDY_EPARSE;
    return EDDY_OK;
}

static eddy_err_t decode_minmax(struct eddy_acc *acc, const uint8_t *p, size_t len, size_t *pos)
{
    uint8_t tag;
    if (!eddy__varint_get_byte(p, len, pos, &tag) || tag > 2)
        return EDDY_EPARSE;
    if (tag == 0)
        return EDDY_OK;
    acc->u.minmax.seen = true;
    acc->u.minmax.is_int = tag == 1;
    if (tag == 1) {
        if (!eddy__varint_get_s(p, len, pos, &acc->u.minmax.i))
            return EDDY_EPARSE;
        acc->u.minmax.v = (double)acc->u.minmax.i;
        return EDDY_OK;
    }
    if (!eddy__varint_get_f64(p, len, pos, &acc->u.minmax.v) || !isfinite(acc->u.minmax.v))
        return EDDY_EPARSE;
    return EDDY_OK;
}

static eddy_err_t decode_sketch(struct eddy_acc *acc, enum eddy_metric_kind kind, const uint8_t *p,
                                size_t len, size_t *pos)
{
    uint8_t present;
    size_t used = 0;
    eddy_err_t err;
    if (!eddy__varint_get_byte(p, len, pos, &present) || present > 1)
        return EDDY_EPARSE;
    if (!present)
        return EDDY_OK;
    if (kind == EDDY_M_QUANTILE)
        err = eddy_ddsketch_decode(&acc->u.quantile, p + *pos, len - *pos, &used);
    else
        err = eddy_hll_decode(&acc->u.distinct, p + *pos, len - *pos, &used);
    *pos += used;
    return err;
}

eddy_err_t eddy_acc_decode(struct eddy_acc *acc, enum eddy_metric_kind kind, const uint8_t *p,
                           size_t len, size_t *used)
{
    eddy_err_t err = EDDY_EPARSE;
    size_t pos = 0;
    memset(acc, 0, sizeof *acc);
    switch (kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF:
        if (eddy__varint_get_u(p, len, &pos, &acc->u.count.n))
            err = EDDY_OK;
        break;
    case EDDY_M_RATIO:
        if (eddy__varint_get_u(p, len, &pos, &acc->u.ratio.hits) &&
            eddy__varint_get_u(p, len, &pos, &acc->u.ratio.total) &&
            acc->u.ratio.hits <= acc->u.ratio.total)
            err = EDDY_OK;
        break;
    case EDDY_M_SUM:
    case EDDY_M_AVG: err = decode_sum(acc, p, len, &pos); break;
    case EDDY_M_MIN:
    case EDDY_M_MAX: err = decode_minmax(acc, p, len, &pos); break;
    case EDDY_M_QUANTILE:
    case EDDY_M_DISTINCT: err = decode_sketch(acc, kind, p, len, &pos); break;
    default: err = EDDY_EINVAL; break;
    }
    if (err) {
        eddy_acc_release(acc, kind);
        return err;
    }
    *used = pos;
    return EDDY_OK;
}
