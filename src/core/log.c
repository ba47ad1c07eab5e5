/*
 * log.c - stderr logger; see log.h.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int threshold = -1;

static const char *names[] = {"error", "warn", "info", "debug"};

static int threshold_from_env(void)
{
    const char *env = getenv("EDDY_LOG");
    if (env)
        for (int i = 0; i < 4; i++)
            if (strcmp(env, names[i]) == 0)
                return i;
    return EDDY_LOG_INFO;
}

void eddy_log_set_level(enum eddy_log_level level)
{
    threshold = (int)level;
}

int eddy_log_enabled(enum eddy_log_level level)
{
    if (threshold < 0)
        threshold = threshold_from_env();
    return (int)level <= threshold;
}

void eddy_log(enum eddy_log_level level, const char *subsystem, const char *fmt, ...)
{
    if (!eddy_log_enabled(level))
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level], subsystem);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    if (len + 2 > sizeof line)
        len = sizeof line - 2;
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
