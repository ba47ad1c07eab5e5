/*
 * json.h - field-projecting JSON parser.
 *
 * A projection is compiled once from dotted paths ("service",
 * "properties.device_type"); eddy__json_project() then validates a whole
 * event document and materialises only the projected values.
 *
 * Validation is RFC 8259, strict:
 *   - the root must be an object; only whitespace (space, \t, \n, \r) may
 *     follow it ("trailing characters after document");
 *   - strings must be well-formed UTF-8 (no overlongs, no encoded surrogates,
 *     nothing above U+10FFFF), contain no raw control characters (< 0x20),
 *     use only the escapes \" \\ \/ \b \f \n \r \t \uXXXX, and a \u escape of
 *     a surrogate must form a high+low pair (\ud83d\ude00); \u0000 is valid;
 *   - numbers follow the JSON grammar (no leading zeros, no "+", no "1.",
 *     ".5" or "1e"); a number whose magnitude overflows a double (1e400) is
 *     rejected with "number out of range"; underflow (1e-400) is accepted;
 *   - nesting is limited to 128 containers, the root object included
 *     ("nesting deeper than 128"); the parser never recurses.
 *
 * Projection semantics:
 *   - a path segment descends only into objects; arrays are validated but
 *     never searched, so a key inside an array element is never projected;
 *   - a key is matched at its own level only: a nested "uid" is not the root
 *     "uid";
 *   - keys are compared after unescaping ("\u0075id" matches "uid");
 *   - when a key occurs more than once in one object, the LAST occurrence
 *     wins (for nested paths: the last occurrence of each ancestor key);
 *   - an absent value and a JSON null both yield EDDY_V_NULL; an object or
 *     array at a projected path yields the marker EDDY_V_COMPOUND or
 *     EDDY_V_COMPOUND_ARRAY (its contents are not materialised);
 *   - integers without fraction or exponent that fit int64 are EDDY_V_INT,
 *     every other number EDDY_V_NUM (so 1.0, 1e2 and 2^63 are NUM).
 *
 * Memory: no allocation per document. String values without escapes point
 * into the input buffer; strings with escapes are unescaped into the caller's
 * scratch buffer, which must hold at least @len bytes (unescaping never
 * grows a string, and each input byte is unescaped at most once).
 */
#ifndef EDDY_CODEC_JSON_H
#define EDDY_CODEC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/err.h"
#include "eddy/record.h"

/* Markers in eddy_value.type for a projected path holding a container. */
#define EDDY_V_COMPOUND 100       /* object */
#define EDDY_V_COMPOUND_ARRAY 101 /* array */

/* Maximum container nesting, the root object included. */
#define EDDY_JSON_MAX_DEPTH 128
/* Maximum number of segments of a projected path. */
#define EDDY_JSON_MAX_SEGMENTS 8

static inline int eddy__value_is_compound(const struct eddy_value *v)
{
    return v->type == EDDY_V_COMPOUND || v->type == EDDY_V_COMPOUND_ARRAY;
}

struct eddy_json_error {
    size_t offset;       /* byte offset of the offending byte (or of the end) */
    const char *message; /* static string, e.g. "invalid UTF-8 in string" */
};

struct eddy_projection;

/*
 * Compiles @n dotted @paths into a projection owned by *out. Segments are
 * split on '.', must be non-empty, and there are at most 8 of them; a key
 * may contain any other byte. Duplicate paths are allowed: each slot gets the
 * value. Returns EDDY_EINVAL for a malformed path, EDDY_ENOMEM.
 * The projection is immutable afterwards and may be shared by threads.
 */
eddy_err_t eddy__projection_new(const char *const *paths, size_t n,
                                struct eddy_projection **out);
/* Releases a projection; accepts NULL. */
void eddy__projection_free(struct eddy_projection *p);
/* Number of paths (= number of values eddy__json_project fills). */
size_t eddy__projection_count(const struct eddy_projection *p);

/* Keys of the root object remembered by position. */
#define EDDY_JSON_HINT_KEYS 32

/*
 * The keys of the root object of the documents read last, by position:
 * documents from one producer nearly always repeat their key order, and a
 * key found where the hint expects it is neither scanned nor looked up in
 * the projection (about 700 instructions fewer per service log). Only keys
 * of 1 to 16 bytes without escapes are remembered. Owned by the caller, one
 * per thread; zero-initialised = empty. It never changes what a document
 * yields: a key is taken from the hint only when its bytes and closing
 * quote are exactly those of the remembered key. A hint used with another
 * projection empties itself; it recognises its projection by address, so
 * it must not outlive it (a task frees both together).
 */
struct eddy_json_hint {
    const struct eddy_projection *projection; /* whose trie nodes the targets are */
    struct {
        uint64_t word[2], mask[2]; /* the key's bytes (little-endian words) */
        uint32_t len;              /* 0: nothing remembered at this position */
        int32_t target;            /* trie node of the key, or -1 */
    } keys[EDDY_JSON_HINT_KEYS];
};

/*
 * Validates the document @buf[0..len) and fills values[i] for path i.
 * @scratch must hold at least @len bytes; strings in @values borrow from
 * @buf or @scratch. @hint (may be NULL) is read and updated. Returns
 * EDDY_OK, or EDDY_EPARSE with @err filled (the contents of @values are then
 * unspecified). Thread-safe for distinct values/scratch/hint/err.
 */
eddy_err_t eddy__json_project(const struct eddy_projection *p, const char *buf, size_t len,
                              struct eddy_value *values, char *scratch,
                              struct eddy_json_hint *hint, struct eddy_json_error *err);

#endif
