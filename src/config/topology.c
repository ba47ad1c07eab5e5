/*
 * topology.c - topology YAML -> validated, immutable struct eddy_plan; see
 * eddy/topology.h and docs/topology.md (the grammar, every key).
 *
 * The loader walks the libyaml document in a fixed order (name, processing,
 * source, tables, derive, dedup, grace, aggregations, alerts, patterns,
 * kafka), so every later section can check names against earlier ones. It builds the
 * plan in place; any failure frees the partial plan with eddy_plan_free(),
 * which is why every array is allocated zeroed at its final size before it
 * is filled. Errors are "<file>:<line>: <key path>: <message>" (node.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/metric.h"
#include "config/node.h"
#include "config/table.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"
#include "eddy/topology.h"

struct loader {
    struct eddy__cfg c;
    struct eddy_plan *plan;
    const char **slot_names; /* event scope: fields then derives; borrowed from the plan */
    int *slot_lines;
};

static const char *const top_keys[] = {
    "name",         "processing", "source", "dedup",        "grace", "tables",       "derive",
    "aggregations", "alerts",     "kafka",  "idle_timeout", "late",  "memory_limit", "serve",
    "patterns",     "archive",    NULL};
static const char *const source_keys[] = {
    "topic", "format", "max_event_bytes", "timestamp", "fields", "key", NULL};
static const char *const timestamp_keys[] = {"field", "format", NULL};
static const char *const field_keys[] = {"type", "required", "path", NULL};
static const char *const dedup_keys[] = {"field", "within", NULL};
static const char *const late_keys[] = {"correct_within", NULL};
static const char *const table_keys[] = {"file", "key", "topic", "columns", NULL};
static const char *const agg_keys[] = {"name",    "group_by", "where",      "window",  "emit",
                                       "metrics", "output",   "emit_empty", "archive", NULL};
static const char *const archive_keys[] = {"path", "format", "partition_by", "roll", "roll_size",
                                           "name", NULL};
static const char *const emit_keys[] = {"updates", NULL};
static const char *const serve_keys[] = {"retention", "status", NULL};
static const char *const status_keys[] = {"on",     "requests",          "errors", "latency",
                                          "budget", "latency_threshold", NULL};
static const char *const output_keys[] = {"topic", NULL};
static const char *const alert_keys[] = {"name", "on", "when", "burn_rate", "output", NULL};
static const char *const burn_keys[] = {"total", "bad", "budget", "windows", NULL};
static const char *const burn_window_keys[] = {"long", "short", "factor", "severity", NULL};
static const char *const pattern_keys[] = {"name",    "key",    "within", "sequence",
                                           "timeout", "output", NULL};
static const char *const step_keys[] = {"name", "where", "times", "capture", NULL};
static const char *const keywords[] = {"and", "or", "not", "true", "false", "null", NULL};

/* ---- small validators ------------------------------------------------------ */

static bool all_chars(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

static bool is_identifier(const char *s)
{
    return all_chars(s, "_") && !(s[0] >= '0' && s[0] <= '9');
}

static bool is_keyword(const char *s)
{
    for (const char *const *k = keywords; *k; k++)
        if (strcmp(*k, s) == 0)
            return true;
    return false;
}

static bool is_dotted_path(const char *s)
{
    if (!*s || *s == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
        return false;
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            return false;
    return true;
}

/* A slot name: identifier, not a keyword of the expression language. */
static eddy_err_t check_slot_name(struct loader *ld, yaml_node_t *node, const char *name,
                                  const char *what)
{
    if (!is_identifier(name))
        return eddy__cfg_fail(&ld->c, node,
                              "invalid %s name '%s' (expected letters, digits and '_', not "
                              "starting with a digit)",
                              what, name);
    if (is_keyword(name))
        return eddy__cfg_fail(&ld->c, node, "'%s' is a reserved word", name);
    return EDDY_OK;
}

static eddy_err_t get_topic(struct loader *ld, yaml_node_t *node, char **out)
{
    if (eddy__cfg_string(&ld->c, node, out))
        return ld->c.err;
    if (!all_chars(*out, "._-") || strlen(*out) > 249 || strcmp(*out, ".") == 0 ||
        strcmp(*out, "..") == 0)
        return eddy__cfg_fail(&ld->c, node,
                              "invalid topic name '%s' (allowed: letters, digits, '.', '_', '-', "
                              "at most 249)",
                              *out);
    return EDDY_OK;
}

/* Optional {topic: T}. */
static eddy_err_t get_output(struct loader *ld, yaml_node_t *map, char **out)
{
    yaml_node_t *node = eddy__cfg_get(&ld->c, map, "output"), *topic;
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(&ld->c, "output");
    if (eddy__cfg_mapping(&ld->c, node, output_keys) ||
        eddy__cfg_require(&ld->c, node, "topic", &topic))
        return ld->c.err;
    eddy__cfg_push(&ld->c, "topic");
    if (get_topic(ld, topic, out))
        return ld->c.err;
    eddy__cfg_pop(&ld->c, old);
    return EDDY_OK;
}

static long slot_of(const struct loader *ld, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ld->slot_names[i], name) == 0)
            return (long)i;
    return -1;
}

/* Compiles the scalar @node against @scope; errors get the node's line. */
static eddy_err_t compile(struct loader *ld, yaml_node_t *node, const char *text,
                          const struct eddy_expr_scope *scope, struct eddy_expr **out)
{
    char msg[256];
    if (!text && eddy__cfg_scalar(&ld->c, node, &text))
        return ld->c.err;
    eddy_err_t rc = eddy__expr_compile(text, scope, out, msg, sizeof msg);
    if (rc == EDDY_ENOMEM)
        return eddy__cfg_nomem(&ld->c);
    if (rc)
        return eddy__cfg_fail(&ld->c, node, "%s", msg);
    return EDDY_OK;
}

static struct eddy_expr_scope event_scope(const struct loader *ld, size_t n_names)
{
    struct eddy_expr_scope scope = {.names = ld->slot_names,
                                    .n_names = n_names,
                                    .tables = ld->plan->tables,
                                    .n_tables = ld->plan->n_tables};
    return scope;
}

/* ---- source ---------------------------------------------------------------- */

static eddy_err_t parse_timestamp(struct loader *ld, yaml_node_t *node)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_source *src = &ld->plan->source;
    yaml_node_t *field, *format;
    size_t old = eddy__cfg_push(c, "timestamp");
    if (eddy__cfg_mapping(c, node, timestamp_keys) || eddy__cfg_require(c, node, "field", &field))
        return c->err;
    size_t in = eddy__cfg_push(c, "field");
    if (eddy__cfg_string(c, field, &src->ts_path))
        return c->err;
    if (!is_dotted_path(src->ts_path))
        return eddy__cfg_fail(c, field, "bad path '%s' (expected names joined by '.')",
                              src->ts_path);
    eddy__cfg_pop(c, in);
    src->ts_format = EDDY_TS_RFC3339;
    format = eddy__cfg_get(c, node, "format");
    if (format) {
        const char *s;
        eddy__cfg_push(c, "format");
        if (eddy__cfg_scalar(c, format, &s))
            return c->err;
        if (strcmp(s, "rfc3339") == 0)
            src->ts_format = EDDY_TS_RFC3339;
        else if (strcmp(s, "unix_s") == 0)
            src->ts_format = EDDY_TS_UNIX_S;
        else if (strcmp(s, "unix_ms") == 0)
            src->ts_format = EDDY_TS_UNIX_MS;
        else
            return eddy__cfg_fail(c, format,
                                  "unknown timestamp format '%s' (expected rfc3339, unix_s or "
                                  "unix_ms)",
                                  s);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_field_type(struct loader *ld, yaml_node_t *node, enum eddy_field_type *out)
{
    static const char *const names[] = {"string", "int", "number", "bool", NULL};
    const char *s;
    if (eddy__cfg_scalar(&ld->c, node, &s))
        return ld->c.err;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) {
            *out = (enum eddy_field_type)(EDDY_FT_STRING + i);
            return EDDY_OK;
        }
    const char *hint = eddy__cfg_suggest(s, names);
    return eddy__cfg_fail(&ld->c, node,
                          "unknown type '%s' (expected string, int, number or bool%s%s%s)", s,
                          hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
}

static eddy_err_t parse_field(struct loader *ld, yaml_node_pair_t *pair, struct eddy_field *f)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *key = eddy__cfg_node(c, pair->key), *value = eddy__cfg_node(c, pair->value);
    const char *name = eddy__cfg_key(c, pair);
    size_t old = eddy__cfg_push(c, name);
    if (check_slot_name(ld, key, name, "field"))
        return c->err;
    f->name = eddy_strdup(name);
    if (!f->name)
        return eddy__cfg_nomem(c);
    f->line = eddy__cfg_line(key);
    f->required = true;
    if (value->type == YAML_SCALAR_NODE) {
        if (parse_field_type(ld, value, &f->type))
            return c->err;
    } else {
        yaml_node_t *type, *required, *path;
        if (eddy__cfg_mapping(c, value, field_keys) || eddy__cfg_require(c, value, "type", &type))
            return c->err;
        size_t in = eddy__cfg_push(c, "type");
        if (parse_field_type(ld, type, &f->type))
            return c->err;
        eddy__cfg_pop(c, in);
        if ((required = eddy__cfg_get(c, value, "required")) != NULL) {
            eddy__cfg_push(c, "required");
            if (eddy__cfg_bool(c, required, &f->required))
                return c->err;
            eddy__cfg_pop(c, in);
        }
        if ((path = eddy__cfg_get(c, value, "path")) != NULL) {
            eddy__cfg_push(c, "path");
            if (eddy__cfg_string(c, path, &f->path))
                return c->err;
            if (!is_dotted_path(f->path))
                return eddy__cfg_fail(c, path, "bad path '%s' (expected names joined by '.')",
                                      f->path);
            eddy__cfg_pop(c, in);
        }
    }
    if (!f->path && !(f->path = eddy_strdup(name)))
        return eddy__cfg_nomem(c);
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_fields(struct loader *ld, yaml_node_t *node)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_source *src = &ld->plan->source;
    size_t old = eddy__cfg_push(c, "fields");
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    src->fields = eddy_calloc(n ? n : 1, sizeof *src->fields);
    if (!src->fields)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        src->n_fields = i + 1;
        if (parse_field(ld, &node->data.mapping.pairs.start[i], &src->fields[i]))
            return c->err;
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* A sequence of distinct slot names among the first @n_slots slots. */
static eddy_err_t parse_names(struct loader *ld, yaml_node_t *node, const char *key, size_t n_slots,
                              char ***names_out, size_t **slots_out, size_t *n_out)
{
    struct eddy__cfg *c = &ld->c;
    size_t old = eddy__cfg_push(c, key);
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of field names, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    char **names = *names_out = eddy_calloc(n ? n : 1, sizeof *names);
    size_t *slots = *slots_out = eddy_calloc(n ? n : 1, sizeof *slots);
    if (!names || !slots)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = eddy__cfg_node(c, node->data.sequence.items.start[i]);
        const char *name;
        size_t in = eddy__cfg_push_index(c, i);
        if (eddy__cfg_scalar(c, item, &name))
            return c->err;
        long slot = slot_of(ld, n_slots, name);
        if (slot < 0) {
            const char *hint = eddy__cfg_suggest(name, ld->slot_names);
            return eddy__cfg_fail(c, item, "unknown field '%s'%s%s%s", name,
                                  hint ? " (did you mean '" : "", hint ? hint : "",
                                  hint ? "'?)" : "");
        }
        for (size_t j = 0; j < i; j++)
            if (slots[j] == (size_t)slot)
                return eddy__cfg_fail(c, item, "'%s' is listed twice", name);
        *n_out = i + 1;
        slots[i] = (size_t)slot;
        if (!(names[i] = eddy_strdup(name)))
            return eddy__cfg_nomem(c);
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_source(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_source *src = &ld->plan->source;
    yaml_node_t *node, *v;
    if (eddy__cfg_require(c, root, "source", &node))
        return c->err;
    size_t old = eddy__cfg_push(c, "source");
    if (eddy__cfg_mapping(c, node, source_keys) || eddy__cfg_require(c, node, "topic", &v))
        return c->err;
    size_t in = eddy__cfg_push(c, "topic");
    if (get_topic(ld, v, &src->topic))
        return c->err;
    eddy__cfg_pop(c, in);
    if ((v = eddy__cfg_get(c, node, "format")) != NULL) {
        const char *s;
        eddy__cfg_push(c, "format");
        if (eddy__cfg_scalar(c, v, &s))
            return c->err;
        if (strcmp(s, "json") != 0)
            return eddy__cfg_fail(c, v, "unsupported format '%s' (only json is supported)", s);
        eddy__cfg_pop(c, in);
    }
    src->max_event_bytes = 1024 * 1024;
    if ((v = eddy__cfg_get(c, node, "max_event_bytes")) != NULL) {
        eddy__cfg_push(c, "max_event_bytes");
        if (eddy__cfg_size(c, v, (uint64_t)1 << 30, &src->max_event_bytes))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    if (eddy__cfg_require(c, node, "timestamp", &v) || parse_timestamp(ld, v))
        return c->err;
    if (eddy__cfg_require(c, node, "fields", &v) || parse_fields(ld, v))
        return c->err;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* source.key, once the slot names exist (after derive). */
static eddy_err_t parse_source_key(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_source *src = &ld->plan->source;
    yaml_node_t *v = eddy__cfg_get(c, eddy__cfg_get(c, root, "source"), "key");
    if (!v)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "source");
    if (parse_names(ld, v, "key", src->n_fields, &src->key_names, &src->key_slots, &src->n_key))
        return c->err;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- tables, derive, dedup ------------------------------------------------- */

/* "<dir of the topology>/<file>" unless @file is absolute. */
static char *resolve(const char *topology, const char *file)
{
    const char *slash = strrchr(topology, '/');
    if (file[0] == '/' || !slash)
        return eddy_strdup(file);
    size_t dir = (size_t)(slash - topology) + 1, n = strlen(file);
    char *path = eddy_malloc(dir + n + 1);
    if (path) {
        memcpy(path, topology, dir);
        memcpy(path + dir, file, n + 1);
    }
    return path;
}

/* tables.NAME.columns: name -> type, into @decl (arrays owned by the caller:
 * decl->columns and decl->types, n_columns entries). */
static eddy_err_t parse_table_columns(struct loader *ld, yaml_node_t *node, const char *key,
                                      struct eddy_table_decl *decl)
{
    struct eddy__cfg *c = &ld->c;
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n == 0)
        return eddy__cfg_fail(c, node, "declare at least one column (name: type)");
    const char **columns = eddy_calloc(n, sizeof *columns);
    enum eddy_field_type *types = eddy_calloc(n, sizeof *types);
    decl->columns = columns;
    decl->types = types;
    if (!columns || !types)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *name_node = eddy__cfg_node(c, pair->key);
        const char *name = eddy__cfg_key(c, pair);
        size_t old = eddy__cfg_push(c, name);
        if (check_slot_name(ld, name_node, name, "column"))
            return c->err;
        if (strcmp(name, key) == 0)
            return eddy__cfg_fail(
                c, name_node, "'%s' is the key column: it is the record key, not declared", key);
        if (parse_field_type(ld, eddy__cfg_node(c, pair->value), &types[i]))
            return c->err;
        columns[i] = name;
        decl->n_columns = i + 1;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

/* A table: {file, key} (columns inferred from the file), or with columns:
 * {key, columns, file and/or topic} (table.h). */
static eddy_err_t load_table(struct loader *ld, const char *name, yaml_node_t *node,
                             struct eddy_table **out)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *file, *key, *topic, *columns;
    char *path = NULL, *text = NULL, *topic_s = NULL;
    const char *file_s, *key_s;
    struct eddy_table_decl decl = {.name = name};
    size_t len = 0, old = c->path_len;
    if (eddy__cfg_mapping(c, node, table_keys) || eddy__cfg_require(c, node, "key", &key))
        return c->err;
    file = eddy__cfg_get(c, node, "file");
    topic = eddy__cfg_get(c, node, "topic");
    columns = eddy__cfg_get(c, node, "columns");
    if (!file && !topic)
        return eddy__cfg_fail(c, node, "needs 'file' or 'topic'");
    if (topic && !columns)
        return eddy__cfg_fail(c, node, "a table read from a topic needs 'columns' (name: type)");
    eddy__cfg_push(c, "key");
    if (eddy__cfg_scalar(c, key, &key_s))
        return c->err;
    if (!*key_s)
        return eddy__cfg_fail(c, key, "must not be empty");
    decl.key = key_s;
    eddy__cfg_pop(c, old);
    if (topic) {
        eddy__cfg_push(c, "topic");
        if (get_topic(ld, topic, &topic_s))
            goto out;
        decl.topic = topic_s;
        eddy__cfg_pop(c, old);
    }
    if (columns) {
        eddy__cfg_push(c, "columns");
        if (parse_table_columns(ld, columns, key_s, &decl))
            goto out;
        eddy__cfg_pop(c, old);
    }
    if (file) {
        eddy__cfg_push(c, "file");
        if (eddy__cfg_scalar(c, file, &file_s))
            goto out;
        if (!*file_s) {
            eddy__cfg_fail(c, file, "must not be empty");
            goto out;
        }
        if (!(path = resolve(c->file, file_s))) {
            eddy__cfg_nomem(c);
            goto out;
        }
        int e = eddy__cfg_read_file(path, &text, &len);
        if (e) {
            if (e == ENOMEM)
                eddy__cfg_nomem(c);
            else
                eddy__cfg_fail(c, file, "cannot read '%s': %s", path, strerror(e));
            goto out;
        }
        decl.file = path;
    }
    /* the messages of the table loaders name the table file, line and row */
    eddy_err_t rc =
        columns ? eddy__table_declared(&decl, text, len, out, c->errbuf, c->errlen)
                : eddy__table_parse(name, path, key_s, text, len, out, c->errbuf, c->errlen);
    if (rc)
        c->err = rc;
    eddy__cfg_pop(c, old);
out:
    eddy_free((void *)decl.columns);
    eddy_free((void *)decl.types);
    eddy_free(topic_s);
    eddy_free(path);
    eddy_free(text);
    return c->err;
}

static eddy_err_t parse_tables(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *node = eddy__cfg_get(c, root, "tables");
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "tables");
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    plan->tables = eddy_calloc(n ? n : 1, sizeof *plan->tables);
    if (!plan->tables)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        const char *name = eddy__cfg_key(c, pair);
        size_t in = eddy__cfg_push(c, name);
        if (check_slot_name(ld, eddy__cfg_node(c, pair->key), name, "table") ||
            load_table(ld, name, eddy__cfg_node(c, pair->value), &plan->tables[i]))
            return c->err;
        plan->n_tables = i + 1;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* Fails when @name is already an event slot (field or earlier derive). */
static eddy_err_t check_clash(struct loader *ld, yaml_node_t *node, const char *name,
                              size_t n_slots)
{
    long slot = slot_of(ld, n_slots, name);
    if (slot < 0)
        return EDDY_OK;
    bool field = (size_t)slot < ld->plan->source.n_fields;
    return eddy__cfg_fail(&ld->c, node, "name clashes with %s '%s' (line %d)",
                          field ? "field" : "derived field", name, ld->slot_lines[slot]);
}

static eddy_err_t parse_derive(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    size_t nf = plan->source.n_fields;
    yaml_node_t *node = eddy__cfg_get(c, root, "derive");
    size_t n = 0;
    size_t old = eddy__cfg_push(c, "derive");
    if (node) {
        if (eddy__cfg_mapping(c, node, NULL))
            return c->err;
        n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    }
    plan->derives = eddy_calloc(n ? n : 1, sizeof *plan->derives);
    ld->slot_names = eddy_calloc(nf + n + 1, sizeof *ld->slot_names);
    ld->slot_lines = eddy_calloc(nf + n + 1, sizeof *ld->slot_lines);
    if (!plan->derives || !ld->slot_names || !ld->slot_lines)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < nf; i++) {
        ld->slot_names[i] = plan->source.fields[i].name;
        ld->slot_lines[i] = plan->source.fields[i].line;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = eddy__cfg_node(c, pair->key);
        struct eddy_derive *d = &plan->derives[i];
        const char *name = eddy__cfg_key(c, pair);
        size_t in = eddy__cfg_push(c, name);
        if (check_slot_name(ld, key, name, "derived field") || check_clash(ld, key, name, nf + i))
            return c->err;
        plan->n_derives = i + 1;
        if (!(d->name = eddy_strdup(name)))
            return eddy__cfg_nomem(c);
        d->slot = nf + i;
        d->line = eddy__cfg_line(key);
        struct eddy_expr_scope scope = event_scope(ld, nf + i);
        if (compile(ld, eddy__cfg_node(c, pair->value), NULL, &scope, &d->expr))
            return c->err;
        ld->slot_names[nf + i] = d->name;
        ld->slot_lines[nf + i] = d->line;
        eddy__cfg_pop(c, in);
    }
    plan->n_slots = nf + n;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_dedup(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_dedup *dd = &ld->plan->dedup;
    yaml_node_t *node = eddy__cfg_get(c, root, "dedup"), *field, *within;
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "dedup");
    if (eddy__cfg_mapping(c, node, dedup_keys) || eddy__cfg_require(c, node, "field", &field) ||
        eddy__cfg_require(c, node, "within", &within))
        return c->err;
    size_t in = eddy__cfg_push(c, "field");
    if (eddy__cfg_string(c, field, &dd->field))
        return c->err;
    long slot = slot_of(ld, ld->plan->source.n_fields, dd->field);
    if (slot < 0)
        return eddy__cfg_fail(c, field, "unknown field '%s' (dedup needs a declared source field)",
                              dd->field);
    dd->slot = (size_t)slot;
    eddy__cfg_pop(c, in);
    eddy__cfg_push(c, "within");
    if (eddy__cfg_duration(c, within, true, &dd->within_ms))
        return c->err;
    dd->enabled = true;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- aggregations ---------------------------------------------------------- */

static eddy_err_t parse_group_by(struct loader *ld, yaml_node_t *agg_node,
                                 struct eddy_aggregation *agg)
{
    yaml_node_t *node = eddy__cfg_get(&ld->c, agg_node, "group_by");
    if (!node)
        return EDDY_OK;
    return parse_names(ld, node, "group_by", ld->plan->n_slots, &agg->group_names,
                       &agg->group_slots, &agg->n_group);
}

/* An aggregation needs a repartition topic unless every source.key field is
 * one of its group_by fields (then a group never spans input partitions). */
static void mark_repartition(struct eddy_plan *plan)
{
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        struct eddy_aggregation *agg = &plan->aggregations[a];
        bool covered = plan->source.n_key > 0;
        for (size_t k = 0; k < plan->source.n_key; k++) {
            bool found = false;
            for (size_t g = 0; g < agg->n_group; g++)
                found |= agg->group_slots[g] == plan->source.key_slots[k];
            covered &= found;
        }
        /* a rollup merges where its source emits: no shuffle of its own */
        agg->repartition = !covered && !agg->rollup;
    }
}

static eddy_err_t parse_window(struct loader *ld, yaml_node_t *node, struct eddy_window *w,
                               yaml_node_t **from)
{
    static const char *const kinds[] = {"tumbling", "hopping", "session", NULL};
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *size = NULL, *advance = NULL;
    const char *kind = NULL;
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        const char *key = eddy__cfg_key(c, p);
        if (strcmp(key, "advance") == 0) {
            advance = eddy__cfg_node(c, p->value);
            continue;
        }
        if (strcmp(key, "from") == 0) {
            *from = eddy__cfg_node(c, p->value);
            continue;
        }
        int k;
        for (k = 0; kinds[k] && strcmp(kinds[k], key) != 0; k++)
            ;
        if (!kinds[k])
            return eddy__cfg_fail(c, eddy__cfg_node(c, p->key),
                                  "unknown window kind '%s' (expected tumbling, hopping or "
                                  "session)",
                                  key);
        if (kind)
            return eddy__cfg_fail(c, eddy__cfg_node(c, p->key),
                                  "more than one window kind ('%s' and '%s')", kind, key);
        kind = kinds[k];
        w->kind = (enum eddy_window_kind)(EDDY_WIN_TUMBLING + k);
        size = eddy__cfg_node(c, p->value);
    }
    if (!kind)
        return eddy__cfg_fail(c, node,
                              "missing window kind (expected tumbling, hopping or "
                              "session)");
    size_t old = eddy__cfg_push(c, kind);
    int64_t ms;
    if (eddy__cfg_duration(c, size, true, &ms))
        return c->err;
    eddy__cfg_pop(c, old);
    if (w->kind == EDDY_WIN_SESSION)
        w->gap_ms = ms;
    else
        w->size_ms = w->advance_ms = ms;
    if (w->kind != EDDY_WIN_HOPPING && advance) {
        eddy__cfg_push(c, "advance");
        return eddy__cfg_fail(c, advance, "only hopping windows take 'advance'");
    }
    if (w->kind == EDDY_WIN_HOPPING) {
        if (!advance)
            return eddy__cfg_require(c, node, "advance", &advance);
        eddy__cfg_push(c, "advance");
        if (eddy__cfg_duration(c, advance, true, &w->advance_ms))
            return c->err;
        if (w->advance_ms > w->size_ms) {
            char a[32], s[32];
            eddy_duration_format(w->advance_ms, a, sizeof a);
            eddy_duration_format(w->size_ms, s, sizeof s);
            return eddy__cfg_fail(c, advance, "advance %s is larger than the window size %s", a, s);
        }
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

static const char *window_kind_name(enum eddy_window_kind kind)
{
    return kind == EDDY_WIN_HOPPING ? "hopping" : kind == EDDY_WIN_SESSION ? "session" : "tumbling";
}

static eddy_err_t parse_emit(struct loader *ld, yaml_node_t *node, struct eddy_emit *emit)
{
    struct eddy__cfg *c = &ld->c;
    if (node->type == YAML_SCALAR_NODE) {
        const char *s;
        if (eddy__cfg_scalar(c, node, &s))
            return c->err;
        if (strcmp(s, "final") != 0)
            return eddy__cfg_fail(c, node,
                                  "unknown emit mode '%s' (expected final or {updates: "
                                  "DURATION})",
                                  s);
        return EDDY_OK;
    }
    yaml_node_t *updates;
    if (eddy__cfg_mapping(c, node, emit_keys) || eddy__cfg_require(c, node, "updates", &updates))
        return c->err;
    size_t old = eddy__cfg_push(c, "updates");
    if (eddy__cfg_duration(c, updates, true, &emit->update_interval_ms))
        return c->err;
    emit->updates = true;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_metric(struct loader *ld, yaml_node_pair_t *pair,
                               struct eddy_aggregation *agg, struct eddy_metric *m)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *key = eddy__cfg_node(c, pair->key), *value = eddy__cfg_node(c, pair->value);
    const char *name = eddy__cfg_key(c, pair), *text;
    struct eddy__metric_call call;
    char msg[256];
    size_t old = eddy__cfg_push(c, name);
    if (check_slot_name(ld, key, name, "metric") || check_clash(ld, key, name, ld->plan->n_slots))
        return c->err;
    for (size_t j = 0; j < agg->n_group; j++)
        if (strcmp(agg->group_names[j], name) == 0)
            return eddy__cfg_fail(c, key, "name clashes with group_by '%s'", name);
    if (!(m->name = eddy_strdup(name)))
        return eddy__cfg_nomem(c);
    m->line = eddy__cfg_line(key);
    if (eddy__cfg_scalar(c, value, &text))
        return c->err;
    if (eddy__metric_call_parse(text, &call, msg, sizeof msg))
        return eddy__cfg_fail(c, value, "%s", msg);
    m->kind = call.kind;
    m->q = call.q;
    const char *texts[2] = {call.arg, call.arg2};
    size_t lens[2] = {call.arg_len, call.arg2_len};
    struct eddy_expr **exprs[2] = {&m->arg, &m->arg2};
    for (int i = 0; i < 2; i++) {
        if (!texts[i])
            continue;
        char *arg = eddy_strndup(texts[i], lens[i]);
        if (!arg)
            return eddy__cfg_nomem(c);
        struct eddy_expr_scope scope = event_scope(ld, ld->plan->n_slots);
        compile(ld, value, arg, &scope, exprs[i]);
        eddy_free(arg);
        if (c->err)
            return c->err;
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_metrics(struct loader *ld, yaml_node_t *node, struct eddy_aggregation *agg)
{
    struct eddy__cfg *c = &ld->c;
    size_t old = eddy__cfg_push(c, "metrics");
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n == 0)
        return eddy__cfg_fail(c, node, "at least one metric is needed");
    agg->metrics = eddy_calloc(n, sizeof *agg->metrics);
    if (!agg->metrics)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        agg->n_metrics = i + 1;
        if (parse_metric(ld, &node->data.mapping.pairs.start[i], agg, &agg->metrics[i]))
            return c->err;
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* window.from: the aggregation rolls up the final rows of an earlier
 * tumbling aggregation; it copies that one's group_by and metrics (argument
 * expressions compiled again), so both have the same accumulator layout. */
static eddy_err_t parse_rollup(struct loader *ld, yaml_node_t *agg_node, yaml_node_t *from,
                               size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_aggregation *agg = &plan->aggregations[index];
    const char *name;
    size_t old = eddy__cfg_push(c, "from");
    if (eddy__cfg_scalar(c, from, &name))
        return c->err;
    size_t src = 0;
    while (src < index && strcmp(plan->aggregations[src].name, name) != 0)
        src++;
    if (src == index)
        return eddy__cfg_fail(c, from, "'%s' is not an earlier aggregation", name);
    const struct eddy_aggregation *a = &plan->aggregations[src];
    /* a session's rows have no fixed span to merge into coarser windows,
     * and a session window has no fixed span to merge rows into */
    if (a->window.kind != EDDY_WIN_TUMBLING)
        return eddy__cfg_fail(c, from,
                              "'%s' must have tumbling windows to be rolled up (it has %s "
                              "windows)",
                              name, window_kind_name(a->window.kind));
    if (agg->window.kind == EDDY_WIN_SESSION)
        return eddy__cfg_fail(c, from,
                              "a rollup cannot have session windows (use tumbling or hopping "
                              "windows, or aggregate the events into sessions directly)");
    if (agg->window.size_ms % a->window.size_ms || agg->window.advance_ms % a->window.size_ms)
        return eddy__cfg_fail(c, from,
                              "window size and advance must be multiples of the "
                              "window of '%s'",
                              name);
    static const char *const copied[] = {"group_by", "where", "metrics"};
    for (size_t k = 0; k < 3; k++)
        if (eddy__cfg_get(c, agg_node, copied[k]))
            return eddy__cfg_fail(c, from, "a rollup takes its %s from '%s': remove it", copied[k],
                                  name);
    agg->rollup = true;
    agg->from = src;
    agg->n_group = a->n_group;
    agg->group_names = eddy_calloc(a->n_group + 1, sizeof *agg->group_names);
    agg->group_slots = eddy_calloc(a->n_group + 1, sizeof *agg->group_slots);
    agg->metrics = eddy_calloc(a->n_metrics, sizeof *agg->metrics);
    if (!agg->group_names || !agg->group_slots || !agg->metrics)
        return eddy__cfg_nomem(c);
    for (size_t g = 0; g < a->n_group; g++) {
        agg->group_slots[g] = a->group_slots[g];
        if (!(agg->group_names[g] = eddy_strdup(a->group_names[g])))
            return eddy__cfg_nomem(c);
    }
    struct eddy_expr_scope scope = event_scope(ld, plan->n_slots);
    for (size_t m = 0; m < a->n_metrics; m++) {
        struct eddy_metric *dst = &agg->metrics[m];
        const struct eddy_metric *sm = &a->metrics[m];
        agg->n_metrics = m + 1;
        *dst = (struct eddy_metric){.kind = sm->kind, .q = sm->q, .line = sm->line};
        if (!(dst->name = eddy_strdup(sm->name)))
            return eddy__cfg_nomem(c);
        char err[256];
        if (sm->arg &&
            eddy__expr_compile(eddy_expr_source(sm->arg), &scope, &dst->arg, err, sizeof err))
            return eddy__cfg_fail(c, from, "%s", err);
        if (sm->arg2 &&
            eddy__expr_compile(eddy_expr_source(sm->arg2), &scope, &dst->arg2, err, sizeof err))
            return eddy__cfg_fail(c, from, "%s", err);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_aggregation(struct loader *ld, yaml_node_t *node, size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_aggregation *agg = &plan->aggregations[index];
    yaml_node_t *name, *v;
    if (eddy__cfg_mapping(c, node, agg_keys) || eddy__cfg_require(c, node, "name", &name))
        return c->err;
    agg->line = eddy__cfg_line(node);
    size_t old = eddy__cfg_push(c, "name");
    if (eddy__cfg_string(c, name, &agg->name))
        return c->err;
    if (!all_chars(agg->name, "_"))
        return eddy__cfg_fail(
            c, name, "invalid aggregation name '%s' (allowed: letters, digits, '_')", agg->name);
    for (size_t j = 0; j < index; j++)
        if (strcmp(plan->aggregations[j].name, agg->name) == 0)
            return eddy__cfg_fail(c, name, "duplicate aggregation name '%s' (first at line %d)",
                                  agg->name, plan->aggregations[j].line);
    if (strcmp(agg->name, EDDY_STORE_META) == 0 || strcmp(agg->name, EDDY_STORE_DEDUP) == 0 ||
        strcmp(agg->name, EDDY_STORE_ALERTS) == 0 || strcmp(agg->name, EDDY_STORE_ARCHIVE) == 0)
        return eddy__cfg_fail(c, name, "'%s' names an internal store; choose another name",
                              agg->name);
    eddy__cfg_pop(c, old);
    if (parse_group_by(ld, node, agg))
        return c->err;
    if ((v = eddy__cfg_get(c, node, "where")) != NULL) {
        struct eddy_expr_scope scope = event_scope(ld, plan->n_slots);
        eddy__cfg_push(c, "where");
        if (compile(ld, v, NULL, &scope, &agg->where))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if (eddy__cfg_require(c, node, "window", &v))
        return c->err;
    eddy__cfg_push(c, "window");
    yaml_node_t *from = NULL;
    if (parse_window(ld, v, &agg->window, &from))
        return c->err;
    if (from && parse_rollup(ld, node, from, index))
        return c->err;
    eddy__cfg_pop(c, old);
    if ((v = eddy__cfg_get(c, node, "emit")) != NULL) {
        eddy__cfg_push(c, "emit");
        if (parse_emit(ld, v, &agg->emit))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, node, "emit_empty")) != NULL) {
        eddy__cfg_push(c, "emit_empty");
        if (eddy__cfg_bool(c, v, &agg->emit_empty))
            return c->err;
        if (agg->emit_empty && agg->window.kind != EDDY_WIN_TUMBLING)
            return eddy__cfg_fail(c, v,
                                  "emit_empty needs tumbling windows (this aggregation "
                                  "has %s windows)",
                                  window_kind_name(agg->window.kind));
        eddy__cfg_pop(c, old);
    }
    if (!agg->rollup && (eddy__cfg_require(c, node, "metrics", &v) || parse_metrics(ld, v, agg)))
        return c->err;
    return get_output(ld, node, &agg->output_topic);
}

static eddy_err_t parse_aggregations(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *node;
    if (!eddy__cfg_get(c, root, "aggregations") && eddy__cfg_get(c, root, "patterns"))
        return EDDY_OK; /* a topology of patterns only */
    if (eddy__cfg_require(c, root, "aggregations", &node))
        return c->err;
    size_t old = eddy__cfg_push(c, "aggregations");
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of aggregations, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return eddy__cfg_fail(c, node, "at least one aggregation is needed");
    plan->aggregations = eddy_calloc(n, sizeof *plan->aggregations);
    if (!plan->aggregations)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        size_t in = eddy__cfg_push_index(c, i);
        plan->n_aggregations = i + 1;
        if (parse_aggregation(ld, eddy__cfg_node(c, node->data.sequence.items.start[i]), i))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- alerts, kafka ---------------------------------------------------------- */

static const char *skip_spaces(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

/* "absent(N)", spaces allowed around the tokens: true with *n = N, or -1
 * when the argument is not a decimal integer, -2 when text follows the
 * call; false when @s is not an absent call (an expression never has
 * NAME '('). */
static bool absent_call(const char *s, long long *n)
{
    const char *p = skip_spaces(s);
    if (strncmp(p, "absent", 6) != 0)
        return false;
    p = skip_spaces(p + 6);
    if (*p != '(')
        return false;
    *n = -1;
    p = skip_spaces(p + 1);
    if (*p < '0' || *p > '9')
        return true;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    p = skip_spaces(end);
    if (errno || *p != ')')
        return true;
    *n = *skip_spaces(p + 1) == '\0' ? v : -2;
    return true;
}

/* when: absent(N): a tumbling aggregation, 1 <= N <= 1000000; `when` becomes
 * the constant "false" so code that only knows expressions stays safe. */
static eddy_err_t parse_absent(struct loader *ld, yaml_node_t *when, long long n,
                               struct eddy_alert *alert)
{
    struct eddy__cfg *c = &ld->c;
    const struct eddy_aggregation *agg = &ld->plan->aggregations[alert->aggregation];
    size_t old = eddy__cfg_push(c, "when");
    if (n == -2)
        return eddy__cfg_fail(c, when,
                              "absent(N) stands alone: it cannot be combined with "
                              "other conditions (write a second alert)");
    if (n < 1 || n > 1000000)
        return eddy__cfg_fail(c, when,
                              "absent(N) takes a whole number of windows N from 1 to "
                              "1000000");
    if (agg->window.kind != EDDY_WIN_TUMBLING)
        return eddy__cfg_fail(c, when,
                              "absent(N) needs an aggregation with tumbling windows "
                              "('%s' has %s windows)",
                              agg->name, window_kind_name(agg->window.kind));
    alert->absent_windows = n;
    struct eddy_expr_scope scope = {0};
    compile(ld, when, "false", &scope, &alert->when);
    eddy__cfg_pop(c, old);
    return c->err;
}

/* Compiles @node (@text, or its scalar when NULL) against the output scope
 * of @agg: the group-by names, then the metrics; tables. */
static eddy_err_t compile_output(struct loader *ld, yaml_node_t *node, const char *text,
                                 const struct eddy_aggregation *agg, struct eddy_expr **out)
{
    size_t n = agg->n_group + agg->n_metrics;
    const char **names = eddy_calloc(n + 1, sizeof *names);
    if (!names)
        return eddy__cfg_nomem(&ld->c);
    for (size_t i = 0; i < agg->n_group; i++)
        names[i] = agg->group_names[i];
    for (size_t i = 0; i < agg->n_metrics; i++)
        names[agg->n_group + i] = agg->metrics[i].name;
    struct eddy_expr_scope scope = {
        .names = names, .n_names = n, .tables = ld->plan->tables, .n_tables = ld->plan->n_tables};
    compile(ld, node, text, &scope, out);
    eddy_free(names);
    return ld->c.err;
}

static eddy_err_t compile_when(struct loader *ld, yaml_node_t *when, struct eddy_alert *alert)
{
    const struct eddy_aggregation *agg = &ld->plan->aggregations[alert->aggregation];
    const char *text;
    long long absent;
    size_t at = eddy__cfg_push(&ld->c, "when");
    if (eddy__cfg_scalar(&ld->c, when, &text))
        return ld->c.err;
    eddy__cfg_pop(&ld->c, at);
    if (absent_call(text, &absent))
        return parse_absent(ld, when, absent, alert);
    size_t old = eddy__cfg_push(&ld->c, "when");
    compile_output(ld, when, text, agg, &alert->when);
    eddy__cfg_pop(&ld->c, old);
    return ld->c.err;
}

/* total/bad of burn_rate: a count(), count_if() or sum() metric of @agg. */
static eddy_err_t burn_metric(struct loader *ld, yaml_node_t *node, const char *key,
                              const struct eddy_aggregation *agg, size_t *out)
{
    struct eddy__cfg *c = &ld->c;
    const char *name;
    size_t old = eddy__cfg_push(c, key);
    if (eddy__cfg_scalar(c, node, &name))
        return c->err;
    size_t m = 0;
    while (m < agg->n_metrics && strcmp(agg->metrics[m].name, name) != 0)
        m++;
    if (m == agg->n_metrics) {
        const char **names = eddy_calloc(agg->n_metrics + 1, sizeof *names);
        if (!names)
            return eddy__cfg_nomem(c);
        for (size_t i = 0; i < agg->n_metrics; i++)
            names[i] = agg->metrics[i].name;
        const char *hint = eddy__cfg_suggest(name, names);
        eddy__cfg_fail(c, node, "'%s' is not a metric of '%s'%s%s%s", name, agg->name,
                       hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        eddy_free(names);
        return c->err;
    }
    enum eddy_metric_kind kind = agg->metrics[m].kind;
    if (kind != EDDY_M_COUNT && kind != EDDY_M_COUNT_IF && kind != EDDY_M_SUM)
        return eddy__cfg_fail(c, node,
                              "'%s' is a %s() metric; burn rates need a count of events: "
                              "count(), count_if() or sum()",
                              name, eddy__metric_kind_name(kind));
    *out = m;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* A window length of a burn-rate pair: a multiple of @agg's window size. */
static eddy_err_t burn_length(struct loader *ld, yaml_node_t *pair, const char *key,
                              const struct eddy_aggregation *agg, int64_t *out)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *node;
    char text[32], size[32];
    if (eddy__cfg_require(c, pair, key, &node))
        return c->err;
    size_t old = eddy__cfg_push(c, key);
    if (eddy__cfg_duration(c, node, true, out))
        return c->err;
    eddy_duration_format(*out, text, sizeof text);
    eddy_duration_format(agg->window.size_ms, size, sizeof size);
    if (*out % agg->window.size_ms != 0)
        return eddy__cfg_fail(c, node, "%s is not a multiple of the window size of '%s' (%s)", text,
                              agg->name, size);
    if (*out / agg->window.size_ms > EDDY_BURN_MAX_RING)
        return eddy__cfg_fail(c, node, "%s spans more than %d windows of '%s' (%s)", text,
                              EDDY_BURN_MAX_RING, agg->name, size);
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_burn_window(struct loader *ld, yaml_node_t *node,
                                    const struct eddy_aggregation *agg, struct eddy_burn_window *w)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *factor, *severity;
    const char *text;
    char *end;
    if (eddy__cfg_mapping(c, node, burn_window_keys) ||
        burn_length(ld, node, "long", agg, &w->long_ms) ||
        burn_length(ld, node, "short", agg, &w->short_ms))
        return c->err;
    if (w->short_ms >= w->long_ms) {
        char s[32], l[32];
        eddy_duration_format(w->short_ms, s, sizeof s);
        eddy_duration_format(w->long_ms, l, sizeof l);
        eddy__cfg_push(c, "short");
        return eddy__cfg_fail(c, eddy__cfg_get(c, node, "short"),
                              "the short window (%s) must be shorter than the long one (%s)", s, l);
    }
    if (eddy__cfg_require(c, node, "factor", &factor) ||
        eddy__cfg_require(c, node, "severity", &severity))
        return c->err;
    size_t old = eddy__cfg_push(c, "factor");
    if (eddy__cfg_scalar(c, factor, &text))
        return c->err;
    w->factor = strtod(text, &end);
    if (end == text || *end || !isfinite(w->factor) || w->factor <= 0)
        return eddy__cfg_fail(c, factor, "expected a number greater than 0, got '%s'", text);
    eddy__cfg_pop(c, old);
    eddy__cfg_push(c, "severity");
    if (eddy__cfg_string(c, severity, &w->severity))
        return c->err;
    if (!all_chars(w->severity, "._-"))
        return eddy__cfg_fail(c, severity,
                              "invalid severity '%s' (allowed: letters, digits, '.', '_', '-')",
                              w->severity);
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_burn_windows(struct loader *ld, yaml_node_t *node,
                                     const struct eddy_aggregation *agg, struct eddy_burn_rate *br)
{
    struct eddy__cfg *c = &ld->c;
    size_t old = eddy__cfg_push(c, "windows");
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of window pairs, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n < 1 || n > EDDY_BURN_MAX_WINDOWS)
        return eddy__cfg_fail(c, node, "expected 1 to %d window pairs, got %zu",
                              EDDY_BURN_MAX_WINDOWS, n);
    if (!(br->windows = eddy_calloc(n, sizeof *br->windows)))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        size_t in = eddy__cfg_push_index(c, i);
        br->n_windows = i + 1;
        if (parse_burn_window(ld, eddy__cfg_node(c, node->data.sequence.items.start[i]), agg,
                              &br->windows[i]))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* Without `windows`: the workbook's pairs 1h/5m at 14.4 (page) and 6h/30m
 * at 6 (ticket). */
static eddy_err_t default_burn_windows(struct loader *ld, yaml_node_t *node,
                                       const struct eddy_aggregation *agg,
                                       struct eddy_burn_rate *br)
{
    static const struct {
        int64_t long_ms, short_ms;
        double factor;
        const char *severity;
    } pairs[] = {{3600000, 300000, 14.4, "page"}, {21600000, 1800000, 6, "ticket"}};
    char size[32];
    eddy_duration_format(agg->window.size_ms, size, sizeof size);
    if (300000 % agg->window.size_ms != 0)
        return eddy__cfg_fail(&ld->c, node,
                              "the default windows (1h and 5m, 6h and 30m) need a window size "
                              "that divides 5m ('%s' has %s windows): list `windows`",
                              agg->name, size);
    if (!(br->windows = eddy_calloc(2, sizeof *br->windows)))
        return eddy__cfg_nomem(&ld->c);
    for (size_t i = 0; i < 2; i++) {
        br->n_windows = i + 1;
        br->windows[i] = (struct eddy_burn_window){
            .long_ms = pairs[i].long_ms, .short_ms = pairs[i].short_ms, .factor = pairs[i].factor};
        if (!(br->windows[i].severity = eddy_strdup(pairs[i].severity)))
            return eddy__cfg_nomem(&ld->c);
    }
    return EDDY_OK;
}

/* The distinct window lengths in report order, each pair's indexes into
 * them, and the ring length. */
static eddy_err_t burn_spans(struct loader *ld, const struct eddy_aggregation *agg,
                             struct eddy_burn_rate *br)
{
    if (!(br->spans_ms = eddy_calloc(2 * br->n_windows, sizeof *br->spans_ms)))
        return eddy__cfg_nomem(&ld->c);
    for (size_t i = 0; i < br->n_windows; i++) {
        struct eddy_burn_window *w = &br->windows[i];
        int64_t lengths[2] = {w->short_ms, w->long_ms};
        size_t *index[2] = {&w->short_span, &w->long_span};
        for (size_t k = 0; k < 2; k++) {
            size_t s = 0;
            while (s < br->n_spans && br->spans_ms[s] != lengths[k])
                s++;
            if (s == br->n_spans)
                br->spans_ms[br->n_spans++] = lengths[k];
            *index[k] = s;
        }
        if (w->long_ms / agg->window.size_ms > br->ring)
            br->ring = w->long_ms / agg->window.size_ms;
    }
    return EDDY_OK;
}

/* burn_rate: {total: M, bad: M, budget: EXPR[, windows: [...]]} on a
 * tumbling aggregation; `when` becomes the constant "false". */
static eddy_err_t parse_burn_rate(struct loader *ld, yaml_node_t *node, struct eddy_alert *alert)
{
    struct eddy__cfg *c = &ld->c;
    const struct eddy_aggregation *agg = &ld->plan->aggregations[alert->aggregation];
    yaml_node_t *total, *bad, *budget, *windows;
    size_t old = eddy__cfg_push(c, "burn_rate");
    if (eddy__cfg_mapping(c, node, burn_keys) || eddy__cfg_require(c, node, "total", &total) ||
        eddy__cfg_require(c, node, "bad", &bad) || eddy__cfg_require(c, node, "budget", &budget))
        return c->err;
    if (agg->window.kind != EDDY_WIN_TUMBLING)
        return eddy__cfg_fail(c, node,
                              "burn_rate needs an aggregation with tumbling windows ('%s' has %s "
                              "windows)",
                              agg->name, window_kind_name(agg->window.kind));
    struct eddy_burn_rate *br = alert->burn = eddy_calloc(1, sizeof *alert->burn);
    if (!br)
        return eddy__cfg_nomem(c);
    if (burn_metric(ld, total, "total", agg, &br->total) ||
        burn_metric(ld, bad, "bad", agg, &br->bad))
        return c->err;
    size_t in = eddy__cfg_push(c, "budget");
    if (compile_output(ld, budget, NULL, agg, &br->budget))
        return c->err;
    eddy__cfg_pop(c, in);
    windows = eddy__cfg_get(c, node, "windows");
    if (windows ? parse_burn_windows(ld, windows, agg, br)
                : default_burn_windows(ld, node, agg, br))
        return c->err;
    if (burn_spans(ld, agg, br))
        return c->err;
    struct eddy_expr_scope scope = {0};
    compile(ld, node, "false", &scope, &alert->when);
    eddy__cfg_pop(c, old);
    return c->err;
}

static eddy_err_t parse_alert(struct loader *ld, yaml_node_t *node, size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_alert *alert = &plan->alerts[index];
    yaml_node_t *name, *on, *when, *burn;
    if (eddy__cfg_mapping(c, node, alert_keys) || eddy__cfg_require(c, node, "name", &name) ||
        eddy__cfg_require(c, node, "on", &on))
        return c->err;
    when = eddy__cfg_get(c, node, "when");
    burn = eddy__cfg_get(c, node, "burn_rate");
    alert->line = eddy__cfg_line(node);
    size_t old = eddy__cfg_push(c, "name");
    if (eddy__cfg_string(c, name, &alert->name))
        return c->err;
    if (!all_chars(alert->name, "_"))
        return eddy__cfg_fail(c, name, "invalid alert name '%s' (allowed: letters, digits, '_')",
                              alert->name);
    for (size_t j = 0; j < index; j++)
        if (strcmp(plan->alerts[j].name, alert->name) == 0)
            return eddy__cfg_fail(c, name, "duplicate alert name '%s' (first at line %d)",
                                  alert->name, plan->alerts[j].line);
    eddy__cfg_pop(c, old);
    eddy__cfg_push(c, "on");
    const char *agg_name;
    if (eddy__cfg_scalar(c, on, &agg_name))
        return c->err;
    size_t a;
    for (a = 0; a < plan->n_aggregations && strcmp(plan->aggregations[a].name, agg_name); a++)
        ;
    if (a == plan->n_aggregations)
        return eddy__cfg_fail(c, on, "unknown aggregation '%s'", agg_name);
    alert->aggregation = a;
    eddy__cfg_pop(c, old);
    if (when && burn) {
        eddy__cfg_push(c, "burn_rate");
        return eddy__cfg_fail(c, burn,
                              "an alert has either `when` or `burn_rate` (write a second alert)");
    }
    if (!when && !burn) {
        eddy__cfg_push(c, "when");
        return eddy__cfg_fail(c, node, "missing required key (or burn_rate)");
    }
    if (burn ? parse_burn_rate(ld, burn, alert) : compile_when(ld, when, alert))
        return c->err;
    return get_output(ld, node, &alert->output_topic);
}

static eddy_err_t parse_alerts(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *node = eddy__cfg_get(c, root, "alerts");
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "alerts");
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of alerts, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    plan->alerts = eddy_calloc(n ? n : 1, sizeof *plan->alerts);
    if (!plan->alerts)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        size_t in = eddy__cfg_push_index(c, i);
        plan->n_alerts = i + 1;
        if (parse_alert(ld, eddy__cfg_node(c, node->data.sequence.items.start[i]), i))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- patterns ---------------------------------------------------------------- */

/* times: "N", "N+" or "N..M" with 1 <= N <= M <= EDDY_PATTERN_MAX_TIMES. */
static eddy_err_t parse_times(struct loader *ld, yaml_node_t *node, struct eddy_pattern_step *st)
{
    struct eddy__cfg *c = &ld->c;
    const char *text, *p;
    if (eddy__cfg_scalar(c, node, &text))
        return c->err;
    unsigned long long n = 0, m = 0;
    bool ok = *text >= '0' && *text <= '9';
    for (p = text; ok && *p >= '0' && *p <= '9' && n <= EDDY_PATTERN_MAX_TIMES; p++)
        n = n * 10 + (unsigned)(*p - '0');
    if (ok && strcmp(p, "+") == 0) {
        m = EDDY_PATTERN_UNBOUNDED;
    } else if (ok && strncmp(p, "..", 2) == 0 && p[2] >= '0' && p[2] <= '9') {
        for (p += 2; *p >= '0' && *p <= '9' && m <= EDDY_PATTERN_MAX_TIMES; p++)
            m = m * 10 + (unsigned)(*p - '0');
        ok = *p == '\0' && m <= EDDY_PATTERN_MAX_TIMES;
    } else {
        ok = ok && *p == '\0';
        m = n;
    }
    if (!ok || n < 1 || n > EDDY_PATTERN_MAX_TIMES || m < n)
        return eddy__cfg_fail(c, node, "expected N, N+ or N..M with 1 <= N <= M <= %d, got '%s'",
                              EDDY_PATTERN_MAX_TIMES, text);
    st->min = (uint32_t)n;
    st->max = (uint32_t)m;
    return EDDY_OK;
}

static eddy_err_t parse_step_name(struct loader *ld, yaml_node_t *node, struct eddy_pattern *pat,
                                  size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_pattern_step *st = &pat->steps[index];
    yaml_node_t *name = eddy__cfg_get(c, node, "name");
    size_t at = c->path_len;
    if (name) {
        eddy__cfg_push(c, "name");
        if (eddy__cfg_string(c, name, &st->name))
            return c->err;
        if (!is_identifier(st->name))
            return eddy__cfg_fail(c, name,
                                  "invalid step name '%s' (expected letters, digits and '_', "
                                  "not starting with a digit)",
                                  st->name);
    } else {
        char text[32];
        snprintf(text, sizeof text, "step%zu", index + 1);
        if (!(st->name = eddy_strdup(text)))
            return eddy__cfg_nomem(c);
    }
    for (size_t j = 0; j < index; j++)
        if (strcmp(pat->steps[j].name, st->name) == 0)
            return eddy__cfg_fail(
                c, name ? name : node, "duplicate step name '%s' (first at line %d)%s", st->name,
                pat->steps[j].line, name ? "" : "; unnamed steps are called step<N>");
    eddy__cfg_pop(c, at);
    return EDDY_OK;
}

static eddy_err_t parse_step(struct loader *ld, yaml_node_t *node, struct eddy_pattern *pat,
                             size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_pattern_step *st = &pat->steps[index];
    yaml_node_t *where, *v;
    if (eddy__cfg_mapping(c, node, step_keys) || eddy__cfg_require(c, node, "where", &where))
        return c->err;
    st->line = eddy__cfg_line(node);
    if (parse_step_name(ld, node, pat, index))
        return c->err;
    struct eddy_expr_scope scope = event_scope(ld, ld->plan->n_slots);
    size_t old = eddy__cfg_push(c, "where");
    if (compile(ld, where, NULL, &scope, &st->where))
        return c->err;
    eddy__cfg_pop(c, old);
    st->min = st->max = 1;
    if ((v = eddy__cfg_get(c, node, "times")) != NULL) {
        eddy__cfg_push(c, "times");
        if (parse_times(ld, v, st))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, node, "capture")) != NULL) {
        if (parse_names(ld, v, "capture", ld->plan->n_slots, &st->capture_names, &st->capture_slots,
                        &st->n_capture))
            return c->err;
        if (st->n_capture > EDDY_PATTERN_MAX_CAPTURE) {
            eddy__cfg_push(c, "capture");
            return eddy__cfg_fail(c, v, "at most %d fields can be captured per step",
                                  EDDY_PATTERN_MAX_CAPTURE);
        }
    }
    return EDDY_OK;
}

static eddy_err_t parse_sequence(struct loader *ld, yaml_node_t *node, struct eddy_pattern *pat)
{
    struct eddy__cfg *c = &ld->c;
    size_t old = eddy__cfg_push(c, "sequence");
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of steps, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n < 1 || n > EDDY_PATTERN_MAX_STEPS)
        return eddy__cfg_fail(c, node, "expected 1 to %d steps, got %zu", EDDY_PATTERN_MAX_STEPS,
                              n);
    if (!(pat->steps = eddy_calloc(n, sizeof *pat->steps)))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        size_t in = eddy__cfg_push_index(c, i);
        pat->n_steps = i + 1;
        if (parse_step(ld, eddy__cfg_node(c, node->data.sequence.items.start[i]), pat, i))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* The pattern's name: unique among patterns and aggregations (both name a
 * store), not an internal store. */
static eddy_err_t parse_pattern_name(struct loader *ld, yaml_node_t *name, size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_pattern *pat = &plan->patterns[index];
    size_t old = eddy__cfg_push(c, "name");
    if (eddy__cfg_string(c, name, &pat->name))
        return c->err;
    if (!all_chars(pat->name, "_"))
        return eddy__cfg_fail(c, name, "invalid pattern name '%s' (allowed: letters, digits, '_')",
                              pat->name);
    for (size_t j = 0; j < index; j++)
        if (strcmp(plan->patterns[j].name, pat->name) == 0)
            return eddy__cfg_fail(c, name, "duplicate pattern name '%s' (first at line %d)",
                                  pat->name, plan->patterns[j].line);
    for (size_t j = 0; j < plan->n_aggregations; j++)
        if (strcmp(plan->aggregations[j].name, pat->name) == 0)
            return eddy__cfg_fail(c, name,
                                  "'%s' is the name of an aggregation (line %d); patterns and "
                                  "aggregations name their stores, choose another name",
                                  pat->name, plan->aggregations[j].line);
    if (strcmp(pat->name, EDDY_STORE_META) == 0 || strcmp(pat->name, EDDY_STORE_DEDUP) == 0 ||
        strcmp(pat->name, EDDY_STORE_ALERTS) == 0 || strcmp(pat->name, EDDY_STORE_ARCHIVE) == 0)
        return eddy__cfg_fail(c, name, "'%s' names an internal store; choose another name",
                              pat->name);
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* key: at least one field, and every source.key field (a pattern is matched
 * in the task where its records arrive: no repartitioning). */
static eddy_err_t parse_pattern_key(struct loader *ld, yaml_node_t *node, struct eddy_pattern *pat)
{
    struct eddy__cfg *c = &ld->c;
    const struct eddy_source *src = &ld->plan->source;
    if (parse_names(ld, node, "key", ld->plan->n_slots, &pat->key_names, &pat->key_slots,
                    &pat->n_key))
        return c->err;
    size_t old = eddy__cfg_push(c, "key");
    if (pat->n_key == 0)
        return eddy__cfg_fail(c, node, "at least one field is needed");
    for (size_t k = 0; k < src->n_key; k++) {
        bool found = false;
        for (size_t i = 0; i < pat->n_key; i++)
            found |= pat->key_slots[i] == src->key_slots[k];
        if (!found)
            return eddy__cfg_fail(c, node,
                                  "must contain every source.key field (missing '%s'): a "
                                  "pattern is matched where its records arrive",
                                  src->key_names[k]);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_pattern(struct loader *ld, yaml_node_t *node, size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_pattern *pat = &ld->plan->patterns[index];
    yaml_node_t *name, *key, *within, *sequence, *v;
    if (eddy__cfg_mapping(c, node, pattern_keys) || eddy__cfg_require(c, node, "name", &name) ||
        eddy__cfg_require(c, node, "key", &key) || eddy__cfg_require(c, node, "within", &within) ||
        eddy__cfg_require(c, node, "sequence", &sequence))
        return c->err;
    pat->line = eddy__cfg_line(node);
    if (parse_pattern_name(ld, name, index) || parse_pattern_key(ld, key, pat))
        return c->err;
    size_t old = eddy__cfg_push(c, "within");
    if (eddy__cfg_duration(c, within, true, &pat->within_ms))
        return c->err;
    eddy__cfg_pop(c, old);
    if (parse_sequence(ld, sequence, pat))
        return c->err;
    if ((v = eddy__cfg_get(c, node, "timeout")) != NULL) {
        const char *s;
        eddy__cfg_push(c, "timeout");
        if (eddy__cfg_scalar(c, v, &s))
            return c->err;
        if (strcmp(s, "emit") != 0 && strcmp(s, "drop") != 0)
            return eddy__cfg_fail(c, v, "unknown timeout '%s' (expected emit or drop)", s);
        pat->timeout_emit = strcmp(s, "emit") == 0;
        eddy__cfg_pop(c, old);
    }
    return get_output(ld, node, &pat->output_topic);
}

static eddy_err_t parse_patterns(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *node = eddy__cfg_get(c, root, "patterns");
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "patterns");
    if (node->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, node, "expected a sequence of patterns, got %s",
                              eddy__cfg_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return eddy__cfg_fail(c, node, "at least one pattern is needed (or leave the key out)");
    if (!(plan->patterns = eddy_calloc(n, sizeof *plan->patterns)))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        size_t in = eddy__cfg_push_index(c, i);
        plan->n_patterns = i + 1;
        if (parse_pattern(ld, eddy__cfg_node(c, node->data.sequence.items.start[i]), i))
            return c->err;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- serve ---------------------------------------------------------------- */

static eddy_err_t status_metric(struct loader *ld, yaml_node_t *node, const char *key,
                                const struct eddy_aggregation *agg, size_t *out)
{
    struct eddy__cfg *c = &ld->c;
    const char *name;
    size_t at = eddy__cfg_push(c, key);
    if (eddy__cfg_scalar(c, node, &name))
        return c->err;
    for (size_t m = 0; m < agg->n_metrics; m++)
        if (strcmp(agg->metrics[m].name, name) == 0) {
            *out = m;
            eddy__cfg_pop(c, at);
            return EDDY_OK;
        }
    return eddy__cfg_fail(c, node, "aggregation '%s' has no metric '%s'", agg->name, name);
}

static eddy_err_t status_expr(struct loader *ld, yaml_node_t *map, const char *key,
                              const struct eddy_aggregation *agg, struct eddy_expr **out)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *node;
    if (eddy__cfg_require(c, map, key, &node))
        return c->err;
    size_t n = agg->n_group + agg->n_metrics;
    const char **names = eddy_calloc(n + 1, sizeof *names);
    if (!names)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < agg->n_group; i++)
        names[i] = agg->group_names[i];
    for (size_t i = 0; i < agg->n_metrics; i++)
        names[agg->n_group + i] = agg->metrics[i].name;
    struct eddy_expr_scope scope = {
        .names = names, .n_names = n, .tables = ld->plan->tables, .n_tables = ld->plan->n_tables};
    size_t at = eddy__cfg_push(c, key);
    compile(ld, node, NULL, &scope, out);
    eddy__cfg_pop(c, at);
    eddy_free(names);
    return c->err;
}

static eddy_err_t parse_status(struct loader *ld, yaml_node_t *node)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_serve_status *st = &plan->serve.status;
    yaml_node_t *on, *requests, *errors, *latency;
    size_t at = eddy__cfg_push(c, "status");
    if (eddy__cfg_mapping(c, node, status_keys) || eddy__cfg_require(c, node, "on", &on) ||
        eddy__cfg_require(c, node, "requests", &requests) ||
        eddy__cfg_require(c, node, "errors", &errors) ||
        eddy__cfg_require(c, node, "latency", &latency))
        return c->err;
    const char *agg_name;
    size_t in = eddy__cfg_push(c, "on");
    if (eddy__cfg_scalar(c, on, &agg_name))
        return c->err;
    size_t a;
    for (a = 0; a < plan->n_aggregations && strcmp(plan->aggregations[a].name, agg_name); a++)
        ;
    if (a == plan->n_aggregations)
        return eddy__cfg_fail(c, on, "unknown aggregation '%s'", agg_name);
    const struct eddy_aggregation *agg = &plan->aggregations[a];
    if (agg->window.kind != EDDY_WIN_TUMBLING)
        return eddy__cfg_fail(c, on, "the status page needs a tumbling aggregation; '%s' is not",
                              agg_name);
    eddy__cfg_pop(c, in);
    st->aggregation = a;
    if (status_metric(ld, requests, "requests", agg, &st->requests) ||
        status_metric(ld, errors, "errors", agg, &st->errors))
        return c->err;
    in = eddy__cfg_push(c, "latency");
    if (latency->type != YAML_SEQUENCE_NODE ||
        latency->data.sequence.items.top - latency->data.sequence.items.start != 3)
        return eddy__cfg_fail(c, latency, "expected three metrics [p50, p95, p99]");
    for (size_t i = 0; i < 3; i++) {
        size_t ix = eddy__cfg_push_index(c, i);
        const char *name;
        yaml_node_t *item = eddy__cfg_node(c, latency->data.sequence.items.start[i]);
        if (eddy__cfg_scalar(c, item, &name))
            return c->err;
        size_t m;
        for (m = 0; m < agg->n_metrics && strcmp(agg->metrics[m].name, name); m++)
            ;
        if (m == agg->n_metrics)
            return eddy__cfg_fail(c, item, "aggregation '%s' has no metric '%s'", agg->name, name);
        st->latency[i] = m;
        eddy__cfg_pop(c, ix);
    }
    eddy__cfg_pop(c, in);
    if (status_expr(ld, node, "budget", agg, &st->budget) ||
        status_expr(ld, node, "latency_threshold", agg, &st->latency_threshold))
        return c->err;
    st->enabled = true;
    eddy__cfg_pop(c, at);
    return EDDY_OK;
}

static eddy_err_t parse_serve(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    plan->serve.retention_ms = 20 * 60000;
    yaml_node_t *node = eddy__cfg_get(c, root, "serve"), *v;
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "serve");
    if (eddy__cfg_mapping(c, node, serve_keys))
        return c->err;
    if ((v = eddy__cfg_get(c, node, "retention")) != NULL) {
        size_t at = eddy__cfg_push(c, "retention");
        if (eddy__cfg_duration(c, v, true, &plan->serve.retention_ms))
            return c->err;
        eddy__cfg_pop(c, at);
    }
    if ((v = eddy__cfg_get(c, node, "status")) != NULL && parse_status(ld, v))
        return c->err;
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

static eddy_err_t parse_kafka(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *node = eddy__cfg_get(c, root, "kafka");
    if (!node)
        return EDDY_OK;
    size_t old = eddy__cfg_push(c, "kafka");
    if (eddy__cfg_mapping(c, node, NULL))
        return c->err;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    plan->kafka = eddy_calloc(n ? n : 1, sizeof *plan->kafka);
    if (!plan->kafka)
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        const char *key = eddy__cfg_key(c, pair), *value;
        size_t in = eddy__cfg_push(c, key);
        if (eddy__cfg_scalar(c, eddy__cfg_node(c, pair->value), &value))
            return c->err;
        plan->n_kafka = i + 1;
        plan->kafka[i].key = eddy_strdup(key);
        plan->kafka[i].value = eddy_strdup(value);
        if (!plan->kafka[i].key || !plan->kafka[i].value)
            return eddy__cfg_nomem(c);
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* ---- top level ---------------------------------------------------------------- */

static eddy_err_t parse_head(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *v;
    if (eddy__cfg_require(c, root, "name", &v))
        return c->err;
    size_t old = eddy__cfg_push(c, "name");
    if (eddy__cfg_string(c, v, &plan->name))
        return c->err;
    if (!all_chars(plan->name, "._-") || strlen(plan->name) > 200)
        return eddy__cfg_fail(c, v,
                              "invalid name '%s' (allowed: letters, digits, '.', '_', '-', at "
                              "most 200)",
                              plan->name);
    eddy__cfg_pop(c, old);
    plan->processing = EDDY_EXACTLY_ONCE;
    if ((v = eddy__cfg_get(c, root, "processing")) != NULL) {
        const char *s;
        eddy__cfg_push(c, "processing");
        if (eddy__cfg_scalar(c, v, &s))
            return c->err;
        if (strcmp(s, "exactly_once") == 0)
            plan->processing = EDDY_EXACTLY_ONCE;
        else if (strcmp(s, "at_least_once") == 0)
            plan->processing = EDDY_AT_LEAST_ONCE;
        else
            return eddy__cfg_fail(c, v,
                                  "unknown processing mode '%s' (expected exactly_once or "
                                  "at_least_once)",
                                  s);
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, root, "grace")) != NULL) {
        eddy__cfg_push(c, "grace");
        if (eddy__cfg_duration(c, v, false, &plan->grace_ms))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, root, "idle_timeout")) != NULL) {
        eddy__cfg_push(c, "idle_timeout");
        if (eddy__cfg_duration(c, v, true, &plan->idle_timeout_ms))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, root, "memory_limit")) != NULL) {
        eddy__cfg_push(c, "memory_limit");
        if (eddy__cfg_size(c, v, (uint64_t)1 << 40, &plan->memory_limit))
            return c->err;
        if (plan->memory_limit < EDDY_MEMORY_LIMIT_MIN)
            return eddy__cfg_fail(c, v, "memory_limit below the minimum of 16MB");
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, root, "late")) != NULL) {
        yaml_node_t *within;
        eddy__cfg_push(c, "late");
        if (eddy__cfg_mapping(c, v, late_keys) ||
            eddy__cfg_require(c, v, "correct_within", &within))
            return c->err;
        eddy__cfg_push(c, "correct_within");
        if (eddy__cfg_duration(c, within, true, &plan->late_correct_ms))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

/* Output topics not named in the file: "<name>-<aggregation>", "<name>-alerts",
 * "<name>-<pattern>". */
static enum eddy_metric_kind acc_family(enum eddy_metric_kind kind)
{
    switch (kind) {
    case EDDY_M_COUNT_IF: return EDDY_M_RATIO;
    case EDDY_M_AVG: return EDDY_M_SUM;
    default: return kind;
    }
}

static bool same_arg(const struct eddy_expr *a, const struct eddy_expr *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(eddy_expr_source(a), eddy_expr_source(b)) == 0;
}

/* The accumulator layout of every aggregation (struct eddy_acc_def). */
static eddy_err_t layout_accumulators(struct loader *ld)
{
    struct eddy_plan *plan = ld->plan;
    for (size_t i = 0; i < plan->n_aggregations; i++) {
        struct eddy_aggregation *agg = &plan->aggregations[i];
        agg->accs = eddy_calloc(agg->n_metrics + 1, sizeof *agg->accs);
        agg->metric_acc = eddy_calloc(agg->n_metrics + 1, sizeof *agg->metric_acc);
        if (!agg->accs || !agg->metric_acc)
            return eddy__cfg_nomem(&ld->c);
        for (size_t m = 0; m < agg->n_metrics; m++) {
            const struct eddy_metric *metric = &agg->metrics[m];
            enum eddy_metric_kind fam = acc_family(metric->kind);
            /* a top_k result is rendered into its accumulator: one per K */
            bool by_k = fam == EDDY_M_TOP_K || fam == EDDY_M_TOP_K_BY;
            size_t a = 0;
            while (a < agg->n_accs &&
                   !(agg->accs[a].kind == fam && same_arg(agg->accs[a].arg, metric->arg) &&
                     same_arg(agg->accs[a].arg2, metric->arg2) &&
                     (!by_k || agg->accs[a].q == metric->q)))
                a++;
            if (a == agg->n_accs)
                agg->accs[agg->n_accs++] = (struct eddy_acc_def){.kind = fam,
                                                                 .arg = metric->arg,
                                                                 .arg2 = metric->arg2,
                                                                 .q = by_k ? metric->q : 0};
            agg->metric_acc[m] = a;
        }
    }
    return EDDY_OK;
}

static eddy_err_t default_topics(struct loader *ld)
{
    struct eddy_plan *plan = ld->plan;
    char topic[512];
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        if (plan->aggregations[a].output_topic)
            continue;
        snprintf(topic, sizeof topic, "%s-%s", plan->name, plan->aggregations[a].name);
        if (!(plan->aggregations[a].output_topic = eddy_strdup(topic)))
            return eddy__cfg_nomem(&ld->c);
    }
    for (size_t a = 0; a < plan->n_alerts; a++) {
        if (plan->alerts[a].output_topic)
            continue;
        snprintf(topic, sizeof topic, "%s-alerts", plan->name);
        if (!(plan->alerts[a].output_topic = eddy_strdup(topic)))
            return eddy__cfg_nomem(&ld->c);
    }
    for (size_t p = 0; p < plan->n_patterns; p++) {
        if (plan->patterns[p].output_topic)
            continue;
        snprintf(topic, sizeof topic, "%s-%s", plan->name, plan->patterns[p].name);
        if (!(plan->patterns[p].output_topic = eddy_strdup(topic)))
            return eddy__cfg_nomem(&ld->c);
    }
    return EDDY_OK;
}

/* ---- archives --------------------------------------------------------------- */

static eddy_err_t add_column(struct loader *ld, struct eddy_archive *ar, const yaml_node_t *at,
                             const char *name, const char *suffix, enum eddy_archive_type type,
                             enum eddy_archive_from from, size_t index)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_printf(&b, "%s%s", name, suffix);
    if (eddy_buf_err(&b))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < ar->n_columns; i++)
        if (strcmp(ar->columns[i].name, b.data) == 0) {
            eddy__cfg_fail(c, at, "two archive columns would be named '%s'", b.data);
            eddy_buf_release(&b);
            return c->err;
        }
    struct eddy_archive_column *col = &ar->columns[ar->n_columns++];
    col->name = eddy_strdup(b.data);
    eddy_buf_release(&b);
    if (!col->name)
        return eddy__cfg_nomem(c);
    col->type = type;
    col->from = from;
    col->index = index;
    return EDDY_OK;
}

/* The archive type of slot @slot: a source field's declared type; derived
 * values are written as text. */
static enum eddy_archive_type slot_archive_type(const struct eddy_plan *plan, size_t slot)
{
    if (slot >= plan->source.n_fields)
        return EDDY_ARCHIVE_STRING;
    switch (plan->source.fields[slot].type) {
    case EDDY_FT_INT: return EDDY_ARCHIVE_INT64;
    case EDDY_FT_NUMBER: return EDDY_ARCHIVE_DOUBLE;
    case EDDY_FT_BOOL: return EDDY_ARCHIVE_BOOLEAN;
    default: return EDDY_ARCHIVE_STRING;
    }
}

static enum eddy_archive_type metric_archive_type(const struct eddy_plan *plan,
                                                  const struct eddy_metric *m)
{
    switch (m->kind) {
    case EDDY_M_COUNT:
    case EDDY_M_COUNT_IF:
    case EDDY_M_DISTINCT: return EDDY_ARCHIVE_INT64;
    case EDDY_M_TOP_K:
    case EDDY_M_TOP_K_BY: return EDDY_ARCHIVE_STRING; /* the JSON array */
    case EDDY_M_ARG_MAX:
    case EDDY_M_ARG_MIN: {
        const char *field = eddy_expr_source(m->arg2);
        for (size_t f = 0; field && f < plan->source.n_fields; f++)
            if (strcmp(plan->source.fields[f].name, field) == 0)
                return slot_archive_type(plan, f);
        return EDDY_ARCHIVE_STRING;
    }
    default: return EDDY_ARCHIVE_DOUBLE; /* sum, min, max, avg, ratio, quantile */
    }
}

static bool metric_has_error(const struct eddy_metric *m)
{
    return m->kind == EDDY_M_QUANTILE || m->kind == EDDY_M_DISTINCT || m->kind == EDDY_M_TOP_K ||
           m->kind == EDDY_M_TOP_K_BY;
}

static eddy_err_t archive_columns(struct loader *ld, struct eddy_archive *ar, yaml_node_t *at)
{
    const struct eddy_plan *plan = ld->plan;
    size_t n = 2;
    if (ar->aggregation != SIZE_MAX) {
        const struct eddy_aggregation *agg = &plan->aggregations[ar->aggregation];
        n += agg->n_group + 2 * agg->n_metrics + 1;
    } else {
        n += plan->source.n_fields;
    }
    if (!(ar->columns = eddy_calloc(n, sizeof *ar->columns)))
        return eddy__cfg_nomem(&ld->c);
    if (ar->aggregation == SIZE_MAX) {
        if (add_column(ld, ar, at, "event_time", "", EDDY_ARCHIVE_TIMESTAMP, EDDY_AR_EVENT_TIME, 0))
            return ld->c.err;
        for (size_t f = 0; f < plan->source.n_fields; f++)
            if (add_column(ld, ar, at, plan->source.fields[f].name, "", slot_archive_type(plan, f),
                           EDDY_AR_SLOT, f))
                return ld->c.err;
        return EDDY_OK;
    }
    const struct eddy_aggregation *agg = &plan->aggregations[ar->aggregation];
    if (add_column(ld, ar, at, "window_start", "", EDDY_ARCHIVE_TIMESTAMP, EDDY_AR_WINDOW_START,
                   0) ||
        add_column(ld, ar, at, "window_end", "", EDDY_ARCHIVE_TIMESTAMP, EDDY_AR_WINDOW_END, 0))
        return ld->c.err;
    for (size_t g = 0; g < agg->n_group; g++)
        if (add_column(ld, ar, at, agg->group_names[g], "",
                       slot_archive_type(plan, agg->group_slots[g]), EDDY_AR_GROUP, g))
            return ld->c.err;
    if (plan->late_correct_ms > 0 &&
        add_column(ld, ar, at, "revision", "", EDDY_ARCHIVE_INT64, EDDY_AR_REVISION, 0))
        return ld->c.err;
    for (size_t m = 0; m < agg->n_metrics; m++) {
        const struct eddy_metric *metric = &agg->metrics[m];
        if (add_column(ld, ar, at, metric->name, "", metric_archive_type(plan, metric),
                       EDDY_AR_METRIC, m))
            return ld->c.err;
        if (metric_has_error(metric) && add_column(ld, ar, at, metric->name, "_error",
                                                   EDDY_ARCHIVE_DOUBLE, EDDY_AR_METRIC_ERROR, m))
            return ld->c.err;
    }
    return EDDY_OK;
}

/* Parses one archive: mapping at @node for aggregation @aggregation
 * (SIZE_MAX: the raw stream). */
static eddy_err_t parse_archive(struct loader *ld, yaml_node_t *node, size_t aggregation)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    struct eddy_archive *ar = &plan->archives[plan->n_archives++];
    yaml_node_t *v;
    ar->aggregation = aggregation;
    ar->line = eddy__cfg_line(node);
    ar->roll_ms = 5 * 60000;
    ar->roll_bytes = (uint64_t)64 << 20;
    if (eddy__cfg_mapping(c, node, archive_keys) || eddy__cfg_require(c, node, "path", &v))
        return c->err;
    size_t old = eddy__cfg_push(c, "path");
    if (eddy__cfg_string(c, v, &ar->path))
        return c->err;
    if (!ar->path[0])
        return eddy__cfg_fail(c, v, "the archive path is empty");
    eddy__cfg_pop(c, old);
    if ((v = eddy__cfg_get(c, node, "format")) != NULL) {
        const char *format;
        eddy__cfg_push(c, "format");
        if (eddy__cfg_scalar(c, v, &format))
            return c->err;
        if (strcmp(format, "parquet") != 0)
            return eddy__cfg_fail(c, v, "unknown archive format '%s' (supported: parquet)", format);
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, node, "name")) != NULL) {
        eddy__cfg_push(c, "name");
        if (aggregation != SIZE_MAX)
            return eddy__cfg_fail(c, v, "an aggregation's archive is named after the aggregation");
        if (eddy__cfg_string(c, v, &ar->name))
            return c->err;
        if (!all_chars(ar->name, "_-."))
            return eddy__cfg_fail(
                c, v, "invalid archive name '%s' (allowed: letters, digits, '_', '-', '.')",
                ar->name);
        eddy__cfg_pop(c, old);
    } else {
        ar->name =
            eddy_strdup(aggregation == SIZE_MAX ? "events" : plan->aggregations[aggregation].name);
        if (!ar->name)
            return eddy__cfg_nomem(c);
    }
    for (size_t i = 0; i + 1 < plan->n_archives; i++)
        if (strcmp(plan->archives[i].name, ar->name) == 0 &&
            strcmp(plan->archives[i].path, ar->path) == 0)
            return eddy__cfg_fail(c, node, "archive '%s' is also written by line %d", ar->name,
                                  plan->archives[i].line);
    if ((v = eddy__cfg_get(c, node, "roll")) != NULL) {
        eddy__cfg_push(c, "roll");
        if (eddy__cfg_duration(c, v, true, &ar->roll_ms))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    if ((v = eddy__cfg_get(c, node, "roll_size")) != NULL) {
        size_t bytes;
        eddy__cfg_push(c, "roll_size");
        if (eddy__cfg_size(c, v, (uint64_t)1 << 32, &bytes))
            return c->err;
        if (bytes < 4096)
            return eddy__cfg_fail(c, v, "roll_size below the minimum of 4KB");
        ar->roll_bytes = bytes;
        eddy__cfg_pop(c, old);
    }
    if (archive_columns(ld, ar, node))
        return c->err;
    if ((v = eddy__cfg_get(c, node, "partition_by")) == NULL)
        return EDDY_OK;
    eddy__cfg_push(c, "partition_by");
    if (v->type != YAML_SEQUENCE_NODE)
        return eddy__cfg_fail(c, v, "expected a sequence of column names or date, got %s",
                              eddy__cfg_kind(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!(ar->partition_by = eddy_calloc(n ? n : 1, sizeof *ar->partition_by)))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = eddy__cfg_node(c, v->data.sequence.items.start[i]);
        const char *col;
        size_t in = eddy__cfg_push_index(c, i);
        if (eddy__cfg_scalar(c, item, &col))
            return c->err;
        size_t k = SIZE_MAX;
        if (strcmp(col, "date") == 0) {
            k = EDDY_ARCHIVE_DATE;
        } else {
            for (size_t j = 0; j < ar->n_columns; j++)
                if (strcmp(ar->columns[j].name, col) == 0 &&
                    (ar->columns[j].from == EDDY_AR_GROUP || ar->columns[j].from == EDDY_AR_SLOT))
                    k = j;
            if (k == SIZE_MAX)
                return eddy__cfg_fail(c, item, "cannot partition by '%s': not %s (or date)", col,
                                      aggregation == SIZE_MAX ? "a source field"
                                                              : "a group_by field");
        }
        for (size_t j = 0; j < ar->n_partition_by; j++)
            if (ar->partition_by[j] == k)
                return eddy__cfg_fail(c, item, "'%s' is listed twice", col);
        ar->partition_by[ar->n_partition_by++] = k;
        eddy__cfg_pop(c, in);
    }
    eddy__cfg_pop(c, old);
    return EDDY_OK;
}

/* After the aggregations: their `archive` keys, then the top-level one. */
static eddy_err_t parse_archives(struct loader *ld, yaml_node_t *root)
{
    struct eddy__cfg *c = &ld->c;
    struct eddy_plan *plan = ld->plan;
    yaml_node_t *aggs = eddy__cfg_get(c, root, "aggregations");
    size_t n_aggs = aggs && aggs->type == YAML_SEQUENCE_NODE
                        ? (size_t)(aggs->data.sequence.items.top - aggs->data.sequence.items.start)
                        : 0;
    if (!(plan->archives = eddy_calloc(n_aggs + 1, sizeof *plan->archives)))
        return eddy__cfg_nomem(c);
    for (size_t i = 0; i < n_aggs && i < plan->n_aggregations; i++) {
        yaml_node_t *agg = eddy__cfg_node(c, aggs->data.sequence.items.start[i]);
        yaml_node_t *v = eddy__cfg_get(c, agg, "archive");
        if (!v)
            continue;
        size_t old = eddy__cfg_push(c, "aggregations");
        eddy__cfg_push_index(c, i);
        eddy__cfg_push(c, "archive");
        if (parse_archive(ld, v, i))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    yaml_node_t *v = eddy__cfg_get(c, root, "archive");
    if (v) {
        size_t old = eddy__cfg_push(c, "archive");
        if (parse_archive(ld, v, SIZE_MAX))
            return c->err;
        eddy__cfg_pop(c, old);
    }
    return EDDY_OK;
}

static eddy_err_t build_plan(struct loader *ld)
{
    struct eddy__cfg *c = &ld->c;
    yaml_node_t *root = eddy__cfg_root(c);
    if (eddy__cfg_mapping(c, root, top_keys))
        return c->err;
    if (parse_head(ld, root) || parse_source(ld, root) || parse_tables(ld, root) ||
        parse_derive(ld, root) || parse_source_key(ld, root) || parse_dedup(ld, root) ||
        parse_aggregations(ld, root) || parse_alerts(ld, root) || parse_patterns(ld, root) ||
        parse_kafka(ld, root) || parse_serve(ld, root) || parse_archives(ld, root))
        return c->err;
    mark_repartition(ld->plan);
    if (layout_accumulators(ld))
        return c->err;
    return default_topics(ld);
}

eddy_err_t eddy_topology_parse(const char *name, const char *text, size_t len,
                               struct eddy_plan **out, char *errbuf, size_t errlen)
{
    struct loader ld = {.c = {.file = name, .errbuf = errbuf, .errlen = errlen}};
    *out = NULL;
    if (errlen)
        errbuf[0] = '\0';
    ld.plan = eddy_calloc(1, sizeof *ld.plan);
    if (!ld.plan)
        return eddy__cfg_nomem(&ld.c);
    if (!(ld.plan->file = eddy_strdup(name))) {
        eddy__cfg_nomem(&ld.c);
        goto out;
    }
    if (eddy__cfg_load(&ld.c, text, len))
        goto out;
    build_plan(&ld);
out:
    eddy__cfg_release(&ld.c);
    eddy_free(ld.slot_names);
    eddy_free(ld.slot_lines);
    if (ld.c.err) {
        eddy_plan_free(ld.plan);
        return ld.c.err;
    }
    *out = ld.plan;
    return EDDY_OK;
}

eddy_err_t eddy_topology_load(const char *path, struct eddy_plan **out, char *errbuf, size_t errlen)
{
    char *text;
    size_t len;
    *out = NULL;
    int e = eddy__cfg_read_file(path, &text, &len);
    if (e == ENOMEM) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return EDDY_ENOMEM;
    }
    if (e) {
        snprintf(errbuf, errlen, "cannot read topology '%s': %s", path, strerror(e));
        return EDDY_EIO;
    }
    eddy_err_t rc = eddy_topology_parse(path, text, len, out, errbuf, errlen);
    eddy_free(text);
    return rc;
}
