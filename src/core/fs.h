/*
 * fs.h - filesystem helpers shared by the state store and the archive.
 */
#ifndef EDDY_CORE_FS_H
#define EDDY_CORE_FS_H

#include "eddy/err.h"

/*
 * mkdir -p @dir (mode 0755). A directory that vanishes between two levels
 * (`eddy archive prune` removing an emptied partition) is made again: the
 * walk restarts, at most three times. EDDY_EIO with a log line "cannot
 * create directory '<path>': <reason>" under @subsystem; EDDY_ENOMEM.
 */
eddy_err_t eddy_mkdirs(const char *dir, const char *subsystem);

#endif
