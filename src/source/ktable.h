/*
 * source/ktable.h - topic tables (tables: with topic:, config/table.h), like
 * Kafka Streams' GlobalKTable: every instance reads ALL partitions of each
 * table's compacted topic from the beginning with one group-less consumer
 * (assign, read_committed) and keeps following them while it runs.
 *
 * Records: key = the key value (its bytes; a record without a key is
 * skipped); value = a JSON object with (some of) the declared columns.
 * Unknown members are ignored; a declared column that is absent or JSON null
 * is NULL; a member of the wrong type (int: JSON integer; number: any JSON
 * number, integers kept INT; bool: true/false; string: a JSON string) makes
 * that cell NULL and counts a type error (table stats, warning logged at
 * most every 10 s). A value that is not a JSON object is skipped and
 * counted as a bad record. A null value (tombstone) deletes the row. The key
 * column's cell is the key. Later records of a key replace the whole row.
 *
 * Threads and the queue: a reader thread (started here) consumes the topics,
 * decodes each record into an update (key, cells with owned strings) and
 * appends it to a FIFO queue under a mutex. Tables change only in
 * eddy__ktables_apply, which the engine's processing thread calls at safe
 * points (once per loop iteration, between records): it takes the queue
 * and applies every update in order under the tables' write locks (a
 * try-lock: busy because a serving thread reads, it retries at the next
 * call, and blocks only after a second of failures). Lookups on the
 * processing thread take no lock and never see a half-applied row; a string
 * a lookup returned is valid until the next eddy__ktables_apply. With no
 * queued update, eddy__ktables_apply is one atomic load.
 *
 * Bootstrap: eddy__ktables_start reads every partition up to its end as of
 * the start (its high watermark then, or the end-of-partition event, which
 * read_committed reports at the last stable offset), applying updates as
 * they come, and only then returns: the engine processes no record before
 * its tables are read. Then the rows that came only from the table's file
 * (its initial contents) and not from the topic are dropped, so a table
 * holds exactly its topic's rows, and one line per table is logged: "table
 * services: 123 rows from services-ref in 0.2 s". Nothing is persisted: a
 * restarted instance reads the topics again.
 */
#ifndef EDDY_SOURCE_KTABLE_H
#define EDDY_SOURCE_KTABLE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config/table.h"
#include "eddy/err.h"
#include "eddy/topology.h"
#include "sink/kafka.h"

struct eddy_ktables;

/*
 * Starts following the topic tables of @plan (tables with a topic; none:
 * *out = NULL and EDDY_OK, and every function below accepts NULL) and
 * bootstraps them (see above); waits up to a minute for a table topic that
 * does not exist yet. Call from the engine's processing thread before it
 * reads input. Returns EDDY_ENOTFOUND (a topic is missing), EDDY_EKAFKA,
 * EDDY_ECONFIG (a property was rejected) or EDDY_ENOMEM, logged; EDDY_OK
 * with a partial bootstrap when *@stop was set. *out is owned by the caller
 * (eddy__ktables_stop). @plan must outlive it; @conf is borrowed.
 */
eddy_err_t eddy__ktables_start(const struct eddy_plan *plan, const struct eddy_kconf *conf,
                               volatile sig_atomic_t *stop, struct eddy_ktables **out);

/*
 * Applies the queued updates, in order (see above). The processing thread
 * only, between records. Returns EDDY_ENOMEM, or the reader's fatal error
 * (EDDY_EKAFKA_FATAL) once it has stopped; the tables stay usable.
 */
eddy_err_t eddy__ktables_apply(struct eddy_ktables *kt);

/* Stops the reader thread and frees the queue; the tables (owned by the
 * plan) keep their rows. Accepts NULL. */
void eddy__ktables_stop(struct eddy_ktables *kt);

/* Local mode without Kafka: logs, per topic table, that its topic is not
 * read and how many rows its file gave it ("table services: topic
 * services-ref not read (no --bootstrap): 8 rows from FILE"). */
void eddy__ktables_log_unread(const struct eddy_plan *plan);

/* ---- the pieces, without Kafka (tests use them; the reader thread calls
 * eddy__ktables_push) ---- */

/* A queue for the topic tables of @plan, with no reader thread: updates come
 * from eddy__ktables_push. *out = NULL when @plan has no topic table. */
eddy_err_t eddy__ktables_new(const struct eddy_plan *plan, struct eddy_ktables **out);

/* Decodes the record (@key, @value; @value NULL = tombstone) of @table (an
 * index into plan->tables; a topic table) and queues the update. Any thread;
 * one pushing thread at a time. @offset only names the record in warnings.
 * EDDY_ENOMEM when the update cannot be queued (nothing is). */
eddy_err_t eddy__ktables_push(struct eddy_ktables *kt, size_t table, const void *key, size_t klen,
                              const void *value, size_t vlen, int32_t partition, int64_t offset);

/* Updates queued and not yet applied. Any thread. */
size_t eddy__ktables_queued(const struct eddy_ktables *kt);

/*
 * Decodes a JSON object @value (@len bytes) into @cells (t->n_columns values,
 * the key column's left NULL) by the declared columns of @t (see above):
 * strings are owned by the caller (eddy__table_values_release). *type_errors
 * counts the cells set NULL for a wrong type; *first_error names the first
 * such column (NULL when none). EDDY_EPARSE when @value is not a JSON object
 * (@cells all NULL), EDDY_ENOMEM.
 */
eddy_err_t eddy__ktable_decode(const struct eddy_table *t, const void *value, size_t len,
                               struct eddy_value *cells, unsigned *type_errors,
                               const char **first_error);

#endif
