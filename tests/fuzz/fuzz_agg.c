/*
 * fuzz_agg: decoders of persisted sketches and accumulators (changelog and
 * state bytes are outside input after a crash or a bad upgrade): decoding
 * never crashes, and what decodes re-encodes to the same bytes. Also the
 * stream time in a committed offset's metadata (source/kafka.h), on the
 * whole input: what parses formats back to the same value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agg/acc.h"
#include "agg/ddsketch.h"
#include "agg/hll.h"
#include "agg/topk.h"
#include "source/kafka.h"
/* A top_k summary (agg/topk.h): decodes canonically, merges with itself and
 * a fresh summary, renders, and takes more values past its bound. */
static void fuzz_topk(const uint8_t *p, size_t len, struct eddy_buf *b)
{
    struct eddy_topk *tk = NULL;
    size_t used = 0;
    if (eddy__topk_decode(&tk, p, len, &used) == EDDY_OK) {
        eddy__topk_encode(tk, b);
        if (b->len != used || memcmp(b->data, p, used)) abort();
        struct eddy_topk *t = eddy__topk_new(eddy__topk_weighted(tk));
        if (eddy__topk_merge(t, tk) != EDDY_OK || eddy__topk_merge(t, tk) != EDDY_OK) abort();
        const char *json; size_t jlen; double err;
        if (eddy__topk_json(t, EDDY_TOPK_MAX_K, &json, &jlen, &err) == EDDY_OK &&
            (jlen < 2 || json[0] != '[' || json[jlen - 1] != ']' || !(err >= 0))) abort();
        for (int64_t i = 0; i < 1100; i++) {
            struct eddy_value v = {.type = EDDY_V_INT, .as.i = i * 7919};
            eddy__topk_add(t, &v, 1);
        }
        if (eddy__topk_size(t) > EDDY_TOPK_CAPACITY) abort();
        eddy__topk_free(t);
    }
    eddy__topk_free(tk);
}
int LLVMFuzzerTestOneInput(const uint8_t *p, size_t len)
{
    int64_t st = 0, back = 0;
    if (eddy__offset_meta_parse(p, len, &st)) {
        char meta[64];
        size_t mlen = eddy__offset_meta_format(meta, sizeof meta, st);
        if (!eddy__offset_meta_parse(meta, mlen, &back) || back != st) abort();
    }
    if (len < 1) return 0;
    uint8_t sel = p[0] % 16; /* 0 ddsketch, 1 hll, 15 top_k, else kind sel - 1 */
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
    } else if (sel == 15) {
        fuzz_topk(p, len, &b);
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
