/*
 * version.h - versioned plans, for `eddy backfill` (docs/backfill.md).
 *
 * Version V of a topology named N is the same topology under the name
 * "N.vV": its own consumer group, transactional ids ("N.vV-<instance>"),
 * changelog and repartition topics ("N.vV-<store>-changelog",
 * "N.vV-<aggregation>-repartition") and instance directory
 * ("N.vV-instances"), so it shares no state with version 1 (the topology as
 * `eddy run` runs it). Every topic it writes for readers gets the suffix
 * ".vV": each aggregation's, alert's and pattern's output topic (T ->
 * "T.vV") and the dead-letter topic ("N-dlq.vV"); every archive writes
 * under <path>/<name>.vV/ instead of <path>/<name>/. The input topic is the
 * same.
 *
 * V is a decimal integer from 1 to EDDY_VERSION_MAX without sign or leading
 * zeros. A version whose names would be invalid (topology name over 200
 * characters, a topic name over 249) is refused with a message naming the
 * name.
 */
#ifndef EDDY_CONFIG_VERSION_H
#define EDDY_CONFIG_VERSION_H

#include <stdbool.h>
#include <stddef.h>

#include "eddy/err.h"
#include "eddy/topology.h"

#define EDDY_VERSION_MAX 999999L
#define EDDY_VERSION_DEFAULT 2L

/* Parses @text as a version ("2"); false for anything else ("0", "02",
 * "+2", "2x", "", over EDDY_VERSION_MAX). */
bool eddy_version_parse(const char *text, long *version);

/* "<name>.v<version>" into @out (NUL-terminated); false when it does not fit
 * in @size bytes. Used for the topology name and for output topics alike. */
bool eddy_version_name(const char *name, long version, char *out, size_t size);

/*
 * Turns a freshly loaded @plan (not yet read by any other thread) into
 * version @version of itself: renames it and suffixes its output topics as
 * above. *dlq_topic receives the dead-letter topic of the version (owned by
 * the caller, eddy_free). On EDDY_ECONFIG (an invalid name; @errbuf says
 * which) or EDDY_ENOMEM the plan is unchanged.
 */
eddy_err_t eddy_plan_version(struct eddy_plan *plan, long version, char **dlq_topic, char *errbuf,
                             size_t errlen);

#endif
