/*
 * acc.c - per-metric accumulators; see acc.h for the semantics of each kind,
 * the results and the encoding.
 *
 * Invariants: SUM/AVG keep isum == 0 once overflow is set (so the encoding
 * is canonical); MIN/MAX keep v == (double)i when is_int; ARG_MAX/ARG_MIN
 * keep a normalised field (agg/topk.h), a STR's bytes owned, and field_type
 * EDDY_V_NULL exactly when empty.
 */
#include "agg/acc.h"

#include <math.h>
#include <string.h>

#include "agg/ddsketch.h"
#include "agg/hll.h"
#include "agg/topk.h"
#include "agg/num.h"
#include "agg/varint.h"
#include "core/alloc.h"
#include "core/hash.h"


/* ARG_MAX/ARG_MIN fit in the union of the other kinds: rows do not grow */
_Static_assert(sizeof(struct eddy_acc) <= 32, "an accumulator is at most 32 bytes");

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

/* Compares the number (a_int, ai, ad) with (b_int, bi, bd): ints by ai,
 * doubles by ad, an int with a double exactly. */
static int cmp_numbers(bool a_int, int64_t ai, double ad, bool b_int, int64_t bi, double bd)
{
    if (a_int && b_int)
        return ai < bi ? -1 : ai > bi;
    if (!a_int && !b_int)
        return ad < bd ? -1 : ad > bd;
    if (a_int)
        return eddy__cmp_int_num(ai, bd);
    return -eddy__cmp_int_num(bi, ad);
}

/* Compares the candidate (is_int, i, d) with the current extreme. */
static int cmp_extreme(bool is_int, int64_t i, double d, const struct eddy_acc *acc)
{
    return cmp_numbers(is_int, i, d, acc->u.minmax.is_int, acc->u.minmax.i, acc->u.minmax.v);
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
        if (d >= -EDDY_TWO_63 && d < EDDY_TWO_63 && d == trunc(d)) {
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

/* ---- TOP_K, TOP_K_BY ---- */

static eddy_err_t topk_add(struct eddy_acc *acc, bool weighted, const struct eddy_value *value,
                           double weight)
{
    struct eddy_value norm;
    if (!eddy__topk_value_normalise(value, &norm))
        return EDDY_OK; /* no summary for nothing */
    bool fresh = acc->u.top_k == NULL;
    if (fresh && !(acc->u.top_k = eddy__topk_new(weighted)))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy__topk_add(acc->u.top_k, &norm, weight);
    if (err && fresh) {
        eddy__topk_free(acc->u.top_k);
        acc->u.top_k = NULL;
    }
    return err;
}

/* The weight of TOP_K_BY: a finite number >= 0. */
static bool weight_arg(const struct eddy_value *w, double *out)
{
    bool is_int;
    int64_t i;
    return numeric_arg(w, &is_int, &i, out) && *out >= 0;
}

static eddy_err_t topk_merge(struct eddy_acc *dst, const struct eddy_acc *src, bool weighted)
{
    if (!src->u.top_k)
        return EDDY_OK;
    bool fresh = dst->u.top_k == NULL;
    if (fresh && !(dst->u.top_k = eddy__topk_new(weighted)))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy__topk_merge(dst->u.top_k, src->u.top_k);
    if (err && fresh) {
        eddy__topk_free(dst->u.top_k);
        dst->u.top_k = NULL;
    }
    return err;
}

/* ---- ARG_MAX, ARG_MIN ---- */

static struct eddy_value arg_field(const struct eddy_acc *acc)
{
    struct eddy_value v = {.type = acc->u.arg.field_type};
    switch (v.type) {
    case EDDY_V_BOOL: v.as.b = acc->u.arg.field.b; break;
    case EDDY_V_INT: v.as.i = acc->u.arg.field.i; break;
    case EDDY_V_NUM: v.as.n = acc->u.arg.field.n; break;
    case EDDY_V_STR: v.as.s = (struct eddy_str){acc->u.arg.field.s, acc->u.arg.field_len}; break;
    default: break;
    }
    return v;
}

static void arg_clear(struct eddy_acc *acc)
{
    if (acc->u.arg.field_type == EDDY_V_STR)
        eddy_free((char *)acc->u.arg.field.s);
    memset(&acc->u.arg, 0, sizeof acc->u.arg);
}

/* Takes (is_int, i, d) with the normalised @field when it beats the current
 * extreme, or equals it with a smaller field. EDDY_ENOMEM leaves @acc as it
 * was. */
static eddy_err_t arg_add(struct eddy_acc *acc, bool want_max, bool is_int, int64_t i, double d,
                          const struct eddy_value *field)
{
    if (acc->u.arg.field_type != EDDY_V_NULL) {
        int c =
            cmp_numbers(is_int, i, d, acc->u.arg.best_is_int, acc->u.arg.best.i, acc->u.arg.best.d);
        if (want_max ? c < 0 : c > 0)
            return EDDY_OK;
        struct eddy_value current = arg_field(acc);
        if (c == 0 && eddy__topk_value_cmp(field, &current) >= 0)
            return EDDY_OK; /* ties keep the smallest field, whatever the order */
    }
    char *copy = NULL;
    if (field->type == EDDY_V_STR) {
        if (!(copy = eddy_malloc(field->as.s.len ? field->as.s.len : 1)))
            return EDDY_ENOMEM;
        if (field->as.s.len)
            memcpy(copy, field->as.s.ptr, field->as.s.len);
    }
    arg_clear(acc);
    acc->u.arg.best_is_int = is_int;
    if (is_int)
        acc->u.arg.best.i = i;
    else
        acc->u.arg.best.d = d;
    acc->u.arg.field_type = field->type;
    switch (field->type) {
    case EDDY_V_BOOL: acc->u.arg.field.b = field->as.b; break;
    case EDDY_V_INT: acc->u.arg.field.i = field->as.i; break;
    case EDDY_V_NUM: acc->u.arg.field.n = field->as.n; break;
    default:
        acc->u.arg.field.s = copy;
        acc->u.arg.field_len = field->as.s.len;
        break;
    }
    return EDDY_OK;
}

static eddy_err_t arg_update(struct eddy_acc *acc, bool want_max, const struct eddy_value *value,
                             const struct eddy_value *field)
{
    bool is_int;
    int64_t i;
    double d;
    struct eddy_value norm;
    if (!numeric_arg(value, &is_int, &i, &d) || !eddy__topk_value_normalise(field, &norm))
        return EDDY_OK;
    return arg_add(acc, want_max, is_int, i, d, &norm);
}

static eddy_err_t arg_merge(struct eddy_acc *dst, const struct eddy_acc *src, bool want_max)
{
    if (src->u.arg.field_type == EDDY_V_NULL)
        return EDDY_OK;
    struct eddy_value field = arg_field(src);
    return arg_add(dst, want_max, src->u.arg.best_is_int, src->u.arg.best.i,
                   src->u.arg.best_is_int ? (double)src->u.arg.best.i : src->u.arg.best.d, &field);
}

eddy_err_t eddy_acc_update(struct eddy_acc *acc, enum eddy_metric_kind kind,
                           const struct eddy_value *arg)
{
    return eddy_acc_update_pair(acc, kind, arg, NULL);
}

eddy_err_t eddy__acc_update_other(struct eddy_acc *acc, enum eddy_metric_kind kind,
                                  const struct eddy_value *arg, const struct eddy_value *arg2)
{
    bool is_int;
    int64_t i;
    double d;
    uint64_t hash;
    switch (kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF:
    case EDDY_M_RATIO: return eddy_acc_update_pair(acc, kind, arg, arg2); /* inlined there */
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
    case EDDY_M_TOP_K: return topk_add(acc, false, arg, 1.0);
    case EDDY_M_TOP_K_BY: return weight_arg(arg2, &d) ? topk_add(acc, true, arg, d) : EDDY_OK;
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN: return arg_update(acc, kind == EDDY_M_ARG_MAX, arg, arg2);
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
    case EDDY_M_TOP_K:
    case EDDY_M_TOP_K_BY: return topk_merge(dst, src, kind == EDDY_M_TOP_K_BY);
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN: return arg_merge(dst, src, kind == EDDY_M_ARG_MAX);
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
    case EDDY_M_TOP_K:
    case EDDY_M_TOP_K_BY: {
        const char *json = "[]";
        size_t len = 2;
        size_t k = q >= 1 && q <= EDDY_TOPK_MAX_K ? (size_t)q : EDDY_TOPK_MAX_K;
        if (acc->u.top_k && eddy__topk_json(acc->u.top_k, k, &json, &len, &err))
            break; /* out of memory: null */
        *out = (struct eddy_value){.type = EDDY_V_JSON, .as.s = {json, (uint32_t)len}};
        break;
    }
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN: *out = arg_field(acc); break;
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
    else if (kind == EDDY_M_TOP_K || kind == EDDY_M_TOP_K_BY)
        eddy__topk_free(acc->u.top_k);
    else if (kind == EDDY_M_ARG_MAX || kind == EDDY_M_ARG_MIN)
        arg_clear(acc);
    memset(acc, 0, sizeof *acc);
}

size_t eddy_acc_memory(const struct eddy_acc *acc, enum eddy_metric_kind kind)
{
    if (kind == EDDY_M_QUANTILE && acc->u.quantile)
        return eddy_ddsketch_memory(acc->u.quantile);
    if (kind == EDDY_M_DISTINCT && acc->u.distinct)
        return eddy_hll_memory(acc->u.distinct);
    if ((kind == EDDY_M_TOP_K || kind == EDDY_M_TOP_K_BY) && acc->u.top_k)
        return eddy__topk_memory(acc->u.top_k);
    if ((kind == EDDY_M_ARG_MAX || kind == EDDY_M_ARG_MIN) && acc->u.arg.field_type == EDDY_V_STR)
        return acc->u.arg.field_len + 16; /* with malloc overhead */
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
    case EDDY_M_TOP_K:
    case EDDY_M_TOP_K_BY:
        put_byte(out, acc->u.top_k ? 1 : 0);
        if (acc->u.top_k)
            return eddy__topk_encode(acc->u.top_k, out);
        break;
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN:
        if (acc->u.arg.field_type == EDDY_V_NULL) {
            put_byte(out, 0);
            break;
        }
        put_byte(out, acc->u.arg.best_is_int ? 1 : 2);
        if (acc->u.arg.best_is_int)
            eddy__varint_put_s(out, acc->u.arg.best.i);
        else
            eddy__varint_put_f64(out, acc->u.arg.best.d);
        {
            struct eddy_value field = arg_field(acc);
            eddy__topk_value_encode(&field, out);
        }
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

static eddy_err_t decode_arg(struct eddy_acc *acc, bool want_max, const uint8_t *p, size_t len,
                             size_t *pos)
{
    uint8_t tag;
    int64_t i = 0;
    double d = 0;
    struct eddy_value field;
    if (!eddy__varint_get_byte(p, len, pos, &tag) || tag > 2)
        return EDDY_EPARSE;
    if (tag == 0)
        return EDDY_OK;
    if (tag == 1 ? !eddy__varint_get_s(p, len, pos, &i)
                 : !eddy__varint_get_f64(p, len, pos, &d) || !isfinite(d))
        return EDDY_EPARSE;
    if (!eddy__topk_value_decode(p, len, pos, &field))
        return EDDY_EPARSE;
    return arg_add(acc, want_max, tag == 1, i, tag == 1 ? (double)i : d, &field);
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
    else if (kind == EDDY_M_DISTINCT)
        err = eddy_hll_decode(&acc->u.distinct, p + *pos, len - *pos, &used);
    else if (!(err = eddy__topk_decode(&acc->u.top_k, p + *pos, len - *pos, &used)) &&
             eddy__topk_weighted(acc->u.top_k) != (kind == EDDY_M_TOP_K_BY))
        err = EDDY_EPARSE; /* the other form */
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
    case EDDY_M_DISTINCT:
    case EDDY_M_TOP_K:
    case EDDY_M_TOP_K_BY: err = decode_sketch(acc, kind, p, len, &pos); break;
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN: err = decode_arg(acc, kind == EDDY_M_ARG_MAX, p, len, &pos); break;
    default: err = EDDY_EINVAL; break;
    }
    if (err) {
        eddy_acc_release(acc, kind);
        return err;
    }
    *used = pos;
    return EDDY_OK;
}
