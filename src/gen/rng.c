/*
 * rng.c - xoshiro256** seeded by splitmix64; see rng.h.
 */
#include "gen/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void eddy__rng_seed(struct eddy_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t eddy__rng_next(struct eddy_rng *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double eddy__rng_unit(struct eddy_rng *rng)
{
    return (double)(eddy__rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t eddy__rng_below(struct eddy_rng *rng, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)eddy__rng_next(rng) * n) >> 64);
}

bool eddy__rng_chance(struct eddy_rng *rng, double p)
{
    return eddy__rng_unit(rng) < p;
}

double eddy__rng_normal(struct eddy_rng *rng)
{
    double u1 = 1.0 - eddy__rng_unit(rng); /* (0, 1]: log is finite */
    double u2 = eddy__rng_unit(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

size_t eddy__rng_weighted(struct eddy_rng *rng, const double *weights, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    double x = eddy__rng_unit(rng) * total;
    for (size_t i = 0; i + 1 < n; i++) {
        if (x < weights[i])
            return i;
        x -= weights[i];
    }
    return n - 1;
}

void eddy__zipf_init(struct eddy_zipf *zipf, double *cdf, size_t n, double s)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        total += s == 0 ? 1.0 : pow((double)(i + 1), -s);
        cdf[i] = total;
    }
    for (size_t i = 0; i < n; i++)
        cdf[i] /= total;
    zipf->cdf = cdf;
    zipf->n = n;
}

size_t eddy__zipf_draw(const struct eddy_zipf *zipf, struct eddy_rng *rng)
{
    double x = eddy__rng_unit(rng);
    size_t lo = 0, hi = zipf->n - 1;
    while (lo < hi) { /* first rank whose cumulative weight exceeds x */
        size_t mid = lo + (hi - lo) / 2;
        if (zipf->cdf[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
