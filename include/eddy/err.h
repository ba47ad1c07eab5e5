/*
 * eddy/err.h - the one error convention of eddy.
 *
 * Every fallible function returns eddy_err_t; 0 (EDDY_OK) is success. The
 * codes come from one X-macro table that also yields each code's name, its
 * message and whether retrying the same call can succeed (retriable) or the
 * caller must give up or rebuild (fatal). EDDY_EAGAIN is backpressure, not a
 * failure.
 */
#ifndef EDDY_ERR_H
#define EDDY_ERR_H

#include <stdbool.h>

/* X(name, retriable, message) */
#define EDDY_ERRORS(X)                                                         \
    X(OK, false, "success")                                                    \
    X(EAGAIN, true, "resource busy, try again")                                \
    X(ENOMEM, false, "out of memory")                                          \
    X(EINVAL, false, "invalid argument")                                       \
    X(EIO, true, "input/output error")                                         \
    X(ECONFIG, false, "invalid configuration")                                 \
    X(EPARSE, false, "cannot parse input")                                     \
    X(ENOTFOUND, false, "not found")                                           \
    X(ERANGE, false, "value out of range")                                     \
    X(EKAFKA, true, "kafka error")                                             \
    X(EKAFKA_FATAL, false, "fatal kafka error")                                \
    X(ESTATE, false, "state store error")                                      \
    X(EEOF, false, "end of input")

typedef enum {
#define EDDY_ERR_ENUM_(name, retriable, msg) EDDY_##name,
    EDDY_ERRORS(EDDY_ERR_ENUM_)
#undef EDDY_ERR_ENUM_
        EDDY_ERR__COUNT
} eddy_err_t;

/* "EDDY_EIO" style name of a code; "EDDY_UNKNOWN" for out-of-range codes. */
const char *eddy_err_name(eddy_err_t err);
/* Human message of a code, lowercase. */
const char *eddy_err_message(eddy_err_t err);
/* Whether calling again may succeed. */
bool eddy_err_retriable(eddy_err_t err);

#endif
