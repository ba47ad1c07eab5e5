/*
 * alloc.h - the one allocation wrapper of eddy.
 *
 * All heap allocation goes through these functions so that tests can make the
 * Nth allocation fail (eddy_alloc_fail_at). They return NULL on failure like
 * the libc functions; eddy_free accepts NULL.
 */
#ifndef EDDY_CORE_ALLOC_H
#define EDDY_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *eddy_malloc(size_t size);
void *eddy_calloc(size_t n, size_t size);
void *eddy_realloc(void *ptr, size_t size);
void eddy_free(void *ptr);
char *eddy_strdup(const char *s);
char *eddy_strndup(const char *s, size_t n);

/* Grows the array at *@items_ptr (a pointer to the array pointer) of *@cap
 * elements of @size bytes so that it holds at least @need, doubling from
 * @initial. False when out of memory; the array is then unchanged. */
bool eddy_array_reserve(void *items_ptr, size_t *cap, size_t need, size_t size, size_t initial);

/* How many allocations, reallocations and frees the calling thread has made
 * (wrapping): when it did not change across some work, that work changed
 * no heap block, so the sizes it accounts for did not change either (the
 * window store re-measures a row's sketches only then). */
extern _Thread_local unsigned long eddy__alloc_events;
static inline unsigned long eddy_alloc_events(void)
{
    return eddy__alloc_events;
}

/* Writes the allocator behind malloc for the whole process to @buf, e.g.
 * "jemalloc 5.3.0-0-g54eaed1d..." in release builds (CMakeLists.txt links
 * jemalloc unless a sanitizer brings its own allocator), else "libc". */
void eddy_allocator(char *buf, size_t size);

/* Test hook: the @nth allocation from now on (1-based) fails; 0 disables.
 * Not thread-safe; for single-threaded unit tests. */
void eddy_alloc_fail_at(unsigned long nth);

#endif
