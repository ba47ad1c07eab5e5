/*
 * metric.c - parsing metric calls; see metric.h.
 */
#include "config/metric.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/node.h"

static const struct {
    const char *name;
    enum eddy_metric_kind kind;
    int n_args;
} functions[] = {
    {"count", EDDY_M_COUNT, 0},
    {"count_if", EDDY_M_COUNT_IF, 1},
    {"sum", EDDY_M_SUM, 1},
    {"min", EDDY_M_MIN, 1},
    {"max", EDDY_M_MAX, 1},
    {"avg", EDDY_M_AVG, 1},
    {"ratio", EDDY_M_RATIO, 1},
    {"quantile", EDDY_M_QUANTILE, 2},
    {"distinct", EDDY_M_DISTINCT, 1},
    {"top_k", EDDY_M_TOP_K, 2}, /* or 3 with by: (EDDY_M_TOP_K_BY) */
    {"arg_max", EDDY_M_ARG_MAX, 2},
    {"arg_min", EDDY_M_ARG_MIN, 2},
};
#define N_FUNCTIONS (sizeof functions / sizeof functions[0])

const char *eddy__metric_kind_name(enum eddy_metric_kind kind)
{
    if (kind == EDDY_M_TOP_K_BY)
        kind = EDDY_M_TOP_K;
    for (size_t i = 0; i < N_FUNCTIONS; i++)
        if (functions[i].kind == kind)
            return functions[i].name;
    return "?";
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits "a, b" at top-level commas; returns the number of arguments (up to
 * 3 recorded) or -1 for unbalanced parentheses or quotes. */
static int split_args(const char *s, size_t len, const char *start[3], size_t alen[3])
{
    int n = 0, depth = 0;
    size_t from = 0;
    char quote = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : ',';
        if (quote) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            else if (i == len)
                return -1;
            continue;
        }
        if (c == '"' || c == '\'')
            quote = c;
        else if (c == '(')
            depth++;
        else if (c == ')' && --depth < 0)
            return -1;
        else if (c == ',' && depth == 0) {
            if (n < 3) {
                start[n] = s + from;
                alen[n] = i - from;
            }
            n++;
            from = i + 1;
        }
    }
    return depth == 0 ? n : -1;
}

static bool parse_q(const char *s, size_t len, double *q)
{
    char text[64];
    while (len && blank(*s))
        s++, len--;
    while (len && blank(s[len - 1]))
        len--;
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789.eE+-", text[i]))
            return false;
    char *end;
    *q = strtod(text, &end);
    return *end == '\0' && isfinite(*q) && *q >= 0.0 && *q <= 1.0;
}

static void trim(const char **s, size_t *len)
{
    while (*len && blank(**s))
        (*s)++, (*len)--;
    while (*len && blank((*s)[*len - 1]))
        (*len)--;
}

/* top_k's K: a plain integer in [1, EDDY_METRIC_MAX_K]. */
static bool parse_k(const char *s, size_t len, double *k)
{
    trim(&s, &len);
    if (len == 0 || len > 3)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *k = v;
    return v >= 1 && v <= EDDY_METRIC_MAX_K;
}

/* The arguments of top_k and arg_max/arg_min (@n of them, 2 or 3). */
static eddy_err_t parse_pair_args(struct eddy__metric_call *out, int n, const char *args[3],
                                  size_t arg_len[3], char *err, size_t errlen)
{
    if (out->kind != EDDY_M_TOP_K) { /* arg_max(value, field) */
        out->arg2 = args[1];
        out->arg2_len = arg_len[1];
        return EDDY_OK;
    }
    if (!parse_k(args[1], arg_len[1], &out->q)) {
        trim(&args[1], &arg_len[1]);
        snprintf(err, errlen, "top_k K must be an integer from 1 to %d, got '%.*s'",
                 EDDY_METRIC_MAX_K, (int)arg_len[1], args[1]);
        return EDDY_ECONFIG;
    }
    if (n == 2)
        return EDDY_OK;
    trim(&args[2], &arg_len[2]);
    if (arg_len[2] < 3 || memcmp(args[2], "by:", 3) != 0) {
        snprintf(err, errlen, "top_k's third argument must be 'by: WEIGHT', got '%.*s'",
                 (int)arg_len[2], args[2]);
        return EDDY_ECONFIG;
    }
    out->kind = EDDY_M_TOP_K_BY;
    out->arg2 = args[2] + 3;
    out->arg2_len = arg_len[2] - 3;
    return EDDY_OK;
}

eddy_err_t eddy__metric_call_parse(const char *text, struct eddy__metric_call *out, char *err,
                                   size_t errlen)
{
    const char *s = text, *end = text + strlen(text);
    memset(out, 0, sizeof *out);
    while (blank(*s))
        s++;
    while (end > s && blank(end[-1]))
        end--;
    const char *name = s;
    while ((*s >= 'a' && *s <= 'z') || *s == '_')
        s++;
    size_t name_len = (size_t)(s - name);
    while (blank(*s))
        s++;
    if (name_len == 0 || *s != '(' || end[-1] != ')') {
        bool cut = memchr(name, '(', (size_t)(end - name)) && end[-1] != ')';
        snprintf(err, errlen, "expected a metric call like count() or avg(latency_ms), got '%s'%s",
                 text, cut ? " (inside {...} quote calls that contain a comma)" : "");
        return EDDY_ECONFIG;
    }
    size_t f;
    for (f = 0; f < N_FUNCTIONS; f++)
        if (strlen(functions[f].name) == name_len && memcmp(functions[f].name, name, name_len) == 0)
            break;
    if (f == N_FUNCTIONS) {
        snprintf(err, errlen,
                 "unknown metric function '%.*s' (expected count, count_if, sum, min, max, avg, "
                 "ratio, quantile, distinct, top_k, arg_max or arg_min)",
                 (int)name_len, name);
        return EDDY_ECONFIG;
    }
    const char *inner = s + 1;
    size_t inner_len = (size_t)(end - 1 - inner);
    const char *args[3];
    size_t arg_len[3];
    int n = split_args(inner, inner_len, args, arg_len);
    bool empty = true;
    for (size_t i = 0; i < inner_len; i++)
        empty = empty && blank(inner[i]);
    if (n < 0) {
        snprintf(err, errlen, "unbalanced parentheses or quotes in '%s'", text);
        return EDDY_ECONFIG;
    }
    if (empty)
        n = 0;
    out->kind = functions[f].kind;
    if (out->kind == EDDY_M_TOP_K && (n < 2 || n > 3)) {
        snprintf(err, errlen,
                 "top_k() takes 2 or 3 arguments (an expression, K and optionally "
                 "by: WEIGHT), got %d",
                 n);
        return EDDY_ECONFIG;
    }
    if (out->kind == EDDY_M_ARG_MAX || out->kind == EDDY_M_ARG_MIN) {
        if (n != 2) {
            snprintf(err, errlen,
                     "%s() takes 2 arguments (the value to maximise or minimise "
                     "and the field to report), got %d",
                     functions[f].name, n);
            return EDDY_ECONFIG;
        }
    } else if (out->kind != EDDY_M_TOP_K && n != functions[f].n_args) {
        static const char *const expect[] = {"no argument", "1 argument (an expression)",
                                             "2 arguments (an expression and q in [0, 1])"};
        snprintf(err, errlen, "%s() takes %s, got %d", functions[f].name,
                 expect[functions[f].n_args], n);
        return EDDY_ECONFIG;
    }
    if (n >= 1) {
        out->arg = args[0];
        out->arg_len = arg_len[0];
    }
    if ((out->kind == EDDY_M_TOP_K || out->kind == EDDY_M_ARG_MAX || out->kind == EDDY_M_ARG_MIN) &&
        parse_pair_args(out, n, args, arg_len, err, errlen))
        return EDDY_ECONFIG;
    if (out->kind == EDDY_M_QUANTILE && !parse_q(args[1], arg_len[1], &out->q)) {
        while (arg_len[1] && blank(*args[1]))
            args[1]++, arg_len[1]--;
        while (arg_len[1] && blank(args[1][arg_len[1] - 1]))
            arg_len[1]--;
        snprintf(err, errlen, "quantile q must be a number in [0, 1], got '%.*s'", (int)arg_len[1],
                 args[1]);
        return EDDY_ECONFIG;
    }
    return EDDY_OK;
}

void eddy__metric_call_format(const struct eddy_metric *m, struct eddy_buf *out)
{
    eddy_buf_puts(out, eddy__metric_kind_name(m->kind));
    eddy_buf_putc(out, '(');
    if (m->arg)
        eddy_buf_puts(out, eddy_expr_source(m->arg));
    if (m->kind == EDDY_M_QUANTILE) {
        char text[40];
        snprintf(text, sizeof text, "%.15g", m->q);
        if (strtod(text, NULL) != m->q)
            snprintf(text, sizeof text, "%.17g", m->q);
        eddy_buf_printf(out, ", %s", text);
    } else if (m->kind == EDDY_M_TOP_K || m->kind == EDDY_M_TOP_K_BY) {
        eddy_buf_printf(out, ", %d", (int)m->q);
    }
    if (m->arg2) {
        eddy_buf_puts(out, m->kind == EDDY_M_TOP_K_BY ? ", by: " : ", ");
        eddy_buf_puts(out, eddy_expr_source(m->arg2));
    }
    eddy_buf_putc(out, ')');
}
