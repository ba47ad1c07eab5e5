/*
 * hll.c - HyperLogLog with an exact small-set mode; see hll.h for the modes,
 * the estimator and the wire format.
 *
 * Invariants: registers != NULL <=> dense, and then exact == NULL,
 * n_exact == 0. In exact mode exact[0 .. n_exact) is strictly ascending,
 * n_exact <= cap_exact <= EDDY_HLL_EXACT_MAX.
 */
#include "agg/hll.h"

#include <math.h>
#include <string.h>

#include "agg/varint.h"
#include "core/alloc.h"

#define Q (64 - EDDY_HLL_PRECISION) /* hash bits left for the rank */
#define PACKED_BYTES (EDDY_HLL_REGISTERS / 4 * 3)
#define FORMAT_VERSION 1
#define MODE_EXACT 0
#define MODE_DENSE 1

struct eddy_hll {
    uint64_t *exact;
    uint32_t n_exact, cap_exact;
    uint8_t *registers;
};

struct eddy_hll *eddy_hll_new(void)
{
    return eddy_calloc(1, sizeof(struct eddy_hll));
}

void eddy_hll_free(struct eddy_hll *h)
{
    if (!h)
        return;
    eddy_free(h->exact);
    eddy_free(h->registers);
    eddy_free(h);
}

static inline void register_put(uint8_t *registers, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> Q);
    uint64_t rest = hash << EDDY_HLL_PRECISION;
    uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : Q + 1;
    if (rank > registers[idx])
        registers[idx] = rank;
}

/* Position of @hash in the exact array, or where it would be inserted.
 * Branchless (the comparisons of random hashes are unpredictable): the
 * answer stays in [base, base + n]. */
static uint32_t exact_find(const struct eddy_hll *h, uint64_t hash)
{
    const uint64_t *base = h->exact;
    uint32_t n = h->n_exact;
    if (n == 0)
        return 0;
    while (n > 1) {
        uint32_t half = n / 2;
        base = base[half] < hash ? base + half : base;
        n -= half;
    }
    return (uint32_t)(base - h->exact) + (*base < hash);
}

/* Switches to dense with the exact hashes plus @extra (n_extra of them). */
static eddy_err_t make_dense(struct eddy_hll *h, const uint64_t *extra, uint32_t n_extra)
{
    uint8_t *registers = eddy_calloc(EDDY_HLL_REGISTERS, 1);
    if (!registers)
        return EDDY_ENOMEM;
    for (uint32_t i = 0; i < h->n_exact; i++)
        register_put(registers, h->exact[i]);
    for (uint32_t i = 0; i < n_extra; i++)
        register_put(registers, extra[i]);
    eddy_free(h->exact);
    h->exact = NULL;
    h->n_exact = h->cap_exact = 0;
    h->registers = registers;
    return EDDY_OK;
}

eddy_err_t eddy_hll_add_hash(struct eddy_hll *h, uint64_t hash)
{
    if (h->registers) {
        register_put(h->registers, hash);
        return EDDY_OK;
    }
    uint32_t at = exact_find(h, hash);
    if (at < h->n_exact && h->exact[at] == hash)
        return EDDY_OK;
    if (h->n_exact == EDDY_HLL_EXACT_MAX)
        return make_dense(h, &hash, 1);
    if (h->n_exact == h->cap_exact) {
        uint32_t cap = h->cap_exact ? h->cap_exact * 2 : 4;
        uint64_t *exact = eddy_realloc(h->exact, cap * sizeof *exact);
        if (!exact)
            return EDDY_ENOMEM;
        h->exact = exact;
        h->cap_exact = cap;
    }
    memmove(h->exact + at + 1, h->exact + at, (h->n_exact - at) * sizeof *h->exact);
    h->exact[at] = hash;
    h->n_exact++;
    return EDDY_OK;
}

static uint32_t union_size(const struct eddy_hll *a, const struct eddy_hll *b)
{
    uint32_t i = 0, j = 0, n = 0;
    while (i < a->n_exact && j < b->n_exact) {
        uint64_t x = a->exact[i], y = b->exact[j];
        i += x <= y;
        j += y <= x;
        n++;
    }
    return n + (a->n_exact - i) + (b->n_exact - j);
}

static eddy_err_t merge_exact(struct eddy_hll *dst, const struct eddy_hll *src)
{
    uint32_t n = union_size(dst, src);
    if (n > EDDY_HLL_EXACT_MAX)
        return make_dense(dst, src->exact, src->n_exact);
    if (n == dst->n_exact)
        return EDDY_OK; /* src is a subset */
    uint32_t cap = 4;
    while (cap < n)
        cap *= 2;
    uint64_t *merged = eddy_malloc(cap * sizeof *merged);
    if (!merged)
        return EDDY_ENOMEM;
    uint32_t i = 0, j = 0, k = 0;
    while (i < dst->n_exact || j < src->n_exact) {
        if (j == src->n_exact || (i < dst->n_exact && dst->exact[i] < src->exact[j]))
            merged[k++] = dst->exact[i++];
        else if (i == dst->n_exact || src->exact[j] < dst->exact[i])
            merged[k++] = src->exact[j++];
        else {
            merged[k++] = dst->exact[i++];
            j++;
        }
    }
    eddy_free(dst->exact);
    dst->exact = merged;
    dst->n_exact = n;
    dst->cap_exact = cap;
    return EDDY_OK;
}

eddy_err_t eddy_hll_merge(struct eddy_hll *dst, const struct eddy_hll *src)
{
    if (!src->registers && !dst->registers)
        return merge_exact(dst, src);
    if (!src->registers) {
        for (uint32_t i = 0; i < src->n_exact; i++)
            register_put(dst->registers, src->exact[i]);
        return EDDY_OK;
    }
    if (!dst->registers) {
        eddy_err_t err = make_dense(dst, NULL, 0);
        if (err)
            return err;
    }
    for (uint32_t i = 0; i < EDDY_HLL_REGISTERS; i++)
        if (src->registers[i] > dst->registers[i])
            dst->registers[i] = src->registers[i];
    return EDDY_OK;
}

static double sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

static double tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

static double dense_estimate(const uint8_t *registers)
{
    uint32_t hist[Q + 2] = {0};
    for (uint32_t i = 0; i < EDDY_HLL_REGISTERS; i++)
        hist[registers[i]]++;
    const double m = EDDY_HLL_REGISTERS;
    double z = m * tau(1.0 - hist[Q + 1] / m);
    for (int k = Q; k >= 1; k--)
        z = 0.5 * (z + hist[k]);
    z += m * sigma(hist[0] / m);
    return m * m * (0.5 / M_LN2) / z;
}

uint64_t eddy_hll_estimate(const struct eddy_hll *h)
{
    if (!h->registers)
        return h->n_exact;
    return (uint64_t)llround(dense_estimate(h->registers));
}

bool eddy_hll_is_exact(const struct eddy_hll *h)
{
    return h->registers == NULL;
}

double eddy_hll_std_error(const struct eddy_hll *h)
{
    return h->registers ? EDDY_HLL_STD_ERROR : 0.0;
}

size_t eddy_hll_memory(const struct eddy_hll *h)
{
    return sizeof *h + (h->registers ? EDDY_HLL_REGISTERS : h->cap_exact * sizeof(uint64_t));
}

eddy_err_t eddy_hll_encode(const struct eddy_hll *h, struct eddy_buf *out)
{
    uint8_t head[2] = {FORMAT_VERSION, h->registers ? MODE_DENSE : MODE_EXACT};
    eddy_buf_append(out, head, sizeof head);
    if (!h->registers) {
        eddy__varint_put_u(out, h->n_exact);
        for (uint32_t i = 0; i < h->n_exact; i++)
            eddy__varint_put_u(out, i ? h->exact[i] - h->exact[i - 1] : h->exact[0]);
        return eddy_buf_err(out);
    }
    if (!eddy_buf_reserve(out, PACKED_BYTES))
        return EDDY_ENOMEM;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    const uint8_t *r = h->registers;
    for (uint32_t i = 0; i < EDDY_HLL_REGISTERS; i += 4, dst += 3) {
        uint32_t word =
            r[i] | (uint32_t)r[i + 1] << 6 | (uint32_t)r[i + 2] << 12 | (uint32_t)r[i + 3] << 18;
        dst[0] = (uint8_t)word;
        dst[1] = (uint8_t)(word >> 8);
        dst[2] = (uint8_t)(word >> 16);
    }
    out->len += PACKED_BYTES;
    out->data[out->len] = '\0';
    return EDDY_OK;
}

static eddy_err_t decode_exact(struct eddy_hll *h, const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t n;
    if (!eddy__varint_get_u(p, len, pos, &n) || n > EDDY_HLL_EXACT_MAX || len - *pos < n)
        return EDDY_EPARSE;
    if (n == 0)
        return EDDY_OK;
    uint32_t cap = 4;
    while (cap < n)
        cap *= 2;
    if (!(h->exact = eddy_malloc(cap * sizeof *h->exact)))
        return EDDY_ENOMEM;
    h->cap_exact = cap;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v;
        if (!eddy__varint_get_u(p, len, pos, &v))
            return EDDY_EPARSE;
        if (i > 0) {
            if (v == 0 || v > UINT64_MAX - h->exact[i - 1])
                return EDDY_EPARSE;
            v += h->exact[i - 1];
        }
        h->exact[i] = v;
        h->n_exact = i + 1;
    }
    return EDDY_OK;
}

static eddy_err_t decode_dense(struct eddy_hll *h, const uint8_t *p, size_t len, size_t *pos)
{
    if (len - *pos < PACKED_BYTES)
        return EDDY_EPARSE;
    if (!(h->registers = eddy_malloc(EDDY_HLL_REGISTERS)))
        return EDDY_ENOMEM;
    const uint8_t *src = p + *pos;
    for (uint32_t i = 0; i < EDDY_HLL_REGISTERS; i += 4, src += 3) {
        uint32_t word = src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16;
        for (uint32_t k = 0; k < 4; k++) {
            uint8_t r = (word >> (6 * k)) & 63;
            if (r > Q + 1)
                return EDDY_EPARSE;
            h->registers[i + k] = r;
        }
    }
    *pos += PACKED_BYTES;
    return EDDY_OK;
}

eddy_err_t eddy_hll_decode(struct eddy_hll **out, const uint8_t *p, size_t len, size_t *used)
{
    eddy_err_t err = EDDY_EPARSE;
    size_t pos = 0;
    uint8_t version, mode;
    struct eddy_hll *h = NULL;
    *out = NULL;
    if (!eddy__varint_get_byte(p, len, &pos, &version) || version != FORMAT_VERSION ||
        !eddy__varint_get_byte(p, len, &pos, &mode) || mode > MODE_DENSE)
        goto out;
    if (!(h = eddy_hll_new())) {
        err = EDDY_ENOMEM;
        goto out;
    }
    err = mode == MODE_EXACT ? decode_exact(h, p, len, &pos) : decode_dense(h, p, len, &pos);
    if (err)
        goto out;
    *out = h;
    h = NULL;
    *used = pos;
out:
    eddy_hll_free(h);
    return err;
}
