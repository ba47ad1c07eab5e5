/*
 * bench_dedup.c - the dedup store alone (src/ops/dedup.c): what a new id
 * costs on average, and the longest a single eddy__dedup_seen() call takes,
 * which is how long a task stalls. Two runs, ids at 100 per ms of event
 * time, every id new (the costly case: each one is inserted):
 *   growing  --grow N ids (default 8.4M) within a 10-minute span: nothing
 *            expires, the table grows all along (1024 -> 32M slots);
 *   steady   --steady N ids (default 20M) within 20 s: about 2M ids live,
 *            the sweep removing expired ids as fast as new ones come.
 * Ids are random 64-bit hashes made before timing. Each call is timed with
 * CLOCK_MONOTONIC (the clock costs ~20 ns of the mean). One line per run:
 *     <run> ids=N mean_ns=M max_ms=X over_1ms=A over_10ms=B size=S
 * max_ms against mean_ns is the figure to watch: before the incremental
 * upkeep, growing took 2,800 ms in one call at 8.4M ids.
 * Build: CMake builds it as a bench target (bench_*.c against eddylib).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "ops/dedup.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int run(const char *name, size_t n, int64_t within_ms)
{
    uint64_t *ids = malloc(n * sizeof *ids);
    struct eddy_dedup_store *s;
    if (!ids || eddy__dedup_new(within_ms, &s)) {
        fprintf(stderr, "bench_dedup: out of memory\n");
        free(ids);
        return 1;
    }
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = x;
    }
    double worst = 0, start = now();
    size_t over1 = 0, over10 = 0, dups = 0;
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < n && !err; i++) {
        int64_t ts = (int64_t)(i / 100);
        double t0 = now();
        dups += eddy__dedup_seen(s, ids[i], ts, ts, &err);
        double dt = now() - t0;
        worst = dt > worst ? dt : worst;
        over1 += dt > 0.001;
        over10 += dt > 0.01;
    }
    double total = now() - start;
    if (err || dups)
        fprintf(stderr, "bench_dedup: %s: error %d, %zu duplicates\n", name, err, dups);
    else
        printf("%s ids=%zu mean_ns=%.0f max_ms=%.1f over_1ms=%zu over_10ms=%zu size=%zu\n", name,
               n, total / (double)n * 1e9, worst * 1e3, over1, over10, eddy__dedup_size(s));
    eddy__dedup_free(s);
    free(ids);
    return err || dups;
}

int main(int argc, char **argv)
{
    size_t grow = 8400000, steady = 20000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--grow"))
            grow = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--steady"))
            steady = strtoull(argv[i + 1], NULL, 10);
    }
    return run("growing", grow, 600000) | run("steady", steady, 20000);
}
