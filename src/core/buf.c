/*
 * buf.c - growable buffer and JSON writing; see buf.h.
 */
#include "core/buf.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

void eddy_buf_init(struct eddy_buf *buf)
{
    memset(buf, 0, sizeof *buf);
}

void eddy_buf_release(struct eddy_buf *buf)
{
    eddy_free(buf->data);
    memset(buf, 0, sizeof *buf);
}

bool eddy__buf_grow(struct eddy_buf *buf, size_t extra)
{
    if (buf->oom)
        return false;
    if (buf->len + extra + 1 <= buf->cap)
        return true;
    if (extra > SIZE_MAX - 1 - buf->len) {
        buf->oom = true;
        return false;
    }
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            buf->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *data = eddy_realloc(buf->data, cap);
    if (!data) {
        buf->oom = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

void eddy_buf_printf(struct eddy_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        eddy_buf_append(buf, small, (size_t)n);
        return;
    }
    if (!eddy_buf_reserve(buf, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Bit 7 of each byte of @w that is '"', '\\' or < 0x20 (above the lowest
 * such byte, others may be set too). */
static inline uint64_t escaped_bytes(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

/* The length of the prefix of @s that needs no escaping. */
static size_t plain_prefix(const char *s, size_t len)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20), high = _mm_set1_epi8((char)0x80);
    for (; len - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* bytes >= 0x80 are UTF-8, copied as they are: compare as unsigned
         * by flipping the sign bit */
        __m128i ctl = _mm_cmplt_epi8(_mm_xor_si128(v, high), _mm_xor_si128(space, high));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 ctl);
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* 8 bytes at a time, the last word overlapping what was checked (the
     * lowest flagged byte of a word is never a false positive) */
    if (len >= 8) {
        for (;; i += 8) {
            if (len - i < 8)
                i = len - 8;
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t m = escaped_bytes(w);
            if (m)
                return i + ((size_t)__builtin_ctzll(m) >> 3);
            if (i + 8 == len)
                return len;
        }
    }
#endif
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            break;
    }
    return i;
}

void eddy_buf_json_str(struct eddy_buf *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!eddy_buf_reserve(buf, len + 2))
        return;
    size_t plain = plain_prefix(s, len);
    if (plain == len) { /* nothing to escape: the usual case */
        char *o = buf->data + buf->len;
        o[0] = '"';
        memcpy(o + 1, s, len);
        o[len + 1] = '"';
        o[len + 2] = '\0';
        buf->len += len + 2;
        return;
    }
    eddy_buf_putc(buf, '"');
    size_t start = 0;
    for (size_t i = plain; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        eddy_buf_append(buf, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': eddy_buf_append(buf, "\\\"", 2); break;
        case '\\': eddy_buf_append(buf, "\\\\", 2); break;
        case '\n': eddy_buf_append(buf, "\\n", 2); break;
        case '\r': eddy_buf_append(buf, "\\r", 2); break;
        case '\t': eddy_buf_append(buf, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            eddy_buf_append(buf, esc, 6);
        }
        }
    }
    eddy_buf_append(buf, s + start, len - start);
    eddy_buf_putc(buf, '"');
}

void eddy_buf_json_i64(struct eddy_buf *buf, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    eddy_buf_append(buf, p, (size_t)(tmp + sizeof tmp - p));
}

/* Formatting a double exactly (the shortest of %.15g, %.16g, %.17g that
 * reads back as the same double) takes up to three snprintf and strtod
 * calls; result rows repeat values a lot (sketch quantiles are bin values),
 * so each thread remembers recent ones. */
struct num_text {
    uint64_t bits;
    uint8_t len; /* 0: empty */
    char text[31];
};
static _Thread_local struct num_text num_cache[512];

void eddy_buf_json_num(struct eddy_buf *buf, double v)
{
    if (!isfinite(v)) {
        eddy_buf_puts(buf, "null");
        return;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    struct num_text *c = &num_cache[(bits * 0x9e3779b97f4a7c15ULL) >> 55];
    if (c->len && c->bits == bits) {
        eddy_buf_append(buf, c->text, c->len);
        return;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (n > 0 && (size_t)n < sizeof c->text) {
        c->bits = bits;
        c->len = (uint8_t)n;
        memcpy(c->text, tmp, (size_t)n);
    }
    eddy_buf_append(buf, tmp, (size_t)n);
}

void eddy_buf_json_base64(struct eddy_buf *buf, const void *data, size_t len)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    if (!eddy_buf_reserve(buf, (len + 2) / 3 * 4 + 2))
        return;
    eddy_buf_putc(buf, '"');
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char out[4] = {tbl[w >> 18], tbl[(w >> 12) & 63], tbl[(w >> 6) & 63], tbl[w & 63]};
        eddy_buf_append(buf, out, 4);
    }
    if (i < len) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        char out[4] = {tbl[w >> 18], tbl[(w >> 12) & 63], i + 1 < len ? tbl[(w >> 6) & 63] : '=',
                       '='};
        eddy_buf_append(buf, out, 4);
    }
    eddy_buf_putc(buf, '"');
}

bool eddy_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += need + 1;
    }
    return true;
}
