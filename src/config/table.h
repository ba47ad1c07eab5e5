/*
 * table.h - reference tables of a topology (tables: in docs/topology.md).
 *
 * Two kinds, one structure and one lookup:
 *   - a file table ({file, key}): YAML holding a top-level sequence of
 *     mappings (rows), loaded once; immutable afterwards;
 *   - a topic table ({topic, key, columns[, file]}): declared, typed columns;
 *     rows come from a compacted Kafka topic (source/ktable.h decodes the
 *     records) and change while the engine runs; the optional file gives the
 *     rows used until the topic has been read.
 *
 * File rows: every row has the key column, a scalar stringified; keys are
 * unique. Without declared columns, cells are typed by their scalar: plain
 * true/false BOOL, plain integers INT, plain decimals NUM, plain null/~/empty
 * NULL, everything else (and every quoted scalar) STR; the columns are the
 * union of the rows' keys in order of first appearance, and a cell a row does
 * not have is NULL. With declared columns (topic tables, or `columns:` on a
 * file table) the columns are the key column (string) then the declared ones
 * in order; a file cell must fit its column's type (int: plain integer;
 * number: plain integer, kept INT, or decimal; bool: plain true/false;
 * string: any scalar's text; null/~/empty: NULL in any column), undeclared
 * keys of a row are ignored, and a declared column a row lacks is NULL.
 *
 * In memory: rows are dense (rows[0, n_rows), in no particular order: a
 * delete moves the last row into the hole) with their cells row-major,
 * cap_rows * n_columns; an open-addressing index (linear probing, at most
 * half full, backward-shift deletion) maps hash(key) to row + 1. A lookup
 * hashes the key once and compares hash, length and bytes: no allocation, no
 * lock. The table owns every string (row keys and STR cells).
 *
 * Threads: file tables are immutable; any thread may read them. A topic
 * table is changed only by the engine's processing thread, between records
 * (eddy__ktables_apply), so that thread reads it without a lock and never
 * sees a half-applied row. Any other thread that evaluates expressions over
 * the plan (the serving threads) must hold eddy__tables_read_lock around the
 * evaluation and copy what it keeps; the processing thread changes a topic
 * table only under its write lock.
 */
#ifndef EDDY_CONFIG_TABLE_H
#define EDDY_CONFIG_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/expr.h" /* eddy_table_get(), the public lookup */
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

struct eddy_table_row {
    struct eddy_str key; /* owned, NUL-terminated */
    uint64_t hash;       /* eddy__table_hash(key) */
    int line;            /* line in the table file; 0 for a row from the topic */
    bool from_file;      /* topic tables: from the file, not (yet) on the topic */
};

/* Counters of a topic table, kept by the processing thread (eddy__ktables_apply). */
struct eddy_table_stats {
    uint64_t puts;        /* rows inserted or replaced from the topic */
    uint64_t deletes;     /* tombstones that removed a row */
    uint64_t type_errors; /* cells set NULL because the JSON value had the wrong type */
    uint64_t bad_records; /* records skipped: no key, or a value that is not a JSON object */
};

struct eddy_table {
    char *name;  /* table name in the topology */
    char *file;  /* resolved path of the table file, or NULL (a topic table without one) */
    char *topic; /* the compacted topic the rows follow, or NULL (a file table) */
    char *key;   /* key column */
    char **columns;              /* see above: inferred or declared order */
    enum eddy_field_type *types; /* per column when declared (key column: string), else NULL */
    size_t key_column;           /* index of the key column in columns */
    size_t n_columns;
    struct eddy_table_row *rows; /* dense, unordered */
    size_t n_rows, cap_rows;
    struct eddy_value *cells; /* cap_rows * n_columns; strings owned */
    uint32_t *index;          /* index_mask + 1 slots: row + 1, 0 = empty */
    size_t index_mask;
    struct eddy_table_stats stats;
    pthread_rwlock_t lock; /* topic tables: see "Threads" */
};

/* What the topology declares for a table with `columns:` (file NULL: none;
 * topic NULL: a file table with declared columns). Borrowed. */
struct eddy_table_decl {
    const char *name, *key, *file, *topic;
    const char *const *columns; /* the declared columns, without the key column */
    const enum eddy_field_type *types;
    size_t n_columns;
};

/* Parses a table from @text (@len bytes). @file names the file in messages
 * ("<file>:<line>: <name>[<row>].<column>: ..."). On success *out owns the
 * table. Returns EDDY_ECONFIG (message in @err) or EDDY_ENOMEM. */
eddy_err_t eddy__table_parse(const char *name, const char *file, const char *key, const char *text,
                             size_t len, struct eddy_table **out, char *err, size_t errlen);

/* Reads @file and parses it; EDDY_ECONFIG when it cannot be read, with
 * "cannot read '<file>': <reason>" in @err (no prefix). */
eddy_err_t eddy__table_load(const char *name, const char *file, const char *key,
                            struct eddy_table **out, char *err, size_t errlen);

/* A table with declared columns: empty when @text is NULL, else the rows of
 * the YAML @text (@len bytes) of decl->file, checked against the declared
 * types (a topic table's file rows are marked from_file). Errors as
 * eddy__table_parse. */
eddy_err_t eddy__table_declared(const struct eddy_table_decl *decl, const char *text, size_t len,
                                struct eddy_table **out, char *err, size_t errlen);

void eddy__table_free(struct eddy_table *t);

/* The hash rows are indexed by. */
uint64_t eddy__table_hash(const char *key, size_t len);
/* Index of @column (@len bytes) or -1. */
long eddy__table_column(const struct eddy_table *t, const char *column, size_t len);
/* Index of the row whose key is @key (@len bytes), or -1. Never allocates.
 * A row index is valid until the table next changes. */
long eddy__table_row(const struct eddy_table *t, const char *key, size_t len);

static inline const struct eddy_value *eddy__table_cell(const struct eddy_table *t, size_t row,
                                                        size_t column)
{
    return &t->cells[row * t->n_columns + column];
}

/*
 * Changing a table with declared columns (the processing thread, or a
 * single-threaded caller; see "Threads"):
 *
 * eddy__table_put_take inserts the row @key (@len bytes) or replaces its
 * cells with @cells (n_columns values; the key column's is ignored and set
 * to the key). It takes the strings of @cells in every case: on EDDY_ENOMEM
 * they are freed and the table is unchanged. Replaced strings are freed.
 * eddy__table_delete removes the row @key; false when there is none.
 * eddy__table_drop_file_rows deletes the rows still marked from_file and
 * returns how many.
 */
eddy_err_t eddy__table_put_take(struct eddy_table *t, const char *key, size_t len,
                                struct eddy_value *cells);
bool eddy__table_delete(struct eddy_table *t, const char *key, size_t len);
size_t eddy__table_drop_file_rows(struct eddy_table *t);
/* Frees the strings of @n values (cells that were not handed to a table). */
void eddy__table_values_release(struct eddy_value *values, size_t n);

/* Serving threads: hold around evaluating any expression of @plan that may
 * read a table, and copy what you keep (a read lock on each topic table of
 * @plan, in order; nothing for file tables). Readers do not stall the
 * processing thread: it only try-locks for writing and applies later
 * (source/ktable.h). */
void eddy__tables_read_lock(const struct eddy_plan *plan);
void eddy__tables_read_unlock(const struct eddy_plan *plan);

#endif
