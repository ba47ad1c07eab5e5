/*
 * node.c - YAML document access with file:line: path errors; see node.h.
 */
#include "config/node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"

static void vrecord(struct eddy__cfg *c, int line, const char *fmt, va_list ap)
{
    if (!c->errlen)
        return;
    int n = snprintf(c->errbuf, c->errlen, "%s:%d: %s: ", c->file, line,
                     c->path_len ? c->path : "(top level)");
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->errbuf + n, c->errlen - (size_t)n, fmt, ap);
}

eddy_err_t eddy__cfg_fail_line(struct eddy__cfg *c, int line, const char *fmt, ...)
{
    if (c->err)
        return c->err;
    c->err = EDDY_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    vrecord(c, line, fmt, ap);
    va_end(ap);
    return c->err;
}

eddy_err_t eddy__cfg_fail(struct eddy__cfg *c, const yaml_node_t *node, const char *fmt, ...)
{
    if (c->err)
        return c->err;
    c->err = EDDY_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    vrecord(c, eddy__cfg_line(node), fmt, ap);
    va_end(ap);
    return c->err;
}

eddy_err_t eddy__cfg_nomem(struct eddy__cfg *c)
{
    if (c->err)
        return c->err;
    c->err = EDDY_ENOMEM;
    snprintf(c->errbuf, c->errlen, "%s: out of memory", c->file);
    return c->err;
}

size_t eddy__cfg_push(struct eddy__cfg *c, const char *key)
{
    size_t old = c->path_len;
    int n = snprintf(c->path + old, sizeof c->path - old, "%s%s", old ? "." : "", key);
    if (n > 0)
        c->path_len = old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
    return old;
}

size_t eddy__cfg_push_index(struct eddy__cfg *c, size_t index)
{
    size_t old = c->path_len;
    int n = snprintf(c->path + old, sizeof c->path - old, "[%zu]", index);
    if (n > 0)
        c->path_len = old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
    return old;
}

void eddy__cfg_pop(struct eddy__cfg *c, size_t len)
{
    c->path_len = len;
    c->path[len] = '\0';
}

const char *eddy__cfg_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a sequence";
    default: return "a scalar";
    }
}

yaml_node_t *eddy__cfg_node(struct eddy__cfg *c, int index)
{
    return yaml_document_get_node(&c->doc, index);
}

yaml_node_t *eddy__cfg_root(struct eddy__cfg *c)
{
    return yaml_document_get_root_node(&c->doc);
}

/* Rejects aliases (a node reached twice) and deep nesting; iterative over
 * siblings, recursive over depth (bounded). */
static eddy_err_t check_tree(struct eddy__cfg *c, int index, unsigned char *seen, int depth,
                             int parent_line)
{
    yaml_node_t *n = eddy__cfg_node(c, index);
    if (!n)
        return eddy__cfg_fail_line(c, parent_line, "broken YAML node reference");
    if (seen[index])
        return eddy__cfg_fail_line(c, parent_line, "YAML aliases are not supported");
    seen[index] = 1;
    if (depth > EDDY_CFG_MAX_NESTING)
        return eddy__cfg_fail(c, n, "nesting deeper than %d levels", EDDY_CFG_MAX_NESTING);
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            if (check_tree(c, *it, seen, depth + 1, eddy__cfg_line(n)))
                return c->err;
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
            if (check_tree(c, p->key, seen, depth + 1, eddy__cfg_line(n)) ||
                check_tree(c, p->value, seen, depth + 1, eddy__cfg_line(n)))
                return c->err;
    }
    return EDDY_OK;
}

static eddy_err_t syntax_error(struct eddy__cfg *c, yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "cannot parse";
    int line = (int)parser->problem_mark.line + 1;
    c->err = EDDY_ECONFIG;
    if (parser->error == YAML_MEMORY_ERROR)
        return eddy__cfg_nomem(c);
    if (parser->context)
        snprintf(c->errbuf, c->errlen, "%s:%d: yaml syntax error: %s (%s at line %d)", c->file,
                 line, problem, parser->context, (int)parser->context_mark.line + 1);
    else
        snprintf(c->errbuf, c->errlen, "%s:%d: yaml syntax error: %s", c->file, line, problem);
    return c->err;
}

eddy_err_t eddy__cfg_load(struct eddy__cfg *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    unsigned char *seen = NULL;
    if (!yaml_parser_initialize(&parser))
        return eddy__cfg_nomem(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &c->doc)) {
        syntax_error(c, &parser);
        goto out;
    }
    c->have_doc = true;
    yaml_node_t *root = eddy__cfg_root(c);
    if (!root) {
        eddy__cfg_fail_line(c, 1, "empty document");
        goto out;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        syntax_error(c, &parser);
        goto out;
    }
    bool more = yaml_document_get_root_node(&extra) != NULL;
    int extra_line = (int)extra.start_mark.line + 1;
    yaml_document_delete(&extra);
    if (more) {
        eddy__cfg_fail_line(c, extra_line, "more than one YAML document");
        goto out;
    }
    size_t n_nodes = (size_t)(c->doc.nodes.top - c->doc.nodes.start);
    seen = eddy_calloc(n_nodes + 1, 1);
    if (!seen) {
        eddy__cfg_nomem(c);
        goto out;
    }
    check_tree(c, 1, seen, 0, 1);
out:
    eddy_free(seen);
    yaml_parser_delete(&parser);
    return c->err;
}

void eddy__cfg_release(struct eddy__cfg *c)
{
    if (c->have_doc)
        yaml_document_delete(&c->doc);
    c->have_doc = false;
}

const char *eddy__cfg_key(struct eddy__cfg *c, yaml_node_pair_t *pair)
{
    return (const char *)eddy__cfg_node(c, pair->key)->data.scalar.value;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *eddy__cfg_suggest(const char *word, const char *const *choices)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (; choices && *choices; choices++) {
        size_t d = edit_distance(word, *choices);
        if (d < best_d) {
            best_d = d;
            best = *choices;
        }
    }
    size_t len = strlen(word);
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}

static int cmp_key(const void *a, const void *b)
{
    const yaml_node_t *x = *(yaml_node_t *const *)a, *y = *(yaml_node_t *const *)b;
    size_t n = x->data.scalar.length < y->data.scalar.length ? x->data.scalar.length
                                                             : y->data.scalar.length;
    int r = memcmp(x->data.scalar.value, y->data.scalar.value, n);
    if (r)
        return r;
    if (x->data.scalar.length != y->data.scalar.length)
        return x->data.scalar.length < y->data.scalar.length ? -1 : 1;
    /* equal keys: file order, so the later one is reported */
    return x->start_mark.index < y->start_mark.index ? -1 : 1;
}

static eddy_err_t check_duplicates(struct eddy__cfg *c, yaml_node_t *map)
{
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n < 2)
        return EDDY_OK;
    yaml_node_t **keys = eddy_malloc(n * sizeof *keys);
    if (!keys)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++)
        keys[i] = eddy__cfg_node(c, map->data.mapping.pairs.start[i].key);
    qsort(keys, n, sizeof *keys, cmp_key);
    yaml_node_t *dup = NULL, *first = NULL;
    for (size_t i = 1; i < n; i++) {
        if (keys[i]->data.scalar.length == keys[i - 1]->data.scalar.length &&
            memcmp(keys[i]->data.scalar.value, keys[i - 1]->data.scalar.value,
                   keys[i]->data.scalar.length) == 0 &&
            (!dup || keys[i]->start_mark.index < dup->start_mark.index)) {
            dup = keys[i];
            first = keys[i - 1];
        }
    }
    eddy_free(keys);
    if (!dup)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, (const char *)dup->data.scalar.value);
    eddy__cfg_fail(c, dup, "duplicate key (first defined at line %d)", eddy__cfg_line(first));
    eddy__cfg_pop(c, old);
    return c->err;
}

eddy_err_t eddy__cfg_mapping(struct eddy__cfg *c, yaml_node_t *node, const char *const *known)
{
    if (node->type != YAML_MAPPING_NODE)
        return eddy__cfg_fail(c, node, "expected a mapping, got %s", eddy__cfg_kind(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = eddy__cfg_node(c, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return eddy__cfg_fail(c, k, "mapping keys must be scalars, got %s", eddy__cfg_kind(k));
        const char *key = (const char *)k->data.scalar.value;
        if (strlen(key) != k->data.scalar.length || key[0] == '\0')
            return eddy__cfg_fail(c, k, "empty key or key with a NUL byte");
        if (!known)
            continue;
        const char *const *w;
        for (w = known; *w && strcmp(*w, key) != 0; w++)
            ;
        if (*w)
            continue;
        const char *hint = eddy__cfg_suggest(key, known);
        size_t old = eddy__cfg_push(c, key);
        if (hint)
            eddy__cfg_fail(c, k, "unknown key (did you mean '%s'?)", hint);
        else
            eddy__cfg_fail(c, k, "unknown key");
        eddy__cfg_pop(c, old);
        return c->err;
    }
    return check_duplicates(c, node);
}

yaml_node_t *eddy__cfg_get(struct eddy__cfg *c, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (strcmp(eddy__cfg_key(c, p), key) == 0)
            return eddy__cfg_node(c, p->value);
    return NULL;
}

eddy_err_t eddy__cfg_require(struct eddy__cfg *c, yaml_node_t *map, const char *key,
                             yaml_node_t **out)
{
    *out = eddy__cfg_get(c, map, key);
    if (*out)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, key);
    eddy__cfg_fail(c, map, "missing required key");
    eddy__cfg_pop(c, old);
    return c->err;
}

eddy_err_t eddy__cfg_scalar(struct eddy__cfg *c, yaml_node_t *node, const char **out)
{
    if (node->type != YAML_SCALAR_NODE)
        return eddy__cfg_fail(c, node, "expected a scalar, got %s", eddy__cfg_kind(node));
    *out = (const char *)node->data.scalar.value;
    if (strlen(*out) != node->data.scalar.length)
        return eddy__cfg_fail(c, node, "value contains a NUL byte");
    return EDDY_OK;
}

eddy_err_t eddy__cfg_string(struct eddy__cfg *c, yaml_node_t *node, char **out)
{
    const char *s;
    if (eddy__cfg_scalar(c, node, &s))
        return c->err;
    if (!*s)
        return eddy__cfg_fail(c, node, "must not be empty");
    *out = eddy_strdup(s);
    return *out ? EDDY_OK : eddy__cfg_nomem(c);
}

eddy_err_t eddy__cfg_duration(struct eddy__cfg *c, yaml_node_t *node, bool positive,
                              int64_t *out_ms)
{
    const char *s;
    if (eddy__cfg_scalar(c, node, &s))
        return c->err;
    if (strcmp(s, "0") == 0)
        *out_ms = 0;
    else if (!eddy_duration_parse(s, out_ms))
        return eddy__cfg_fail(c, node,
                              "bad duration '%s' (expected e.g. 500ms, 30s, 5m, 1h30m, 1d)", s);
    if (positive && *out_ms <= 0)
        return eddy__cfg_fail(c, node, "duration must be greater than 0");
    return EDDY_OK;
}

eddy_err_t eddy__cfg_size(struct eddy__cfg *c, yaml_node_t *node, uint64_t max, size_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1}, {"B", 1}, {"KB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
    const char *s;
    if (eddy__cfg_scalar(c, node, &s))
        return c->err;
    uint64_t n = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && n <= UINT32_MAX)
        n = n * 10 + (uint64_t)(*p++ - '0');
    for (size_t i = 0; p > s && i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        uint64_t bytes = n * units[i].mult;
        if (n > UINT32_MAX || bytes == 0 || bytes > max || bytes > SIZE_MAX)
            return eddy__cfg_fail(c, node, "size '%s' out of range (1B to %lluGB)", s,
                                  (unsigned long long)(max >> 30));
        *out = (size_t)bytes;
        return EDDY_OK;
    }
    return eddy__cfg_fail(c, node, "bad size '%s' (expected e.g. 65536, 512KB, 1MB)", s);
}

eddy_err_t eddy__cfg_bool(struct eddy__cfg *c, yaml_node_t *node, bool *out)
{
    const char *s;
    if (eddy__cfg_scalar(c, node, &s))
        return c->err;
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return eddy__cfg_fail(c, node, "expected true or false, got '%s'", s);
    return EDDY_OK;
}

int eddy__cfg_read_file(const char *path, char **out, size_t *len)
{
    int rc = 0;
    char *text = NULL;
    size_t used = 0, cap = 0;
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno;
    for (;;) {
        if (used + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *grown = eddy_realloc(text, ncap);
            if (!grown) {
                rc = ENOMEM;
                goto out;
            }
            text = grown;
            cap = ncap;
        }
        size_t n = fread(text + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = errno ? errno : EIO;
        goto out;
    }
    text[used] = '\0';
    *out = text;
    *len = used;
    text = NULL;
out:
    eddy_free(text);
    fclose(f);
    return rc;
}
