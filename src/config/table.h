/*
 * table.h - reference tables of a topology (tables: in docs/topology.md).
 *
 * A table file is YAML holding a top-level sequence of mappings (rows). Every
 * row has the key column, a scalar stringified; keys are unique. Other cells
 * are scalars: plain true/false become BOOL, plain integers INT, plain
 * decimals NUM, plain null/~ NULL, everything else (and every quoted scalar)
 * STR. The columns are the union of the rows' keys in order of first
 * appearance; a cell a row does not have is NULL.
 *
 * In memory: rows sorted by key bytes (binary search, no allocation per
 * lookup); cells row-major, n_rows * n_columns. The table owns every string.
 * Immutable after loading; any thread may read it.
 */
#ifndef EDDY_CONFIG_TABLE_H
#define EDDY_CONFIG_TABLE_H

#include <stddef.h>

#include "config/expr.h" /* eddy_table_get(), the public lookup */
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

struct eddy_table_row {
    struct eddy_str key; /* owned, NUL-terminated */
    int line;            /* line in the table file */
};

struct eddy_table {
    char *name;     /* table name in the topology */
    char *file;     /* resolved path of the table file */
    char *key;      /* key column */
    char **columns; /* union of the rows' columns, first appearance order */
    size_t n_columns;
    struct eddy_table_row *rows; /* sorted by key */
    size_t n_rows;
    struct eddy_value *cells; /* n_rows * n_columns; strings owned */
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

void eddy__table_free(struct eddy_table *t);

/* Index of @column (@len bytes) or -1. */
long eddy__table_column(const struct eddy_table *t, const char *column, size_t len);
/* Index of the row whose key is @key (@len bytes), or -1. */
long eddy__table_row(const struct eddy_table *t, const char *key, size_t len);

static inline const struct eddy_value *eddy__table_cell(const struct eddy_table *t, size_t row,
                                                        size_t column)
{
    return &t->cells[row * t->n_columns + column];
}

#endif
