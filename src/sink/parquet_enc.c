/*
 * parquet_enc.c - Thrift compact protocol writer and RLE/bit-packed hybrid
 * encoder; see parquet_enc.h for the formats.
 */
#include "sink/parquet_enc.h"

#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"

void eddy__tc_init(struct eddy_tc *tc, struct eddy_buf *out)
{
    memset(tc, 0, sizeof(*tc));
    tc->out = out;
}

eddy_err_t eddy__tc_err(const struct eddy_tc *tc)
{
    if (tc->overflow)
        return EDDY_EINVAL;
    return eddy_buf_err(tc->out);
}

void eddy__tc_varint(struct eddy_buf *out, uint64_t v)
{
    uint8_t bytes[10];
    size_t n = 0;
    while (v >= 0x80) {
        bytes[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    bytes[n++] = (uint8_t)v;
    eddy_buf_append(out, bytes, n);
}

static void field_header(struct eddy_tc *tc, int16_t id, uint8_t type)
{
    if (tc->depth == 0) {
        tc->overflow = true; /* a field outside any struct */
        return;
    }
    int16_t *last = &tc->last_id[tc->depth - 1];
    int delta = id - *last;
    if (delta > 0 && delta <= 15) {
        eddy_buf_putc(tc->out, (char)(delta << 4 | type));
    } else {
        eddy_buf_putc(tc->out, (char)type);
        eddy__tc_varint(tc->out, eddy__tc_zigzag(id));
    }
    *last = id;
}

void eddy__tc_struct_begin(struct eddy_tc *tc)
{
    if (tc->depth == EDDY_TC_MAX_DEPTH) {
        tc->overflow = true;
        return;
    }
    tc->last_id[tc->depth++] = 0;
}

void eddy__tc_struct_end(struct eddy_tc *tc)
{
    eddy_buf_putc(tc->out, 0);
    if (tc->depth > 0)
        tc->depth--;
    else
        tc->overflow = true;
}

void eddy__tc_field_struct(struct eddy_tc *tc, int16_t id)
{
    field_header(tc, id, EDDY_TC_STRUCT);
    eddy__tc_struct_begin(tc);
}

void eddy__tc_field_i32(struct eddy_tc *tc, int16_t id, int32_t v)
{
    field_header(tc, id, EDDY_TC_I32);
    eddy__tc_varint(tc->out, eddy__tc_zigzag(v));
}

void eddy__tc_field_i16(struct eddy_tc *tc, int16_t id, int16_t v)
{
    field_header(tc, id, EDDY_TC_I16);
    eddy__tc_varint(tc->out, eddy__tc_zigzag(v));
}

void eddy__tc_field_i64(struct eddy_tc *tc, int16_t id, int64_t v)
{
    field_header(tc, id, EDDY_TC_I64);
    eddy__tc_varint(tc->out, eddy__tc_zigzag(v));
}

void eddy__tc_field_bool(struct eddy_tc *tc, int16_t id, bool v)
{
    field_header(tc, id, v ? EDDY_TC_BOOL_TRUE : EDDY_TC_BOOL_FALSE);
}

void eddy__tc_field_binary(struct eddy_tc *tc, int16_t id, const void *data, size_t len)
{
    field_header(tc, id, EDDY_TC_BINARY);
    eddy__tc_varint(tc->out, len);
    eddy_buf_append(tc->out, data, len);
}

void eddy__tc_field_string(struct eddy_tc *tc, int16_t id, const char *s)
{
    eddy__tc_field_binary(tc, id, s, strlen(s));
}

void eddy__tc_field_list(struct eddy_tc *tc, int16_t id, enum eddy_tc_type elem, uint32_t count)
{
    field_header(tc, id, EDDY_TC_LIST);
    if (count < 15) {
        eddy_buf_putc(tc->out, (char)(count << 4 | elem));
    } else {
        eddy_buf_putc(tc->out, (char)(0xF0 | elem));
        eddy__tc_varint(tc->out, count);
    }
}

void eddy__tc_elem_i32(struct eddy_tc *tc, int32_t v)
{
    eddy__tc_varint(tc->out, eddy__tc_zigzag(v));
}

void eddy__tc_elem_binary(struct eddy_tc *tc, const void *data, size_t len)
{
    eddy__tc_varint(tc->out, len);
    eddy_buf_append(tc->out, data, len);
}

/* ---- RLE / bit-packed hybrid ---- */

/* The values are uint8_t levels or uint32_t dictionary indices. */
struct values {
    const void *data;
    bool wide; /* uint32_t */
};

static inline uint32_t value_at(struct values v, size_t i)
{
    return v.wide ? ((const uint32_t *)v.data)[i] : ((const uint8_t *)v.data)[i];
}

static size_t run_length(struct values values, size_t n, size_t at)
{
    uint32_t first = value_at(values, at);
    size_t end = at + 1;
    while (end < n && value_at(values, end) == first)
        end++;
    return end - at;
}

static void rle_run(struct eddy_buf *out, uint32_t value, size_t count, int width)
{
    eddy__tc_varint(out, (uint64_t)count << 1);
    for (int shift = 0; shift < width; shift += 8) /* ceil(width / 8) bytes, LE */
        eddy_buf_putc(out, (char)(value >> shift));
}

/* Bit-packs values [start, start + count) into ceil(count / 8) groups of 8
 * values, LSB first; the last group is padded with zero bits. */
static void bit_packed_run(struct eddy_buf *out, struct values values, size_t start, size_t count,
                           int width)
{
    size_t groups = (count + 7) / 8;
    eddy__tc_varint(out, (uint64_t)groups << 1 | 1);
    size_t nbytes = groups * (size_t)width; /* 8 values * width bits = width bytes */
    if (!eddy_buf_reserve(out, nbytes))
        return;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    uint64_t acc = 0; /* bits not yet stored; width <= 32 keeps them under 40 */
    int bits = 0;
    for (size_t i = 0; i < groups * 8; i++) {
        acc |= (uint64_t)(i < count ? value_at(values, start + i) : 0) << bits;
        for (bits += width; bits >= 8; bits -= 8, acc >>= 8)
            *dst++ = (uint8_t)acc;
    }
    out->len += nbytes;
    out->data[out->len] = '\0';
}

static void rle_hybrid_encode(struct eddy_buf *out, struct values values, size_t n, int width)
{
    if (width == 0) { /* every value is 0: one RLE run, however short */
        if (n > 0)
            rle_run(out, 0, n, 0);
        return;
    }
    size_t i = 0;
    while (i < n) {
        size_t run = run_length(values, n, i);
        if (run >= 8) {
            rle_run(out, value_at(values, i), run, width);
            i += run;
            continue;
        }
        /* Literal groups of 8 until a run of 8+ starts on a group boundary
         * (a run starting inside a group is cut: its tail is seen at the
         * next boundary) or the values end. */
        size_t start = i;
        i += 8;
        while (i < n && run_length(values, n, i) < 8)
            i += 8;
        if (i > n)
            i = n;
        bit_packed_run(out, values, start, i - start, width);
    }
}

void eddy__rle_hybrid_encode(struct eddy_buf *out, const uint8_t *values, size_t n, int width)
{
    rle_hybrid_encode(out, (struct values){values, false}, n, width);
}

void eddy__rle_hybrid_encode32(struct eddy_buf *out, const uint32_t *values, size_t n, int width)
{
    rle_hybrid_encode(out, (struct values){values, true}, n, width);
}

int eddy__bit_width(uint32_t max_value)
{
    int width = 0;
    while (width < 32 && max_value >> width)
        width++;
    return width;
}

/* ---- dictionary ---- */

void eddy__parquet_dict_init(struct eddy_parquet_dict *d)
{
    memset(d, 0, sizeof(*d));
    eddy_buf_init(&d->plain);
}

void eddy__parquet_dict_release(struct eddy_parquet_dict *d)
{
    eddy_buf_release(&d->plain);
    eddy_free(d->offsets);
    eddy_free(d->slots);
    eddy__parquet_dict_init(d);
}

void eddy__parquet_dict_reset(struct eddy_parquet_dict *d)
{
    eddy_buf_reset(&d->plain);
    d->count = 0;
    if (d->slots)
        memset(d->slots, 0, d->slot_count * sizeof(*d->slots));
}

uint64_t eddy__parquet_dict_hash(const char *s, size_t len)
{
    return eddy_hash64(s, len, 0x70617271756574ull); /* "parquet" */
}

static bool entry_equals(const struct eddy_parquet_dict *d, uint32_t index, const char *s,
                         size_t len)
{
    const uint8_t *entry = (const uint8_t *)d->plain.data + d->offsets[index];
    uint32_t entry_len =
        entry[0] | (uint32_t)entry[1] << 8 | (uint32_t)entry[2] << 16 | (uint32_t)entry[3] << 24;
    return entry_len == len && memcmp(entry + 4, s, len) == 0;
}

bool eddy__parquet_dict_find(const struct eddy_parquet_dict *d, const char *s, size_t len,
                             uint64_t hash, uint32_t *index)
{
    if (d->slot_count == 0)
        return false;
    size_t mask = d->slot_count - 1;
    for (size_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
        const struct eddy_parquet_dict_slot *slot = &d->slots[i];
        if (slot->index_plus_1 == 0)
            return false;
        if (slot->hash == (uint32_t)hash && entry_equals(d, slot->index_plus_1 - 1, s, len)) {
            *index = slot->index_plus_1 - 1;
            return true;
        }
    }
}

static void slot_put(struct eddy_parquet_dict_slot *slots, size_t slot_count, uint32_t hash,
                     uint32_t index)
{
    size_t mask = slot_count - 1;
    size_t i = hash & mask;
    while (slots[i].index_plus_1 != 0)
        i = (i + 1) & mask;
    slots[i] = (struct eddy_parquet_dict_slot){index + 1, hash};
}

/* Keeps the table at most half full with one more entry. */
static bool reserve_slots(struct eddy_parquet_dict *d)
{
    if ((size_t)(d->count + 1) * 2 <= d->slot_count)
        return true;
    size_t slot_count = d->slot_count ? d->slot_count * 2 : 64;
    struct eddy_parquet_dict_slot *slots = eddy_calloc(slot_count, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < d->slot_count; i++)
        if (d->slots[i].index_plus_1 != 0)
            slot_put(slots, slot_count, d->slots[i].hash, d->slots[i].index_plus_1 - 1);
    eddy_free(d->slots);
    d->slots = slots;
    d->slot_count = slot_count;
    return true;
}

bool eddy__parquet_dict_reserve(struct eddy_parquet_dict *d, size_t len)
{
    return d->count < UINT32_MAX - 1 && d->plain.len + 4 + len <= UINT32_MAX &&
           eddy__parquet_reserve(&d->plain, 4 + len) &&
           eddy_array_reserve(&d->offsets, &d->offsets_cap, (size_t)d->count + 1,
                              sizeof(*d->offsets), 64) &&
           reserve_slots(d);
}

uint32_t eddy__parquet_dict_insert(struct eddy_parquet_dict *d, const char *s, size_t len,
                                   uint64_t hash)
{
    uint32_t index = d->count++;
    d->offsets[index] = (uint32_t)d->plain.len;
    uint8_t prefix[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                         (uint8_t)(len >> 24)};
    eddy_buf_append(&d->plain, prefix, 4);
    eddy_buf_append(&d->plain, s, len);
    slot_put(d->slots, d->slot_count, (uint32_t)hash, index);
    return index;
}
