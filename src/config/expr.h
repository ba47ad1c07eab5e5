/*
 * expr.h - the expression language of topologies (derive, where, metric
 * arguments, alert conditions); grammar and semantics in docs/topology.md.
 *
 * An expression is compiled once against a scope (an ordered list of slot
 * names plus the plan's reference tables) into an immutable tree stored in
 * one array; eddy_expr_eval() (eddy/topology.h) walks it without allocating.
 * Compilation bounds the tree height and the parser's nesting to
 * EDDY_EXPR_MAX_DEPTH, so evaluation recursion is bounded too.
 *
 * Ownership: a compiled expression owns its source text, its string literals
 * and its nodes; it borrows the tables of the scope, which must outlive it
 * (the plan owns both).
 */
#ifndef EDDY_CONFIG_EXPR_H
#define EDDY_CONFIG_EXPR_H

#include <stddef.h>

#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

#define EDDY_EXPR_MAX_DEPTH 64

/* What names an expression may use: slot i of the evaluation context is
 * names[i]; TABLE.COLUMN refers to one of @tables, looked up by the value of
 * the slot named like the table's key column. Borrowed during compilation. */
struct eddy_expr_scope {
    const char *const *names;
    size_t n_names;
    struct eddy_table *const *tables;
    size_t n_tables;
};

/*
 * Compiles @text against @scope. On success *out owns a new expression.
 * Returns EDDY_ECONFIG with a message in @err ("unknown name 'x' at column
 * 3", "missing ')' at column 9", ...; no file/line prefix: the caller adds
 * it) or EDDY_ENOMEM.
 */
eddy_err_t eddy__expr_compile(const char *text, const struct eddy_expr_scope *scope,
                              struct eddy_expr **out, char *err, size_t errlen);

/* Releases an expression; accepts NULL. */
void eddy__expr_free(struct eddy_expr *e);

/* The slot of @e when it is a plain field reference (its value is then that
 * slot's, unchanged), else SIZE_MAX. */
size_t eddy__expr_slot(const struct eddy_expr *e);

/* The source text of @e, trimmed of surrounding blanks; owned by @e. Two
 * metrics whose arguments have the same source may share a sketch. */
const char *eddy_expr_source(const struct eddy_expr *e);

/* The cell of @column in the row of @t whose key is @key (@keylen bytes), or
 * NULL when the row or the column is absent. The value (and its string) is
 * owned by the table. Never allocates; thread-safe. */
const struct eddy_value *eddy_table_get(const struct eddy_table *t, const char *key, size_t keylen,
                                        const char *column);

#endif
