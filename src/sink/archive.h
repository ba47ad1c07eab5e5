/*
 * archive.h - the archive sink: one task's rows of one archive (an
 * aggregation's final rows, or the cleaned raw stream) as Parquet files laid
 * out Hive-style (sink/parquet.h, docs/archive.md):
 *
 *   <path>/<name>/<col>=<value>/.../part-<label>-<first>-<last>.parquet
 *
 * where <label> is the task (its input partition; in local mode the input
 * file's name) and [first, last] the input offsets the task consumed while
 * the file was open. A file sealed with no input consumed since the previous
 * one (rows of repartitioned aggregations, end of input) has the empty range
 * [previous last + 1, previous last] and "-s<file number>" before ".parquet".
 *
 * Effectively once. Rows go into the open file, held in memory as compact
 * encoded rows. eddy__archive_roll() seals the open file when it is due (its
 * first row is `roll` old on the wall clock, or its rows take `roll_size`
 * bytes); the rows of a sealed file never change. In Kafka mode the rows
 * and seals are task state: eddy__archive_changes() hands over, inside the
 * transaction, one segment per commit with the rows added since the
 * previous one, the head (the open file's number and offsets) and the seal
 * records; only after that transaction committed does the runtime say so
 * (eddy__archive_committed()) and call eddy__archive_publish(), which
 * writes each sealed file whose seal is committed to a hidden
 * temporary file, fsyncs it and renames it to its name. The next changes
 * delete the published file's segments and seal. A crash anywhere replays
 * from committed state: a sealed file is rewritten from the same committed
 * rows (same name, same bytes); rows of an uncommitted transaction are
 * produced again by the replay, into a file not sealed yet. No partial file
 * is ever visible.
 *
 * Store "archive" (one per task, shared by its archives; byte 1 of every key
 * is the archive's index in plan->archives; a commit's rows are cut into
 * segments of at most 512 KB, between rows, to stay under the broker's
 * message size limit):
 *   'F' idx be64(file) be32(segment) -> encoded rows
 *   'H' idx                          -> be64(open file) be64(first) be64(last)
 *   'S' idx be64(file)               -> be64(first) be64(last) be32(segments)
 * Row encoding, per column in order: a tag (0 null, 1 false, 2 true, 3 int
 * + 8 bytes LE, 4 double + 8 bytes LE, 5 string + be32 length + bytes).
 *
 * A sink that is not @durable (local mode) has no store: a sealed file is
 * published at the next eddy__archive_publish(), changes are none.
 *
 * Single-threaded: one sink per task and archive.
 */
#ifndef EDDY_SINK_ARCHIVE_H
#define EDDY_SINK_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

struct eddy_archive_sink;

struct eddy_archive_stats {
    uint64_t rows;          /* rows added */
    uint64_t files;         /* Parquet files published */
    uint64_t rows_written;  /* rows in them */
    uint64_t bytes_written; /* their size */
    uint64_t errors;        /* failed publications (retried at the next call) */
};

/* @def is borrowed (the plan's); @index is its position in plan->archives
 * (< 256); @label names the task in file names ([A-Za-z0-9._-], copied);
 * @durable: Kafka mode (see above). */
eddy_err_t eddy__archive_sink_new(const struct eddy_archive *def, size_t index, const char *label,
                                  bool durable, struct eddy_archive_sink **out);
void eddy__archive_sink_free(struct eddy_archive_sink *s);

/* The task consumed input offset @offset (every record, dead letters
 * included): the open file's offset range grows. */
void eddy__archive_consumed(struct eddy_archive_sink *s, int64_t offset);

/* Adds one row: @row has def->n_columns values in column order, borrowed.
 * Values are converted to the column's type (an int into a double column,
 * anything into text for a string column); one that cannot be is null. */
eddy_err_t eddy__archive_add(struct eddy_archive_sink *s, const struct eddy_value *row);

/* Seals the open file if it has rows and is due at wall time @now_ms, or
 * whenever it has rows with @force (end of input); true if it did. */
bool eddy__archive_roll(struct eddy_archive_sink *s, int64_t now_ms, bool force);

/* Writes every sealed file whose seal is committed (durable) or every
 * sealed file (not durable). EDDY_EIO when a file could not be written
 * (logged; the file stays sealed and is tried again at the next call). */
eddy_err_t eddy__archive_publish(struct eddy_archive_sink *s);

/* Durable: the changes of the "archive" store since the previous call
 * (@put with value NULL deletes); none otherwise. */
typedef eddy_err_t (*eddy_archive_put_fn)(void *ctx, const void *key, size_t key_len,
                                          const void *value, size_t value_len);
eddy_err_t eddy__archive_changes(struct eddy_archive_sink *s, eddy_archive_put_fn put, void *ctx);

/* Durable: the transaction holding everything eddy__archive_changes()
 * handed over has committed. */
void eddy__archive_committed(struct eddy_archive_sink *s);

/* The archive index of a key of the "archive" store; false if malformed. */
bool eddy__archive_key_index(const void *key, size_t key_len, size_t *index);
/* Rebuilds a fresh sink from one persisted record of its index. */
eddy_err_t eddy__archive_load(struct eddy_archive_sink *s, const void *key, size_t key_len,
                              const void *value, size_t value_len);

/* Heap bytes held (rows of open and sealed, unpublished files). */
size_t eddy__archive_memory(const struct eddy_archive_sink *s);
const struct eddy_archive_stats *eddy__archive_stats(const struct eddy_archive_sink *s);

#endif
