/*
 * decode.c - raw event -> slots + event time, or a dead-letter reason; the
 * contract is in decode.h.
 *
 * The projection has one path per declared field (slot order) followed by the
 * time path, so one parse of the document yields everything.
 */
#include "codec/decode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "codec/timestamp.h"
#include "core/alloc.h"

#define QUOTE_MAX 64

struct dfield {
    char *name;
    enum eddy_field_type type;
    bool required;
    uint32_t accepted; /* bit t: a value of type t passes (null when optional) */
};

struct eddy_decoder {
    struct eddy_projection *proj;
    struct dfield *fields;
    size_t n_fields;
    char *ts_name;
    enum eddy_ts_format ts_format;
    size_t max_event_bytes;
};

static uint32_t accepted_types(enum eddy_field_type t, bool required)
{
    uint32_t m = required ? 0 : 1u << EDDY_V_NULL;
    switch (t) {
    case EDDY_FT_STRING: return m | 1u << EDDY_V_STR;
    case EDDY_FT_INT: return m | 1u << EDDY_V_INT;
    case EDDY_FT_NUMBER: return m | 1u << EDDY_V_INT | 1u << EDDY_V_NUM;
    case EDDY_FT_BOOL: return m | 1u << EDDY_V_BOOL;
    }
    return m;
}

void eddy__decoder_free(struct eddy_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->fields && i < d->n_fields; i++)
        eddy_free(d->fields[i].name);
    eddy_free(d->fields);
    eddy_free(d->ts_name);
    eddy__projection_free(d->proj);
    eddy_free(d);
}

eddy_err_t eddy__decoder_new(const struct eddy_source *src, struct eddy_decoder **out)
{
    eddy_err_t err = EDDY_ENOMEM;
    const char *paths[EDDY_DECODE_MAX_FIELDS + 1];
    *out = NULL;
    if (src->n_fields > EDDY_DECODE_MAX_FIELDS || !src->ts_path)
        return EDDY_EINVAL;
    struct eddy_decoder *d = eddy_calloc(1, sizeof *d);
    if (!d)
        goto out;
    d->fields = eddy_calloc(src->n_fields + 1, sizeof *d->fields);
    d->ts_name = eddy_strdup(src->ts_path);
    if (!d->fields || !d->ts_name)
        goto out;
    d->n_fields = src->n_fields;
    d->ts_format = src->ts_format;
    d->max_event_bytes = src->max_event_bytes;
    for (size_t i = 0; i < src->n_fields; i++) {
        const struct eddy_field *f = &src->fields[i];
        d->fields[i] = (struct dfield){eddy_strdup(f->name), f->type, f->required,
                                       accepted_types(f->type, f->required)};
        if (!d->fields[i].name)
            goto out;
        paths[i] = f->path ? f->path : f->name;
    }
    paths[src->n_fields] = src->ts_path;
    err = eddy__projection_new(paths, src->n_fields + 1, &d->proj);
    if (err)
        goto out;
    *out = d;
    d = NULL;
out:
    eddy__decoder_free(d);
    return err;
}

/* Drops an incomplete UTF-8 sequence that snprintf truncation left at the
 * end of @s. */
static void trim_partial_utf8(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0 || (unsigned char)s[i - 1] < 0xc0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

__attribute__((format(printf, 4, 5))) static enum eddy_dl_reason
fail(enum eddy_dl_reason reason, char *detail, size_t detail_len, const char *fmt, ...)
{
    if (detail_len == 0)
        return reason;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, detail_len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= detail_len)
        trim_partial_utf8(detail);
    return reason;
}

static const char *got_name(const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_BOOL: return "bool";
    case EDDY_V_INT:
    case EDDY_V_NUM: return "number";
    case EDDY_V_STR: return "string";
    case EDDY_V_COMPOUND: return "object";
    case EDDY_V_COMPOUND_ARRAY: return "array";
    default: return "null";
    }
}

static bool type_ok(enum eddy_field_type t, const struct eddy_value *v)
{
    switch (t) {
    case EDDY_FT_STRING: return v->type == EDDY_V_STR;
    case EDDY_FT_INT: return v->type == EDDY_V_INT;
    case EDDY_FT_NUMBER: return v->type == EDDY_V_INT || v->type == EDDY_V_NUM;
    case EDDY_FT_BOOL: return v->type == EDDY_V_BOOL;
    }
    return false;
}

static const char *ts_format_name(enum eddy_ts_format f)
{
    return f == EDDY_TS_RFC3339 ? "rfc3339" : f == EDDY_TS_UNIX_S ? "unix_s" : "unix_ms";
}

static enum eddy_dl_reason bad_timestamp(const struct eddy_decoder *d, const struct eddy_value *v,
                                         char *detail, size_t detail_len)
{
    const enum eddy_dl_reason r = EDDY_DL_BAD_TIMESTAMP;
    const char *fmt = ts_format_name(d->ts_format);
    if (v->type == EDDY_V_NULL)
        return fail(r, detail, detail_len, "field '%s' is missing", d->ts_name);
    if (v->type == EDDY_V_STR) {
        size_t n = v->as.s.len;
        if (n > QUOTE_MAX) {
            n = QUOTE_MAX;
            while (n > 0 && ((unsigned char)v->as.s.ptr[n] & 0xc0) == 0x80)
                n--; /* keep whole UTF-8 characters */
        }
        return fail(r, detail, detail_len, "field '%s': cannot parse '%.*s%s' as %s", d->ts_name,
                    (int)n, v->as.s.ptr, n < v->as.s.len ? "..." : "", fmt);
    }
    if (v->type == EDDY_V_INT && d->ts_format != EDDY_TS_RFC3339)
        return fail(r, detail, detail_len, "field '%s': cannot parse %" PRId64 " as %s",
                    d->ts_name, v->as.i, fmt);
    if (v->type == EDDY_V_NUM && d->ts_format != EDDY_TS_RFC3339)
        return fail(r, detail, detail_len, "field '%s': cannot parse %.17g as %s", d->ts_name,
                    v->as.n, fmt);
    return fail(r, detail, detail_len, "field '%s': expected %s, got %s", d->ts_name,
                d->ts_format == EDDY_TS_RFC3339 ? "string" : "number", got_name(v));
}

enum eddy_dl_reason eddy__decode(const struct eddy_decoder *d, const char *buf, size_t len,
                                 struct eddy_value *slots, int64_t *ts_ms, char *scratch,
                                 struct eddy_json_hint *hint, char *detail, size_t detail_len)
{
    struct eddy_value values[EDDY_DECODE_MAX_FIELDS + 1];
    struct eddy_json_error jerr;
    if (d->max_event_bytes && len > d->max_event_bytes)
        return fail(EDDY_DL_TOO_LARGE, detail, detail_len,
                    "record of %zu bytes exceeds max_event_bytes %zu", len, d->max_event_bytes);
    if (eddy__json_project(d->proj, buf, len, values, scratch, hint, &jerr) != EDDY_OK)
        return fail(EDDY_DL_MALFORMED_JSON, detail, detail_len, "at byte %zu: %s", jerr.offset,
                    jerr.message);
    for (size_t i = 0; i < d->n_fields; i++) {
        const struct dfield *f = &d->fields[i];
        const struct eddy_value *v = &values[i];
        if ((unsigned)v->type < 32 && (f->accepted >> v->type & 1)) {
            slots[i] = *v; /* the usual case, in one test */
            continue;
        }
        if (v->type == EDDY_V_NULL) {
            if (f->required)
                return fail(EDDY_DL_MISSING_FIELD, detail, detail_len, "field '%s' is missing",
                            f->name);
        } else if (!type_ok(f->type, v)) {
            return fail(EDDY_DL_WRONG_TYPE, detail, detail_len, "field '%s': expected %s, got %s",
                        f->name, eddy_field_type_name(f->type), got_name(v));
        }
        slots[i] = *v;
    }
    if (!eddy__ts_from_value(&values[d->n_fields], d->ts_format, ts_ms))
        return bad_timestamp(d, &values[d->n_fields], detail, detail_len);
    if (detail_len)
        detail[0] = '\0';
    return 0;
}
