/*
 * hash.c - see hash.h. Reads little-endian words with memcpy (no alignment
 * assumption); 16 bytes per step.
 */
#include "core/hash.h"

#include <string.h>

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL
#define P2 0x8ebc6af09c88c6e3ULL

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint32_t read32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t eddy_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ mum(seed ^ P0, (uint64_t)len ^ P1);
    size_t n = len;
    while (n >= 16) {
        h = mum(read64(p) ^ P1, read64(p + 8) ^ h);
        p += 16;
        n -= 16;
    }
    /* the last n < 16 bytes, zero-padded to two words; assembled from
     * overlapping loads inside the input rather than copied into a padded
     * buffer (a word load from bytes just stored one by one cannot be
     * store-forwarded and stalled every short key) */
    uint64_t lo = 0, hi = 0;
    if (n >= 8) {
        lo = read64(p);
        if (n > 8)
            hi = read64(p + n - 8) >> (8 * (16 - n));
    } else if (n >= 4) {
        lo = (uint64_t)read32(p) | (uint64_t)read32(p + n - 4) << (8 * (n - 4));
    } else if (n) {
        lo = (uint64_t)p[0] | (uint64_t)p[n >> 1] << (8 * (n >> 1)) | (uint64_t)p[n - 1] << (8 * (n - 1));
    }
    h = mum(lo ^ P1 ^ (uint64_t)n, hi ^ h ^ P2);
    return eddy_hash_mix64(h ^ (uint64_t)len);
}
