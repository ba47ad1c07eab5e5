/*
 * hash.h - 64-bit non-cryptographic hash (wyhash-style multiply-mix with a
 * final avalanche), used for hash tables, dedup ids and HyperLogLog. Its
 * output is part of persisted state formats: never change it.
 */
#ifndef EDDY_CORE_HASH_H
#define EDDY_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t eddy_hash64(const void *data, size_t len, uint64_t seed);

/* Avalanche of one 64-bit word (splitmix64 finalizer). */
static inline uint64_t eddy_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
