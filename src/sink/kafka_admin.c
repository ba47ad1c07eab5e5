/*
 * sink/kafka_admin.c - topic creation and cluster facts through librdkafka's
 * Admin API and metadata requests; see kafka_admin.h.
 *
 * Each call opens a producer-type client with allow.auto.create.topics=false
 * (so that asking for a topic's metadata never creates it) and destroys it
 * before returning. Every wait is bounded: metadata 10 s per request,
 * CreateTopics 30 s, readiness of new topics 30 s in all.
 */
#include "sink/kafka_admin.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"

#define SUBSYS "kafka"
#define METADATA_TIMEOUT_MS 10000
#define CREATE_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 30000
#define READY_POLL_MS 100

static eddy_err_t admin_new(const struct eddy_kconf *conf, rd_kafka_t **out)
{
    static const char *const forced[] = {"allow.auto.create.topics", "false", NULL};
    rd_kafka_conf_t *rconf = NULL;
    eddy_err_t err = eddy__kafka_conf_new(conf, EDDY_KCLIENT_PRODUCER, NULL, forced, &rconf);
    if (err)
        return err;
    return eddy__kafka_client_new(EDDY_KCLIENT_PRODUCER, rconf, out);
}

static int64_t mono_ms(void)
{
    return eddy_mono_ns() / 1000000;
}

static eddy_err_t brokers_of(rd_kafka_t *rk, int *out)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, METADATA_TIMEOUT_MS);
    if (err)
        return eddy__kafka_err(rk, err, "cannot read the cluster metadata");
    *out = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    return EDDY_OK;
}

/* Topic facts from metadata: *partitions = -1 when the topic does not exist;
 * *leaders = number of partitions with a leader. Logs nothing on success. */
static eddy_err_t topic_facts(rd_kafka_t *rk, const char *topic, int *partitions, int *leaders)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    eddy_err_t result = EDDY_OK;
    char what[320];
    if (!rkt) {
        snprintf(what, sizeof what, "cannot make a handle for topic '%s'", topic);
        return eddy__kafka_err(rk, rd_kafka_last_error(), what);
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    if (err) {
        snprintf(what, sizeof what, "cannot read the metadata of topic '%s'", topic);
        result = eddy__kafka_err(rk, err, what);
        goto out;
    }
    *partitions = -1;
    *leaders = 0;
    if (md->topic_cnt == 1 && (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                               md->topics[0].err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC))
        goto out;
    if (md->topic_cnt != 1 || (md->topics[0].err && md->topics[0].partition_cnt == 0)) {
        snprintf(what, sizeof what, "cannot read the metadata of topic '%s'", topic);
        result = eddy__kafka_err(
            rk, md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, what);
        goto out;
    }
    *partitions = md->topics[0].partition_cnt;
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        if (md->topics[0].partitions[p].leader >= 0 && !md->topics[0].partitions[p].err)
            (*leaders)++;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return result;
}

eddy_err_t eddy__kafka_partition_count(const struct eddy_kconf *conf, const char *topic, int *out)
{
    rd_kafka_t *rk = NULL;
    int partitions = -1, leaders = 0;
    eddy_err_t err = admin_new(conf, &rk);
    if (err)
        return err;
    err = topic_facts(rk, topic, &partitions, &leaders);
    rd_kafka_destroy(rk);
    if (err)
        return err;
    if (partitions < 0) {
        eddy_log(EDDY_LOG_DEBUG, SUBSYS, "topic '%s' does not exist", topic);
        return EDDY_ENOTFOUND;
    }
    *out = partitions;
    return EDDY_OK;
}

eddy_err_t eddy__kafka_broker_count(const struct eddy_kconf *conf, int *out)
{
    rd_kafka_t *rk = NULL;
    eddy_err_t err = admin_new(conf, &rk);
    if (err)
        return err;
    err = brokers_of(rk, out);
    rd_kafka_destroy(rk);
    return err;
}

static eddy_err_t create_result_err(rd_kafka_resp_err_t code)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED: return EDDY_ECONFIG;
    default: return EDDY_EKAFKA;
    }
}

static eddy_err_t new_topic(const struct eddy_topic_spec *spec, int brokers,
                            rd_kafka_NewTopic_t **out)
{
    char errstr[512], retention[32];
    int replication = spec->replication >= 0 ? spec->replication : (brokers < 3 ? brokers : 3);
    *out = rd_kafka_NewTopic_new(spec->name, spec->partitions, replication, errstr, sizeof errstr);
    if (!*out) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot create topic '%s': %s", spec->name, errstr);
        return EDDY_ECONFIG;
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (spec->cleanup_policy)
        err = rd_kafka_NewTopic_set_config(*out, "cleanup.policy", spec->cleanup_policy);
    if (!err && spec->retention_ms >= 0) {
        snprintf(retention, sizeof retention, "%" PRId64, spec->retention_ms);
        err = rd_kafka_NewTopic_set_config(*out, "retention.ms", retention);
    }
    if (err) {
        eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot configure topic '%s': %s", spec->name,
                 rd_kafka_err2str(err));
        return EDDY_ECONFIG;
    }
    return EDDY_OK;
}

/* Sends one CreateTopics request for all @specs; an existing topic is fine. */
static eddy_err_t create_all(rd_kafka_t *rk, const struct eddy_topic_spec *specs, size_t n,
                             int brokers)
{
    char errstr[512];
    eddy_err_t err = EDDY_OK;
    rd_kafka_NewTopic_t **topics = eddy_calloc(n, sizeof *topics);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_event_t *event = NULL;
    if (!topics) {
        err = EDDY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((err = new_topic(&specs[i], brokers, &topics[i])))
            goto out;
    rd_kafka_AdminOptions_set_operation_timeout(options, CREATE_TIMEOUT_MS / 2, errstr,
                                                sizeof errstr);
    rd_kafka_AdminOptions_set_request_timeout(options, CREATE_TIMEOUT_MS - 1000, errstr,
                                              sizeof errstr);
    rd_kafka_CreateTopics(rk, topics, n, options, queue);
    event = rd_kafka_queue_poll(queue, CREATE_TIMEOUT_MS);
    if (!event) {
        eddy_log(EDDY_LOG_WARN, SUBSYS, "cannot create topics: no answer in %d s",
                 CREATE_TIMEOUT_MS / 1000);
        err = EDDY_EKAFKA;
        goto out;
    }
    if (rd_kafka_event_error(event)) {
        err = eddy__kafka_err(rk, rd_kafka_event_error(event), "cannot create topics");
        goto out;
    }
    size_t count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    for (size_t i = 0; i < count; i++) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
        const char *name = rd_kafka_topic_result_name(results[i]);
        if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
            eddy_log(EDDY_LOG_INFO, SUBSYS, "created topic '%s'", name);
        else if (code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *msg = rd_kafka_topic_result_error_string(results[i]);
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "cannot create topic '%s': %s", name,
                     msg && *msg ? msg : rd_kafka_err2str(code));
            if (!err)
                err = create_result_err(code);
        }
    }
out:
    if (event)
        rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    for (size_t i = 0; topics && i < n; i++)
        if (topics[i])
            rd_kafka_NewTopic_destroy(topics[i]);
    eddy_free(topics);
    return err;
}

/* Waits until each topic shows its spec's partition count, each with a
 * leader. A topic with another partition count is EDDY_ECONFIG at once when
 * it existed before (@existed[i]); a new one may still be propagating. */
static eddy_err_t wait_ready(rd_kafka_t *rk, const struct eddy_topic_spec *specs, size_t n,
                             const bool *existed)
{
    int64_t deadline = mono_ms() + READY_TIMEOUT_MS;
    size_t ready = 0; /* specs[0..ready) are ready */
    while (ready < n) {
        int partitions = -1, leaders = 0;
        eddy_err_t err = topic_facts(rk, specs[ready].name, &partitions, &leaders);
        if (!err && existed[ready] && partitions >= 0 && partitions != specs[ready].partitions) {
            eddy_log(EDDY_LOG_ERROR, SUBSYS, "topic '%s' exists with %d partitions, expected %d",
                     specs[ready].name, partitions, specs[ready].partitions);
            return EDDY_ECONFIG;
        }
        if (!err && partitions == specs[ready].partitions && leaders == partitions) {
            ready++;
            continue;
        }
        if (mono_ms() >= deadline) {
            eddy_log(EDDY_LOG_WARN, SUBSYS,
                     "topic '%s' is not ready after %d s (%d of %d partitions with a leader)",
                     specs[ready].name, READY_TIMEOUT_MS / 1000, leaders, specs[ready].partitions);
            return EDDY_EKAFKA;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = READY_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return EDDY_OK;
}

eddy_err_t eddy__kafka_create_topics(const struct eddy_kconf *conf,
                                     const struct eddy_topic_spec *specs, size_t n)
{
    rd_kafka_t *rk = NULL;
    bool *existed = NULL;
    size_t n_missing = 0;
    int brokers = 0;
    eddy_err_t err;
    if (n == 0)
        return EDDY_OK;
    if ((err = admin_new(conf, &rk)))
        return err;
    if (!(existed = eddy_calloc(n, sizeof *existed))) {
        err = EDDY_ENOMEM;
        goto out;
    }
    if ((err = brokers_of(rk, &brokers)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        int partitions = -1, leaders = 0;
        if ((err = topic_facts(rk, specs[i].name, &partitions, &leaders)))
            goto out;
        existed[i] = partitions >= 0;
        n_missing += !existed[i];
    }
    if (n_missing) {
        /* Only the missing ones: asking for an existing topic again would
         * make the broker log errors for no reason. */
        struct eddy_topic_spec *missing = eddy_calloc(n_missing, sizeof *missing);
        if (!missing) {
            err = EDDY_ENOMEM;
            goto out;
        }
        for (size_t i = 0, j = 0; i < n; i++)
            if (!existed[i])
                missing[j++] = specs[i];
        err = create_all(rk, missing, n_missing, brokers);
        eddy_free(missing);
        if (err)
            goto out;
    }
    err = wait_ready(rk, specs, n, existed);
out:
    eddy_free(existed);
    rd_kafka_destroy(rk);
    return err;
}
