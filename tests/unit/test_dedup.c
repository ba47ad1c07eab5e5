/*
 * Dedup store: duplicates within the event-time span are caught, expired ids
 * are forgotten, memory follows the live ids and not the input size.
 */
#include <criterion/criterion.h>

#include "core/alloc.h"
#include "ops/dedup.h"

static bool seen(struct eddy_dedup_store *s, uint64_t id, int64_t ts, int64_t stream_time)
{
    eddy_err_t err;
    bool dup = eddy__dedup_seen(s, id, ts, stream_time, &err);
    cr_assert_eq(err, EDDY_OK);
    return dup;
}

Test(dedup, same_id_within_span_is_a_duplicate)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(600000, &s), EDDY_OK);
    cr_expect_not(seen(s, 42, 1000, 1000));
    cr_expect(seen(s, 42, 1000, 1000));
    cr_expect(seen(s, 42, 5000, 601000)); /* 600 s after the first: still within */
    cr_expect_not(seen(s, 43, 1000, 601000));
    eddy__dedup_free(s);
}

Test(dedup, id_older_than_span_is_forgotten)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    cr_expect_not(seen(s, 7, 0, 0));
    cr_expect_not(seen(s, 7, 1001, 1001)); /* first sighting expired at 1001 */
    cr_expect(seen(s, 7, 1500, 1500));     /* the second one is remembered */
    eddy__dedup_free(s);
}

Test(dedup, hash_zero_is_a_valid_id)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    cr_expect_not(seen(s, 0, 0, 0));
    cr_expect(seen(s, 0, 0, 0));
    eddy__dedup_free(s);
}

Test(dedup, memory_is_bounded_by_live_ids)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000, &s), EDDY_OK);
    /* one id per millisecond for 200 s: about 1000 live at any time */
    for (int64_t t = 0; t < 200000; t++)
        cr_assert_not(seen(s, (uint64_t)t * 0x9e3779b97f4a7c15ULL + 1, t, t));
    cr_expect_leq(eddy__dedup_size(s), 4096, "size %zu", eddy__dedup_size(s));
    eddy__dedup_free(s);
}

Test(dedup, allocation_failure_is_reported_not_fatal)
{
    struct eddy_dedup_store *s;
    cr_assert_eq(eddy__dedup_new(1000000, &s), EDDY_OK);
    eddy_err_t err = EDDY_OK;
    int failures = 0;
    for (uint64_t id = 1; id < 2000; id++) {
        if (id == 513) /* the insert that grows the table */
            eddy_alloc_fail_at(1);
        eddy__dedup_seen(s, id, 0, 0, &err);
        failures += err == EDDY_ENOMEM;
    }
    eddy_alloc_fail_at(0);
    cr_expect_eq(failures, 1);
    eddy__dedup_free(s);
}
