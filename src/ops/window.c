/*
 * window.c - see window.h.
 *
 * Layout: the store keeps its windows in an array sorted by start: first the
 * n_retained closed windows kept for late corrections (none without them),
 * then the open ones. Each window owns an open-addressing table of rows keyed
 * by the hash of the encoded group key. A row is one allocation: header,
 * accumulators, key bytes. A retained row carries its revision count (and a
 * pending flag while a correction awaits emission at the next advance).
 *
 * emit_empty (tumbling only): after a window closes, its group keys are kept
 * in bytewise order (prev_keys: per key a u32 length then the bytes; memory
 * bounded by one window's keys), with its start. When the next window by
 * start closes, every kept key without a row in it is emitted as a blank row
 * (empty accumulators), merged into the key order of the real rows. When
 * that next window has no rows at all (it does not exist in the store), it is
 * synthesized once it is closed at stream time, or at end of input when a
 * later window exists: then every kept key is blank, and none are kept
 * after it, so a silent key gets one zero row, in the first window it
 * misses. prev_keys is not persisted: after a restore it starts empty.
 *
 * Session windows live in ops/session.c: each public function hands a
 * session store (ws->sessions) over after what they share (group key
 * encoding and argument evaluation in eddy__window_add).
 */
#include "ops/window.h"

#include <stdlib.h>
#include <string.h>

#include "agg/acc.h"
#include "config/expr.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "ops/session.h"
#include "state/be64.h"

struct row {
    uint64_t hash;
    unsigned char *key; /* points after the accumulators, into this allocation */
    uint32_t key_len;
    bool dirty;   /* changed since last emission (emit updates) */
    bool changed; /* changed since last eddy__window_changes (persistence) */
    bool revised; /* retained window: corrected since its last emission */
    uint32_t revision; /* emissions after the window's close (persisted) */
    uint32_t sketch_bytes; /* eddy_acc_memory of its accumulators, as accounted */
    struct eddy_acc accs[];
    /* followed by key_len key bytes */
};

/* A row table slot keeps the row's hash beside the pointer, so that a probe
 * past another key does not touch (miss on) that key's row. */
struct slot {
    uint64_t hash;
    struct row *row; /* NULL = empty */
};

struct window {
    int64_t start;
    bool revised; /* retained: some row is revised */
    bool evicted; /* some clean rows were freed: the backing store has them */
    struct slot *slots; /* power-of-two table */
    size_t cap;
    size_t count;
};

struct arg_copy {
    size_t arg, slot; /* args[arg] = slots[slot] */
};

struct arg_eval {
    size_t arg; /* args[arg] = the value of expr */
    const struct eddy_expr *expr;
};

/* One accumulator shared by metrics of the same family and argument. */
struct eddy_window_store {
    const struct eddy_aggregation *agg;
    int64_t grace_ms;
    const struct eddy_acc_def *accs; /* the plan's layout */
    size_t n_accs;
    const size_t *metric_acc; /* the plan's: metric index -> acc index */
    struct window *windows;
    size_t n_windows, cap_windows;
    int64_t next_update; /* stream time of the next update emission */
    struct eddy_buf key;  /* encoding scratch */
    struct eddy_value *args; /* per-acc evaluated argument */
    /* eddy__window_prepare_*: the error of encoding the group key into key
     * (returned by eddy__window_add_prepared), the key's hash, and the start
     * of the newest window of the record (one division per record) */
    uint64_t prepared_hash;
    eddy_err_t prepared_err;
    int64_t prepared_start;
    /* how args is filled per record: arguments that are plain fields are
     * copied from their slots, the others evaluated; those of accs without
     * an argument stay NULL */
    struct arg_copy *arg_copies;
    struct arg_eval *arg_evals;
    size_t n_arg_copies, n_arg_evals;
    /* what the accs are updated with: argp[i] is &args[i], or for a plain
     * field the slot itself in argp_slots (the slots array given last: the
     * record's values are read in place, not copied; session stores take
     * copies in args) */
    const struct eddy_value **argp;
    const struct eddy_value *argp_slots;
    /* the accs whose memory can change (sketches, top_k, arg_max strings) */
    size_t *sized_accs;
    size_t n_sized_accs;
    struct row **sorted;     /* emission scratch */
    size_t sorted_cap;
    struct eddy_value *group, *metrics; /* emission scratch */
    double *errors;
    size_t rows, bytes;
    bool persisting; /* set by the first eddy__window_changes (Kafka mode) */
    bool export;     /* emitted rows carry their persisted form */
    /* late corrections (eddy__window_correct): windows[0 .. n_retained) are
     * closed (emitted) and kept until end + grace + correct_ms <= stream
     * time; n_revised counts their rows waiting for a revision */
    int64_t correct_ms;
    size_t n_retained, n_revised;
    int64_t last_closed; /* start of the last window closed, while revising */
    int64_t *closed; /* window starts dropped since the last changes() */
    size_t n_closed, cap_closed;
    struct eddy_buf persist; /* key and value scratch for persistence */
    /* emit_empty: the keys of the last closed window, its start, and a row
     * of empty accumulators whose key points at each blank key in turn */
    struct eddy_buf prev_keys, next_keys;
    size_t n_prev_keys;
    int64_t prev_start;
    struct row *blank;
    /* bounded write cache (eddy__window_backing): where evicted rows are,
     * key and value scratch for reading them, whether a layout has sketches */
    struct eddy_window_backing backing;
    bool has_backing, has_sketches;
    struct eddy_buf bkey, bvalue;
    struct row *streamed; /* a persisted row being emitted (emit_streamed) */
    /* session windows: the sessions (ops/session.h); the fields above that
     * concern windows by start stay unused */
    struct eddy_session_store *sessions;
};

/* Heap bytes of one row as accounted in ws->bytes (malloc overhead included
 * as 16 bytes). */
#define ROW_BYTES(ws, key_len) \
    (sizeof(struct row) + (ws)->n_accs * sizeof(struct eddy_acc) + (key_len) + 16)

eddy_err_t eddy__window_store_new(const struct eddy_aggregation *agg, int64_t grace_ms,
                                  struct eddy_window_store **out)
{
    struct eddy_window_store *ws = eddy_calloc(1, sizeof *ws);
    if (!ws)
        return EDDY_ENOMEM;
    ws->agg = agg;
    ws->grace_ms = grace_ms;
    ws->next_update = INT64_MIN;
    eddy_buf_init(&ws->key);
    eddy_buf_init(&ws->prev_keys);
    eddy_buf_init(&ws->next_keys);
    ws->accs = agg->accs;
    ws->n_accs = agg->n_accs;
    ws->metric_acc = agg->metric_acc;
    eddy_buf_init(&ws->bkey);
    eddy_buf_init(&ws->bvalue);
    eddy_err_t err = EDDY_OK;
    size_t nm = agg->n_metrics ? agg->n_metrics : 1, na = ws->n_accs ? ws->n_accs : 1;
    if (!err) {
        /* args[a], then args[n_accs + a] for the second arguments */
        ws->args = eddy_calloc(2 * na, sizeof *ws->args);
        ws->argp = eddy_calloc(2 * na, sizeof *ws->argp);
        ws->arg_copies = eddy_calloc(2 * na, sizeof *ws->arg_copies);
        ws->arg_evals = eddy_calloc(2 * na, sizeof *ws->arg_evals);
        ws->sized_accs = eddy_calloc(na, sizeof *ws->sized_accs);
        ws->group = eddy_calloc(agg->n_group ? agg->n_group : 1, sizeof *ws->group);
        ws->metrics = eddy_calloc(nm, sizeof *ws->metrics);
        ws->errors = eddy_calloc(nm, sizeof *ws->errors);
        if (!ws->args || !ws->argp || !ws->arg_copies || !ws->arg_evals || !ws->sized_accs ||
            !ws->group || !ws->metrics || !ws->errors)
            err = EDDY_ENOMEM;
    }
    for (size_t a = 0; !err && a < ws->n_accs; a++) {
        const struct eddy_acc_def *def = &ws->accs[a];
        if (def->kind != EDDY_M_COUNT && def->kind != EDDY_M_RATIO && def->kind != EDDY_M_SUM &&
            def->kind != EDDY_M_MIN && def->kind != EDDY_M_MAX) {
            ws->has_sketches = true; /* sketches, top_k summaries, arg_max strings */
            ws->sized_accs[ws->n_sized_accs++] = a;
        }
        for (int second = 0; second < 2; second++) {
            const struct eddy_expr *arg = second ? def->arg2 : def->arg;
            size_t i = second ? ws->n_accs + a : a, slot = arg ? eddy__expr_slot(arg) : SIZE_MAX;
            ws->args[i] = eddy_value_null();
            /* a kind without argument is updated with NULL (COUNT) */
            ws->argp[i] = arg || second ? &ws->args[i] : NULL;
            if (arg && slot != SIZE_MAX)
                ws->arg_copies[ws->n_arg_copies++] = (struct arg_copy){i, slot};
            else if (arg)
                ws->arg_evals[ws->n_arg_evals++] = (struct arg_eval){i, arg};
        }
    }
    if (!err && agg->window.kind == EDDY_WIN_SESSION)
        err = eddy__session_store_new(agg, grace_ms, &ws->sessions);
    if (!err && agg->emit_empty) {
        ws->blank = eddy_calloc(1, sizeof(struct row) + ws->n_accs * sizeof(struct eddy_acc));
        if (!ws->blank)
            err = EDDY_ENOMEM;
        for (size_t a = 0; !err && a < ws->n_accs; a++)
            eddy_acc_init(&ws->blank->accs[a]);
    }
    if (err) {
        eddy__window_store_free(ws);
        return err;
    }
    *out = ws;
    return EDDY_OK;
}

static void row_free(const struct eddy_window_store *ws, struct row *row)
{
    for (size_t a = 0; a < ws->n_accs; a++)
        eddy_acc_release(&row->accs[a], ws->accs[a].kind);
    eddy_free(row);
}

static void window_release(struct eddy_window_store *ws, struct window *w)
{
    for (size_t i = 0; i < w->cap; i++) {
        struct row *r = w->slots[i].row;
        if (r) {
            ws->bytes -= ROW_BYTES(ws, r->key_len) + r->sketch_bytes;
            row_free(ws, r);
        }
    }
    ws->rows -= w->count;
    eddy_free(w->slots);
}

void eddy__window_store_free(struct eddy_window_store *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n_windows; i++)
        window_release(ws, &ws->windows[i]);
    eddy_free(ws->windows);
    eddy_free(ws->args);
    eddy_free(ws->argp);
    eddy_free(ws->arg_copies);
    eddy_free(ws->arg_evals);
    eddy_free(ws->sized_accs);
    eddy_free(ws->sorted);
    eddy_free(ws->group);
    eddy_free(ws->metrics);
    eddy_free(ws->errors);
    eddy_free(ws->closed);
    eddy_buf_release(&ws->key);
    eddy_buf_release(&ws->persist);
    eddy_buf_release(&ws->prev_keys);
    eddy_buf_release(&ws->next_keys);
    eddy_buf_release(&ws->bkey);
    eddy_buf_release(&ws->bvalue);
    eddy_free(ws->streamed);
    eddy_free(ws->blank);
    eddy__session_store_free(ws->sessions);
    eddy_free(ws);
}

/* ---- group keys ---- */

eddy_err_t eddy__group_key_encode(const struct eddy_aggregation *agg,
                                  const struct eddy_value *slots, struct eddy_buf *out)
{
    /* per event and aggregation: size it, reserve once, write in place */
    size_t need = 0;
    for (size_t g = 0; g < agg->n_group; g++) {
        const struct eddy_value *v = &slots[agg->group_slots[g]];
        need += 1 + (v->type == EDDY_V_STR                            ? 4 + (size_t)v->as.s.len
                     : v->type == EDDY_V_INT || v->type == EDDY_V_NUM ? 8
                     : v->type == EDDY_V_BOOL                         ? 1
                                                                      : 0);
    }
    eddy_buf_reset(out);
    /* an empty key still has valid (non-NULL) bytes */
    if (!eddy_buf_reserve(out, need > 16 ? need : 16))
        return EDDY_ENOMEM;
    unsigned char *o = (unsigned char *)out->data;
    for (size_t g = 0; g < agg->n_group; g++) {
        const struct eddy_value *v = &slots[agg->group_slots[g]];
        *o++ = v->type;
        switch (v->type) {
        case EDDY_V_STR: {
            uint32_t len = v->as.s.len;
            o[0] = len & 0xff;
            o[1] = (len >> 8) & 0xff;
            o[2] = (len >> 16) & 0xff;
            o[3] = len >> 24;
            memcpy(o + 4, v->as.s.ptr, len);
            o += 4 + len;
            break;
        }
        case EDDY_V_INT: memcpy(o, &v->as.i, 8); o += 8; break;
        case EDDY_V_NUM: memcpy(o, &v->as.n, 8); o += 8; break;
        case EDDY_V_BOOL: *o++ = v->as.b; break;
        default: break;
        }
    }
    out->len = need;
    return EDDY_OK;
}

bool eddy__group_key_decode(const unsigned char *key, size_t len, size_t n,
                            struct eddy_value *out)
{
    size_t pos = 0;
    for (size_t g = 0; g < n; g++) {
        if (pos >= len)
            return false;
        struct eddy_value *v = &out[g];
        v->type = key[pos++];
        switch (v->type) {
        case EDDY_V_STR: {
            if (len - pos < 4)
                return false;
            uint32_t sl = (uint32_t)key[pos] | (uint32_t)key[pos + 1] << 8 |
                          (uint32_t)key[pos + 2] << 16 | (uint32_t)key[pos + 3] << 24;
            pos += 4;
            if (len - pos < sl)
                return false;
            v->as.s.ptr = (const char *)key + pos;
            v->as.s.len = sl;
            pos += sl;
            break;
        }
        case EDDY_V_INT:
        case EDDY_V_NUM:
            if (len - pos < 8)
                return false;
            memcpy(v->type == EDDY_V_INT ? (void *)&v->as.i : (void *)&v->as.n, key + pos, 8);
            pos += 8;
            break;
        case EDDY_V_BOOL:
            if (len - pos < 1)
                return false;
            v->as.b = key[pos++] != 0;
            break;
        case EDDY_V_NULL: break;
        default: return false;
        }
    }
    return pos == len;
}

/* ---- windows and rows ---- */

static struct window *window_get(struct eddy_window_store *ws, int64_t start)
{
    size_t i = ws->n_windows;
    while (i > 0 && ws->windows[i - 1].start > start)
        i--;
    if (i > 0 && ws->windows[i - 1].start == start)
        return &ws->windows[i - 1];
    if (!eddy_array_reserve(&ws->windows, &ws->cap_windows, ws->n_windows + 1,
                            sizeof *ws->windows, 8))
        return NULL;
    struct slot *slots = eddy_calloc(16, sizeof *slots);
    if (!slots)
        return NULL;
    memmove(&ws->windows[i + 1], &ws->windows[i], (ws->n_windows - i) * sizeof *ws->windows);
    ws->n_windows++;
    ws->windows[i] = (struct window){.start = start, .slots = slots, .cap = 16};
    return &ws->windows[i];
}

/* The window of @start, or NULL; never creates one. */
static const struct window *window_find(const struct eddy_window_store *ws, int64_t start)
{
    for (size_t i = ws->n_windows; i > 0; i--)
        if (ws->windows[i - 1].start <= start)
            return ws->windows[i - 1].start == start ? &ws->windows[i - 1] : NULL;
    return NULL;
}

/* Whether the @len bytes at @a and @b are equal: inline, a word at a time
 * (group keys are short; a call to memcmp cost more than the compare). */
static inline bool key_equal(const unsigned char *a, const unsigned char *b, size_t len)
{
    uint64_t x, y, diff = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    for (; i < len; i++)
        diff |= (uint64_t)(a[i] ^ b[i]);
    return diff == 0;
}

static struct slot *row_slot(struct window *w, uint64_t hash, const void *key, size_t len)
{
    size_t mask = w->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct slot *s = &w->slots[i];
        if (!s->row ||
            (s->hash == hash && s->row->key_len == len && key_equal(s->row->key, key, len)))
            return s;
    }
}

/* Puts @r in the first empty slot from its hash's home in @slots. */
static void slot_put(struct slot *slots, size_t cap, struct row *r)
{
    size_t j = r->hash & (cap - 1);
    while (slots[j].row)
        j = (j + 1) & (cap - 1);
    slots[j] = (struct slot){r->hash, r};
}

static bool window_grow(struct window *w)
{
    size_t cap = w->cap * 2;
    struct slot *slots = eddy_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < w->cap; i++)
        if (w->slots[i].row)
            slot_put(slots, cap, w->slots[i].row);
    eddy_free(w->slots);
    w->slots = slots;
    w->cap = cap;
    return true;
}

static struct row *row_get(struct eddy_window_store *ws, struct window *w, uint64_t hash)
{
    const void *key = ws->key.data;
    size_t len = ws->key.len;
    struct slot *slot = row_slot(w, hash, key, len);
    if (slot->row)
        return slot->row;
    if ((w->count + 1) * 4 > w->cap * 3) {
        if (!window_grow(w))
            return NULL;
        slot = row_slot(w, hash, key, len);
    }
    size_t size = sizeof(struct row) + ws->n_accs * sizeof(struct eddy_acc) + len;
    struct row *r = eddy_calloc(1, size);
    if (!r)
        return NULL;
    r->hash = hash;
    r->key = (unsigned char *)&r->accs[ws->n_accs];
    r->key_len = (uint32_t)len;
    if (len)
        memcpy(r->key, key, len);
    *slot = (struct slot){hash, r};
    w->count++;
    ws->rows++;
    ws->bytes += ROW_BYTES(ws, len);
    return r;
}

/* Re-accounts the sketch memory of @r after its accumulators changed. */
static void row_account(struct eddy_window_store *ws, struct row *r)
{
    if (!ws->has_sketches)
        return;
    size_t m = 0;
    for (size_t i = 0; i < ws->n_sized_accs; i++) {
        size_t a = ws->sized_accs[i];
        m += eddy_acc_memory(&r->accs[a], ws->accs[a].kind);
    }
    ws->bytes = ws->bytes - r->sketch_bytes + m;
    r->sketch_bytes = (uint32_t)(m < UINT32_MAX ? m : UINT32_MAX);
}

static eddy_err_t row_decode(struct eddy_window_store *ws, struct row *r, const void *value,
                             size_t value_len, bool merge);

/* row_get() that, in a window with evicted rows, loads a row missing from
 * memory from the backing store before it is used (then it is clean). */
static eddy_err_t row_fetch(struct eddy_window_store *ws, struct window *w, uint64_t hash,
                            struct row **out)
{
    size_t count = w->count;
    struct row *r = row_get(ws, w, hash);
    *out = r;
    if (!r)
        return EDDY_ENOMEM;
    if (!w->evicted || w->count == count)
        return EDDY_OK;
    unsigned char be[8];
    eddy__be64_put(be, w->start);
    eddy_buf_reset(&ws->bkey);
    eddy_buf_append(&ws->bkey, be, 8);
    eddy_buf_append(&ws->bkey, r->key, r->key_len);
    if (eddy_buf_err(&ws->bkey))
        return EDDY_ENOMEM;
    bool found = false;
    eddy_err_t err = ws->backing.get(ws->backing.ctx, ws->bkey.data, ws->bkey.len, &ws->bvalue,
                                     &found);
    if (!err && found)
        err = row_decode(ws, r, ws->bvalue.data, ws->bvalue.len, false);
    if (!err)
        row_account(ws, r);
    return err;
}

static bool window_closed(const struct eddy_window_store *ws, int64_t start, int64_t stream_time)
{
    int64_t end = start + ws->agg->window.size_ms;
    return end + ws->grace_ms <= stream_time;
}

/* Past the correction horizon (without corrections: closed): a closed window
 * is dropped, and a record for it is late. */
static bool window_expired(const struct eddy_window_store *ws, int64_t start, int64_t stream_time)
{
    int64_t end = start + ws->agg->window.size_ms;
    return end + ws->grace_ms + ws->correct_ms <= stream_time;
}

/* The window of @start, closed at stream time but not expired, made as a
 * retained window when missing. *retained is false when it lies among the
 * open windows (closed at stream time but not yet emitted: only a store that
 * is never advanced, a combining one, has such): it is then updated like an
 * open window. */
static struct window *closed_window_get(struct eddy_window_store *ws, int64_t start,
                                        bool *retained)
{
    size_t n = ws->n_windows;
    struct window *w = window_get(ws, start);
    if (!w)
        return NULL;
    size_t i = (size_t)(w - ws->windows);
    if (ws->n_windows != n && i <= ws->n_retained)
        ws->n_retained++;
    *retained = i < ws->n_retained;
    return w;
}

/* A row of a retained window changed: it is emitted again at the next
 * advance, and persisted at the next changes(). */
static void revise(struct eddy_window_store *ws, struct window *w, struct row *r)
{
    if (!r->revised) {
        r->revised = true;
        ws->n_revised++;
    }
    w->revised = true;
    r->changed = true;
}

void eddy__window_correct(struct eddy_window_store *ws, int64_t correct_within_ms)
{
    if (ws->sessions)
        return; /* a closed session takes no records */
    ws->correct_ms = correct_within_ms > 0 ? correct_within_ms : 0;
}

size_t eddy__window_retained_windows(const struct eddy_window_store *ws)
{
    return ws->n_retained;
}

/* Prefetches the row of the prepared key in the newest window of the
 * record, if that window has it: the whole row, its accumulators and key.
 * The probe reads only slots (a few: a longer run is left to the update). */
static void prefetch_row(const struct eddy_window_store *ws)
{
    const struct window *w = window_find(ws, ws->prepared_start);
    if (!w)
        return;
    uint64_t hash = ws->prepared_hash;
    size_t mask = w->cap - 1;
    for (size_t i = hash & mask, n = 0; n < 8 && w->slots[i].row; i = (i + 1) & mask, n++) {
        if (w->slots[i].hash == hash) {
            const char *r = (const char *)w->slots[i].row;
            for (size_t at = 0; at < ROW_BYTES(ws, ws->key.len) - 16; at += 64)
                __builtin_prefetch(r + at, 1);
            return;
        }
    }
}

void eddy__window_prepare_key(struct eddy_window_store *ws, const struct eddy_value *slots)
{
    ws->prepared_err = eddy__group_key_encode(ws->agg, slots, &ws->key);
}

void eddy__window_prepare_row(struct eddy_window_store *ws, int64_t ts)
{
    if (ws->prepared_err)
        return;
    ws->prepared_hash = eddy_hash64(ws->key.data, ws->key.len, 0);
    if (ws->sessions)
        return;
    int64_t advance = ws->agg->window.advance_ms;
    ws->prepared_start = eddy_floor_div(ts, advance) * advance;
    prefetch_row(ws);
}

void eddy__window_prepare_args(struct eddy_window_store *ws, const struct eddy_value *slots)
{
    if (ws->sessions) {
        for (size_t i = 0; i < ws->n_arg_copies; i++)
            ws->args[ws->arg_copies[i].arg] = slots[ws->arg_copies[i].slot];
    } else if (slots != ws->argp_slots) {
        for (size_t i = 0; i < ws->n_arg_copies; i++)
            ws->argp[ws->arg_copies[i].arg] = &slots[ws->arg_copies[i].slot];
        ws->argp_slots = slots;
    }
    struct eddy_eval_ctx ctx = {.slots = slots};
    for (size_t i = 0; i < ws->n_arg_evals; i++)
        eddy_expr_eval(ws->arg_evals[i].expr, &ctx, &ws->args[ws->arg_evals[i].arg]);
}

eddy_err_t eddy__window_add(struct eddy_window_store *ws, const struct eddy_value *slots,
                            int64_t ts, int64_t stream_time, bool *late)
{
    eddy__window_prepare_key(ws, slots);
    eddy__window_prepare_row(ws, ts);
    eddy__window_prepare_args(ws, slots);
    return eddy__window_add_prepared(ws, ts, stream_time, late);
}

eddy_err_t eddy__window_add_prepared(struct eddy_window_store *ws, int64_t ts,
                                     int64_t stream_time, bool *late)
{
    const struct eddy_aggregation *agg = ws->agg;
    int64_t size = agg->window.size_ms, advance = agg->window.advance_ms;
    uint64_t hash = ws->prepared_hash;
    eddy_err_t err;
    *late = false;
    if (ws->prepared_err)
        return ws->prepared_err;
    if (ws->sessions)
        return eddy__session_add(ws->sessions, ws->key.data, ws->key.len, hash, ws->args, ts,
                                 stream_time, late);
    size_t open = 0;
    /* windows start at or after the epoch, as in Kafka Streams */
    for (int64_t start = ws->prepared_start; start > ts - size && start >= 0; start -= advance) {
        bool retained = false;
        struct window *w;
        if (window_closed(ws, start, stream_time)) {
            if (window_expired(ws, start, stream_time))
                continue;
            w = closed_window_get(ws, start, &retained); /* a correction */
        } else {
            w = window_get(ws, start);
        }
        if (!w)
            return EDDY_ENOMEM;
        struct row *r;
        if ((err = row_fetch(ws, w, hash, &r)))
            return err;
        unsigned long allocs = eddy_alloc_events();
        for (size_t a = 0; a < ws->n_accs; a++) {
            err = eddy_acc_update_pair(&r->accs[a], ws->accs[a].kind, ws->argp[a],
                                       ws->argp[ws->n_accs + a]);
            if (err)
                return err;
        }
        if (eddy_alloc_events() != allocs) /* else no sketch changed size */
            row_account(ws, r);
        if (retained) {
            revise(ws, w, r);
        } else {
            r->dirty = true;
            r->changed = true;
        }
        open++;
    }
    *late = open == 0;
    return EDDY_OK;
}

static eddy_err_t encode_row(struct eddy_window_store *ws, int64_t start, const struct row *r);

/* ---- emission ---- */

static int row_cmp_keys(const void *pa, const void *pb)
{
    struct row *a = *(struct row *const *)pa, *b = *(struct row *const *)pb;
    size_t la = a->key_len, lb = b->key_len;
    int c = memcmp(a->key, b->key, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

static eddy_err_t emit_row(struct eddy_window_store *ws, int64_t start, struct row *r, bool final,
                           eddy_window_emit_fn emit, void *ctx)
{
    const struct eddy_aggregation *agg = ws->agg;
    const unsigned char *key = r->key;
    if (!eddy__group_key_decode(key, r->key_len, agg->n_group, ws->group))
        return EDDY_ESTATE;
    eddy__window_metrics(agg, r->accs, ws->metrics, ws->errors);
    struct eddy_window_row row = {
        .window_start = start,
        .window_end = start + agg->window.size_ms,
        .key = key,
        .key_len = r->key_len,
        .group = ws->group,
        .metrics = ws->metrics,
        .errors = ws->errors,
        .final = final,
        .empty = r == ws->blank,
        .revision = r->revision,
        .superseded = r->revision && start != ws->last_closed,
    };
    if (ws->export && final && !row.empty && !r->revision) {
        eddy_err_t err = encode_row(ws, start, r);
        if (err)
            return err;
        row.state_key = ws->persist.data;
        row.state_key_len = 8 + r->key_len;
        row.state_value = ws->persist.data + row.state_key_len;
        row.state_value_len = ws->persist.len - row.state_key_len;
    }
    r->dirty = false;
    return emit(ctx, agg, &row);
}

static int key_cmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

/* The next kept key of emit_empty at *pos in prev_keys, or false at the end. */
static bool next_prev_key(const struct eddy_window_store *ws, size_t *pos,
                          const unsigned char **key, uint32_t *len)
{
    if (*pos >= ws->prev_keys.len)
        return false;
    memcpy(len, ws->prev_keys.data + *pos, 4);
    *key = (const unsigned char *)ws->prev_keys.data + *pos + 4;
    *pos += 4 + *len;
    return true;
}

static eddy_err_t emit_blank(struct eddy_window_store *ws, int64_t start, const unsigned char *key,
                             uint32_t len, eddy_window_emit_fn emit, void *ctx)
{
    ws->blank->key = (unsigned char *)key;
    ws->blank->key_len = len;
    return emit_row(ws, start, ws->blank, true, emit, ctx);
}

/* emit_empty: the window after the last closed one has no rows and is due
 * (it starts before @before, the start of the next window to close; with
 * @before INT64_MAX, when it is closed at @stream_time): emits a blank row
 * per kept key, and keeps none. */
static eddy_err_t emit_gap(struct eddy_window_store *ws, int64_t before, int64_t stream_time,
                           eddy_window_emit_fn emit, void *ctx)
{
    if (!ws->n_prev_keys)
        return EDDY_OK;
    int64_t start = ws->prev_start + ws->agg->window.size_ms;
    bool due = before != INT64_MAX ? start < before : window_closed(ws, start, stream_time);
    if (!due)
        return EDDY_OK;
    const unsigned char *key;
    uint32_t len;
    size_t pos = 0;
    while (next_prev_key(ws, &pos, &key, &len)) {
        eddy_err_t err = emit_blank(ws, start, key, len, emit, ctx);
        if (err)
            return err;
    }
    eddy_buf_reset(&ws->prev_keys);
    ws->n_prev_keys = 0;
    ws->prev_start = start;
    return EDDY_OK;
}

/* Emits the sorted rows of a closing window together with the blank rows of
 * the kept keys it lacks (when it directly follows the last closed window),
 * in key order, then keeps its keys instead. */
static eddy_err_t emit_final_with_blanks(struct eddy_window_store *ws, const struct window *w,
                                         size_t n, eddy_window_emit_fn emit, void *ctx)
{
    bool follows = ws->n_prev_keys && ws->prev_start + ws->agg->window.size_ms == w->start;
    size_t pos = 0;
    const unsigned char *key = NULL;
    uint32_t len = 0;
    bool more = follows && next_prev_key(ws, &pos, &key, &len);
    eddy_buf_reset(&ws->next_keys);
    for (size_t i = 0; i <= n; i++) {
        struct row *r = i < n ? ws->sorted[i] : NULL;
        for (; more; more = next_prev_key(ws, &pos, &key, &len)) {
            int c = r ? key_cmp(key, len, r->key, r->key_len) : -1;
            if (c > 0)
                break;
            eddy_err_t err = c < 0 ? emit_blank(ws, w->start, key, len, emit, ctx) : EDDY_OK;
            if (err)
                return err;
        }
        if (!r)
            break;
        eddy_buf_append(&ws->next_keys, &r->key_len, 4);
        eddy_buf_append(&ws->next_keys, r->key, r->key_len);
        eddy_err_t err = emit_row(ws, w->start, r, true, emit, ctx);
        if (err)
            return err;
    }
    if (eddy_buf_err(&ws->next_keys))
        return EDDY_ENOMEM;
    struct eddy_buf keep = ws->prev_keys;
    ws->prev_keys = ws->next_keys;
    ws->next_keys = keep;
    ws->n_prev_keys = n;
    ws->prev_start = w->start;
    return EDDY_OK;
}

static eddy_err_t sorted_reserve(struct eddy_window_store *ws, size_t count)
{
    if (count > ws->sorted_cap) {
        struct row **sorted = eddy_realloc(ws->sorted, count * sizeof *sorted);
        if (!sorted)
            return EDDY_ENOMEM;
        ws->sorted = sorted;
        ws->sorted_cap = count;
    }
    return EDDY_OK;
}

/* Emits the rows of @w (all of them, or only dirty ones) in key order. */
static eddy_err_t emit_window(struct eddy_window_store *ws, const struct window *w, bool final,
                              eddy_window_emit_fn emit, void *ctx)
{
    if (sorted_reserve(ws, w->count))
        return EDDY_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < w->cap; i++)
        if (w->slots[i].row && (final || w->slots[i].row->dirty))
            ws->sorted[n++] = w->slots[i].row;
    qsort(ws->sorted, n, sizeof *ws->sorted, row_cmp_keys);
    if (final && ws->blank)
        return emit_final_with_blanks(ws, w, n, emit, ctx);
    for (size_t i = 0; i < n; i++) {
        eddy_err_t err = emit_row(ws, w->start, ws->sorted[i], final, emit, ctx);
        if (err)
            return err;
    }
    return EDDY_OK;
}

static eddy_err_t emit_updates(struct eddy_window_store *ws, int64_t stream_time,
                               eddy_window_emit_fn emit, void *ctx)
{
    int64_t interval = ws->agg->emit.update_interval_ms;
    if (!ws->agg->emit.updates || interval <= 0 || stream_time < ws->next_update)
        return EDDY_OK;
    bool first = ws->next_update == INT64_MIN;
    ws->next_update = (eddy_floor_div(stream_time, interval) + 1) * interval;
    if (first)
        return EDDY_OK;
    for (size_t i = ws->n_retained; i < ws->n_windows; i++) {
        eddy_err_t err = emit_window(ws, &ws->windows[i], false, emit, ctx);
        if (err)
            return err;
    }
    return EDDY_OK;
}

/* Late corrections: emits the revised rows of retained windows, in window
 * start then key order, each with its next revision number. */
static eddy_err_t emit_revisions(struct eddy_window_store *ws, int64_t stream_time,
                                 eddy_window_emit_fn emit, void *ctx)
{
    if (!ws->n_revised)
        return EDDY_OK;
    const struct eddy_window *win = &ws->agg->window;
    ws->last_closed =
        eddy_floor_div(stream_time - win->size_ms - ws->grace_ms, win->advance_ms) *
        win->advance_ms;
    for (size_t i = 0; i < ws->n_retained; i++) {
        struct window *w = &ws->windows[i];
        if (!w->revised)
            continue;
        if (sorted_reserve(ws, w->count))
            return EDDY_ENOMEM;
        size_t n = 0;
        for (size_t k = 0; k < w->cap; k++)
            if (w->slots[k].row && w->slots[k].row->revised)
                ws->sorted[n++] = w->slots[k].row;
        qsort(ws->sorted, n, sizeof *ws->sorted, row_cmp_keys);
        w->revised = false;
        for (size_t k = 0; k < n; k++) {
            struct row *r = ws->sorted[k];
            r->revised = false;
            r->changed = true; /* its revision number, persisted */
            ws->n_revised--;
            r->revision++;
            eddy_err_t err = emit_row(ws, w->start, r, true, emit, ctx);
            if (err)
                return err;
        }
    }
    return EDDY_OK;
}

/* ---- bounded write cache ---- */

void eddy__window_backing(struct eddy_window_store *ws, const struct eddy_window_backing *b)
{
    ws->has_backing = b != NULL;
    if (b)
        ws->backing = *b;
}

struct reload_ctx {
    struct eddy_window_store *ws;
    struct window *w;
    eddy_err_t err;
};

/* A persisted row of the closing window: loaded unless memory has it (the
 * in-memory row is newer). */
static int reload_row(void *c, const void *k, size_t kl, const void *v, size_t vl)
{
    struct reload_ctx *rc = c;
    struct eddy_window_store *ws = rc->ws;
    if (kl < 8) {
        rc->err = EDDY_EPARSE;
        return 1;
    }
    eddy_buf_reset(&ws->key);
    eddy_buf_append(&ws->key, (const unsigned char *)k + 8, kl - 8);
    if (eddy_buf_err(&ws->key)) {
        rc->err = EDDY_ENOMEM;
        return 1;
    }
    size_t count = rc->w->count;
    struct row *r = row_get(ws, rc->w, eddy_hash64(ws->key.data, ws->key.len, 0));
    if (!r)
        rc->err = EDDY_ENOMEM;
    else if (rc->w->count != count)
        rc->err = row_decode(ws, r, v, vl, false);
    return rc->err != EDDY_OK;
}

/* Before a window with evicted rows is emitted final: brings every persisted
 * row back, so the emission covers them all. */
static eddy_err_t window_reload(struct eddy_window_store *ws, struct window *w)
{
    if (!w->evicted)
        return EDDY_OK;
    struct reload_ctx rc = {ws, w, EDDY_OK};
    eddy_err_t err = ws->backing.scan(ws->backing.ctx, w->start, reload_row, &rc);
    if (!err)
        err = rc.err;
    if (!err)
        w->evicted = false;
    return err;
}

/* Persisted, and no update (emit updates: dirty) or revision waiting. */
static bool row_clean(const struct eddy_window_store *ws, const struct row *r)
{
    return !r->changed && !r->revised && !(r->dirty && ws->agg->emit.updates);
}

struct stream_ctx {
    struct eddy_window_store *ws;
    const struct window *w;
    size_t i, n; /* in-memory rows emitted, of ws->sorted[0 .. n) */
    eddy_window_emit_fn emit;
    void *ctx;
    eddy_err_t err;
};

/* A persisted row of the closing window, in key order: the in-memory rows
 * sorting before it are emitted first; an in-memory row of the same key
 * replaces it (it is newer); else it is decoded into the scratch row and
 * emitted. */
static int stream_row(void *c, const void *k, size_t kl, const void *v, size_t vl)
{
    struct stream_ctx *sc = c;
    struct eddy_window_store *ws = sc->ws;
    if (kl < 8) {
        sc->err = EDDY_EPARSE;
        return 1;
    }
    const unsigned char *key = (const unsigned char *)k + 8;
    size_t len = kl - 8;
    int cmp = 1;
    while (sc->i < sc->n && !sc->err) {
        struct row *r = ws->sorted[sc->i];
        cmp = key_cmp(r->key, r->key_len, key, len);
        if (cmp > 0)
            break;
        sc->err = emit_row(ws, sc->w->start, r, true, sc->emit, sc->ctx);
        sc->i++;
        if (cmp == 0)
            return sc->err != EDDY_OK;
    }
    if (sc->err)
        return 1;
    struct row *t = ws->streamed;
    for (size_t a = 0; a < ws->n_accs; a++)
        eddy_acc_init(&t->accs[a]);
    t->key = (unsigned char *)key;
    t->key_len = (uint32_t)len;
    t->sketch_bytes = 0;
    sc->err = row_decode(ws, t, v, vl, false);
    if (!sc->err)
        sc->err = emit_row(ws, sc->w->start, t, true, sc->emit, sc->ctx);
    ws->bytes -= t->sketch_bytes; /* never part of the store */
    for (size_t a = 0; a < ws->n_accs; a++)
        eddy_acc_release(&t->accs[a], ws->accs[a].kind);
    return sc->err != EDDY_OK;
}

/* Emits a closing window with evicted rows final, merging its in-memory
 * rows with the persisted ones in key order. */
static eddy_err_t emit_streamed(struct eddy_window_store *ws, struct window *w,
                                eddy_window_emit_fn emit, void *ctx)
{
    if (!ws->streamed) {
        ws->streamed = eddy_calloc(1, sizeof(struct row) + ws->n_accs * sizeof(struct eddy_acc));
        if (!ws->streamed)
            return EDDY_ENOMEM;
    }
    if (sorted_reserve(ws, w->count))
        return EDDY_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < w->cap; i++)
        if (w->slots[i].row)
            ws->sorted[n++] = w->slots[i].row;
    qsort(ws->sorted, n, sizeof *ws->sorted, row_cmp_keys);
    struct stream_ctx sc = {ws, w, 0, n, emit, ctx, EDDY_OK};
    eddy_err_t err = ws->backing.scan(ws->backing.ctx, w->start, stream_row, &sc);
    if (!err)
        err = sc.err;
    for (; !err && sc.i < n; sc.i++)
        err = emit_row(ws, w->start, ws->sorted[sc.i], true, emit, ctx);
    return err;
}

size_t eddy__window_evict(struct eddy_window_store *ws)
{
    if (!ws->has_backing || ws->sessions)
        return 0;
    size_t before = ws->bytes;
    for (size_t i = ws->n_retained; i < ws->n_windows; i++) {
        struct window *w = &ws->windows[i];
        size_t keep = 0;
        for (size_t k = 0; k < w->cap; k++)
            keep += w->slots[k].row && !row_clean(ws, w->slots[k].row);
        if (keep == w->count)
            continue;
        size_t cap = 16;
        while (keep * 2 > cap)
            cap *= 2;
        struct slot *slots = eddy_calloc(cap, sizeof *slots);
        if (!slots)
            continue; /* not evicted this time */
        for (size_t k = 0; k < w->cap; k++) {
            struct row *r = w->slots[k].row;
            if (!r)
                continue;
            if (row_clean(ws, r)) {
                ws->bytes -= ROW_BYTES(ws, r->key_len) + r->sketch_bytes;
                row_free(ws, r);
                ws->rows--;
                continue;
            }
            slot_put(slots, cap, r);
        }
        eddy_free(w->slots);
        w->slots = slots;
        w->cap = cap;
        w->count = keep;
        w->evicted = true;
    }
    return before - ws->bytes;
}

/* Whether eddy__window_advance (without flush) has nothing to do at
 * @stream_time, the usual case as it runs after every record: no revision
 * pending, no open window closed, no retained one expired, no blank keys
 * kept (emit_gap) and no update emission due (emit_updates). */
static bool advance_idle(const struct eddy_window_store *ws, int64_t stream_time)
{
    const struct eddy_aggregation *agg = ws->agg;
    if (ws->n_revised || ws->n_prev_keys)
        return false;
    if (ws->n_retained < ws->n_windows &&
        window_closed(ws, ws->windows[ws->n_retained].start, stream_time))
        return false;
    if (ws->n_retained && window_expired(ws, ws->windows[0].start, stream_time))
        return false;
    return !agg->emit.updates || agg->emit.update_interval_ms <= 0 ||
           stream_time < ws->next_update;
}

eddy_err_t eddy__window_advance(struct eddy_window_store *ws, int64_t stream_time, bool flush,
                                eddy_window_emit_fn emit, void *ctx)
{
    if (ws->sessions)
        return eddy__session_advance(ws->sessions, stream_time, flush, emit, ctx);
    if (!flush && advance_idle(ws, stream_time))
        return EDDY_OK;
    eddy_err_t err = emit_revisions(ws, stream_time, emit, ctx);
    if (err)
        return err;
    /* close: emit the windows closed at stream time, which are retained */
    size_t closed = ws->n_retained;
    while (closed < ws->n_windows &&
           (flush || window_closed(ws, ws->windows[closed].start, stream_time)))
        closed++;
    for (size_t i = ws->n_retained; i < closed && !err; i++) {
        struct window *w = &ws->windows[i];
        /* evicted rows: merged from the backing store as they are emitted,
         * or, where the window must be whole afterwards (emit_empty keeps
         * its keys, corrections retain it), loaded back first */
        bool stream = w->evicted && !ws->blank && !ws->correct_ms;
        if (!stream)
            err = window_reload(ws, w);
        if (!err)
            err = emit_gap(ws, w->start, stream_time, emit, ctx);
        if (!err)
            err = stream ? emit_streamed(ws, w, emit, ctx) : emit_window(ws, w, true, emit, ctx);
    }
    ws->n_retained = closed;
    /* drop the retained windows past the correction horizon (without
     * corrections: every closed one) */
    size_t drop = 0;
    while (drop < ws->n_retained &&
           (flush || window_expired(ws, ws->windows[drop].start, stream_time)))
        drop++;
    if (drop && ws->persisting &&
        !eddy_array_reserve(&ws->closed, &ws->cap_closed, ws->n_closed + drop, sizeof *ws->closed,
                            8))
        return err ? err : EDDY_ENOMEM;
    for (size_t i = 0; i < drop; i++) {
        if (ws->persisting)
            ws->closed[ws->n_closed++] = ws->windows[i].start;
        window_release(ws, &ws->windows[i]);
    }
    if (drop) {
        memmove(ws->windows, ws->windows + drop, (ws->n_windows - drop) * sizeof *ws->windows);
        ws->n_windows -= drop;
        ws->n_retained -= drop;
    }
    if (!err && !flush)
        err = emit_gap(ws, INT64_MAX, stream_time, emit, ctx);
    if (!err && !flush)
        err = emit_updates(ws, stream_time, emit, ctx);
    return err;
}

void eddy__window_empty_metrics(const struct eddy_aggregation *agg, struct eddy_value *metrics,
                                double *errors)
{
    for (size_t m = 0; m < agg->n_metrics; m++) {
        struct eddy_acc none;
        eddy_acc_init(&none);
        eddy_acc_result(&none, agg->metrics[m].kind, agg->metrics[m].q, &metrics[m], &errors[m]);
    }
}

size_t eddy__window_open_windows(const struct eddy_window_store *ws)
{
    if (ws->sessions)
        return eddy__session_count(ws->sessions);
    return ws->n_windows - ws->n_retained;
}

size_t eddy__window_rows(const struct eddy_window_store *ws)
{
    if (ws->sessions)
        return eddy__session_count(ws->sessions);
    return ws->rows;
}

size_t eddy__window_memory(const struct eddy_window_store *ws)
{
    size_t tables = 0;
    for (size_t i = 0; i < ws->n_windows; i++)
        tables += ws->windows[i].cap * sizeof(struct slot);
    if (ws->sessions)
        tables += eddy__session_memory(ws->sessions);
    return ws->bytes + tables + ws->prev_keys.cap + ws->next_keys.cap + ws->sorted_cap *
           sizeof(struct row *);
}

/* ---- persistence ---- */

static eddy_err_t encode_row(struct eddy_window_store *ws, int64_t start, const struct row *r)
{
    struct eddy_buf *b = &ws->persist;
    unsigned char be[8];
    eddy_buf_reset(b);
    eddy__be64_put(be, start);
    eddy_buf_append(b, be, 8);
    eddy_buf_append(b, r->key, r->key_len);
    /* the revision, and in its top bit a correction not yet emitted (merged
     * partials are emitted at the next watermark advance, maybe after a
     * commit): a restored task emits it */
    uint32_t rev = r->revision | (r->revised ? UINT32_C(0x80000000) : 0);
    if (rev) {
        unsigned char header[6] = {EDDY_WINDOW_ROW_FORMAT_REVISED, (unsigned char)ws->n_accs,
                                   (unsigned char)(rev >> 24), (unsigned char)(rev >> 16),
                                   (unsigned char)(rev >> 8), (unsigned char)rev};
        eddy_buf_append(b, header, 6);
    } else {
        unsigned char header[2] = {EDDY_WINDOW_ROW_FORMAT, (unsigned char)ws->n_accs};
        eddy_buf_append(b, header, 2);
    }
    for (size_t a = 0; a < ws->n_accs; a++) {
        eddy_err_t err = eddy_acc_encode(&r->accs[a], ws->accs[a].kind, b);
        if (err)
            return err;
    }
    return eddy_buf_err(b);
}

eddy_err_t eddy__window_changes(struct eddy_window_store *ws,
                                const struct eddy_window_changes *changes)
{
    if (ws->sessions)
        return eddy__session_changes(ws->sessions, changes);
    ws->persisting = true;
    for (size_t i = 0; i < ws->n_windows; i++) {
        struct window *w = &ws->windows[i];
        for (size_t k = 0; k < w->cap; k++) {
            struct row *r = w->slots[k].row;
            if (!r || !r->changed)
                continue;
            eddy_err_t err = encode_row(ws, w->start, r);
            if (err)
                return err;
            size_t key_len = 8 + r->key_len;
            err = changes->put(changes->ctx, ws->persist.data, key_len,
                               ws->persist.data + key_len, ws->persist.len - key_len);
            if (err)
                return err;
            r->changed = false;
        }
    }
    for (size_t i = 0; i < ws->n_closed; i++) {
        eddy_err_t err = changes->closed(changes->ctx, ws->closed[i]);
        if (err)
            return err;
    }
    ws->n_closed = 0;
    return EDDY_OK;
}

/* Finds or makes the row of a persisted key; NULL row with EDDY_OK when its
 * window is closed at @stream_time. */
static eddy_err_t row_at(struct eddy_window_store *ws, int64_t start, const unsigned char *group,
                         size_t group_len, int64_t stream_time, struct window **wout,
                         struct row **out, bool *retained)
{
    *out = NULL;
    *retained = false;
    bool closed = window_closed(ws, start, stream_time);
    if (closed && window_expired(ws, start, stream_time))
        return EDDY_OK;
    if (!eddy__group_key_decode(group, group_len, ws->agg->n_group, ws->group))
        return EDDY_EPARSE;
    struct window *w = closed ? closed_window_get(ws, start, retained) : window_get(ws, start);
    if (!w)
        return EDDY_ENOMEM;
    eddy_buf_reset(&ws->key);
    eddy_buf_append(&ws->key, group, group_len);
    if (eddy_buf_err(&ws->key))
        return EDDY_ENOMEM;
    *wout = w;
    return row_fetch(ws, w, eddy_hash64(ws->key.data, ws->key.len, 0), out);
}

static eddy_err_t row_for_key(struct eddy_window_store *ws, const void *key, size_t key_len,
                              int64_t stream_time, struct window **wout, struct row **out,
                              bool *retained)
{
    *out = NULL;
    *retained = false;
    if (key_len < 8)
        return EDDY_EPARSE;
    return row_at(ws, eddy__be64_get(key), (const unsigned char *)key + 8, key_len - 8,
                  stream_time, wout, out, retained);
}

/* Decodes the accumulators of a persisted value; with @merge they are added
 * to @r's, else they (and the revision) replace them. */
static eddy_err_t row_decode(struct eddy_window_store *ws, struct row *r, const void *value,
                             size_t value_len, bool merge)
{
    const unsigned char *v = value;
    if (value_len < 2 || v[1] != ws->n_accs)
        return EDDY_EPARSE;
    size_t pos = 2;
    uint32_t revision = 0;
    if (v[0] == EDDY_WINDOW_ROW_FORMAT_REVISED && value_len >= 6) {
        revision = (uint32_t)v[2] << 24 | (uint32_t)v[3] << 16 | (uint32_t)v[4] << 8 | v[5];
        pos = 6;
    } else if (v[0] != EDDY_WINDOW_ROW_FORMAT) {
        return EDDY_EPARSE;
    }
    if (!merge) {
        r->revision = revision & UINT32_C(0x7fffffff);
        r->revised = revision >> 31; /* eddy__window_load() makes it pending */
    }
    eddy_err_t err = EDDY_OK;
    for (size_t a = 0; a < ws->n_accs && !err; a++) {
        struct eddy_acc acc;
        size_t used = 0;
        eddy_acc_init(&acc);
        err = eddy_acc_decode(&acc, ws->accs[a].kind, v + pos, value_len - pos, &used);
        if (!err && merge)
            err = eddy_acc_merge(&r->accs[a], &acc, ws->accs[a].kind);
        if (!err && !merge) {
            eddy_acc_release(&r->accs[a], ws->accs[a].kind);
            r->accs[a] = acc;
            eddy_acc_init(&acc);
        }
        eddy_acc_release(&acc, ws->accs[a].kind);
        pos += used;
    }
    if (!err && pos != value_len)
        err = EDDY_EPARSE;
    row_account(ws, r);
    return err;
}

eddy_err_t eddy__window_load(struct eddy_window_store *ws, const void *key, size_t key_len,
                             const void *value, size_t value_len, int64_t stream_time)
{
    if (ws->sessions)
        return eddy__session_load(ws->sessions, key, key_len, value, value_len, stream_time);
    struct window *w;
    struct row *r;
    bool retained;
    eddy_err_t err = row_for_key(ws, key, key_len, stream_time, &w, &r, &retained);
    if (!err && r)
        err = row_decode(ws, r, value, value_len, false);
    if (!err && r && r->revised) { /* a correction persisted before its emission */
        r->revised = false;
        if (retained)
            revise(ws, w, r);
    }
    return err;
}

eddy_err_t eddy__window_merge(struct eddy_window_store *ws, const void *key, size_t key_len,
                              const void *value, size_t value_len, int64_t stream_time,
                              bool *late)
{
    if (ws->sessions)
        return eddy__session_merge(ws->sessions, key, key_len, value, value_len, stream_time,
                                   late);
    struct window *w;
    struct row *r;
    bool retained;
    eddy_err_t err = row_for_key(ws, key, key_len, stream_time, &w, &r, &retained);
    *late = !err && !r;
    if (err || !r)
        return err;
    if ((err = row_decode(ws, r, value, value_len, true)))
        return err;
    if (retained)
        revise(ws, w, r);
    else
        r->dirty = r->changed = true;
    return EDDY_OK;
}

eddy_err_t eddy__window_ship(struct eddy_window_store *ws,
                             eddy_err_t (*fn)(void *ctx, const void *key, size_t key_len,
                                              const void *value, size_t value_len),
                             void *ctx)
{
    if (ws->sessions)
        return eddy__session_ship(ws->sessions, fn, ctx);
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < ws->n_windows && !err; i++) {
        struct window *w = &ws->windows[i];
        for (size_t k = 0; k < w->cap && !err; k++) {
            struct row *r = w->slots[k].row;
            if (!r || (err = encode_row(ws, w->start, r)))
                continue;
            size_t key_len = 8 + r->key_len;
            err = fn(ctx, ws->persist.data, key_len, ws->persist.data + key_len,
                     ws->persist.len - key_len);
        }
    }
    for (size_t i = 0; i < ws->n_windows; i++)
        window_release(ws, &ws->windows[i]);
    ws->n_windows = ws->n_retained = ws->n_revised = 0;
    return err;
}

/* ---- rollups ---- */

void eddy__window_export(struct eddy_window_store *ws)
{
    ws->export = true;
    if (ws->sessions)
        eddy__session_export(ws->sessions);
}

eddy_err_t eddy__window_rollup(struct eddy_window_store *ws, const void *key, size_t key_len,
                               const void *value, size_t value_len, int64_t stream_time,
                               bool *late)
{
    int64_t size = ws->agg->window.size_ms, advance = ws->agg->window.advance_ms;
    *late = true;
    if (ws->sessions)
        return EDDY_EINVAL; /* config rejects rollups with session windows */
    if (key_len < 8)
        return EDDY_EPARSE;
    int64_t ts = eddy__be64_get(key);
    for (int64_t start = eddy_floor_div(ts, advance) * advance; start > ts - size && start >= 0;
         start -= advance) {
        struct window *w;
        struct row *r;
        bool retained;
        eddy_err_t err = row_at(ws, start, (const unsigned char *)key + 8, key_len - 8,
                                stream_time, &w, &r, &retained);
        if (err)
            return err;
        if (!r)
            continue;
        if ((err = row_decode(ws, r, value, value_len, true)))
            return err;
        if (retained)
            revise(ws, w, r);
        else
            r->dirty = r->changed = true;
        *late = false;
    }
    return EDDY_OK;
}

/* ---- row values outside a store ---- */

void eddy__window_metrics(const struct eddy_aggregation *agg, const struct eddy_acc *accs,
                          struct eddy_value *metrics, double *errors)
{
    for (size_t m = 0; m < agg->n_metrics; m++) {
        const struct eddy_metric *metric = &agg->metrics[m];
        const struct eddy_acc *acc = &accs[agg->metric_acc[m]];
        if (metric->kind == EDDY_M_COUNT_IF) {
            metrics[m] = (struct eddy_value){.type = EDDY_V_INT,
                                             .as.i = (int64_t)acc->u.ratio.hits};
            errors[m] = 0;
        } else {
            eddy_acc_result(acc, metric->kind, metric->q, &metrics[m], &errors[m]);
        }
    }
}

eddy_err_t eddy__window_value_merge(const struct eddy_aggregation *agg, struct eddy_acc *accs,
                                    const void *value, size_t value_len)
{
    const unsigned char *v = value;
    if (value_len < 2 || v[1] != agg->n_accs)
        return EDDY_EPARSE;
    size_t pos = 2;
    if (v[0] == EDDY_WINDOW_ROW_FORMAT_REVISED && value_len >= 6)
        pos = 6;
    else if (v[0] != EDDY_WINDOW_ROW_FORMAT && !eddy__session_value_accs(value, value_len, &pos))
        return EDDY_EPARSE;
    eddy_err_t err = EDDY_OK;
    for (size_t a = 0; a < agg->n_accs && !err; a++) {
        struct eddy_acc acc;
        size_t used = 0;
        eddy_acc_init(&acc);
        err = eddy_acc_decode(&acc, agg->accs[a].kind, v + pos, value_len - pos, &used);
        if (!err)
            err = eddy_acc_merge(&accs[a], &acc, agg->accs[a].kind);
        eddy_acc_release(&acc, agg->accs[a].kind);
        pos += used;
    }
    if (!err && pos != value_len)
        err = EDDY_EPARSE;
    return err;
}

eddy_err_t eddy__window_value_encode(const struct eddy_aggregation *agg,
                                     const struct eddy_acc *accs, struct eddy_buf *out)
{
    unsigned char header[2] = {EDDY_WINDOW_ROW_FORMAT, (unsigned char)agg->n_accs};
    eddy_buf_append(out, header, 2);
    for (size_t a = 0; a < agg->n_accs; a++) {
        eddy_err_t err = eddy_acc_encode(&accs[a], agg->accs[a].kind, out);
        if (err)
            return err;
    }
    return eddy_buf_err(out);
}
