/*
 * bench_agg.c - cost per update of the aggregates of src/agg/: DDSketch add
 * on latency-like data, HyperLogLog add of a hash, and eddy_acc_update for
 * every metric kind.
 *
 * Inputs are built in memory before timing (default 2M, --count N): latencies
 * lognormal around 100 ms clamped to [1, 10000] as NUM, status-like INTs,
 * error flags as BOOL (2% true) and user ids as strings from a pool of 50000
 * (so DISTINCT runs in dense mode). Each item is timed over all N inputs
 * into one accumulator with CLOCK_MONOTONIC and printed as one line:
 *     <item> <ns per update> ns/op
 * followed by the final memory of the sketches. Hashing of DISTINCT values
 * is included in acc_update_distinct, not in hll_add_hash (pre-hashed).
 * Build: gcc -O2 -Iinclude -Isrc src/core/[all].c src/agg/[all].c
 *        bench/bench_agg.c -lm (CMake builds it as a bench target)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/acc.h"
#include "agg/ddsketch.h"
#include "agg/hll.h"
#include "core/hash.h"

#define USER_POOL 50000

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double next_unit(void)
{
    return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double latency_ms(void)
{
    double normal = sqrt(-2.0 * log(next_unit())) * cos(2.0 * M_PI * next_unit());
    double ms = exp(log(100.0) + 1.2 * normal);
    return ms < 1.0 ? 1.0 : ms > 10000.0 ? 10000.0 : ms;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct inputs {
    size_t n;
    double *latency;
    uint64_t *hashes;
    struct eddy_value *nums, *ints, *flags, *users;
    char (*user_ids)[16];
};

static int build(struct inputs *in, size_t n)
{
    in->n = n;
    in->latency = malloc(n * sizeof *in->latency);
    in->hashes = malloc(n * sizeof *in->hashes);
    in->nums = malloc(n * sizeof *in->nums);
    in->ints = malloc(n * sizeof *in->ints);
    in->flags = malloc(n * sizeof *in->flags);
    in->users = malloc(n * sizeof *in->users);
    in->user_ids = malloc(USER_POOL * sizeof *in->user_ids);
    if (!in->latency || !in->hashes || !in->nums || !in->ints || !in->flags || !in->users ||
        !in->user_ids)
        return -1;
    for (size_t u = 0; u < USER_POOL; u++)
        snprintf(in->user_ids[u], sizeof in->user_ids[u], "user-%05zu", u);
    for (size_t i = 0; i < n; i++) {
        in->latency[i] = latency_ms();
        in->hashes[i] = eddy_hash_mix64(next_u64() % (n / 2 + 1));
        in->nums[i] = (struct eddy_value){.type = EDDY_V_NUM, .as.n = in->latency[i]};
        in->ints[i] =
            (struct eddy_value){.type = EDDY_V_INT, .as.i = 200 + (int64_t)(next_u64() % 400)};
        in->flags[i] = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = next_u64() % 50 == 0};
        const char *id = in->user_ids[next_u64() % USER_POOL];
        in->users[i] = (struct eddy_value){.type = EDDY_V_STR, .as.s = {id, (uint32_t)strlen(id)}};
    }
    return 0;
}

static void report(const char *item, double ns, size_t n)
{
    printf("%-26s %8.2f ns/op\n", item, ns / (double)n);
}

static int bench_sketches(const struct inputs *in)
{
    struct eddy_ddsketch *dd = eddy_ddsketch_new();
    struct eddy_hll *hll = eddy_hll_new();
    if (!dd || !hll)
        return -1;
    double t0 = now_ns();
    for (size_t i = 0; i < in->n; i++)
        if (eddy_ddsketch_add(dd, in->latency[i]))
            return -1;
    report("ddsketch_add", now_ns() - t0, in->n);
    t0 = now_ns();
    for (size_t i = 0; i < in->n; i++)
        if (eddy_hll_add_hash(hll, in->hashes[i]))
            return -1;
    report("hll_add_hash", now_ns() - t0, in->n);
    t0 = now_ns();
    volatile double sink = eddy_ddsketch_quantile(dd, 0.99);
    (void)sink;
    report("ddsketch_quantile(1 call)", now_ns() - t0, 1);
    t0 = now_ns();
    volatile uint64_t est = eddy_hll_estimate(hll);
    (void)est;
    report("hll_estimate(1 call)", now_ns() - t0, 1);
    printf("memory ddsketch=%zu bytes hll=%zu bytes\n", eddy_ddsketch_memory(dd),
           eddy_hll_memory(hll));
    eddy_ddsketch_free(dd);
    eddy_hll_free(hll);
    return 0;
}

static int bench_acc(const struct inputs *in)
{
    static const struct {
        const char *name;
        enum eddy_metric_kind kind;
    } items[] = {
        {"acc_update_count", EDDY_M_COUNT},       {"acc_update_count_if", EDDY_M_COUNT_IF},
        {"acc_update_ratio", EDDY_M_RATIO},       {"acc_update_sum", EDDY_M_SUM},
        {"acc_update_avg", EDDY_M_AVG},           {"acc_update_min", EDDY_M_MIN},
        {"acc_update_max", EDDY_M_MAX},           {"acc_update_quantile", EDDY_M_QUANTILE},
        {"acc_update_distinct", EDDY_M_DISTINCT},
    };
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
        enum eddy_metric_kind kind = items[k].kind;
        const struct eddy_value *args = kind == EDDY_M_COUNT_IF || kind == EDDY_M_RATIO ? in->flags
                                        : kind == EDDY_M_SUM                            ? in->ints
                                        : kind == EDDY_M_DISTINCT                       ? in->users
                                                                                        : in->nums;
        struct eddy_acc acc;
        eddy_acc_init(&acc);
        double t0 = now_ns();
        for (size_t i = 0; i < in->n; i++)
            if (eddy_acc_update(&acc, kind, kind == EDDY_M_COUNT ? NULL : &args[i]))
                return -1;
        report(items[k].name, now_ns() - t0, in->n);
        eddy_acc_release(&acc, kind);
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 2000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            n = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_agg [--count N]\n");
            return 2;
        }
    }
    if (n == 0)
        n = 1;
    struct inputs in;
    memset(&in, 0, sizeof in);
    int rc = build(&in, n) || bench_sketches(&in) || bench_acc(&in);
    if (rc)
        fprintf(stderr, "bench_agg: out of memory\n");
    free(in.latency);
    free(in.hashes);
    free(in.nums);
    free(in.ints);
    free(in.flags);
    free(in.users);
    free(in.user_ids);
    return rc ? 1 : 0;
}
