/*
 * buf.h - growable byte buffer and the JSON writing primitives used by every
 * producer of JSON (results, alerts, dead letters, plans).
 *
 * A buffer that failed to grow is "poisoned" (oom = true): further appends are
 * no-ops and eddy_buf_err() reports EDDY_ENOMEM once the writer is done, so
 * callers check once instead of after each append.
 */
#ifndef EDDY_CORE_BUF_H
#define EDDY_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eddy/err.h"

struct eddy_buf {
    char *data; /* owned; NUL-terminated when len < cap */
    size_t len;
    size_t cap;
    bool oom;
};

void eddy_buf_init(struct eddy_buf *buf);
void eddy_buf_release(struct eddy_buf *buf);
/* Growth path of eddy_buf_reserve: reallocates or poisons the buffer. */
bool eddy__buf_grow(struct eddy_buf *buf, size_t extra);
static inline void eddy_buf_reset(struct eddy_buf *buf)
{
    buf->len = 0;
    buf->oom = false;
}
static inline eddy_err_t eddy_buf_err(const struct eddy_buf *buf)
{
    return buf->oom ? EDDY_ENOMEM : EDDY_OK;
}
/* Ensures room for @extra more bytes plus a NUL. The appends are inline:
 * results, alerts and dead letters make several per value written. */
static inline bool eddy_buf_reserve(struct eddy_buf *buf, size_t extra)
{
    if (!buf->oom && extra < buf->cap - buf->len) /* len < cap unless both are 0 */
        return true;
    return eddy__buf_grow(buf, extra);
}
static inline void eddy_buf_append(struct eddy_buf *buf, const void *data, size_t len)
{
    if (!eddy_buf_reserve(buf, len))
        return;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}
static inline void eddy_buf_puts(struct eddy_buf *buf, const char *s)
{
    eddy_buf_append(buf, s, strlen(s));
}
static inline void eddy_buf_putc(struct eddy_buf *buf, char c)
{
    if (!eddy_buf_reserve(buf, 1))
        return;
    buf->data[buf->len++] = c;
    buf->data[buf->len] = '\0';
}
void eddy_buf_printf(struct eddy_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* JSON string with quotes. @s must be valid UTF-8 (see eddy_utf8_valid);
 * control characters, '"' and '\\' are escaped. */
void eddy_buf_json_str(struct eddy_buf *buf, const char *s, size_t len);
/* JSON integer. */
void eddy_buf_json_i64(struct eddy_buf *buf, int64_t v);
/* JSON number: shortest "%.17g"-exact form that reads back to the same double
 * (tries %.15g, %.16g, %.17g); non-finite values become null. */
void eddy_buf_json_num(struct eddy_buf *buf, double v);
/* Standard base64 with padding, with quotes. */
void eddy_buf_json_base64(struct eddy_buf *buf, const void *data, size_t len);

/* Whether @s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool eddy_utf8_valid(const char *s, size_t len);

#endif
