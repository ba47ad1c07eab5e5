/*
 * parquet_enc.h - the byte-level encoders behind the Parquet writer
 * (parquet.c): the Thrift compact protocol used by every Parquet header and
 * footer, and the RLE/bit-packed hybrid used for definition levels.
 *
 * Everything appends to an eddy_buf; a buffer that failed to grow is poisoned
 * (see core/buf.h), so callers encode a whole structure and check once.
 *
 * Thrift compact protocol, as written here (writer side only):
 *   - integers: i16/i32/i64 are zigzag ULEB128 varints; enums are i32;
 *   - binary/string: ULEB128 length, then the bytes;
 *   - field header: one byte (id delta << 4 | type) when the id grows by
 *     1..15 over the previous field of the same struct, else the type byte
 *     followed by the zigzag varint id; a bool field carries its value in the
 *     type (1 true, 2 false) and has no payload;
 *   - struct: its fields, then a stop byte 0; each struct (and each struct
 *     element of a list) restarts the field id delta at 0; a union is a
 *     struct with exactly one field set;
 *   - list: one byte (size << 4 | element type) when size < 15, else
 *     0xF0 | element type followed by the ULEB128 size.
 *
 * RLE/bit-packed hybrid (Encodings.md), for definition levels (bit width
 * 1) and dictionary indices (bit width 0..32):
 *   run := rle-run | bit-packed-run
 *   rle-run := varint(count << 1), value in ceil(width / 8) little-endian bytes
 *   bit-packed-run := varint(groups << 1 | 1), groups * 8 values packed
 *                     LSB first, width bits each (the last group is padded
 *                     with zeros; the reader knows the real value count).
 * Runs of 8 or more equal values become RLE runs; the rest is bit-packed.
 * At bit width 0 (a dictionary of one entry) all values are one RLE run.
 *
 * Dictionary (for RLE_DICTIONARY string columns): distinct byte strings get
 * indices 0, 1, 2, ... in order of first insertion, so the dictionary, and
 * the file, depend only on the values and their order; the hash table is
 * only a lookup aid. The dictionary page body (the PLAIN encoding of the
 * entries in index order: u32 LE length + bytes each) is kept as it grows.
 */
#ifndef EDDY_SINK_PARQUET_ENC_H
#define EDDY_SINK_PARQUET_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Compact protocol type ids (also the element types of lists). */
enum eddy_tc_type {
    EDDY_TC_BOOL_TRUE = 1, /* as a list element type: bool */
    EDDY_TC_BOOL_FALSE = 2,
    EDDY_TC_BYTE = 3,
    EDDY_TC_I16 = 4,
    EDDY_TC_I32 = 5,
    EDDY_TC_I64 = 6,
    EDDY_TC_DOUBLE = 7,
    EDDY_TC_BINARY = 8,
    EDDY_TC_LIST = 9,
    EDDY_TC_SET = 10,
    EDDY_TC_MAP = 11,
    EDDY_TC_STRUCT = 12,
};

/* Deepest struct nesting written; the Parquet footer needs 6 (FileMetaData >
 * RowGroup > ColumnChunk > ColumnMetaData > Statistics, and SchemaElement >
 * LogicalType > TimestampType > TimeUnit > MilliSeconds). */
#define EDDY_TC_MAX_DEPTH 12

/* A compact protocol writer over a borrowed buffer. Starts outside any
 * struct: call eddy__tc_struct_begin() for the top-level struct. */
struct eddy_tc {
    struct eddy_buf *out;
    int depth;
    int16_t last_id[EDDY_TC_MAX_DEPTH];
    bool overflow; /* nesting deeper than EDDY_TC_MAX_DEPTH: a bug */
};

void eddy__tc_init(struct eddy_tc *tc, struct eddy_buf *out);
/* Non-zero when the buffer ran out of memory or nesting overflowed. */
eddy_err_t eddy__tc_err(const struct eddy_tc *tc);

void eddy__tc_varint(struct eddy_buf *out, uint64_t v);
static inline uint64_t eddy__tc_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Top-level or list-element struct (no field header): pushes a field scope. */
void eddy__tc_struct_begin(struct eddy_tc *tc);
/* Writes the stop byte and pops the field scope. */
void eddy__tc_struct_end(struct eddy_tc *tc);
/* A struct-valued field: header, then a new field scope. */
void eddy__tc_field_struct(struct eddy_tc *tc, int16_t id);

void eddy__tc_field_i32(struct eddy_tc *tc, int16_t id, int32_t v);
void eddy__tc_field_i16(struct eddy_tc *tc, int16_t id, int16_t v);
void eddy__tc_field_i64(struct eddy_tc *tc, int16_t id, int64_t v);
void eddy__tc_field_bool(struct eddy_tc *tc, int16_t id, bool v);
void eddy__tc_field_binary(struct eddy_tc *tc, int16_t id, const void *data, size_t len);
void eddy__tc_field_string(struct eddy_tc *tc, int16_t id, const char *s);
/* A list-valued field: header and list header; then write @count elements
 * with the eddy__tc_elem_* functions or eddy__tc_struct_begin/end. */
void eddy__tc_field_list(struct eddy_tc *tc, int16_t id, enum eddy_tc_type elem, uint32_t count);

void eddy__tc_elem_i32(struct eddy_tc *tc, int32_t v);
void eddy__tc_elem_binary(struct eddy_tc *tc, const void *data, size_t len);

/* eddy_buf_reserve without poisoning: on failure the buffer is unchanged and
 * usable, which lets the writer fail a call without losing what it holds. */
static inline bool eddy__parquet_reserve(struct eddy_buf *buf, size_t extra)
{
    if (eddy_buf_reserve(buf, extra))
        return true;
    buf->oom = false;
    return false;
}

/* Appends the RLE/bit-packed hybrid encoding of @n values (each < 2^width)
 * at @values, @width in 0..8. No length prefix. */
void eddy__rle_hybrid_encode(struct eddy_buf *out, const uint8_t *values, size_t n, int width);
/* The same for 32-bit values, @width in 0..32. */
void eddy__rle_hybrid_encode32(struct eddy_buf *out, const uint32_t *values, size_t n, int width);
/* Bits needed for @max_value: 0 for 0, 1 for 1, 2 for 2..3, ... */
int eddy__bit_width(uint32_t max_value);

struct eddy_parquet_dict_slot {
    uint32_t index_plus_1; /* 0: empty */
    uint32_t hash;         /* low bits of the entry's hash */
};

struct eddy_parquet_dict {
    struct eddy_buf plain; /* the dictionary page body */
    uint32_t *offsets;     /* entry i: its length prefix at plain.data + offsets[i] */
    size_t offsets_cap;
    uint32_t count;
    struct eddy_parquet_dict_slot *slots; /* open addressing, at most half full */
    size_t slot_count;                    /* 0 or a power of two */
};

void eddy__parquet_dict_init(struct eddy_parquet_dict *d);
void eddy__parquet_dict_release(struct eddy_parquet_dict *d);
/* Empties the dictionary, keeping its memory. */
void eddy__parquet_dict_reset(struct eddy_parquet_dict *d);
uint64_t eddy__parquet_dict_hash(const char *s, size_t len);
/* Whether @s (of hash @hash) is an entry; sets *@index if so. */
bool eddy__parquet_dict_find(const struct eddy_parquet_dict *d, const char *s, size_t len,
                             uint64_t hash, uint32_t *index);
/* Makes room for one more entry of @len bytes; false (and nothing changed
 * but capacity) when out of memory or past 4 GiB of entries. */
bool eddy__parquet_dict_reserve(struct eddy_parquet_dict *d, size_t len);
/* Adds @s, which is not an entry yet, into room made by
 * eddy__parquet_dict_reserve(); returns its index. Never allocates. */
uint32_t eddy__parquet_dict_insert(struct eddy_parquet_dict *d, const char *s, size_t len,
                                   uint64_t hash);

#endif
