/*
 * file.h - the local-mode sink: results and alerts as JSON lines to one
 * stream, dead letters as JSON lines to another. Implements eddy_output
 * (eddy/output.h). Streams are fully buffered (1 MiB) and flushed on close.
 */
#ifndef EDDY_SINK_FILE_H
#define EDDY_SINK_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "eddy/err.h"
#include "eddy/output.h"

struct eddy_file_sink;

/* Opens the sink. @out_path and @dlq_path are file paths, "-" for stdout, or
 * NULL: results default to stdout, dead letters to stderr. */
eddy_err_t eddy__file_sink_open(const char *out_path, const char *dlq_path,
                                struct eddy_file_sink **out);
/* Flushes and closes; returns EDDY_EIO when a write failed. Accepts NULL. */
eddy_err_t eddy__file_sink_close(struct eddy_file_sink *sink);
/* The eddy_output writing to this sink. */
struct eddy_output eddy__file_sink_output(struct eddy_file_sink *sink);
eddy_err_t eddy__file_sink_flush(struct eddy_file_sink *sink);

#endif
