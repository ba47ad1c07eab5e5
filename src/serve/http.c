/*
 * http.c - see serve.h: libmicrohttpd routes, forwarding to peers with
 * libcurl, and the directory of instances.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "serve/assets.h"
#include "serve/query.h"
#include "serve/serve.h"
#include "sink/kafka.h"
#include "source/kafka.h"

#define SUBSYS "http"
#define MAX_PARAMS 64
#define MAX_PEERS 64
#define PEER_TIMEOUT_MS 1500
#define PEER_MAX_AGE_MS 60000
#define HEALTH_MAX_SILENCE_NS (30LL * 1000000000LL)

struct peer {
    char instance[128];
    char http[128];
    int64_t ts;
    bool has_partitions;
};

struct eddy_serve {
    const struct eddy_plan *plan;
    struct eddy_view *view;
    struct eddy_metrics metrics;
    struct MHD_Daemon *mhd;
    char address[160];
    char instance[128];
    /* directory (Kafka mode) */
    struct eddy_kconf kconf;
    char *dir_topic;
    pthread_t dir_thread;
    bool dir_running;
    int dir_stop; /* atomic */
    pthread_mutex_t dir_lock;
    struct peer peers[MAX_PEERS];
    size_t n_peers;
};

struct eddy_view *eddy__serve_view(struct eddy_serve *s)
{
    return s->view;
}

struct eddy_metrics *eddy__serve_metrics(struct eddy_serve *s)
{
    return &s->metrics;
}

const char *eddy__serve_address(const struct eddy_serve *s)
{
    return s->address;
}

char *eddy__serve_directory_topic(const struct eddy_plan *plan)
{
    size_t len = strlen(plan->name) + sizeof "-instances";
    char *t = eddy_malloc(len);
    if (t)
        snprintf(t, len, "%s-instances", plan->name);
    return t;
}

/* ---- directory ---- */

static eddy_err_t directory_record(void *ctx, const void *key, size_t klen, const void *value,
                                   size_t vlen, int64_t offset)
{
    (void)key, (void)klen, (void)offset;
    struct eddy_serve *s = ctx;
    if (!value)
        return EDDY_OK;
    json_error_t jerr;
    json_t *doc = json_loadb(value, vlen, 0, &jerr);
    const char *inst = json_string_value(json_object_get(doc, "instance"));
    const char *http = json_string_value(json_object_get(doc, "http"));
    json_t *parts = json_object_get(doc, "partitions");
    json_int_t ts = json_integer_value(json_object_get(doc, "ts"));
    if (inst && http && strlen(inst) < 128 && strlen(http) < 128) {
        pthread_mutex_lock(&s->dir_lock);
        size_t i = 0;
        while (i < s->n_peers && strcmp(s->peers[i].instance, inst) != 0)
            i++;
        if (i == s->n_peers && s->n_peers < MAX_PEERS)
            s->n_peers++;
        if (i < s->n_peers) {
            struct peer *p = &s->peers[i];
            snprintf(p->instance, sizeof p->instance, "%s", inst);
            snprintf(p->http, sizeof p->http, "%s", http);
            p->ts = ts;
            p->has_partitions = json_array_size(parts) > 0;
        }
        pthread_mutex_unlock(&s->dir_lock);
    }
    json_decref(doc);
    return EDDY_OK;
}

static void *directory_main(void *arg)
{
    struct eddy_serve *s = arg;
    struct eddy_kreader *reader = NULL;
    int64_t next = -1;
    bool warned = false;
    while (!__atomic_load_n(&s->dir_stop, __ATOMIC_RELAXED)) {
        if (!reader && eddy__kreader_new(&s->kconf, &reader))
            reader = NULL;
        if (reader)
            eddy__kreader_quiet(reader);
        if (reader) {
            int64_t after = next;
            eddy_err_t err = eddy__kreader_read(reader, s->dir_topic, 0, next, directory_record, s,
                                                &after);
            if (!err)
                next = after;
            else if (err == EDDY_ERANGE)
                next = -1; /* deleted and recreated */
            else if (!warned) {
                eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot read the instance directory %s: %s "
                         "(queries answer from this instance only until it can)",
                         s->dir_topic, eddy_err_message(err));
                warned = true;
            }
        }
        for (int i = 0; i < 10 && !__atomic_load_n(&s->dir_stop, __ATOMIC_RELAXED); i++) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    eddy__kreader_free(reader);
    return NULL;
}

/* Copies the live peers' addresses (not this instance). */
static size_t live_peers(struct eddy_serve *s, char (*out)[128], size_t max)
{
    size_t n = 0;
    int64_t now = eddy_now_ms();
    pthread_mutex_lock(&s->dir_lock);
    for (size_t i = 0; i < s->n_peers && n < max; i++) {
        const struct peer *p = &s->peers[i];
        if (strcmp(p->instance, s->instance) != 0 && p->has_partitions &&
            now - p->ts <= PEER_MAX_AGE_MS)
            memcpy(out[n++], p->http, 128);
    }
    pthread_mutex_unlock(&s->dir_lock);
    return n;
}

/* ---- forwarding ---- */

struct fetch {
    CURL *curl;
    struct eddy_buf body;
    bool failed;
};

static size_t fetch_write(char *data, size_t size, size_t n, void *ctx)
{
    struct fetch *f = ctx;
    if (f->body.len + size * n > (256u << 20))
        return 0; /* a peer answering more than 256 MB: give up on it */
    eddy_buf_append(&f->body, data, size * n);
    return f->body.oom ? 0 : size * n;
}

/* The query string of @params plus "&local=1&alerts=1", URL-escaped. */
static void query_string(CURL *curl, const struct eddy_param *params, size_t n, bool alerts,
                         struct eddy_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].name, "local") == 0 || strcmp(params[i].name, "alerts") == 0)
            continue;
        char *k = curl_easy_escape(curl, params[i].name, 0);
        char *v = curl_easy_escape(curl, params[i].value ? params[i].value : "", 0);
        if (k && v)
            eddy_buf_printf(out, "%s=%s&", k, v);
        curl_free(k);
        curl_free(v);
    }
    eddy_buf_puts(out, alerts ? "local=1&alerts=1" : "local=1");
}

/*
 * Asks every live peer for its partial answer (GET /v1/partial with the same
 * parameters) in parallel, at most PEER_TIMEOUT_MS, and merges what
 * answered into @r. *asked and *answered count this instance too.
 */
static void fan_out(struct eddy_serve *s, const char *agg_path, const struct eddy_param *params,
                    size_t n, bool alerts, struct eddy_qresult *r, int *asked, int *answered)
{
    char addrs[MAX_PEERS][128];
    size_t n_peers = s->dir_topic ? live_peers(s, addrs, MAX_PEERS) : 0;
    *asked = 1 + (int)n_peers;
    *answered = 1;
    if (!n_peers)
        return;
    CURLM *multi = curl_multi_init();
    struct fetch *f = eddy_calloc(n_peers, sizeof *f);
    if (!multi || !f) {
        curl_multi_cleanup(multi);
        eddy_free(f);
        return;
    }
    for (size_t i = 0; i < n_peers; i++) {
        struct eddy_buf url;
        eddy_buf_init(&url);
        eddy_buf_init(&f[i].body);
        f[i].curl = curl_easy_init();
        if (!f[i].curl) {
            f[i].failed = true;
            continue;
        }
        eddy_buf_printf(&url, "http://%s/v1/partial", addrs[i]);
        if (agg_path) {
            char *a = curl_easy_escape(f[i].curl, agg_path, 0);
            eddy_buf_printf(&url, "?windows=1&agg=%s&", a ? a : "");
            curl_free(a);
        } else {
            eddy_buf_putc(&url, '?');
        }
        query_string(f[i].curl, params, n, alerts, &url);
        curl_easy_setopt(f[i].curl, CURLOPT_URL, url.data);
        curl_easy_setopt(f[i].curl, CURLOPT_WRITEFUNCTION, fetch_write);
        curl_easy_setopt(f[i].curl, CURLOPT_WRITEDATA, &f[i]);
        curl_easy_setopt(f[i].curl, CURLOPT_TIMEOUT_MS, (long)PEER_TIMEOUT_MS);
        curl_easy_setopt(f[i].curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(f[i].curl, CURLOPT_PROTOCOLS_STR, "http");
        curl_multi_add_handle(multi, f[i].curl);
        eddy_buf_release(&url);
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (size_t i = 0; i < n_peers; i++) {
            if (f[i].curl != msg->easy_handle)
                continue;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200) {
                eddy_log(EDDY_LOG_WARN, SUBSYS, "peer %s did not answer: %s (HTTP %ld)",
                         addrs[i], curl_easy_strerror(msg->data.result), code);
            } else if (eddy__qresult_add_partial(r, f[i].body.data, f[i].body.len)) {
                eddy_log(EDDY_LOG_WARN, SUBSYS, "peer %s sent a malformed partial answer",
                         addrs[i]);
            } else {
                (*answered)++;
            }
        }
    }
    for (size_t i = 0; i < n_peers; i++) {
        if (f[i].curl) {
            curl_multi_remove_handle(multi, f[i].curl);
            curl_easy_cleanup(f[i].curl);
        }
        eddy_buf_release(&f[i].body);
    }
    eddy_free(f);
    curl_multi_cleanup(multi);
}

/* ---- requests ---- */

struct params {
    struct eddy_param items[MAX_PARAMS];
    size_t n;
    bool overflow;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct params *p = cls;
    if (p->n == MAX_PARAMS) {
        p->overflow = true;
        return MHD_NO;
    }
    p->items[p->n++] = (struct eddy_param){key, value ? value : ""};
    return MHD_YES;
}

static enum MHD_Result respond(struct eddy_serve *s, struct MHD_Connection *c, unsigned code,
                               const char *type, const void *data, size_t len, bool copy)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    eddy__metrics_count_http(&s->metrics, code);
    return ret;
}

static enum MHD_Result respond_buf(struct eddy_serve *s, struct MHD_Connection *c,
                                   unsigned code, const char *type, struct eddy_buf *b)
{
    enum MHD_Result ret = respond(s, c, code, type, b->data ? b->data : "", b->len, true);
    eddy_buf_release(b);
    return ret;
}

static enum MHD_Result respond_json(struct eddy_serve *s, struct MHD_Connection *c,
                                    unsigned code, struct eddy_buf *b)
{
    return respond_buf(s, c, code, "application/json", b);
}

static enum MHD_Result respond_error(struct eddy_serve *s, struct MHD_Connection *c,
                                     unsigned code, const char *message)
{
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_puts(&b, "{\"error\":");
    if (eddy_utf8_valid(message, strlen(message)))
        eddy_buf_json_str(&b, message, strlen(message));
    else
        eddy_buf_puts(&b, "\"invalid request\"");
    eddy_buf_putc(&b, '}');
    return respond_json(s, c, code, &b);
}

static unsigned query_error_code(eddy_err_t err)
{
    return err == EDDY_ENOTFOUND ? 404 : err == EDDY_EINVAL ? 400 : 500;
}

static enum MHD_Result serve_health(struct eddy_serve *s, struct MHD_Connection *c, bool ready)
{
    struct eddy_metrics_snapshot snap;
    eddy__metrics_read(&s->metrics, &snap);
    bool alive = snap.heartbeat_ns && eddy_mono_ns() - snap.heartbeat_ns < HEALTH_MAX_SILENCE_NS;
    const char *state;
    unsigned code;
    if (!ready) { /* alive unless the processing loop stopped reporting */
        state = alive ? "ok" : snap.heartbeat_ns ? "stalled" : "starting";
        code = alive || !snap.heartbeat_ns ? 200 : 503;
    } else {
        state = snap.readiness == EDDY_READY     ? "ready"
                : snap.readiness == EDDY_RESTORING ? "restoring"
                                                   : "starting";
        code = snap.readiness == EDDY_READY && alive ? 200 : 503;
        if (snap.readiness == EDDY_READY && !alive)
            state = "stalled";
    }
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_printf(&b, "{\"status\":\"%s\"}", state);
    return respond_json(s, c, code, &b);
}

static enum MHD_Result serve_aggregations(struct eddy_serve *s, struct MHD_Connection *c)
{
    const struct eddy_plan *plan = s->plan;
    struct eddy_buf b;
    eddy_buf_init(&b);
    eddy_buf_puts(&b, "{\"topology\":");
    eddy_buf_json_str(&b, plan->name, strlen(plan->name));
    eddy_buf_printf(&b, ",\"retention_ms\":%lld,\"aggregations\":[",
                    (long long)plan->serve.retention_ms);
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        const struct eddy_aggregation *agg = &plan->aggregations[a];
        eddy_buf_puts(&b, a ? ",{\"name\":" : "{\"name\":");
        eddy_buf_json_str(&b, agg->name, strlen(agg->name));
        eddy_buf_puts(&b, ",\"group_by\":[");
        for (size_t g = 0; g < agg->n_group; g++) {
            if (g)
                eddy_buf_putc(&b, ',');
            eddy_buf_json_str(&b, agg->group_names[g], strlen(agg->group_names[g]));
        }
        eddy_buf_printf(&b, "],\"window_ms\":%lld,\"advance_ms\":%lld,\"metrics\":[",
                        (long long)agg->window.size_ms,
                        (long long)(agg->window.advance_ms ? agg->window.advance_ms
                                                           : agg->window.size_ms));
        for (size_t m = 0; m < agg->n_metrics; m++) {
            if (m)
                eddy_buf_putc(&b, ',');
            eddy_buf_json_str(&b, agg->metrics[m].name, strlen(agg->metrics[m].name));
        }
        eddy_buf_puts(&b, "]}");
    }
    eddy_buf_puts(&b, "]}");
    return respond_json(s, c, 200, &b);
}

enum route { R_QUERY, R_WINDOWS, R_PARTIAL, R_STATUS, R_ALERTS };

static const char *param(const struct params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return p->items[i].value;
    return NULL;
}

static enum MHD_Result serve_query(struct eddy_serve *s, struct MHD_Connection *c, enum route rt,
                                   const char *agg_path, struct params *p)
{
    char msg[256] = "";
    struct eddy_query q;
    eddy_err_t err = EDDY_OK;
    if (rt == R_PARTIAL && param(p, "windows")) { /* a forwarded /v1/windows/AGG */
        agg_path = param(p, "agg");
        /* drop agg= and windows= from the parameters the parser sees */
        size_t k = 0;
        for (size_t i = 0; i < p->n; i++)
            if (strcmp(p->items[i].name, "agg") != 0 && strcmp(p->items[i].name, "windows") != 0)
                p->items[k++] = p->items[i];
        p->n = k;
    }
    if (rt == R_STATUS) {
        if (!eddy__status_query(s->plan, &q))
            return respond_error(s, c, 404, "this topology has no serve.status");
    } else if (rt == R_ALERTS) {
        if (!s->plan->n_aggregations)
            return respond_error(s, c, 404, "this topology has no aggregations");
        q = (struct eddy_query){.from = 0, .to = 0}; /* no rows: alerts only */
    } else {
        err = eddy__query_parse(s->plan, agg_path, p->items, p->n, &q, msg, sizeof msg);
        if (err)
            return respond_error(s, c, query_error_code(err), msg);
    }
    bool with_alerts = rt == R_STATUS || rt == R_ALERTS || (rt == R_PARTIAL && param(p, "alerts"));
    struct eddy_buf b;
    eddy_buf_init(&b);
    if (rt == R_PARTIAL) {
        err = eddy__query_partial(s->plan, s->view, &q, with_alerts, &b);
        if (err) {
            eddy_buf_release(&b);
            return respond_error(s, c, 500, eddy_err_message(err));
        }
        return respond_json(s, c, 200, &b);
    }
    struct eddy_qresult *r;
    if ((err = eddy__qresult_new(s->plan, &q, &r)))
        return respond_error(s, c, 500, eddy_err_message(err));
    int asked = 1, answered = 1;
    err = eddy__qresult_add_local(r, s->view);
    if (!err && with_alerts) {
        eddy_buf_reset(&b);
        err = eddy__view_alerts_json(s->view, &b);
        if (!err)
            err = eddy__qresult_add_alerts(r, b.data, b.len);
        eddy_buf_reset(&b);
    }
    if (!err) {
        if (rt == R_STATUS || rt == R_ALERTS) { /* peers get the equivalent query */
            const struct eddy_aggregation *agg = &s->plan->aggregations[q.aggregation];
            char last[32], by[1024] = "";
            snprintf(last, sizeof last, "%lldms", (long long)q.last_ms);
            for (size_t g = 0; g < agg->n_group; g++) /* by every group field */
                snprintf(by + strlen(by), sizeof by - strlen(by), "%s%s", g ? "," : "",
                         agg->group_names[g]);
            struct eddy_param all[4] = {{"agg", agg->name}, {"last", last}, {"by", by},
                                        {"window", "each"}};
            if (rt == R_ALERTS) {
                all[1] = (struct eddy_param){"from", "0"};
                all[2] = (struct eddy_param){"to", "0"};
            }
            fan_out(s, NULL, all, rt == R_STATUS ? 4 : 3, true, r, &asked, &answered);
        } else {
            fan_out(s, agg_path, p->items, p->n, false, r, &asked, &answered);
        }
    }
    if (!err)
        err = rt == R_STATUS   ? eddy__status_render(r, asked, answered, &b)
              : rt == R_ALERTS ? eddy__alerts_render(r, asked, answered, &b)
                               : eddy__qresult_render(r, asked, answered, &b);
    eddy__qresult_free(r);
    if (err) {
        eddy_buf_release(&b);
        return respond_error(s, c, 500, eddy_err_message(err));
    }
    return respond_json(s, c, 200, &b);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version, (void)upload_data;
    struct eddy_serve *s = cls;
    static int first_call_marker;
    if (!*con_cls) { /* headers only so far: answer on the next call */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size) { /* no request has a body: ignore it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond_error(s, c, 405, "only GET and HEAD");
    struct params p = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &p);
    if (p.overflow)
        return respond_error(s, c, 400, "too many parameters");
    if (strcmp(url, "/healthz") == 0)
        return serve_health(s, c, false);
    if (strcmp(url, "/readyz") == 0)
        return serve_health(s, c, true);
    if (strcmp(url, "/metrics") == 0) {
        struct eddy_buf b;
        eddy_buf_init(&b);
        if (eddy__metrics_render(&s->metrics, s->plan, eddy__view_rows(s->view), &b)) {
            eddy_buf_release(&b);
            return respond_error(s, c, 500, "out of memory");
        }
        return respond_buf(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    }
    if (strcmp(url, "/v1/aggregations") == 0)
        return serve_aggregations(s, c);
    if (strcmp(url, "/v1/query") == 0)
        return serve_query(s, c, R_QUERY, NULL, &p);
    if (strcmp(url, "/v1/partial") == 0)
        return serve_query(s, c, R_PARTIAL, NULL, &p);
    if (strcmp(url, "/v1/status") == 0)
        return serve_query(s, c, R_STATUS, NULL, &p);
    if (strcmp(url, "/v1/alerts") == 0)
        return serve_query(s, c, R_ALERTS, NULL, &p);
    if (strncmp(url, "/v1/windows/", 12) == 0 && url[12] && !strchr(url + 12, '/'))
        return serve_query(s, c, R_WINDOWS, url + 12, &p);
    struct eddy_asset asset;
    if (eddy__asset_find(url, &asset))
        return respond(s, c, 200, asset.content_type, asset.data, asset.len, false);
    return respond_error(s, c, 404, "no such path");
}

/* ---- start and stop ---- */

static bool parse_listen(const char *listen, struct sockaddr_in *sa)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= 64)
        return false;
    char host[64];
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return false;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    eddy_log(EDDY_LOG_WARN, SUBSYS, "%s", line);
}

eddy_err_t eddy__serve_start(const struct eddy_plan *plan, const struct eddy_serve_opts *opts,
                             struct eddy_serve **out)
{
    struct sockaddr_in sa;
    if (!parse_listen(opts->listen, &sa)) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "--http '%s': expected IPv4ADDR:PORT, e.g. "
                 "127.0.0.1:8080 or 0.0.0.0:8080", opts->listen);
        return EDDY_EINVAL;
    }
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init);
    struct eddy_serve *s = eddy_calloc(1, sizeof *s);
    if (!s)
        return EDDY_ENOMEM;
    s->plan = plan;
    snprintf(s->instance, sizeof s->instance, "%s", opts->instance ? opts->instance : "local");
    eddy__metrics_init(&s->metrics);
    pthread_mutex_init(&s->dir_lock, NULL);
    eddy_err_t err = eddy__view_new(plan, plan->serve.retention_ms, &s->view);
    if (err) {
        eddy__serve_stop(s);
        return err;
    }
    s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                  MHD_USE_ERROR_LOG,
                              0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                              NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_END);
    if (!s->mhd) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot listen on %s (in use, or not an address of "
                 "this machine)", opts->listen);
        eddy__serve_stop(s);
        return EDDY_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : ntohs(sa.sin_port);
    if (opts->advertise) {
        snprintf(s->address, sizeof s->address, "%s", opts->advertise);
    } else {
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
        snprintf(s->address, sizeof s->address, "%s:%u",
                 strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port);
    }
    if (opts->bootstrap) {
        s->kconf = (struct eddy_kconf){opts->bootstrap, opts->props, opts->n_props};
        s->dir_topic = eddy__serve_directory_topic(plan);
        if (!s->dir_topic || pthread_create(&s->dir_thread, NULL, directory_main, s) != 0) {
            eddy__serve_stop(s);
            return EDDY_ENOMEM;
        }
        s->dir_running = true;
    }
    eddy_log(EDDY_LOG_INFO, SUBSYS, "serving http://%s/ (status page, /metrics, /v1, /healthz, "
             "/readyz)", s->address);
    *out = s;
    return EDDY_OK;
}

void eddy__serve_stop(struct eddy_serve *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->dir_running) {
        __atomic_store_n(&s->dir_stop, 1, __ATOMIC_RELAXED);
        pthread_join(s->dir_thread, NULL);
    }
    eddy__view_free(s->view);
    eddy_free(s->dir_topic);
    pthread_mutex_destroy(&s->dir_lock);
    eddy__metrics_destroy(&s->metrics);
    eddy_free(s);
}
