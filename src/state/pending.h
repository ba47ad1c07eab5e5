/*
 * pending.h - committed state changes not yet written to RocksDB.
 *
 * The Kafka engine commits every ~100 ms, and each commit changes most open
 * window rows again: writing each commit's changes to RocksDB made memtable
 * inserts (skiplist searches over long keys) a third of the processing
 * thread's time. The changelog, not RocksDB, is the durable copy, and
 * RocksDB keeps the changelog position of what it holds next to the data, so
 * RocksDB may lag: this structure holds the committed changes, one value per
 * key (the newest), and writes them with their changelog positions in one
 * atomic batch when flushed (the engine flushes every state_flush interval,
 * and before anything reads RocksDB: eviction, reloads after an abort,
 * revocation, shutdown). A crash loses only the unflushed part, which the
 * restore replays from the changelog, from the older checkpoint.
 *
 * Two levels: the changes of the open transaction (a log, dropped by
 * eddy__pending_abort()), folded into the committed map by
 * eddy__pending_commit(). A closed window (range delete of its 8-byte start
 * prefix) drops the pending rows of that window and is applied before them.
 *
 * Stores are named by index (the engine's store list) and partition; their
 * RocksDB handles are looked up at flush time (restores replace them).
 * Single-threaded.
 */
#ifndef EDDY_STATE_PENDING_H
#define EDDY_STATE_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "state/store.h"

struct eddy_pending;

eddy_err_t eddy__pending_new(size_t n_stores, int32_t n_partitions, struct eddy_pending **out);
void eddy__pending_free(struct eddy_pending *pd);

/* The open transaction: a put (value NULL: delete) or a closed window. */
eddy_err_t eddy__pending_put(struct eddy_pending *pd, size_t store, int32_t partition,
                             const void *key, size_t key_len, const void *value,
                             size_t value_len);
eddy_err_t eddy__pending_closed(struct eddy_pending *pd, size_t store, int32_t partition,
                                int64_t window_start);
/* The transaction aborted: forget its changes. */
void eddy__pending_abort(struct eddy_pending *pd);
/* The transaction committed: fold its changes into the committed map.
 * @next_offset(ctx, store, partition) gives each store partition's
 * changelog position after the commit (< 0: unchanged). */
eddy_err_t eddy__pending_commit(struct eddy_pending *pd,
                                int64_t (*next_offset)(void *ctx, size_t store, int32_t partition),
                                void *ctx);

/* Writes the committed changes (of every partition, or only @partition when
 * >= 0) to RocksDB in one batch with their changelog positions, and forgets
 * them. @store_of gives the handle of a store partition (NULL: the partition
 * is not open; its changes are dropped, the changelog has them). */
eddy_err_t eddy__pending_flush(struct eddy_pending *pd, struct eddy_state *state,
                               struct eddy_state_batch *batch, int32_t partition,
                               struct eddy_store *(*store_of)(void *ctx, size_t store,
                                                              int32_t partition),
                               void *ctx);

/* Heap bytes held (committed map and open transaction). */
size_t eddy__pending_bytes(const struct eddy_pending *pd);
/* Committed keys waiting. */
size_t eddy__pending_keys(const struct eddy_pending *pd);

#endif
