/*
 * archive_prune.h - retention for the archive sink: deletes the date=
 * partitions of a Hive-style Parquet tree whose whole day is older than a
 * cutoff (`eddy archive prune`, docs/archive.md).
 *
 * The tree is the archive sink's layout:
 *   <root>/<aggregation>/<col>=<value>/.../date=YYYY-MM-DD/.../part-*.parquet
 * with `date` at any level (or absent). A partition directory is one named
 * exactly "date=YYYY-MM-DD" (a valid Gregorian day, UTC); its day is expired
 * when day_start + 24h <= cutoff. Expired partitions are deleted with
 * everything in them (hidden in-progress files included: they belong to that
 * day), then the directories that this left empty, up to but excluding the
 * root. Invariants: nothing outside an expired date= directory is deleted
 * except those newly-empty parents; symbolic links are never followed (a link
 * inside an expired partition is unlinked, its target untouched; a link
 * elsewhere is left alone, whatever it is named); the walk does not descend
 * into date= directories it keeps nor into hidden directories (".*") outside
 * partitions. Uses openat/unlinkat on descriptors, so a directory renamed
 * during the walk cannot redirect it.
 */
#ifndef EDDY_SINK_ARCHIVE_PRUNE_H
#define EDDY_SINK_ARCHIVE_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "eddy/err.h"

struct eddy_archive_prune_stats {
    uint64_t partitions; /* date= directories deleted (dry run: that would be) */
    uint64_t files;      /* entries other than directories in them (files, links) */
    uint64_t bytes;      /* total size of the regular files among those */
    uint64_t skipped;    /* date= directories whose value is not YYYY-MM-DD: kept */
};

/* Deletes, under @dir (one aggregation's directory or the whole lake root,
 * walked recursively; @dir itself may be a symbolic link and is never
 * removed), every date= partition whose day ends at or before @cutoff_ms
 * (milliseconds since the epoch), then the directories left empty by that.
 * With @dry_run nothing is deleted and @st counts what would be. @st (caller
 * storage) is reset first. Each deleted partition is logged at info, each
 * skipped one at warn. A failed open, stat or unlink is logged with its path
 * and the walk goes on: returns EDDY_EIO at the end (EDDY_ENOMEM when out of
 * memory), with @st counting what was deleted. Any thread; not safe against a
 * concurrent prune of the same tree. */
eddy_err_t eddy__archive_prune(const char *dir, int64_t cutoff_ms, bool dry_run,
                               struct eddy_archive_prune_stats *st);

/* Parses a retention period for `eddy archive prune --older-than`: what
 * eddy_duration_parse accepts (ms, s, m = minutes, h, d, repeated: "1d12h")
 * plus w (7 days), mo (30 days) and y (365 days), e.g. "90d", "13mo", "1y6mo".
 * False on syntax error, overflow or an empty string. */
bool eddy__archive_retention_parse(const char *s, int64_t *out_ms);

#endif
