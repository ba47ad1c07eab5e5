/*
 * dedup.h - duplicate detection by an id field within an event-time span.
 *
 * A record is a duplicate when a record with the same id (its 64-bit hash,
 * see core/hash.h) was accepted and its event time is at most `within`
 * before the current stream time. Entries older than that are expired, so
 * memory holds about (event rate x within) entries, 16 bytes each, in an
 * open-addressing table kept at most half full (a little more while a
 * larger one is made ready). No call does more than a bounded share of
 * upkeep (sweeping, growing): see dedup.c. A 64-bit hash makes a false
 * duplicate among 10 million live ids about 1 in 2^40 per record.
 *
 * Single-threaded: one store per task.
 */
#ifndef EDDY_OPS_DEDUP_H
#define EDDY_OPS_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"

struct eddy_dedup_store;

eddy_err_t eddy__dedup_new(int64_t within_ms, struct eddy_dedup_store **out);
void eddy__dedup_free(struct eddy_dedup_store *store);

/* Checks the id hash at event time @ts with the task's @stream_time. Returns
 * true (duplicate) or false, in which case the id is remembered (its time is
 * the later of the two when it was already known but expired). May grow the
 * table: EDDY_ENOMEM is reported through @err and the record is treated as
 * new. */
/* Starts fetching the table slot of @id_hash into the cache (a hint; call
 * it some work ahead of eddy__dedup_seen with the same hash). */
void eddy__dedup_prefetch(const struct eddy_dedup_store *store, uint64_t id_hash);
bool eddy__dedup_seen(struct eddy_dedup_store *store, uint64_t id_hash, int64_t ts,
                      int64_t stream_time, eddy_err_t *err);

/* Number of remembered ids (live and not yet swept). */
size_t eddy__dedup_size(const struct eddy_dedup_store *store);

/*
 * Persistence (Kafka mode). eddy__dedup_changes() hands over, as puts of
 * state keys (value NULL: delete the key):
 *   - the ids remembered or re-timed since the previous call, as segments
 *     of at most 8192 ids (128 KB, well under a broker's message limit):
 *     key 'S' + 8-byte big-endian sequence number (per store,
 *     continuing after the largest loaded), value the ids as 16-byte
 *     entries (hash, then event time, 8 bytes little-endian each) - one
 *     record per commit however many ids, instead of one per id (at 100k
 *     records/s those were a third of the processing thread's time in
 *     RocksDB inserts);
 *   - a delete of each segment whose newest id has expired at @stream_time;
 *   - a delete of each expired id of format 1 (key: the 8-byte hash, value:
 *     its 8-byte event time), which eddy__dedup_load() still reads, so
 *     state written by earlier versions keeps working and drains away.
 * The first call only starts recording (what was loaded is persisted).
 * eddy__dedup_load() takes one persisted record of either format (expired
 * ids are ignored); EDDY_EPARSE for anything else.
 */
struct eddy_dedup_changes {
    eddy_err_t (*put)(void *ctx, const void *key, size_t key_len, const void *value,
                      size_t value_len);
    void *ctx;
};
eddy_err_t eddy__dedup_changes(struct eddy_dedup_store *store, int64_t stream_time,
                               const struct eddy_dedup_changes *changes);
eddy_err_t eddy__dedup_load(struct eddy_dedup_store *store, const void *key, size_t key_len,
                            const void *value, size_t value_len, int64_t stream_time);

/* Visits every remembered entry (for changelogs and tests). */
void eddy__dedup_foreach(const struct eddy_dedup_store *store,
                         void (*fn)(void *ctx, uint64_t id_hash, int64_t ts), void *ctx);

#endif
