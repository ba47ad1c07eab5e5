/*
 * fuzz_agg: decoders of persisted sketches and accumulators (changelog and
 * state bytes are outside input after a crash or a bad upgrade): decoding
 * never crashes, and what decodes re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agg/acc.h"
#include "agg/ddsketch.h"
#include "agg/hll.h"
int LLVMFuzzerTestOneInput(const uint8_t *p, size_t len)
{
    if (len < 1) return 0;
    uint8_t sel = p[0] % 11;
    p++; len--;
    struct eddy_buf b; eddy_buf_init(&b);
    size_t used = 0;
    if (sel == 0) {
        struct eddy_ddsketch *s = NULL;
        if (eddy_ddsketch_decode(&s, p, len, &used) == EDDY_OK) {
            eddy_ddsketch_encode(s, &b);
            if (b.len != used || memcmp(b.data, p, used)) abort();
            struct eddy_ddsketch *t = eddy_ddsketch_new();
            eddy_ddsketch_merge(t, s); eddy_ddsketch_merge(t, s);
            for (double q = 0; q <= 1; q += 0.125) {
                double v = eddy_ddsketch_quantile(t, q);
                if (v < eddy_ddsketch_quantile(t, 0) || v > eddy_ddsketch_quantile(t, 1)) abort();
            }
            eddy_ddsketch_add(t, 1e300); eddy_ddsketch_add(t, -1e-5);
            eddy_ddsketch_free(t);
        }
        eddy_ddsketch_free(s);
    } else if (sel == 1) {
        struct eddy_hll *h = NULL;
        if (eddy_hll_decode(&h, p, len, &used) == EDDY_OK) {
            eddy_hll_encode(h, &b);
            if (b.len != used || memcmp(b.data, p, used)) abort();
            struct eddy_hll *t = eddy_hll_new();
            eddy_hll_merge(t, h); eddy_hll_merge(t, h);
            (void)eddy_hll_estimate(t);
            eddy_hll_free(t);
        }
        eddy_hll_free(h);
    } else {
        enum eddy_metric_kind kind = (enum eddy_metric_kind)(sel - 1);
        struct eddy_acc a, c = {0};
        if (eddy_acc_decode(&a, kind, p, len, &used) == EDDY_OK) {
            eddy_acc_encode(&a, kind, &b);
            if (b.len != used || memcmp(b.data, p, used)) abort();
            eddy_acc_merge(&c, &a, kind);
            struct eddy_value v; double e;
            eddy_acc_result(&c, kind, 0.5, &v, &e);
            eddy_acc_release(&a, kind);
            eddy_acc_release(&c, kind);
        }
    }
    eddy_buf_release(&b);
    return 0;
}
