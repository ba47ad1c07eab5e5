/*
 * fuzz_json.c - libFuzzer harness for the projecting JSON parser
 * (src/codec/json.c) over arbitrary bytes.
 *
 * Checks, besides memory safety (the scratch buffer is exactly len bytes):
 *   - every projected string is valid UTF-8 and lies inside the input or
 *     the scratch buffer;
 *   - a key-order hint (struct eddy_json_hint, kept across inputs) changes
 *     nothing: the same acceptance, values and error;
 *   - acceptance agrees with jansson (json_loadb, JSON_DECODE_ANY |
 *     JSON_ALLOW_NUL, root must be an object), except for the classes where
 *     they differ by design: integers outside int64 (eddy: NUM, jansson:
 *     error), \u0000 in keys (jansson: error), nesting deeper than 128 (eddy:
 *     error, jansson allows 2048), and jansson accepting a raw NUL byte right
 *     after a number.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/buf.h"

static const char *const paths[] = {"a", "b", "uid", "x.a", "x.uid", "properties.device_type",
                                    "a"};
#define N_PATHS (sizeof paths / sizeof paths[0])

static struct eddy_projection *projection(void)
{
    static struct eddy_projection *p;
    if (!p && eddy__projection_new(paths, N_PATHS, &p) != EDDY_OK)
        abort();
    return p;
}

static void check_string(const struct eddy_value *v, const char *buf, size_t len,
                         const char *scratch)
{
    if (v->type != EDDY_V_STR)
        return;
    const char *s = v->as.s.ptr;
    bool in_buf = s >= buf && s + v->as.s.len <= buf + len;
    bool in_scratch = s >= scratch && s + v->as.s.len <= scratch + len;
    if ((!in_buf && !in_scratch) || !eddy_utf8_valid(s, v->as.s.len))
        abort();
}

static bool same_value(const struct eddy_value *a, const struct eddy_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case EDDY_V_BOOL: return a->as.b == b->as.b;
    case EDDY_V_INT: return a->as.i == b->as.i;
    case EDDY_V_NUM: return memcmp(&a->as.n, &b->as.n, sizeof a->as.n) == 0;
    case EDDY_V_STR: return a->as.s.ptr == b->as.s.ptr && a->as.s.len == b->as.s.len;
    default: return true;
    }
}

static bool excluded(const json_error_t *e)
{
    return strstr(e->text, "too big") || strstr(e->text, "NUL byte in object key") ||
           strstr(e->text, "maximum parsing depth");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char *scratch = malloc(size ? size : 1);
    struct eddy_value v[N_PATHS];
    struct eddy_json_error err;
    bool ours = eddy__json_project(projection(), buf, size, v, scratch, NULL, &err) == EDDY_OK;
    /* the same document with a key-order hint learned from every input so
     * far must give the same answer, values and error */
    static struct eddy_json_hint hint;
    struct eddy_value hv[N_PATHS];
    struct eddy_json_error herr;
    char *hscratch = malloc(size ? size : 1);
    bool hinted = eddy__json_project(projection(), buf, size, hv, hscratch, &hint, &herr) == EDDY_OK;
    if (hinted != ours)
        abort();
    for (size_t i = 0; ours && i < N_PATHS; i++)
        if (hv[i].type == EDDY_V_STR && v[i].type == EDDY_V_STR
                ? hv[i].as.s.len != v[i].as.s.len ||
                      memcmp(hv[i].as.s.ptr, v[i].as.s.ptr, v[i].as.s.len) != 0
                : !same_value(&hv[i], &v[i]))
            abort();
    if (!ours && (herr.offset != err.offset || strcmp(herr.message, err.message) != 0))
        abort();
    free(hscratch);
    if (ours) {
        for (size_t i = 0; i < N_PATHS; i++)
            check_string(&v[i], buf, size, scratch);
        if (!same_value(&v[0], &v[N_PATHS - 1]))
            abort(); /* duplicate paths get the same value */
    } else if (!err.message || err.offset > size) {
        abort();
    }
    json_error_t je;
    json_t *root = json_loadb(buf, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    bool theirs = root && json_is_object(root);
    bool skip = (!root && excluded(&je)) || (!ours && err.message &&
                                             !strcmp(err.message, "nesting deeper than 128")) ||
                (theirs && memchr(buf, '\0', size));
    if (!skip && ours != theirs)
        abort();
    json_decref(root);
    free(scratch);
    return 0;
}
