/*
 * fs.c - see fs.h.
 */
#include "core/fs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/log.h"

/* One walk from the root; *vanished when a level was missing at its turn. */
static eddy_err_t walk(char *path, const char *subsystem, bool *vanished)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            if (errno == ENOENT) { /* its parent was removed after we made it */
                *vanished = true;
                *p = saved;
                return EDDY_EIO;
            }
            eddy_log(EDDY_LOG_ERROR, subsystem, "cannot create directory '%s': %s", path,
                     strerror(errno));
            return EDDY_EIO;
        }
        *p = saved;
        if (saved == '\0')
            return EDDY_OK;
    }
}

eddy_err_t eddy_mkdirs(const char *dir, const char *subsystem)
{
    char *path = eddy_strdup(dir);
    if (!path)
        return EDDY_ENOMEM;
    eddy_err_t err = EDDY_EIO;
    bool vanished = true;
    for (int attempt = 0; err && vanished && attempt < 3; attempt++) {
        vanished = false;
        err = walk(path, subsystem, &vanished);
    }
    if (err && vanished)
        eddy_log(EDDY_LOG_ERROR, subsystem, "cannot create directory '%s': %s", dir,
                 "a parent directory keeps disappearing");
    eddy_free(path);
    return err;
}
