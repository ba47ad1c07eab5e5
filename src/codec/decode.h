/*
 * decode.h - turns one raw event into typed slots and an event time, or into
 * a dead-letter reason with a human detail.
 *
 * A decoder is built once from a plan's source and is immutable: any number
 * of threads may call eddy__decode on it concurrently with their own slots,
 * scratch and detail buffers. eddy__decode never allocates.
 *
 * Checks, in this order (the first failure decides the reason):
 *   too_large       len > max_event_bytes (0 = no limit)
 *                   "record of 70000 bytes exceeds max_event_bytes 65536"
 *   malformed_json  "at byte 17: unexpected character 'x'" (see json.h)
 *   fields, in declaration order:
 *     missing_field "field 'service' is missing" (JSON null counts as missing;
 *                   an absent optional field becomes EDDY_V_NULL)
 *     wrong_type    "field 'status_code': expected int, got string"; expected
 *                   is int|number|string|bool, got is number|string|bool|
 *                   object|array. An int field holding 1.5, 1e3 or a value
 *                   outside int64 is "expected int, got number"; a number
 *                   field accepts INT and NUM values.
 *   bad_timestamp   "field 'timestamp' is missing"
 *                   "field 'timestamp': cannot parse '2025-13-01T00:00:00Z' as rfc3339"
 *                   (a string is quoted up to 64 bytes, then "...")
 *                   (a string in a unix_s/unix_ms field too: "cannot parse '17...'")
 *                   "field 'ts': cannot parse 1e+20 as unix_s" (numbers: %lld/%.17g)
 *                   "field 'timestamp': expected string, got number" (rfc3339)
 *                   "field 'ts': expected number, got object" (unix_s/unix_ms)
 * Field names in details are the slot names; the time field is named by its
 * path.
 */
#ifndef EDDY_CODEC_DECODE_H
#define EDDY_CODEC_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/deadletter.h"
#include "eddy/err.h"
#include "eddy/record.h"
#include "eddy/topology.h"

struct eddy_json_hint;

/* Sources may declare at most this many fields. */
#define EDDY_DECODE_MAX_FIELDS 256

struct eddy_decoder;

/*
 * Builds a decoder projecting the declared field paths (path, or name when
 * path is NULL) plus src->ts_path. Copies what it needs from @src.
 * Returns EDDY_EINVAL for more than EDDY_DECODE_MAX_FIELDS fields, a missing
 * ts_path or a malformed path; EDDY_ENOMEM.
 */
eddy_err_t eddy__decoder_new(const struct eddy_source *src, struct eddy_decoder **out);
/* Releases a decoder; accepts NULL. */
void eddy__decoder_free(struct eddy_decoder *d);

/*
 * Decodes @buf[0..len) into slots[0..src->n_fields) and *ts_ms. Returns 0 on
 * success (detail is then ""), else the dead-letter reason with a
 * NUL-terminated, valid UTF-8 message in @detail (truncated to detail_len).
 * @scratch must hold at least @len bytes; string slots borrow from @buf or
 * @scratch until either is reused. @hint (may be NULL; the caller's, one per
 * thread) remembers the key order of the documents (see json.h).
 */
enum eddy_dl_reason eddy__decode(const struct eddy_decoder *d, const char *buf, size_t len,
                                 struct eddy_value *slots, int64_t *ts_ms, char *scratch,
                                 struct eddy_json_hint *hint, char *detail, size_t detail_len);

#endif
