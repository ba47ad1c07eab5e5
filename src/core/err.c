/*
 * err.c - names, messages and retriability of eddy_err_t, from the one
 * X-macro table in eddy/err.h.
 */
#include "eddy/err.h"

#include <stddef.h>

struct err_info {
    const char *name;
    const char *message;
    bool retriable;
};

static const struct err_info infos[] = {
#define EDDY_ERR_INFO_(n, r, m) {"EDDY_" #n, m, r},
    EDDY_ERRORS(EDDY_ERR_INFO_)
#undef EDDY_ERR_INFO_
};

static const struct err_info *info(eddy_err_t err)
{
    if ((int)err < 0 || err >= EDDY_ERR__COUNT)
        return NULL;
    return &infos[err];
}

const char *eddy_err_name(eddy_err_t err)
{
    return info(err) ? info(err)->name : "EDDY_UNKNOWN";
}

const char *eddy_err_message(eddy_err_t err)
{
    return info(err) ? info(err)->message : "unknown error";
}

bool eddy_err_retriable(eddy_err_t err)
{
    return info(err) ? info(err)->retriable : false;
}
