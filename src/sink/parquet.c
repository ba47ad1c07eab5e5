/*
 * parquet.c - Parquet writer for flat nullable schemas; see parquet.h for
 * the interface and docs/parquet.md for the subset of the format written.
 *
 * Layout of a file:
 *   "PAR1"
 *   row group 0: column chunk 0 .. column chunk N-1
 *     column chunk: [dictionary page], data page, data page, ...
 *       dictionary page (strings): PageHeader, then the PLAIN entries
 *       data page: PageHeader (Thrift compact), then the body, compressed as
 *                  a whole: u32 LE length + RLE-hybrid definition levels
 *                  (bit width 1), then the values of the non-null rows:
 *                  PLAIN, or (RLE_DICTIONARY) one byte of bit width and the
 *                  RLE-hybrid dictionary indices
 *   row group 1 ...
 *   FileMetaData (Thrift compact), u32 LE length of it, "PAR1"
 *
 * Invariants:
 *   - a row is in every column or in none: append validates and reserves
 *     every buffer before it writes anything;
 *   - pages and row groups that are full are cut at the start of the next
 *     append (or at close), so a failed cut leaves the rows buffered;
 *   - w->file_pos is the size of the temporary file; w->row_groups holds
 *     the serialized RowGroup structs of the row groups already in it;
 *   - statistics keep exact min/max values; strings longer than
 *     stats_max_bytes are cut (min) or cut and incremented (max) only when
 *     serialized, and then flagged inexact;
 *   - a string column chunk starts in dictionary mode (unless no_dictionary)
 *     and leaves it for good when a new entry would take the dictionary past
 *     dict_max_entries or dict_max_bytes: the open page is cut first, so a
 *     page holds either dictionary indices or PLAIN values. A page is
 *     RLE_DICTIONARY when it was filled in dictionary mode and the dictionary
 *     has entries (else it holds only nulls, and is PLAIN); a chunk has a
 *     dictionary page when its dictionary has entries.
 */
#include "sink/parquet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/buf.h"
#include "core/log.h"
#include "sink/parquet_enc.h"
#include "sink/parquet_stats.h"

/* parquet.thrift enum values */
enum { PQ_BOOLEAN = 0, PQ_INT64 = 2, PQ_DOUBLE = 5, PQ_BYTE_ARRAY = 6 };
enum { PQ_PLAIN = 0, PQ_RLE = 3, PQ_RLE_DICTIONARY = 8 };
enum { PQ_UNCOMPRESSED = 0, PQ_LZ4_RAW = 7 };
enum { PQ_DATA_PAGE = 0, PQ_DICTIONARY_PAGE = 2 };
enum { PQ_OPTIONAL = 1 };
enum { PQ_CONVERTED_UTF8 = 0, PQ_CONVERTED_TIMESTAMP_MILLIS = 9 };

#define MAGIC "PAR1"
#define CREATED_BY "eddy version 0.1.0"
#define NEW_ENTRY UINT32_MAX /* column.pending_index of a value not in the dictionary */

struct column {
    char *name;
    enum eddy_parquet_type type;
    /* the open page */
    struct eddy_buf levels; /* one definition level per value: 1 set, 0 null */
    struct eddy_buf values; /* PLAIN values of the non-null rows */
    uint32_t *indices;      /* dictionary mode: indices of the non-null rows */
    size_t indices_cap;
    uint32_t page_values;
    uint32_t page_nonnull;
    struct eddy_parquet_stats page_stats;
    /* the column chunk of the open row group */
    struct eddy_buf chunk;       /* data page headers and (compressed) page bodies */
    uint64_t chunk_uncompressed; /* headers + uncompressed bodies */
    uint64_t chunk_values;
    uint32_t chunk_pages;      /* data pages */
    uint32_t chunk_dict_pages; /* of which RLE_DICTIONARY */
    struct eddy_parquet_stats chunk_stats;
    /* dictionary encoding (string columns) */
    bool dict_mode;                  /* new values go into the dictionary */
    struct eddy_parquet_dict dict;   /* of the open chunk */
    uint64_t pending_hash;           /* of the value being appended, */
    uint32_t pending_index;          /* and its index or NEW_ENTRY (dict_admit) */
    struct eddy_buf dict_page;       /* at a row group cut: header + (compressed) entries */
    uint64_t dict_page_uncompressed; /* header + uncompressed entries */
};

struct eddy_parquet_writer {
    char *path;
    char *tmp_path;
    char *dir_path;
    int fd;
    bool tmp_created;  /* tmp_path exists and is ours to remove */
    eddy_err_t failed; /* sticky EDDY_EIO */
    uint64_t file_pos;
    struct eddy_parquet_options opt; /* defaults applied; metadata copied */
    struct eddy_parquet_kv *metadata;
    struct column *columns;
    size_t column_count;
    uint64_t rg_rows;      /* rows of the open row group */
    uint64_t rows_written; /* rows of the row groups in the file */
    uint32_t rg_count;
    struct eddy_buf row_groups; /* serialized RowGroup structs */
    struct eddy_buf body;       /* scratch: page body, row group metadata */
    struct eddy_buf compressed; /* scratch: compressed page body */
    struct eddy_buf header;     /* scratch: page header, footer */
    char error[256];
};

static const char *type_name(enum eddy_parquet_type type)
{
    switch (type) {
    case EDDY_PARQUET_STRING: return "STRING";
    case EDDY_PARQUET_INT64: return "INT64";
    case EDDY_PARQUET_DOUBLE: return "DOUBLE";
    case EDDY_PARQUET_BOOLEAN: return "BOOLEAN";
    case EDDY_PARQUET_TIMESTAMP_MILLIS: return "TIMESTAMP_MILLIS";
    }
    return "?";
}

static const char *vtype_name(uint8_t type)
{
    static const char *const names[] = {"NULL", "BOOL", "INT", "NUM", "STR", "JSON"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static eddy_err_t fail(struct eddy_parquet_writer *w, eddy_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static eddy_err_t fail(struct eddy_parquet_writer *w, eddy_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof(w->error), fmt, ap);
    va_end(ap);
    return err;
}

/* An I/O failure: sticky, and logged here because errno is lost above. */
static eddy_err_t fail_io(struct eddy_parquet_writer *w, const char *what, const char *path)
{
    int saved = errno;
    w->failed = EDDY_EIO;
    fail(w, EDDY_EIO, "cannot %s '%s': %s", what, path, strerror(saved));
    eddy_log(EDDY_LOG_ERROR, "parquet", "%s", w->error);
    return EDDY_EIO;
}

static void put_le32(struct eddy_buf *buf, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    eddy_buf_append(buf, b, 4);
}

static void put_le64(struct eddy_buf *buf, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    eddy_buf_append(buf, b, 8);
}

static uint64_t double_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

/* ---- values and pages ---- */

static int physical_type(enum eddy_parquet_type type)
{
    switch (type) {
    case EDDY_PARQUET_STRING: return PQ_BYTE_ARRAY;
    case EDDY_PARQUET_DOUBLE: return PQ_DOUBLE;
    case EDDY_PARQUET_BOOLEAN: return PQ_BOOLEAN;
    default: return PQ_INT64;
    }
}

/* Whether @v can go into column @c; sets the writer's error if not. */
static eddy_err_t check_value(struct eddy_parquet_writer *w, const struct column *c,
                              const struct eddy_value *v)
{
    bool ok;
    switch (c->type) {
    case EDDY_PARQUET_STRING: ok = v->type == EDDY_V_STR || v->type == EDDY_V_JSON; break;
    case EDDY_PARQUET_DOUBLE: ok = v->type == EDDY_V_NUM || v->type == EDDY_V_INT; break;
    case EDDY_PARQUET_BOOLEAN: ok = v->type == EDDY_V_BOOL; break;
    default: ok = v->type == EDDY_V_INT;
    }
    if (v->type == EDDY_V_NULL)
        return EDDY_OK;
    if (!ok)
        return fail(w, EDDY_EINVAL, "column '%s': expected %s, got %s", c->name, type_name(c->type),
                    vtype_name(v->type));
    if (c->type != EDDY_PARQUET_STRING)
        return EDDY_OK;
    if (v->as.s.len > EDDY_PARQUET_MAX_VALUE_BYTES)
        return fail(w, EDDY_EINVAL, "column '%s': string of %u bytes is over the limit of %u",
                    c->name, (unsigned)v->as.s.len, EDDY_PARQUET_MAX_VALUE_BYTES);
    if (!eddy_utf8_valid(v->as.s.ptr, v->as.s.len))
        return fail(w, EDDY_EINVAL, "column '%s': string is not valid UTF-8", c->name);
    return EDDY_OK;
}

/* Reserves everything put_value(@c, @v) may need. */
static bool reserve_value(struct column *c, const struct eddy_value *v)
{
    if (!eddy__parquet_reserve(&c->levels, 1))
        return false;
    if (v->type == EDDY_V_NULL)
        return true;
    switch (c->type) {
    case EDDY_PARQUET_STRING:
        if (!eddy__parquet_reserve(&c->page_stats.min_s, v->as.s.len) ||
            !eddy__parquet_reserve(&c->page_stats.max_s, v->as.s.len))
            return false;
        if (!c->dict_mode)
            return eddy__parquet_reserve(&c->values, 4 + (size_t)v->as.s.len);
        return eddy_array_reserve(&c->indices, &c->indices_cap, (size_t)c->page_nonnull + 1,
                                  sizeof(*c->indices), 1024) &&
               (c->pending_index != NEW_ENTRY || eddy__parquet_dict_reserve(&c->dict, v->as.s.len));
    case EDDY_PARQUET_BOOLEAN: return eddy__parquet_reserve(&c->values, 1);
    default: return eddy__parquet_reserve(&c->values, 8);
    }
}

/* Appends one value to the open page; room was reserved. */
static void put_value(struct column *c, const struct eddy_value *v)
{
    c->page_values++;
    if (v->type == EDDY_V_NULL) {
        eddy_buf_putc(&c->levels, 0);
        c->page_stats.null_count++;
        return;
    }
    eddy_buf_putc(&c->levels, 1);
    uint32_t index = c->page_nonnull++;
    switch (c->type) {
    case EDDY_PARQUET_STRING:
        if (c->dict_mode) {
            uint32_t entry = c->pending_index;
            if (entry == NEW_ENTRY)
                entry =
                    eddy__parquet_dict_insert(&c->dict, v->as.s.ptr, v->as.s.len, c->pending_hash);
            c->indices[index] = entry;
        } else {
            put_le32(&c->values, v->as.s.len);
            eddy_buf_append(&c->values, v->as.s.ptr, v->as.s.len);
        }
        eddy__parquet_stats_add_s(&c->page_stats, v->as.s.ptr, v->as.s.len);
        break;
    case EDDY_PARQUET_DOUBLE: {
        double d = v->type == EDDY_V_INT ? (double)v->as.i : v->as.n;
        put_le64(&c->values, double_bits(d));
        eddy__parquet_stats_add_d(&c->page_stats, d);
        break;
    }
    case EDDY_PARQUET_BOOLEAN:
        /* PLAIN booleans: one bit each, LSB first */
        if (index % 8 == 0)
            eddy_buf_putc(&c->values, 0);
        if (v->as.b)
            c->values.data[c->values.len - 1] |= (char)(1u << (index % 8));
        eddy__parquet_stats_add_i(&c->page_stats, v->as.b);
        break;
    default:
        put_le64(&c->values, (uint64_t)v->as.i);
        eddy__parquet_stats_add_i(&c->page_stats, v->as.i);
    }
}

/* Bytes of the open page before compression: levels, then PLAIN values or
 * 4 per dictionary index (its size in memory, above its encoded size). */
static uint64_t open_page_bytes(const struct column *c)
{
    return c->levels.len + c->values.len + (c->dict_mode ? 4 * (uint64_t)c->page_nonnull : 0);
}

static bool page_full(const struct eddy_parquet_writer *w, const struct column *c)
{
    return c->page_values >= w->opt.page_rows || open_page_bytes(c) >= w->opt.page_bytes;
}

/* Whether the open page is written RLE_DICTIONARY (see the invariants). */
static bool page_uses_dict(const struct column *c)
{
    return c->dict_mode && c->dict.count > 0;
}

/* w->body := u32 LE length + RLE-hybrid definition levels + values. */
static void page_body(struct eddy_parquet_writer *w, const struct column *c)
{
    struct eddy_buf *body = &w->body;
    eddy_buf_reset(body);
    put_le32(body, 0);
    eddy__rle_hybrid_encode(body, (const uint8_t *)c->levels.data, c->levels.len, 1);
    if (!body->oom) {
        uint32_t levels_len = (uint32_t)(body->len - 4);
        for (int i = 0; i < 4; i++)
            body->data[i] = (char)(levels_len >> (8 * i));
    }
    if (page_uses_dict(c)) {
        int width = eddy__bit_width(c->dict.count - 1);
        eddy_buf_putc(body, (char)width);
        eddy__rle_hybrid_encode32(body, c->indices, c->page_nonnull, width);
    } else {
        eddy_buf_append(body, c->values.data, c->values.len);
    }
}

/* Opens w->header with a PageHeader of @type and sizes; the caller adds the
 * type's header struct and ends both structs. */
static void page_header_begin(struct eddy_parquet_writer *w, struct eddy_tc *tc, int type,
                              size_t uncompressed, size_t compressed)
{
    eddy_buf_reset(&w->header);
    eddy__tc_init(tc, &w->header);
    eddy__tc_struct_begin(tc);
    eddy__tc_field_i32(tc, 1, type);
    eddy__tc_field_i32(tc, 2, (int32_t)uncompressed);
    eddy__tc_field_i32(tc, 3, (int32_t)compressed);
}

/* w->header := PageHeader of a v1 data page of @c. */
static void page_header(struct eddy_parquet_writer *w, const struct column *c, size_t uncompressed,
                        size_t compressed)
{
    struct eddy_tc tc;
    page_header_begin(w, &tc, PQ_DATA_PAGE, uncompressed, compressed);
    eddy__tc_field_struct(&tc, 5); /* DataPageHeader */
    eddy__tc_field_i32(&tc, 1, (int32_t)c->page_values);
    eddy__tc_field_i32(&tc, 2, page_uses_dict(c) ? PQ_RLE_DICTIONARY : PQ_PLAIN);
    eddy__tc_field_i32(&tc, 3, PQ_RLE);
    eddy__tc_field_i32(&tc, 4, PQ_RLE);
    eddy__parquet_stats_write(&tc, 5, &c->page_stats, c->type, w->opt.stats_max_bytes);
    eddy__tc_struct_end(&tc);
    eddy__tc_struct_end(&tc);
}

/* *@payload := @body (w->body or a dictionary), compressed with the file's
 * codec into w->compressed, or @body itself when uncompressed. */
static eddy_err_t compress(struct eddy_parquet_writer *w, const struct column *c,
                           const struct eddy_buf *body, const char **payload, size_t *payload_len)
{
    *payload = body->data;
    *payload_len = body->len;
    if (w->opt.codec != EDDY_PARQUET_LZ4_RAW)
        return EDDY_OK;
    int bound = LZ4_compressBound((int)body->len);
    eddy_buf_reset(&w->compressed);
    if (bound <= 0 || !eddy__parquet_reserve(&w->compressed, (size_t)bound))
        return fail(w, EDDY_ENOMEM, "column '%s': cannot compress a page", c->name);
    int n = LZ4_compress_default(body->data, w->compressed.data, (int)body->len, bound);
    if (n <= 0)
        return fail(w, EDDY_ENOMEM, "column '%s': lz4 failed on a page", c->name);
    *payload = w->compressed.data;
    *payload_len = (size_t)n;
    return EDDY_OK;
}

/* Encodes, compresses and moves the open page of @c into its chunk. On
 * failure nothing changed. */
static eddy_err_t page_flush(struct eddy_parquet_writer *w, struct column *c)
{
    if (c->page_values == 0)
        return EDDY_OK;
    page_body(w, c);
    if (w->body.oom || w->body.len > INT32_MAX)
        return fail(w, EDDY_ENOMEM, "column '%s': cannot encode a page", c->name);
    const char *payload;
    size_t payload_len;
    eddy_err_t err = compress(w, c, &w->body, &payload, &payload_len);
    if (err)
        return err;
    page_header(w, c, w->body.len, payload_len);
    if (w->header.oom || !eddy__parquet_reserve(&c->chunk, w->header.len + payload_len) ||
        !eddy__parquet_stats_reserve_merge(&c->chunk_stats, &c->page_stats)) {
        w->header.oom = false;
        return fail(w, EDDY_ENOMEM, "column '%s': cannot buffer a page", c->name);
    }
    eddy_buf_append(&c->chunk, w->header.data, w->header.len);
    eddy_buf_append(&c->chunk, payload, payload_len);
    c->chunk_uncompressed += w->header.len + w->body.len;
    c->chunk_values += c->page_values;
    c->chunk_pages++;
    c->chunk_dict_pages += page_uses_dict(c);
    eddy__parquet_stats_merge(&c->chunk_stats, &c->page_stats, c->type);
    eddy__parquet_stats_reset(&c->page_stats);
    eddy_buf_reset(&c->levels);
    eddy_buf_reset(&c->values);
    c->page_values = 0;
    c->page_nonnull = 0;
    return EDDY_OK;
}

/* For a string @v in dictionary mode: finds its dictionary index, or, when
 * a new entry would take the dictionary past its limits, cuts the open page
 * and leaves dictionary mode for the rest of the chunk. On failure nothing
 * changed. */
static eddy_err_t dict_admit(struct eddy_parquet_writer *w, struct column *c,
                             const struct eddy_value *v)
{
    if (!c->dict_mode || v->type == EDDY_V_NULL)
        return EDDY_OK;
    c->pending_hash = eddy__parquet_dict_hash(v->as.s.ptr, v->as.s.len);
    if (eddy__parquet_dict_find(&c->dict, v->as.s.ptr, v->as.s.len, c->pending_hash,
                                &c->pending_index))
        return EDDY_OK;
    c->pending_index = NEW_ENTRY;
    if (c->dict.count < w->opt.dict_max_entries &&
        c->dict.plain.len + 4 + (uint64_t)v->as.s.len <= w->opt.dict_max_bytes)
        return EDDY_OK;
    eddy_err_t err = page_flush(w, c);
    if (err)
        return err;
    c->dict_mode = false;
    return EDDY_OK;
}

/* c->dict_page := the dictionary page of the open chunk, or nothing when
 * the dictionary is empty. On failure the page is empty. */
static eddy_err_t dict_page_build(struct eddy_parquet_writer *w, struct column *c)
{
    eddy_buf_reset(&c->dict_page);
    c->dict_page_uncompressed = 0;
    if (c->dict.count == 0)
        return EDDY_OK;
    const char *payload;
    size_t payload_len;
    eddy_err_t err = compress(w, c, &c->dict.plain, &payload, &payload_len);
    if (err)
        return err;
    struct eddy_tc tc;
    page_header_begin(w, &tc, PQ_DICTIONARY_PAGE, c->dict.plain.len, payload_len);
    eddy__tc_field_struct(&tc, 7); /* DictionaryPageHeader */
    eddy__tc_field_i32(&tc, 1, (int32_t)c->dict.count);
    eddy__tc_field_i32(&tc, 2, PQ_PLAIN);
    eddy__tc_struct_end(&tc);
    eddy__tc_struct_end(&tc);
    if (w->header.oom || !eddy__parquet_reserve(&c->dict_page, w->header.len + payload_len)) {
        w->header.oom = false;
        return fail(w, EDDY_ENOMEM, "column '%s': cannot buffer the dictionary page", c->name);
    }
    eddy_buf_append(&c->dict_page, w->header.data, w->header.len);
    eddy_buf_append(&c->dict_page, payload, payload_len);
    c->dict_page_uncompressed = w->header.len + c->dict.plain.len;
    return EDDY_OK;
}

/* ---- row groups and the footer ---- */

static void encoding_stats(struct eddy_tc *tc, int page_type, int encoding, uint32_t count)
{
    eddy__tc_struct_begin(tc); /* PageEncodingStats */
    eddy__tc_field_i32(tc, 1, page_type);
    eddy__tc_field_i32(tc, 2, encoding);
    eddy__tc_field_i32(tc, 3, (int32_t)count);
    eddy__tc_struct_end(tc);
}

/* The ColumnChunk of @c, whose dictionary page (if any) starts at @offset,
 * followed by its data pages. */
static void column_chunk(struct eddy_parquet_writer *w, struct eddy_tc *tc, const struct column *c,
                         uint64_t offset)
{
    bool dict = c->dict_page.len > 0;
    uint32_t plain_pages = c->chunk_pages - c->chunk_dict_pages;
    eddy__tc_struct_begin(tc);    /* ColumnChunk */
    eddy__tc_field_i64(tc, 2, 0); /* file_offset: deprecated, 0 */
    eddy__tc_field_struct(tc, 3); /* ColumnMetaData */
    eddy__tc_field_i32(tc, 1, physical_type(c->type));
    eddy__tc_field_list(tc, 2, EDDY_TC_I32, dict ? 3 : 2);
    eddy__tc_elem_i32(tc, PQ_PLAIN); /* values, or the dictionary page */
    eddy__tc_elem_i32(tc, PQ_RLE);   /* definition levels */
    if (dict)
        eddy__tc_elem_i32(tc, PQ_RLE_DICTIONARY);
    eddy__tc_field_list(tc, 3, EDDY_TC_BINARY, 1);
    eddy__tc_elem_binary(tc, c->name, strlen(c->name));
    eddy__tc_field_i32(tc, 4, w->opt.codec == EDDY_PARQUET_LZ4_RAW ? PQ_LZ4_RAW : PQ_UNCOMPRESSED);
    eddy__tc_field_i64(tc, 5, (int64_t)c->chunk_values);
    eddy__tc_field_i64(tc, 6, (int64_t)(c->dict_page_uncompressed + c->chunk_uncompressed));
    eddy__tc_field_i64(tc, 7, (int64_t)(c->dict_page.len + c->chunk.len));
    eddy__tc_field_i64(tc, 9, (int64_t)(offset + c->dict_page.len));
    if (dict)
        eddy__tc_field_i64(tc, 11, (int64_t)offset);
    eddy__parquet_stats_write(tc, 12, &c->chunk_stats, c->type, w->opt.stats_max_bytes);
    eddy__tc_field_list(tc, 13, EDDY_TC_STRUCT,
                        dict + (c->chunk_dict_pages > 0) + (plain_pages > 0));
    if (dict)
        encoding_stats(tc, PQ_DICTIONARY_PAGE, PQ_PLAIN, 1);
    if (c->chunk_dict_pages > 0)
        encoding_stats(tc, PQ_DATA_PAGE, PQ_RLE_DICTIONARY, c->chunk_dict_pages);
    if (plain_pages > 0)
        encoding_stats(tc, PQ_DATA_PAGE, PQ_PLAIN, plain_pages);
    eddy__tc_struct_end(tc); /* ColumnMetaData */
    eddy__tc_struct_end(tc); /* ColumnChunk */
}

/* w->body := the RowGroup struct of the open row group, to be written at
 * w->file_pos. */
static eddy_err_t row_group_meta(struct eddy_parquet_writer *w)
{
    struct eddy_tc tc;
    uint64_t offset = w->file_pos, uncompressed = 0;
    eddy_buf_reset(&w->body);
    eddy__tc_init(&tc, &w->body);
    eddy__tc_struct_begin(&tc);
    eddy__tc_field_list(&tc, 1, EDDY_TC_STRUCT, (uint32_t)w->column_count);
    for (size_t i = 0; i < w->column_count; i++) {
        const struct column *c = &w->columns[i];
        column_chunk(w, &tc, c, offset);
        offset += c->dict_page.len + c->chunk.len;
        uncompressed += c->dict_page_uncompressed + c->chunk_uncompressed;
    }
    eddy__tc_field_i64(&tc, 2, (int64_t)uncompressed);
    eddy__tc_field_i64(&tc, 3, (int64_t)w->rg_rows);
    eddy__tc_field_i64(&tc, 5, (int64_t)w->file_pos);
    eddy__tc_field_i64(&tc, 6, (int64_t)(offset - w->file_pos));
    if (w->rg_count <= INT16_MAX)
        eddy__tc_field_i16(&tc, 7, (int16_t)w->rg_count);
    eddy__tc_struct_end(&tc);
    if (eddy__tc_err(&tc) || !eddy__parquet_reserve(&w->row_groups, w->body.len)) {
        w->body.oom = false;
        return fail(w, EDDY_ENOMEM, "cannot encode row group metadata");
    }
    return EDDY_OK;
}

static eddy_err_t write_all(struct eddy_parquet_writer *w, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(w->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_io(w, "write", w->tmp_path);
        data += n;
        len -= (size_t)n;
        w->file_pos += (uint64_t)n;
    }
    return EDDY_OK;
}

/* Empties @c's chunk for the next row group (a new dictionary too). */
static void chunk_reset(struct eddy_parquet_writer *w, struct column *c)
{
    eddy_buf_reset(&c->chunk);
    c->chunk_uncompressed = 0;
    c->chunk_values = 0;
    c->chunk_pages = 0;
    c->chunk_dict_pages = 0;
    eddy__parquet_stats_reset(&c->chunk_stats);
    eddy_buf_reset(&c->dict_page);
    c->dict_page_uncompressed = 0;
    eddy__parquet_dict_reset(&c->dict);
    c->dict_mode = c->type == EDDY_PARQUET_STRING && !w->opt.no_dictionary;
}

/* Writes the open row group out. Fails without change (ENOMEM) until the
 * first write; an I/O error is sticky. */
static eddy_err_t row_group_flush(struct eddy_parquet_writer *w)
{
    if (w->rg_rows == 0)
        return EDDY_OK;
    eddy_err_t err;
    for (size_t i = 0; i < w->column_count; i++) {
        struct column *c = &w->columns[i];
        if ((err = page_flush(w, c)) || (err = dict_page_build(w, c)))
            return err;
    }
    if ((err = row_group_meta(w)))
        return err;
    for (size_t i = 0; i < w->column_count; i++) {
        struct column *c = &w->columns[i];
        if ((err = write_all(w, c->dict_page.data, c->dict_page.len)) ||
            (err = write_all(w, c->chunk.data, c->chunk.len)))
            return err;
        chunk_reset(w, c);
    }
    eddy_buf_append(&w->row_groups, w->body.data, w->body.len); /* reserved */
    w->rows_written += w->rg_rows;
    w->rg_rows = 0;
    w->rg_count++;
    return EDDY_OK;
}

static void schema_element(struct eddy_tc *tc, const struct column *c)
{
    eddy__tc_struct_begin(tc);
    eddy__tc_field_i32(tc, 1, physical_type(c->type));
    eddy__tc_field_i32(tc, 3, PQ_OPTIONAL);
    eddy__tc_field_string(tc, 4, c->name);
    if (c->type == EDDY_PARQUET_STRING) {
        eddy__tc_field_i32(tc, 6, PQ_CONVERTED_UTF8);
        eddy__tc_field_struct(tc, 10); /* LogicalType */
        eddy__tc_field_struct(tc, 1);  /* STRING: StringType {} */
        eddy__tc_struct_end(tc);
        eddy__tc_struct_end(tc);
    } else if (c->type == EDDY_PARQUET_TIMESTAMP_MILLIS) {
        eddy__tc_field_i32(tc, 6, PQ_CONVERTED_TIMESTAMP_MILLIS);
        eddy__tc_field_struct(tc, 10);    /* LogicalType */
        eddy__tc_field_struct(tc, 8);     /* TIMESTAMP: TimestampType */
        eddy__tc_field_bool(tc, 1, true); /* isAdjustedToUTC */
        eddy__tc_field_struct(tc, 2);     /* unit: TimeUnit */
        eddy__tc_field_struct(tc, 1);     /* MILLIS: MilliSeconds {} */
        eddy__tc_struct_end(tc);
        eddy__tc_struct_end(tc);
        eddy__tc_struct_end(tc);
        eddy__tc_struct_end(tc);
    }
    eddy__tc_struct_end(tc);
}

static void key_value(struct eddy_tc *tc, const char *key, const char *value)
{
    eddy__tc_struct_begin(tc);
    eddy__tc_field_string(tc, 1, key);
    eddy__tc_field_string(tc, 2, value);
    eddy__tc_struct_end(tc);
}

/* w->header := FileMetaData. */
static eddy_err_t footer_meta(struct eddy_parquet_writer *w)
{
    struct eddy_tc tc;
    struct eddy_buf *out = &w->header;
    eddy_buf_reset(out);
    eddy__tc_init(&tc, out);
    eddy__tc_struct_begin(&tc);
    eddy__tc_field_i32(&tc, 1, 1); /* version */
    eddy__tc_field_list(&tc, 2, EDDY_TC_STRUCT, (uint32_t)w->column_count + 1);
    eddy__tc_struct_begin(&tc); /* root */
    eddy__tc_field_string(&tc, 4, "schema");
    eddy__tc_field_i32(&tc, 5, (int32_t)w->column_count);
    eddy__tc_struct_end(&tc);
    for (size_t i = 0; i < w->column_count; i++)
        schema_element(&tc, &w->columns[i]);
    eddy__tc_field_i64(&tc, 3, (int64_t)w->rows_written);
    eddy__tc_field_list(&tc, 4, EDDY_TC_STRUCT, w->rg_count);
    eddy_buf_append(out, w->row_groups.data, w->row_groups.len); /* whole RowGroup structs */
    eddy__tc_field_list(&tc, 5, EDDY_TC_STRUCT, (uint32_t)w->opt.metadata_count + 1);
    key_value(&tc, "writer", "eddy");
    for (size_t i = 0; i < w->opt.metadata_count; i++)
        key_value(&tc, w->metadata[i].key, w->metadata[i].value);
    eddy__tc_field_string(&tc, 6, CREATED_BY);
    eddy__tc_field_list(&tc, 7, EDDY_TC_STRUCT, (uint32_t)w->column_count);
    for (size_t i = 0; i < w->column_count; i++) {
        eddy__tc_struct_begin(&tc);    /* ColumnOrder */
        eddy__tc_field_struct(&tc, 1); /* TYPE_ORDER: TypeDefinedOrder {} */
        eddy__tc_struct_end(&tc);
        eddy__tc_struct_end(&tc);
    }
    eddy__tc_struct_end(&tc);
    if (out->len > UINT32_MAX - 8)
        return fail(w, EDDY_ERANGE, "footer of %zu bytes is too large", out->len);
    put_le32(out, (uint32_t)out->len);
    eddy_buf_append(out, MAGIC, 4);
    if (eddy__tc_err(&tc)) {
        out->oom = false;
        return fail(w, EDDY_ENOMEM, "cannot encode the footer");
    }
    return EDDY_OK;
}

/* ---- lifecycle ---- */

static void writer_free(struct eddy_parquet_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; w->columns && i < w->column_count; i++) {
        struct column *c = &w->columns[i];
        eddy_free(c->name);
        eddy_buf_release(&c->levels);
        eddy_buf_release(&c->values);
        eddy_free(c->indices);
        eddy_buf_release(&c->chunk);
        eddy_buf_release(&c->dict_page);
        eddy__parquet_dict_release(&c->dict);
        eddy__parquet_stats_release(&c->page_stats);
        eddy__parquet_stats_release(&c->chunk_stats);
    }
    eddy_free(w->columns);
    for (size_t i = 0; w->metadata && i < w->opt.metadata_count; i++) {
        eddy_free((char *)w->metadata[i].key);
        eddy_free((char *)w->metadata[i].value);
    }
    eddy_free(w->metadata);
    eddy_buf_release(&w->row_groups);
    eddy_buf_release(&w->body);
    eddy_buf_release(&w->compressed);
    eddy_buf_release(&w->header);
    eddy_free(w->path);
    eddy_free(w->tmp_path);
    eddy_free(w->dir_path);
    eddy_free(w);
}

static eddy_err_t check_schema(const struct eddy_parquet_schema *schema)
{
    if (!schema || !schema->columns || schema->column_count == 0 ||
        schema->column_count > INT32_MAX - 1) {
        eddy_log(EDDY_LOG_ERROR, "parquet", "schema has no columns");
        return EDDY_EINVAL;
    }
    for (size_t i = 0; i < schema->column_count; i++) {
        const struct eddy_parquet_column *c = &schema->columns[i];
        if (!c->name || !*c->name || !eddy_utf8_valid(c->name, strlen(c->name))) {
            eddy_log(EDDY_LOG_ERROR, "parquet", "column %zu has no valid UTF-8 name", i);
            return EDDY_EINVAL;
        }
        if ((unsigned)c->type > EDDY_PARQUET_TIMESTAMP_MILLIS) {
            eddy_log(EDDY_LOG_ERROR, "parquet", "column '%s' has unknown type %d", c->name,
                     (int)c->type);
            return EDDY_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(schema->columns[j].name, c->name) == 0) {
                eddy_log(EDDY_LOG_ERROR, "parquet", "column '%s' appears twice", c->name);
                return EDDY_EINVAL;
            }
        }
    }
    return EDDY_OK;
}

static eddy_err_t apply_options(struct eddy_parquet_writer *w, const struct eddy_parquet_options *o)
{
    if (o)
        w->opt = *o;
    struct eddy_parquet_options *opt = &w->opt;
    if (!opt->row_group_rows)
        opt->row_group_rows = 1000000;
    if (!opt->row_group_bytes)
        opt->row_group_bytes = 128u << 20;
    if (!opt->page_bytes)
        opt->page_bytes = 1u << 20;
    if (!opt->page_rows)
        opt->page_rows = 20000;
    if (!opt->stats_max_bytes)
        opt->stats_max_bytes = 64;
    if (!opt->dict_max_bytes)
        opt->dict_max_bytes = 1u << 20;
    if (!opt->dict_max_entries)
        opt->dict_max_entries = 65536;
    if (opt->page_bytes > (1u << 30) || opt->page_rows > (1u << 30) ||
        opt->dict_max_bytes > (1u << 30) || opt->dict_max_entries > (1u << 30) ||
        opt->stats_max_bytes > EDDY_PARQUET_STATS_MAX_BYTES_LIMIT ||
        (unsigned)opt->codec > EDDY_PARQUET_UNCOMPRESSED) {
        eddy_log(EDDY_LOG_ERROR, "parquet", "invalid writer options");
        return EDDY_EINVAL;
    }
    if (opt->metadata_count == 0)
        return EDDY_OK;
    w->metadata = eddy_calloc(opt->metadata_count, sizeof(*w->metadata));
    if (!w->metadata) {
        opt->metadata_count = 0;
        return EDDY_ENOMEM;
    }
    for (size_t i = 0; i < opt->metadata_count; i++) {
        const struct eddy_parquet_kv *kv = &opt->metadata[i];
        if (!kv->key || !kv->value) {
            eddy_log(EDDY_LOG_ERROR, "parquet", "metadata entry %zu has no key or value", i);
            return EDDY_EINVAL;
        }
        w->metadata[i].key = eddy_strdup(kv->key);
        w->metadata[i].value = eddy_strdup(kv->value);
        if (!w->metadata[i].key || !w->metadata[i].value)
            return EDDY_ENOMEM;
    }
    opt->metadata = w->metadata;
    return EDDY_OK;
}

static eddy_err_t init_columns(struct eddy_parquet_writer *w,
                               const struct eddy_parquet_schema *schema)
{
    w->columns = eddy_calloc(schema->column_count, sizeof(*w->columns));
    if (!w->columns)
        return EDDY_ENOMEM;
    w->column_count = schema->column_count;
    for (size_t i = 0; i < w->column_count; i++) {
        struct column *c = &w->columns[i];
        c->type = schema->columns[i].type;
        eddy_buf_init(&c->levels);
        eddy_buf_init(&c->values);
        eddy_buf_init(&c->chunk);
        eddy_buf_init(&c->dict_page);
        eddy__parquet_dict_init(&c->dict);
        c->dict_mode = c->type == EDDY_PARQUET_STRING && !w->opt.no_dictionary;
        eddy__parquet_stats_init(&c->page_stats);
        eddy__parquet_stats_init(&c->chunk_stats);
        if (!(c->name = eddy_strdup(schema->columns[i].name)))
            return EDDY_ENOMEM;
    }
    return EDDY_OK;
}

/* Sets path, dir_path and the hidden tmp_path beside the final path. */
static eddy_err_t init_paths(struct eddy_parquet_writer *w, const char *path)
{
    static atomic_uint sequence;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        eddy_log(EDDY_LOG_ERROR, "parquet", "path '%s' names a directory", path);
        return EDDY_EINVAL;
    }
    w->path = eddy_strdup(path);
    w->dir_path =
        slash ? eddy_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : eddy_strdup(".");
    if (!w->path || !w->dir_path)
        return EDDY_ENOMEM;
    unsigned n = atomic_fetch_add(&sequence, 1);
    int len = snprintf(NULL, 0, "%s/.%s.%ld.%u.tmp", w->dir_path, base, (long)getpid(), n);
    if (len < 0 || !(w->tmp_path = eddy_malloc((size_t)len + 1)))
        return EDDY_ENOMEM;
    snprintf(w->tmp_path, (size_t)len + 1, "%s/.%s.%ld.%u.tmp", w->dir_path, base, (long)getpid(),
             n);
    return EDDY_OK;
}

eddy_err_t eddy__parquet_open(const char *path, const struct eddy_parquet_schema *schema,
                              const struct eddy_parquet_options *options,
                              struct eddy_parquet_writer **out)
{
    *out = NULL;
    eddy_err_t err = check_schema(schema);
    if (err)
        return err;
    struct eddy_parquet_writer *w = eddy_calloc(1, sizeof(*w));
    if (!w)
        return EDDY_ENOMEM;
    w->fd = -1;
    eddy_buf_init(&w->row_groups);
    eddy_buf_init(&w->body);
    eddy_buf_init(&w->compressed);
    eddy_buf_init(&w->header);
    if ((err = apply_options(w, options)) || (err = init_columns(w, schema)) ||
        (err = init_paths(w, path)))
        goto out;
    if (w->opt.create_dirs && (err = eddy_mkdirs(w->dir_path, "parquet")))
        goto out;
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        err = fail_io(w, "create", w->tmp_path);
        goto out;
    }
    w->tmp_created = true;
    if ((err = write_all(w, MAGIC, 4)))
        goto out;
    *out = w;
    return EDDY_OK;
out:
    eddy__parquet_discard(w);
    return err;
}

eddy_err_t eddy__parquet_append(struct eddy_parquet_writer *w, const struct eddy_value *row)
{
    eddy_err_t err;
    if (w->failed)
        return w->failed;
    w->error[0] = '\0';
    for (size_t i = 0; i < w->column_count; i++)
        if ((err = check_value(w, &w->columns[i], &row[i])))
            return err;
    /* Cut what the previous rows filled; a failure here leaves them buffered. */
    if (w->rg_rows >= w->opt.row_group_rows ||
        eddy__parquet_bytes(w) - w->file_pos >= w->opt.row_group_bytes) {
        if ((err = row_group_flush(w)))
            return err;
    }
    for (size_t i = 0; i < w->column_count; i++) {
        struct column *c = &w->columns[i];
        if (page_full(w, c) && (err = page_flush(w, c)))
            return err;
        if ((err = dict_admit(w, c, &row[i])))
            return err;
    }
    for (size_t i = 0; i < w->column_count; i++)
        if (!reserve_value(&w->columns[i], &row[i]))
            return fail(w, EDDY_ENOMEM, "column '%s': cannot buffer a value", w->columns[i].name);
    for (size_t i = 0; i < w->column_count; i++)
        put_value(&w->columns[i], &row[i]);
    w->rg_rows++;
    return EDDY_OK;
}

static eddy_err_t sync_dir(struct eddy_parquet_writer *w)
{
    int fd = open(w->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_io(w, "open directory", w->dir_path);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc != 0 && errno != EINVAL) /* some file systems cannot sync directories */
        return fail_io(w, "sync directory", w->dir_path);
    return EDDY_OK;
}

eddy_err_t eddy__parquet_close(struct eddy_parquet_writer *w)
{
    if (!w)
        return EDDY_OK;
    eddy_err_t err = w->failed;
    if (!err)
        err = row_group_flush(w);
    if (!err)
        err = footer_meta(w);
    if (!err)
        err = write_all(w, w->header.data, w->header.len);
    if (!err && fsync(w->fd) != 0)
        err = fail_io(w, "sync", w->tmp_path);
    if (close(w->fd) != 0 && !err)
        err = fail_io(w, "close", w->tmp_path);
    w->fd = -1;
    if (!err && rename(w->tmp_path, w->path) != 0)
        err = fail_io(w, "rename to final path", w->tmp_path);
    if (!err) {
        /* the file is in place; a failed directory sync only weakens durability */
        err = sync_dir(w);
        writer_free(w);
        return err;
    }
    if (err != EDDY_EIO) /* I/O errors were logged where errno was known */
        eddy_log(EDDY_LOG_ERROR, "parquet", "discarding '%s': %s", w->path, w->error);
    eddy__parquet_discard(w);
    return err;
}

void eddy__parquet_discard(struct eddy_parquet_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_created)
        unlink(w->tmp_path);
    writer_free(w);
}

uint64_t eddy__parquet_rows(const struct eddy_parquet_writer *w)
{
    return w->rows_written + w->rg_rows;
}

uint64_t eddy__parquet_bytes(const struct eddy_parquet_writer *w)
{
    uint64_t bytes = w->file_pos;
    for (size_t i = 0; i < w->column_count; i++) {
        const struct column *c = &w->columns[i];
        bytes += c->dict.plain.len + c->chunk.len + open_page_bytes(c);
    }
    return bytes;
}

const char *eddy__parquet_error(const struct eddy_parquet_writer *w)
{
    return w->error;
}

void eddy__parquet_hive_escape(struct eddy_buf *out, const char *value, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len == 0) {
        eddy_buf_puts(out, "__HIVE_DEFAULT_PARTITION__");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)value[i];
        if (ch < 0x20 || ch == 0x7F || strchr("\"#%'*/:=?\\{[]^", ch)) {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            eddy_buf_append(out, esc, 3);
        } else {
            eddy_buf_putc(out, (char)ch);
        }
    }
}
