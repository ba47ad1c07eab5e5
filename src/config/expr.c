/*
 * expr.c - compiler and evaluator of the expression language; see expr.h and
 * docs/topology.md for the grammar.
 *
 * Compilation: a recursive-descent parser over a one-token lookahead lexer
 * appends nodes to one growable array (children before parents, so the root
 * is the last node). String literals are decoded into one pool whose
 * pointers are fixed up once parsing ends. The parser's recursion and the
 * tree's height are both bounded by EDDY_EXPR_MAX_DEPTH.
 *
 * Evaluation: a recursive walk from the root; it writes values into the
 * caller's struct and never allocates. Strings in results point into the
 * slots, the literal pool or the tables.
 *
 * Semantics (the contract, tested in tests/unit/test_expr.c):
 *   int (+ - * %) int -> int, NULL on overflow; / always double; x/0, x%0 ->
 *   NULL; mixed int/double -> double; any other operand type -> NULL.
 *   Comparisons: NULL on either side -> false; numbers numerically; strings
 *   bytewise; bools only with == and !=; == between different types is
 *   false, != true; ordered comparison of other type pairs is false.
 *   and/or/not: truthiness of eddy_value_truthy (NULL false), result BOOL.
 */
#include "config/expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/table.h"
#include "core/alloc.h"

enum op {
    OP_LIT = 1,
    OP_SLOT,
    OP_TABLE,
    OP_NEG,
    OP_NOT,
    OP_AND,
    OP_OR,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
};

struct node {
    uint8_t op;
    uint8_t height;
    uint32_t lhs, rhs; /* child node indices */
    uint32_t slot;     /* OP_SLOT: the slot; OP_TABLE: the key slot */
    uint32_t column;   /* OP_TABLE: column; OP_LIT string: pool offset while compiling */
    const struct eddy_table *table;
    struct eddy_value lit;
};

struct eddy_expr {
    char *source;
    char *pool; /* string literals */
    struct node *nodes;
    uint32_t n_nodes;
};

/* ---- lexer ---------------------------------------------------------------- */

enum tok {
    T_END,
    T_INT,
    T_NUM,
    T_STR,
    T_NAME,
    T_TABLEREF,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_AND,
    T_OR,
    T_NOT,
    T_LP,
    T_RP,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PCT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
};

struct token {
    enum tok type;
    size_t start, len; /* byte range in the source */
    size_t dot;        /* T_TABLEREF: offset of '.' from start */
    int64_t i;
    double n;
    size_t str_off, str_len; /* T_STR: decoded bytes in the pool */
};

struct parser {
    const char *src;
    size_t pos;
    struct token tok;
    const struct eddy_expr_scope *scope;
    struct eddy_expr *e;
    uint32_t cap_nodes;
    size_t pool_len, pool_cap;
    int depth;
    char *err;
    size_t errlen;
    eddy_err_t rc;
};

static eddy_err_t perr(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static eddy_err_t perr(struct parser *p, size_t at, const char *fmt, ...)
{
    if (p->rc)
        return p->rc;
    p->rc = EDDY_ECONFIG;
    if (p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < p->errlen && at != SIZE_MAX)
            snprintf(p->err + n, p->errlen - (size_t)n, " at column %zu", at + 1);
    }
    return p->rc;
}

static eddy_err_t pnomem(struct parser *p)
{
    if (!p->rc) {
        p->rc = EDDY_ENOMEM;
        snprintf(p->err, p->errlen, "out of memory");
    }
    return p->rc;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool pool_putc(struct parser *p, char c)
{
    if (p->pool_len + 2 > p->pool_cap) {
        size_t cap = p->pool_cap ? p->pool_cap * 2 : 64;
        char *pool = eddy_realloc(p->e->pool, cap);
        if (!pool)
            return false;
        p->e->pool = pool;
        p->pool_cap = cap;
    }
    p->e->pool[p->pool_len++] = c;
    return true;
}

static eddy_err_t lex_string(struct parser *p, struct token *t)
{
    const char *s = p->src;
    char quote = s[p->pos++];
    t->type = T_STR;
    t->str_off = p->pool_len;
    for (;;) {
        char c = s[p->pos];
        if (c == '\0')
            return perr(p, t->start, "unterminated string");
        p->pos++;
        if (c == quote)
            break;
        if (c == '\\') {
            char esc = s[p->pos];
            switch (esc) {
            case '\\':
            case '\'':
            case '"': c = esc; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            default: return perr(p, p->pos - 1, "unknown escape '\\%c'", esc ? esc : '0');
            }
            p->pos++;
        }
        if (!pool_putc(p, c))
            return pnomem(p);
    }
    t->str_len = p->pool_len - t->str_off;
    if (!pool_putc(p, '\0')) /* keeps pool strings NUL-terminated */
        return pnomem(p);
    return EDDY_OK;
}

static eddy_err_t lex_number(struct parser *p, struct token *t)
{
    const char *s = p->src;
    size_t i = p->pos;
    bool is_float = false;
    while (is_digit(s[i]))
        i++;
    if (s[i] == '.' && is_digit(s[i + 1])) {
        is_float = true;
        i++;
        while (is_digit(s[i]))
            i++;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (is_digit(s[j])) {
            is_float = true;
            i = j;
            while (is_digit(s[i]))
                i++;
        }
    }
    if (is_ident(s[i]) || s[i] == '.')
        return perr(p, i, "malformed number");
    char text[64];
    size_t n = i - p->pos;
    if (n >= sizeof text)
        return perr(p, p->pos, "number literal too long");
    memcpy(text, s + p->pos, n);
    text[n] = '\0';
    errno = 0;
    if (is_float) {
        t->type = T_NUM;
        t->n = strtod(text, NULL);
        if (!isfinite(t->n))
            return perr(p, p->pos, "number literal out of range");
    } else {
        t->type = T_INT;
        t->i = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            return perr(p, p->pos, "integer literal out of range");
    }
    p->pos = i;
    return EDDY_OK;
}

static const struct {
    const char *word;
    enum tok type;
} keywords[] = {{"and", T_AND},   {"or", T_OR},       {"not", T_NOT},
                {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL}};

static void lex_word(struct parser *p, struct token *t)
{
    const char *s = p->src;
    size_t i = p->pos;
    while (is_ident(s[i]))
        i++;
    size_t n = i - p->pos;
    t->type = T_NAME;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
        if (strlen(keywords[k].word) == n && memcmp(keywords[k].word, s + p->pos, n) == 0)
            t->type = keywords[k].type;
    if (t->type == T_NAME && s[i] == '.' && is_ident_start(s[i + 1])) {
        t->type = T_TABLEREF;
        t->dot = n;
        i++;
        while (is_ident(s[i]))
            i++;
    }
    p->pos = i;
}

static const struct {
    const char *text;
    enum tok type;
} punct[] = {{"==", T_EQ}, {"!=", T_NE},  {"<=", T_LE},   {">=", T_GE},  {"<", T_LT},
             {">", T_GT},  {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR}, {"/", T_SLASH},
             {"%", T_PCT}, {"(", T_LP},   {")", T_RP}};

/* Reads the next token into p->tok. */
static eddy_err_t next(struct parser *p)
{
    const char *s = p->src;
    struct token *t = &p->tok;
    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
        p->pos++;
    memset(t, 0, sizeof *t);
    t->start = p->pos;
    char c = s[p->pos];
    eddy_err_t rc = EDDY_OK;
    if (c == '\0')
        t->type = T_END;
    else if (c == '"' || c == '\'')
        rc = lex_string(p, t);
    else if (is_digit(c))
        rc = lex_number(p, t);
    else if (is_ident_start(c))
        lex_word(p, t);
    else {
        size_t k;
        for (k = 0; k < sizeof punct / sizeof punct[0]; k++) {
            size_t n = strlen(punct[k].text);
            if (strncmp(s + p->pos, punct[k].text, n) == 0) {
                t->type = punct[k].type;
                p->pos += n;
                break;
            }
        }
        if (k == sizeof punct / sizeof punct[0]) {
            if (c == '=')
                return perr(p, p->pos, "unexpected character '=' (use '==' to compare)");
            if ((unsigned char)c >= 0x21 && (unsigned char)c < 0x7f)
                return perr(p, p->pos, "unexpected character '%c'", c);
            return perr(p, p->pos, "unexpected byte 0x%02x", (unsigned char)c);
        }
    }
    t->len = p->pos - t->start;
    return rc;
}

/* ---- parser --------------------------------------------------------------- */

#define NONE UINT32_MAX

static uint32_t add_node(struct parser *p, uint8_t op, uint32_t lhs, uint32_t rhs, size_t at)
{
    struct eddy_expr *e = p->e;
    unsigned height = 1;
    if (lhs != NONE && e->nodes[lhs].height + 1u > height)
        height = e->nodes[lhs].height + 1u;
    if (rhs != NONE && e->nodes[rhs].height + 1u > height)
        height = e->nodes[rhs].height + 1u;
    if (height > EDDY_EXPR_MAX_DEPTH) {
        perr(p, SIZE_MAX, "expression nests deeper than %d levels", EDDY_EXPR_MAX_DEPTH);
        return NONE;
    }
    if (e->n_nodes == p->cap_nodes) {
        uint32_t cap = p->cap_nodes ? p->cap_nodes * 2 : 16;
        if (cap > (1u << 24)) {
            perr(p, at, "expression too long");
            return NONE;
        }
        struct node *nodes = eddy_realloc(e->nodes, cap * sizeof *nodes);
        if (!nodes) {
            pnomem(p);
            return NONE;
        }
        e->nodes = nodes;
        p->cap_nodes = cap;
    }
    struct node *n = &e->nodes[e->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->height = (uint8_t)height;
    n->lhs = lhs;
    n->rhs = rhs;
    return e->n_nodes++;
}

static uint32_t parse_or(struct parser *p);

static bool enter(struct parser *p)
{
    if (++p->depth > EDDY_EXPR_MAX_DEPTH) {
        perr(p, SIZE_MAX, "expression nests deeper than %d levels", EDDY_EXPR_MAX_DEPTH);
        return false;
    }
    return true;
}

/* Slot of the name @s (@n bytes) in the scope, or -1. */
static long scope_slot(const struct eddy_expr_scope *scope, const char *s, size_t n)
{
    for (size_t i = 0; i < scope->n_names; i++)
        if (strlen(scope->names[i]) == n && memcmp(scope->names[i], s, n) == 0)
            return (long)i;
    return -1;
}

static uint32_t parse_tableref(struct parser *p, const struct token *t)
{
    const char *name = p->src + t->start;
    const char *col = name + t->dot + 1;
    size_t col_len = t->len - t->dot - 1;
    const struct eddy_table *table = NULL;
    for (size_t i = 0; i < p->scope->n_tables; i++) {
        const char *tn = p->scope->tables[i]->name;
        if (strlen(tn) == t->dot && memcmp(tn, name, t->dot) == 0)
            table = p->scope->tables[i];
    }
    if (!table) {
        perr(p, t->start, "unknown table '%.*s'", (int)t->dot, name);
        return NONE;
    }
    long column = eddy__table_column(table, col, col_len);
    if (column < 0) {
        perr(p, t->start + t->dot + 1, "table '%s' has no column '%.*s'", table->name, (int)col_len,
             col);
        return NONE;
    }
    long slot = scope_slot(p->scope, table->key, strlen(table->key));
    if (slot < 0) {
        perr(p, t->start, "table '%s' is keyed by '%s', which is not in scope here", table->name,
             table->key);
        return NONE;
    }
    uint32_t i = add_node(p, OP_TABLE, NONE, NONE, t->start);
    if (i != NONE) {
        p->e->nodes[i].table = table;
        p->e->nodes[i].slot = (uint32_t)slot;
        p->e->nodes[i].column = (uint32_t)column;
    }
    return i;
}

static uint32_t parse_primary(struct parser *p)
{
    struct token t = p->tok;
    uint32_t i;
    switch (t.type) {
    case T_LP:
        if (!enter(p) || next(p))
            return NONE;
        i = parse_or(p);
        p->depth--;
        if (i == NONE)
            return NONE;
        if (p->tok.type != T_RP) {
            perr(p, p->tok.start, "missing ')' (opened at column %zu)", t.start + 1);
            return NONE;
        }
        return next(p) ? NONE : i;
    case T_NAME: {
        long slot = scope_slot(p->scope, p->src + t.start, t.len);
        if (slot < 0) {
            perr(p, t.start, "unknown name '%.*s'", (int)t.len, p->src + t.start);
            return NONE;
        }
        i = add_node(p, OP_SLOT, NONE, NONE, t.start);
        if (i != NONE)
            p->e->nodes[i].slot = (uint32_t)slot;
        break;
    }
    case T_TABLEREF: i = parse_tableref(p, &t); break;
    case T_INT:
    case T_NUM:
    case T_STR:
    case T_TRUE:
    case T_FALSE:
    case T_NULL:
        i = add_node(p, OP_LIT, NONE, NONE, t.start);
        if (i == NONE)
            return NONE;
        struct node *n = &p->e->nodes[i];
        switch (t.type) {
        case T_INT:
            n->lit.type = EDDY_V_INT;
            n->lit.as.i = t.i;
            break;
        case T_NUM:
            n->lit.type = EDDY_V_NUM;
            n->lit.as.n = t.n;
            break;
        case T_STR:
            n->lit.type = EDDY_V_STR;
            n->lit.as.s.len = (uint32_t)t.str_len;
            n->column = (uint32_t)t.str_off;
            break;
        case T_TRUE:
        case T_FALSE:
            n->lit.type = EDDY_V_BOOL;
            n->lit.as.b = t.type == T_TRUE;
            break;
        default: n->lit.type = EDDY_V_NULL; break;
        }
        break;
    case T_END: perr(p, t.start, "expected a value"); return NONE;
    case T_RP: perr(p, t.start, "unexpected ')'"); return NONE;
    default:
        perr(p, t.start, "expected a value, got '%.*s'", (int)t.len, p->src + t.start);
        return NONE;
    }
    if (i == NONE || next(p))
        return NONE;
    return i;
}

static uint32_t parse_unary(struct parser *p)
{
    if (p->tok.type != T_MINUS)
        return parse_primary(p);
    size_t at = p->tok.start;
    if (!enter(p) || next(p))
        return NONE;
    uint32_t operand = parse_unary(p);
    p->depth--;
    if (operand == NONE)
        return NONE;
    struct node *n = &p->e->nodes[operand];
    /* fold a negated numeric literal, so -9223372036854775807 stays an int */
    if (n->op == OP_LIT && n->lit.type == EDDY_V_INT && n->lit.as.i != INT64_MIN) {
        n->lit.as.i = -n->lit.as.i;
        return operand;
    }
    if (n->op == OP_LIT && n->lit.type == EDDY_V_NUM) {
        n->lit.as.n = -n->lit.as.n;
        return operand;
    }
    return add_node(p, OP_NEG, operand, NONE, at);
}

static uint32_t parse_binary_level(struct parser *p, int level);

static int binop(enum tok t, int level)
{
    switch (level) {
    case 0: return t == T_STAR ? OP_MUL : t == T_SLASH ? OP_DIV : t == T_PCT ? OP_MOD : 0;
    case 1: return t == T_PLUS ? OP_ADD : t == T_MINUS ? OP_SUB : 0;
    default:
        switch (t) {
        case T_EQ: return OP_EQ;
        case T_NE: return OP_NE;
        case T_LT: return OP_LT;
        case T_LE: return OP_LE;
        case T_GT: return OP_GT;
        case T_GE: return OP_GE;
        default: return 0;
        }
    }
}

/* level 0: * / %, level 1: + -, level 2: comparisons (non-associative). */
static uint32_t parse_binary_level(struct parser *p, int level)
{
    uint32_t lhs = level == 0 ? parse_unary(p) : parse_binary_level(p, level - 1);
    int op;
    while (lhs != NONE && (op = binop(p->tok.type, level)) != 0) {
        size_t at = p->tok.start;
        if (next(p))
            return NONE;
        uint32_t rhs = level == 0 ? parse_unary(p) : parse_binary_level(p, level - 1);
        if (rhs == NONE)
            return NONE;
        lhs = add_node(p, (uint8_t)op, lhs, rhs, at);
        if (level == 2 && lhs != NONE && binop(p->tok.type, 2)) {
            perr(p, p->tok.start, "comparisons cannot be chained (use 'and')");
            return NONE;
        }
    }
    return lhs;
}

static uint32_t parse_not(struct parser *p)
{
    if (p->tok.type != T_NOT)
        return parse_binary_level(p, 2);
    size_t at = p->tok.start;
    if (!enter(p) || next(p))
        return NONE;
    uint32_t operand = parse_not(p);
    p->depth--;
    return operand == NONE ? NONE : add_node(p, OP_NOT, operand, NONE, at);
}

static uint32_t parse_and(struct parser *p)
{
    uint32_t lhs = parse_not(p);
    while (lhs != NONE && p->tok.type == T_AND) {
        size_t at = p->tok.start;
        if (next(p))
            return NONE;
        uint32_t rhs = parse_not(p);
        lhs = rhs == NONE ? NONE : add_node(p, OP_AND, lhs, rhs, at);
    }
    return lhs;
}

static uint32_t parse_or(struct parser *p)
{
    uint32_t lhs = parse_and(p);
    while (lhs != NONE && p->tok.type == T_OR) {
        size_t at = p->tok.start;
        if (next(p))
            return NONE;
        uint32_t rhs = parse_and(p);
        lhs = rhs == NONE ? NONE : add_node(p, OP_OR, lhs, rhs, at);
    }
    return lhs;
}

static char *trimmed_copy(const char *text)
{
    const char *end = text + strlen(text);
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    while (end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    return eddy_strndup(text, (size_t)(end - text));
}

eddy_err_t eddy__expr_compile(const char *text, const struct eddy_expr_scope *scope,
                              struct eddy_expr **out, char *err, size_t errlen)
{
    struct parser p = {.scope = scope, .err = err, .errlen = errlen};
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    p.e = eddy_calloc(1, sizeof *p.e);
    if (!p.e)
        return pnomem(&p);
    p.e->source = trimmed_copy(text);
    if (!p.e->source) {
        pnomem(&p);
        goto out;
    }
    p.src = p.e->source;
    if (p.src[0] == '\0') {
        perr(&p, SIZE_MAX, "empty expression");
        goto out;
    }
    if (next(&p))
        goto out;
    uint32_t root = parse_or(&p);
    if (root == NONE)
        goto out;
    if (p.tok.type == T_RP) {
        perr(&p, p.tok.start, "unexpected ')'");
        goto out;
    }
    if (p.tok.type != T_END) {
        perr(&p, p.tok.start, "unexpected '%.*s'", (int)p.tok.len, p.src + p.tok.start);
        goto out;
    }
    /* the root is the last node added; fix up string literal pointers */
    for (uint32_t i = 0; i < p.e->n_nodes; i++) {
        struct node *n = &p.e->nodes[i];
        if (n->op == OP_LIT && n->lit.type == EDDY_V_STR)
            n->lit.as.s.ptr = p.e->pool + n->column;
    }
out:
    if (p.rc) {
        eddy__expr_free(p.e);
        return p.rc;
    }
    *out = p.e;
    return EDDY_OK;
}

void eddy__expr_free(struct eddy_expr *e)
{
    if (!e)
        return;
    eddy_free(e->source);
    eddy_free(e->pool);
    eddy_free(e->nodes);
    eddy_free(e);
}

const char *eddy_expr_source(const struct eddy_expr *e)
{
    return e->source;
}

size_t eddy__expr_slot(const struct eddy_expr *e)
{
    const struct node *root = &e->nodes[e->n_nodes - 1];
    return root->op == OP_SLOT ? root->slot : SIZE_MAX;
}

/* ---- evaluation ----------------------------------------------------------- */

static void eval(const struct eddy_expr *e, uint32_t i, const struct eddy_value *slots,
                 struct eddy_value *out);

static void set_bool(struct eddy_value *out, bool b)
{
    out->type = EDDY_V_BOOL;
    out->as.b = b;
}

/* Three-way comparison; false when the pair is not ordered. */
static bool compare(const struct eddy_value *a, const struct eddy_value *b, int *cmp)
{
    if (a->type == EDDY_V_INT && b->type == EDDY_V_INT) {
        *cmp = (a->as.i > b->as.i) - (a->as.i < b->as.i);
        return true;
    }
    double x, y;
    if (eddy_value_number(a, &x) && eddy_value_number(b, &y)) {
        if (isnan(x) || isnan(y))
            return false;
        *cmp = (x > y) - (x < y);
        return true;
    }
    if (a->type == EDDY_V_STR && b->type == EDDY_V_STR) {
        uint32_t n = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
        int c = n ? memcmp(a->as.s.ptr, b->as.s.ptr, n) : 0;
        if (c == 0)
            c = (a->as.s.len > b->as.s.len) - (a->as.s.len < b->as.s.len);
        *cmp = (c > 0) - (c < 0);
        return true;
    }
    return false;
}

static void eval_compare(uint8_t op, const struct eddy_value *a, const struct eddy_value *b,
                         struct eddy_value *out)
{
    int cmp = 0;
    if (a->type == EDDY_V_NULL || b->type == EDDY_V_NULL) {
        set_bool(out, false);
        return;
    }
    if (op == OP_EQ || op == OP_NE) {
        bool eq;
        if (a->type == EDDY_V_BOOL && b->type == EDDY_V_BOOL)
            eq = a->as.b == b->as.b;
        else
            eq = compare(a, b, &cmp) && cmp == 0;
        set_bool(out, op == OP_EQ ? eq : !eq);
        return;
    }
    if (!compare(a, b, &cmp)) {
        set_bool(out, false);
        return;
    }
    switch (op) {
    case OP_LT: set_bool(out, cmp < 0); break;
    case OP_LE: set_bool(out, cmp <= 0); break;
    case OP_GT: set_bool(out, cmp > 0); break;
    default: set_bool(out, cmp >= 0); break;
    }
}

static void eval_int_arith(uint8_t op, int64_t x, int64_t y, struct eddy_value *out)
{
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case OP_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
    case OP_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
    case OP_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
    default: /* OP_MOD */
        if (y == 0)
            overflow = true;
        else
            r = y == -1 ? 0 : x % y;
        break;
    }
    if (overflow) {
        *out = eddy_value_null();
        return;
    }
    out->type = EDDY_V_INT;
    out->as.i = r;
}

static void eval_arith(uint8_t op, const struct eddy_value *a, const struct eddy_value *b,
                       struct eddy_value *out)
{
    if (op != OP_DIV && a->type == EDDY_V_INT && b->type == EDDY_V_INT) {
        eval_int_arith(op, a->as.i, b->as.i, out);
        return;
    }
    double x, y, r;
    if (!eddy_value_number(a, &x) || !eddy_value_number(b, &y)) {
        *out = eddy_value_null();
        return;
    }
    switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV:
        if (y == 0.0) {
            *out = eddy_value_null();
            return;
        }
        r = x / y;
        break;
    default:
        if (y == 0.0) {
            *out = eddy_value_null();
            return;
        }
        r = fmod(x, y);
        break;
    }
    out->type = EDDY_V_NUM;
    out->as.n = r;
}

static void eval_table(const struct node *n, const struct eddy_value *slots, struct eddy_value *out)
{
    const struct eddy_value *k = &slots[n->slot];
    char scratch[32];
    const char *key;
    size_t len;
    switch (k->type) {
    case EDDY_V_STR:
        key = k->as.s.ptr;
        len = k->as.s.len;
        break;
    case EDDY_V_INT:
        len = (size_t)snprintf(scratch, sizeof scratch, "%lld", (long long)k->as.i);
        key = scratch;
        break;
    case EDDY_V_BOOL:
        key = k->as.b ? "true" : "false";
        len = strlen(key);
        break;
    default: *out = eddy_value_null(); return;
    }
    long row = eddy__table_row(n->table, key, len);
    *out = row < 0 ? eddy_value_null() : *eddy__table_cell(n->table, (size_t)row, n->column);
}

/* The value of node @i: a field or a literal is read where it is (most
 * operands are one), anything else evaluated into @tmp. */
static inline const struct eddy_value *operand(const struct eddy_expr *e, uint32_t i,
                                               const struct eddy_value *slots,
                                               struct eddy_value *tmp)
{
    const struct node *n = &e->nodes[i];
    if (n->op == OP_SLOT)
        return &slots[n->slot];
    if (n->op == OP_LIT)
        return &n->lit;
    eval(e, i, slots, tmp);
    return tmp;
}

static void eval(const struct eddy_expr *e, uint32_t i, const struct eddy_value *slots,
                 struct eddy_value *out)
{
    const struct node *n = &e->nodes[i];
    struct eddy_value a, b;
    switch (n->op) {
    case OP_LIT: *out = n->lit; return;
    case OP_SLOT: *out = slots[n->slot]; return;
    case OP_TABLE: eval_table(n, slots, out); return;
    case OP_NOT:
        eval(e, n->lhs, slots, &a);
        set_bool(out, !eddy_value_truthy(&a));
        return;
    case OP_AND:
    case OP_OR:
        eval(e, n->lhs, slots, &a);
        if (eddy_value_truthy(&a) == (n->op == OP_OR)) {
            set_bool(out, n->op == OP_OR);
            return;
        }
        eval(e, n->rhs, slots, &b);
        set_bool(out, eddy_value_truthy(&b));
        return;
    case OP_NEG:
        eval(e, n->lhs, slots, &a);
        if (a.type == EDDY_V_INT && a.as.i != INT64_MIN) {
            out->type = EDDY_V_INT;
            out->as.i = -a.as.i;
        } else if (a.type == EDDY_V_NUM) {
            out->type = EDDY_V_NUM;
            out->as.n = -a.as.n;
        } else {
            *out = eddy_value_null();
        }
        return;
    default: break;
    }
    const struct eddy_value *l = operand(e, n->lhs, slots, &a);
    const struct eddy_value *r = operand(e, n->rhs, slots, &b);
    if (n->op >= OP_EQ && n->op <= OP_GE)
        eval_compare(n->op, l, r, out);
    else
        eval_arith(n->op, l, r, out);
}

void eddy_expr_eval(const struct eddy_expr *expr, const struct eddy_eval_ctx *ctx,
                    struct eddy_value *out)
{
    eval(expr, expr->n_nodes - 1, ctx->slots, out);
}
