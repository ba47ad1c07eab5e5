/*
 * query.h - interactive queries over the serving view (docs/http.md):
 * parsing /v1/query and /v1/windows parameters, the per-instance partial
 * answer (/v1/partial), merging partials from every instance, and rendering
 * query results and the status page data (/v1/status).
 *
 * A partial is per window: rows (window start, projected group key, row
 * value) with an instance's rows of the same window and projected key
 * already merged; the coordinator merges partials of every instance per
 * window, resolves `last` against the newest window end any of them has
 * seen, then folds windows together (window=merged) or not (window=each).
 * Sketches merge as in rollups, so merged quantiles and distinct counts are
 * those of the union.
 */
#ifndef EDDY_SERVE_QUERY_H
#define EDDY_SERVE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eddy/err.h"
#include "eddy/topology.h"
#include "serve/view.h"

struct eddy_param {
    const char *name, *value;
};

#define EDDY_QUERY_MAX_FIELDS 16
#define EDDY_QUERY_MAX_VALUES 64

struct eddy_query {
    size_t aggregation;
    size_t by[EDDY_QUERY_MAX_FIELDS];
    size_t n_by;
    struct eddy_view_filter filters[EDDY_QUERY_MAX_FIELDS];
    size_t n_filters;
    const char *values[EDDY_QUERY_MAX_VALUES]; /* borrowed from the parameters */
    bool each;
    int64_t last_ms; /* > 0: window starts in [newest - last, newest) */
    int64_t from, to;
};

/*
 * Parses the parameters of /v1/query (@agg_path NULL) or /v1/windows/AGG
 * (@agg_path = AGG: every group field must be given once; window=each).
 * Parameters: agg, by, window, last, from, to, and field=value filters;
 * "local" and "alerts" are ignored (forwarding flags). EDDY_EINVAL with a
 * message in @err naming the parameter (HTTP 400), EDDY_ENOTFOUND for an
 * unknown aggregation (404). The query borrows the parameter strings.
 */
eddy_err_t eddy__query_parse(const struct eddy_plan *plan, const char *agg_path,
                             const struct eddy_param *params, size_t n, struct eddy_query *q,
                             char *err, size_t errlen);

struct eddy_qresult;

eddy_err_t eddy__qresult_new(const struct eddy_plan *plan, const struct eddy_query *q,
                             struct eddy_qresult **out);
void eddy__qresult_free(struct eddy_qresult *r);
/* Adds this instance's rows. */
eddy_err_t eddy__qresult_add_local(struct eddy_qresult *r, struct eddy_view *view);
/* Adds a peer's /v1/partial answer; EDDY_EPARSE when it is not one. */
eddy_err_t eddy__qresult_add_partial(struct eddy_qresult *r, const char *json, size_t len);
/* This instance's /v1/partial answer for @q (with @alerts, its firing alerts too):
 * {"newest":ms|null,"rows":[[start,"b64 key","b64 value"],...],"alerts":[...]} */
eddy_err_t eddy__query_partial(const struct eddy_plan *plan, struct eddy_view *view,
                               const struct eddy_query *q, bool alerts, struct eddy_buf *out);
/* The /v1/query answer; @asked/@answered: instances. */
eddy_err_t eddy__qresult_render(struct eddy_qresult *r, int asked, int answered,
                                struct eddy_buf *out);
/* The alert events collected from partials (and added with
 * eddy__qresult_add_alerts), as {"firing":[...]}-ready JSON array text. */
eddy_err_t eddy__qresult_add_alerts(struct eddy_qresult *r, const char *json_array, size_t len);

/* The status query: serve.status's aggregation, every group field, each
 * window, the whole retention. False when the plan has no serve.status. */
bool eddy__status_query(const struct eddy_plan *plan, struct eddy_query *q);
/* The /v1/status answer from a result of that query. */
eddy_err_t eddy__status_render(struct eddy_qresult *r, int asked, int answered,
                               struct eddy_buf *out);
/* The /v1/alerts answer. */
eddy_err_t eddy__alerts_render(struct eddy_qresult *r, int asked, int answered,
                               struct eddy_buf *out);

#endif
