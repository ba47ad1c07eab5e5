/*
 * file.h - line source over a file or stdin, plain, gzip or LZ4-frame
 * compressed, for local runs (`eddy run --input`).
 *
 * Format: one record per line, '\n' terminated ("\r\n" accepted, the '\r' is
 * stripped); a final line without '\n' is a record too. Empty lines are
 * skipped but still numbered. The compression is detected from the first
 * bytes, never from the file name: 1f 8b is gzip (concatenated members are
 * one stream, as with gunzip), 04 22 4d 18 is an LZ4 frame (concatenated and
 * skippable frames allowed), anything else is plain text.
 *
 * Invariants: input is read and decompressed in blocks of
 * EDDY_FILE_SOURCE_BLOCK bytes into one buffer allocated at open (about
 * max_line + 2 blocks in total, plus 4 blocks decompressed ahead for
 * compressed input); no allocation happens per line. A line longer
 * than max_line is returned once, truncated to its first max_line bytes with
 * *too_large set, and the rest of it is skipped without being buffered, so
 * memory stays bounded whatever the input.
 *
 * The "offset" of a line is its 0-based line number in the decompressed
 * stream; it stands in for the Kafka offset in dead letters.
 *
 * Single-threaded: one source is used by one thread at a time. Compressed
 * input is decompressed ahead by a thread of the source's own (file.c), so
 * decompression and parsing run on two cores.
 */
#ifndef EDDY_SOURCE_FILE_H
#define EDDY_SOURCE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"

#define EDDY_FILE_SOURCE_BLOCK ((size_t)1 << 20)
#define EDDY_FILE_SOURCE_DEFAULT_MAX_LINE ((size_t)1 << 20)

struct eddy_file_source;

/* Opens @path, or stdin when @path is "-" (stdin is not closed at close).
 * @max_line is the longest line returned whole; 0 means
 * EDDY_FILE_SOURCE_DEFAULT_MAX_LINE. Nothing is read yet, so opening a pipe
 * does not block. Errors: EDDY_ENOTFOUND (no such file), EDDY_EIO (other open
 * failures), EDDY_ENOMEM; each is logged naming the file. */
eddy_err_t eddy__file_source_open(const char *path, size_t max_line, struct eddy_file_source **out);

/* Closes the file (not stdin) and frees the source; accepts NULL. */
void eddy__file_source_close(struct eddy_file_source *src);

/* Next non-empty line. On EDDY_OK, *line and *len hold it without its line end
 * (*line is borrowed and valid until the next call on @src), *offset its
 * 0-based line number and *too_large whether it was longer than max_line and
 * cut to max_line bytes. Returns EDDY_EEOF at the end of input and EDDY_EIO on
 * a read or decompression error (truncated or corrupt compressed data), which
 * is logged naming the file; after an error every call returns EDDY_EIO. */
eddy_err_t eddy__file_source_next(struct eddy_file_source *src, const char **line, size_t *len,
                                  int64_t *offset, bool *too_large);

/* The path given at open ("-" for stdin); borrowed. */
const char *eddy__file_source_path(const struct eddy_file_source *src);

#endif
