/*
 * parquet_stats.c - page and column chunk statistics; see parquet_stats.h.
 */
#include "sink/parquet_stats.h"

#include <math.h>
#include <string.h>

static uint64_t double_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

void eddy__parquet_stats_init(struct eddy_parquet_stats *s)
{
    memset(s, 0, sizeof(*s));
    eddy_buf_init(&s->min_s);
    eddy_buf_init(&s->max_s);
}

void eddy__parquet_stats_release(struct eddy_parquet_stats *s)
{
    eddy_buf_release(&s->min_s);
    eddy_buf_release(&s->max_s);
}

void eddy__parquet_stats_reset(struct eddy_parquet_stats *s)
{
    s->null_count = 0;
    s->nan_count = 0;
    s->has_minmax = false;
    eddy_buf_reset(&s->min_s);
    eddy_buf_reset(&s->max_s);
}

/* Unsigned byte-wise order, a proper prefix first (the String order). */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static void set_bytes(struct eddy_buf *buf, const char *s, size_t len)
{
    eddy_buf_reset(buf);
    eddy_buf_append(buf, s, len); /* capacity reserved by the caller */
}

void eddy__parquet_stats_add_i(struct eddy_parquet_stats *s, int64_t v)
{
    if (!s->has_minmax) {
        s->has_minmax = true;
        s->min_i = s->max_i = v;
        return;
    }
    if (v < s->min_i)
        s->min_i = v;
    if (v > s->max_i)
        s->max_i = v;
}

void eddy__parquet_stats_add_d(struct eddy_parquet_stats *s, double v)
{
    if (isnan(v)) {
        s->nan_count++;
        return;
    }
    if (!s->has_minmax) {
        s->has_minmax = true;
        s->min_d = s->max_d = v;
        return;
    }
    if (v < s->min_d)
        s->min_d = v;
    if (v > s->max_d)
        s->max_d = v;
}

void eddy__parquet_stats_add_s(struct eddy_parquet_stats *s, const char *v, size_t len)
{
    if (!s->has_minmax) {
        s->has_minmax = true;
        set_bytes(&s->min_s, v, len);
        set_bytes(&s->max_s, v, len);
        return;
    }
    if (bytes_cmp(v, len, s->min_s.data, s->min_s.len) < 0)
        set_bytes(&s->min_s, v, len);
    else if (bytes_cmp(v, len, s->max_s.data, s->max_s.len) > 0)
        set_bytes(&s->max_s, v, len);
}

/* Room for merging @from into @into without failing halfway. */
bool eddy__parquet_stats_reserve_merge(struct eddy_parquet_stats *into,
                                       const struct eddy_parquet_stats *from)
{
    /* either bound of @from may become either bound of @into */
    size_t len = from->min_s.len > from->max_s.len ? from->min_s.len : from->max_s.len;
    return eddy__parquet_reserve(&into->min_s, len) && eddy__parquet_reserve(&into->max_s, len);
}

void eddy__parquet_stats_merge(struct eddy_parquet_stats *into,
                               const struct eddy_parquet_stats *from, enum eddy_parquet_type type)
{
    into->null_count += from->null_count;
    into->nan_count += from->nan_count;
    if (!from->has_minmax)
        return;
    switch (type) {
    case EDDY_PARQUET_STRING:
        eddy__parquet_stats_add_s(into, from->min_s.data, from->min_s.len);
        eddy__parquet_stats_add_s(into, from->max_s.data, from->max_s.len);
        break;
    case EDDY_PARQUET_DOUBLE:
        eddy__parquet_stats_add_d(into, from->min_d);
        eddy__parquet_stats_add_d(into, from->max_d);
        break;
    default:
        eddy__parquet_stats_add_i(into, from->min_i);
        eddy__parquet_stats_add_i(into, from->max_i);
    }
}

/* Length of the longest prefix of valid UTF-8 @s of at most @max bytes that
 * ends on a code point boundary. */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static size_t utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | cp >> 12);
        dst[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | cp >> 18);
    dst[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    dst[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Turns the valid UTF-8 @s (room for 4 more bytes) into the smallest string
 * of at most *@len + 4 bytes greater than every string it prefixes: the last
 * code point that can be incremented is, and the ones after it dropped.
 * False when every code point is U+10FFFF. */
static bool utf8_increment(char *s, size_t *len)
{
    while (*len > 0) {
        size_t start = *len - 1;
        while (start > 0 && ((uint8_t)s[start] & 0xC0) == 0x80)
            start--;
        uint8_t lead = (uint8_t)s[start];
        size_t n = *len - start;
        uint32_t cp = n == 1 ? lead : lead & (0x7F >> n);
        for (size_t i = 1; i < n; i++)
            cp = cp << 6 | ((uint8_t)s[start + i] & 0x3F);
        cp++;
        if (cp == 0xD800)
            cp = 0xE000; /* skip the surrogates */
        if (cp <= 0x10FFFF) {
            *len = start + utf8_put(s + start, cp);
            return true;
        }
        *len = start;
    }
    return false;
}

struct stat_value {
    char inline_bytes[EDDY_PARQUET_STATS_MAX_BYTES_LIMIT + 4];
    const char *ptr;
    size_t len;
    bool exact;
};

/* PLAIN encoding of a statistics bound (no length prefix for strings). */
static bool stat_encode(struct stat_value *out, const struct eddy_parquet_stats *s,
                        enum eddy_parquet_type type, bool is_max, size_t max_bytes)
{
    out->exact = true;
    out->ptr = out->inline_bytes;
    switch (type) {
    case EDDY_PARQUET_STRING: {
        const struct eddy_buf *v = is_max ? &s->max_s : &s->min_s;
        out->len = utf8_prefix(v->data, v->len, max_bytes);
        if (out->len == v->len) {
            out->ptr = v->data;
            return true;
        }
        out->exact = false;
        memcpy(out->inline_bytes, v->data, out->len);
        return !is_max || utf8_increment(out->inline_bytes, &out->len);
    }
    case EDDY_PARQUET_DOUBLE: {
        double d = is_max ? s->max_d : s->min_d;
        if (d == 0) /* the spec's zero rule: min -0.0, max +0.0 */
            d = is_max ? 0.0 : -0.0;
        uint64_t bits = double_bits(d);
        for (int i = 0; i < 8; i++)
            out->inline_bytes[i] = (char)(bits >> (8 * i));
        out->len = 8;
        return true;
    }
    case EDDY_PARQUET_BOOLEAN:
        out->inline_bytes[0] = (char)(is_max ? s->max_i : s->min_i);
        out->len = 1;
        return true;
    default: {
        uint64_t v = (uint64_t)(is_max ? s->max_i : s->min_i);
        for (int i = 0; i < 8; i++)
            out->inline_bytes[i] = (char)(v >> (8 * i));
        out->len = 8;
        return true;
    }
    }
}

/* Statistics struct as field @id. The deprecated min/max (fields 1, 2) are
 * signed-order values; they are written for the numeric and boolean columns,
 * where that is the column's order, and never for strings. */
void eddy__parquet_stats_write(struct eddy_tc *tc, int16_t id, const struct eddy_parquet_stats *s,
                               enum eddy_parquet_type type, size_t max_bytes)
{
    struct stat_value min, max; /* 2 KiB of stack */
    bool bounds = s->has_minmax && stat_encode(&min, s, type, false, max_bytes) &&
                  stat_encode(&max, s, type, true, max_bytes);
    eddy__tc_field_struct(tc, id);
    if (bounds && type != EDDY_PARQUET_STRING) {
        eddy__tc_field_binary(tc, 1, max.ptr, max.len);
        eddy__tc_field_binary(tc, 2, min.ptr, min.len);
    }
    eddy__tc_field_i64(tc, 3, (int64_t)s->null_count);
    if (bounds) {
        eddy__tc_field_binary(tc, 5, max.ptr, max.len);
        eddy__tc_field_binary(tc, 6, min.ptr, min.len);
        eddy__tc_field_bool(tc, 7, max.exact);
        eddy__tc_field_bool(tc, 8, min.exact);
    }
    if (type == EDDY_PARQUET_DOUBLE)
        eddy__tc_field_i64(tc, 9, (int64_t)s->nan_count);
    eddy__tc_struct_end(tc);
}
