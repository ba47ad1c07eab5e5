/*
 * loader.c - bulk restore by SST ingestion; contract in store.h.
 *
 * Why: inserting changelog records (random key order) into a RocksDB
 * memtable costs ~3 us each here (skiplist search), a third of the restore
 * target. Sorting a buffer and writing it as an SST file costs ~0.6 us.
 *
 * Buffer: an arena with the key and value bytes of each record back to back
 * and an entry array {first 24 key bytes as three big-endian integers, arena
 * offset, key length, value length or TOMBSTONE, arrival sequence}: window
 * keys start with 13 bytes that most keys of a store share (window start,
 * group-key header), so 24 bytes order most pairs without the arena. Ingest sorts entries by (key bytewise, sequence),
 * writes only the last entry of each key (a put or a delete) to
 * "<dir>/load-<store>@<partition>.sst", ingests it with move semantics and
 * then commits the checkpoint with a normal batch. Arena and entries grow
 * by doubling up to the budget and are reused; nothing is allocated per
 * record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "state/store_internal.h"

#define DEFAULT_BUFFER_BYTES ((size_t)64 << 20)
#define TOMBSTONE UINT32_MAX
#define PREFIX_WORDS 3
#define PREFIX_BYTES (PREFIX_WORDS * 8)

struct entry {
    uint64_t prefix[PREFIX_WORDS]; /* key bytes 0..23 big-endian, zero-padded:
                                    * most comparisons end here */
    size_t off;
    uint32_t klen;
    uint32_t vlen; /* TOMBSTONE for a delete */
    uint32_t seq;
};

struct eddy_state_loader {
    struct eddy_store *store;
    struct eddy_state_batch *batch; /* for the checkpoint */
    char *sst_path;
    size_t budget;
    unsigned char *arena;
    size_t arena_len, arena_cap;
    struct entry *entries;
    size_t nentries, entries_cap;
    int64_t next_offset; /* after the last record added; -1 before any */
    uint64_t ingested;
};

eddy_err_t eddy__state_loader_reset(struct eddy_state_loader *l, struct eddy_store *s)
{
    const char *dir = s->state->dir;
    size_t len = strlen(dir) + strlen("/load-.sst") + s->cf_name_len + 1;
    char *path = eddy_malloc(len);
    if (!path)
        return EDDY_ENOMEM;
    snprintf(path, len, "%s/load-%s.sst", dir, s->cf_name);
    eddy_free(l->sst_path);
    l->sst_path = path;
    l->store = s;
    l->arena_len = 0;
    l->nentries = 0;
    l->next_offset = -1;
    l->ingested = 0;
    return EDDY_OK;
}

eddy_err_t eddy__state_loader_new(struct eddy_store *s, size_t buffer_bytes,
                                  struct eddy_state_loader **out)
{
    *out = NULL;
    struct eddy_state_loader *l = eddy_calloc(1, sizeof *l);
    if (!l)
        return EDDY_ENOMEM;
    l->budget = buffer_bytes ? buffer_bytes : DEFAULT_BUFFER_BYTES;
    if (eddy__state_batch_new(&l->batch) || eddy__state_loader_reset(l, s)) {
        eddy__state_loader_free(l);
        return EDDY_ENOMEM;
    }
    *out = l;
    return EDDY_OK;
}

void eddy__state_loader_free(struct eddy_state_loader *l)
{
    if (!l)
        return;
    eddy__state_batch_free(l->batch);
    eddy_free(l->sst_path);
    eddy_free(l->arena);
    eddy_free(l->entries);
    eddy_free(l);
}

uint64_t eddy__state_loader_ingested(const struct eddy_state_loader *l)
{
    return l->ingested;
}

static int entry_cmp(const void *a, const void *b, void *arena_ptr)
{
    const struct entry *x = a, *y = b;
    const unsigned char *arena = arena_ptr;
    for (int i = 0; i < PREFIX_WORDS; i++)
        if (x->prefix[i] != y->prefix[i])
            return x->prefix[i] < y->prefix[i] ? -1 : 1;
    /* Equal padded prefixes: the first min(klen, 24) bytes are equal and a
     * key shorter than 24 is a prefix of the other one. */
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    if (n > PREFIX_BYTES) {
        int c = memcmp(arena + x->off + PREFIX_BYTES, arena + y->off + PREFIX_BYTES,
                       n - PREFIX_BYTES);
        if (c)
            return c;
    }
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_key(const unsigned char *arena, const struct entry *x, const struct entry *y)
{
    return x->klen == y->klen && x->prefix[0] == y->prefix[0] && x->prefix[1] == y->prefix[1] &&
           x->prefix[2] == y->prefix[2] &&
           (x->klen <= PREFIX_BYTES || memcmp(arena + x->off + PREFIX_BYTES,
                                              arena + y->off + PREFIX_BYTES,
                                              x->klen - PREFIX_BYTES) == 0);
}

/* Byte @d (0..PREFIX_BYTES-1) of an entry's zero-padded key prefix. */
static inline unsigned prefix_byte(const struct entry *e, unsigned d)
{
    return (unsigned)(e->prefix[d >> 3] >> (56 - 8 * (d & 7))) & 0xff;
}

/* Sorts @a[0..n) like entry_cmp: an in-place most-significant-byte radix
 * sort (American flag) over the 24 prefix bytes, skipping bytes every
 * entry shares, then entry_cmp within a bucket of equal prefixes or of
 * fewer than 32 entries (by insertion up to 32 entries: glibc's qsort_r
 * allocates a buffer per call). qsort_r over 1M entries spent most of a
 * restore's sort in the comparison callback and in copying entries. */
static void sort_entries(struct entry *a, size_t n, unsigned d, const unsigned char *arena)
{
    while (n >= 32 && d < PREFIX_BYTES) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[prefix_byte(&a[i], d)]++;
        if (count[prefix_byte(&a[0], d)] == n) { /* one bucket: next byte */
            d++;
            continue;
        }
        size_t next[256], end[256], pos = 0;
        for (unsigned b = 0; b < 256; b++) {
            next[b] = pos;
            pos += count[b];
            end[b] = pos;
        }
        for (unsigned b = 0; b < 256; b++)
            while (next[b] < end[b]) {
                struct entry e = a[next[b]];
                unsigned x = prefix_byte(&e, d);
                while (x != b) { /* cycle: put e in its bucket, carry the one it displaces */
                    struct entry t = a[next[x]];
                    a[next[x]++] = e;
                    e = t;
                    x = prefix_byte(&e, d);
                }
                a[next[b]++] = e;
            }
        for (unsigned b = 0; b < 256; b++)
            if (count[b] > 1)
                sort_entries(a + end[b] - count[b], count[b], d + 1, arena);
        return;
    }
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            struct entry e = a[i];
            size_t j = i;
            for (; j > 0 && entry_cmp(&a[j - 1], &e, (void *)arena) > 0; j--)
                a[j] = a[j - 1];
            a[j] = e;
        }
    } else {
        qsort_r(a, n, sizeof *a, entry_cmp, (void *)arena);
    }
}

/* Writes the sorted buffer (last entry per key) to the SST file. */
static eddy_err_t write_sst(struct eddy_state_loader *l, uint64_t *written)
{
    struct eddy_state *st = l->store->state;
    const char *arena = (const char *)l->arena;
    char *rerr = NULL;
    rocksdb_envoptions_t *env = rocksdb_envoptions_create();
    rocksdb_sstfilewriter_t *w = env ? rocksdb_sstfilewriter_create(env, st->options) : NULL;
    eddy_err_t err = EDDY_ENOMEM;
    if (!w)
        goto out;
    rocksdb_sstfilewriter_open(w, l->sst_path, &rerr);
    for (size_t i = 0; !rerr && i < l->nentries; i++) {
        const struct entry *e = &l->entries[i];
        /* sorted entries point all over the arena: fetch ahead */
        if (i + 8 < l->nentries)
            __builtin_prefetch(arena + l->entries[i + 8].off);
        if (i + 1 < l->nentries && same_key(l->arena, e, &l->entries[i + 1]))
            continue;
        if (e->vlen == TOMBSTONE)
            rocksdb_sstfilewriter_delete(w, arena + e->off, e->klen, &rerr);
        else
            rocksdb_sstfilewriter_put(w, arena + e->off, e->klen, arena + e->off + e->klen,
                                      e->vlen, &rerr);
        ++*written;
    }
    if (!rerr)
        rocksdb_sstfilewriter_finish(w, &rerr);
    err = rerr ? eddy__state_rocks_fail(rerr, "write load file for store", l->store->cf_name)
               : EDDY_OK;
out:
    if (w)
        rocksdb_sstfilewriter_destroy(w);
    if (env)
        rocksdb_envoptions_destroy(env);
    return err;
}

/* Ingests the buffer (if any), then commits @checkpoint (if >= 0). */
static eddy_err_t ingest(struct eddy_state_loader *l, int64_t checkpoint)
{
    struct eddy_state *st = l->store->state;
    eddy_err_t err = EDDY_OK;
    if (l->nentries > 0) {
        sort_entries(l->entries, l->nentries, 0, l->arena);
        uint64_t written = 0;
        unlink(l->sst_path); /* a leftover of a crashed load */
        if ((err = write_sst(l, &written)))
            goto out;
        rocksdb_ingestexternalfileoptions_t *opts = rocksdb_ingestexternalfileoptions_create();
        if (!opts) {
            err = EDDY_ENOMEM;
            goto out;
        }
        rocksdb_ingestexternalfileoptions_set_move_files(opts, 1);
        char *rerr = NULL;
        const char *files[] = {l->sst_path};
        rocksdb_ingest_external_file_cf(st->db, l->store->cf, files, 1, opts, &rerr);
        rocksdb_ingestexternalfileoptions_destroy(opts);
        if (rerr) {
            err = eddy__state_rocks_fail(rerr, "ingest load file into store", l->store->cf_name);
            goto out;
        }
        l->ingested += written;
    }
    if (checkpoint >= 0) {
        eddy__state_batch_clear(l->batch);
        eddy__state_batch_checkpoint(l->batch, l->store, checkpoint);
        err = eddy__state_commit(st, l->batch);
    }
out:
    if (l->nentries > 0 && unlink(l->sst_path) != 0 && errno != ENOENT)
        eddy_log(EDDY_LOG_WARN, "state", "cannot remove load file '%s': %s", l->sst_path,
                 strerror(errno));
    l->arena_len = 0;
    l->nentries = 0;
    return err;
}

/* Grows @ptr (of @cap bytes) to hold @need, doubling, at least @floor. */
static bool grow(void **ptr, size_t *cap, size_t need, size_t floor)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : floor;
    while (cap2 < need)
        cap2 *= 2;
    void *p = eddy_realloc(*ptr, cap2);
    if (!p)
        return false;
    *ptr = p;
    *cap = cap2;
    return true;
}

eddy_err_t eddy__state_loader_add(struct eddy_state_loader *l, int64_t changelog_offset,
                                  const void *k, size_t kl, const void *v, size_t vl)
{
    if (kl >= UINT32_MAX || (v && vl >= TOMBSTONE))
        return EDDY_EINVAL;
    size_t need = kl + (v ? vl : 0);
    eddy_err_t err;
    if (l->nentries > 0 &&
        l->arena_len + need + (l->nentries + 1) * sizeof(struct entry) > l->budget &&
        (err = ingest(l, l->next_offset)))
        return err;
    size_t entries_bytes = l->entries_cap * sizeof(struct entry);
    if (!grow((void **)&l->arena, &l->arena_cap, l->arena_len + need, 1 << 16) ||
        !grow((void **)&l->entries, &entries_bytes, (l->nentries + 1) * sizeof(struct entry),
              1024 * sizeof(struct entry)))
        return EDDY_ENOMEM;
    l->entries_cap = entries_bytes / sizeof(struct entry);
    struct entry *e = &l->entries[l->nentries];
    e->off = l->arena_len;
    e->klen = (uint32_t)kl;
    e->vlen = v ? (uint32_t)vl : TOMBSTONE;
    e->seq = (uint32_t)l->nentries;
    unsigned char padded[PREFIX_BYTES] = {0};
    if (kl)
        memcpy(padded, k, kl < PREFIX_BYTES ? kl : PREFIX_BYTES);
    for (int i = 0; i < PREFIX_WORDS; i++) {
        uint64_t p = 0;
        for (int j = 0; j < 8; j++)
            p = (p << 8) | padded[i * 8 + j];
        e->prefix[i] = p;
    }
    if (kl)
        memcpy(l->arena + l->arena_len, k, kl);
    if (v && vl)
        memcpy(l->arena + l->arena_len + kl, v, vl);
    l->arena_len += need;
    l->nentries++;
    l->next_offset = changelog_offset + 1;
    return EDDY_OK;
}

eddy_err_t eddy__state_loader_finish(struct eddy_state_loader *l, int64_t next_changelog_offset)
{
    return ingest(l, next_changelog_offset);
}
