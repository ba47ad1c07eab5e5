/*
 * node.h - reading YAML documents (libyaml's document API) with errors that
 * name file, line and key path, shared by the topology and table loaders.
 *
 * Error format, the contract of every config message:
 *   "<file>:<line>: <key path>: <what is wrong>"
 * Lines are 1-based. The key path is built while descending
 * ("aggregations[0].window"); an empty path prints as "(top level)". Only the
 * first error is kept: later calls to eddy__cfg_fail() return the first code
 * and leave the message alone, so callers may simply propagate.
 *
 * Documents are checked on load: exactly one document, nesting at most
 * EDDY_CFG_MAX_NESTING deep, and no aliases (every node reached once), so
 * walking the tree is linear in its size.
 */
#ifndef EDDY_CONFIG_NODE_H
#define EDDY_CONFIG_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "eddy/err.h"

#define EDDY_CFG_MAX_NESTING 32

struct eddy__cfg {
    const char *file; /* name used in messages; borrowed */
    yaml_document_t doc;
    bool have_doc;
    char *errbuf; /* borrowed */
    size_t errlen;
    eddy_err_t err; /* first error */
    char path[512];
    size_t path_len;
};

/* Parses @text into c->doc and checks it (see above). @c must have file,
 * errbuf and errlen set and err == 0. */
eddy_err_t eddy__cfg_load(struct eddy__cfg *c, const char *text, size_t len);
/* Deletes the document; safe to call twice. */
void eddy__cfg_release(struct eddy__cfg *c);

yaml_node_t *eddy__cfg_root(struct eddy__cfg *c);
yaml_node_t *eddy__cfg_node(struct eddy__cfg *c, int index);
static inline int eddy__cfg_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 1;
}

/* Key path stack: push returns the length to restore with pop. */
size_t eddy__cfg_push(struct eddy__cfg *c, const char *key);
size_t eddy__cfg_push_index(struct eddy__cfg *c, size_t index);
void eddy__cfg_pop(struct eddy__cfg *c, size_t len);

/* Records "<file>:<line of node>: <path>: <message>" (first error only) and
 * returns EDDY_ECONFIG (or the first error's code). */
eddy_err_t eddy__cfg_fail(struct eddy__cfg *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same at an explicit line. */
eddy_err_t eddy__cfg_fail_line(struct eddy__cfg *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records "out of memory" and returns EDDY_ENOMEM. */
eddy_err_t eddy__cfg_nomem(struct eddy__cfg *c);

/* "a mapping", "a sequence" or "a scalar". */
const char *eddy__cfg_kind(const yaml_node_t *n);

/*
 * Checks that @node is a mapping whose keys are scalars, unique, and (when
 * @known is not NULL) members of the NULL-terminated @known list; an unknown
 * key is named with the closest known key as a suggestion.
 */
eddy_err_t eddy__cfg_mapping(struct eddy__cfg *c, yaml_node_t *node, const char *const *known);
/* Value of @key in the mapping @map, or NULL. */
yaml_node_t *eddy__cfg_get(struct eddy__cfg *c, yaml_node_t *map, const char *key);
/* Like eddy__cfg_get; fails "missing required key" (path + key, line of the
 * mapping) when absent. */
eddy_err_t eddy__cfg_require(struct eddy__cfg *c, yaml_node_t *map, const char *key,
                             yaml_node_t **out);
/* Key text of a mapping pair (keys are checked scalars). */
const char *eddy__cfg_key(struct eddy__cfg *c, yaml_node_pair_t *pair);

/* Scalar text of @node (NUL-terminated, no embedded NUL), or fails with
 * "expected a scalar, got a mapping" at the current path. */
eddy_err_t eddy__cfg_scalar(struct eddy__cfg *c, yaml_node_t *node, const char **out);
/* A non-empty string scalar, copied. */
eddy_err_t eddy__cfg_string(struct eddy__cfg *c, yaml_node_t *node, char **out);
/* A duration ("0", "250ms", "1h30m"); @positive requires > 0. */
eddy_err_t eddy__cfg_duration(struct eddy__cfg *c, yaml_node_t *node, bool positive,
                              int64_t *out_ms);
/* A size: plain integer bytes or <n>B, <n>KB, <n>MB (1024-based), > 0. */
eddy_err_t eddy__cfg_size(struct eddy__cfg *c, yaml_node_t *node, uint64_t max, size_t *out);
/* true or false. */
eddy_err_t eddy__cfg_bool(struct eddy__cfg *c, yaml_node_t *node, bool *out);

/* Reads a whole file into *out (NUL-terminated, eddy_malloc'd, *len bytes
 * without the NUL). Returns 0, ENOMEM or the errno of the failure. */
int eddy__cfg_read_file(const char *path, char **out, size_t *len);

/* The word of @choices (NULL-terminated) closest to @word by edit distance,
 * when close enough to be a likely typo; NULL otherwise. */
const char *eddy__cfg_suggest(const char *word, const char *const *choices);

#endif
