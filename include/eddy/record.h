/*
 * eddy/record.h - typed values of one event.
 *
 * A decoded event is an array of eddy_value "slots", one per declared source
 * field followed by one per derived field (see eddy/topology.h). Strings are
 * borrowed: they point into the raw event bytes or the per-event scratch
 * buffer of the decoder, or into the immutable plan (literals, table cells),
 * and stay valid until the next event is decoded. Nothing here allocates.
 */
#ifndef EDDY_RECORD_H
#define EDDY_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum eddy_vtype {
    EDDY_V_NULL = 0, /* absent optional field, or undefined result */
    EDDY_V_BOOL,
    EDDY_V_INT,
    EDDY_V_NUM,
    EDDY_V_STR,
    /* JSON text in as.s (an array): only the result of a top_k metric, never
     * an event value. Expressions order it with nothing (comparisons false,
     * arithmetic NULL, not truthy); results embed it as is. */
    EDDY_V_JSON,
};

struct eddy_str {
    const char *ptr; /* not NUL-terminated */
    uint32_t len;
};

struct eddy_value {
    uint8_t type; /* enum eddy_vtype */
    union {
        bool b;
        int64_t i;
        double n;
        struct eddy_str s;
    } as;
};

static inline struct eddy_value eddy_value_null(void)
{
    struct eddy_value v = {.type = EDDY_V_NULL};
    return v;
}

/* Numeric view of an INT or NUM value; false for other types. */
static inline bool eddy_value_number(const struct eddy_value *v, double *out)
{
    if (v->type == EDDY_V_INT) {
        *out = (double)v->as.i;
        return true;
    }
    if (v->type == EDDY_V_NUM) {
        *out = v->as.n;
        return true;
    }
    return false;
}

/* Truthiness used by count_if, ratio, where and when: only BOOL true, or a
 * non-zero number, is true. NULL is false. */
static inline bool eddy_value_truthy(const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_BOOL: return v->as.b;
    case EDDY_V_INT: return v->as.i != 0;
    case EDDY_V_NUM: return v->as.n != 0.0;
    default: return false;
    }
}

#endif
