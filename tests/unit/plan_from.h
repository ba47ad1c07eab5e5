/*
 * plan_from.h - the plan of a topology given as YAML text, for unit tests
 * (named "test.yaml" in messages); fails the test with the loader's message
 * when it does not load. Shared by the scenario tests (test_window.c,
 * test_window_prepare.c, test_session.c, test_pattern.c, test_idle.c,
 * test_late.c).
 */
#ifndef EDDY_TESTS_UNIT_PLAN_FROM_H
#define EDDY_TESTS_UNIT_PLAN_FROM_H

#include <criterion/criterion.h>
#include <string.h>

#include "eddy/topology.h"

static inline struct eddy_plan *plan_from(const char *yaml)
{
    char err[512];
    struct eddy_plan *plan = NULL;
    eddy_err_t rc = eddy_topology_parse("test.yaml", yaml, strlen(yaml), &plan, err, sizeof err);
    cr_assert_eq(rc, EDDY_OK, "topology: %s", err);
    return plan;
}

#endif
