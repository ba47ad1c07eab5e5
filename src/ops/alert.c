/*
 * alert.c - see alert.h. The firing set of each alert is a small
 * open-addressing table of owned key copies; a resolved key is removed by
 * backward-shift deletion.
 */
#include "ops/alert.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"

struct firing_key {
    uint64_t hash;
    size_t len;
    unsigned char *bytes; /* owned; NULL = empty slot */
};

struct firing_set {
    struct firing_key *slots;
    size_t cap, count;
};

struct eddy_alert_state {
    const struct eddy_plan *plan;
    struct firing_set *sets; /* one per alert */
    bool journaling;
    struct eddy_buf journal; /* per transition: firing byte, u32 length, state key */
    struct eddy_value *scope; /* group values + metrics of the widest aggregation */
};

eddy_err_t eddy__alert_state_new(const struct eddy_plan *plan, struct eddy_alert_state **out)
{
    struct eddy_alert_state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    st->plan = plan;
    size_t widest = 1;
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        size_t w = plan->aggregations[a].n_group + plan->aggregations[a].n_metrics;
        if (w > widest)
            widest = w;
    }
    st->sets = eddy_calloc(plan->n_alerts ? plan->n_alerts : 1, sizeof *st->sets);
    st->scope = eddy_calloc(widest, sizeof *st->scope);
    if (!st->sets || !st->scope) {
        eddy__alert_state_free(st);
        return EDDY_ENOMEM;
    }
    *out = st;
    return EDDY_OK;
}

void eddy__alert_state_free(struct eddy_alert_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; st->sets && i < st->plan->n_alerts; i++) {
        for (size_t k = 0; k < st->sets[i].cap; k++)
            eddy_free(st->sets[i].slots[k].bytes);
        eddy_free(st->sets[i].slots);
    }
    eddy_free(st->sets);
    eddy_free(st->scope);
    eddy_buf_release(&st->journal);
    eddy_free(st);
}

static size_t probe(const struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    size_t mask = set->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct firing_key *k = &set->slots[i];
        if (!k->bytes || (k->hash == hash && k->len == len && memcmp(k->bytes, key, len) == 0))
            return i;
    }
}

static bool set_contains(const struct firing_set *set, uint64_t hash, const void *key,
                         size_t len)
{
    return set->cap && set->slots[probe(set, hash, key, len)].bytes;
}

static eddy_err_t set_add(struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    if ((set->count + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct firing_key *slots = eddy_calloc(cap, sizeof *slots);
        if (!slots)
            return EDDY_ENOMEM;
        struct firing_set bigger = {slots, cap, set->count};
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i].bytes)
                slots[probe(&bigger, set->slots[i].hash, set->slots[i].bytes,
                            set->slots[i].len)] = set->slots[i];
        eddy_free(set->slots);
        *set = bigger;
    }
    unsigned char *copy = eddy_malloc(len ? len : 1);
    if (!copy)
        return EDDY_ENOMEM;
    memcpy(copy, key, len);
    set->slots[probe(set, hash, key, len)] = (struct firing_key){hash, len, copy};
    set->count++;
    return EDDY_OK;
}

static void set_remove(struct firing_set *set, uint64_t hash, const void *key, size_t len)
{
    size_t mask = set->cap - 1, i = probe(set, hash, key, len);
    eddy_free(set->slots[i].bytes);
    set->slots[i] = (struct firing_key){0};
    set->count--;
    /* backward-shift the run after the hole so probes stay unbroken */
    for (size_t j = (i + 1) & mask; set->slots[j].bytes; j = (j + 1) & mask) {
        size_t home = set->slots[j].hash & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            set->slots[i] = set->slots[j];
            set->slots[j] = (struct firing_key){0};
            i = j;
        }
    }
}

eddy_err_t eddy__alert_on_row(struct eddy_alert_state *st, size_t agg_index,
                              const struct eddy_window_row *row, eddy_alert_emit_fn emit,
                              void *ctx)
{
    const struct eddy_plan *plan = st->plan;
    const struct eddy_aggregation *agg = &plan->aggregations[agg_index];
    bool scoped = false;
    for (size_t i = 0; i < plan->n_alerts; i++) {
        const struct eddy_alert *alert = &plan->alerts[i];
        if (alert->aggregation != agg_index)
            continue;
        if (!scoped) {
            memcpy(st->scope, row->group, agg->n_group * sizeof *st->scope);
            memcpy(st->scope + agg->n_group, row->metrics, agg->n_metrics * sizeof *st->scope);
            scoped = true;
        }
        struct eddy_eval_ctx ectx = {.slots = st->scope};
        struct eddy_value result;
        eddy_expr_eval(alert->when, &ectx, &result);
        bool condition = eddy_value_truthy(&result);
        uint64_t hash = eddy_hash64(row->key, row->key_len, 0);
        bool firing = set_contains(&st->sets[i], hash, row->key, row->key_len);
        if (condition == firing)
            continue;
        eddy_err_t err = condition ? set_add(&st->sets[i], hash, row->key, row->key_len)
                                   : (set_remove(&st->sets[i], hash, row->key, row->key_len),
                                      EDDY_OK);
        if (!err && st->journaling) {
            uint32_t len = (uint32_t)(strlen(alert->name) + 1 + row->key_len);
            unsigned char firing = condition;
            eddy_buf_append(&st->journal, &firing, 1);
            eddy_buf_append(&st->journal, &len, 4);
            eddy_buf_append(&st->journal, alert->name, strlen(alert->name) + 1);
            eddy_buf_append(&st->journal, row->key, row->key_len);
            err = eddy_buf_err(&st->journal);
        }
        if (!err)
            err = emit(ctx, alert, condition, agg, row);
        if (err)
            return err;
    }
    return EDDY_OK;
}

size_t eddy__alert_firing(const struct eddy_alert_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->plan->n_alerts; i++)
        n += st->sets[i].count;
    return n;
}

eddy_err_t eddy__alert_changes(struct eddy_alert_state *st,
                               eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                                bool firing),
                               void *ctx)
{
    st->journaling = true;
    size_t pos = 0;
    while (pos + 5 <= st->journal.len) {
        uint32_t len;
        bool firing = st->journal.data[pos] != 0;
        memcpy(&len, st->journal.data + pos + 1, 4);
        eddy_err_t err = fn(ctx, st->journal.data + pos + 5, len, firing);
        if (err)
            return err;
        pos += 5 + len;
    }
    eddy_buf_reset(&st->journal);
    return EDDY_OK;
}

eddy_err_t eddy__alert_load(struct eddy_alert_state *st, const void *key, size_t key_len)
{
    const char *name = key;
    size_t name_len = strnlen(name, key_len);
    if (name_len == key_len)
        return EDDY_EPARSE;
    const unsigned char *group = (const unsigned char *)key + name_len + 1;
    size_t group_len = key_len - name_len - 1;
    for (size_t i = 0; i < st->plan->n_alerts; i++) {
        if (strlen(st->plan->alerts[i].name) != name_len ||
            memcmp(st->plan->alerts[i].name, name, name_len) != 0)
            continue;
        uint64_t hash = eddy_hash64(group, group_len, 0);
        if (set_contains(&st->sets[i], hash, group, group_len))
            return EDDY_OK;
        return set_add(&st->sets[i], hash, group, group_len);
    }
    return EDDY_OK; /* an alert removed from the topology */
}
