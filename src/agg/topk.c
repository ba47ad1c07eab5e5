/*
 * topk.c - the heavy-hitters summary of top_k; see topk.h for the semantics,
 * the bound, the error and the encoding.
 *
 * Layout: an array of entries (value, count), a linear-probing hash index
 * of entry positions (power-of-two size, at most half full; deletion by
 * backward shift), and, once the summary has been full, a binary min-heap
 * of entry positions ordered by eviction order (count ascending, then value
 * descending: the root is the entry that would come last in the output).
 *
 * Invariants: values are normalised (topk.h) and distinct; every count is
 * >= 0 and finite; in the count form counts, floor and total are integers;
 * heaped implies n == EDDY_TOPK_CAPACITY and heap/heap_pos describe a valid
 * heap of all entries; strings of entries are owned (eddy_malloc).
 */
#include "agg/topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agg/num.h"
#include "agg/varint.h"
#include "core/alloc.h"
#include "core/hash.h"

#define TWO_53 9007199254740992.0

struct entry {
    struct eddy_value value; /* a STR's bytes are owned */
    double count;
    uint64_t hash;
    uint32_t heap_pos;
    bool marked; /* merge scratch */
};

struct eddy_topk {
    bool weighted;
    bool heaped;
    uint32_t n, cap; /* entries used, allocated */
    struct entry *entries;
    uint32_t *index; /* entry position + 1; 0 = empty slot */
    uint32_t index_size;
    uint32_t *heap; /* EDDY_TOPK_CAPACITY positions once allocated */
    double floor, total;
    size_t string_bytes;
    struct eddy_buf json; /* the last rendering */
};

/* ---- values ---- */

bool eddy__topk_value_normalise(const struct eddy_value *v, struct eddy_value *out)
{
    switch (v ? v->type : EDDY_V_NULL) {
    case EDDY_V_BOOL:
    case EDDY_V_INT:
    case EDDY_V_STR: *out = *v; return true;
    case EDDY_V_NUM:
        if (!isfinite(v->as.n))
            return false;
        if (v->as.n >= -EDDY_TWO_63 && v->as.n < EDDY_TWO_63 && v->as.n == trunc(v->as.n)) {
            *out = (struct eddy_value){.type = EDDY_V_INT, .as.i = (int64_t)v->as.n};
            return true;
        }
        *out = *v;
        return true;
    default: return false;
    }
}

static int type_rank(uint8_t type)
{
    switch (type) {
    case EDDY_V_BOOL: return 1;
    case EDDY_V_INT:
    case EDDY_V_NUM: return 2;
    case EDDY_V_STR: return 3;
    default: return 0;
    }
}

int eddy__topk_value_cmp(const struct eddy_value *a, const struct eddy_value *b)
{
    int ra = type_rank(a->type), rb = type_rank(b->type);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case 1: return (int)a->as.b - (int)b->as.b;
    case 2:
        if (a->type == EDDY_V_INT && b->type == EDDY_V_INT)
            return (a->as.i > b->as.i) - (a->as.i < b->as.i);
        if (a->type == EDDY_V_NUM && b->type == EDDY_V_NUM)
            return (a->as.n > b->as.n) - (a->as.n < b->as.n);
        if (a->type == EDDY_V_INT)
            return eddy__cmp_int_num(a->as.i, b->as.n);
        return -eddy__cmp_int_num(b->as.i, a->as.n);
    case 3: {
        uint32_t l = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
        int c = l ? memcmp(a->as.s.ptr, b->as.s.ptr, l) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return (a->as.s.len > b->as.s.len) - (a->as.s.len < b->as.s.len);
    }
    default: return 0;
    }
}

/* Hash of a normalised value (in memory only: never persisted). */
static uint64_t value_hash(const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_STR: return eddy_hash64(v->as.s.ptr, v->as.s.len, 0x746f706b00000004ULL);
    case EDDY_V_INT: return eddy_hash_mix64((uint64_t)v->as.i ^ 0x746f706b00000002ULL);
    case EDDY_V_NUM: {
        uint64_t bits;
        memcpy(&bits, &v->as.n, 8);
        return eddy_hash_mix64(bits ^ 0x746f706b00000003ULL);
    }
    default: return eddy_hash_mix64((uint64_t)v->as.b ^ 0x746f706b00000001ULL);
    }
}

static bool value_eq(const struct eddy_value *a, const struct eddy_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case EDDY_V_STR:
        return a->as.s.len == b->as.s.len &&
               (a->as.s.len == 0 || memcmp(a->as.s.ptr, b->as.s.ptr, a->as.s.len) == 0);
    case EDDY_V_INT: return a->as.i == b->as.i;
    case EDDY_V_NUM: return a->as.n == b->as.n;
    default: return a->as.b == b->as.b;
    }
}

/* Output order: count descending, then value ascending. */
static int output_cmp(const struct entry *a, const struct entry *b)
{
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return eddy__topk_value_cmp(&a->value, &b->value);
}

static int output_cmp_ptr(const void *x, const void *y)
{
    return output_cmp(*(const struct entry *const *)x, *(const struct entry *const *)y);
}

/* ---- lifecycle ---- */

struct eddy_topk *eddy__topk_new(bool weighted)
{
    struct eddy_topk *tk = eddy_calloc(1, sizeof *tk);
    if (tk) {
        tk->weighted = weighted;
        eddy_buf_init(&tk->json);
    }
    return tk;
}

static void entry_release(struct eddy_topk *tk, struct entry *e)
{
    if (e->value.type == EDDY_V_STR) {
        tk->string_bytes -= e->value.as.s.len;
        eddy_free((char *)e->value.as.s.ptr);
    }
    e->value.type = EDDY_V_NULL;
}

void eddy__topk_free(struct eddy_topk *tk)
{
    if (!tk)
        return;
    for (uint32_t i = 0; i < tk->n; i++)
        entry_release(tk, &tk->entries[i]);
    eddy_free(tk->entries);
    eddy_free(tk->index);
    eddy_free(tk->heap);
    eddy_buf_release(&tk->json);
    eddy_free(tk);
}

bool eddy__topk_weighted(const struct eddy_topk *tk)
{
    return tk->weighted;
}

size_t eddy__topk_size(const struct eddy_topk *tk)
{
    return tk->n;
}

double eddy__topk_floor(const struct eddy_topk *tk)
{
    return tk->floor;
}

size_t eddy__topk_memory(const struct eddy_topk *tk)
{
    return sizeof *tk + (size_t)tk->cap * sizeof(struct entry) +
           (size_t)tk->index_size * sizeof(uint32_t) +
           (tk->heap ? EDDY_TOPK_CAPACITY * sizeof(uint32_t) : 0) + tk->string_bytes + tk->json.cap;
}

/* ---- hash index ---- */

static bool index_rebuild(struct eddy_topk *tk, uint32_t size)
{
    uint32_t *index = eddy_calloc(size, sizeof *index);
    if (!index)
        return false;
    eddy_free(tk->index);
    tk->index = index;
    tk->index_size = size;
    for (uint32_t i = 0; i < tk->n; i++) {
        uint32_t s = (uint32_t)tk->entries[i].hash & (size - 1);
        while (index[s])
            s = (s + 1) & (size - 1);
        index[s] = i + 1;
    }
    return true;
}

/* The index slot holding @v, or of the empty slot where it would go. */
static uint32_t index_find(const struct eddy_topk *tk, const struct eddy_value *v, uint64_t hash,
                           bool *found)
{
    uint32_t mask = tk->index_size - 1, s = (uint32_t)hash & mask;
    while (tk->index[s]) {
        const struct entry *e = &tk->entries[tk->index[s] - 1];
        if (e->hash == hash && value_eq(&e->value, v)) {
            *found = true;
            return s;
        }
        s = (s + 1) & mask;
    }
    *found = false;
    return s;
}

/* Empties slot @s, shifting later entries of its probe run back. */
static void index_remove(struct eddy_topk *tk, uint32_t s)
{
    uint32_t mask = tk->index_size - 1, j = s;
    for (;;) {
        tk->index[s] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!tk->index[j])
                return;
            uint32_t home = (uint32_t)tk->entries[tk->index[j] - 1].hash & mask;
            /* j's entry may move to s when its home is not in (s, j] */
            bool stays = s <= j ? (s < home && home <= j) : (s < home || home <= j);
            if (!stays)
                break;
        }
        tk->index[s] = tk->index[j];
        s = j;
    }
}

static bool reserve_entries(struct eddy_topk *tk, uint32_t extra);

/* Room for one more entry. */
static bool reserve_entry(struct eddy_topk *tk)
{
    return reserve_entries(tk, 1);
}

/* Copies @v (normalised) into @e; false when out of memory. */
static bool value_copy(struct eddy_topk *tk, struct eddy_value *dst, const struct eddy_value *v)
{
    *dst = *v;
    if (v->type != EDDY_V_STR)
        return true;
    char *s = eddy_malloc(v->as.s.len ? v->as.s.len : 1);
    if (!s)
        return false;
    if (v->as.s.len)
        memcpy(s, v->as.s.ptr, v->as.s.len);
    dst->as.s.ptr = s;
    tk->string_bytes += v->as.s.len;
    return true;
}

/* ---- eviction heap ---- */

/* Whether entry a is evicted before entry b. */
static bool evicts_first(const struct eddy_topk *tk, uint32_t a, uint32_t b)
{
    return output_cmp(&tk->entries[a], &tk->entries[b]) > 0;
}

static void heap_set(struct eddy_topk *tk, uint32_t pos, uint32_t entry)
{
    tk->heap[pos] = entry;
    tk->entries[entry].heap_pos = pos;
}

static void sift_down(struct eddy_topk *tk, uint32_t pos)
{
    uint32_t n = tk->n, entry = tk->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= n)
            break;
        if (child + 1 < n && evicts_first(tk, tk->heap[child + 1], tk->heap[child]))
            child++;
        if (!evicts_first(tk, tk->heap[child], entry))
            break;
        heap_set(tk, pos, tk->heap[child]);
        pos = child;
    }
    heap_set(tk, pos, entry);
}

static bool heap_build(struct eddy_topk *tk)
{
    if (!tk->heap && !(tk->heap = eddy_malloc(EDDY_TOPK_CAPACITY * sizeof *tk->heap)))
        return false;
    for (uint32_t i = 0; i < tk->n; i++)
        heap_set(tk, i, i);
    for (uint32_t i = tk->n / 2; i-- > 0;)
        sift_down(tk, i);
    tk->heaped = true;
    return true;
}

/* ---- updates ---- */

static bool weight_ok(double w)
{
    return isfinite(w) && w >= 0;
}

eddy_err_t eddy__topk_add(struct eddy_topk *tk, const struct eddy_value *value, double weight)
{
    struct eddy_value v;
    if (!eddy__topk_value_normalise(value, &v) || !weight_ok(weight))
        return EDDY_OK;
    if (!tk->weighted)
        weight = 1;
    uint64_t hash = value_hash(&v);
    bool found = false;
    uint32_t slot = tk->index_size ? index_find(tk, &v, hash, &found) : 0;
    if (found) {
        struct entry *e = &tk->entries[tk->index[slot] - 1];
        e->count += weight;
        tk->total += weight;
        tk->json.len = 0;
        if (tk->heaped && weight > 0)
            sift_down(tk, e->heap_pos);
        return EDDY_OK;
    }
    if (tk->n < EDDY_TOPK_CAPACITY) {
        struct entry e = {.count = tk->floor + weight, .hash = hash};
        if (!reserve_entry(tk) || !value_copy(tk, &e.value, &v))
            return EDDY_ENOMEM;
        slot = index_find(tk, &v, hash, &found); /* the index may have been rebuilt */
        tk->entries[tk->n] = e;
        tk->index[slot] = ++tk->n;
        tk->total += weight;
        tk->json.len = 0;
        return EDDY_OK;
    }
    /* full: Space-Saving replaces the entry that comes last in the output */
    if (!tk->heaped && !heap_build(tk))
        return EDDY_ENOMEM;
    struct eddy_value copy;
    if (!value_copy(tk, &copy, &v))
        return EDDY_ENOMEM;
    uint32_t victim = tk->heap[0];
    struct entry *e = &tk->entries[victim];
    bool old_found;
    index_remove(tk, index_find(tk, &e->value, e->hash, &old_found));
    if (e->count > tk->floor)
        tk->floor = e->count;
    entry_release(tk, e);
    e->value = copy;
    e->hash = hash;
    e->count = tk->floor + weight;
    tk->index[index_find(tk, &copy, hash, &found)] = victim + 1;
    tk->total += weight;
    tk->json.len = 0;
    sift_down(tk, 0);
    return EDDY_OK;
}

bool eddy__topk_count(const struct eddy_topk *tk, const struct eddy_value *value, double *count)
{
    struct eddy_value v;
    bool found = false;
    if (!tk->index_size || !eddy__topk_value_normalise(value, &v))
        return false;
    uint32_t slot = index_find(tk, &v, value_hash(&v), &found);
    if (found)
        *count = tk->entries[tk->index[slot] - 1].count;
    return found;
}

/* Entries in output order (an array of pointers the caller frees), NULL
 * when out of memory or empty. */
static const struct entry **sorted_entries(const struct eddy_topk *tk)
{
    if (tk->n == 0)
        return NULL;
    const struct entry **order = eddy_malloc((size_t)tk->n * sizeof *order);
    if (!order)
        return NULL;
    for (uint32_t i = 0; i < tk->n; i++)
        order[i] = &tk->entries[i];
    qsort(order, tk->n, sizeof *order, output_cmp_ptr);
    return order;
}

static int output_cmp_entries(const void *x, const void *y)
{
    return output_cmp(x, y);
}

/* Keeps the EDDY_TOPK_CAPACITY entries that come first in the output; the
 * floor becomes at least the largest count dropped. Sorts the entries in
 * place and rebuilds the index in place: never allocates. */
static void truncate_to_capacity(struct eddy_topk *tk)
{
    qsort(tk->entries, tk->n, sizeof *tk->entries, output_cmp_entries);
    if (tk->entries[EDDY_TOPK_CAPACITY].count > tk->floor)
        tk->floor = tk->entries[EDDY_TOPK_CAPACITY].count;
    for (uint32_t i = EDDY_TOPK_CAPACITY; i < tk->n; i++)
        entry_release(tk, &tk->entries[i]);
    tk->n = EDDY_TOPK_CAPACITY;
    memset(tk->index, 0, (size_t)tk->index_size * sizeof *tk->index);
    for (uint32_t i = 0; i < tk->n; i++) {
        uint32_t s = (uint32_t)tk->entries[i].hash & (tk->index_size - 1);
        while (tk->index[s])
            s = (s + 1) & (tk->index_size - 1);
        tk->index[s] = i + 1;
    }
}

/* Room for @extra more entries (array and index at most half full). */
static bool reserve_entries(struct eddy_topk *tk, uint32_t extra)
{
    uint32_t need = tk->n + extra;
    if (need > tk->cap) {
        uint32_t cap = tk->cap ? tk->cap : 8;
        while (cap < need)
            cap *= 2;
        struct entry *e = eddy_realloc(tk->entries, (size_t)cap * sizeof *e);
        if (!e)
            return false;
        tk->entries = e;
        tk->cap = cap;
    }
    uint32_t size = tk->index_size ? tk->index_size : 16;
    while (need * 2 > size)
        size *= 2;
    return size == tk->index_size || index_rebuild(tk, size);
}

/* Whether @dst holds @e's value. */
static bool holds(const struct eddy_topk *dst, const struct entry *e)
{
    bool found = false;
    if (dst->index_size)
        index_find(dst, &e->value, e->hash, &found);
    return found;
}

eddy_err_t eddy__topk_merge(struct eddy_topk *dst, const struct eddy_topk *src)
{
    if (dst->weighted != src->weighted)
        return EDDY_EINVAL;
    if (src->n == 0 && src->floor == 0 && src->total == 0)
        return EDDY_OK;
    /* stage the values new to dst past its entries, so that running out
     * of memory leaves dst as it was */
    uint32_t fresh = 0;
    for (uint32_t i = 0; i < src->n; i++)
        fresh += !holds(dst, &src->entries[i]);
    if (!reserve_entries(dst, fresh))
        return EDDY_ENOMEM;
    uint32_t staged = 0;
    for (uint32_t i = 0; i < src->n; i++) {
        const struct entry *s = &src->entries[i];
        if (holds(dst, s))
            continue;
        struct entry *e = &dst->entries[dst->n + staged];
        *e = (struct entry){.count = dst->floor + s->count, .hash = s->hash, .marked = true};
        if (!value_copy(dst, &e->value, &s->value)) {
            for (uint32_t j = 0; j < staged; j++)
                entry_release(dst, &dst->entries[dst->n + j]);
            return EDDY_ENOMEM;
        }
        staged++;
    }
    dst->heaped = false;
    dst->json.len = 0;
    uint32_t before = dst->n;
    for (uint32_t i = 0; i < before; i++)
        dst->entries[i].marked = false;
    for (uint32_t i = 0; i < src->n; i++) {
        const struct entry *s = &src->entries[i];
        bool found = false;
        uint32_t slot = index_find(dst, &s->value, s->hash, &found);
        if (found && dst->index[slot] <= before) {
            struct entry *e = &dst->entries[dst->index[slot] - 1];
            e->count += s->count;
            e->marked = true;
        } else if (!found) { /* staged, in src order */
            dst->index[slot] = ++dst->n;
        }
    }
    /* values of dst absent from src: at most src's floor there */
    for (uint32_t i = 0; i < before && src->floor > 0; i++)
        if (!dst->entries[i].marked)
            dst->entries[i].count += src->floor;
    dst->floor += src->floor;
    dst->total += src->total;
    if (dst->n > EDDY_TOPK_CAPACITY)
        truncate_to_capacity(dst);
    return EDDY_OK;
}

/* ---- results ---- */

static void value_json(struct eddy_buf *b, const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_STR: eddy_buf_json_str(b, v->as.s.ptr, v->as.s.len); break;
    case EDDY_V_INT: eddy_buf_json_i64(b, v->as.i); break;
    case EDDY_V_NUM: eddy_buf_json_num(b, v->as.n); break;
    default: eddy_buf_puts(b, v->as.b ? "true" : "false"); break;
    }
}

eddy_err_t eddy__topk_json(struct eddy_topk *tk, size_t k, const char **json, size_t *len,
                           double *error)
{
    const struct entry **order = sorted_entries(tk);
    if (tk->n && !order)
        return EDDY_ENOMEM;
    struct eddy_buf *b = &tk->json;
    eddy_buf_reset(b);
    eddy_buf_putc(b, '[');
    for (size_t i = 0; i < k && i < tk->n; i++) {
        eddy_buf_puts(b, i ? ",{\"value\":" : "{\"value\":");
        value_json(b, &order[i]->value);
        if (tk->weighted) {
            eddy_buf_puts(b, ",\"sum\":");
            eddy_buf_json_num(b, order[i]->count);
        } else {
            eddy_buf_puts(b, ",\"count\":");
            eddy_buf_json_i64(b, (int64_t)order[i]->count);
        }
        eddy_buf_putc(b, '}');
    }
    eddy_buf_putc(b, ']');
    eddy_free(order);
    if (b->oom) {
        eddy_buf_reset(b);
        return EDDY_ENOMEM;
    }
    *json = b->data;
    *len = b->len;
    *error = tk->floor > 0 && tk->total > 0 ? tk->floor / tk->total : 0.0;
    return EDDY_OK;
}

/* ---- encoding ---- */

static void put_weight(struct eddy_buf *out, bool weighted, double w)
{
    if (weighted)
        eddy__varint_put_f64(out, w);
    else
        eddy__varint_put_u(out, (uint64_t)w);
}

static bool get_weight(const uint8_t *p, size_t len, size_t *pos, bool weighted, double *w)
{
    if (weighted)
        return eddy__varint_get_f64(p, len, pos, w) && weight_ok(*w);
    uint64_t u;
    if (!eddy__varint_get_u(p, len, pos, &u) || u > (uint64_t)TWO_53)
        return false;
    *w = (double)u;
    return true;
}

void eddy__topk_value_encode(const struct eddy_value *v, struct eddy_buf *out)
{
    uint8_t tag = v->type == EDDY_V_BOOL  ? 1
                  : v->type == EDDY_V_INT ? 2
                  : v->type == EDDY_V_NUM ? 3
                                          : 4;
    eddy_buf_append(out, &tag, 1);
    switch (tag) {
    case 1: {
        uint8_t b = v->as.b ? 1 : 0;
        eddy_buf_append(out, &b, 1);
        break;
    }
    case 2: eddy__varint_put_s(out, v->as.i); break;
    case 3: eddy__varint_put_f64(out, v->as.n); break;
    default:
        eddy__varint_put_u(out, v->as.s.len);
        eddy_buf_append(out, v->as.s.ptr, v->as.s.len);
        break;
    }
}

bool eddy__topk_value_decode(const uint8_t *p, size_t len, size_t *pos, struct eddy_value *v)
{
    uint8_t tag, b;
    uint64_t n;
    struct eddy_value norm;
    if (!eddy__varint_get_byte(p, len, pos, &tag))
        return false;
    switch (tag) {
    case 1:
        if (!eddy__varint_get_byte(p, len, pos, &b) || b > 1)
            return false;
        *v = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = b == 1};
        return true;
    case 2: v->type = EDDY_V_INT; return eddy__varint_get_s(p, len, pos, &v->as.i);
    case 3:
        v->type = EDDY_V_NUM;
        /* normalised: finite and not an integral value (that is an INT) */
        return eddy__varint_get_f64(p, len, pos, &v->as.n) &&
               eddy__topk_value_normalise(v, &norm) && norm.type == EDDY_V_NUM;
    case 4:
        if (!eddy__varint_get_u(p, len, pos, &n) || n > len - *pos || n > UINT32_MAX)
            return false;
        *v = (struct eddy_value){.type = EDDY_V_STR, .as.s = {(const char *)p + *pos, (uint32_t)n}};
        *pos += (size_t)n;
        return true;
    default: return false;
    }
}

eddy_err_t eddy__topk_encode(const struct eddy_topk *tk, struct eddy_buf *out)
{
    const struct entry **order = sorted_entries(tk);
    if (tk->n && !order)
        return EDDY_ENOMEM;
    uint8_t flags = tk->weighted ? 1 : 0;
    eddy_buf_append(out, &flags, 1);
    eddy__varint_put_u(out, tk->n);
    put_weight(out, tk->weighted, tk->floor);
    put_weight(out, tk->weighted, tk->total);
    for (uint32_t i = 0; i < tk->n; i++) {
        eddy__topk_value_encode(&order[i]->value, out);
        put_weight(out, tk->weighted, order[i]->count);
    }
    eddy_free(order);
    return eddy_buf_err(out);
}

static eddy_err_t decode_entries(struct eddy_topk *tk, uint64_t n, const uint8_t *p, size_t len,
                                 size_t *pos)
{
    for (uint64_t i = 0; i < n; i++) {
        struct entry e = {0};
        struct eddy_value v;
        if (!eddy__topk_value_decode(p, len, pos, &v) ||
            !get_weight(p, len, pos, tk->weighted, &e.count))
            return EDDY_EPARSE;
        e.value = v;
        /* strictly after the previous entry: canonical, no duplicates */
        if (tk->n && output_cmp(&tk->entries[tk->n - 1], &e) >= 0)
            return EDDY_EPARSE;
        e.hash = value_hash(&v);
        bool found;
        if (!reserve_entry(tk))
            return EDDY_ENOMEM;
        uint32_t slot = index_find(tk, &v, e.hash, &found);
        if (found) /* the same value with another count */
            return EDDY_EPARSE;
        if (!value_copy(tk, &e.value, &v))
            return EDDY_ENOMEM;
        tk->entries[tk->n] = e;
        tk->index[slot] = ++tk->n;
    }
    return EDDY_OK;
}

eddy_err_t eddy__topk_decode(struct eddy_topk **out, const uint8_t *p, size_t len, size_t *used)
{
    size_t pos = 0;
    uint8_t flags;
    uint64_t n;
    *out = NULL;
    if (!eddy__varint_get_byte(p, len, &pos, &flags) || flags > 1 ||
        !eddy__varint_get_u(p, len, &pos, &n) || n > EDDY_TOPK_CAPACITY)
        return EDDY_EPARSE;
    struct eddy_topk *tk = eddy__topk_new(flags == 1);
    if (!tk)
        return EDDY_ENOMEM;
    eddy_err_t err = EDDY_EPARSE;
    if (get_weight(p, len, &pos, tk->weighted, &tk->floor) &&
        get_weight(p, len, &pos, tk->weighted, &tk->total))
        err = decode_entries(tk, n, p, len, &pos);
    if (err) {
        eddy__topk_free(tk);
        return err;
    }
    *out = tk;
    *used = pos;
    return EDDY_OK;
}
