/*
 * varint.h - the byte primitives shared by the encodings of src/agg/
 * (DDSketch, HyperLogLog, accumulators). Private to src/agg/.
 *
 * Formats (all little-endian, all part of persisted state: never change):
 *   uvarint: LEB128, 7 bits per byte, low group first, high bit = "more";
 *            at most 10 bytes; a 10th byte may only hold the value 1 and a
 *            non-final byte of 0x80 at the end ("overlong") is rejected so
 *            each value has exactly one encoding.
 *   svarint: zigzag ((v << 1) ^ (v >> 63)) then uvarint.
 *   f64:     the 8 bytes of the IEEE-754 double, little-endian.
 *
 * Readers take a cursor (p, len, *pos); on any malformed or truncated input
 * they return false and leave *pos unspecified. They never read past len.
 */
#ifndef EDDY_AGG_VARINT_H
#define EDDY_AGG_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

static inline void eddy__varint_put_u(struct eddy_buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    eddy_buf_append(out, tmp, n);
}

static inline void eddy__varint_put_s(struct eddy_buf *out, int64_t v)
{
    eddy__varint_put_u(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline void eddy__varint_put_f64(struct eddy_buf *out, double d)
{
    uint64_t bits;
    uint8_t tmp[8];
    memcpy(&bits, &d, 8);
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(bits >> (8 * i));
    eddy_buf_append(out, tmp, 8);
}

static inline bool eddy__varint_get_u(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= len)
            return false;
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1)
            return false;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false; /* overlong */
            *v = r;
            return true;
        }
    }
    return false;
}

static inline bool eddy__varint_get_s(const uint8_t *p, size_t len, size_t *pos, int64_t *v)
{
    uint64_t u;
    if (!eddy__varint_get_u(p, len, pos, &u))
        return false;
    *v = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return true;
}

static inline bool eddy__varint_get_f64(const uint8_t *p, size_t len, size_t *pos, double *d)
{
    if (*pos > len || len - *pos < 8)
        return false;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)p[*pos + i] << (8 * i);
    *pos += 8;
    memcpy(d, &bits, 8);
    return true;
}

static inline bool eddy__varint_get_byte(const uint8_t *p, size_t len, size_t *pos, uint8_t *b)
{
    if (*pos >= len)
        return false;
    *b = p[(*pos)++];
    return true;
}

#endif
