/*
 * file.c - line source over plain, gzip and LZ4-frame files or stdin; see
 * file.h for the format and the guarantees.
 *
 * Buffers: `raw` (one block) holds bytes as read from the file descriptor;
 * `text` (max_line + 2 + one block) holds decompressed text, of which
 * [start, end) is not yet returned and [start, scanned) is known to contain no
 * '\n'. Before text is refilled the unreturned bytes move to the front, which
 * is why a returned line stays valid exactly until the next call. The refill
 * always has at least a block of room: the unreturned bytes never exceed
 * max_line + 1 (one more and the line is reported too large).
 *
 * Compressed input is decompressed by a decoder thread, a few blocks ahead
 * of the caller (DECODED_BLOCKS buffers of one block): decompression and
 * parsing then take a core each (LZ4 on the processing thread halved the
 * rate of a plain file). The thread owns raw, zs and lz4 once started; the
 * blocks are handed over under `lock`. A decoding error travels in its block
 * and is returned where the text ends.
 *
 * zlib and LZ4F allocate through core/alloc.h like the rest of eddy.
 */
#include "source/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>

#include "core/alloc.h"
#include "core/log.h"

enum codec { CODEC_UNKNOWN, CODEC_PLAIN, CODEC_GZIP, CODEC_LZ4 };

#define DECODED_BLOCKS 4

struct decoded {
    char *data; /* EDDY_FILE_SOURCE_BLOCK bytes */
    size_t len, pos;
    bool eof;   /* the last block: nothing follows */
    bool error; /* decoding failed after these bytes (logged) */
};

struct decoder {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct decoded blocks[DECODED_BLOCKS];
    size_t head, count; /* filled blocks: blocks[head], ... (count of them) */
    bool stop;          /* under lock: the source is closing */
};

struct eddy_file_source {
    char *path;
    int fd;
    bool close_fd;
    enum codec codec;
    size_t max_line;

    unsigned char *raw; /* EDDY_FILE_SOURCE_BLOCK bytes */
    size_t raw_pos, raw_len;
    bool raw_eof;

    char *text;
    size_t text_cap, start, scanned, end;
    bool text_eof; /* every decompressed byte is in text */
    bool skipping; /* dropping the rest of a line reported too large */
    bool failed;
    int64_t line_no;

    z_stream zs;
    bool zs_ready;
    bool gz_in_member; /* inside a gzip member (its trailer not yet read) */
    LZ4F_dctx *lz4;
    bool lz4_in_frame; /* LZ4F_decompress has not yet reported a frame end */

    struct decoder *decoder; /* compressed input, once the first text is wanted */
};

static const char *SUBSYSTEM = "source";

static void decoder_stop(struct eddy_file_source *src);

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return eddy_calloc(items, size);
}

static void zlib_free(voidpf opaque, voidpf address)
{
    (void)opaque;
    eddy_free(address);
}

static void *lz4_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return eddy_malloc(size);
}

static void *lz4_calloc(void *opaque, size_t size)
{
    (void)opaque;
    return eddy_calloc(1, size);
}

static void lz4_free(void *opaque, void *address)
{
    (void)opaque;
    eddy_free(address);
}

eddy_err_t eddy__file_source_open(const char *path, size_t max_line, struct eddy_file_source **out)
{
    eddy_err_t err = EDDY_ENOMEM;
    struct eddy_file_source *src = NULL;
    *out = NULL;
    if (max_line == 0)
        max_line = EDDY_FILE_SOURCE_DEFAULT_MAX_LINE;
    if (max_line > SIZE_MAX / 4) {
        eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "cannot open '%s': max line of %zu bytes is too large",
                 path, max_line);
        return EDDY_EINVAL;
    }
    src = eddy_calloc(1, sizeof *src);
    if (!src)
        goto out;
    src->fd = -1;
    src->max_line = max_line;
    src->text_cap = max_line + 2 + EDDY_FILE_SOURCE_BLOCK;
    src->path = eddy_strdup(path);
    src->raw = eddy_malloc(EDDY_FILE_SOURCE_BLOCK);
    src->text = eddy_malloc(src->text_cap);
    if (!src->path || !src->raw || !src->text)
        goto out;
    if (strcmp(path, "-") == 0) {
        src->fd = STDIN_FILENO;
    } else {
        src->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (src->fd < 0) {
            err = errno == ENOENT ? EDDY_ENOTFOUND : EDDY_EIO;
            eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "cannot open input file '%s': %s", path,
                     strerror(errno));
            goto out;
        }
        src->close_fd = true;
    }
    *out = src;
    src = NULL;
    err = EDDY_OK;
out:
    eddy__file_source_close(src);
    return err;
}

void eddy__file_source_close(struct eddy_file_source *src)
{
    if (!src)
        return;
    decoder_stop(src);
    if (src->close_fd)
        close(src->fd);
    if (src->zs_ready)
        inflateEnd(&src->zs);
    if (src->lz4)
        LZ4F_freeDecompressionContext(src->lz4);
    eddy_free(src->text);
    eddy_free(src->raw);
    eddy_free(src->path);
    eddy_free(src);
}

const char *eddy__file_source_path(const struct eddy_file_source *src)
{
    return src->path;
}

/* Logs; the caller's thread marks the source failed (the decoder thread
 * through its block). */
static eddy_err_t fail(struct eddy_file_source *src, const char *what, const char *why)
{
    eddy_log(EDDY_LOG_ERROR, SUBSYSTEM, "%s '%s': %s", what, src->path, why);
    return EDDY_EIO;
}

/* Reads up to @room bytes at @dst; sets raw_eof at end of file. */
static eddy_err_t read_some(struct eddy_file_source *src, void *dst, size_t room, size_t *got)
{
    for (;;) {
        ssize_t n = read(src->fd, dst, room);
        if (n >= 0) {
            *got = (size_t)n;
            src->raw_eof = n == 0;
            return EDDY_OK;
        }
        if (errno != EINTR)
            return fail(src, "cannot read", strerror(errno));
    }
}

/* Refills raw once it is used up. */
static eddy_err_t refill_raw(struct eddy_file_source *src)
{
    if (src->raw_pos < src->raw_len || src->raw_eof)
        return EDDY_OK;
    src->raw_pos = src->raw_len = 0;
    return read_some(src, src->raw, EDDY_FILE_SOURCE_BLOCK, &src->raw_len);
}

/* Looks at the first bytes (pipes may deliver fewer than 4 per read). */
static eddy_err_t detect_codec(struct eddy_file_source *src)
{
    static const unsigned char lz4_magic[4] = {0x04, 0x22, 0x4d, 0x18};
    while (src->raw_len < 4 && !src->raw_eof) {
        size_t got;
        eddy_err_t err =
            read_some(src, src->raw + src->raw_len, EDDY_FILE_SOURCE_BLOCK - src->raw_len, &got);
        if (err)
            return err;
        src->raw_len += got;
    }
    src->codec = CODEC_PLAIN;
    if (src->raw_len >= 2 && src->raw[0] == 0x1f && src->raw[1] == 0x8b) {
        src->zs.zalloc = zlib_alloc;
        src->zs.zfree = zlib_free;
        if (inflateInit2(&src->zs, 16 + MAX_WBITS) != Z_OK)
            return fail(src, "cannot start gzip decompression of", "out of memory");
        src->zs_ready = true;
        src->gz_in_member = true;
        src->zs.next_in = src->raw;
        src->zs.avail_in = (uInt)src->raw_len;
        src->raw_pos = src->raw_len;
        src->codec = CODEC_GZIP;
    } else if (src->raw_len >= 4 && memcmp(src->raw, lz4_magic, 4) == 0) {
        LZ4F_CustomMem mem = {lz4_alloc, lz4_calloc, lz4_free, NULL};
        src->lz4 = LZ4F_createDecompressionContext_advanced(mem, LZ4F_VERSION);
        if (!src->lz4)
            return fail(src, "cannot start lz4 decompression of", "out of memory");
        src->lz4_in_frame = true;
        src->codec = CODEC_LZ4;
    }
    return EDDY_OK;
}

static eddy_err_t fill_plain(struct eddy_file_source *src, size_t room)
{
    if (src->raw_pos < src->raw_len) { /* bytes read while detecting */
        size_t n = src->raw_len - src->raw_pos;
        n = n < room ? n : room;
        memcpy(src->text + src->end, src->raw + src->raw_pos, n);
        src->raw_pos += n;
        src->end += n;
        return EDDY_OK;
    }
    if (src->raw_eof) {
        src->text_eof = true;
        return EDDY_OK;
    }
    size_t got;
    eddy_err_t err = read_some(src, src->text + src->end, room, &got);
    src->end += got;
    src->text_eof = src->raw_eof;
    return err;
}

/* Decompresses at least one byte to @dst (at most @room) unless the input
 * ends (*eof). */
static eddy_err_t fill_gzip(struct eddy_file_source *src, char *dst, size_t room, size_t *out,
                            bool *eof)
{
    z_stream *zs = &src->zs;
    for (;;) {
        if (zs->avail_in == 0 && !src->raw_eof) {
            src->raw_pos = src->raw_len;
            eddy_err_t err = refill_raw(src);
            if (err)
                return err;
            zs->next_in = src->raw;
            zs->avail_in = (uInt)src->raw_len;
            src->raw_pos = src->raw_len;
        }
        if (!src->gz_in_member) { /* another member follows, as gunzip reads them */
            if (zs->avail_in == 0) {
                *eof = true;
                return EDDY_OK;
            }
            if (zs->next_in[0] != 0x1f) {
                eddy_log(EDDY_LOG_WARN, SUBSYSTEM, "trailing garbage ignored in '%s'", src->path);
                *eof = true;
                return EDDY_OK;
            }
            inflateReset(zs);
            src->gz_in_member = true;
        }
        /* Called even without input: inflate may hold output from before. */
        zs->next_out = (Bytef *)dst;
        zs->avail_out = (uInt)room;
        int rc = inflate(zs, Z_NO_FLUSH);
        size_t produced = room - zs->avail_out;
        *out = produced;
        if (rc == Z_STREAM_END)
            src->gz_in_member = false;
        else if (rc == Z_BUF_ERROR && zs->avail_in == 0 && src->raw_eof)
            return fail(src, "corrupt gzip data in", "unexpected end of file");
        else if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs->avail_in == 0))
            return fail(src, "corrupt gzip data in", zs->msg ? zs->msg : zError(rc));
        if (produced > 0)
            return EDDY_OK;
    }
}

static eddy_err_t fill_lz4(struct eddy_file_source *src, char *dst, size_t room, size_t *out,
                           bool *eof)
{
    for (;;) {
        eddy_err_t err = refill_raw(src);
        if (err)
            return err;
        size_t avail = src->raw_len - src->raw_pos;
        if (avail == 0 && !src->lz4_in_frame) {
            *eof = true;
            return EDDY_OK;
        }
        /* Called even without input: LZ4F may hold output from before. */
        size_t dst_size = room, src_size = avail;
        size_t hint = LZ4F_decompress(src->lz4, dst, &dst_size, src->raw + src->raw_pos,
                                      &src_size, NULL);
        if (LZ4F_isError(hint))
            return fail(src, "corrupt lz4 data in", LZ4F_getErrorName(hint));
        src->raw_pos += src_size;
        *out = dst_size;
        src->lz4_in_frame = hint != 0;
        if (dst_size > 0)
            return EDDY_OK;
        if (avail == 0 && src->lz4_in_frame)
            return fail(src, "corrupt lz4 data in", "unexpected end of file");
        if (avail > 0 && src_size == 0)
            return fail(src, "corrupt lz4 data in", "no progress");
    }
}

/* ---- decoder thread ---- */

/* Fills @b with up to a block of decompressed text. */
static void decode_block(struct eddy_file_source *src, struct decoded *b)
{
    b->len = b->pos = 0;
    b->eof = b->error = false;
    while (b->len < EDDY_FILE_SOURCE_BLOCK && !b->eof) {
        size_t got = 0;
        char *dst = b->data + b->len;
        size_t room = EDDY_FILE_SOURCE_BLOCK - b->len;
        eddy_err_t err = src->codec == CODEC_GZIP ? fill_gzip(src, dst, room, &got, &b->eof)
                                                  : fill_lz4(src, dst, room, &got, &b->eof);
        b->len += got;
        if (err) {
            b->error = b->eof = true;
            return;
        }
    }
}

static void *decoder_main(void *arg)
{
    struct eddy_file_source *src = arg;
    struct decoder *d = src->decoder;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!d->stop && d->count == DECODED_BLOCKS)
            pthread_cond_wait(&d->changed, &d->lock);
        if (d->stop) {
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        struct decoded *b = &d->blocks[(d->head + d->count) % DECODED_BLOCKS];
        pthread_mutex_unlock(&d->lock);
        decode_block(src, b); /* a free block: the reader does not touch it */
        pthread_mutex_lock(&d->lock);
        d->count++;
        pthread_cond_broadcast(&d->changed);
        bool last = b->eof;
        pthread_mutex_unlock(&d->lock);
        if (last)
            return NULL;
    }
}

static eddy_err_t decoder_start(struct eddy_file_source *src)
{
    struct decoder *d = eddy_calloc(1, sizeof *d);
    if (!d)
        return fail(src, "cannot start decompressing", "out of memory");
    for (size_t i = 0; i < DECODED_BLOCKS; i++)
        if (!(d->blocks[i].data = eddy_malloc(EDDY_FILE_SOURCE_BLOCK))) {
            for (size_t j = 0; j < i; j++)
                eddy_free(d->blocks[j].data);
            eddy_free(d);
            return fail(src, "cannot start decompressing", "out of memory");
        }
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->changed, NULL);
    src->decoder = d;
    if (pthread_create(&d->thread, NULL, decoder_main, src) != 0) {
        src->decoder = NULL;
        pthread_cond_destroy(&d->changed);
        pthread_mutex_destroy(&d->lock);
        for (size_t i = 0; i < DECODED_BLOCKS; i++)
            eddy_free(d->blocks[i].data);
        eddy_free(d);
        return fail(src, "cannot start decompressing", "no thread");
    }
    return EDDY_OK;
}

static void decoder_stop(struct eddy_file_source *src)
{
    struct decoder *d = src->decoder;
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->changed);
    pthread_mutex_destroy(&d->lock);
    for (size_t i = 0; i < DECODED_BLOCKS; i++)
        eddy_free(d->blocks[i].data);
    eddy_free(d);
    src->decoder = NULL;
}

/* Appends decoded text (at most @room bytes) from the decoder's blocks,
 * waiting for the next one when none is ready. */
static eddy_err_t fill_decoded(struct eddy_file_source *src, size_t room)
{
    struct decoder *d = src->decoder;
    pthread_mutex_lock(&d->lock);
    while (d->count == 0)
        pthread_cond_wait(&d->changed, &d->lock);
    struct decoded *b = &d->blocks[d->head];
    pthread_mutex_unlock(&d->lock);
    size_t n = b->len - b->pos < room ? b->len - b->pos : room;
    memcpy(src->text + src->end, b->data + b->pos, n);
    b->pos += n;
    src->end += n;
    if (b->pos < b->len || (n > 0 && b->eof)) /* the end or error comes next call */
        return EDDY_OK;
    if (b->eof) {
        src->text_eof = true;
        if (b->error) {
            src->failed = true;
            return EDDY_EIO;
        }
        return EDDY_OK; /* the thread has ended; the block stays, empty */
    }
    pthread_mutex_lock(&d->lock);
    d->head = (d->head + 1) % DECODED_BLOCKS;
    d->count--;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    return EDDY_OK;
}

/* Moves unreturned text to the front and appends at least one byte, or sets
 * text_eof. */
static eddy_err_t fill_text(struct eddy_file_source *src)
{
    if (src->start > 0) {
        memmove(src->text, src->text + src->start, src->end - src->start);
        src->end -= src->start;
        src->scanned -= src->start;
        src->start = 0;
    }
    size_t room = src->text_cap - src->end;
    if (room > EDDY_FILE_SOURCE_BLOCK)
        room = EDDY_FILE_SOURCE_BLOCK;
    eddy_err_t err = EDDY_OK;
    if (src->codec == CODEC_UNKNOWN) {
        if ((err = detect_codec(src)) ||
            (src->codec != CODEC_PLAIN && (err = decoder_start(src)))) {
            src->failed = true;
            return err;
        }
    }
    if (src->codec != CODEC_PLAIN) {
        size_t before = src->end;
        while (!(err = fill_decoded(src, room)) && src->end == before && !src->text_eof)
            ; /* an empty block (a frame boundary): take the next */
        return err;
    }
    if ((err = fill_plain(src, room)))
        src->failed = true;
    return err;
}

/* In skipping mode: drops text up to and including the next '\n'; returns
 * whether it was found (else all buffered text was dropped). */
static bool skip_rest(struct eddy_file_source *src)
{
    char *nl = memchr(src->text + src->scanned, '\n', src->end - src->scanned);
    if (!nl) {
        src->start = src->scanned = src->end;
        return false;
    }
    src->start = src->scanned = (size_t)(nl - src->text) + 1;
    src->skipping = false;
    return true;
}

enum scan { SCAN_LINE, SCAN_NEED_MORE, SCAN_END };

/* Takes the next line out of the buffered text: *p and *n without its line
 * end (n == 0 for an empty line, n > max_line for a line to cut). */
static enum scan scan_line(struct eddy_file_source *src, const char **p, size_t *n)
{
    char *text = src->text;
    char *nl = memchr(text + src->scanned, '\n', src->end - src->scanned);
    *p = text + src->start;
    if (nl) {
        *n = (size_t)(nl - *p);
        src->start = src->scanned = (size_t)(nl - text) + 1;
    } else {
        src->scanned = src->end;
        *n = src->end - src->start;
        if (*n > src->max_line + 1) { /* too long, and its end not even read yet */
            src->skipping = true;
            return SCAN_LINE;
        }
        if (!src->text_eof)
            return SCAN_NEED_MORE;
        if (*n == 0)
            return SCAN_END;
        src->start = src->end; /* the last line has no '\n' */
    }
    if (*n > 0 && (*p)[*n - 1] == '\r')
        (*n)--;
    return SCAN_LINE;
}

eddy_err_t eddy__file_source_next(struct eddy_file_source *src, const char **line, size_t *len,
                                  int64_t *offset, bool *too_large)
{
    if (src->failed)
        return EDDY_EIO;
    for (;;) {
        if (src->skipping && !skip_rest(src)) {
            if (src->text_eof)
                return EDDY_EEOF;
        } else {
            const char *p;
            size_t n;
            enum scan scan = scan_line(src, &p, &n);
            if (scan == SCAN_END)
                return EDDY_EEOF;
            if (scan == SCAN_LINE) {
                int64_t line_no = src->line_no++;
                if (n == 0)
                    continue;
                *line = p;
                *len = n > src->max_line ? src->max_line : n;
                *offset = line_no;
                *too_large = n > src->max_line;
                return EDDY_OK;
            }
        }
        if (fill_text(src))
            return EDDY_EIO;
    }
}
