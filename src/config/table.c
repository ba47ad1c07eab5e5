/*
 * table.c - loading reference tables from YAML files; see table.h.
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

void eddy__table_free(struct eddy_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows; i++) {
        eddy_free((char *)t->rows[i].key.ptr);
        for (size_t j = 0; j < t->n_columns; j++) {
            struct eddy_value *v = &t->cells[i * t->n_columns + j];
            if (v->type == EDDY_V_STR)
                eddy_free((char *)v->as.s.ptr);
        }
    }
    for (size_t j = 0; j < t->n_columns; j++)
        eddy_free(t->columns[j]);
    eddy_free(t->columns);
    eddy_free(t->rows);
    eddy_free(t->cells);
    eddy_free(t->name);
    eddy_free(t->file);
    eddy_free(t->key);
    eddy_free(t);
}

long eddy__table_column(const struct eddy_table *t, const char *column, size_t len)
{
    for (size_t j = 0; j < t->n_columns; j++)
        if (strlen(t->columns[j]) == len && memcmp(t->columns[j], column, len) == 0)
            return (long)j;
    return -1;
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r;
    return (alen > blen) - (alen < blen);
}

long eddy__table_row(const struct eddy_table *t, const char *key, size_t len)
{
    size_t lo = 0, hi = t->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp_bytes(t->rows[mid].key.ptr, t->rows[mid].key.len, key, len);
        if (r == 0)
            return (long)mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
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

/* Collects the union of the rows' column names; checks every row. */
static eddy_err_t collect_columns(struct eddy__cfg *c, yaml_node_t *seq, struct eddy_table *t)
{
    size_t cap = 0;
    size_t index = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, index++) {
        yaml_node_t *row = eddy__cfg_node(c, *it);
        size_t old = eddy__cfg_push_index(c, index);
        if (eddy__cfg_mapping(c, row, NULL))
            return c->err;
        if (!eddy__cfg_get(c, row, t->key))
            return eddy__cfg_fail(c, row, "row has no key column '%s'", t->key);
        for (yaml_node_pair_t *p = row->data.mapping.pairs.start; p < row->data.mapping.pairs.top;
             p++) {
            const char *name = eddy__cfg_key(c, p);
            if (eddy__table_column(t, name, strlen(name)) >= 0)
                continue;
            if (t->n_columns == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                char **cols = eddy_realloc(t->columns, ncap * sizeof *cols);
                if (!cols)
                    return eddy__cfg_nomem(c);
                t->columns = cols;
                cap = ncap;
            }
            t->columns[t->n_columns] = eddy_strdup(name);
            if (!t->columns[t->n_columns])
                return eddy__cfg_nomem(c);
            t->n_columns++;
        }
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

/* Converts a cell scalar: typed when plain, string when quoted. */
static eddy_err_t cell_value(struct eddy__cfg *c, yaml_node_t *node, struct eddy_value *v)
{
    if (node->type != YAML_SCALAR_NODE)
        return eddy__cfg_fail(c, node, "expected a scalar, got %s", eddy__cfg_kind(node));
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            v->type = EDDY_V_BOOL;
            v->as.b = s[0] == 't';
            return EDDY_OK;
        }
        if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0) {
            v->type = EDDY_V_NULL;
            return EDDY_OK;
        }
        if (parse_int(s, &v->as.i)) {
            v->type = EDDY_V_INT;
            return EDDY_OK;
        }
        if (parse_float(s, &v->as.n)) {
            v->type = EDDY_V_NUM;
            return EDDY_OK;
        }
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
            t->rows[r].line = eddy__cfg_line(value);
        }
        long col = eddy__table_column(t, name, strlen(name));
        if (cell_value(c, value, &t->cells[r * t->n_columns + (size_t)col]))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

/* Sorts rows and their cells by key; reports a duplicate key. */
struct row_ref {
    struct eddy_table_row row;
    size_t index;
};

static int cmp_row(const void *a, const void *b)
{
    const struct row_ref *x = a, *y = b;
    int r = cmp_bytes(x->row.key.ptr, x->row.key.len, y->row.key.ptr, y->row.key.len);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

static eddy_err_t sort_rows(struct eddy__cfg *c, struct eddy_table *t)
{
    eddy_err_t rc = EDDY_OK;
    size_t ncell = t->n_rows * t->n_columns;
    struct row_ref *refs = eddy_malloc(t->n_rows * sizeof *refs);
    struct eddy_value *cells = eddy_malloc((ncell ? ncell : 1) * sizeof *cells);
    if (!refs || !cells) {
        rc = eddy__cfg_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < t->n_rows; i++)
        refs[i] = (struct row_ref){t->rows[i], i};
    qsort(refs, t->n_rows, sizeof *refs, cmp_row);
    for (size_t i = 1; i < t->n_rows; i++)
        if (cmp_bytes(refs[i].row.key.ptr, refs[i].row.key.len, refs[i - 1].row.key.ptr,
                      refs[i - 1].row.key.len) == 0) {
            size_t old = eddy__cfg_push_index(c, refs[i].index);
            eddy__cfg_push(c, t->key);
            rc = eddy__cfg_fail_line(c, refs[i].row.line, "duplicate key '%s' (first at line %d)",
                                     refs[i].row.key.ptr, refs[i - 1].row.line);
            eddy__cfg_pop(c, old);
            goto out;
        }
    for (size_t i = 0; i < t->n_rows; i++) {
        memcpy(&cells[i * t->n_columns], &t->cells[refs[i].index * t->n_columns],
               t->n_columns * sizeof *cells);
        t->rows[i] = refs[i].row;
    }
    eddy_free(t->cells);
    t->cells = cells;
    cells = NULL;
out:
    eddy_free(refs);
    eddy_free(cells);
    return rc;
}

static eddy_err_t build(struct eddy__cfg *c, struct eddy_table *t)
{
    yaml_node_t *root = eddy__cfg_root(c);
    if (root->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, root, "expected a sequence of rows, got %s", eddy__cfg_kind(root));
    if (collect_columns(c, root, t))
        return c->err;
    size_t n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    t->rows = eddy_calloc(n ? n : 1, sizeof *t->rows);
    t->cells = eddy_calloc(n && t->n_columns ? n * t->n_columns : 1, sizeof *t->cells);
    if (!t->rows || !t->cells)
        return eddy__cfg_nomem(c);
    for (size_t r = 0; r < n; r++) {
        yaml_node_t *row = eddy__cfg_node(c, root->data.sequence.items.start[r]);
        size_t old = eddy__cfg_push_index(c, r);
        t->n_rows = r + 1; /* so that a partial row is freed */
        if (fill_row(c, row, t, r))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return sort_rows(c, t);
}

eddy_err_t eddy__table_parse(const char *name, const char *file, const char *key, const char *text,
                             size_t len, struct eddy_table **out, char *err, size_t errlen)
{
    struct eddy__cfg c = {.file = file, .errbuf = err, .errlen = errlen};
    struct eddy_table *t = eddy_calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return eddy__cfg_nomem(&c);
    t->name = eddy_strdup(name);
    t->file = eddy_strdup(file);
    t->key = eddy_strdup(key);
    if (!t->name || !t->file || !t->key) {
        eddy__cfg_nomem(&c);
        goto out;
    }
    eddy__cfg_push(&c, name);
    if (eddy__cfg_load(&c, text, len))
        goto out;
    build(&c, t);
out:
    eddy__cfg_release(&c);
    if (c.err) {
        eddy__table_free(t);
        return c.err;
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
    if (e == ENOMEM) {
        snprintf(err, errlen, "%s: out of memory", file);
        return EDDY_ENOMEM;
    }
    if (e) {
        snprintf(err, errlen, "cannot read '%s': %s", file, strerror(e));
        return EDDY_ECONFIG;
    }
    eddy_err_t rc = eddy__table_parse(name, file, key, text, len, out, err, errlen);
    eddy_free(text);
    return rc;
}
