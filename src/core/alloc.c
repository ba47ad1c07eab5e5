/*
 * alloc.c - allocation wrapper with failure injection; see alloc.h.
 */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#ifdef EDDY_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static unsigned long fail_countdown;
_Thread_local unsigned long eddy__alloc_events;

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

#ifdef EDDY_JEMALLOC
/* Read by jemalloc at start-up (MALLOC_CONF in the environment adds to it).
 * Two arenas: eddy has one processing thread and a few librdkafka threads on
 * small machines, and every arena keeps freed pages of its own (8 arenas by
 * default on 2 cores: +5 MB peak RSS over a 2M-event backlog). Freed pages go
 * back to the kernel after 1 s instead of 10 s. */
const char *malloc_conf = "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

void eddy_allocator(char *buf, size_t size)
{
#ifdef EDDY_JEMALLOC
    const char *version = NULL;
    size_t len = sizeof version;
    if (mallctl("version", &version, &len, NULL, 0) == 0 && version)
        snprintf(buf, size, "jemalloc %s", version);
    else
        snprintf(buf, size, "jemalloc");
#else
    snprintf(buf, size, "libc");
#endif
}

void eddy_alloc_fail_at(unsigned long nth)
{
    fail_countdown = nth;
}

void *eddy_malloc(size_t size)
{
    eddy__alloc_events++;
    return should_fail() ? NULL : malloc(size ? size : 1);
}

void *eddy_calloc(size_t n, size_t size)
{
    eddy__alloc_events++;
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *eddy_realloc(void *ptr, size_t size)
{
    eddy__alloc_events++;
    return should_fail() ? NULL : realloc(ptr, size ? size : 1);
}

void eddy_free(void *ptr)
{
    eddy__alloc_events++;
    free(ptr);
}

char *eddy_strndup(const char *s, size_t n)
{
    char *copy = eddy_malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

char *eddy_strdup(const char *s)
{
    return s ? eddy_strndup(s, strlen(s)) : NULL;
}

bool eddy_array_reserve(void *items_ptr, size_t *cap, size_t need, size_t size, size_t initial)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : (initial ? initial : 1);
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return false;
        n *= 2;
    }
    void *items;
    memcpy(&items, items_ptr, sizeof items);
    void *grown = eddy_realloc(items, n * size);
    if (!grown)
        return false;
    memcpy(items_ptr, &grown, sizeof grown);
    *cap = n;
    return true;
}
