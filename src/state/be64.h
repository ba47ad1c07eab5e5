/*
 * be64.h - order-preserving 8-byte keys for signed 64-bit integers.
 *
 * Format: the int64 with its sign bit flipped, stored big-endian. So
 * memcmp order of the 8 bytes equals numeric order of the integers:
 * INT64_MIN -> 00 00 00 00 00 00 00 00, -1 -> 7f ff .. ff, 0 -> 80 00 .. 00,
 * INT64_MAX -> ff ff .. ff. State keys that start with such a prefix (window
 * start, dedup time bucket) sort by time, so expiry is one range delete
 * (see eddy__state_batch_expire_before in state/store.h).
 */
#ifndef EDDY_STATE_BE64_H
#define EDDY_STATE_BE64_H

#include <stdint.h>

#define EDDY_BE64_SIGN 0x8000000000000000ULL

static inline void eddy__be64_put(unsigned char out[8], int64_t v)
{
    uint64_t u = (uint64_t)v ^ EDDY_BE64_SIGN;
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static inline int64_t eddy__be64_get(const unsigned char in[8])
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | in[i];
    u ^= EDDY_BE64_SIGN;
    /* two's complement reinterpretation without implementation-defined casts */
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

#endif
