/*
 * store_internal.h - the structures behind state/store.h, shared by the
 * files of src/state/ only (store.c, loader.c).
 */
#ifndef EDDY_STATE_STORE_INTERNAL_H
#define EDDY_STATE_STORE_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>

#include "state/store.h"

struct eddy_store {
    struct eddy_state *state;
    rocksdb_column_family_handle_t *cf;
    char *cf_name; /* "<store>@<partition>", also the checkpoint key */
    size_t cf_name_len;
    char *store;       /* NULL for a foreign column family */
    int32_t partition; /* -1 for a foreign column family */
};

struct eddy_state {
    char *dir;  /* the state dir */
    char *path; /* <dir>/rocksdb */
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *write_options; /* WAL, no sync */
    rocksdb_writeoptions_t *sync_options;  /* WAL, sync */
    rocksdb_readoptions_t *read_options;
    rocksdb_column_family_handle_t *default_cf;
    rocksdb_column_family_handle_t *meta_cf;
    pthread_mutex_t lock; /* guards stores / nstores / cap */
    struct eddy_store **stores;
    size_t nstores;
    size_t cap;
};

struct eddy_state_batch {
    rocksdb_writebatch_t *wb;
};

/* Logs a RocksDB error (subsystem "state": "cannot <op> '<what>': <err>"),
 * frees it and returns EDDY_ESTATE. */
eddy_err_t eddy__state_rocks_fail(char *err, const char *op, const char *what);

#endif
