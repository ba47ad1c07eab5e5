/*
 * parquet.h - an Apache Parquet file writer for flat schemas of nullable
 * columns, fed one eddy row (an array of eddy_value) at a time.
 *
 * What is written (docs/parquet.md has the full subset): "PAR1", row groups of
 * column chunks made of v1 data pages (PLAIN values, RLE/bit-packed hybrid
 * definition levels, LZ4_RAW or no compression; string columns start with a
 * dictionary page and RLE_DICTIONARY data pages, and fall back to PLAIN for
 * the rest of the chunk when the dictionary grows too large), then the
 * Thrift compact FileMetaData footer with per-chunk and per-page statistics,
 * the key/value metadata "writer" = "eddy", its length and "PAR1".
 *
 * Deterministic: the same schema, options and rows appended in the same
 * order give a byte-identical file (no clock, randomness or addresses in it),
 * whatever allocations failed and were retried on the way.
 *
 * Memory: one row group is buffered, column by column, as encoded and
 * compressed pages, plus the open page of each column. Row groups are cut by
 * row count or by buffered bytes. No allocation per value: buffers grow
 * geometrically and are reused for the life of the writer.
 *
 * Atomic visibility: rows go to a hidden temporary file ".NAME.PID.N.tmp" in
 * the directory of the final path; eddy__parquet_close() writes the footer,
 * fsyncs the file, renames it over the final path and fsyncs the directory.
 * Readers (and Hive-style dataset globs, which skip names starting with '.')
 * never see a partial file.
 *
 * Errors: eddy__parquet_append() is all-or-nothing per row: EDDY_EINVAL (a
 * value of the wrong type, invalid UTF-8, too large) and EDDY_ENOMEM leave
 * the writer unchanged and usable. EDDY_EIO (a failed write of the temporary
 * file) is sticky: later calls return it and close discards the file.
 *
 * Threads: a writer is used by one thread at a time; writers are
 * independent of each other.
 */
#ifndef EDDY_SINK_PARQUET_H
#define EDDY_SINK_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/record.h"

struct eddy_buf;

enum eddy_parquet_type {
    EDDY_PARQUET_STRING = 0,       /* BYTE_ARRAY, String (UTF8); takes STR and JSON */
    EDDY_PARQUET_INT64,            /* INT64; takes INT */
    EDDY_PARQUET_DOUBLE,           /* DOUBLE; takes NUM, and INT converted */
    EDDY_PARQUET_BOOLEAN,          /* BOOLEAN; takes BOOL */
    EDDY_PARQUET_TIMESTAMP_MILLIS, /* INT64, Timestamp(UTC, MILLIS); takes INT ms */
};

enum eddy_parquet_codec {
    EDDY_PARQUET_LZ4_RAW = 0, /* default */
    EDDY_PARQUET_UNCOMPRESSED,
};

/* Every column is OPTIONAL: an EDDY_V_NULL value is a Parquet null. */
struct eddy_parquet_column {
    const char *name; /* UTF-8, non-empty, unique in the schema */
    enum eddy_parquet_type type;
};

struct eddy_parquet_schema {
    const struct eddy_parquet_column *columns;
    size_t column_count; /* >= 1 */
};

struct eddy_parquet_kv {
    const char *key;
    const char *value;
};

/* Zero fields take the defaults. */
struct eddy_parquet_options {
    uint64_t row_group_rows;   /* default 1,000,000 */
    uint64_t row_group_bytes;  /* buffered (mostly compressed) bytes; default 128 MiB */
    uint32_t page_bytes;       /* plain-encoded bytes of a page; default 1 MiB */
    uint32_t page_rows;        /* default 20,000 */
    uint32_t stats_max_bytes;  /* longest string min/max kept exact; default 64 */
    uint32_t dict_max_bytes;   /* PLAIN bytes of a string chunk's dictionary; default 1 MiB */
    uint32_t dict_max_entries; /* distinct values of a string chunk's dictionary; default 65,536 */
    bool no_dictionary;        /* PLAIN-encode string columns from the start */
    enum eddy_parquet_codec codec;
    bool create_dirs;                       /* mkdir -p the directory of the path */
    const struct eddy_parquet_kv *metadata; /* extra footer key/values, after "writer" */
    size_t metadata_count;
};

/* Largest string value accepted, in bytes. */
#define EDDY_PARQUET_MAX_VALUE_BYTES (256u << 20)

struct eddy_parquet_writer;

/* Opens a writer that will publish a Parquet file at @path on close. @schema
 * and @options (NULL for defaults) are borrowed for the call only: names and
 * metadata are copied. Errors: EDDY_EINVAL (empty or duplicate column names,
 * bad type), EDDY_EIO (cannot create the temporary file; logged with the
 * reason), EDDY_ENOMEM. */
eddy_err_t eddy__parquet_open(const char *path, const struct eddy_parquet_schema *schema,
                              const struct eddy_parquet_options *options,
                              struct eddy_parquet_writer **out);

/* Appends one row: @row has one value per schema column, in schema order,
 * borrowed for the call only. All-or-nothing (see the file comment). */
eddy_err_t eddy__parquet_append(struct eddy_parquet_writer *w, const struct eddy_value *row);

/* Writes the buffered rows and the footer, makes the file durable and
 * visible at its final path, and frees the writer. On any error the
 * temporary file is removed, the final path is untouched, and the writer is
 * freed all the same. Accepts NULL. */
eddy_err_t eddy__parquet_close(struct eddy_parquet_writer *w);

/* Abandons the file: removes the temporary file and frees the writer; the
 * final path is untouched. Accepts NULL. */
void eddy__parquet_discard(struct eddy_parquet_writer *w);

/* Rows appended so far. */
uint64_t eddy__parquet_rows(const struct eddy_parquet_writer *w);
/* Bytes written to the temporary file so far, plus buffered bytes: a size
 * estimate for rolling files. */
uint64_t eddy__parquet_bytes(const struct eddy_parquet_writer *w);
/* What the last failed call failed on, e.g. "column 'price': expected DOUBLE,
 * got STR"; "" when nothing failed. Owned by the writer, valid until the
 * next call on it. */
const char *eddy__parquet_error(const struct eddy_parquet_writer *w);

/* Appends @value escaped for a Hive partition directory name "key=value":
 * control bytes, DEL and the characters  " # % ' * / : = ? \ { [ ] ^  as %XX
 * (upper-case hex, as Hive does); an empty value becomes
 * __HIVE_DEFAULT_PARTITION__, Hive's name for a null or empty partition. */
void eddy__parquet_hive_escape(struct eddy_buf *out, const char *value, size_t len);

#endif
