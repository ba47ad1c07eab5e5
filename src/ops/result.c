/*
 * result.c - see result.h.
 */
#include "ops/result.h"

#include <string.h>

#include "codec/timestamp.h"
#include "core/time.h"

void eddy__value_json(struct eddy_buf *buf, const struct eddy_value *v)
{
    switch (v->type) {
    case EDDY_V_BOOL: eddy_buf_puts(buf, v->as.b ? "true" : "false"); break;
    case EDDY_V_INT: eddy_buf_json_i64(buf, v->as.i); break;
    case EDDY_V_NUM: eddy_buf_json_num(buf, v->as.n); break;
    case EDDY_V_STR: eddy_buf_json_str(buf, v->as.s.ptr, v->as.s.len); break;
    case EDDY_V_JSON: eddy_buf_append(buf, v->as.s.ptr, v->as.s.len); break; /* top_k */
    default: eddy_buf_puts(buf, "null"); break;
    }
}

static void name_json(struct eddy_buf *buf, const char *name)
{
    eddy_buf_json_str(buf, name, strlen(name));
    eddy_buf_putc(buf, ':');
}

void eddy__result_key_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                           const struct eddy_window_row *row)
{
    eddy_buf_putc(buf, '{');
    for (size_t g = 0; g < agg->n_group; g++) {
        if (g)
            eddy_buf_putc(buf, ',');
        name_json(buf, agg->group_names[g]);
        eddy__value_json(buf, &row->group[g]);
    }
    eddy_buf_putc(buf, '}');
}

static void body_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                      const struct eddy_window_row *row)
{
    char start[32], end[32];
    size_t start_len = eddy_time_format(row->window_start, start);
    size_t end_len = eddy_time_format(row->window_end, end);
    eddy_buf_puts(buf, "\"aggregation\":");
    eddy_buf_json_str(buf, agg->name, strlen(agg->name));
    eddy_buf_puts(buf, ",\"window\":{\"start\":\"");
    eddy_buf_append(buf, start, start_len);
    eddy_buf_puts(buf, "\",\"end\":\"");
    eddy_buf_append(buf, end, end_len);
    eddy_buf_puts(buf, "\"},\"key\":");
    eddy__result_key_json(buf, agg, row);
}

static void metrics_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                         const struct eddy_window_row *row)
{
    eddy_buf_puts(buf, "\"metrics\":{");
    for (size_t m = 0; m < agg->n_metrics; m++) {
        const struct eddy_metric *metric = &agg->metrics[m];
        if (m)
            eddy_buf_putc(buf, ',');
        name_json(buf, metric->name);
        eddy__value_json(buf, &row->metrics[m]);
        if (metric->kind == EDDY_M_QUANTILE || metric->kind == EDDY_M_DISTINCT ||
            metric->kind == EDDY_M_TOP_K || metric->kind == EDDY_M_TOP_K_BY) {
            /* the error bound of a sketch, relative to the value (top_k: to
             * the row's total, agg/topk.h): 0 when exact */
            eddy_buf_putc(buf, ',');
            eddy_buf_json_str(buf, metric->name, strlen(metric->name));
            if (!buf->oom)
                buf->len--; /* reopen the closing quote: "<name>_error" */
            eddy_buf_puts(buf, "_error\":");
            eddy_buf_json_num(buf, row->errors[m]);
        }
    }
    eddy_buf_putc(buf, '}');
}

void eddy__result_json(struct eddy_buf *buf, const struct eddy_aggregation *agg,
                       const struct eddy_window_row *row)
{
    eddy_buf_putc(buf, '{');
    body_json(buf, agg, row);
    if (row->retracted) { /* session windows: the window no longer exists */
        eddy_buf_puts(buf, ",\"final\":false,\"retracted\":true}");
        return;
    }
    eddy_buf_puts(buf, row->final ? ",\"final\":true," : ",\"final\":false,");
    if (row->revision)
        eddy_buf_printf(buf, "\"revision\":%lu,", (unsigned long)row->revision);
    metrics_json(buf, agg, row);
    eddy_buf_putc(buf, '}');
}

void eddy__alert_json(struct eddy_buf *buf, const struct eddy_alert *alert, bool firing,
                      const struct eddy_aggregation *agg, const struct eddy_window_row *row)
{
    eddy_buf_puts(buf, "{\"alert\":");
    eddy_buf_json_str(buf, alert->name, strlen(alert->name));
    eddy_buf_puts(buf, firing ? ",\"state\":\"firing\"," : ",\"state\":\"resolved\",");
    body_json(buf, agg, row);
    eddy_buf_putc(buf, ',');
    metrics_json(buf, agg, row);
    eddy_buf_putc(buf, '}');
}

bool eddy__result_final_end(const char *json, size_t len, int64_t *end_ms)
{
    /* {"aggregation":...,"window":{"start":"...","end":"..."},"key":{...},"final":true */
    static const char end_key[] = "\"end\":\"", final_key[] = "},\"final\":true";
    const char *limit = json + len;
    const char *e = memmem(json, len, end_key, sizeof end_key - 1);
    if (!e)
        return false;
    e += sizeof end_key - 1;
    const char *q = memchr(e, '"', (size_t)(limit - e));
    if (!q || !eddy__ts_parse_rfc3339(e, (size_t)(q - e), end_ms))
        return false;
    return memmem(q, (size_t)(limit - q), final_key, sizeof final_key - 1) != NULL;
}
