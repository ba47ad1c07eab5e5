/*
 * kvmap.h - a key-value "state store" for unit tests of task persistence:
 * eddy__task_changes() writes into it (kv_put, kv_closed as the callbacks of
 * struct eddy_task_changes), a test reads it back with eddy__task_load().
 * A linear map: fine for test sizes. Shared by test_task_state.c,
 * test_late.c and test_alert.c.
 */
#ifndef EDDY_TESTS_UNIT_KVMAP_H
#define EDDY_TESTS_UNIT_KVMAP_H

#include <stdlib.h>
#include <string.h>

#include "eddy/err.h"
#include "state/be64.h"

struct kv {
    char *store;
    unsigned char *key, *value;
    size_t key_len, value_len;
};

struct kvmap {
    struct kv *items;
    size_t n, cap;
    size_t closed_calls; /* kv_closed calls seen */
};

static inline struct kv *kv_find(struct kvmap *m, const char *store, const void *key,
                                 size_t len)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->items[i].store, store) == 0 && m->items[i].key_len == len &&
            memcmp(m->items[i].key, key, len) == 0)
            return &m->items[i];
    return NULL;
}

static inline void kv_remove(struct kvmap *m, struct kv *kv)
{
    free(kv->store);
    free(kv->key);
    free(kv->value);
    *kv = m->items[--m->n];
}

/* A put, or with @value NULL a delete. */
static inline eddy_err_t kv_put(void *ctx, const char *store, const void *key, size_t key_len,
                                const void *value, size_t value_len)
{
    struct kvmap *m = ctx;
    struct kv *kv = kv_find(m, store, key, key_len);
    if (!value) {
        if (kv)
            kv_remove(m, kv);
        return EDDY_OK;
    }
    if (!kv) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->items = realloc(m->items, m->cap * sizeof *m->items);
        }
        kv = &m->items[m->n++];
        *kv = (struct kv){strdup(store), malloc(key_len ? key_len : 1), NULL, key_len, 0};
        memcpy(kv->key, key, key_len);
    }
    free(kv->value);
    kv->value = malloc(value_len ? value_len : 1);
    memcpy(kv->value, value, value_len);
    kv->value_len = value_len;
    return EDDY_OK;
}

/* A dropped window: deletes the keys of @store starting with its start. */
static inline eddy_err_t kv_closed(void *ctx, const char *store, int64_t start)
{
    struct kvmap *m = ctx;
    m->closed_calls++;
    for (size_t i = 0; i < m->n;) {
        struct kv *kv = &m->items[i];
        if (strcmp(kv->store, store) == 0 && kv->key_len >= 8 && eddy__be64_get(kv->key) == start)
            kv_remove(m, kv);
        else
            i++;
    }
    return EDDY_OK;
}

static inline void kv_release(struct kvmap *m)
{
    while (m->n)
        kv_remove(m, &m->items[0]);
    free(m->items);
    *m = (struct kvmap){0};
}

#endif
