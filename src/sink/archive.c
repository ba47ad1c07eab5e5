/*
 * archive.c - see archive.h.
 */
#include "sink/archive.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "sink/parquet.h"

enum { TAG_NULL, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_NUM, TAG_STR };

#define KEY_SEGMENT 'F'
#define KEY_HEAD 'H'
#define KEY_SEAL 'S'
#define RETRY_NS (5 * 1000000000LL) /* a failed publication is retried after this */
#define SEGMENT_BYTES (512u << 10)  /* the largest changelog record of rows, but for one row */

struct afile {
    uint64_t seq;
    int64_t first, last; /* input offsets covered; set when sealed */
    struct eddy_buf rows;
    uint64_t n_rows;
    size_t shipped;    /* bytes of rows handed over as segments */
    uint32_t segments; /* segments handed over (or loaded) */
    bool sealed;
    bool seal_shipped; /* the seal record was handed over (or loaded) */
    bool committed;    /* ... in a committed transaction (or loaded) */
    bool published;    /* written: its records are deleted at the next changes */
    int64_t opened_ms; /* wall time of its first row */
};

struct writer { /* one Parquet file of a publication: one partition directory */
    char *dir;
    struct eddy_parquet_writer *w;
};

struct eddy_archive_sink {
    const struct eddy_archive *def;
    uint8_t index;
    char *label;
    struct afile *files; /* by seq: sealed ones, then the open one (seq open_seq), if any */
    size_t n_files, cap_files;
    uint64_t open_seq;
    int64_t open_first, open_last; /* offsets consumed since the last seal (-1: none) */
    int64_t prev_last;             /* the last offset of the newest sealed file */
    bool durable, head_dirty;
    int64_t retry_after_ns;
    /* publication */
    struct eddy_parquet_column *pcols; /* the file's columns: every non-partition column */
    size_t *pcol_from;                 /* their index in def->columns */
    size_t n_pcols;
    struct eddy_value *vals, *pvals;
    struct writer *writers;
    size_t n_writers, cap_writers;
    struct eddy_buf dir, path, text, name;
    struct eddy_archive_stats stats;
};

static bool is_partition(const struct eddy_archive *def, size_t column)
{
    for (size_t i = 0; i < def->n_partition_by; i++)
        if (def->partition_by[i] == column)
            return true;
    return false;
}

eddy_err_t eddy__archive_sink_new(const struct eddy_archive *def, size_t index, const char *label,
                                  bool durable, struct eddy_archive_sink **out)
{
    if (index > 255)
        return EDDY_EINVAL;
    struct eddy_archive_sink *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return EDDY_ENOMEM;
    s->def = def;
    s->index = (uint8_t)index;
    s->durable = durable;
    s->open_first = s->open_last = s->prev_last = -1;
    eddy_buf_init(&s->dir);
    eddy_buf_init(&s->path);
    eddy_buf_init(&s->text);
    eddy_buf_init(&s->name);
    s->label = eddy_strdup(label);
    s->pcols = eddy_calloc(def->n_columns, sizeof *s->pcols);
    s->pcol_from = eddy_calloc(def->n_columns, sizeof *s->pcol_from);
    s->vals = eddy_calloc(def->n_columns, sizeof *s->vals);
    s->pvals = eddy_calloc(def->n_columns, sizeof *s->pvals);
    if (!s->label || !s->pcols || !s->pcol_from || !s->vals || !s->pvals) {
        eddy__archive_sink_free(s);
        return EDDY_ENOMEM;
    }
    static const enum eddy_parquet_type types[] = {
        [EDDY_ARCHIVE_STRING] = EDDY_PARQUET_STRING,
        [EDDY_ARCHIVE_INT64] = EDDY_PARQUET_INT64,
        [EDDY_ARCHIVE_DOUBLE] = EDDY_PARQUET_DOUBLE,
        [EDDY_ARCHIVE_BOOLEAN] = EDDY_PARQUET_BOOLEAN,
        [EDDY_ARCHIVE_TIMESTAMP] = EDDY_PARQUET_TIMESTAMP_MILLIS,
    };
    for (size_t c = 0; c < def->n_columns; c++) {
        if (is_partition(def, c))
            continue;
        s->pcols[s->n_pcols].name = def->columns[c].name;
        s->pcols[s->n_pcols].type = types[def->columns[c].type];
        s->pcol_from[s->n_pcols++] = c;
    }
    *out = s;
    return EDDY_OK;
}

static void discard_writers(struct eddy_archive_sink *s)
{
    for (size_t i = 0; i < s->n_writers; i++) {
        eddy__parquet_discard(s->writers[i].w);
        eddy_free(s->writers[i].dir);
    }
    s->n_writers = 0;
}

void eddy__archive_sink_free(struct eddy_archive_sink *s)
{
    if (!s)
        return;
    discard_writers(s);
    eddy_free(s->writers);
    for (size_t i = 0; i < s->n_files; i++)
        eddy_buf_release(&s->files[i].rows);
    eddy_free(s->files);
    eddy_free(s->label);
    eddy_free(s->pcols);
    eddy_free(s->pcol_from);
    eddy_free(s->vals);
    eddy_free(s->pvals);
    eddy_buf_release(&s->dir);
    eddy_buf_release(&s->path);
    eddy_buf_release(&s->text);
    eddy_buf_release(&s->name);
    eddy_free(s);
}

/* The file @seq, created (empty, open) when missing; NULL when out of memory. */
static struct afile *file_get(struct eddy_archive_sink *s, uint64_t seq)
{
    size_t at = s->n_files;
    for (size_t i = 0; i < s->n_files; i++) {
        if (s->files[i].seq == seq)
            return &s->files[i];
        if (s->files[i].seq > seq) {
            at = i;
            break;
        }
    }
    if (!eddy_array_reserve(&s->files, &s->cap_files, s->n_files + 1, sizeof *s->files, 4))
        return NULL;
    memmove(&s->files[at + 1], &s->files[at], (s->n_files - at) * sizeof *s->files);
    s->n_files++;
    struct afile *f = &s->files[at];
    memset(f, 0, sizeof *f);
    f->seq = seq;
    f->first = f->last = -1;
    f->opened_ms = INT64_MIN;
    eddy_buf_init(&f->rows);
    return f;
}

static void file_remove(struct eddy_archive_sink *s, size_t i)
{
    eddy_buf_release(&s->files[i].rows);
    memmove(&s->files[i], &s->files[i + 1], (s->n_files - i - 1) * sizeof *s->files);
    s->n_files--;
}

void eddy__archive_consumed(struct eddy_archive_sink *s, int64_t offset)
{
    if (s->open_first < 0)
        s->open_first = offset;
    s->open_last = offset;
    s->head_dirty = true;
}

/* ---- row encoding ---- */

static void put_u64le(struct eddy_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    eddy_buf_append(b, x, 8);
}

static uint64_t get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_be(unsigned char *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const unsigned char *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | in[i];
    return v;
}

static void put_str(struct eddy_buf *b, const char *p, size_t len)
{
    unsigned char h[5] = {TAG_STR};
    put_be(h + 1, len, 4);
    eddy_buf_append(b, h, 5);
    eddy_buf_append(b, p, len);
}

static void put_int(struct eddy_buf *b, int64_t i)
{
    eddy_buf_putc(b, TAG_INT);
    put_u64le(b, (uint64_t)i);
}

/* Appends @v converted to @type. */
static void encode_value(struct eddy_archive_sink *s, struct eddy_buf *b,
                         enum eddy_archive_type type, const struct eddy_value *v)
{
    switch (type) {
    case EDDY_ARCHIVE_INT64:
    case EDDY_ARCHIVE_TIMESTAMP:
        if (v->type == EDDY_V_INT)
            put_int(b, v->as.i);
        else if (v->type == EDDY_V_NUM && v->as.n == floor(v->as.n) && fabs(v->as.n) < 9.2e18)
            put_int(b, (int64_t)v->as.n);
        else
            eddy_buf_putc(b, TAG_NULL);
        return;
    case EDDY_ARCHIVE_DOUBLE: {
        double d;
        if (eddy_value_number(v, &d)) {
            uint64_t bits;
            memcpy(&bits, &d, 8);
            eddy_buf_putc(b, TAG_NUM);
            put_u64le(b, bits);
        } else {
            eddy_buf_putc(b, TAG_NULL);
        }
        return;
    }
    case EDDY_ARCHIVE_BOOLEAN:
        eddy_buf_putc(b, v->type == EDDY_V_BOOL ? (v->as.b ? TAG_TRUE : TAG_FALSE) : TAG_NULL);
        return;
    case EDDY_ARCHIVE_STRING:
        switch (v->type) {
        case EDDY_V_STR:
        case EDDY_V_JSON: put_str(b, v->as.s.ptr, v->as.s.len); return;
        case EDDY_V_INT:
        case EDDY_V_NUM:
        case EDDY_V_BOOL:
            eddy_buf_reset(&s->text);
            if (v->type == EDDY_V_INT)
                eddy_buf_json_i64(&s->text, v->as.i);
            else if (v->type == EDDY_V_NUM)
                eddy_buf_json_num(&s->text, v->as.n);
            else
                eddy_buf_puts(&s->text, v->as.b ? "true" : "false");
            if (!s->text.oom) {
                put_str(b, s->text.data, s->text.len);
                return;
            }
            b->oom = true;
            return;
        default: eddy_buf_putc(b, TAG_NULL); return;
        }
    }
    eddy_buf_putc(b, TAG_NULL);
}

/* Decodes one row at *pos into s->vals; false when the bytes are malformed. */
static bool decode_row(struct eddy_archive_sink *s, const struct eddy_buf *rows, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)rows->data;
    size_t at = *pos, end = rows->len;
    for (size_t c = 0; c < s->def->n_columns; c++) {
        if (at >= end)
            return false;
        struct eddy_value *v = &s->vals[c];
        switch (p[at++]) {
        case TAG_NULL: *v = eddy_value_null(); break;
        case TAG_FALSE:
        case TAG_TRUE:
            *v = (struct eddy_value){.type = EDDY_V_BOOL, .as.b = p[at - 1] == TAG_TRUE};
            break;
        case TAG_INT:
        case TAG_NUM: {
            if (end - at < 8)
                return false;
            uint64_t bits = get_u64le(p + at);
            if (p[at - 1] == TAG_INT) {
                *v = (struct eddy_value){.type = EDDY_V_INT, .as.i = (int64_t)bits};
            } else {
                v->type = EDDY_V_NUM;
                memcpy(&v->as.n, &bits, 8);
            }
            at += 8;
            break;
        }
        case TAG_STR: {
            if (end - at < 4)
                return false;
            size_t len = (size_t)get_be(p + at, 4);
            at += 4;
            if (end - at < len)
                return false;
            *v = (struct eddy_value){.type = EDDY_V_STR,
                                     .as.s = {(const char *)p + at, (uint32_t)len}};
            at += len;
            break;
        }
        default: return false;
        }
    }
    *pos = at;
    return true;
}

static struct afile *open_file(struct eddy_archive_sink *s)
{
    return file_get(s, s->open_seq);
}

eddy_err_t eddy__archive_add(struct eddy_archive_sink *s, const struct eddy_value *row)
{
    struct afile *f = open_file(s);
    if (!f)
        return EDDY_ENOMEM;
    size_t before = f->rows.len;
    for (size_t c = 0; c < s->def->n_columns; c++)
        encode_value(s, &f->rows, s->def->columns[c].type, &row[c]);
    if (f->rows.oom) {
        f->rows.oom = false;
        f->rows.len = before;
        return EDDY_ENOMEM;
    }
    if (f->n_rows++ == 0)
        f->opened_ms = eddy_now_ms();
    s->stats.rows++;
    return EDDY_OK;
}

bool eddy__archive_roll(struct eddy_archive_sink *s, int64_t now_ms, bool force)
{
    struct afile *f = NULL;
    for (size_t i = 0; i < s->n_files; i++)
        if (s->files[i].seq == s->open_seq)
            f = &s->files[i];
    if (!f || !f->n_rows)
        return false;
    if (!force && now_ms - f->opened_ms < s->def->roll_ms && f->rows.len < s->def->roll_bytes)
        return false;
    f->sealed = true;
    if (s->open_first >= 0) {
        f->first = s->open_first;
        f->last = s->open_last;
    } else { /* rows from merged partials only: an empty range after the previous file */
        f->first = s->prev_last + 1;
        f->last = s->prev_last;
    }
    s->prev_last = f->last;
    s->open_seq++;
    s->open_first = s->open_last = -1;
    s->head_dirty = true;
    return true;
}

/* ---- publication ---- */

static void partition_value(struct eddy_archive_sink *s, size_t part)
{
    const struct eddy_archive *def = s->def;
    struct eddy_buf *t = &s->text;
    eddy_buf_reset(t);
    if (def->partition_by[part] == EDDY_ARCHIVE_DATE) {
        const struct eddy_value *ts = &s->vals[0]; /* window_start or event_time */
        if (ts->type == EDDY_V_INT) {
            char day[32];
            eddy_time_format(ts->as.i, day);
            eddy_buf_append(t, day, 10);
        }
        return;
    }
    const struct eddy_value *v = &s->vals[def->partition_by[part]];
    switch (v->type) {
    case EDDY_V_STR: eddy_buf_append(t, v->as.s.ptr, v->as.s.len); break;
    case EDDY_V_INT: eddy_buf_json_i64(t, v->as.i); break;
    case EDDY_V_NUM: eddy_buf_json_num(t, v->as.n); break;
    case EDDY_V_BOOL: eddy_buf_puts(t, v->as.b ? "true" : "false"); break;
    default: break; /* null: Hive's default partition */
    }
}

/* s->dir = "<path>/<name>/<col>=<value>/.../" of the decoded row. */
static void row_dir(struct eddy_archive_sink *s)
{
    const struct eddy_archive *def = s->def;
    struct eddy_buf *d = &s->dir;
    eddy_buf_reset(d);
    eddy_buf_printf(d, "%s/%s/", def->path, def->name);
    for (size_t i = 0; i < def->n_partition_by; i++) {
        size_t c = def->partition_by[i];
        eddy_buf_puts(d, c == EDDY_ARCHIVE_DATE ? "date" : def->columns[c].name);
        eddy_buf_putc(d, '=');
        partition_value(s, i);
        eddy__parquet_hive_escape(d, s->text.data ? s->text.data : "", s->text.len);
        eddy_buf_putc(d, '/');
    }
    eddy_buf_putc(d, '\0');
}

static eddy_err_t writer_for(struct eddy_archive_sink *s, const struct afile *f,
                             struct eddy_parquet_writer **out)
{
    for (size_t i = s->n_writers; i-- > 0;)
        if (strcmp(s->writers[i].dir, s->dir.data) == 0) {
            *out = s->writers[i].w;
            return EDDY_OK;
        }
    if (!eddy_array_reserve(&s->writers, &s->cap_writers, s->n_writers + 1, sizeof *s->writers, 8))
        return EDDY_ENOMEM;
    char first[24], last[24];
    snprintf(first, sizeof first, "%" PRId64, f->first);
    snprintf(last, sizeof last, "%" PRId64, f->last);
    eddy_buf_reset(&s->path);
    eddy_buf_printf(&s->path, "%s%s", s->dir.data, s->name.data);
    if (eddy_buf_err(&s->path))
        return EDDY_ENOMEM;
    const struct eddy_parquet_kv meta[] = {
        {"eddy.archive", s->def->name},
        {"eddy.task", s->label},
        {"eddy.first_offset", first},
        {"eddy.last_offset", last},
    };
    struct eddy_parquet_options opts = {.create_dirs = true, .metadata = meta, .metadata_count = 4};
    struct eddy_parquet_schema schema = {s->pcols, s->n_pcols};
    struct writer *w = &s->writers[s->n_writers];
    if (!(w->dir = eddy_strdup(s->dir.data)))
        return EDDY_ENOMEM;
    eddy_err_t err = eddy__parquet_open(s->path.data, &schema, &opts, &w->w);
    if (err) {
        eddy_free(w->dir);
        return err;
    }
    s->n_writers++;
    *out = w->w;
    return EDDY_OK;
}

/* Removes the temporary files an earlier attempt at the file @name of @dir
 * left behind (".<name>.<pid>.<n>.tmp", sink/parquet.h): killed while it
 * wrote them. Only a committed seal is ever written, and a restored task
 * writes it again under the same name, so every leftover is found here. */
static void remove_leftovers(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t nl = strlen(name);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (len > nl + 6 && n[0] == '.' && strncmp(n + 1, name, nl) == 0 && n[nl + 1] == '.' &&
            strcmp(n + len - 4, ".tmp") == 0) {
            if (unlinkat(dirfd(d), n, 0) == 0)
                eddy_log(EDDY_LOG_INFO, "archive",
                         "removed '%s%s', left by an earlier attempt at '%s'", dir, n, name);
        }
    }
    closedir(d);
}

static eddy_err_t write_file(struct eddy_archive_sink *s, struct afile *f)
{
    eddy_err_t err = EDDY_OK;
    eddy_buf_reset(&s->name); /* the same in every partition directory */
    eddy_buf_printf(&s->name, "part-%s-%" PRId64 "-%" PRId64, s->label, f->first, f->last);
    if (f->first > f->last) /* no input since the previous file: unique by its number */
        eddy_buf_printf(&s->name, "-s%" PRIu64, f->seq);
    eddy_buf_puts(&s->name, ".parquet");
    eddy_buf_putc(&s->name, '\0');
    if (eddy_buf_err(&s->name))
        return EDDY_ENOMEM;
    size_t pos = 0;
    uint64_t rows = 0;
    while (!err && pos < f->rows.len) {
        if (!decode_row(s, &f->rows, &pos)) {
            eddy_log(EDDY_LOG_ERROR, "archive",
                     "%s: file %" PRIu64 " has malformed rows at byte %zu", s->def->name, f->seq,
                     pos);
            err = EDDY_ESTATE;
            break;
        }
        struct eddy_parquet_writer *w;
        row_dir(s);
        if (eddy_buf_err(&s->dir) || eddy_buf_err(&s->text)) {
            err = EDDY_ENOMEM;
            break;
        }
        if ((err = writer_for(s, f, &w)))
            break;
        for (size_t c = 0; c < s->n_pcols; c++)
            s->pvals[c] = s->vals[s->pcol_from[c]];
        if ((err = eddy__parquet_append(w, s->pvals)))
            eddy_log(EDDY_LOG_ERROR, "archive", "%s: %s", s->def->name, eddy__parquet_error(w));
        rows++;
    }
    uint64_t bytes = 0;
    size_t files = 0;
    for (size_t i = 0; !err && i < s->n_writers; i++) {
        struct writer *w = &s->writers[i];
        bytes += eddy__parquet_bytes(w->w);
        err = eddy__parquet_close(w->w);
        w->w = NULL;
        if (!err)
            remove_leftovers(w->dir, s->name.data);
        eddy_free(w->dir);
        w->dir = NULL;
        files++;
    }
    /* on error: the files not closed yet are discarded (their temporary files
     * removed); those already renamed are rewritten identically next time */
    for (size_t i = files; i < s->n_writers; i++) {
        eddy__parquet_discard(s->writers[i].w);
        eddy_free(s->writers[i].dir);
    }
    s->n_writers = 0;
    if (err)
        return err;
    s->stats.files += files;
    s->stats.rows_written += rows;
    s->stats.bytes_written += bytes;
    eddy_log(EDDY_LOG_DEBUG, "archive",
             "%s: published %zu file(s) of task %s, offsets %" PRId64 "-%" PRId64 ", %" PRIu64
             " rows",
             s->def->name, files, s->label, f->first, f->last, rows);
    return EDDY_OK;
}

eddy_err_t eddy__archive_publish(struct eddy_archive_sink *s)
{
    int64_t now = eddy_mono_ns();
    if (s->retry_after_ns && now < s->retry_after_ns)
        return EDDY_OK;
    s->retry_after_ns = 0;
    for (size_t i = 0; i < s->n_files;) {
        struct afile *f = &s->files[i];
        if (!f->sealed || f->published || (s->durable && !f->committed)) {
            i++;
            continue;
        }
        eddy_err_t err = write_file(s, f);
        if (err) {
            s->stats.errors++;
            s->retry_after_ns = now + RETRY_NS;
            eddy_log(EDDY_LOG_ERROR, "archive",
                     "%s: could not publish the file of task %s, offsets %" PRId64 "-%" PRId64
                     " (%s); retrying in 5 s",
                     s->def->name, s->label, f->first, f->last, eddy_err_message(err));
            return err == EDDY_ENOMEM ? err : EDDY_EIO;
        }
        if (s->durable) {
            f->published = true; /* deleted from the store at the next changes */
            i++;
        } else {
            file_remove(s, i);
        }
    }
    return EDDY_OK;
}

/* ---- persistence ---- */

static size_t key_of(unsigned char *k, char kind, uint8_t index, const struct afile *f,
                     uint32_t segment)
{
    k[0] = (unsigned char)kind;
    k[1] = index;
    if (kind == KEY_HEAD)
        return 2;
    put_be(k + 2, f->seq, 8);
    if (kind == KEY_SEAL)
        return 10;
    put_be(k + 10, segment, 4);
    return 14;
}

eddy_err_t eddy__archive_changes(struct eddy_archive_sink *s, eddy_archive_put_fn put, void *ctx)
{
    unsigned char k[14], v[24];
    eddy_err_t err;
    if (!s->durable)
        return EDDY_OK;
    for (size_t i = 0; i < s->n_files;) {
        struct afile *f = &s->files[i];
        if (f->published) {
            for (uint32_t g = 0; g < f->segments; g++)
                if ((err = put(ctx, k, key_of(k, KEY_SEGMENT, s->index, f, g), NULL, 0)))
                    return err;
            if ((err = put(ctx, k, key_of(k, KEY_SEAL, s->index, f, 0), NULL, 0)))
                return err;
            file_remove(s, i);
            continue;
        }
        while (f->rows.len > f->shipped) {
            /* segments of at most SEGMENT_BYTES, cut between rows (a longer
             * row is a segment of its own): a changelog record must stay
             * under the broker's message size limit (1 MB by default) */
            size_t end = f->shipped, next = end;
            while (next < f->rows.len &&
                   (next == f->shipped || next - f->shipped <= SEGMENT_BYTES)) {
                end = next;
                if (!decode_row(s, &f->rows, &next))
                    return EDDY_ESTATE;
            }
            if (next - f->shipped <= SEGMENT_BYTES || end == f->shipped)
                end = next;
            if ((err = put(ctx, k, key_of(k, KEY_SEGMENT, s->index, f, f->segments),
                           f->rows.data + f->shipped, end - f->shipped)))
                return err;
            f->segments++;
            f->shipped = end;
        }
        if (f->sealed && !f->seal_shipped) {
            put_be(v, (uint64_t)f->first, 8);
            put_be(v + 8, (uint64_t)f->last, 8);
            put_be(v + 16, f->segments, 4);
            if ((err = put(ctx, k, key_of(k, KEY_SEAL, s->index, f, 0), v, 20)))
                return err;
            f->seal_shipped = true;
        }
        i++;
    }
    if (s->head_dirty) {
        put_be(v, s->open_seq, 8);
        put_be(v + 8, (uint64_t)s->open_first, 8);
        put_be(v + 16, (uint64_t)s->open_last, 8);
        if ((err = put(ctx, k, key_of(k, KEY_HEAD, s->index, NULL, 0), v, 24)))
            return err;
        s->head_dirty = false;
    }
    return EDDY_OK;
}

void eddy__archive_committed(struct eddy_archive_sink *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        if (s->files[i].seal_shipped)
            s->files[i].committed = true;
}

bool eddy__archive_key_index(const void *key, size_t key_len, size_t *index)
{
    const unsigned char *k = key;
    if (key_len < 2)
        return false;
    *index = k[1];
    return true;
}

eddy_err_t eddy__archive_load(struct eddy_archive_sink *s, const void *key, size_t key_len,
                              const void *value, size_t value_len)
{
    const unsigned char *k = key, *v = value;
    struct afile *f;
    if (key_len == 2 && k[0] == KEY_HEAD && value_len == 24) {
        s->open_seq = get_be(v, 8);
        s->open_first = (int64_t)get_be(v + 8, 8);
        s->open_last = (int64_t)get_be(v + 16, 8);
        s->prev_last = s->open_first >= 0 ? s->open_first - 1 : -1;
        for (size_t i = 0; i < s->n_files; i++) /* an empty file made before the head came */
            if (!s->files[i].n_rows && !s->files[i].sealed && s->files[i].seq != s->open_seq)
                file_remove(s, i--);
        return EDDY_OK;
    }
    if (key_len == 14 && k[0] == KEY_SEGMENT) {
        if (!(f = file_get(s, get_be(k + 2, 8))))
            return EDDY_ENOMEM;
        eddy_buf_append(&f->rows, value, value_len);
        if (eddy_buf_err(&f->rows))
            return EDDY_ENOMEM;
        size_t pos = f->shipped;
        while (pos < f->rows.len) { /* count the rows (and check them) */
            if (!decode_row(s, &f->rows, &pos))
                return EDDY_ESTATE;
            if (f->n_rows++ == 0)
                f->opened_ms = eddy_now_ms();
        }
        f->shipped = f->rows.len;
        f->segments = (uint32_t)get_be(k + 10, 4) + 1;
        return EDDY_OK;
    }
    if (key_len == 10 && k[0] == KEY_SEAL && value_len == 20) {
        if (!(f = file_get(s, get_be(k + 2, 8))))
            return EDDY_ENOMEM;
        f->first = (int64_t)get_be(v, 8);
        f->last = (int64_t)get_be(v + 8, 8);
        f->sealed = f->seal_shipped = f->committed = true;
        return EDDY_OK;
    }
    eddy_log(EDDY_LOG_ERROR, "archive", "%s: unknown record in the archive store (%zu bytes)",
             s->def->name, key_len);
    return EDDY_ESTATE;
}

size_t eddy__archive_memory(const struct eddy_archive_sink *s)
{
    size_t bytes = sizeof *s + s->cap_files * sizeof *s->files;
    for (size_t i = 0; i < s->n_files; i++)
        bytes += s->files[i].rows.cap;
    return bytes;
}

const struct eddy_archive_stats *eddy__archive_stats(const struct eddy_archive_sink *s)
{
    return &s->stats;
}
