/*
 * store.c - RocksDB state layer; formats, protocol and threading in store.h.
 *
 * Invariants:
 * - st->stores holds exactly the column families of the DB other than
 *   "default" and "eddy.meta", sorted by name; every eddy_store is owned by
 *   st and freed on drop or close.
 * - A column family name that does not parse as "<store>@<partition>" is
 *   kept open (RocksDB requires all of them) but never handed out.
 * - The "format" key exists in eddy.meta once eddy__state_open succeeded.
 */
#include "state/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <rocksdb/c.h>

#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "state/be64.h"
#include "state/store_internal.h"

#define MIB ((size_t)1 << 20)
#define DEFAULT_CACHE_BYTES (64 * MIB)
#define DEFAULT_WRITE_BUFFER_BYTES (64 * MIB)
#define MAX_OPEN_FILES 512
#define STORE_NAME_MAX 200
#define FORMAT_KEY "format"

/* See store_internal.h. */
eddy_err_t eddy__state_rocks_fail(char *err, const char *op, const char *what)
{
    eddy_log(EDDY_LOG_ERROR, "state", "cannot %s '%s': %s", op, what, err ? err : "unknown error");
    rocksdb_free(err);
    return EDDY_ESTATE;
}

static void put_u64_be(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_u64_be(const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

static char *join_path(const char *dir, const char *leaf)
{
    size_t dl = strlen(dir), ll = strlen(leaf);
    char *path = eddy_malloc(dl + 1 + ll + 1);
    if (!path)
        return NULL;
    memcpy(path, dir, dl);
    path[dl] = '/';
    memcpy(path + dl + 1, leaf, ll + 1);
    return path;
}

static void store_free(struct eddy_store *s)
{
    if (!s)
        return;
    if (s->cf)
        rocksdb_column_family_handle_destroy(s->cf);
    eddy_free(s->cf_name);
    eddy_free(s->store);
    eddy_free(s);
}

/* A store object for column family @cf_name; @cf may be NULL (set later).
 * Parses "<store>@<partition>"; a name that does not parse gives a
 * foreign store (store NULL, partition -1). */
static struct eddy_store *store_new(struct eddy_state *st, const char *cf_name)
{
    struct eddy_store *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->state = st;
    s->partition = -1;
    s->cf_name_len = strlen(cf_name);
    s->cf_name = eddy_strdup(cf_name);
    if (!s->cf_name)
        goto fail;
    const char *at = strrchr(cf_name, '@');
    if (!at || at == cf_name || at[1] < '0' || at[1] > '9' || (at[1] == '0' && at[2] != '\0'))
        return s;
    char *end;
    errno = 0;
    long part = strtol(at + 1, &end, 10);
    if (*end != '\0' || errno || part > INT32_MAX)
        return s;
    s->store = eddy_strndup(cf_name, (size_t)(at - cf_name));
    if (!s->store)
        goto fail;
    s->partition = (int32_t)part;
    return s;
fail:
    store_free(s);
    return NULL;
}

/* Inserts @s keeping the array sorted by cf_name. Caller holds the lock
 * (or is the only user during open). */
static eddy_err_t stores_insert(struct eddy_state *st, struct eddy_store *s)
{
    if (st->nstores == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        struct eddy_store **grown = eddy_realloc(st->stores, cap * sizeof *grown);
        if (!grown)
            return EDDY_ENOMEM;
        st->stores = grown;
        st->cap = cap;
    }
    size_t i = st->nstores;
    while (i > 0 && strcmp(st->stores[i - 1]->cf_name, s->cf_name) > 0) {
        st->stores[i] = st->stores[i - 1];
        i--;
    }
    st->stores[i] = s;
    st->nstores++;
    return EDDY_OK;
}

static ssize_t stores_find(const struct eddy_state *st, const char *cf_name)
{
    for (size_t i = 0; i < st->nstores; i++)
        if (strcmp(st->stores[i]->cf_name, cf_name) == 0)
            return (ssize_t)i;
    return -1;
}

static eddy_err_t make_options(struct eddy_state *st, const struct eddy_state_opts *opts)
{
    size_t cache_bytes = opts && opts->block_cache_bytes ? opts->block_cache_bytes
                                                         : DEFAULT_CACHE_BYTES;
    size_t wb_bytes = opts && opts->write_buffer_bytes ? opts->write_buffer_bytes
                                                       : DEFAULT_WRITE_BUFFER_BYTES;
    st->cache = rocksdb_cache_create_lru(cache_bytes);
    st->table_options = rocksdb_block_based_options_create();
    st->options = rocksdb_options_create();
    st->write_options = rocksdb_writeoptions_create();
    st->sync_options = rocksdb_writeoptions_create();
    st->read_options = rocksdb_readoptions_create();
    if (!st->cache || !st->table_options || !st->options || !st->write_options ||
        !st->sync_options || !st->read_options)
        return EDDY_ENOMEM;

    rocksdb_block_based_options_set_block_cache(st->table_options, st->cache);
    /* Index and filter blocks live in the cache too, so the cache size bounds them. */
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->table_options, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(st->table_options, 1);
    /* Point gets of absent keys (new windows, new dedup ids) skip SST reads. */
    rocksdb_block_based_options_set_filter_policy(st->table_options,
                                                  rocksdb_filterpolicy_create_bloom_full(10));

    rocksdb_options_t *o = st->options;
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_increase_parallelism(o, 2);
    rocksdb_options_set_max_open_files(o, MAX_OPEN_FILES);
    rocksdb_options_set_db_write_buffer_size(o, wb_bytes);
    /* A column family's memtable is at most half the budget, so one busy
     * store cannot take all of it in one memtable. */
    rocksdb_options_set_write_buffer_size(o, wb_bytes / 2 < 64 * MIB ? wb_bytes / 2 : 64 * MIB);
    rocksdb_options_set_max_total_wal_size(o, 4 * (uint64_t)wb_bytes);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_block_based_table_factory(o, st->table_options);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    rocksdb_options_set_keep_log_file_num(o, 4);

    rocksdb_writeoptions_set_sync(st->write_options, 0);
    rocksdb_writeoptions_disable_WAL(st->write_options, 0);
    rocksdb_writeoptions_set_sync(st->sync_options, 1);
    return EDDY_OK;
}

/* Names of the existing column families; {"default"} for a new DB. */
static eddy_err_t list_cfs(struct eddy_state *st, char ***names, size_t *n, bool *fresh)
{
    char *current = join_path(st->path, "CURRENT");
    if (!current)
        return EDDY_ENOMEM;
    struct stat sb;
    *fresh = stat(current, &sb) != 0;
    eddy_free(current);
    if (*fresh) {
        *names = NULL;
        *n = 0;
        return EDDY_OK;
    }
    char *err = NULL;
    *names = rocksdb_list_column_families(st->options, st->path, n, &err);
    if (err)
        return eddy__state_rocks_fail(err, "list column families of", st->path);
    return EDDY_OK;
}

/* Takes the column family handles of a freshly opened DB: default, meta,
 * and one eddy_store per other name. On ENOMEM the handles not adopted are
 * destroyed. */
static eddy_err_t adopt_handles(struct eddy_state *st, const char **names,
                                rocksdb_column_family_handle_t **handles, size_t n)
{
    eddy_err_t err = EDDY_OK;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "default") == 0) {
            st->default_cf = handles[i];
            continue;
        }
        if (strcmp(names[i], EDDY_STATE_META_CF) == 0) {
            st->meta_cf = handles[i];
            continue;
        }
        struct eddy_store *s = err ? NULL : store_new(st, names[i]);
        if (s && stores_insert(st, s) != EDDY_OK) {
            store_free(s);
            s = NULL;
        }
        if (!s) {
            rocksdb_column_family_handle_destroy(handles[i]);
            err = EDDY_ENOMEM;
            continue;
        }
        s->cf = handles[i];
        if (!s->store)
            eddy_log(EDDY_LOG_WARN, "state", "ignoring unknown column family '%s' in '%s'",
                     names[i], st->path);
    }
    return err;
}

/* Opens the DB with every listed column family plus eddy.meta and wraps
 * the store column families. */
static eddy_err_t open_db(struct eddy_state *st, char **listed, size_t nlisted)
{
    eddy_err_t err = EDDY_ENOMEM;
    size_t n = nlisted;
    bool has_default = false, has_meta = false;
    for (size_t i = 0; i < nlisted; i++) {
        has_default |= strcmp(listed[i], "default") == 0;
        has_meta |= strcmp(listed[i], EDDY_STATE_META_CF) == 0;
    }
    n += !has_default + !has_meta;
    const char **names = eddy_calloc(n, sizeof *names);
    const rocksdb_options_t **cf_opts = eddy_calloc(n, sizeof *cf_opts);
    rocksdb_column_family_handle_t **handles = eddy_calloc(n, sizeof *handles);
    if (!names || !cf_opts || !handles)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < nlisted; i++)
        names[k++] = listed[i];
    if (!has_default)
        names[k++] = "default";
    if (!has_meta)
        names[k++] = EDDY_STATE_META_CF;
    for (size_t i = 0; i < n; i++)
        cf_opts[i] = st->options;

    char *rerr = NULL;
    st->db = rocksdb_open_column_families(st->options, st->path, (int)n, names, cf_opts, handles,
                                          &rerr);
    if (rerr) {
        err = eddy__state_rocks_fail(rerr, "open state", st->path);
        goto out;
    }
    err = adopt_handles(st, names, handles, n);
out:
    eddy_free(names);
    eddy_free(cf_opts);
    eddy_free(handles);
    return err;
}

/* Checks the "format" marker, writing it into a new state. */
static eddy_err_t check_format(struct eddy_state *st)
{
    char *rerr = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(st->db, st->read_options, st->meta_cf, FORMAT_KEY,
                             strlen(FORMAT_KEY), &vlen, &rerr);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "read format of", st->path);
    char want[16];
    int wl = snprintf(want, sizeof want, "%d", EDDY_STATE_FORMAT);
    if (v) {
        bool ok = vlen == (size_t)wl && memcmp(v, want, vlen) == 0;
        if (!ok)
            eddy_log(EDDY_LOG_ERROR, "state",
                     "cannot open state '%s': written with state format '%.*s', this eddy "
                     "reads format %s; wipe the state dir to restore from the changelogs",
                     st->path, (int)(vlen > 32 ? 32 : vlen), v, want);
        rocksdb_free(v);
        return ok ? EDDY_OK : EDDY_ESTATE;
    }
    if (st->nstores > 0) {
        eddy_log(EDDY_LOG_ERROR, "state",
                 "cannot open state '%s': it has column families but no format marker; wipe "
                 "the state dir to restore from the changelogs",
                 st->path);
        return EDDY_ESTATE;
    }
    rocksdb_put_cf(st->db, st->sync_options, st->meta_cf, FORMAT_KEY, strlen(FORMAT_KEY), want,
                   (size_t)wl, &rerr);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "write format of", st->path);
    return EDDY_OK;
}

eddy_err_t eddy__state_open(const char *dir, const struct eddy_state_opts *opts,
                            struct eddy_state **out)
{
    *out = NULL;
    if (!dir || !*dir)
        return EDDY_EINVAL;
    char **listed = NULL;
    size_t nlisted = 0;
    eddy_err_t err = eddy_mkdirs(dir, "state");
    if (err)
        return err;
    struct eddy_state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    pthread_mutex_init(&st->lock, NULL);
    err = EDDY_ENOMEM;
    st->dir = eddy_strdup(dir);
    st->path = join_path(dir, "rocksdb");
    if (!st->dir || !st->path)
        goto out;
    if ((err = make_options(st, opts)))
        goto out;
    bool fresh;
    if ((err = list_cfs(st, &listed, &nlisted, &fresh)))
        goto out;
    if ((err = open_db(st, listed, nlisted)))
        goto out;
    if ((err = check_format(st)))
        goto out;
    eddy_log(EDDY_LOG_INFO, "state", "opened state '%s' (%s, %zu stores)", st->path,
             fresh ? "new" : "existing", st->nstores);
out:
    if (listed)
        rocksdb_list_column_families_destroy(listed, nlisted);
    if (err) {
        eddy__state_close(st);
        return err;
    }
    *out = st;
    return EDDY_OK;
}

void eddy__state_close(struct eddy_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nstores; i++)
        store_free(st->stores[i]);
    eddy_free(st->stores);
    if (st->default_cf)
        rocksdb_column_family_handle_destroy(st->default_cf);
    if (st->meta_cf)
        rocksdb_column_family_handle_destroy(st->meta_cf);
    if (st->db)
        rocksdb_close(st->db);
    if (st->options)
        rocksdb_options_destroy(st->options);
    if (st->table_options)
        rocksdb_block_based_options_destroy(st->table_options);
    if (st->cache)
        rocksdb_cache_destroy(st->cache);
    if (st->write_options)
        rocksdb_writeoptions_destroy(st->write_options);
    if (st->sync_options)
        rocksdb_writeoptions_destroy(st->sync_options);
    if (st->read_options)
        rocksdb_readoptions_destroy(st->read_options);
    pthread_mutex_destroy(&st->lock);
    eddy_free(st->path);
    eddy_free(st->dir);
    eddy_free(st);
}

static eddy_err_t cf_name_of(const char *store, int32_t partition, char out[STORE_NAME_MAX + 16])
{
    if (!store || !*store || strlen(store) > STORE_NAME_MAX || partition < 0 ||
        strcmp(store, EDDY_STATE_META_CF) == 0 || strcmp(store, "default") == 0) {
        eddy_log(EDDY_LOG_ERROR, "state", "invalid store '%s' partition %d", store ? store : "",
                 (int)partition);
        return EDDY_EINVAL;
    }
    snprintf(out, STORE_NAME_MAX + 16, "%s@%d", store, (int)partition);
    return EDDY_OK;
}

eddy_err_t eddy__state_store(struct eddy_state *st, const char *store, int32_t partition,
                             struct eddy_store **out)
{
    char name[STORE_NAME_MAX + 16];
    eddy_err_t err = cf_name_of(store, partition, name);
    *out = NULL;
    if (err)
        return err;
    pthread_mutex_lock(&st->lock);
    ssize_t i = stores_find(st, name);
    if (i >= 0) {
        *out = st->stores[i];
        goto out;
    }
    err = EDDY_ENOMEM;
    struct eddy_store *s = store_new(st, name);
    if (!s)
        goto out;
    char *rerr = NULL;
    s->cf = rocksdb_create_column_family(st->db, st->options, name, &rerr);
    if (rerr) {
        store_free(s);
        err = eddy__state_rocks_fail(rerr, "create store", name);
        goto out;
    }
    if ((err = stores_insert(st, s))) {
        /* The column family exists on disk; it is found again on reopen. */
        store_free(s);
        goto out;
    }
    *out = s;
out:
    pthread_mutex_unlock(&st->lock);
    return err;
}

eddy_err_t eddy__state_drop(struct eddy_state *st, const char *store, int32_t partition)
{
    char name[STORE_NAME_MAX + 16];
    eddy_err_t err = cf_name_of(store, partition, name);
    if (err)
        return err;
    pthread_mutex_lock(&st->lock);
    char *rerr = NULL;
    rocksdb_delete_cf(st->db, st->sync_options, st->meta_cf, name, strlen(name), &rerr);
    if (rerr) {
        err = eddy__state_rocks_fail(rerr, "delete checkpoint of store", name);
        goto out;
    }
    ssize_t i = stores_find(st, name);
    if (i < 0)
        goto out;
    struct eddy_store *s = st->stores[i];
    rocksdb_drop_column_family(st->db, s->cf, &rerr);
    if (rerr) {
        err = eddy__state_rocks_fail(rerr, "drop store", name);
        goto out;
    }
    memmove(&st->stores[i], &st->stores[i + 1], (st->nstores - (size_t)i - 1) * sizeof *st->stores);
    st->nstores--;
    store_free(s);
    eddy_log(EDDY_LOG_INFO, "state", "dropped store '%s'", name);
out:
    pthread_mutex_unlock(&st->lock);
    return err;
}

void eddy__state_list(struct eddy_state *st,
                      int (*fn)(void *ctx, const char *store, int32_t partition), void *ctx)
{
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->nstores; i++)
        if (st->stores[i]->store && fn(ctx, st->stores[i]->store, st->stores[i]->partition))
            break;
    pthread_mutex_unlock(&st->lock);
}

const char *eddy__store_name(const struct eddy_store *s)
{
    return s->cf_name;
}

eddy_err_t eddy__store_get(struct eddy_store *s, const void *key, size_t klen,
                           struct eddy_buf *value, bool *found)
{
    struct eddy_state *st = s->state;
    char *rerr = NULL;
    *found = false;
    rocksdb_pinnableslice_t *ps =
        rocksdb_get_pinned_cf(st->db, st->read_options, s->cf, key, klen, &rerr);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "read from store", s->cf_name);
    if (!ps)
        return EDDY_OK;
    size_t vlen = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    eddy_buf_reset(value);
    eddy_buf_append(value, v, vlen);
    rocksdb_pinnableslice_destroy(ps);
    *found = true;
    return eddy_buf_err(value);
}

eddy_err_t eddy__store_scan(struct eddy_store *s, const void *begin, size_t blen,
                            const void *end, size_t elen,
                            int (*fn)(void *ctx, const void *k, size_t kl, const void *v,
                                      size_t vl),
                            void *ctx)
{
    struct eddy_state *st = s->state;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (!ro)
        return EDDY_ENOMEM;
    if (end)
        rocksdb_readoptions_set_iterate_upper_bound(ro, end, elen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, s->cf);
    if (begin)
        rocksdb_iter_seek(it, begin, blen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (fn(ctx, k, kl, v, vl))
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "scan store", s->cf_name);
    return EDDY_OK;
}

eddy_err_t eddy__store_checkpoint(struct eddy_store *s, int64_t *next_changelog_offset)
{
    struct eddy_state *st = s->state;
    char *rerr = NULL;
    size_t vlen = 0;
    *next_changelog_offset = -1;
    char *v = rocksdb_get_cf(st->db, st->read_options, st->meta_cf, s->cf_name, s->cf_name_len,
                             &vlen, &rerr);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "read checkpoint of store", s->cf_name);
    if (!v)
        return EDDY_OK;
    eddy_err_t err = EDDY_OK;
    uint64_t off = vlen == 8 ? get_u64_be((const unsigned char *)v) : UINT64_MAX;
    if (off > (uint64_t)INT64_MAX) {
        eddy_log(EDDY_LOG_ERROR, "state", "cannot read checkpoint of store '%s': bad value (%zu bytes)",
                 s->cf_name, vlen);
        err = EDDY_ESTATE;
    } else {
        *next_changelog_offset = (int64_t)off;
    }
    rocksdb_free(v);
    return err;
}

eddy_err_t eddy__state_batch_new(struct eddy_state_batch **out)
{
    struct eddy_state_batch *b = eddy_calloc(1, sizeof *b);
    *out = NULL;
    if (!b)
        return EDDY_ENOMEM;
    b->wb = rocksdb_writebatch_create();
    if (!b->wb) {
        eddy_free(b);
        return EDDY_ENOMEM;
    }
    *out = b;
    return EDDY_OK;
}

void eddy__state_batch_free(struct eddy_state_batch *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    eddy_free(b);
}

void eddy__state_batch_clear(struct eddy_state_batch *b)
{
    rocksdb_writebatch_clear(b->wb);
}

size_t eddy__state_batch_count(const struct eddy_state_batch *b)
{
    return (size_t)rocksdb_writebatch_count(b->wb);
}

size_t eddy__state_batch_bytes(const struct eddy_state_batch *b)
{
    size_t size = 0;
    rocksdb_writebatch_data(b->wb, &size);
    return size;
}

void eddy__state_batch_put(struct eddy_state_batch *b, struct eddy_store *s, const void *k,
                           size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put_cf(b->wb, s->cf, k, kl, v, vl);
}

void eddy__state_batch_delete(struct eddy_state_batch *b, struct eddy_store *s, const void *k,
                              size_t kl)
{
    rocksdb_writebatch_delete_cf(b->wb, s->cf, k, kl);
}

void eddy__state_batch_delete_range(struct eddy_state_batch *b, struct eddy_store *s,
                                    const void *begin, size_t bl, const void *end, size_t el)
{
    rocksdb_writebatch_delete_range_cf(b->wb, s->cf, begin, bl, end, el);
}

void eddy__state_batch_expire_before(struct eddy_state_batch *b, struct eddy_store *s,
                                     int64_t bucket)
{
    static const unsigned char lowest[8] = {0};
    unsigned char limit[8];
    eddy__be64_put(limit, bucket);
    rocksdb_writebatch_delete_range_cf(b->wb, s->cf, (const char *)lowest, 8,
                                       (const char *)limit, 8);
}

void eddy__state_batch_checkpoint(struct eddy_state_batch *b, struct eddy_store *s,
                                  int64_t next_changelog_offset)
{
    unsigned char v[8];
    put_u64_be(v, (uint64_t)next_changelog_offset);
    rocksdb_writebatch_put_cf(b->wb, s->state->meta_cf, s->cf_name, s->cf_name_len,
                              (const char *)v, 8);
}

eddy_err_t eddy__state_commit(struct eddy_state *st, struct eddy_state_batch *b)
{
    char *rerr = NULL;
    rocksdb_write(st->db, st->write_options, b->wb, &rerr);
    if (rerr)
        return eddy__state_rocks_fail(rerr, "commit state batch to", st->path);
    return EDDY_OK;
}

size_t eddy__state_memory(const struct eddy_state *st)
{
    size_t total = rocksdb_cache_get_usage(st->cache);
    rocksdb_memory_consumers_t *mc = rocksdb_memory_consumers_create();
    if (!mc)
        return total;
    rocksdb_memory_consumers_add_db(mc, st->db);
    char *rerr = NULL;
    rocksdb_memory_usage_t *mu = rocksdb_approximate_memory_usage_create(mc, &rerr);
    if (rerr) {
        /* Metrics only: report what is known rather than fail. */
        eddy_log(EDDY_LOG_WARN, "state", "cannot measure memory of '%s': %s", st->path, rerr);
        rocksdb_free(rerr);
    } else if (mu) {
        total += rocksdb_approximate_memory_usage_get_mem_table_total(mu) +
                 rocksdb_approximate_memory_usage_get_mem_table_readers_total(mu);
        rocksdb_approximate_memory_usage_destroy(mu);
    }
    rocksdb_memory_consumers_destroy(mc);
    return total;
}
