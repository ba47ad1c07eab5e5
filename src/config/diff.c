/*
 * diff.c - store fingerprints and the upgrade analysis of `eddy diff`; see
 * diff.h and docs/upgrades.md.
 *
 * A fingerprint is built from a "description" of the store: named parts
 * (kind-specific, fixed order) plus the sorted closure of the definitions the
 * parts depend on. It serializes as one line:
 *   <kind> v1;key=value;...;defs=NAME<def>,NAME<def>,...
 * Kinds and parts:
 *   meta         topology, source
 *   dedup        topology, source, field (NAME:TYPE@PATH), within
 *   aggregation  topology, source, time (PATH FORMAT), window, from (a
 *                rollup's chain down to the aggregation of events, or -),
 *                grace, partition (input|repartition), group, where,
 *                accumulators (ops/window.c layout order: family(argument)),
 *                defs
 *   alerts       topology, source, then per alert sorted by name
 *                "alert NAME{on=..;time=..;window=..;from=..;partition=..;
 *                group=..;where=..;when=EXPR|absent(N)|BURN;defs=..}", BURN
 *                being "burn_rate(bad=M,total=M,budget=EXPR,windows=LONG/SHORT
 *                >=FACTOR SEVERITY|...)" (a burn-rate alert's `when` is all of
 *                its definition, so changing any of it changes the alert)
 *   pattern      topology, source, time, grace, key (fields), span (within),
 *                sequence ("where EXPR times N|N+|N..M capture F,.. -> ..."
 *                per step, in order; step names are left out: they only
 *                name output), defs
 * Definitions: a source field "NAME:TYPE@PATH", a derived field "NAME=EXPR",
 * a table reference "TABLE.COLUMN:table keyed by KEY" (plus KEY's own
 * definition), and in alert scope a metric "NAME=CALL". The closure follows
 * every name an expression uses, recursively, so a changed derive that a
 * metric uses changes the fingerprint although the layout text is equal.
 *
 * Expressions are printed canonically from their tokens: one blank between
 * tokens (none inside parentheses or after a unary minus), string literals
 * decoded and written with double quotes; control bytes, '"', '\\', ';', '{'
 * and '}' inside literals and paths are written as \xHH, so ';' and braces
 * only ever delimit parts (eddy_plan_fingerprint_compatible relies on it).
 *
 * Deliberately left out (they change which events count or how results are
 * delivered, not what persisted state means): dedup settings in aggregation
 * fingerprints, `required`, max_event_bytes, emit, emit_empty, idle_timeout,
 * late.correct_within, metric names and quantile q (one sketch serves every
 * q), output topics, processing, kafka properties, table rows and files.
 * late.correct_within only decides how long closed windows stay: their rows
 * mean the same, and rows with a revision (row format 2) exist only in
 * closed windows, which a store without corrections skips unread at load,
 * so adding, changing or removing it keeps every store.
 *
 * The diff compares the same descriptions part by part to say why a store is
 * rebuilt, and separate "output" descriptions (parts as above without grace
 * and partition, plus emit, emit_empty, late (the correction horizon, or -;
 * always - for a rollup) and the declared metrics by name; for a pattern:
 * source, time, key, span, the sequence with step names, timeout) to say
 * whether an output topic keeps its meaning.
 */
#include "config/diff.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/metric.h"
#include "config/table.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"

#define MAX_PARTS 12

/* ---- expression tokens (mirrors the lexer of expr.c) ---- */

enum tk {
    TK_END,
    TK_NAME,
    TK_TABLEREF,
    TK_LOGIC,
    TK_CONST,
    TK_NUM,
    TK_STR,
    TK_OPEN,
    TK_CLOSE,
    TK_OP
};

struct tok {
    enum tk kind;
    const char *s;
    size_t n;
};

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ident(char c)
{
    return ident_start(c) || is_digit(c);
}

static bool word_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static const char *lex_number(const char *p)
{
    while (is_digit(*p))
        p++;
    if (*p == '.' && is_digit(p[1]))
        for (p++; is_digit(*p); p++) {
        }
    if (*p == 'e' || *p == 'E') {
        const char *q = p + 1;
        if (*q == '+' || *q == '-')
            q++;
        if (is_digit(*q))
            for (p = q; is_digit(*p); p++) {
            }
    }
    return p;
}

static enum tk lex_word(const char **pp)
{
    const char *s = *pp, *p = s;
    while (ident(*p))
        p++;
    size_t n = (size_t)(p - s);
    enum tk kind = TK_NAME;
    if (word_is(s, n, "and") || word_is(s, n, "or") || word_is(s, n, "not"))
        kind = TK_LOGIC;
    else if (word_is(s, n, "true") || word_is(s, n, "false") || word_is(s, n, "null"))
        kind = TK_CONST;
    else if (*p == '.' && ident_start(p[1])) {
        kind = TK_TABLEREF;
        for (p++; ident(*p); p++) {
        }
    }
    *pp = p;
    return kind;
}

/* Reads the token at *pp (the expression compiled, so it is well formed). */
static void next_tok(const char **pp, struct tok *t)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    t->s = p;
    if (*p == '\0') {
        t->kind = TK_END;
    } else if (*p == '"' || *p == '\'') {
        char quote = *p++;
        for (; *p && *p != quote; p++)
            if (*p == '\\' && p[1])
                p++;
        if (*p)
            p++;
        t->kind = TK_STR;
    } else if (is_digit(*p)) {
        p = lex_number(p);
        t->kind = TK_NUM;
    } else if (ident_start(*p)) {
        t->kind = lex_word(&p);
    } else {
        t->kind = *p == '(' ? TK_OPEN : *p == ')' ? TK_CLOSE : TK_OP;
        p += (p[1] == '=' && strchr("=!<>", *p)) ? 2 : 1;
    }
    t->n = (size_t)(p - t->s);
    *pp = p;
}

/* ---- canonical text ---- */

static void put_byte(struct eddy_buf *b, unsigned char c)
{
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == ';' || c == '{' || c == '}')
        eddy_buf_printf(b, "\\x%02x", c);
    else
        eddy_buf_putc(b, (char)c);
}

static void put_text(struct eddy_buf *b, const char *s)
{
    for (; *s; s++)
        put_byte(b, (unsigned char)*s);
}

/* A string literal token (quotes included), decoded, with double quotes. */
static void put_literal(struct eddy_buf *b, const char *s, size_t n)
{
    eddy_buf_putc(b, '"');
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 2 < n) {
            char esc = s[++i];
            c = esc == 'n' ? '\n' : esc == 't' ? '\t' : esc;
        }
        put_byte(b, (unsigned char)c);
    }
    eddy_buf_putc(b, '"');
}

static void put_expr(struct eddy_buf *b, const char *src)
{
    enum { AT_START, AFTER_OPEN, AFTER_UNARY, AFTER_OPERATOR, AFTER_VALUE } prev = AT_START;
    struct tok t;
    for (next_tok(&src, &t); t.kind != TK_END; next_tok(&src, &t)) {
        bool unary = t.kind == TK_OP && t.n == 1 && t.s[0] == '-' && prev != AFTER_VALUE;
        if (prev == AFTER_OPERATOR || (prev == AFTER_VALUE && t.kind != TK_CLOSE))
            eddy_buf_putc(b, ' ');
        if (t.kind == TK_STR)
            put_literal(b, t.s, t.n);
        else
            eddy_buf_append(b, t.s, t.n);
        if (t.kind == TK_OPEN)
            prev = AFTER_OPEN;
        else if (unary)
            prev = AFTER_UNARY;
        else if (t.kind == TK_OP || t.kind == TK_LOGIC)
            prev = AFTER_OPERATOR;
        else
            prev = AFTER_VALUE;
    }
}

static void put_duration(struct eddy_buf *b, int64_t ms)
{
    char text[64];
    eddy_duration_format(ms, text, sizeof text);
    eddy_buf_puts(b, text);
}

static void put_window(struct eddy_buf *b, const struct eddy_window *w)
{
    switch (w->kind) {
    case EDDY_WIN_TUMBLING:
        eddy_buf_puts(b, "tumbling ");
        put_duration(b, w->size_ms);
        break;
    case EDDY_WIN_HOPPING:
        eddy_buf_puts(b, "hopping ");
        put_duration(b, w->size_ms);
        eddy_buf_puts(b, " advance ");
        put_duration(b, w->advance_ms);
        break;
    case EDDY_WIN_SESSION:
        eddy_buf_puts(b, "session gap ");
        put_duration(b, w->gap_ms);
        break;
    }
}

static const char *ts_format_name(enum eddy_ts_format f)
{
    switch (f) {
    case EDDY_TS_RFC3339: return "rfc3339";
    case EDDY_TS_UNIX_S: return "unix_s";
    case EDDY_TS_UNIX_MS: return "unix_ms";
    }
    return "?";
}

/* kind(arg[, K][, by: arg2 | , arg2]): top_k's K (@k; left out when @k < 1:
 * an accumulator's state does not depend on K) and the second argument of
 * top_k's by: and arg_max/arg_min. */
static void put_call(struct eddy_buf *b, enum eddy_metric_kind kind, const struct eddy_expr *arg,
                     const struct eddy_expr *arg2, double k)
{
    eddy_buf_puts(b, eddy__metric_kind_name(kind));
    eddy_buf_putc(b, '(');
    if (arg)
        put_expr(b, eddy_expr_source(arg));
    if ((kind == EDDY_M_TOP_K || kind == EDDY_M_TOP_K_BY) && k >= 1)
        eddy_buf_printf(b, ", %d", (int)k);
    if (arg2) {
        eddy_buf_puts(b, kind == EDDY_M_TOP_K_BY ? ", by: " : ", ");
        put_expr(b, eddy_expr_source(arg2));
    }
    eddy_buf_putc(b, ')');
}

/* The metric as declared: "quantile(latency_ms, 0.95)". */
static void put_metric(struct eddy_buf *b, const struct eddy_metric *m)
{
    put_call(b, m->kind, m->arg, m->arg2, m->q);
    if (m->kind == EDDY_M_QUANTILE) {
        char text[40];
        snprintf(text, sizeof text, "%.15g", m->q);
        if (strtod(text, NULL) != m->q)
            snprintf(text, sizeof text, "%.17g", m->q);
        if (!b->oom)
            b->len--; /* reopen the ')' */
        eddy_buf_printf(b, ", %s)", text);
    }
}

/* Moves the text out of @b (which is left empty); NULL when it ran out of memory. */
static char *buf_take(struct eddy_buf *b)
{
    char *text = NULL;
    if (!b->oom && eddy_buf_reserve(b, 0)) {
        text = b->data;
        text[b->len] = '\0';
        eddy_buf_init(b);
    }
    eddy_buf_reset(b);
    return text;
}

/* ---- named items: definitions and metrics ---- */

struct item {
    char *name;
    char *text;
};

struct list {
    struct item *v;
    size_t n, cap;
};

static void list_release(struct list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        eddy_free(l->v[i].name);
        eddy_free(l->v[i].text);
    }
    eddy_free(l->v);
    memset(l, 0, sizeof *l);
}

static const struct item *list_find(const struct list *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i].name) == len && memcmp(l->v[i].name, name, len) == 0)
            return &l->v[i];
    return NULL;
}

/* Appends name/text, taking both; false (both freed) when out of memory. */
static bool list_add(struct list *l, char *name, char *text)
{
    if (name && text && l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct item *v = eddy_realloc(l->v, cap * sizeof *v);
        if (v) {
            l->v = v;
            l->cap = cap;
        }
    }
    if (!name || !text || l->n == l->cap) {
        eddy_free(name);
        eddy_free(text);
        return false;
    }
    l->v[l->n].name = name;
    l->v[l->n].text = text;
    l->n++;
    return true;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* ---- descriptions ---- */

struct desc {
    const char *kind;
    const char *keys[MAX_PARTS];
    char *values[MAX_PARTS];
    size_t n_parts;
    bool has_defs;
    struct list defs;     /* sorted by name once built */
    struct list metrics;  /* output descriptions: name -> declared call */
    char *name;           /* alert entries */
    struct desc *entries; /* alerts store: one per alert, sorted by name */
    size_t n_entries;
    bool oom;
};

static void desc_release(struct desc *d)
{
    for (size_t i = 0; i < d->n_parts; i++)
        eddy_free(d->values[i]);
    list_release(&d->defs);
    list_release(&d->metrics);
    eddy_free(d->name);
    for (size_t i = 0; i < d->n_entries; i++)
        desc_release(&d->entries[i]);
    eddy_free(d->entries);
    memset(d, 0, sizeof *d);
}

/* Adds part @key with the text of @b (emptied). */
static void desc_part(struct desc *d, const char *key, struct eddy_buf *b)
{
    char *value = buf_take(b);
    if (!value || d->n_parts == MAX_PARTS) {
        eddy_free(value);
        d->oom = true;
        return;
    }
    d->keys[d->n_parts] = key;
    d->values[d->n_parts++] = value;
}

/* Definition closure: the scope decides what a bare name means. */
struct closure {
    const struct eddy_plan *plan;
    const struct eddy_aggregation *agg; /* alert scope when set, else event scope */
    struct desc *d;
    struct eddy_buf text;
};

static void add_expr_deps(struct closure *c, const char *src, bool alert_scope);

static void add_def(struct closure *c, const char *name, size_t len)
{
    char *owned = eddy_strndup(name, len);
    char *text = buf_take(&c->text);
    if (!list_add(&c->d->defs, owned, text))
        c->d->oom = true;
}

static void add_event_name(struct closure *c, const char *name, size_t len)
{
    const struct eddy_plan *plan = c->plan;
    if (list_find(&c->d->defs, name, len))
        return;
    for (size_t i = 0; i < plan->source.n_fields; i++) {
        const struct eddy_field *f = &plan->source.fields[i];
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) {
            eddy_buf_printf(&c->text, ":%s@", eddy_field_type_name(f->type));
            put_text(&c->text, f->path);
            add_def(c, name, len);
            return;
        }
    }
    for (size_t i = 0; i < plan->n_derives; i++) {
        const struct eddy_derive *dv = &plan->derives[i];
        if (strlen(dv->name) == len && memcmp(dv->name, name, len) == 0) {
            eddy_buf_putc(&c->text, '=');
            put_expr(&c->text, eddy_expr_source(dv->expr));
            add_def(c, name, len); /* first, so the walk below terminates */
            add_expr_deps(c, eddy_expr_source(dv->expr), false);
            return;
        }
    }
    eddy_buf_puts(&c->text, ":?");
    add_def(c, name, len);
}

static void add_tableref(struct closure *c, const char *ref, size_t len)
{
    if (list_find(&c->d->defs, ref, len))
        return;
    const char *dot = memchr(ref, '.', len);
    size_t table_len = (size_t)(dot - ref);
    const struct eddy_table *table = NULL;
    for (size_t i = 0; i < c->plan->n_tables && !table; i++)
        if (word_is(ref, table_len, c->plan->tables[i]->name))
            table = c->plan->tables[i];
    eddy_buf_printf(&c->text, ":table keyed by %s", table ? table->key : "?");
    add_def(c, ref, len);
    if (table) /* the key slot: a field, a derive or (alert scope) a group-by name */
        add_event_name(c, table->key, strlen(table->key));
}

/* In alert scope a name is a group-by name (an event slot) or a metric. */
static void add_alert_name(struct closure *c, const char *name, size_t len)
{
    const struct eddy_aggregation *agg = c->agg;
    for (size_t i = 0; i < agg->n_metrics; i++) {
        const struct eddy_metric *m = &agg->metrics[i];
        if (!word_is(name, len, m->name))
            continue;
        if (list_find(&c->d->defs, name, len))
            return;
        eddy_buf_putc(&c->text, '=');
        put_metric(&c->text, m);
        add_def(c, name, len);
        if (m->arg)
            add_expr_deps(c, eddy_expr_source(m->arg), false);
        if (m->arg2)
            add_expr_deps(c, eddy_expr_source(m->arg2), false);
        return;
    }
    add_event_name(c, name, len);
}

static void add_expr_deps(struct closure *c, const char *src, bool alert_scope)
{
    struct tok t;
    for (next_tok(&src, &t); t.kind != TK_END; next_tok(&src, &t)) {
        if (t.kind == TK_TABLEREF)
            add_tableref(c, t.s, t.n);
        else if (t.kind == TK_NAME && alert_scope)
            add_alert_name(c, t.s, t.n);
        else if (t.kind == TK_NAME)
            add_event_name(c, t.s, t.n);
    }
}

static void closure_init(struct closure *c, const struct eddy_plan *plan,
                         const struct eddy_aggregation *agg, struct desc *d)
{
    c->plan = plan;
    c->agg = agg;
    c->d = d;
    eddy_buf_init(&c->text);
    d->has_defs = true;
}

static void closure_finish(struct closure *c)
{
    if (c->text.oom)
        c->d->oom = true;
    eddy_buf_release(&c->text);
    if (c->d->defs.n)
        qsort(c->d->defs.v, c->d->defs.n, sizeof *c->d->defs.v, item_cmp);
}

/* ---- the descriptions of each store and output ---- */

static void part_str(struct desc *d, struct eddy_buf *b, const char *key, const char *value)
{
    put_text(b, value);
    desc_part(d, key, b);
}

static void header_parts(struct desc *d, const struct eddy_plan *plan, struct eddy_buf *b)
{
    part_str(d, b, "topology", plan->name);
    part_str(d, b, "source", plan->source.topic);
}

/* The aggregation that reads the events a rollup chain ends in. Rollups
 * read earlier aggregations; the bound only guards against a bad plan. */
static const struct eddy_aggregation *rollup_root(const struct eddy_plan *plan,
                                                  const struct eddy_aggregation *agg)
{
    for (size_t hops = 0;
         agg->rollup && agg->from < plan->n_aggregations && hops < plan->n_aggregations; hops++)
        agg = &plan->aggregations[agg->from];
    return agg;
}

/* A rollup's sources: "users_1h tumbling 1h <- users_1m tumbling 1m where -
 * partition repartition" ("-" for an aggregation of events; the partition
 * only when @persisted): the rows it merges mean what the chain down to the
 * events says. */
static void put_rollup_source(struct eddy_buf *b, const struct eddy_plan *plan,
                              const struct eddy_aggregation *agg, bool persisted)
{
    const struct eddy_aggregation *root = rollup_root(plan, agg);
    if (root == agg) {
        eddy_buf_putc(b, '-');
        return;
    }
    for (size_t hops = 0; agg != root && hops < plan->n_aggregations; hops++) {
        agg = &plan->aggregations[agg->from];
        eddy_buf_printf(b, "%s%s ", hops ? " <- " : "", agg->name);
        put_window(b, &agg->window);
    }
    eddy_buf_puts(b, " where ");
    if (root->where)
        put_expr(b, eddy_expr_source(root->where));
    else
        eddy_buf_putc(b, '-');
    if (persisted)
        eddy_buf_printf(b, " partition %s", root->repartition ? "repartition" : "input");
}

/* The parts that say which events form which groups of which windows. */
static void window_parts(struct desc *d, const struct eddy_plan *plan,
                         const struct eddy_aggregation *agg, struct eddy_buf *b, bool persisted,
                         bool with_grace)
{
    put_text(b, plan->source.ts_path);
    eddy_buf_printf(b, " %s", ts_format_name(plan->source.ts_format));
    desc_part(d, "time", b);
    put_window(b, &agg->window);
    desc_part(d, "window", b);
    put_rollup_source(b, plan, agg, persisted);
    desc_part(d, "from", b);
    if (with_grace) {
        put_duration(b, plan->grace_ms);
        desc_part(d, "grace", b);
    }
    if (persisted) {
        eddy_buf_puts(b, agg->repartition ? "repartition" : "input");
        desc_part(d, "partition", b);
    }
    for (size_t g = 0; g < agg->n_group; g++)
        eddy_buf_printf(b, "%s%s", g ? "," : "", agg->group_names[g]);
    desc_part(d, "group", b);
    if (agg->where)
        put_expr(b, eddy_expr_source(agg->where));
    else
        eddy_buf_putc(b, '-');
    desc_part(d, "where", b);
}

static void window_deps(struct closure *c, const struct eddy_aggregation *agg)
{
    for (size_t g = 0; g < agg->n_group; g++)
        add_event_name(c, agg->group_names[g], strlen(agg->group_names[g]));
    agg = rollup_root(c->plan, agg);
    if (agg->where)
        add_expr_deps(c, eddy_expr_source(agg->where), false);
}

/* The accumulator layout of the plan (struct eddy_acc_def), which is the
 * persisted row format. */
static void accumulators_part(struct desc *d, struct closure *c, const struct eddy_aggregation *agg,
                              struct eddy_buf *b)
{
    for (size_t a = 0; a < agg->n_accs; a++) {
        if (b->len)
            eddy_buf_putc(b, ',');
        put_call(b, agg->accs[a].kind, agg->accs[a].arg, agg->accs[a].arg2, 0);
        if (agg->accs[a].arg)
            add_expr_deps(c, eddy_expr_source(agg->accs[a].arg), false);
        if (agg->accs[a].arg2)
            add_expr_deps(c, eddy_expr_source(agg->accs[a].arg2), false);
    }
    desc_part(d, "accumulators", b);
}

static void build_aggregation(struct desc *d, const struct eddy_plan *plan,
                              const struct eddy_aggregation *agg, struct eddy_buf *b)
{
    struct closure c;
    d->kind = "aggregation";
    closure_init(&c, plan, NULL, d);
    header_parts(d, plan, b);
    window_parts(d, plan, agg, b, true, true);
    window_deps(&c, agg);
    accumulators_part(d, &c, agg, b);
    closure_finish(&c);
}

static void build_dedup(struct desc *d, const struct eddy_plan *plan, struct eddy_buf *b)
{
    d->kind = "dedup";
    header_parts(d, plan, b);
    const struct eddy_field *f = &plan->source.fields[plan->dedup.slot];
    eddy_buf_printf(b, "%s:%s@", plan->dedup.field, eddy_field_type_name(f->type));
    put_text(b, f->path);
    desc_part(d, "field", b);
    put_duration(b, plan->dedup.within_ms);
    desc_part(d, "within", b);
}

/* The archive store holds encoded rows of every archive, by index: each
 * archive's columns and partitioning must stay as they were. */
static void build_archive(struct desc *d, const struct eddy_plan *plan, struct eddy_buf *b)
{
    static const char *const types[] = {"string", "int64", "double", "bool", "timestamp"};
    d->kind = "archive";
    header_parts(d, plan, b);
    for (size_t i = 0; i < plan->n_archives; i++) {
        const struct eddy_archive *ar = &plan->archives[i];
        eddy_buf_printf(b, "%s%s(", i ? "|" : "", ar->name);
        for (size_t c = 0; c < ar->n_columns; c++)
            eddy_buf_printf(b, "%s%s:%s", c ? "," : "", ar->columns[c].name,
                            types[ar->columns[c].type]);
        eddy_buf_puts(b, ")/partition_by=");
        for (size_t p = 0; p < ar->n_partition_by; p++)
            eddy_buf_printf(b, "%s%s", p ? "," : "",
                            ar->partition_by[p] == EDDY_ARCHIVE_DATE
                                ? "date"
                                : ar->columns[ar->partition_by[p]].name);
    }
    desc_part(d, "archives", b);
}

/* "burn_rate(bad=errors,total=requests,budget=EXPR,windows=1h/5m>=14.4 page|...)" */
static void put_burn_rate(struct eddy_buf *b, const struct eddy_burn_rate *br,
                          const struct eddy_aggregation *agg)
{
    eddy_buf_puts(b, "burn_rate(bad=");
    put_text(b, agg->metrics[br->bad].name);
    eddy_buf_puts(b, ",total=");
    put_text(b, agg->metrics[br->total].name);
    eddy_buf_puts(b, ",budget=");
    put_expr(b, eddy_expr_source(br->budget));
    eddy_buf_puts(b, ",windows=");
    for (size_t i = 0; i < br->n_windows; i++) {
        const struct eddy_burn_window *w = &br->windows[i];
        char factor[40];
        snprintf(factor, sizeof factor, "%.15g", w->factor);
        if (strtod(factor, NULL) != w->factor)
            snprintf(factor, sizeof factor, "%.17g", w->factor);
        if (i)
            eddy_buf_putc(b, '|');
        put_duration(b, w->long_ms);
        eddy_buf_putc(b, '/');
        put_duration(b, w->short_ms);
        eddy_buf_printf(b, ">=%s ", factor);
        put_text(b, w->severity);
    }
    eddy_buf_putc(b, ')');
}

static void build_alert(struct desc *d, const struct eddy_plan *plan,
                        const struct eddy_alert *alert, struct eddy_buf *b)
{
    const struct eddy_aggregation *agg = &plan->aggregations[alert->aggregation];
    struct closure c;
    d->kind = "alert";
    d->name = eddy_strdup(alert->name);
    if (!d->name)
        d->oom = true;
    closure_init(&c, plan, agg, d);
    part_str(d, b, "on", agg->name);
    window_parts(d, plan, agg, b, true, false);
    if (alert->burn)
        put_burn_rate(b, alert->burn, agg);
    else if (alert->absent_windows)
        eddy_buf_printf(b, "absent(%lld)", (long long)alert->absent_windows);
    else
        put_expr(b, eddy_expr_source(alert->when));
    desc_part(d, "when", b);
    window_deps(&c, agg);
    if (alert->burn) {
        const char *bad = agg->metrics[alert->burn->bad].name;
        const char *total = agg->metrics[alert->burn->total].name;
        add_alert_name(&c, bad, strlen(bad));
        add_alert_name(&c, total, strlen(total));
        add_expr_deps(&c, eddy_expr_source(alert->burn->budget), true);
    } else if (!alert->absent_windows) {
        add_expr_deps(&c, eddy_expr_source(alert->when), true);
    }
    closure_finish(&c);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct desc *)a)->name, ((const struct desc *)b)->name);
}

static void build_alerts(struct desc *d, const struct eddy_plan *plan, struct eddy_buf *b)
{
    d->kind = "alerts";
    header_parts(d, plan, b);
    d->entries = eddy_calloc(plan->n_alerts, sizeof *d->entries);
    if (!d->entries) {
        d->oom = true;
        return;
    }
    d->n_entries = plan->n_alerts;
    for (size_t i = 0; i < plan->n_alerts; i++) {
        build_alert(&d->entries[i], plan, &plan->alerts[i], b);
        d->oom |= d->entries[i].oom;
    }
    if (!d->oom && d->n_entries)
        qsort(d->entries, d->n_entries, sizeof *d->entries, entry_cmp);
}

/* What the records an aggregation writes to its output topic mean. */
static void build_aggregation_output(struct desc *d, const struct eddy_plan *plan,
                                     const struct eddy_aggregation *agg, struct eddy_buf *b)
{
    struct closure c;
    d->kind = "output";
    closure_init(&c, plan, NULL, d);
    part_str(d, b, "source", plan->source.topic);
    window_parts(d, plan, agg, b, false, false);
    if (agg->emit.updates) {
        eddy_buf_puts(b, "updates every ");
        put_duration(b, agg->emit.update_interval_ms);
    } else {
        eddy_buf_puts(b, "final");
    }
    desc_part(d, "emit", b);
    eddy_buf_puts(b, agg->emit_empty ? "true" : "false");
    desc_part(d, "emit_empty", b);
    if (plan->late_correct_ms && !agg->rollup) {
        eddy_buf_puts(b, "correct_within ");
        put_duration(b, plan->late_correct_ms);
    } else {
        eddy_buf_putc(b, '-');
    }
    desc_part(d, "late", b);
    window_deps(&c, agg);
    for (size_t m = 0; m < agg->n_metrics && !d->oom; m++) {
        put_metric(b, &agg->metrics[m]);
        if (!list_add(&d->metrics, eddy_strdup(agg->metrics[m].name), buf_take(b)))
            d->oom = true;
        if (agg->metrics[m].arg)
            add_expr_deps(&c, eddy_expr_source(agg->metrics[m].arg), false);
        if (agg->metrics[m].arg2)
            add_expr_deps(&c, eddy_expr_source(agg->metrics[m].arg2), false);
    }
    closure_finish(&c);
}

/* The parts of a pattern (with @names: step names and timeout too, for its
 * output) and the closure of the names it uses. */
static void pattern_parts(struct desc *d, const struct eddy_plan *plan,
                          const struct eddy_pattern *pat, struct eddy_buf *b, bool output)
{
    struct closure c;
    closure_init(&c, plan, NULL, d);
    put_text(b, plan->source.ts_path);
    eddy_buf_printf(b, " %s", ts_format_name(plan->source.ts_format));
    desc_part(d, "time", b);
    if (!output) {
        put_duration(b, plan->grace_ms);
        desc_part(d, "grace", b);
    }
    for (size_t k = 0; k < pat->n_key; k++) {
        eddy_buf_printf(b, "%s%s", k ? "," : "", pat->key_names[k]);
        add_event_name(&c, pat->key_names[k], strlen(pat->key_names[k]));
    }
    desc_part(d, "key", b);
    put_duration(b, pat->within_ms);
    desc_part(d, "span", b);
    for (size_t i = 0; i < pat->n_steps; i++) {
        const struct eddy_pattern_step *st = &pat->steps[i];
        eddy_buf_puts(b, i ? " -> " : "");
        if (output)
            eddy_buf_printf(b, "%s: ", st->name);
        eddy_buf_puts(b, "where ");
        put_expr(b, eddy_expr_source(st->where));
        add_expr_deps(&c, eddy_expr_source(st->where), false);
        eddy_buf_printf(b, " times %lu", (unsigned long)st->min);
        if (st->max == EDDY_PATTERN_UNBOUNDED)
            eddy_buf_putc(b, '+');
        else if (st->max != st->min)
            eddy_buf_printf(b, "..%lu", (unsigned long)st->max);
        for (size_t f = 0; f < st->n_capture; f++) {
            eddy_buf_puts(b, f ? "," : " capture ");
            eddy_buf_puts(b, st->capture_names[f]);
            add_event_name(&c, st->capture_names[f], strlen(st->capture_names[f]));
        }
    }
    desc_part(d, "sequence", b);
    if (output) {
        eddy_buf_puts(b, pat->timeout_emit ? "emit" : "drop");
        desc_part(d, "timeout", b);
    }
    closure_finish(&c);
}

static void build_pattern(struct desc *d, const struct eddy_plan *plan,
                          const struct eddy_pattern *pat, struct eddy_buf *b)
{
    d->kind = "pattern";
    header_parts(d, plan, b);
    pattern_parts(d, plan, pat, b, false);
}

static void build_pattern_output(struct desc *d, const struct eddy_plan *plan,
                                 const struct eddy_pattern *pat, struct eddy_buf *b)
{
    d->kind = "output";
    part_str(d, b, "source", plan->source.topic);
    pattern_parts(d, plan, pat, b, true);
}

static const struct eddy_pattern *find_pattern(const struct eddy_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n_patterns; i++)
        if (strcmp(plan->patterns[i].name, name) == 0)
            return &plan->patterns[i];
    return NULL;
}

/* ---- stores ---- */

enum store_kind {
    STORE_NONE,
    STORE_META,
    STORE_DEDUP,
    STORE_AGGREGATION,
    STORE_ALERTS,
    STORE_PATTERN,
    STORE_ARCHIVE
};

static enum store_kind find_store(const struct eddy_plan *plan, const char *store,
                                  const struct eddy_aggregation **agg)
{
    *agg = NULL;
    if (strcmp(store, EDDY_STORE_META) == 0)
        return STORE_META;
    if (strcmp(store, EDDY_STORE_DEDUP) == 0 && plan->dedup.enabled)
        return STORE_DEDUP;
    if (strcmp(store, EDDY_STORE_ALERTS) == 0 && plan->n_alerts)
        return STORE_ALERTS;
    if (strcmp(store, EDDY_STORE_ARCHIVE) == 0 && plan->n_archives)
        return STORE_ARCHIVE;
    for (size_t i = 0; i < plan->n_aggregations; i++)
        if (strcmp(plan->aggregations[i].name, store) == 0) {
            *agg = &plan->aggregations[i];
            return STORE_AGGREGATION;
        }
    return find_pattern(plan, store) ? STORE_PATTERN : STORE_NONE;
}

/* Builds the description of @store; false for an unknown store or on OOM
 * (d->oom tells which). */
static bool build_store(struct desc *d, const struct eddy_plan *plan, const char *store)
{
    const struct eddy_aggregation *agg;
    struct eddy_buf b;
    eddy_buf_init(&b);
    switch (find_store(plan, store, &agg)) {
    case STORE_NONE: return false;
    case STORE_META:
        d->kind = "meta";
        header_parts(d, plan, &b);
        break;
    case STORE_DEDUP: build_dedup(d, plan, &b); break;
    case STORE_AGGREGATION: build_aggregation(d, plan, agg, &b); break;
    case STORE_ALERTS: build_alerts(d, plan, &b); break;
    case STORE_PATTERN: build_pattern(d, plan, find_pattern(plan, store), &b); break;
    case STORE_ARCHIVE: build_archive(d, plan, &b); break;
    }
    eddy_buf_release(&b);
    return !d->oom;
}

static void serialize_parts(struct eddy_buf *b, const struct desc *d)
{
    for (size_t i = 0; i < d->n_parts; i++)
        eddy_buf_printf(b, "%s%s=%s", i ? ";" : "", d->keys[i], d->values[i]);
    if (!d->has_defs)
        return;
    eddy_buf_puts(b, d->n_parts ? ";defs=" : "defs=");
    for (size_t i = 0; i < d->defs.n; i++)
        eddy_buf_printf(b, "%s%s%s", i ? "," : "", d->defs.v[i].name, d->defs.v[i].text);
}

static void serialize(struct eddy_buf *b, const struct desc *d)
{
    eddy_buf_printf(b, "%s v%d;", d->kind, EDDY_FINGERPRINT_VERSION);
    serialize_parts(b, d);
    for (size_t i = 0; i < d->n_entries; i++) {
        eddy_buf_printf(b, ";alert %s{", d->entries[i].name);
        serialize_parts(b, &d->entries[i]);
        eddy_buf_putc(b, '}');
    }
}

const char **eddy_plan_store_names(const struct eddy_plan *plan, size_t *n)
{
    const char **names = eddy_calloc(plan->n_aggregations + plan->n_patterns + 4, sizeof *names);
    if (!names)
        return NULL;
    size_t k = 0;
    names[k++] = EDDY_STORE_META;
    if (plan->dedup.enabled)
        names[k++] = EDDY_STORE_DEDUP;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        names[k++] = plan->aggregations[a].name;
    if (plan->n_alerts)
        names[k++] = EDDY_STORE_ALERTS;
    for (size_t p = 0; p < plan->n_patterns; p++)
        names[k++] = plan->patterns[p].name;
    if (plan->n_archives)
        names[k++] = EDDY_STORE_ARCHIVE;
    *n = k;
    return names;
}

char *eddy_plan_store_fingerprint(const struct eddy_plan *plan, const char *store)
{
    struct desc d = {0};
    struct eddy_buf b;
    char *text = NULL;
    eddy_buf_init(&b);
    if (build_store(&d, plan, store)) {
        serialize(&b, &d);
        text = buf_take(&b);
    }
    eddy_buf_release(&b);
    desc_release(&d);
    return text;
}

/* ---- compatibility ---- */

struct span {
    const char *s;
    size_t n;
};

/* The next part of a fingerprint at *cursor, split at ';' outside braces. */
static bool next_part(const char **cursor, struct span *part)
{
    const char *p = *cursor;
    if (!p)
        return false;
    int depth = 0;
    part->s = p;
    for (; *p && !(*p == ';' && depth == 0); p++)
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
    part->n = (size_t)(p - part->s);
    *cursor = *p ? p + 1 : NULL;
    return true;
}

static bool is_entry(const struct span *part)
{
    return part->n > 6 && memcmp(part->s, "alert ", 6) == 0;
}

static size_t entry_name_len(const struct span *part)
{
    const char *brace = memchr(part->s, '{', part->n);
    return brace ? (size_t)(brace - part->s) : part->n;
}

/* Whether alerts fingerprint @current has entry @old with the same name and
 * a different text. */
static bool entry_changed(const struct span *old, const char *current)
{
    size_t name_len = entry_name_len(old);
    struct span part;
    while (next_part(&current, &part))
        if (is_entry(&part) && entry_name_len(&part) == name_len &&
            memcmp(part.s, old->s, name_len) == 0)
            return part.n != old->n || memcmp(part.s, old->s, old->n) != 0;
    return false;
}

static bool alerts_compatible(const char *saved, const char *current)
{
    const char *a = saved, *b = current;
    struct span pa, pb;
    for (;;) { /* the non-alert parts, in order, must be equal */
        bool more_a, more_b;
        while ((more_a = next_part(&a, &pa)) && is_entry(&pa)) {
        }
        while ((more_b = next_part(&b, &pb)) && is_entry(&pb)) {
        }
        if (more_a != more_b)
            return false;
        if (!more_a)
            break;
        if (pa.n != pb.n || memcmp(pa.s, pb.s, pa.n) != 0)
            return false;
    }
    for (a = saved; next_part(&a, &pa);)
        if (is_entry(&pa) && entry_changed(&pa, current))
            return false;
    return true;
}

bool eddy_plan_fingerprint_compatible(const char *saved, const char *current)
{
    if (!saved || !current)
        return false;
    if (strcmp(saved, current) == 0)
        return true;
    return strncmp(saved, "alerts ", 7) == 0 && strncmp(current, "alerts ", 7) == 0 &&
           alerts_compatible(saved, current);
}

static size_t explain_parts(struct span pa, struct span pb, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%.*s -> %.*s", (int)pa.n, pa.s, (int)pb.n, pb.s);
    return n < 0 ? 0 : (size_t)n;
}

/* The first alert of @saved whose definition differs in @current, if any. */
static bool changed_alert(const char *saved, const char *current, struct span *pa, struct span *pb)
{
    for (const char *a = saved; next_part(&a, pa);) {
        if (!is_entry(pa) || !entry_changed(pa, current))
            continue;
        size_t name_len = entry_name_len(pa);
        for (const char *b = current; next_part(&b, pb);)
            if (is_entry(pb) && entry_name_len(pb) == name_len &&
                memcmp(pb->s, pa->s, name_len) == 0)
                return true;
    }
    return false;
}

size_t eddy_plan_fingerprint_explain(const char *saved, const char *current, char *buf, size_t len)
{
    const char *a = saved, *b = current;
    struct span pa = {"", 0}, pb = {"", 0};
    bool more_a = true, more_b = true;
    if (len)
        buf[0] = '\0';
    if (eddy_plan_fingerprint_compatible(saved, current))
        return 0;
    if (strncmp(saved, "alerts ", 7) == 0 && changed_alert(saved, current, &pa, &pb))
        return explain_parts(pa, pb, buf, len);
    while (more_a || more_b) {
        more_a = next_part(&a, &pa);
        more_b = next_part(&b, &pb);
        if (!more_a)
            pa = (struct span){"(nothing)", 9};
        if (!more_b)
            pb = (struct span){"(nothing)", 9};
        if (pa.n != pb.n || memcmp(pa.s, pb.s, pa.n) != 0)
            return explain_parts(pa, pb, buf, len);
    }
    return 0;
}

/* ---- reasons ---- */

struct reasons {
    struct eddy_buf text;
    size_t n;
};

static void reason(struct reasons *r, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reason(struct reasons *r, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    eddy_buf_printf(&r->text, "%s%s", r->n ? "; " : "", prefix);
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len >= 0 && eddy_buf_reserve(&r->text, (size_t)len)) {
        va_start(ap, fmt);
        vsnprintf(r->text.data + r->text.len, (size_t)len + 1, fmt, ap);
        va_end(ap);
        r->text.len += (size_t)len;
    }
    r->n++;
}

static const char *part_label(const char *key)
{
    static const char *const labels[][2] = {
        {"topology", "topology name"}, {"source", "source topic"}, {"time", "event time"},
        {"partition", "partitioning"}, {"from", "rollup source"},  {"group", "group_by"},
        {"field", "dedup field"},      {"within", "dedup within"}, {"on", "aggregation"},
        {"when", "condition"},         {"span", "within"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i][0], key) == 0)
            return labels[i][1];
    return key;
}

/* Reasons why @b differs from @a (descriptions of the same kind). */
/* The next accumulator of a list "count(),ratio(x)" at *cursor (commas
 * inside parentheses or string literals do not split). */
static bool next_acc(const char **cursor, struct span *acc)
{
    const char *p = *cursor;
    int depth = 0;
    bool quoted = false;
    if (!p || !*p)
        return false;
    acc->s = p;
    for (; *p && (depth || quoted || *p != ','); p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted)
            depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
    }
    acc->n = (size_t)(p - acc->s);
    *cursor = *p ? p + 1 : NULL;
    return true;
}

static bool has_acc(const char *list, const struct span *acc)
{
    struct span other;
    while (next_acc(&list, &other))
        if (other.n == acc->n && memcmp(other.s, acc->s, acc->n) == 0)
            return true;
    return false;
}

/* "accumulators changed (added max(x); removed min(x))", or the whole lists
 * when only their order changed. */
static void accumulators_reason(struct reasons *r, const char *prefix, const char *a, const char *b)
{
    struct eddy_buf text;
    struct span acc;
    eddy_buf_init(&text);
    for (const char *p = b; next_acc(&p, &acc);)
        if (!has_acc(a, &acc))
            eddy_buf_printf(&text, "%s%.*s", text.len ? ", " : "added ", (int)acc.n, acc.s);
    size_t added = text.len;
    for (const char *p = a; next_acc(&p, &acc);)
        if (!has_acc(b, &acc))
            eddy_buf_printf(&text, "%s%.*s",
                            text.len == added ? (added ? "; removed " : "removed ") : ", ",
                            (int)acc.n, acc.s);
    if (text.oom)
        r->text.oom = true;
    else if (text.len)
        reason(r, prefix, "accumulators changed (%s)", text.data);
    else
        reason(r, prefix, "accumulator order changed (%s -> %s)", a, b);
    eddy_buf_release(&text);
}

static void compare_skipping(struct reasons *r, const char *prefix, const struct desc *a,
                             const struct desc *b, const char *skip)
{
    for (size_t i = 0; i < a->n_parts && i < b->n_parts; i++) {
        if (strcmp(a->values[i], b->values[i]) == 0 || (skip && strcmp(a->keys[i], skip) == 0))
            continue;
        if (strcmp(a->keys[i], "accumulators") == 0)
            accumulators_reason(r, prefix, a->values[i], b->values[i]);
        else
            reason(r, prefix, "%s changed (%s -> %s)", part_label(a->keys[i]), a->values[i],
                   b->values[i]);
    }
    for (size_t i = 0; i < a->metrics.n; i++) {
        const struct item *m = &a->metrics.v[i];
        const struct item *other = list_find(&b->metrics, m->name, strlen(m->name));
        if (!other)
            reason(r, prefix, "metric %s removed", m->name);
        else if (strcmp(m->text, other->text) != 0)
            reason(r, prefix, "metric %s changed (%s -> %s)", m->name, m->text, other->text);
    }
    for (size_t i = 0; i < b->metrics.n; i++)
        if (!list_find(&a->metrics, b->metrics.v[i].name, strlen(b->metrics.v[i].name)))
            reason(r, prefix, "metric %s added", b->metrics.v[i].name);
    for (size_t i = 0; i < a->defs.n; i++) {
        const struct item *def = &a->defs.v[i];
        const struct item *other = list_find(&b->defs, def->name, strlen(def->name));
        if (other && strcmp(def->text, other->text) != 0)
            reason(r, prefix, "definition of %s changed (%s -> %s)", def->name, def->text + 1,
                   other->text + 1);
    }
}

static void compare(struct reasons *r, const char *prefix, const struct desc *a,
                    const struct desc *b)
{
    compare_skipping(r, prefix, a, b, NULL);
}

static const struct desc *find_entry(const struct desc *d, const char *name)
{
    for (size_t i = 0; i < d->n_entries; i++)
        if (strcmp(d->entries[i].name, name) == 0)
            return &d->entries[i];
    return NULL;
}

/* Reasons for the alerts store: changed alerts are reasons, added and
 * removed ones go to @notes (they leave the other alerts' states valid). */
static void compare_alerts(struct reasons *r, struct reasons *notes, const struct desc *a,
                           const struct desc *b)
{
    char prefix[256];
    compare(r, "", a, b);
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct desc *other = find_entry(b, a->entries[i].name);
        snprintf(prefix, sizeof prefix, "alert %s: ", a->entries[i].name);
        if (!other)
            reason(notes, "", "alert %s removed", a->entries[i].name);
        else
            compare(r, prefix, &a->entries[i], other);
    }
    for (size_t i = 0; i < b->n_entries; i++)
        if (!find_entry(a, b->entries[i].name))
            reason(notes, "", "alert %s added", b->entries[i].name);
}

/* ---- the diff ---- */

struct differ {
    const struct eddy_plan *old_plan, *new_plan;
    FILE *out;
    size_t kept, rebuilt, added, dropped;
    size_t topics_changed, topics_new, topics_gone;
    eddy_err_t err;
};

static bool has_store(const struct eddy_plan *plan, const char *store)
{
    const struct eddy_aggregation *agg;
    return find_store(plan, store, &agg) != STORE_NONE;
}

static const char *rebuild_effect(enum store_kind kind)
{
    switch (kind) {
    case STORE_META: return "stream time restarts from the input";
    case STORE_DEDUP: return "ids seen before the upgrade are forgotten";
    case STORE_ALERTS: return "firing alerts are forgotten and fire again if still true";
    case STORE_PATTERN: return "partial matches in progress are forgotten";
    default: return "results restart from the input still in Kafka";
    }
}

/* Notes on a kept store: a changed dedup leaves aggregates valid; alerts
 * added or removed leave the others' states valid. */
static void keep_notes(struct differ *df, struct reasons *notes, enum store_kind kind)
{
    struct desc a = {0}, b = {0};
    if (kind == STORE_AGGREGATION && df->old_plan->dedup.enabled != df->new_plan->dedup.enabled)
        reason(notes, "",
               "dedup %s; it only decides which events count from now on, existing "
               "aggregates stay valid",
               df->new_plan->dedup.enabled ? "added" : "removed");
    else if (kind == STORE_AGGREGATION && df->new_plan->dedup.enabled &&
             build_store(&a, df->old_plan, "dedup") && build_store(&b, df->new_plan, "dedup")) {
        struct reasons why = {{0}, 0};
        eddy_buf_init(&why.text);
        compare(&why, "", &a, &b);
        if (why.n)
            reason(notes, "",
                   "dedup changed; it only decides which events count from now on, "
                   "existing aggregates stay valid");
        eddy_buf_release(&why.text);
    }
    if (a.oom || b.oom)
        df->err = EDDY_ENOMEM;
    desc_release(&a);
    desc_release(&b);
}

static void changelog(char *buf, size_t len, const struct eddy_plan *plan, const char *store)
{
    snprintf(buf, len, "%s-%s-changelog", plan->name, store);
}

/* One line for a store present in both plans. */
static void diff_store(struct differ *df, const char *store, int *incompatible)
{
    struct desc a = {0}, b = {0};
    struct reasons why = {{0}, 0}, notes = {{0}, 0};
    char *fa = NULL, *fb = NULL, old_log[512], new_log[512];
    const struct eddy_aggregation *agg;
    enum store_kind kind = find_store(df->new_plan, store, &agg);
    eddy_buf_init(&why.text);
    eddy_buf_init(&notes.text);
    fa = eddy_plan_store_fingerprint(df->old_plan, store);
    fb = eddy_plan_store_fingerprint(df->new_plan, store);
    if (!fa || !fb || !build_store(&a, df->old_plan, store) ||
        !build_store(&b, df->new_plan, store)) {
        df->err = EDDY_ENOMEM;
        goto out;
    }
    changelog(old_log, sizeof old_log, df->old_plan, store);
    changelog(new_log, sizeof new_log, df->new_plan, store);
    if (kind == STORE_ALERTS)
        compare_alerts(&why, &notes, &a, &b);
    else
        compare(&why, "", &a, &b);
    if (eddy_plan_fingerprint_compatible(fa, fb)) {
        keep_notes(df, &notes, kind);
        if (df->err || notes.text.oom)
            goto out;
        df->kept++;
        fprintf(df->out, "keep store %s (changelog %s)%s%s\n", store, new_log, notes.n ? ": " : "",
                notes.n ? notes.text.data : "");
        goto out;
    }
    if (!why.n)
        reason(&why, "", "definition changed");
    if (why.text.oom)
        goto out;
    df->rebuilt++;
    (*incompatible)++;
    if (strcmp(old_log, new_log) != 0)
        fprintf(df->out,
                "rebuild store %s: %s (new changelog %s starts empty; %s is no longer "
                "used)\n",
                store, why.text.data, new_log, old_log);
    else
        fprintf(df->out, "rebuild store %s: %s (its changelog %s is reset; %s)\n", store,
                why.text.data, new_log, rebuild_effect(kind));
out:
    if (why.text.oom || notes.text.oom)
        df->err = EDDY_ENOMEM;
    eddy_buf_release(&why.text);
    eddy_buf_release(&notes.text);
    eddy_free(fa);
    eddy_free(fb);
    desc_release(&a);
    desc_release(&b);
}

/* A dropped aggregation of the old plan with the same definition as @store. */
static const char *renamed_from(struct differ *df, const char *store)
{
    const char *found = NULL;
    char *fb = eddy_plan_store_fingerprint(df->new_plan, store);
    for (size_t i = 0; fb && !found && !df->err && i < df->old_plan->n_aggregations; i++) {
        const char *name = df->old_plan->aggregations[i].name;
        if (has_store(df->new_plan, name))
            continue;
        char *fa = eddy_plan_store_fingerprint(df->old_plan, name);
        if (!fa)
            df->err = EDDY_ENOMEM;
        else if (strcmp(fa, fb) == 0)
            found = name;
        eddy_free(fa);
    }
    if (!fb)
        df->err = EDDY_ENOMEM;
    eddy_free(fb);
    return found;
}

static void diff_stores(struct differ *df, int *incompatible)
{
    size_t n_old = 0, n_new = 0;
    const char **old_names = eddy_plan_store_names(df->old_plan, &n_old);
    const char **new_names = eddy_plan_store_names(df->new_plan, &n_new);
    char log[512];
    if (!old_names || !new_names) {
        df->err = EDDY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_old && !df->err; i++) {
        if (has_store(df->new_plan, old_names[i])) {
            diff_store(df, old_names[i], incompatible);
            continue;
        }
        changelog(log, sizeof log, df->old_plan, old_names[i]);
        fprintf(df->out, "drop store %s (changelog %s is no longer used)\n", old_names[i], log);
        df->dropped++;
    }
    for (size_t i = 0; i < n_new && !df->err; i++) {
        if (has_store(df->old_plan, new_names[i]))
            continue;
        const char *from = renamed_from(df, new_names[i]);
        if (df->err)
            break;
        changelog(log, sizeof log, df->new_plan, new_names[i]);
        fprintf(df->out, "new store %s (changelog %s, starts empty)", new_names[i], log);
        if (from)
            fprintf(df->out,
                    ": same definition as dropped store %s, but a renamed aggregation "
                    "is a drop + new: its state is not carried over",
                    from);
        fputs("\n", df->out);
        df->added++;
    }
out:
    eddy_free(old_names);
    eddy_free(new_names);
}

static const struct eddy_aggregation *find_aggregation(const struct eddy_plan *plan,
                                                       const char *name)
{
    for (size_t i = 0; i < plan->n_aggregations; i++)
        if (strcmp(plan->aggregations[i].name, name) == 0)
            return &plan->aggregations[i];
    return NULL;
}

static void repartition_topic(char *buf, size_t len, const struct eddy_plan *plan,
                              const struct eddy_aggregation *agg)
{
    snprintf(buf, len, "%s-%s-repartition", plan->name, agg->name);
}

/* Repartition topics: a rebuilt aggregation's unmerged partials still carry
 * the old definition. */
static void diff_repartition(struct differ *df)
{
    char topic[512], other[512];
    for (size_t i = 0; i < df->old_plan->n_aggregations; i++) {
        const struct eddy_aggregation *a = &df->old_plan->aggregations[i];
        const struct eddy_aggregation *b = find_aggregation(df->new_plan, a->name);
        if (!a->repartition)
            continue;
        repartition_topic(topic, sizeof topic, df->old_plan, a);
        if (b && b->repartition)
            repartition_topic(other, sizeof other, df->new_plan, b);
        if (!b || !b->repartition || strcmp(topic, other) != 0) {
            fprintf(df->out, "drop repartition topic %s (no longer used)\n", topic);
            continue;
        }
        char *fa = eddy_plan_store_fingerprint(df->old_plan, a->name);
        char *fb = eddy_plan_store_fingerprint(df->new_plan, b->name);
        if (!fa || !fb)
            df->err = EDDY_ENOMEM;
        else if (strcmp(fa, fb) == 0)
            fprintf(df->out, "keep repartition topic %s\n", topic);
        else
            fprintf(df->out,
                    "rebuild repartition topic %s: unmerged partial aggregates in it "
                    "follow the old definition\n",
                    topic);
        eddy_free(fa);
        eddy_free(fb);
    }
    for (size_t i = 0; i < df->new_plan->n_aggregations; i++) {
        const struct eddy_aggregation *b = &df->new_plan->aggregations[i];
        const struct eddy_aggregation *a = find_aggregation(df->old_plan, b->name);
        if (!b->repartition)
            continue;
        repartition_topic(topic, sizeof topic, df->new_plan, b);
        if (a && a->repartition)
            repartition_topic(other, sizeof other, df->old_plan, a);
        if (!a || !a->repartition || strcmp(topic, other) != 0)
            fprintf(df->out, "new repartition topic %s\n", topic);
    }
}

/* ---- output topics ---- */

enum writer_kind { W_AGGREGATION, W_ALERT, W_PATTERN, W_DEAD_LETTERS };

struct writer {
    enum writer_kind kind;
    size_t index;
};

static const char *writer_topic(const struct eddy_plan *plan, struct writer w, char *buf,
                                size_t len)
{
    if (w.kind == W_AGGREGATION && plan->aggregations[w.index].output_topic)
        return plan->aggregations[w.index].output_topic;
    if (w.kind == W_ALERT && plan->alerts[w.index].output_topic)
        return plan->alerts[w.index].output_topic;
    if (w.kind == W_PATTERN)
        return plan->patterns[w.index].output_topic;
    if (w.kind == W_AGGREGATION)
        snprintf(buf, len, "%s-%s", plan->name, plan->aggregations[w.index].name);
    else
        snprintf(buf, len, "%s-%s", plan->name, w.kind == W_ALERT ? "alerts" : "dlq");
    return buf;
}

/* The @k-th writer: aggregations, then alerts, then patterns, then the dead
 * letters. */
static struct writer nth_writer(const struct eddy_plan *plan, size_t k)
{
    struct writer w = {W_AGGREGATION, k};
    if (k >= plan->n_aggregations) {
        w.kind = W_ALERT;
        w.index = k - plan->n_aggregations;
    }
    if (w.kind == W_ALERT && w.index >= plan->n_alerts) {
        w.kind = W_PATTERN;
        w.index -= plan->n_alerts;
    }
    if (w.kind == W_PATTERN && w.index >= plan->n_patterns)
        w.kind = W_DEAD_LETTERS;
    return w;
}

static size_t n_writers(const struct eddy_plan *plan)
{
    return plan->n_aggregations + plan->n_alerts + plan->n_patterns + 1;
}

static const char *writer_name(const struct eddy_plan *plan, struct writer w)
{
    if (w.kind == W_AGGREGATION)
        return plan->aggregations[w.index].name;
    if (w.kind == W_PATTERN)
        return plan->patterns[w.index].name;
    return w.kind == W_ALERT ? plan->alerts[w.index].name : "";
}

static const char *writer_label(enum writer_kind kind)
{
    switch (kind) {
    case W_AGGREGATION: return "aggregation";
    case W_ALERT: return "alert";
    case W_PATTERN: return "pattern";
    default: return "dead letters";
    }
}

/* The writers of @topic in @plan; returns the count (at most @max). */
static size_t topic_writers(const struct eddy_plan *plan, const char *topic, struct writer *ws,
                            size_t max)
{
    char buf[512];
    size_t n = 0;
    for (size_t k = 0; k < n_writers(plan); k++) {
        struct writer w = nth_writer(plan, k);
        if (strcmp(writer_topic(plan, w, buf, sizeof buf), topic) == 0 && n < max)
            ws[n++] = w;
    }
    return n;
}

/* What writer @index of @kind (an aggregation or a pattern) in @plan writes. */
static void build_writer_output(struct desc *d, const struct eddy_plan *plan, enum writer_kind kind,
                                size_t index, struct eddy_buf *b)
{
    if (kind == W_AGGREGATION)
        build_aggregation_output(d, plan, &plan->aggregations[index], b);
    else
        build_pattern_output(d, plan, &plan->patterns[index], b);
}

/* The output of an aggregation or a pattern: writer @ia of the old plan
 * against writer @ib of the new one. */
static void compare_writer_output(struct differ *df, struct reasons *r, const char *prefix,
                                  enum writer_kind kind, size_t ia, size_t ib)
{
    struct desc da = {0}, db = {0};
    struct eddy_buf scratch;
    eddy_buf_init(&scratch);
    build_writer_output(&da, df->old_plan, kind, ia, &scratch);
    build_writer_output(&db, df->new_plan, kind, ib, &scratch);
    if (da.oom || db.oom)
        df->err = EDDY_ENOMEM;
    else
        compare(r, prefix, &da, &db);
    eddy_buf_release(&scratch);
    desc_release(&da);
    desc_release(&db);
}

static void compare_alert_output(struct differ *df, struct reasons *r, const char *prefix,
                                 const struct eddy_alert *a, const struct eddy_alert *b)
{
    struct desc da = {0}, db = {0}, oa = {0}, ob = {0};
    struct eddy_buf scratch;
    char results[300];
    const struct eddy_aggregation *agg_a = &df->old_plan->aggregations[a->aggregation];
    const struct eddy_aggregation *agg_b = &df->new_plan->aggregations[b->aggregation];
    eddy_buf_init(&scratch);
    build_alert(&da, df->old_plan, a, &scratch);
    build_alert(&db, df->new_plan, b, &scratch);
    build_aggregation_output(&oa, df->old_plan, agg_a, &scratch);
    build_aggregation_output(&ob, df->new_plan, agg_b, &scratch);
    if (da.oom || db.oom || oa.oom || ob.oom) {
        df->err = EDDY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < da.n_parts; i++)
        if ((strcmp(da.keys[i], "on") == 0 || strcmp(da.keys[i], "when") == 0) &&
            strcmp(da.values[i], db.values[i]) != 0)
            reason(r, prefix, "%s changed (%s -> %s)", part_label(da.keys[i]), da.values[i],
                   db.values[i]);
    /* definitions only the condition uses (the results compare the rest) */
    for (size_t i = 0; i < da.defs.n; i++) {
        const struct item *def = &da.defs.v[i];
        const struct item *other = list_find(&db.defs, def->name, strlen(def->name));
        if (other && strcmp(def->text, other->text) != 0 && def->text[0] != '=' &&
            !list_find(&oa.defs, def->name, strlen(def->name)))
            reason(r, prefix, "definition of %s changed (%s -> %s)", def->name, def->text + 1,
                   other->text + 1);
    }
    /* alerts see final rows only (empty ones included): updates do not matter */
    snprintf(results, sizeof results, "%sresults of %s: ", prefix, agg_b->name);
    compare_skipping(r, results, &oa, &ob, "emit");
out:
    eddy_buf_release(&scratch);
    desc_release(&da);
    desc_release(&db);
    desc_release(&oa);
    desc_release(&ob);
}

/* The writer of @topic in @writers[0..n) that is @like (same kind and name). */
static const struct writer *same_writer(const struct eddy_plan *plan, const struct writer *writers,
                                        size_t n, const struct eddy_plan *like_plan,
                                        struct writer like)
{
    for (size_t i = 0; i < n; i++)
        if (writers[i].kind == like.kind &&
            strcmp(writer_name(plan, writers[i]), writer_name(like_plan, like)) == 0)
            return &writers[i];
    return NULL;
}

/* Reasons why @topic, written in both plans, means something else now. */
static void topic_reasons(struct differ *df, struct reasons *r, const char *topic)
{
    struct writer *wa = eddy_calloc(n_writers(df->old_plan), sizeof *wa);
    struct writer *wb = eddy_calloc(n_writers(df->new_plan), sizeof *wb);
    if (!wa || !wb) {
        df->err = EDDY_ENOMEM;
        goto out;
    }
    size_t na = topic_writers(df->old_plan, topic, wa, n_writers(df->old_plan));
    size_t nb = topic_writers(df->new_plan, topic, wb, n_writers(df->new_plan));
    bool several = na > 1 || nb > 1;
    char prefix[300] = "";
    for (size_t i = 0; i < na; i++) {
        const char *name = writer_name(df->old_plan, wa[i]);
        const struct writer *match = same_writer(df->new_plan, wb, nb, df->old_plan, wa[i]);
        if (several)
            snprintf(prefix, sizeof prefix, "%s%s%s: ", writer_label(wa[i].kind), *name ? " " : "",
                     name);
        if (!match)
            reason(r, "", "no longer written by %s%s%s", writer_label(wa[i].kind), *name ? " " : "",
                   name);
        else if (wa[i].kind == W_AGGREGATION || wa[i].kind == W_PATTERN)
            compare_writer_output(df, r, prefix, wa[i].kind, wa[i].index, match->index);
        else if (wa[i].kind == W_ALERT)
            compare_alert_output(df, r, prefix, &df->old_plan->alerts[wa[i].index],
                                 &df->new_plan->alerts[match->index]);
    }
    for (size_t j = 0; j < nb; j++) {
        const char *name = writer_name(df->new_plan, wb[j]);
        if (!same_writer(df->old_plan, wa, na, df->new_plan, wb[j]))
            reason(r, "", "now also written by %s%s%s", writer_label(wb[j].kind), *name ? " " : "",
                   name);
    }
out:
    eddy_free(wa);
    eddy_free(wb);
}

/* Whether the @k-th writer of @plan is the first to write its topic. */
static bool first_writer(const struct eddy_plan *plan, size_t k, const char **topic, char *buf,
                         size_t len)
{
    char earlier[512];
    *topic = writer_topic(plan, nth_writer(plan, k), buf, len);
    for (size_t j = 0; j < k; j++)
        if (strcmp(writer_topic(plan, nth_writer(plan, j), earlier, sizeof earlier), *topic) == 0)
            return false;
    return true;
}

static void diff_topics(struct differ *df)
{
    char buf[512];
    const char *topic;
    struct writer any[1];
    for (size_t k = 0; k < n_writers(df->old_plan) && !df->err; k++) {
        if (!first_writer(df->old_plan, k, &topic, buf, sizeof buf))
            continue;
        if (!topic_writers(df->new_plan, topic, any, 1)) {
            fprintf(df->out, "output topic %s: no longer written\n", topic);
            df->topics_gone++;
            continue;
        }
        struct reasons why = {{0}, 0};
        eddy_buf_init(&why.text);
        topic_reasons(df, &why, topic);
        if (why.text.oom && !df->err)
            df->err = EDDY_ENOMEM;
        if (!df->err && why.n)
            fprintf(df->out, "output topic %s: changes meaning: %s\n", topic, why.text.data);
        else if (!df->err)
            fprintf(df->out, "output topic %s: keeps its meaning\n", topic);
        df->topics_changed += why.n > 0;
        eddy_buf_release(&why.text);
    }
    for (size_t k = 0; k < n_writers(df->new_plan); k++) {
        if (!first_writer(df->new_plan, k, &topic, buf, sizeof buf) ||
            topic_writers(df->old_plan, topic, any, 1))
            continue;
        fprintf(df->out, "output topic %s: new\n", topic);
        df->topics_new++;
    }
}

eddy_err_t eddy_plan_diff(const struct eddy_plan *old_plan, const struct eddy_plan *new_plan,
                          FILE *out, int *incompatible)
{
    struct differ df = {.old_plan = old_plan, .new_plan = new_plan, .out = out};
    *incompatible = 0;
    if (strcmp(old_plan->name, new_plan->name) != 0)
        fprintf(out,
                "topology name changes: %s -> %s: new consumer group, changelogs and "
                "default topic names; no committed offset or state carries over\n",
                old_plan->name, new_plan->name);
    if (strcmp(old_plan->source.topic, new_plan->source.topic) != 0)
        fprintf(out,
                "source topic changes: %s -> %s: offsets committed for %s do not apply; "
                "every store is rebuilt\n",
                old_plan->source.topic, new_plan->source.topic, old_plan->source.topic);
    diff_stores(&df, incompatible);
    if (!df.err)
        diff_repartition(&df);
    if (!df.err)
        diff_topics(&df);
    if (df.err)
        return df.err;
    fprintf(out,
            "summary: stores %zu kept, %zu rebuilt, %zu new, %zu dropped; output topics "
            "%zu changing meaning, %zu new, %zu no longer written\n",
            df.kept, df.rebuilt, df.added, df.dropped, df.topics_changed, df.topics_new,
            df.topics_gone);
    return ferror(out) ? EDDY_EIO : EDDY_OK;
}
