/*
 * file.c - see file.h.
 */
#include "sink/file.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

struct stream {
    FILE *fp;
    bool owned;
    char *buffer;
};

struct eddy_file_sink {
    struct stream out, dlq;
};

static eddy_err_t stream_open(struct stream *s, const char *path, FILE *dflt)
{
    if (!path || strcmp(path, "-") == 0) {
        s->fp = path ? stdout : dflt;
    } else {
        s->fp = fopen(path, "w");
        if (!s->fp) {
            eddy_log(EDDY_LOG_ERROR, "sink", "cannot open output '%s': %s", path,
                     strerror(errno));
            return EDDY_EIO;
        }
        s->owned = true;
    }
    if (s->fp != stderr) {
        s->buffer = eddy_malloc(1 << 20);
        if (s->buffer)
            setvbuf(s->fp, s->buffer, _IOFBF, 1 << 20);
    }
    return EDDY_OK;
}

static eddy_err_t stream_close(struct stream *s)
{
    if (!s->fp)
        return EDDY_OK;
    int rc = fflush(s->fp);
    if (s->owned && fclose(s->fp) != 0)
        rc = EOF;
    else if (!s->owned)
        setvbuf(s->fp, NULL, _IOLBF, 0);
    eddy_free(s->buffer);
    s->fp = NULL;
    return rc == 0 ? EDDY_OK : EDDY_EIO;
}

eddy_err_t eddy__file_sink_open(const char *out_path, const char *dlq_path,
                                struct eddy_file_sink **out)
{
    struct eddy_file_sink *sink = eddy_calloc(1, sizeof *sink);
    if (!sink)
        return EDDY_ENOMEM;
    eddy_err_t err = stream_open(&sink->out, out_path, stdout);
    if (!err)
        err = stream_open(&sink->dlq, dlq_path, stderr);
    if (err) {
        eddy__file_sink_close(sink);
        return err;
    }
    *out = sink;
    return EDDY_OK;
}

eddy_err_t eddy__file_sink_close(struct eddy_file_sink *sink)
{
    if (!sink)
        return EDDY_OK;
    eddy_err_t err = stream_close(&sink->out);
    eddy_err_t err2 = stream_close(&sink->dlq);
    eddy_free(sink);
    return err ? err : err2;
}

eddy_err_t eddy__file_sink_flush(struct eddy_file_sink *sink)
{
    int rc = fflush(sink->out.fp) | fflush(sink->dlq.fp);
    return rc == 0 ? EDDY_OK : EDDY_EIO;
}

static eddy_err_t sink_write(void *ctx, enum eddy_out_kind kind, const char *topic,
                             const char *key, size_t key_len, const char *value, size_t value_len)
{
    struct eddy_file_sink *sink = ctx;
    FILE *fp = kind == EDDY_OUT_DEAD ? sink->dlq.fp : sink->out.fp;
    if (fwrite(value, 1, value_len, fp) != value_len || putc('\n', fp) == EOF) {
        eddy_log(EDDY_LOG_ERROR, "sink", "cannot write output: %s", strerror(errno));
        return EDDY_EIO;
    }
    return EDDY_OK;
}

struct eddy_output eddy__file_sink_output(struct eddy_file_sink *sink)
{
    return (struct eddy_output){.write = sink_write, .ctx = sink};
}
