/*
 * diff.h - topology upgrade analysis: store fingerprints and `eddy diff`.
 *
 * A store fingerprint is a canonical, readable one-line text that changes
 * when the state persisted in that store would be misread, or would mean
 * something else, under another version of the topology. The runtime saves
 * the fingerprint of each store with its state and, at start, refuses a store
 * whose saved fingerprint is not compatible with the current one
 * (eddy_plan_fingerprint_compatible), naming the store and suggesting
 * `eddy diff` and `--reset-store NAME`. The format is described in diff.c
 * and docs/upgrades.md; it starts with "<kind> v<version>;", and the version
 * is bumped whenever a persisted encoding changes.
 *
 * Everything here only reads plans: any thread may call it on immutable plans.
 */
#ifndef EDDY_CONFIG_DIFF_H
#define EDDY_CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "eddy/err.h"
#include "eddy/topology.h"

/* The version written into every fingerprint ("... v1;"). */
#define EDDY_FINGERPRINT_VERSION 1

/*
 * The store names of @plan's tasks, in load order: "meta", "dedup" when the
 * topology deduplicates, one per aggregation (its name), "alerts" when it has
 * alerts, one per pattern (its name). The one list of store names. *n receives
 * the count. The array is owned by the caller (eddy_free); the names are
 * borrowed from the plan or static. NULL when out of memory.
 */
const char **eddy_plan_store_names(const struct eddy_plan *plan, size_t *n);

/*
 * The fingerprint of @store in @plan, e.g.
 *   "aggregation v1;topology=service-health;source=service-logs;..."
 * Owned by the caller (eddy_free). NULL for an unknown store name or when out
 * of memory. Two plans parsed from the same text give the same fingerprint;
 * whitespace inside expressions and the quote style of string literals do
 * not matter.
 */
char *eddy_plan_store_fingerprint(const struct eddy_plan *plan, const char *store);

/*
 * Whether state saved under fingerprint @saved may be used by a topology
 * whose fingerprint for the same store is @current. Equal texts are
 * compatible. The "alerts" store is also compatible when alerts were only
 * added or removed (its state is keyed by alert name): every alert present in
 * both must have the identical definition. Use this, not strcmp, at start.
 * Both are NUL-terminated texts; @saved may be whatever was read back from
 * state (copy a stored value and terminate it first). NULL is incompatible.
 */
bool eddy_plan_fingerprint_compatible(const char *saved, const char *current);

/*
 * For the message of a refused store: writes into @buf (@len bytes, always
 * NUL-terminated when @len > 0) the first part where @saved and @current
 * differ, "window=tumbling 1m -> window=tumbling 5m" (for "alerts", the first
 * alert whose definition changed), or "" when they are compatible. Returns
 * the length the full text would have (like snprintf). Both must be non-NULL.
 */
size_t eddy_plan_fingerprint_explain(const char *saved, const char *current, char *buf, size_t len);

/*
 * Writes to @out what upgrading from @old_plan to @new_plan does to every
 * store (with its changelog), repartition topic and output topic, one line
 * each (format in docs/upgrades.md), and a summary line. *incompatible
 * receives the number of stores present in both plans whose state the new
 * plan cannot use (they must be reset: `eddy run --reset-store NAME`).
 * Returns EDDY_ENOMEM or EDDY_EIO (write error) on failure.
 */
eddy_err_t eddy_plan_diff(const struct eddy_plan *old_plan, const struct eddy_plan *new_plan,
                          FILE *out, int *incompatible);

#endif
