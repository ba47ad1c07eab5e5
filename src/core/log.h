/*
 * log.h - one line per event on stderr: "<rfc3339 time> <level> <subsystem>: msg".
 *
 * The threshold comes from EDDY_LOG (error|warn|info|debug, default info) or
 * eddy_log_set_level(). Thread-safe: each line is written with one fputs.
 */
#ifndef EDDY_CORE_LOG_H
#define EDDY_CORE_LOG_H

enum eddy_log_level {
    EDDY_LOG_ERROR = 0,
    EDDY_LOG_WARN,
    EDDY_LOG_INFO,
    EDDY_LOG_DEBUG,
};

void eddy_log_set_level(enum eddy_log_level level);
int eddy_log_enabled(enum eddy_log_level level);
void eddy_log(enum eddy_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
