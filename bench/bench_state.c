/*
 * bench_state.c - the restore speed ceiling of the RocksDB state layer:
 * apply changelog-like records to one store in atomic batches with a
 * checkpoint per batch (what a restore or a commit does), then random point
 * gets of existing keys (what a write-cache miss does).
 *
 * Records (default 1M, --count N) have 24-byte keys (8-byte be64 window
 * start + 16 bytes of group hash, in random order, like a compacted
 * changelog) and 100-byte values (random bytes, little to compress); batches
 * of 10000 (--batch N). Keys and values are built before timing. The same
 * records are then restored into a second store with the bulk loader (sort +
 * SST ingest, see eddy__state_loader_add). Output, one line per item:
 *     apply <records/s> records/s (<MB/s> MB/s, N records, B per batch)
 *     load <records/s> records/s (<MB/s> MB/s, N records, 64 MiB buffer)
 *     get <gets/s> gets/s (N random hits)
 *     memory <bytes> bytes
 * --no-apply skips the batch phase (gets then read the loaded store).
 * The state dir is a fresh mkdtemp dir under /tmp (--dir DIR to choose),
 * removed at the end unless --keep.
 * Build: gcc -O2 -D_GNU_SOURCE -Iinclude -Isrc src/core/[all].c
 *        src/state/[all].c bench/bench_state.c -lrocksdb -lm -lpthread
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "state/be64.h"
#include "state/store.h"

#define KEY_LEN 24
#define VALUE_LEN 100
#define VALUE_POOL 65536

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int fail(const char *what, eddy_err_t err)
{
    fprintf(stderr, "bench_state: %s: %s\n", what, eddy_err_message(err));
    return 1;
}

int main(int argc, char **argv)
{
    size_t count = 1000000, batch_size = 10000, gets = 1000000;
    const char *dir = NULL;
    int keep = 0, apply = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch_size = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--gets") == 0 && i + 1 < argc)
            gets = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else if (strcmp(argv[i], "--no-apply") == 0)
            apply = 0;
        else {
            fprintf(stderr, "usage: bench_state [--count N] [--batch N] [--gets N] [--dir DIR] "
                            "[--keep] [--no-apply]\n");
            return 2;
        }
    }
    if (count == 0 || batch_size == 0)
        return 2;
    eddy_log_set_level(EDDY_LOG_WARN);
    char tmp[] = "/tmp/eddy-bench-state-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }

    unsigned char *keys = eddy_malloc(count * KEY_LEN);
    unsigned char *values = eddy_malloc(VALUE_POOL + VALUE_LEN);
    if (!keys || !values)
        return fail("allocate inputs", EDDY_ENOMEM);
    for (size_t i = 0; i < count; i++) {
        unsigned char *k = keys + i * KEY_LEN;
        eddy__be64_put(k, (int64_t)(1700000000000LL + (int64_t)(next_u64() % 60) * 60000));
        uint64_t h1 = next_u64(), h2 = next_u64();
        memcpy(k + 8, &h1, 8);
        memcpy(k + 16, &h2, 8);
    }
    for (size_t i = 0; i < VALUE_POOL + VALUE_LEN; i++)
        values[i] = (unsigned char)next_u64();

    struct eddy_state *st;
    struct eddy_store *s;
    struct eddy_state_batch *b;
    eddy_err_t err;
    if ((err = eddy__state_open(dir, NULL, &st)))
        return fail("open state", err);
    if ((err = eddy__state_store(st, "bench", 0, &s)) || (err = eddy__state_batch_new(&b)))
        return fail("open store", err);

    double t0;
    if (apply) {
        t0 = now_s();
        for (size_t i = 0; i < count; i++) {
            size_t voff = (size_t)(next_u64() % VALUE_POOL);
            eddy__state_batch_put(b, s, keys + i * KEY_LEN, KEY_LEN, values + voff, VALUE_LEN);
            if ((i + 1) % batch_size == 0 || i + 1 == count) {
                eddy__state_batch_checkpoint(b, s, (int64_t)i + 1);
                if ((err = eddy__state_commit(st, b)))
                    return fail("commit", err);
                eddy__state_batch_clear(b);
            }
        }
        double apply_s = now_s() - t0;
        printf("apply %.0f records/s (%.1f MB/s, %zu records, %zu per batch)\n",
               (double)count / apply_s, (double)count * (KEY_LEN + VALUE_LEN) / apply_s / 1e6,
               count, batch_size);
    }

    struct eddy_store *ls;
    struct eddy_state_loader *l;
    if ((err = eddy__state_store(st, "bench_load", 0, &ls)) ||
        (err = eddy__state_loader_new(ls, 0, &l)))
        return fail("open loader", err);
    t0 = now_s();
    for (size_t i = 0; i < count; i++) {
        size_t voff = (size_t)(next_u64() % VALUE_POOL);
        if ((err = eddy__state_loader_add(l, (int64_t)i, keys + i * KEY_LEN, KEY_LEN,
                                          values + voff, VALUE_LEN)))
            return fail("load", err);
    }
    if ((err = eddy__state_loader_finish(l, (int64_t)count)))
        return fail("finish load", err);
    double load_s = now_s() - t0;
    printf("load %.0f records/s (%.1f MB/s, %zu records, 64 MiB buffer)\n",
           (double)count / load_s, (double)count * (KEY_LEN + VALUE_LEN) / load_s / 1e6, count);
    eddy__state_loader_free(l);

    struct eddy_buf value;
    eddy_buf_init(&value);
    size_t hits = 0;
    t0 = now_s();
    for (size_t i = 0; i < gets; i++) {
        bool found;
        const unsigned char *k = keys + (size_t)(next_u64() % count) * KEY_LEN;
        if ((err = eddy__store_get(apply ? s : ls, k, KEY_LEN, &value, &found)))
            return fail("get", err);
        hits += found;
    }
    double get_s = now_s() - t0;
    printf("get %.0f gets/s (%zu random gets, %zu hits)\n", (double)gets / get_s, gets, hits);
    printf("memory %zu bytes\n", eddy__state_memory(st));

    eddy_buf_release(&value);
    eddy__state_batch_free(b);
    eddy__state_close(st);
    eddy_free(keys);
    eddy_free(values);
    if (!keep)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return hits == gets ? 0 : 1;
}
