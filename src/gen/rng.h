/*
 * rng.h - the deterministic pseudo-random generator of the event generators:
 * xoshiro256** (Blackman and Vigna), its state seeded from one 64-bit seed
 * through splitmix64. Same seed, same sequence, on every platform for the
 * integer draws; the floating-point draws (normal, lognormal) go through libm
 * and are reproducible on one machine and libm version.
 *
 * Not thread-safe: one generator per producing thread.
 */
#ifndef EDDY_GEN_RNG_H
#define EDDY_GEN_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eddy_rng {
    uint64_t s[4];
};

void eddy__rng_seed(struct eddy_rng *rng, uint64_t seed);
uint64_t eddy__rng_next(struct eddy_rng *rng);
/* Uniform in [0, 1), 53 random bits. */
double eddy__rng_unit(struct eddy_rng *rng);
/* Uniform in [0, n) (Lemire's multiply-shift; bias below 2^-40 for n < 2^24);
 * 0 when n is 0. */
uint64_t eddy__rng_below(struct eddy_rng *rng, uint64_t n);
/* True with probability @p. */
bool eddy__rng_chance(struct eddy_rng *rng, double p);
/* Standard normal (Box-Muller, one of the pair). */
double eddy__rng_normal(struct eddy_rng *rng);
/* Index drawn from @n weights (need not sum to 1, must not all be 0). */
size_t eddy__rng_weighted(struct eddy_rng *rng, const double *weights, size_t n);

/* Zipf over ranks 1..n with exponent s (s = 0 is uniform) by binary search on
 * a cumulative table of n doubles owned by the caller. */
struct eddy_zipf {
    double *cdf;
    size_t n;
};
/* Fills @cdf (n entries) and sets up @zipf to use it. */
void eddy__zipf_init(struct eddy_zipf *zipf, double *cdf, size_t n, double s);
/* A rank in [0, n): 0 is the most frequent. */
size_t eddy__zipf_draw(const struct eddy_zipf *zipf, struct eddy_rng *rng);

#endif
