/*
 * session.c - see session.h.
 *
 * The heap is lazy: a session that grows keeps its place (a sift per
 * record is about log2(sessions) cache misses); only when it comes to the
 * top with an end the heap does not know is it placed again. A session is popped when its known end is its end and
 * it is closed, so sessions still come out in (end, key) order: every other
 * session's end is at least its known end.
 *
 * Invariants: the sessions of one key are disjoint and more than the gap
 * apart once merging is done, so the key's list is sorted by start and by
 * end alike; every session is in the heap exactly once (session.at is its
 * index) and in its key's list exactly once; a table slot is never an empty
 * list. Closed sessions (end < close time) may linger between the record that
 * closed them and the advance that emits them: they take no records.
 */
#include "ops/session.h"

#include <stdlib.h>
#include <string.h>

#include "agg/acc.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/time.h"
#include "state/be64.h"

#define NONE INT64_MIN
#define HEADER_BYTES 15 /* format, n accumulators, be64 end, flags, be32 held */

struct session {
    uint64_t hash;        /* of the group key */
    struct session *next; /* the key's next session by start */
    int64_t start, end;
    int64_t stored_start; /* start of its persisted state key; NONE: not persisted */
    size_t at;            /* index in the heap */
    int64_t due;          /* the end the heap orders it by: its end when it was last
                           * placed (ends only grow, so due <= end; see advance) */
    int64_t *held;        /* emit updates: windows downstream holds, start/end pairs */
    uint32_t n_held, cap_held;
    uint32_t key_len;
    uint32_t sketch_bytes; /* eddy_acc_memory of its accumulators, as accounted */
    bool dirty;            /* changed since its last emission (emit updates) */
    bool changed;          /* changed since the last changes() */
    unsigned char *key;    /* after the accumulators, in this allocation */
    struct eddy_acc accs[];
};

struct eddy_session_store {
    const struct eddy_aggregation *agg;
    int64_t gap_ms, grace_ms;
    const struct eddy_acc_def *accs;
    size_t n_accs;
    struct session **slots; /* by group key: the key's first session */
    size_t cap, keys;
    struct session **heap; /* every session, by (due, key, start) */
    size_t n, cap_heap;
    int64_t next_update; /* stream time of the next update emission */
    bool persisting;     /* set by the first changes() */
    bool export;
    struct eddy_buf dead;    /* state keys to delete at the next changes(): u32 len ‖ key */
    struct eddy_buf persist; /* state key and value scratch */
    struct session **sorted; /* emission scratch */
    size_t sorted_cap;
    struct eddy_value *group, *metrics;
    double *errors;
    size_t bytes; /* sessions with malloc overhead, sketches, held windows */
};

#define SESSION_BYTES(ss, key_len)                                                                 \
    (sizeof(struct session) + (ss)->n_accs * sizeof(struct eddy_acc) + (key_len) + 16)

eddy_err_t eddy__session_store_new(const struct eddy_aggregation *agg, int64_t grace_ms,
                                   struct eddy_session_store **out)
{
    struct eddy_session_store *ss = eddy_calloc(1, sizeof *ss);
    if (!ss)
        return EDDY_ENOMEM;
    ss->agg = agg;
    ss->gap_ms = agg->window.gap_ms;
    ss->grace_ms = grace_ms;
    ss->accs = agg->accs;
    ss->n_accs = agg->n_accs;
    ss->next_update = NONE;
    ss->cap = 16;
    eddy_buf_init(&ss->dead);
    eddy_buf_init(&ss->persist);
    size_t nm = agg->n_metrics ? agg->n_metrics : 1;
    ss->slots = eddy_calloc(ss->cap, sizeof *ss->slots);
    ss->group = eddy_calloc(agg->n_group ? agg->n_group : 1, sizeof *ss->group);
    ss->metrics = eddy_calloc(nm, sizeof *ss->metrics);
    ss->errors = eddy_calloc(nm, sizeof *ss->errors);
    if (!ss->slots || !ss->group || !ss->metrics || !ss->errors) {
        eddy__session_store_free(ss);
        return EDDY_ENOMEM;
    }
    *out = ss;
    return EDDY_OK;
}

static void session_free(struct eddy_session_store *ss, struct session *s)
{
    ss->bytes -= SESSION_BYTES(ss, s->key_len) + s->sketch_bytes + s->cap_held * 16;
    for (size_t a = 0; a < ss->n_accs; a++)
        eddy_acc_release(&s->accs[a], ss->accs[a].kind);
    eddy_free(s->held);
    eddy_free(s);
}

static void free_all(struct eddy_session_store *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        session_free(ss, ss->heap[i]);
    ss->n = 0;
    memset(ss->slots, 0, ss->cap * sizeof *ss->slots);
    ss->keys = 0;
}

void eddy__session_store_free(struct eddy_session_store *ss)
{
    if (!ss)
        return;
    if (ss->slots)
        free_all(ss);
    eddy_free(ss->slots);
    eddy_free(ss->heap);
    eddy_free(ss->sorted);
    eddy_free(ss->group);
    eddy_free(ss->metrics);
    eddy_free(ss->errors);
    eddy_buf_release(&ss->dead);
    eddy_buf_release(&ss->persist);
    eddy_free(ss);
}

void eddy__session_export(struct eddy_session_store *ss)
{
    ss->export = true;
}

size_t eddy__session_count(const struct eddy_session_store *ss)
{
    return ss->n;
}

size_t eddy__session_memory(const struct eddy_session_store *ss)
{
    return ss->bytes + (ss->cap + ss->cap_heap + ss->sorted_cap) * sizeof(struct session *);
}

/* Closed at @stream_time: end < stream time - gap - grace (never before the
 * first record: NONE is below every end + gap + grace). */
static bool closed(const struct eddy_session_store *ss, int64_t end, int64_t stream_time)
{
    return end + ss->gap_ms + ss->grace_ms < stream_time;
}

static int key_cmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

/* Emission order: end, then group key bytes (then start, for a total order). */
static int order(int64_t end_a, const struct session *a, int64_t end_b, const struct session *b)
{
    if (end_a != end_b)
        return end_a < end_b ? -1 : 1;
    int c = key_cmp(a->key, a->key_len, b->key, b->key_len);
    return c ? c : (a->start > b->start) - (a->start < b->start);
}

static int cmp_sessions(const void *pa, const void *pb)
{
    const struct session *a = *(struct session *const *)pa, *b = *(struct session *const *)pb;
    return order(a->end, a, b->end, b);
}

/* Heap order: that of the ends the heap knows. */
static bool before(const struct session *a, const struct session *b)
{
    return order(a->due, a, b->due, b) < 0;
}

/* ---- the heap ---- */

static void heap_set(struct eddy_session_store *ss, size_t i, struct session *s)
{
    ss->heap[i] = s;
    s->at = i;
}

static void sift_up(struct eddy_session_store *ss, size_t i)
{
    struct session *s = ss->heap[i];
    while (i > 0 && before(s, ss->heap[(i - 1) / 2])) {
        heap_set(ss, i, ss->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(ss, i, s);
}

static void sift_down(struct eddy_session_store *ss, size_t i)
{
    struct session *s = ss->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= ss->n)
            break;
        if (c + 1 < ss->n && before(ss->heap[c + 1], ss->heap[c]))
            c++;
        if (!before(ss->heap[c], s))
            break;
        heap_set(ss, i, ss->heap[c]);
        i = c;
    }
    heap_set(ss, i, s);
}

static void heap_fix(struct eddy_session_store *ss, struct session *s)
{
    sift_up(ss, s->at);
    sift_down(ss, s->at);
}

static void heap_remove(struct eddy_session_store *ss, struct session *s)
{
    size_t i = s->at;
    struct session *last = ss->heap[--ss->n];
    if (last == s)
        return;
    heap_set(ss, i, last);
    heap_fix(ss, last);
}

/* ---- the key table ---- */

static size_t slot_of(const struct eddy_session_store *ss, uint64_t hash, const void *key,
                      size_t len)
{
    size_t mask = ss->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct session *s = ss->slots[i];
        if (!s || (s->hash == hash && s->key_len == len && memcmp(s->key, key, len) == 0))
            return i;
    }
}

/* Room for one more key (at most 3/4 full). */
static bool table_reserve(struct eddy_session_store *ss)
{
    if ((ss->keys + 1) * 4 <= ss->cap * 3)
        return true;
    size_t cap = ss->cap * 2;
    struct session **slots = eddy_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < ss->cap; i++) {
        struct session *s = ss->slots[i];
        if (!s)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = s;
    }
    eddy_free(ss->slots);
    ss->slots = slots;
    ss->cap = cap;
    return true;
}

/* Empties slot @i, moving later entries of its probe run back so every key
 * stays reachable from its home slot. */
static void table_delete(struct eddy_session_store *ss, size_t i)
{
    size_t mask = ss->cap - 1;
    ss->slots[i] = NULL;
    ss->keys--;
    for (size_t j = (i + 1) & mask; ss->slots[j]; j = (j + 1) & mask) {
        size_t home = ss->slots[j]->hash & mask;
        /* the entry may stay unless the hole lies cyclically in [home, j) */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        ss->slots[i] = ss->slots[j];
        ss->slots[j] = NULL;
        i = j;
    }
}

/* Takes @s out of its key's list (and the table when it was the last). */
static void unlink_session(struct eddy_session_store *ss, struct session *s)
{
    size_t i = slot_of(ss, s->hash, s->key, s->key_len);
    struct session **link = &ss->slots[i];
    while (*link != s)
        link = &(*link)->next;
    *link = s->next;
    if (!ss->slots[i])
        table_delete(ss, i);
}

/* ---- sessions ---- */

static void account(struct eddy_session_store *ss, struct session *s)
{
    size_t m = 0;
    for (size_t a = 0; a < ss->n_accs; a++)
        m += eddy_acc_memory(&s->accs[a], ss->accs[a].kind);
    ss->bytes = ss->bytes - s->sketch_bytes + m;
    s->sketch_bytes = (uint32_t)(m < UINT32_MAX ? m : UINT32_MAX);
}

/* A new session [start, end] of the key at slot @i, in the list and heap. */
static struct session *session_new(struct eddy_session_store *ss, size_t i, uint64_t hash,
                                   const void *key, size_t len, int64_t start, int64_t end)
{
    if (!eddy_array_reserve(&ss->heap, &ss->cap_heap, ss->n + 1, sizeof *ss->heap, 16))
        return NULL;
    struct session *s = eddy_calloc(1, sizeof *s + ss->n_accs * sizeof(struct eddy_acc) + len);
    if (!s)
        return NULL;
    s->hash = hash;
    s->start = start;
    s->end = s->due = end;
    s->stored_start = NONE;
    s->key = (unsigned char *)&s->accs[ss->n_accs];
    s->key_len = (uint32_t)len;
    if (len)
        memcpy(s->key, key, len);
    struct session **link = &ss->slots[i];
    if (!*link)
        ss->keys++;
    while (*link && (*link)->start < start)
        link = &(*link)->next;
    s->next = *link;
    *link = s;
    heap_set(ss, ss->n++, s);
    sift_up(ss, s->at);
    ss->bytes += SESSION_BYTES(ss, len);
    return s;
}

/* Bit 31 of a dead entry's length: the session closed (retired, see
 * struct eddy_window_changes), rather than merged away. */
#define DEAD_CLOSED 0x80000000u

/* A dropped session: its persisted state key is deleted at the next
 * changes(); @closed: it closed (else it was merged into another). */
static eddy_err_t forget(struct eddy_session_store *ss, struct session *s, bool closed)
{
    if (!ss->persisting || s->stored_start == NONE)
        return EDDY_OK;
    unsigned char head[12];
    uint32_t len = 8 + s->key_len, tagged = len | (closed ? DEAD_CLOSED : 0);
    memcpy(head, &tagged, 4);
    eddy__be64_put(head + 4, s->stored_start);
    eddy_buf_append(&ss->dead, head, 12);
    eddy_buf_append(&ss->dead, s->key, s->key_len);
    return eddy_buf_err(&ss->dead);
}

static eddy_err_t hold(struct eddy_session_store *ss, struct session *s, int64_t start, int64_t end)
{
    if (s->n_held == s->cap_held) {
        uint32_t cap = s->cap_held ? s->cap_held * 2 : 1;
        int64_t *held = eddy_realloc(s->held, (size_t)cap * 2 * sizeof *held);
        if (!held)
            return EDDY_ENOMEM;
        ss->bytes += (size_t)(cap - s->cap_held) * 16;
        s->held = held;
        s->cap_held = cap;
    }
    s->held[2 * s->n_held] = start;
    s->held[2 * s->n_held + 1] = end;
    s->n_held++;
    return EDDY_OK;
}

/* Merges @s (already out of its key's list) into @into and drops it. */
static eddy_err_t absorb(struct eddy_session_store *ss, struct session *into, struct session *s)
{
    eddy_err_t err = EDDY_OK;
    heap_remove(ss, s);
    for (size_t a = 0; a < ss->n_accs && !err; a++)
        err = eddy_acc_merge(&into->accs[a], &s->accs[a], ss->accs[a].kind);
    for (uint32_t h = 0; h < s->n_held && !err; h++)
        err = hold(ss, into, s->held[2 * h], s->held[2 * h + 1]);
    if (s->start < into->start)
        into->start = s->start;
    if (s->end > into->end)
        into->end = s->end; /* the heap is lazy: no re-sift */
    account(ss, into);
    if (!err)
        err = forget(ss, s, false);
    session_free(ss, s);
    return err;
}

/* The session of @key covering [start, end]: every open session of the key
 * within the gap of it merged into the first of them, or a new one; *out
 * NULL (late) when there is none and @end is before the close time. The
 * caller adds the data of [start, end] to it. */
static eddy_err_t fold(struct eddy_session_store *ss, const void *key, size_t len, uint64_t hash,
                       int64_t start, int64_t end, int64_t stream_time, struct session **out)
{
    *out = NULL;
    if (!table_reserve(ss))
        return EDDY_ENOMEM;
    size_t i = slot_of(ss, hash, key, len);
    struct session *into = NULL, **link = &ss->slots[i];
    for (struct session *s = *link; s; s = *link) {
        bool joins = !closed(ss, s->end, stream_time) && s->end >= start - ss->gap_ms &&
                     s->start <= end + ss->gap_ms;
        if (!joins || !into) {
            into = joins ? s : into;
            link = &s->next;
            continue;
        }
        *link = s->next; /* the list stays non-empty: @into is in it */
        eddy_err_t err = absorb(ss, into, s);
        if (err)
            return err;
    }
    if (!into) {
        if (closed(ss, end, stream_time))
            return EDDY_OK;
        into = session_new(ss, i, hash, key, len, start, end);
        if (!into)
            return EDDY_ENOMEM;
    }
    if (start < into->start)
        into->start = start;
    if (end > into->end)
        into->end = end; /* the heap is lazy: no re-sift */
    into->dirty = into->changed = true;
    *out = into;
    return EDDY_OK;
}

eddy_err_t eddy__session_add(struct eddy_session_store *ss, const void *key, size_t key_len,
                             uint64_t hash, const struct eddy_value *args, int64_t ts,
                             int64_t stream_time, bool *late)
{
    struct session *s;
    eddy_err_t err = fold(ss, key, key_len, hash, ts, ts, stream_time, &s);
    *late = !err && !s;
    if (err || !s)
        return err;
    for (size_t a = 0; a < ss->n_accs && !err; a++)
        err = eddy_acc_update_pair(&s->accs[a], ss->accs[a].kind, ss->accs[a].arg ? &args[a] : NULL,
                                   &args[ss->n_accs + a]);
    account(ss, s);
    return err;
}

/* ---- persisted form ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* State key then value of @s into ss->persist; the key is its first 8 +
 * key_len bytes. */
static eddy_err_t encode(struct eddy_session_store *ss, const struct session *s)
{
    struct eddy_buf *b = &ss->persist;
    unsigned char head[8 + HEADER_BYTES];
    eddy_buf_reset(b);
    eddy__be64_put(head, s->start);
    eddy_buf_append(b, head, 8);
    eddy_buf_append(b, s->key, s->key_len);
    head[0] = EDDY_WINDOW_ROW_FORMAT_SESSION;
    head[1] = (unsigned char)ss->n_accs;
    eddy__be64_put(head + 2, s->end);
    head[10] = s->dirty && ss->agg->emit.updates;
    put_be32(head + 11, s->n_held);
    eddy_buf_append(b, head, HEADER_BYTES);
    for (uint32_t h = 0; h < 2 * s->n_held; h++) {
        eddy__be64_put(head, s->held[h]);
        eddy_buf_append(b, head, 8);
    }
    for (size_t a = 0; a < ss->n_accs; a++) {
        eddy_err_t err = eddy_acc_encode(&s->accs[a], ss->accs[a].kind, b);
        if (err)
            return err;
    }
    return eddy_buf_err(b);
}

bool eddy__session_value_accs(const void *value, size_t value_len, size_t *offset)
{
    const unsigned char *v = value;
    if (value_len < HEADER_BYTES || v[0] != EDDY_WINDOW_ROW_FORMAT_SESSION)
        return false;
    uint32_t held = get_be32(v + 11);
    if (held > (value_len - HEADER_BYTES) / 16)
        return false;
    *offset = HEADER_BYTES + (size_t)held * 16;
    return true;
}

struct decoded {
    int64_t start, end;
    const unsigned char *group; /* encoded group key */
    size_t group_len;
    bool dirty;
    const unsigned char *held; /* n_held pairs of be64 */
    uint32_t n_held;
    const unsigned char *accs;
    size_t accs_len;
};

static eddy_err_t decode(const struct eddy_session_store *ss, const void *key, size_t key_len,
                         const void *value, size_t value_len, struct decoded *d)
{
    const unsigned char *v = value;
    size_t offset;
    if (key_len < 8 || !eddy__session_value_accs(value, value_len, &offset) || v[1] != ss->n_accs)
        return EDDY_EPARSE;
    d->start = eddy__be64_get(key);
    d->group = (const unsigned char *)key + 8;
    d->group_len = key_len - 8;
    d->end = eddy__be64_get(v + 2);
    d->dirty = v[10] & 1;
    d->n_held = get_be32(v + 11);
    d->held = v + HEADER_BYTES;
    d->accs = v + offset;
    d->accs_len = value_len - offset;
    if (d->start < 0 || d->end < d->start || d->end > INT64_MAX / 4 || (v[10] & ~1) ||
        !eddy__group_key_decode(d->group, d->group_len, ss->agg->n_group, ss->group))
        return EDDY_EPARSE;
    return EDDY_OK;
}

/* Adds (@merge) or sets the encoded accumulators to those of @s. */
static eddy_err_t decode_accs(struct eddy_session_store *ss, struct session *s,
                              const unsigned char *p, size_t len, bool merge)
{
    size_t pos = 0;
    eddy_err_t err = EDDY_OK;
    for (size_t a = 0; a < ss->n_accs && !err; a++) {
        struct eddy_acc acc;
        size_t used = 0;
        eddy_acc_init(&acc);
        err = eddy_acc_decode(&acc, ss->accs[a].kind, p + pos, len - pos, &used);
        if (!err && merge)
            err = eddy_acc_merge(&s->accs[a], &acc, ss->accs[a].kind);
        if (!err && !merge) {
            eddy_acc_release(&s->accs[a], ss->accs[a].kind);
            s->accs[a] = acc;
            eddy_acc_init(&acc);
        }
        eddy_acc_release(&acc, ss->accs[a].kind);
        pos += used;
    }
    if (!err && pos != len)
        err = EDDY_EPARSE;
    account(ss, s);
    return err;
}

eddy_err_t eddy__session_changes(struct eddy_session_store *ss,
                                 const struct eddy_window_changes *changes)
{
    ss->persisting = true;
    eddy_err_t err = EDDY_OK;
    /* deletes first: a put of the same key in this round must win */
    for (size_t pos = 0; pos < ss->dead.len && !err;) {
        uint32_t len;
        memcpy(&len, ss->dead.data + pos, 4);
        bool closed = len & DEAD_CLOSED;
        len &= ~DEAD_CLOSED;
        const char *key = ss->dead.data + pos + 4;
        err = closed && changes->retire ? changes->retire(changes->ctx, key, len)
                                        : changes->put(changes->ctx, key, len, NULL, 0);
        pos += 4 + len;
    }
    eddy_buf_reset(&ss->dead);
    for (size_t i = 0; i < ss->n && !err; i++) {
        struct session *s = ss->heap[i];
        if (!s->changed || s->stored_start == NONE || s->stored_start == s->start)
            continue;
        unsigned char be[8];
        eddy_buf_reset(&ss->persist);
        eddy__be64_put(be, s->stored_start);
        eddy_buf_append(&ss->persist, be, 8);
        eddy_buf_append(&ss->persist, s->key, s->key_len);
        err = eddy_buf_err(&ss->persist);
        if (!err)
            err = changes->put(changes->ctx, ss->persist.data, ss->persist.len, NULL, 0);
    }
    for (size_t i = 0; i < ss->n && !err; i++) {
        struct session *s = ss->heap[i];
        if (!s->changed || (err = encode(ss, s)))
            continue;
        size_t key_len = 8 + s->key_len;
        err = changes->put(changes->ctx, ss->persist.data, key_len, ss->persist.data + key_len,
                           ss->persist.len - key_len);
        s->stored_start = s->start;
        s->changed = false;
    }
    return err;
}

eddy_err_t eddy__session_load(struct eddy_session_store *ss, const void *key, size_t key_len,
                              const void *value, size_t value_len, int64_t stream_time)
{
    struct decoded d;
    eddy_err_t err = decode(ss, key, key_len, value, value_len, &d);
    if (err || closed(ss, d.end, stream_time))
        return err;
    if (!table_reserve(ss))
        return EDDY_ENOMEM;
    uint64_t hash = eddy_hash64(d.group, d.group_len, 0);
    struct session *s = session_new(ss, slot_of(ss, hash, d.group, d.group_len), hash, d.group,
                                    d.group_len, d.start, d.end);
    if (!s)
        return EDDY_ENOMEM;
    s->stored_start = d.start;
    s->dirty = d.dirty;
    for (uint32_t h = 0; h < d.n_held && !err; h++)
        err = hold(ss, s, eddy__be64_get(d.held + 16 * h), eddy__be64_get(d.held + 16 * h + 8));
    if (!err)
        err = decode_accs(ss, s, d.accs, d.accs_len, false);
    /* the next update emission, as a store that never stopped has it */
    int64_t interval = ss->agg->emit.update_interval_ms;
    if (!err && ss->agg->emit.updates && interval > 0 && ss->next_update == NONE &&
        stream_time != NONE)
        ss->next_update = (eddy_floor_div(stream_time, interval) + 1) * interval;
    return err;
}

eddy_err_t eddy__session_merge(struct eddy_session_store *ss, const void *key, size_t key_len,
                               const void *value, size_t value_len, int64_t stream_time, bool *late)
{
    struct decoded d;
    struct session *s = NULL;
    eddy_err_t err = decode(ss, key, key_len, value, value_len, &d);
    if (!err)
        err = fold(ss, d.group, d.group_len, eddy_hash64(d.group, d.group_len, 0), d.start, d.end,
                   stream_time, &s);
    *late = !err && !s;
    if (err || !s)
        return err;
    return decode_accs(ss, s, d.accs, d.accs_len, true);
}

eddy_err_t eddy__session_ship(struct eddy_session_store *ss,
                              eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                               const void *value, size_t value_len),
                              void *ctx)
{
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < ss->n && !err; i++) {
        const struct session *s = ss->heap[i];
        if ((err = encode(ss, s)))
            break;
        size_t key_len = 8 + s->key_len;
        err = fn(ctx, ss->persist.data, key_len, ss->persist.data + key_len,
                 ss->persist.len - key_len);
    }
    free_all(ss);
    return err;
}

/* ---- emission ---- */

static eddy_err_t emit_window(struct eddy_session_store *ss, const struct session *s, int64_t start,
                              int64_t end, bool final, bool retracted, eddy_window_emit_fn emit,
                              void *ctx)
{
    const struct eddy_aggregation *agg = ss->agg;
    if (!eddy__group_key_decode(s->key, s->key_len, agg->n_group, ss->group))
        return EDDY_ESTATE;
    if (retracted)
        eddy__window_empty_metrics(agg, ss->metrics, ss->errors);
    else
        eddy__window_metrics(agg, s->accs, ss->metrics, ss->errors);
    struct eddy_window_row row = {
        .window_start = start,
        .window_end = end,
        .key = s->key,
        .key_len = s->key_len,
        .group = ss->group,
        .metrics = ss->metrics,
        .errors = ss->errors,
        .final = final,
        .retracted = retracted,
    };
    if (ss->export && final) {
        eddy_err_t err = encode(ss, s);
        if (err)
            return err;
        row.state_key = ss->persist.data;
        row.state_key_len = 8 + s->key_len;
        row.state_value = ss->persist.data + row.state_key_len;
        row.state_value_len = ss->persist.len - row.state_key_len;
    }
    return emit(ctx, agg, &row);
}

/* Emits @s (final at its close, else as an update), after retracting the
 * windows downstream holds for it that are not its window now. */
static eddy_err_t emit_session(struct eddy_session_store *ss, struct session *s, bool final,
                               eddy_window_emit_fn emit, void *ctx)
{
    eddy_err_t err = EDDY_OK;
    for (uint32_t h = 0; h < s->n_held && !err; h++)
        if (s->held[2 * h] != s->start || s->held[2 * h + 1] != s->end)
            err = emit_window(ss, s, s->held[2 * h], s->held[2 * h + 1], false, true, emit, ctx);
    s->n_held = 0;
    s->dirty = false;
    if (!err && !final) {
        s->changed = true; /* what it holds and its dirty flag persist */
        err = hold(ss, s, s->start, s->end);
    }
    return err ? err : emit_window(ss, s, s->start, s->end, final, false, emit, ctx);
}

static eddy_err_t emit_updates(struct eddy_session_store *ss, int64_t stream_time,
                               eddy_window_emit_fn emit, void *ctx)
{
    int64_t interval = ss->agg->emit.update_interval_ms;
    if (!ss->agg->emit.updates || interval <= 0 || stream_time < ss->next_update)
        return EDDY_OK;
    bool first = ss->next_update == NONE;
    ss->next_update = (eddy_floor_div(stream_time, interval) + 1) * interval;
    if (first)
        return EDDY_OK;
    if (ss->n > ss->sorted_cap) {
        struct session **sorted = eddy_realloc(ss->sorted, ss->n * sizeof *sorted);
        if (!sorted)
            return EDDY_ENOMEM;
        ss->sorted = sorted;
        ss->sorted_cap = ss->n;
    }
    size_t n = 0;
    for (size_t i = 0; i < ss->n; i++)
        if (ss->heap[i]->dirty)
            ss->sorted[n++] = ss->heap[i];
    qsort(ss->sorted, n, sizeof *ss->sorted, cmp_sessions);
    for (size_t i = 0; i < n; i++) {
        eddy_err_t err = emit_session(ss, ss->sorted[i], false, emit, ctx);
        if (err)
            return err;
    }
    return EDDY_OK;
}

eddy_err_t eddy__session_advance(struct eddy_session_store *ss, int64_t stream_time, bool flush,
                                 eddy_window_emit_fn emit, void *ctx)
{
    while (ss->n) {
        struct session *s = ss->heap[0];
        if (!flush && !closed(ss, s->due, stream_time))
            break;              /* every end is at least this known end: none is closed */
        if (s->due != s->end) { /* grew since it was placed */
            s->due = s->end;
            sift_down(ss, 0);
            continue;
        }
        heap_remove(ss, s);
        unlink_session(ss, s);
        eddy_err_t err = emit_session(ss, s, true, emit, ctx);
        if (!err)
            err = forget(ss, s, true);
        session_free(ss, s);
        if (err)
            return err;
    }
    return flush ? EDDY_OK : emit_updates(ss, stream_time, emit, ctx);
}
