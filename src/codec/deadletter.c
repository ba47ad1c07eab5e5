/*
 * deadletter.c - dead-letter reason names and record format; see
 * deadletter.h.
 */
#include "codec/deadletter.h"

#include <string.h>

const char *eddy__dl_reason_name(enum eddy_dl_reason reason)
{
    switch (reason) {
    case EDDY_DL_MALFORMED_JSON: return "malformed_json";
    case EDDY_DL_MISSING_FIELD: return "missing_field";
    case EDDY_DL_WRONG_TYPE: return "wrong_type";
    case EDDY_DL_BAD_TIMESTAMP: return "bad_timestamp";
    case EDDY_DL_TOO_LARGE: return "too_large";
    case EDDY_DL_LATE: return "late";
    case EDDY_DL__COUNT: break;
    }
    return "unknown";
}

void eddy__dl_format(struct eddy_buf *out, enum eddy_dl_reason reason, const char *detail,
                     const char *topic, int32_t partition, int64_t offset, const char *raw,
                     size_t raw_len)
{
    const char *name = eddy__dl_reason_name(reason);
    eddy_buf_puts(out, "{\"reason\":");
    eddy_buf_json_str(out, name, strlen(name));
    eddy_buf_puts(out, ",\"detail\":");
    eddy_buf_json_str(out, detail ? detail : "", detail ? strlen(detail) : 0);
    eddy_buf_puts(out, ",\"source\":{\"topic\":");
    if (topic)
        eddy_buf_json_str(out, topic, strlen(topic));
    else
        eddy_buf_puts(out, "null");
    eddy_buf_printf(out, ",\"partition\":%d,\"offset\":", (int)partition);
    eddy_buf_json_i64(out, offset);
    if (eddy_utf8_valid(raw, raw_len)) {
        eddy_buf_puts(out, "},\"raw\":");
        eddy_buf_json_str(out, raw, raw_len);
    } else {
        eddy_buf_puts(out, "},\"raw_base64\":");
        eddy_buf_json_base64(out, raw, raw_len);
    }
    eddy_buf_putc(out, '}');
}
