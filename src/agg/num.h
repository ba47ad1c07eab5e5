/*
 * agg/num.h - exact comparison of an int64 with a double, shared by the
 * accumulators (acc.c: min/max over mixed numbers) and the top-k summary
 * (topk.c: value order).
 */
#ifndef EDDY_AGG_NUM_H
#define EDDY_AGG_NUM_H

#include <stdint.h>

#define EDDY_TWO_63 9223372036854775808.0

/* <0, 0, >0 as the integer @i is below, equal to, above the double @d (not
 * NaN). Exact: no rounding of @i to a double. */
static inline int eddy__cmp_int_num(int64_t i, double d)
{
    if (d >= EDDY_TWO_63)
        return -1;
    if (d < -EDDY_TWO_63)
        return 1;
    int64_t t = (int64_t)d; /* exact: |d| < 2^63, truncated */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

#endif
