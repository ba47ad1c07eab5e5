/*
 * table.c - reference tables: loading from YAML files, the hash index, and
 * the changes a topic table receives; see table.h.
 */
#include "config/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/node.h"
#include "core/alloc.h"
#include "core/hash.h"

#define INDEX_MIN_SLOTS 16
#define TABLE_HASH_SEED 0x7461626cULL /* "tabl" */

/* ---- the structure ------------------------------------------------------- */

void eddy__table_values_release(struct eddy_value *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (values[i].type == EDDY_V_STR) {
            eddy_free((char *)values[i].as.s.ptr);
            values[i] = eddy_value_null();
        }
}

void eddy__table_free(struct eddy_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows; i++) {
        eddy_free((char *)t->rows[i].key.ptr);
        eddy__table_values_release(&t->cells[i * t->n_columns], t->n_columns);
    }
    for (size_t j = 0; t->columns && j < t->n_columns; j++)
        eddy_free(t->columns[j]);
    pthread_rwlock_destroy(&t->lock);
    eddy_free(t->columns);
    eddy_free(t->types);
    eddy_free(t->rows);
    eddy_free(t->cells);
    eddy_free(t->index);
    eddy_free(t->name);
    eddy_free(t->file);
    eddy_free(t->topic);
    eddy_free(t->key);
    eddy_free(t);
}

/* A table with its names copied and no rows; NULL when out of memory. */
static struct eddy_table *table_new(const char *name, const char *file, const char *topic,
                                    const char *key)
{
    struct eddy_table *t = eddy_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    t->name = eddy_strdup(name);
    t->file = file ? eddy_strdup(file) : NULL;
    t->topic = topic ? eddy_strdup(topic) : NULL;
    t->key = eddy_strdup(key);
    if (!t->name || (file && !t->file) || (topic && !t->topic) || !t->key) {
        eddy__table_free(t);
        return NULL;
    }
    return t;
}

uint64_t eddy__table_hash(const char *key, size_t len)
{
    return eddy_hash64(key, len, TABLE_HASH_SEED);
}

long eddy__table_column(const struct eddy_table *t, const char *column, size_t len)
{
    for (size_t j = 0; j < t->n_columns; j++)
        if (strlen(t->columns[j]) == len && memcmp(t->columns[j], column, len) == 0)
            return (long)j;
    return -1;
}

/* The index slot holding @key, or the empty slot where it would go. */
static size_t index_probe(const struct eddy_table *t, uint64_t hash, const char *key, size_t len)
{
    size_t i = (size_t)hash & t->index_mask;
    for (;; i = (i + 1) & t->index_mask) {
        uint32_t r = t->index[i];
        if (!r)
            return i;
        const struct eddy_table_row *row = &t->rows[r - 1];
        if (row->hash == hash && row->key.len == len && memcmp(row->key.ptr, key, len) == 0)
            return i;
    }
}

long eddy__table_row(const struct eddy_table *t, const char *key, size_t len)
{
    if (!t->index)
        return -1;
    uint32_t r = t->index[index_probe(t, eddy__table_hash(key, len), key, len)];
    return (long)r - 1;
}

const struct eddy_value *eddy_table_get(const struct eddy_table *t, const char *key, size_t keylen,
                                        const char *column)
{
    long row = eddy__table_row(t, key, keylen);
    long col = eddy__table_column(t, column, strlen(column));
    if (row < 0 || col < 0)
        return NULL;
    return eddy__table_cell(t, (size_t)row, (size_t)col);
}

/* Replaces the index by an empty one with room for @rows rows at most half
 * full; false when out of memory (the index is then unchanged). */
static bool index_alloc(struct eddy_table *t, size_t rows)
{
    size_t want = INDEX_MIN_SLOTS;
    while (want / 2 < rows)
        want *= 2;
    if (want - 1 > UINT32_MAX)
        return false;
    uint32_t *index = eddy_calloc(want, sizeof *index);
    if (!index)
        return false;
    eddy_free(t->index);
    t->index = index;
    t->index_mask = want - 1;
    return true;
}

/* Makes room for @rows rows, rebuilding the index when it grows. */
static bool index_reserve(struct eddy_table *t, size_t rows)
{
    if (t->index && rows <= (t->index_mask + 1) / 2)
        return true;
    if (!index_alloc(t, rows))
        return false;
    for (size_t r = 0; r < t->n_rows; r++) {
        const struct eddy_table_row *row = &t->rows[r];
        t->index[index_probe(t, row->hash, row->key.ptr, row->key.len)] = (uint32_t)r + 1;
    }
    return true;
}

/* Room for @rows rows and their cells. */
static bool rows_reserve(struct eddy_table *t, size_t rows)
{
    if (rows <= t->cap_rows)
        return true;
    size_t cap = t->cap_rows ? t->cap_rows * 2 : 8;
    while (cap < rows)
        cap *= 2;
    size_t ncell = cap * (t->n_columns ? t->n_columns : 1);
    struct eddy_table_row *grown_rows = eddy_realloc(t->rows, cap * sizeof *grown_rows);
    if (!grown_rows)
        return false;
    t->rows = grown_rows;
    struct eddy_value *cells = eddy_realloc(t->cells, ncell * sizeof *cells);
    if (!cells)
        return false;
    t->cells = cells;
    t->cap_rows = cap;
    return true;
}

/* Removes index slot @i (backward shift: later entries of its probe run move
 * up unless their home slot lies cyclically in (i, j]). */
static void index_remove(struct eddy_table *t, size_t i)
{
    size_t mask = t->index_mask;
    for (size_t j = (i + 1) & mask; t->index[j]; j = (j + 1) & mask) {
        size_t home = (size_t)t->rows[t->index[j] - 1].hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->index[i] = t->index[j];
            i = j;
        }
    }
    t->index[i] = 0;
}

/* Deletes row @r, whose index slot is @slot; the last row moves into it. */
static void row_remove(struct eddy_table *t, size_t slot, size_t r)
{
    index_remove(t, slot);
    eddy_free((char *)t->rows[r].key.ptr);
    eddy__table_values_release(&t->cells[r * t->n_columns], t->n_columns);
    size_t last = t->n_rows - 1;
    if (r != last) {
        const struct eddy_table_row *moved = &t->rows[last];
        t->index[index_probe(t, moved->hash, moved->key.ptr, moved->key.len)] = (uint32_t)r + 1;
        t->rows[r] = *moved;
        memcpy(&t->cells[r * t->n_columns], &t->cells[last * t->n_columns],
               t->n_columns * sizeof *t->cells);
    }
    t->n_rows = last;
}

/* ---- changes (topic tables) ---------------------------------------------- */

eddy_err_t eddy__table_put_take(struct eddy_table *t, const char *key, size_t len,
                                struct eddy_value *cells)
{
    char *key_cell = NULL, *row_key = NULL;
    if (len > UINT32_MAX || !index_reserve(t, t->n_rows + 1))
        goto nomem;
    uint64_t hash = eddy__table_hash(key, len);
    size_t slot = index_probe(t, hash, key, len);
    if (!(key_cell = eddy_strndup(key, len)))
        goto nomem;
    size_t r;
    if (t->index[slot]) {
        r = t->index[slot] - 1;
        eddy__table_values_release(&t->cells[r * t->n_columns], t->n_columns);
    } else {
        if (!rows_reserve(t, t->n_rows + 1) || !(row_key = eddy_strndup(key, len)))
            goto nomem;
        r = t->n_rows++;
        t->rows[r] = (struct eddy_table_row){{row_key, (uint32_t)len}, hash, 0, false};
        t->index[slot] = (uint32_t)r + 1;
    }
    t->rows[r].from_file = false;
    eddy__table_values_release(&cells[t->key_column], 1);
    cells[t->key_column] =
        (struct eddy_value){.type = EDDY_V_STR, .as.s = {key_cell, (uint32_t)len}};
    memcpy(&t->cells[r * t->n_columns], cells, t->n_columns * sizeof *cells);
    return EDDY_OK;
nomem:
    eddy_free(key_cell);
    eddy__table_values_release(cells, t->n_columns);
    return EDDY_ENOMEM;
}

bool eddy__table_delete(struct eddy_table *t, const char *key, size_t len)
{
    if (!t->index)
        return false;
    size_t slot = index_probe(t, eddy__table_hash(key, len), key, len);
    if (!t->index[slot])
        return false;
    row_remove(t, slot, t->index[slot] - 1);
    return true;
}

size_t eddy__table_drop_file_rows(struct eddy_table *t)
{
    size_t dropped = 0;
    for (size_t r = t->n_rows; r-- > 0;) /* from the end: a moved row was already seen */
        if (t->rows[r].from_file) {
            const struct eddy_table_row *row = &t->rows[r];
            row_remove(t, index_probe(t, row->hash, row->key.ptr, row->key.len), r);
            dropped++;
        }
    return dropped;
}

/* ---- read locks for the serving threads ---------------------------------- */

void eddy__tables_read_lock(const struct eddy_plan *plan)
{
    for (size_t i = 0; i < plan->n_tables; i++)
        if (plan->tables[i]->topic)
            pthread_rwlock_rdlock(&plan->tables[i]->lock);
}

void eddy__tables_read_unlock(const struct eddy_plan *plan)
{
    for (size_t i = plan->n_tables; i-- > 0;)
        if (plan->tables[i]->topic)
            pthread_rwlock_unlock(&plan->tables[i]->lock);
}

/* ---- loading rows from a YAML file --------------------------------------- */

/* Adds @name to the inferred columns unless it is there. */
static eddy_err_t add_column(struct eddy__cfg *c, struct eddy_table *t, const char *name,
                             size_t *cap)
{
    if (eddy__table_column(t, name, strlen(name)) >= 0)
        return EDDY_OK;
    if (!eddy_array_reserve(&t->columns, cap, t->n_columns + 1, sizeof *t->columns, 8))
        return eddy__cfg_nomem(c);
    if (!(t->columns[t->n_columns] = eddy_strdup(name)))
        return eddy__cfg_nomem(c);
    if (strcmp(name, t->key) == 0)
        t->key_column = t->n_columns;
    t->n_columns++;
    return EDDY_OK;
}

/* Checks every row; without declared types, collects the union of the
 * rows' column names. */
static eddy_err_t collect_columns(struct eddy__cfg *c, yaml_node_t *seq, struct eddy_table *t)
{
    size_t cap = 0, index = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, index++) {
        yaml_node_t *row = eddy__cfg_node(c, *it);
        size_t old = eddy__cfg_push_index(c, index);
        if (eddy__cfg_mapping(c, row, NULL))
            return c->err;
        if (!eddy__cfg_get(c, row, t->key))
            return eddy__cfg_fail(c, row, "row has no key column '%s'", t->key);
        for (yaml_node_pair_t *p = row->data.mapping.pairs.start;
             !t->types && p < row->data.mapping.pairs.top; p++)
            if (add_column(c, t, eddy__cfg_key(c, p), &cap))
                return c->err;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

static bool parse_int(const char *s, int64_t *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (*p < '0' || *p > '9')
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '-' || *p == '+';
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    *out = strtod(s, NULL);
    return isfinite(*out);
}

/* The typed value of a plain scalar (bool, null, int, number), or false
 * when it is none of those (a string). */
static bool plain_value(const char *s, size_t len, struct eddy_value *v)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        v->type = EDDY_V_BOOL;
        v->as.b = s[0] == 't';
    } else if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0) {
        v->type = EDDY_V_NULL;
    } else if (parse_int(s, &v->as.i)) {
        v->type = EDDY_V_INT;
    } else if (parse_float(s, &v->as.n)) {
        v->type = EDDY_V_NUM;
    } else {
        return false;
    }
    return true;
}

static const char *value_kind(const struct eddy_value *v)
{
    return v->type == EDDY_V_BOOL ? "bool" : v->type == EDDY_V_INT ? "int" : "number";
}

/* Whether @v (BOOL, INT or NUM) fits a column of @type: number takes int too. */
static bool fits(enum eddy_field_type type, const struct eddy_value *v)
{
    switch (type) {
    case EDDY_FT_INT: return v->type == EDDY_V_INT;
    case EDDY_FT_NUMBER: return v->type == EDDY_V_INT || v->type == EDDY_V_NUM;
    case EDDY_FT_BOOL: return v->type == EDDY_V_BOOL;
    default: return false;
    }
}

/* Converts a cell scalar: typed when plain, string when quoted; with a
 * declared @type (NULL: none), checked against it: a string column takes
 * any scalar's text, null/~/empty is NULL in any column. */
static eddy_err_t cell_value(struct eddy__cfg *c, yaml_node_t *node,
                             const enum eddy_field_type *type, struct eddy_value *v)
{
    if (node->type != YAML_SCALAR_NODE)
        return eddy__cfg_fail(c, node, "expected a scalar, got %s", eddy__cfg_kind(node));
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    bool typed = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_value(s, len, v);
    if (typed && (!type || v->type == EDDY_V_NULL || fits(*type, v)))
        return EDDY_OK;
    if (type && *type != EDDY_FT_STRING) {
        const char *kind = typed ? value_kind(v) : "string";
        *v = eddy_value_null();
        return eddy__cfg_fail(c, node, "expected %s, got %s '%s'", eddy_field_type_name(*type),
                              kind, s);
    }
    if (len > UINT32_MAX)
        return eddy__cfg_fail(c, node, "value too long");
    char *copy = eddy_strndup(s, len);
    if (!copy)
        return eddy__cfg_nomem(c);
    v->type = EDDY_V_STR;
    v->as.s.ptr = copy;
    v->as.s.len = (uint32_t)len;
    return EDDY_OK;
}

static eddy_err_t fill_row(struct eddy__cfg *c, yaml_node_t *row, struct eddy_table *t, size_t r)
{
    for (yaml_node_pair_t *p = row->data.mapping.pairs.start; p < row->data.mapping.pairs.top;
         p++) {
        const char *name = eddy__cfg_key(c, p);
        yaml_node_t *value = eddy__cfg_node(c, p->value);
        size_t old = eddy__cfg_push(c, name);
        if (strcmp(name, t->key) == 0) {
            const char *s;
            if (eddy__cfg_scalar(c, value, &s))
                return c->err;
            t->rows[r].key.ptr = eddy_strdup(s);
            if (!t->rows[r].key.ptr)
                return eddy__cfg_nomem(c);
            t->rows[r].key.len = (uint32_t)strlen(s);
            t->rows[r].hash = eddy__table_hash(s, strlen(s));
            t->rows[r].line = eddy__cfg_line(value);
            t->rows[r].from_file = t->topic != NULL;
            if (t->types) { /* declared columns: the key cell is the key's text */
                struct eddy_value *cell = &t->cells[r * t->n_columns + t->key_column];
                if (!(cell->as.s.ptr = eddy_strdup(s)))
                    return eddy__cfg_nomem(c);
                cell->type = EDDY_V_STR;
                cell->as.s.len = (uint32_t)strlen(s);
                eddy__cfg_pop(c, old);
                continue;
            }
        }
        long col = eddy__table_column(t, name, strlen(name));
        if (col >= 0 && cell_value(c, value, t->types ? &t->types[col] : NULL,
                                   &t->cells[r * t->n_columns + (size_t)col]))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

/* Indexes the rows in file order; reports the first duplicate key. */
static eddy_err_t index_rows(struct eddy__cfg *c, struct eddy_table *t)
{
    if (!index_alloc(t, t->n_rows))
        return eddy__cfg_nomem(c);
    for (size_t r = 0; r < t->n_rows; r++) {
        const struct eddy_table_row *row = &t->rows[r];
        size_t slot = index_probe(t, row->hash, row->key.ptr, row->key.len);
        if (t->index[slot]) {
            eddy__cfg_push_index(c, r);
            eddy__cfg_push(c, t->key);
            return eddy__cfg_fail_line(c, row->line, "duplicate key '%s' (first at line %d)",
                                       row->key.ptr, t->rows[t->index[slot] - 1].line);
        }
        t->index[slot] = (uint32_t)r + 1;
    }
    return EDDY_OK;
}

static eddy_err_t build(struct eddy__cfg *c, struct eddy_table *t)
{
    yaml_node_t *root = eddy__cfg_root(c);
    if (root->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, root, "expected a sequence of rows, got %s", eddy__cfg_kind(root));
    if (collect_columns(c, root, t))
        return c->err;
    size_t n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    if (n > UINT32_MAX - 1)
        return eddy__cfg_fail(c, root, "too many rows");
    if (!rows_reserve(t, n))
        return eddy__cfg_nomem(c);
    if (t->cells)
        memset(t->cells, 0, t->cap_rows * t->n_columns * sizeof *t->cells);
    for (size_t r = 0; r < n; r++) {
        yaml_node_t *row = eddy__cfg_node(c, root->data.sequence.items.start[r]);
        size_t old = eddy__cfg_push_index(c, r);
        t->rows[r] = (struct eddy_table_row){{NULL, 0}, 0, 0, false};
        t->n_rows = r + 1; /* so that a partial row is freed */
        if (fill_row(c, row, t, r))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return index_rows(c, t);
}

/* Loads the rows of @text into @t (named @name in messages). */
static eddy_err_t parse_rows(struct eddy_table *t, const char *file, const char *text, size_t len,
                             char *err, size_t errlen)
{
    struct eddy__cfg c = {.file = file, .errbuf = err, .errlen = errlen};
    eddy__cfg_push(&c, t->name);
    if (!eddy__cfg_load(&c, text, len))
        build(&c, t);
    eddy__cfg_release(&c);
    return c.err;
}

static eddy_err_t nomem(char *err, size_t errlen, const char *file)
{
    snprintf(err, errlen, "%s: out of memory", file ? file : "table");
    return EDDY_ENOMEM;
}

eddy_err_t eddy__table_parse(const char *name, const char *file, const char *key, const char *text,
                             size_t len, struct eddy_table **out, char *err, size_t errlen)
{
    *out = NULL;
    struct eddy_table *t = table_new(name, file, NULL, key);
    if (!t)
        return nomem(err, errlen, file);
    eddy_err_t rc = parse_rows(t, file, text, len, err, errlen);
    if (rc) {
        eddy__table_free(t);
        return rc;
    }
    *out = t;
    return EDDY_OK;
}

eddy_err_t eddy__table_declared(const struct eddy_table_decl *decl, const char *text, size_t len,
                                struct eddy_table **out, char *err, size_t errlen)
{
    *out = NULL;
    struct eddy_table *t = table_new(decl->name, decl->file, decl->topic, decl->key);
    if (!t)
        return nomem(err, errlen, decl->file);
    eddy_err_t rc = EDDY_OK;
    size_t n = decl->n_columns + 1;
    t->columns = eddy_calloc(n, sizeof *t->columns);
    t->types = eddy_calloc(n, sizeof *t->types);
    if (!t->columns || !t->types) {
        rc = nomem(err, errlen, decl->file);
        goto out;
    }
    t->n_columns = n;
    t->key_column = 0;
    t->types[0] = EDDY_FT_STRING;
    t->columns[0] = eddy_strdup(decl->key);
    for (size_t j = 1; j < n && t->columns[j - 1]; j++) {
        t->columns[j] = eddy_strdup(decl->columns[j - 1]);
        t->types[j] = decl->types[j - 1];
    }
    if (!t->columns[n - 1]) {
        rc = nomem(err, errlen, decl->file);
        goto out;
    }
    if (text)
        rc = parse_rows(t, decl->file, text, len, err, errlen);
out:
    if (rc) {
        eddy__table_free(t);
        return rc;
    }
    *out = t;
    return EDDY_OK;
}

eddy_err_t eddy__table_load(const char *name, const char *file, const char *key,
                            struct eddy_table **out, char *err, size_t errlen)
{
    char *text;
    size_t len;
    *out = NULL;
    int e = eddy__cfg_read_file(file, &text, &len);
    if (e == ENOMEM)
        return nomem(err, errlen, file);
    if (e) {
        snprintf(err, errlen, "cannot read '%s': %s", file, strerror(e));
        return EDDY_ECONFIG;
    }
    eddy_err_t rc = eddy__table_parse(name, file, key, text, len, out, err, errlen);
    eddy_free(text);
    return rc;
}
