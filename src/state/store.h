/*
 * store.h - the RocksDB state layer: one RocksDB per process instance, one
 * column family per (store, partition), atomic batches that carry the
 * changelog checkpoint beside the data.
 *
 * Protocol (owned by the runtime, served by this module): a task keeps its
 * working state in an in-memory write cache. At each commit the runtime
 * writes one changelog record per changed key inside the Kafka transaction
 * and, only once that transaction committed, applies the same changes here
 * in one eddy__state_commit() together with eddy__state_batch_checkpoint()
 * = the offset of the next changelog record to read. Because data and
 * checkpoint share one WriteBatch (WAL on), RocksDB always holds the state
 * of exactly some committed changelog prefix, also after kill -9. Restore:
 * read eddy__store_checkpoint(); if it is -1 (or the runtime finds it
 * invalid against the changelog), call eddy__state_drop() and then
 * eddy__state_store() to start empty and replay from the beginning;
 * otherwise replay from the checkpoint to the end. Replay applies records
 * with the same batch API (put, delete for tombstones) plus a checkpoint
 * per batch.
 *
 * On disk, under <dir>/rocksdb:
 *   column family "<store>@<partition>" (e.g. "service_1m@3"): the store's
 *     keys and values as the caller encodes them; lz4; level compaction.
 *   column family "eddy.meta":
 *     "format"         -> ASCII decimal format version ("1"); a state dir
 *                         with another version is refused with EDDY_ESTATE.
 *     "<store>@<part>" -> checkpoint: 8-byte big-endian next changelog offset.
 *   column family "default": unused (RocksDB requires it).
 * Memory: one LRU block cache (block_cache_bytes) shared by all column
 * families, holding data, index and filter blocks; memtables capped in total
 * by db_write_buffer_size (write_buffer_bytes); WAL capped at 4x that, which
 * forces flushes of column families that pin old WAL files.
 * Durability: WAL on, no fsync per commit (the changelog is the durable
 * copy); the checkpoint removal in eddy__state_drop and the format marker
 * are written with sync.
 *
 * Threads: the state and its stores may be used from several threads at
 * once (RocksDB is thread-safe; the store registry has a lock). A batch
 * belongs to one thread at a time. A store pointer stays valid until
 * eddy__state_drop() of that store or eddy__state_close(); the caller must
 * not drop a store another thread is using.
 *
 * Errors: every RocksDB error becomes EDDY_ESTATE, logged once here
 * (subsystem "state") with the operation and the store.
 */
#ifndef EDDY_STATE_STORE_H
#define EDDY_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"

/* The on-disk format this build reads and writes (value of "format"). */
#define EDDY_STATE_FORMAT 1
/* Name of the metadata column family. */
#define EDDY_STATE_META_CF "eddy.meta"

struct eddy_state_opts {
    size_t block_cache_bytes;  /* 0 = 64 MiB; one LRU cache for all column families */
    size_t write_buffer_bytes; /* 0 = 64 MiB; total memtable budget (db_write_buffer_size) */
};

struct eddy_state;
struct eddy_store;
struct eddy_state_batch;

/* Opens (creating @dir and <dir>/rocksdb when missing) the instance's state
 * and every column family found in it. @opts may be NULL (defaults).
 * EDDY_ESTATE when RocksDB fails (e.g. another process holds the dir) or
 * the dir was written with an unknown format. */
eddy_err_t eddy__state_open(const char *dir, const struct eddy_state_opts *opts,
                            struct eddy_state **out);
/* Closes RocksDB and frees every store. NULL ok. */
void eddy__state_close(struct eddy_state *st);

/* The store "<store>@<partition>", opened or created. Owned by @st. */
eddy_err_t eddy__state_store(struct eddy_state *st, const char *store, int32_t partition,
                             struct eddy_store **out);
/* Drops the column family and its checkpoint (checkpoint first, synced, so
 * a crash in between leaves "no checkpoint" = restore from scratch, which
 * drops again). Invalidates the store pointer. OK when the store does not
 * exist. */
eddy_err_t eddy__state_drop(struct eddy_state *st, const char *store, int32_t partition);
/* Calls @fn for every existing store in column family name order; @fn
 * returns non-zero to stop. Used after open to find stores of partitions
 * no longer owned. */
void eddy__state_list(struct eddy_state *st,
                      int (*fn)(void *ctx, const char *store, int32_t partition), void *ctx);

/* "<store>@<partition>"; valid as long as the store. */
const char *eddy__store_name(const struct eddy_store *s);

/* Point lookup. On found, @value is replaced by the value (eddy_buf_reset +
 * append); EDDY_ENOMEM when it cannot grow. */
eddy_err_t eddy__store_get(struct eddy_store *s, const void *key, size_t klen,
                           struct eddy_buf *value, bool *found);
/* Ordered iteration over [begin, end) in memcmp order; begin NULL = from
 * the first key, end NULL = to the last. @fn returns non-zero to stop
 * (that is not an error). @fn must not drop the store. Sees the last
 * committed batches only. */
eddy_err_t eddy__store_scan(struct eddy_store *s, const void *begin, size_t blen,
                            const void *end, size_t elen,
                            int (*fn)(void *ctx, const void *k, size_t kl, const void *v,
                                      size_t vl),
                            void *ctx);
/* The checkpoint committed for this store, -1 when none. */
eddy_err_t eddy__store_checkpoint(struct eddy_store *s, int64_t *next_changelog_offset);

/* Batches: a reusable RocksDB WriteBatch. The put/delete functions copy
 * their arguments and cannot fail (RocksDB's buffer grows with new; an
 * allocation failure there aborts, as everywhere in RocksDB). A batch may
 * span stores of one state. */
eddy_err_t eddy__state_batch_new(struct eddy_state_batch **out);
void eddy__state_batch_free(struct eddy_state_batch *b);
void eddy__state_batch_clear(struct eddy_state_batch *b);
size_t eddy__state_batch_count(const struct eddy_state_batch *b); /* operations */
size_t eddy__state_batch_bytes(const struct eddy_state_batch *b); /* serialized size */
void eddy__state_batch_put(struct eddy_state_batch *b, struct eddy_store *s, const void *k,
                           size_t kl, const void *v, size_t vl);
void eddy__state_batch_delete(struct eddy_state_batch *b, struct eddy_store *s, const void *k,
                              size_t kl);
/* Deletes every key in [begin, end). */
void eddy__state_batch_delete_range(struct eddy_state_batch *b, struct eddy_store *s,
                                    const void *begin, size_t bl, const void *end, size_t el);
/* Deletes every key whose first 8 bytes, read with eddy__be64_get, are
 * < @bucket (and every key shorter than 8 bytes that sorts below
 * eddy__be64_put(@bucket)): delete_range [00*8, BE(bucket)). */
void eddy__state_batch_expire_before(struct eddy_state_batch *b, struct eddy_store *s,
                                     int64_t bucket);
/* Records, in the same batch, the changelog position this store's state
 * corresponds to: the offset of the next changelog record to read (>= 0). */
void eddy__state_batch_checkpoint(struct eddy_state_batch *b, struct eddy_store *s,
                                  int64_t next_changelog_offset);
/* Applies @b atomically (one WriteBatch, WAL on, no sync). @b is left
 * unchanged: clear it to reuse it. */
eddy_err_t eddy__state_commit(struct eddy_state *st, struct eddy_state_batch *b);

/* Bulk loader: the fast path for long restores (a wiped state dir, a new
 * partition). Records are copied into a buffer of @buffer_bytes (0 = 64 MiB),
 * and when it is full (or on eddy__state_loader_finish) sorted by key (the
 * last record of a key wins), written as one SST file under <dir> and
 * ingested into the store, after which the checkpoint is committed: the
 * offset after the last record added, or the one given to _finish.
 * Ingested data overrides older data of the store, so the result equals
 * applying the same records with batches. Unlike a batch, data and
 * checkpoint are not one atomic write: after a crash the checkpoint may be
 * behind the data, never ahead. That is safe only because changelog records
 * are full values or tombstones (replaying a suffix again is idempotent).
 * On an error the buffered records are discarded: drop the store and
 * restore again. Single-threaded; nothing else may write the store while
 * loading. The buffer is the only allocation (grown to the budget, reused). */
struct eddy_state_loader;
eddy_err_t eddy__state_loader_new(struct eddy_store *s, size_t buffer_bytes,
                                  struct eddy_state_loader **out);
/* Frees the loader; records added since the last ingest are discarded. */
void eddy__state_loader_free(struct eddy_state_loader *l);
/* Points the loader at store @s (of the same state) as if new, keeping its
 * buffer: records added since the last ingest are discarded. A restore of
 * many partitions reuses one loader, instead of faulting in a fresh buffer
 * for each. EDDY_ENOMEM leaves it pointing at its previous store. */
eddy_err_t eddy__state_loader_reset(struct eddy_state_loader *l, struct eddy_store *s);
/* Adds the changelog record at @changelog_offset (offsets increase): a
 * put, or a tombstone when @v is NULL. May ingest (then it returns its
 * errors). Keys and values are limited to 4 GiB - 2 (EDDY_EINVAL). */
eddy_err_t eddy__state_loader_add(struct eddy_state_loader *l, int64_t changelog_offset,
                                  const void *k, size_t kl, const void *v, size_t vl);
/* Ingests what is buffered and commits @next_changelog_offset (the end of
 * the changelog as read) as checkpoint. The loader can be used again. */
eddy_err_t eddy__state_loader_finish(struct eddy_state_loader *l, int64_t next_changelog_offset);
/* Records ingested so far (after dropping repeated keys within a buffer). */
uint64_t eddy__state_loader_ingested(const struct eddy_state_loader *l);

/* Bytes held in memory: block cache usage (data, index and filter blocks)
 * + all memtables + table readers outside the cache. */
size_t eddy__state_memory(const struct eddy_state *st);

#endif
