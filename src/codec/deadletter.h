/*
 * deadletter.h - dead-letter reasons and the dead-letter record format.
 *
 * A dead letter is one JSON object, without a trailing newline:
 *   {"reason":"wrong_type","detail":"field 'status_code': expected int, got string",
 *    "source":{"topic":"service-logs","partition":0,"offset":17},"raw":"<raw bytes>"}
 * "raw" holds the original record as a JSON string when it is valid UTF-8;
 * otherwise the key is "raw_base64" and the value is standard padded base64.
 */
#ifndef EDDY_CODEC_DEADLETTER_H
#define EDDY_CODEC_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum eddy_dl_reason {
    EDDY_DL_MALFORMED_JSON = 1,
    EDDY_DL_MISSING_FIELD,
    EDDY_DL_WRONG_TYPE,
    EDDY_DL_BAD_TIMESTAMP,
    EDDY_DL_TOO_LARGE,
    EDDY_DL_LATE,
    EDDY_DL__COUNT
};

/* "malformed_json", "missing_field", "wrong_type", "bad_timestamp",
 * "too_large", "late"; "unknown" for anything else. */
const char *eddy__dl_reason_name(enum eddy_dl_reason reason);

/*
 * Appends the dead-letter object to @out. @detail must be valid UTF-8 (NULL
 * is written as ""); @topic NULL is written as null. Errors surface through
 * eddy_buf_err(out). Any thread, with its own @out.
 */
void eddy__dl_format(struct eddy_buf *out, enum eddy_dl_reason reason, const char *detail,
                     const char *topic, int32_t partition, int64_t offset, const char *raw,
                     size_t raw_len);

#endif
