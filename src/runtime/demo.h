/*
 * demo.h - `eddy demo`: the service-health topology over generated logs,
 * printed as a live table as windows close. No Kafka needed.
 */
#ifndef EDDY_RUNTIME_DEMO_H
#define EDDY_RUNTIME_DEMO_H

#include <signal.h>

#include "eddy/err.h"

struct eddy_demo_opts {
    int seconds; /* stop after this many seconds; 0 = until *stop */
    double rate; /* generated events per wall-clock second */
    const char *http; /* serve the status page and API here (NULL: no) */
};

eddy_err_t eddy__demo_run(const struct eddy_demo_opts *opts, volatile sig_atomic_t *stop);

#endif
