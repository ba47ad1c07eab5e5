/*
 * version.c - see version.h.
 *
 * eddy_plan_version builds every new string first and swaps them into the
 * plan only when all were made and every derived name is valid, so a
 * failure leaves the plan as loaded.
 */
#include "config/version.h"

#include <stdio.h>
#include <string.h>

#include "config/diff.h"
#include "core/alloc.h"

#define NAME_MAX_LEN 200  /* topology names (config/topology.c) */
#define TOPIC_MAX_LEN 249 /* Kafka topic names */

bool eddy_version_parse(const char *text, long *version)
{
    long v = 0;
    if (!text || text[0] < '1' || text[0] > '9')
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > EDDY_VERSION_MAX)
            return false;
    }
    *version = v;
    return true;
}

bool eddy_version_name(const char *name, long version, char *out, size_t size)
{
    int n = snprintf(out, size, "%s.v%ld", name, version);
    return n >= 0 && (size_t)n < size;
}

/* The topics the engine derives from the topology name (kengine.c,
 * serve/http.c): each must stay a valid topic name under the new name. */
static bool internal_names_fit(const struct eddy_plan *plan, const char *name, char *errbuf,
                               size_t errlen)
{
    size_t n_stores = 0;
    const char **stores = eddy_plan_store_names(plan, &n_stores);
    size_t longest = strlen("instances");
    for (size_t s = 0; stores && s < n_stores; s++)
        if (strlen(stores[s]) + strlen("--changelog") - 1 > longest)
            longest = strlen(stores[s]) + strlen("--changelog") - 1;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (plan->aggregations[a].repartition &&
            strlen(plan->aggregations[a].name) + strlen("--repartition") - 1 > longest)
            longest = strlen(plan->aggregations[a].name) + strlen("--repartition") - 1;
    eddy_free(stores);
    if (strlen(name) + 1 + longest <= TOPIC_MAX_LEN)
        return true;
    snprintf(errbuf, errlen,
             "the internal topics of '%s' would have names longer than %d "
             "characters",
             name, TOPIC_MAX_LEN);
    return false;
}

static char *versioned(const char *name, long version, size_t max, char *errbuf, size_t errlen,
                       bool *invalid)
{
    char text[TOPIC_MAX_LEN + 2];
    if (!eddy_version_name(name, version, text, sizeof text) || strlen(text) > max) {
        snprintf(errbuf, errlen, "'%s' with the suffix .v%ld would be longer than %zu characters",
                 name, version, max);
        *invalid = true;
        return NULL;
    }
    return eddy_strdup(text);
}

eddy_err_t eddy_plan_version(struct eddy_plan *plan, long version, char **dlq_topic, char *errbuf,
                             size_t errlen)
{
    size_t n_new = 2 + plan->n_aggregations + plan->n_alerts + plan->n_patterns + plan->n_archives,
           k = 0;
    char **made = eddy_calloc(n_new, sizeof *made);
    char dlq[NAME_MAX_LEN + TOPIC_MAX_LEN];
    bool invalid = false;
    eddy_err_t err = EDDY_ENOMEM;
    if (!made)
        return EDDY_ENOMEM;
    if (version < 1 || version > EDDY_VERSION_MAX) {
        snprintf(errbuf, errlen, "invalid version %ld (expected 1 to %ld)", version,
                 EDDY_VERSION_MAX);
        invalid = true;
        goto out;
    }
    snprintf(dlq, sizeof dlq, "%.*s-dlq", NAME_MAX_LEN, plan->name); /* names are <= 200 */
    if (!(made[k++] = versioned(plan->name, version, NAME_MAX_LEN, errbuf, errlen, &invalid)) ||
        !(made[k++] = versioned(dlq, version, TOPIC_MAX_LEN, errbuf, errlen, &invalid)))
        goto out;
    for (size_t a = 0; a < plan->n_aggregations; a++)
        if (!(made[k++] = versioned(plan->aggregations[a].output_topic, version, TOPIC_MAX_LEN,
                                    errbuf, errlen, &invalid)))
            goto out;
    for (size_t a = 0; a < plan->n_alerts; a++)
        if (!(made[k++] = versioned(plan->alerts[a].output_topic, version, TOPIC_MAX_LEN, errbuf,
                                    errlen, &invalid)))
            goto out;
    for (size_t p = 0; p < plan->n_patterns; p++)
        if (!(made[k++] = versioned(plan->patterns[p].output_topic, version, TOPIC_MAX_LEN, errbuf,
                                    errlen, &invalid)))
            goto out;
    for (size_t i = 0; i < plan->n_archives; i++) /* their directories: <name>.vV */
        if (!(made[k++] = versioned(plan->archives[i].name, version, NAME_MAX_LEN, errbuf, errlen,
                                    &invalid)))
            goto out;
    if (!internal_names_fit(plan, made[0], errbuf, errlen)) {
        invalid = true;
        goto out;
    }
    /* all made and valid: swap them in */
    k = 0;
    eddy_free(plan->name);
    plan->name = made[k++];
    *dlq_topic = made[k++];
    for (size_t a = 0; a < plan->n_aggregations; a++) {
        eddy_free(plan->aggregations[a].output_topic);
        plan->aggregations[a].output_topic = made[k++];
    }
    for (size_t a = 0; a < plan->n_alerts; a++) {
        eddy_free(plan->alerts[a].output_topic);
        plan->alerts[a].output_topic = made[k++];
    }
    for (size_t p = 0; p < plan->n_patterns; p++) {
        eddy_free(plan->patterns[p].output_topic);
        plan->patterns[p].output_topic = made[k++];
    }
    for (size_t i = 0; i < plan->n_archives; i++) {
        eddy_free(plan->archives[i].name);
        plan->archives[i].name = made[k++];
    }
    eddy_free(made);
    return EDDY_OK;
out:
    if (invalid)
        err = EDDY_ECONFIG;
    for (size_t i = 0; i < n_new; i++)
        eddy_free(made[i]);
    eddy_free(made);
    return err;
}
