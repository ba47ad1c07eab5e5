/*
 * json.c - field-projecting JSON parser; contract in json.h.
 *
 * The parser is one iterative state machine over [p, end): an explicit stack
 * holds, per open container, the projection-trie node of an object (>= 0),
 * UNTRACKED for an object below no projected path, or ARRAY. A value is
 * materialised only when its key matched a trie node that ends a path.
 * Strings are scanned 16 bytes at a time (SSE2; else 8 with word tricks) for
 * '"', '\\', control bytes and non-ASCII bytes; UTF-8 sequences are checked
 * only where a byte >= 0x80 occurs. Numbers are always validated (grammar
 * and double overflow) but converted only when projected: integers of up to
 * 18 digits in one pass (small_int), the rest with an exact fast path (<= 15
 * significant digits, |exp10| <= 22) before falling back to strtod. Compact
 * documents (no whitespace after ':' and ',') take shortcuts; whitespace
 * anywhere is still accepted.
 *
 * The projection is a trie: node 0 is the root object; each node lists its
 * children (key -> node), sorted by key length so that a key is compared
 * only with the children of its length (with two word compares for keys of
 * 4 to 16 bytes), the slots whose path ends at it, and the slots strictly
 * below it (cleared when a later duplicate key replaces the subtree, so the
 * last occurrence wins).
 */
#include "codec/json.h"

#include <math.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { UNTRACKED = -1, ARRAY = -2 };

/* Length groups: a node's children are sorted by key length, and
 * by_len[l] (l <= 64) is the index in proj->children of its first child
 * whose key is at least l bytes long (by_len[64]: the group of keys of 64
 * bytes or more, unsorted), so a key is compared only with the children of
 * its own length. */
#define LEN_GROUPS 65

struct pnode {
    uint32_t child_begin, child_count; /* into proj->children */
    uint32_t slot_begin, slot_count;   /* into proj->slots: paths ending here */
    uint32_t desc_begin, desc_count;   /* into proj->slots: paths strictly below */
    uint64_t key_lengths;              /* bit n: a child key has length n (n < 64) */
    uint32_t by_len[LEN_GROUPS];
};

struct pchild {
    const char *key;
    uint32_t key_len;
    uint32_t node;
    /* keys of 4 bytes or more: the first and the last 8 (4 when shorter
     * than 8) bytes, compared with words of the document's key */
    uint64_t head, tail;
};

struct eddy_projection {
    size_t n_paths;
    struct pnode *nodes;
    struct pchild *children;
    uint32_t *slots;
    char *keys; /* copies of the paths, '.' replaced by NUL */
};

static const char *const unexpected_msg[256] = {
    "unexpected byte 0x00", "unexpected byte 0x01", "unexpected byte 0x02", "unexpected byte 0x03",
    "unexpected byte 0x04", "unexpected byte 0x05", "unexpected byte 0x06", "unexpected byte 0x07",
    "unexpected byte 0x08", "unexpected byte 0x09", "unexpected byte 0x0a", "unexpected byte 0x0b",
    "unexpected byte 0x0c", "unexpected byte 0x0d", "unexpected byte 0x0e", "unexpected byte 0x0f",
    "unexpected byte 0x10", "unexpected byte 0x11", "unexpected byte 0x12", "unexpected byte 0x13",
    "unexpected byte 0x14", "unexpected byte 0x15", "unexpected byte 0x16", "unexpected byte 0x17",
    "unexpected byte 0x18", "unexpected byte 0x19", "unexpected byte 0x1a", "unexpected byte 0x1b",
    "unexpected byte 0x1c", "unexpected byte 0x1d", "unexpected byte 0x1e", "unexpected byte 0x1f",
    "unexpected character ' '", "unexpected character '!'", "unexpected character '\"'", "unexpected character '#'",
    "unexpected character '$'", "unexpected character '%'", "unexpected character '&'", "unexpected character '''",
    "unexpected character '('", "unexpected character ')'", "unexpected character '*'", "unexpected character '+'",
    "unexpected character ','", "unexpected character '-'", "unexpected character '.'", "unexpected character '/'",
    "unexpected character '0'", "unexpected character '1'", "unexpected character '2'", "unexpected character '3'",
    "unexpected character '4'", "unexpected character '5'", "unexpected character '6'", "unexpected character '7'",
    "unexpected character '8'", "unexpected character '9'", "unexpected character ':'", "unexpected character ';'",
    "unexpected character '<'", "unexpected character '='", "unexpected character '>'", "unexpected character '?'",
    "unexpected character '@'", "unexpected character 'A'", "unexpected character 'B'", "unexpected character 'C'",
    "unexpected character 'D'", "unexpected character 'E'", "unexpected character 'F'", "unexpected character 'G'",
    "unexpected character 'H'", "unexpected character 'I'", "unexpected character 'J'", "unexpected character 'K'",
    "unexpected character 'L'", "unexpected character 'M'", "unexpected character 'N'", "unexpected character 'O'",
    "unexpected character 'P'", "unexpected character 'Q'", "unexpected character 'R'", "unexpected character 'S'",
    "unexpected character 'T'", "unexpected character 'U'", "unexpected character 'V'", "unexpected character 'W'",
    "unexpected character 'X'", "unexpected character 'Y'", "unexpected character 'Z'", "unexpected character '['",
    "unexpected character '\\'", "unexpected character ']'", "unexpected character '^'", "unexpected character '_'",
    "unexpected character '`'", "unexpected character 'a'", "unexpected character 'b'", "unexpected character 'c'",
    "unexpected character 'd'", "unexpected character 'e'", "unexpected character 'f'", "unexpected character 'g'",
    "unexpected character 'h'", "unexpected character 'i'", "unexpected character 'j'", "unexpected character 'k'",
    "unexpected character 'l'", "unexpected character 'm'", "unexpected character 'n'", "unexpected character 'o'",
    "unexpected character 'p'", "unexpected character 'q'", "unexpected character 'r'", "unexpected character 's'",
    "unexpected character 't'", "unexpected character 'u'", "unexpected character 'v'", "unexpected character 'w'",
    "unexpected character 'x'", "unexpected character 'y'", "unexpected character 'z'", "unexpected character '{'",
    "unexpected character '|'", "unexpected character '}'", "unexpected character '~'", "unexpected byte 0x7f",
    "unexpected byte 0x80", "unexpected byte 0x81", "unexpected byte 0x82", "unexpected byte 0x83",
    "unexpected byte 0x84", "unexpected byte 0x85", "unexpected byte 0x86", "unexpected byte 0x87",
    "unexpected byte 0x88", "unexpected byte 0x89", "unexpected byte 0x8a", "unexpected byte 0x8b",
    "unexpected byte 0x8c", "unexpected byte 0x8d", "unexpected byte 0x8e", "unexpected byte 0x8f",
    "unexpected byte 0x90", "unexpected byte 0x91", "unexpected byte 0x92", "unexpected byte 0x93",
    "unexpected byte 0x94", "unexpected byte 0x95", "unexpected byte 0x96", "unexpected byte 0x97",
    "unexpected byte 0x98", "unexpected byte 0x99", "unexpected byte 0x9a", "unexpected byte 0x9b",
    "unexpected byte 0x9c", "unexpected byte 0x9d", "unexpected byte 0x9e", "unexpected byte 0x9f",
    "unexpected byte 0xa0", "unexpected byte 0xa1", "unexpected byte 0xa2", "unexpected byte 0xa3",
    "unexpected byte 0xa4", "unexpected byte 0xa5", "unexpected byte 0xa6", "unexpected byte 0xa7",
    "unexpected byte 0xa8", "unexpected byte 0xa9", "unexpected byte 0xaa", "unexpected byte 0xab",
    "unexpected byte 0xac", "unexpected byte 0xad", "unexpected byte 0xae", "unexpected byte 0xaf",
    "unexpected byte 0xb0", "unexpected byte 0xb1", "unexpected byte 0xb2", "unexpected byte 0xb3",
    "unexpected byte 0xb4", "unexpected byte 0xb5", "unexpected byte 0xb6", "unexpected byte 0xb7",
    "unexpected byte 0xb8", "unexpected byte 0xb9", "unexpected byte 0xba", "unexpected byte 0xbb",
    "unexpected byte 0xbc", "unexpected byte 0xbd", "unexpected byte 0xbe", "unexpected byte 0xbf",
    "unexpected byte 0xc0", "unexpected byte 0xc1", "unexpected byte 0xc2", "unexpected byte 0xc3",
    "unexpected byte 0xc4", "unexpected byte 0xc5", "unexpected byte 0xc6", "unexpected byte 0xc7",
    "unexpected byte 0xc8", "unexpected byte 0xc9", "unexpected byte 0xca", "unexpected byte 0xcb",
    "unexpected byte 0xcc", "unexpected byte 0xcd", "unexpected byte 0xce", "unexpected byte 0xcf",
    "unexpected byte 0xd0", "unexpected byte 0xd1", "unexpected byte 0xd2", "unexpected byte 0xd3",
    "unexpected byte 0xd4", "unexpected byte 0xd5", "unexpected byte 0xd6", "unexpected byte 0xd7",
    "unexpected byte 0xd8", "unexpected byte 0xd9", "unexpected byte 0xda", "unexpected byte 0xdb",
    "unexpected byte 0xdc", "unexpected byte 0xdd", "unexpected byte 0xde", "unexpected byte 0xdf",
    "unexpected byte 0xe0", "unexpected byte 0xe1", "unexpected byte 0xe2", "unexpected byte 0xe3",
    "unexpected byte 0xe4", "unexpected byte 0xe5", "unexpected byte 0xe6", "unexpected byte 0xe7",
    "unexpected byte 0xe8", "unexpected byte 0xe9", "unexpected byte 0xea", "unexpected byte 0xeb",
    "unexpected byte 0xec", "unexpected byte 0xed", "unexpected byte 0xee", "unexpected byte 0xef",
    "unexpected byte 0xf0", "unexpected byte 0xf1", "unexpected byte 0xf2", "unexpected byte 0xf3",
    "unexpected byte 0xf4", "unexpected byte 0xf5", "unexpected byte 0xf6", "unexpected byte 0xf7",
    "unexpected byte 0xf8", "unexpected byte 0xf9", "unexpected byte 0xfa", "unexpected byte 0xfb",
    "unexpected byte 0xfc", "unexpected byte 0xfd", "unexpected byte 0xfe", "unexpected byte 0xff",
};

size_t eddy__projection_count(const struct eddy_projection *p)
{
    return p->n_paths;
}

void eddy__projection_free(struct eddy_projection *p)
{
    if (!p)
        return;
    eddy_free(p->nodes);
    eddy_free(p->children);
    eddy_free(p->slots);
    eddy_free(p->keys);
    eddy_free(p);
}

/* Trie under construction: parent links and keys; laid out by build(). */
struct tnode {
    int32_t parent;
    const char *key;
    uint32_t key_len;
};

static int32_t tnode_child(struct tnode *t, size_t *n_nodes, int32_t parent, const char *key,
                           uint32_t key_len)
{
    for (size_t i = 1; i < *n_nodes; i++)
        if (t[i].parent == parent && t[i].key_len == key_len && !memcmp(t[i].key, key, key_len))
            return (int32_t)i;
    t[*n_nodes] = (struct tnode){.parent = parent, .key = key, .key_len = key_len};
    return (int32_t)(*n_nodes)++;
}

/* Splits every path into segments inside p->keys and links them into @t;
 * leaf[i] receives the node where path i ends. */
static eddy_err_t parse_paths(struct eddy_projection *p, const char *const *paths, size_t n,
                              struct tnode *t, size_t *n_nodes, int32_t *leaf)
{
    char *k = p->keys;
    t[0] = (struct tnode){.parent = -1};
    *n_nodes = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(paths[i]);
        memcpy(k, paths[i], len + 1);
        int32_t cur = 0;
        unsigned segments = 0;
        const char *seg = k;
        for (size_t j = 0; j <= len; j++) {
            if (k[j] != '.' && k[j] != '\0')
                continue;
            if (&k[j] == seg || ++segments > EDDY_JSON_MAX_SEGMENTS || j - (size_t)(seg - k) > UINT32_MAX)
                return EDDY_EINVAL;
            k[j] = '\0';
            cur = tnode_child(t, n_nodes, cur, seg, (uint32_t)(&k[j] - seg));
            seg = &k[j + 1];
        }
        leaf[i] = cur;
        k += len + 1;
    }
    return EDDY_OK;
}

static bool is_below(const struct tnode *t, int32_t node, int32_t ancestor)
{
    for (node = t[node].parent; node >= 0; node = t[node].parent)
        if (node == ancestor)
            return true;
    return false;
}

/* The words of a key that key_eq() compares first (see struct pchild). */
static inline void key_words(const char *key, size_t len, uint64_t *head, uint64_t *tail)
{
    if (len >= 8) {
        memcpy(head, key, 8);
        memcpy(tail, key + len - 8, 8);
    } else if (len >= 4) {
        uint32_t h, t;
        memcpy(&h, key, 4);
        memcpy(&t, key + len - 4, 4);
        *head = h;
        *tail = t;
    } else {
        *head = *tail = 0;
    }
}

static uint32_t len_group(uint32_t key_len)
{
    return key_len < LEN_GROUPS - 1 ? key_len : LEN_GROUPS - 1;
}

/* Sorts the children of @pn by length group (insertion sort: stable, and
 * nodes have few children) and fills pn->by_len. */
static void group_by_length(struct pchild *children, struct pnode *pn)
{
    struct pchild *c = children + pn->child_begin;
    for (uint32_t i = 1; i < pn->child_count; i++) {
        struct pchild x = c[i];
        uint32_t j = i;
        for (; j > 0 && len_group(c[j - 1].key_len) > len_group(x.key_len); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
    uint32_t k = 0;
    for (uint32_t l = 0; l < LEN_GROUPS; l++) {
        while (k < pn->child_count && len_group(c[k].key_len) < l)
            k++;
        pn->by_len[l] = pn->child_begin + k;
    }
}

/* Lays out children, own slots and descendant slots of every node. */
static void layout(struct eddy_projection *p, const struct tnode *t, size_t n_nodes,
                   const int32_t *leaf)
{
    uint32_t nc = 0, ns = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        struct pnode *pn = &p->nodes[i];
        pn->child_begin = nc;
        for (size_t c = 1; c < n_nodes; c++)
            if (t[c].parent == (int32_t)i) {
                struct pchild *ch = &p->children[nc++];
                *ch = (struct pchild){t[c].key, t[c].key_len, (uint32_t)c, 0, 0};
                key_words(ch->key, ch->key_len, &ch->head, &ch->tail);
                pn->key_lengths |= t[c].key_len < 64 ? 1ULL << t[c].key_len : 0;
            }
        pn->child_count = nc - pn->child_begin;
        group_by_length(p->children, pn);
        pn->slot_begin = ns;
        for (size_t s = 0; s < p->n_paths; s++)
            if (leaf[s] == (int32_t)i)
                p->slots[ns++] = (uint32_t)s;
        pn->slot_count = ns - pn->slot_begin;
        pn->desc_begin = ns;
        for (size_t s = 0; s < p->n_paths; s++)
            if (is_below(t, leaf[s], (int32_t)i))
                p->slots[ns++] = (uint32_t)s;
        pn->desc_count = ns - pn->desc_begin;
    }
}

eddy_err_t eddy__projection_new(const char *const *paths, size_t n, struct eddy_projection **out)
{
    eddy_err_t err = EDDY_ENOMEM;
    struct tnode *t = NULL;
    int32_t *leaf = NULL;
    size_t keys_len = 0, n_nodes = 0, max_nodes = 1 + n * EDDY_JSON_MAX_SEGMENTS;
    *out = NULL;
    if (n > UINT32_MAX / (EDDY_JSON_MAX_SEGMENTS + 2))
        return EDDY_EINVAL;
    for (size_t i = 0; i < n; i++)
        keys_len += strlen(paths[i]) + 1;
    struct eddy_projection *p = eddy_calloc(1, sizeof *p);
    if (!p)
        goto out;
    p->n_paths = n;
    t = eddy_calloc(max_nodes, sizeof *t);
    leaf = eddy_calloc(n + 1, sizeof *leaf);
    p->keys = eddy_malloc(keys_len + 1);
    p->nodes = eddy_calloc(max_nodes, sizeof *p->nodes);
    p->children = eddy_calloc(max_nodes, sizeof *p->children);
    p->slots = eddy_calloc(n * (EDDY_JSON_MAX_SEGMENTS + 1) + 1, sizeof *p->slots);
    if (!t || !leaf || !p->keys || !p->nodes || !p->children || !p->slots)
        goto out;
    err = parse_paths(p, paths, n, t, &n_nodes, leaf);
    if (err)
        goto out;
    layout(p, t, n_nodes, leaf);
    *out = p;
    p = NULL;
out:
    eddy__projection_free(p);
    eddy_free(t);
    eddy_free(leaf);
    return err;
}

/* ---- scanning ---------------------------------------------------------- */

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    if (p < end && *p > ' ')
        return p; /* compact documents: no whitespace between tokens */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads XXXX of a \u escape at p (which points after "\u"); -1 if bad. */
static inline int32_t hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return a << 12 | b << 8 | c << 4 | d;
}

/* Length of the well-formed UTF-8 sequence at p (p[0] >= 0x80), or 0. */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t avail = (size_t)(end - p);
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Bit 7 of byte i set for the first byte of @w that is '"', '\\', < 0x20 or
 * >= 0x80 (higher bytes may be false positives, the lowest never is). */
static inline uint64_t special_bytes(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
    uint64_t r = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w;
    return r & HIGHS;
}

struct strscan {
    const unsigned char *close; /* the closing quote */
    bool escaped;
};

#ifdef __SSE2__
/* Bit i: byte p[i] is '"', '\\', < 0x20 or >= 0x80 (a signed compare with
 * 0x20 catches both control and non-ASCII bytes). */
static inline unsigned special_mask(const unsigned char *p)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The first byte in [p, end) that is '"', '\\', < 0x20 or >= 0x80, or end:
 * 16 bytes at a time with SSE2, else 8 at a time, then bytewise. @begin is
 * the start of the document: the last bytes of a document of 16 bytes or
 * more are read with one load that ends at @end. */
static inline __attribute__((always_inline)) const unsigned char *
find_special(const unsigned char *p, const unsigned char *end, const unsigned char *begin)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned bits = special_mask(p);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
    if (p < end && end - begin >= 16) {
        unsigned bits = special_mask(end - 16) >> (16 - (end - p));
        return bits ? p + __builtin_ctz(bits) : end;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = special_bytes(w);
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Validates the string whose body starts at p (after the opening quote).
 * Returns NULL or an error message with *at set to the offending byte. */
static inline __attribute__((always_inline)) const char *
scan_string(const unsigned char *p, const unsigned char *end, const unsigned char *begin,
            struct strscan *out, const unsigned char **at)
{
    bool escaped = false;
    for (;;) {
        p = find_special(p, end, begin);
        if (p == end) {
            *at = p;
            return "unterminated string";
        }
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (!n) {
                *at = p;
                return "invalid UTF-8 in string";
            }
            p += n;
            continue;
        }
        if (c < 0x20) {
            *at = p;
            return "control character in string";
        }
        escaped = true;
        *at = p;
        if (end - p < 2)
            return "unterminated string";
        c = p[1];
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
            c == 't') {
            p += 2;
            continue;
        }
        if (c != 'u')
            return "invalid escape in string";
        int32_t u = hex4(p + 2, end);
        if (u < 0)
            return "invalid \\u escape in string";
        if (u >= 0xdc00 && u <= 0xdfff)
            return "lone surrogate in \\u escape";
        p += 6;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                return "lone surrogate in \\u escape";
            int32_t lo = hex4(p + 2, end);
            if (lo < 0xdc00 || lo > 0xdfff)
                return "lone surrogate in \\u escape";
            p += 6;
        }
    }
    out->close = p;
    out->escaped = escaped;
    return NULL;
}

static inline size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Unescapes a string body already validated by scan_string into @o;
 * returns the output length (never more than close - p). */
static size_t unescape(const unsigned char *p, const unsigned char *close, char *o)
{
    char *start = o;
    while (p < close) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(close - p));
        size_t run = (size_t)((bs ? bs : close) - p);
        memcpy(o, p, run);
        o += run;
        p += run;
        if (!bs)
            break;
        unsigned char c = p[1];
        p += 2;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p, close);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(p + 2, close) - 0xdc00);
                p += 6;
            }
            o += put_utf8(o, cp);
            break;
        }
        default: *o++ = (char)c; break; /* " \ / */
        }
    }
    return (size_t)(o - start);
}

struct numscan {
    bool neg, is_int;
    unsigned sig;        /* significant digits kept in mant (<= 19) */
    bool truncated;      /* more than 19 significant digits */
    uint64_t mant;       /* first (up to) 19 significant digits */
    int64_t exp10;       /* value ~= mant * 10^exp10 */
    int64_t magnitude;   /* floor(log10(|value|)) lower bound; for overflow */
};

/* Validates the number at p (grammar and double range); *q gets its end. */
static const char *scan_number(const unsigned char *p, const unsigned char *end,
                               struct numscan *ns, const unsigned char **q)
{
    const unsigned char *start = p;
    uint64_t mant = 0;
    int64_t sig_all = 0, frac_digits = 0, dropped = 0, exp = 0;
    ns->neg = *p == '-';
    p += ns->neg;
    *q = p;
    if (p == end || *p < '0' || *p > '9')
        return "invalid number";
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            *q = p;
            return "leading zero in number";
        }
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++sig_all <= 19)
                mant = mant * 10 + (uint64_t)(*p - '0');
            else
                dropped++;
        }
    }
    ns->is_int = true;
    if (p < end && *p == '.') {
        ns->is_int = false;
        p++;
        *q = p;
        if (p == end || *p < '0' || *p > '9')
            return "invalid number";
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            frac_digits++;
            if (mant == 0 && *p == '0' && sig_all == 0)
                continue;
            if (++sig_all <= 19)
                mant = mant * 10 + (uint64_t)(*p - '0');
            else
                frac_digits--; /* dropped fraction digit: no scaling */
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        ns->is_int = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        *q = p;
        if (p == end || *p < '0' || *p > '9')
            return "invalid number";
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (exp < 1000000000)
                exp = exp * 10 + (*p - '0');
        if (eneg)
            exp = -exp;
    }
    *q = p;
    ns->mant = mant;
    ns->sig = sig_all > 19 ? 19 : (unsigned)sig_all;
    ns->truncated = sig_all > 19;
    ns->exp10 = exp - frac_digits + dropped;
    ns->magnitude = sig_all ? (int64_t)ns->sig - 1 + ns->exp10 : INT64_MIN;
    if (ns->magnitude >= 309) {
        *q = start;
        return "number out of range";
    }
    return NULL;
}

/* An integer of at most 18 digits at p (an optional '-', then 0 or a
 * non-zero digit and digits), followed by a byte that ends a number
 * (anything but a digit, '.', 'e' or 'E'): its value in *out and the byte
 * after it. NULL for anything else, which scan_number then reads (or
 * rejects) in full. The common case of events, without the bookkeeping of
 * fractions, exponents and overflow. */
static inline const unsigned char *small_int(const unsigned char *p, const unsigned char *end,
                                             int64_t *out)
{
    const unsigned char *d = p + (*p == '-');
    if (d == end || (unsigned)(*d - '0') > 9)
        return NULL;
    const unsigned char *first = d;
    uint64_t m = (uint64_t)(*d++ - '0');
    if (m) {
        const unsigned char *limit = end - first > 18 ? first + 18 : end;
        while (d < limit && (unsigned)(*d - '0') <= 9)
            m = m * 10 + (uint64_t)(*d++ - '0');
    }
    if (d == end || (unsigned)(*d - '0') <= 9 || *d == '.' || (*d | 0x20) == 'e')
        return NULL;
    *out = *p == '-' ? -(int64_t)m : (int64_t)m;
    return d;
}

static const double pow10_tbl[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Converts a validated number [p, q); @tmp has room for q - p + 1 bytes.
 * Returns false when it overflows a double. */
static bool number_value(const unsigned char *p, const unsigned char *q, const struct numscan *ns,
                         char *tmp, struct eddy_value *v)
{
    if (ns->is_int && !ns->truncated &&
        ns->mant <= (uint64_t)INT64_MAX + (ns->neg ? 1u : 0u) && ns->exp10 == 0) {
        v->type = EDDY_V_INT;
        v->as.i = ns->neg ? (int64_t)(0 - ns->mant) : (int64_t)ns->mant;
        return true;
    }
    v->type = EDDY_V_NUM;
    if (!ns->truncated && ns->mant < (1ULL << 53) && ns->exp10 >= -22 && ns->exp10 <= 22) {
        double d = (double)ns->mant;
        d = ns->exp10 >= 0 ? d * pow10_tbl[ns->exp10] : d / pow10_tbl[-ns->exp10];
        v->as.n = ns->neg ? -d : d;
        return true;
    }
    size_t n = (size_t)(q - p);
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    v->as.n = strtod(tmp, NULL);
    return !(v->as.n == HUGE_VAL || v->as.n == -HUGE_VAL);
}

/* ---- projection -------------------------------------------------------- */

/* Whether child @c is the key @key of @len bytes (len == c->key_len), whose
 * key_words() are @head and @tail. */
static inline __attribute__((always_inline)) bool
key_eq(const struct pchild *c, const char *key, size_t len, uint64_t head, uint64_t tail)
{
    if (len < 4)
        return memcmp(c->key, key, len) == 0;
    if (((head ^ c->head) | (tail ^ c->tail)) != 0)
        return false;
    return len <= 16 || memcmp(c->key + 8, key + 8, len - 16) == 0;
}

static inline __attribute__((always_inline)) int32_t
match_key(const struct eddy_projection *pj, const struct pnode *node, const char *key, size_t len)
{
    const struct pchild *c = pj->children;
    uint64_t head, tail;
    if (len < 64) {
        /* most keys of an event are not projected: reject them by length */
        if (!(node->key_lengths >> len & 1))
            return -1;
        key_words(key, len, &head, &tail);
        for (uint32_t i = node->by_len[len], e = node->by_len[len + 1]; i < e; i++)
            if (key_eq(&c[i], key, len, head, tail))
                return (int32_t)c[i].node;
        return -1;
    }
    key_words(key, len, &head, &tail);
    for (uint32_t i = node->by_len[64], e = node->child_begin + node->child_count; i < e; i++)
        if (c[i].key_len == len && key_eq(&c[i], key, len, head, tail))
            return (int32_t)c[i].node;
    return -1;
}

/* A new value arrives at @node: clears the slots below it (the last
 * occurrence of a key replaces its whole subtree) and returns the first slot
 * to fill, or NULL when no path ends at @node. The value is written in place
 * (building it on the stack and copying stalls store forwarding). */
static inline struct eddy_value *slot_of(const struct eddy_projection *pj, int32_t node,
                                         struct eddy_value *values)
{
    const struct pnode *pn = &pj->nodes[node];
    for (uint32_t i = 0; i < pn->desc_count; i++)
        values[pj->slots[pn->desc_begin + i]].type = EDDY_V_NULL;
    return pn->slot_count ? &values[pj->slots[pn->slot_begin]] : NULL;
}

/* Copies the first slot of @node to the other slots of duplicate paths. */
static inline void replicate(const struct eddy_projection *pj, int32_t node,
                             struct eddy_value *values)
{
    const struct pnode *pn = &pj->nodes[node];
    for (uint32_t i = 1; i < pn->slot_count; i++)
        values[pj->slots[pn->slot_begin + i]] = values[pj->slots[pn->slot_begin]];
}

static bool is_value_start(unsigned char c)
{
    return c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
           c == 'n';
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HINTS 1
#else
#define HINTS 0 /* the words and masks assume little-endian loads */
#endif

/* Whether the key whose body starts at @q (end - q >= 17) is hint key @h:
 * the same bytes, then the closing quote. */
static inline bool hint_matches(const unsigned char *q, const struct eddy_json_hint *hint,
                                unsigned pos)
{
    uint64_t a, b;
    memcpy(&a, q, 8);
    memcpy(&b, q + 8, 8);
    uint32_t n = hint->keys[pos].len;
    return n && (((a ^ hint->keys[pos].word[0]) & hint->keys[pos].mask[0]) |
                 ((b ^ hint->keys[pos].word[1]) & hint->keys[pos].mask[1])) == 0 &&
           q[n] == '"';
}

/* Remembers the key of @n bytes at @q (no escapes) at position @pos. */
static void hint_learn(struct eddy_json_hint *hint, unsigned pos, const unsigned char *q,
                       size_t n, int32_t target)
{
    if (n == 0 || n > 16) {
        hint->keys[pos].len = 0;
        return;
    }
    unsigned char bytes[16] = {0};
    for (size_t i = 0; i < n; i++)
        bytes[i] = q[i];
    memcpy(&hint->keys[pos].word[0], bytes, 8);
    memcpy(&hint->keys[pos].word[1], bytes + 8, 8);
    hint->keys[pos].mask[0] = n >= 8 ? ~0ULL : (1ULL << (8 * n)) - 1;
    hint->keys[pos].mask[1] = n <= 8 ? 0 : n == 16 ? ~0ULL : (1ULL << (8 * (n - 8))) - 1;
    hint->keys[pos].len = (uint32_t)n;
    hint->keys[pos].target = target;
}

#define FAIL(at, msg)                                                                              \
    do {                                                                                           \
        err->offset = (size_t)((at) - (const unsigned char *)buf);                                 \
        err->message = (msg);                                                                      \
        return EDDY_EPARSE;                                                                        \
    } while (0)
#define NEED_MORE()                                                                                \
    do {                                                                                           \
        if (p == end)                                                                              \
            FAIL(p, "unexpected end of input");                                                    \
    } while (0)

eddy_err_t eddy__json_project(const struct eddy_projection *pj, const char *buf, size_t len,
                              struct eddy_value *values, char *scratch,
                              struct eddy_json_hint *hint, struct eddy_json_error *err)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len, *at;
    const unsigned char *begin = p;
    int32_t stack[EDDY_JSON_MAX_DEPTH];
    int depth = 0;
    int32_t frame;       /* stack[depth - 1], the innermost open container */
    int32_t target = -1; /* trie node of the key of the value being read */
    size_t sp = 0;       /* used bytes of scratch */
    struct strscan ss;
    const char *msg;
    unsigned key_pos = 0; /* keys of the root object so far (for @hint) */
    if (!HINTS)
        hint = NULL;
    if (hint && hint->projection != pj) {
        memset(hint, 0, sizeof *hint);
        hint->projection = pj;
    }

    for (size_t i = 0; i < pj->n_paths; i++)
        values[i].type = EDDY_V_NULL;
    p = skip_ws(p, end);
    if (p == end)
        FAIL(p, "empty input");
    if (*p != '{')
        FAIL(p, is_value_start(*p) ? "top-level value is not an object" : unexpected_msg[*p]);
    p++;
    frame = stack[depth++] = pj->nodes[0].child_count ? 0 : UNTRACKED;

object_first:
    p = skip_ws(p, end);
    NEED_MORE();
    if (*p == '}') {
        p++;
        goto close;
    }
key:
    if (*p != '"')
        FAIL(p, unexpected_msg[*p]);
    /* a root key where the hint expects it: its bytes were validated and
     * looked up in an earlier document */
    unsigned pos = key_pos;
    bool hinted = hint && depth == 1 && pos < EDDY_JSON_HINT_KEYS;
    key_pos += depth == 1;
    if (hinted && end - p > 17 && hint_matches(p + 1, hint, pos)) {
        target = hint->keys[pos].target;
        p += hint->keys[pos].len + 2;
        goto colon;
    }
    if ((msg = scan_string(p + 1, end, begin, &ss, &at)))
        FAIL(at, msg);
    target = -1;
    if (frame >= 0) {
        const struct pnode *node = &pj->nodes[frame];
        if (!ss.escaped) {
            target = match_key(pj, node, (const char *)p + 1, (size_t)(ss.close - p - 1));
        } else {
            size_t kl = unescape(p + 1, ss.close, scratch + sp);
            target = match_key(pj, node, scratch + sp, kl);
        }
    }
    if (hinted)
        hint_learn(hint, pos, p + 1, ss.escaped ? 0 : (size_t)(ss.close - p - 1), target);
    p = ss.close + 1;
colon:
    if (end - p > 1 && *p == ':' && p[1] > ' ') {
        p++; /* compact documents: the value follows the colon */
    } else {
        p = skip_ws(p, end);
        NEED_MORE();
        if (*p != ':')
            FAIL(p, unexpected_msg[*p]);
        p = skip_ws(p + 1, end);
        NEED_MORE();
    }

value:
    switch (*p) {
    case '{':
    case '[': {
        bool obj = *p == '{';
        if (depth == EDDY_JSON_MAX_DEPTH)
            FAIL(p, "nesting deeper than 128");
        frame = obj ? UNTRACKED : ARRAY;
        if (target >= 0) {
            struct eddy_value *v = slot_of(pj, target, values);
            if (v) {
                v->type = obj ? EDDY_V_COMPOUND : EDDY_V_COMPOUND_ARRAY;
                replicate(pj, target, values);
            }
            if (obj && pj->nodes[target].child_count)
                frame = target;
        }
        stack[depth++] = frame;
        p++;
        if (obj)
            goto object_first;
        p = skip_ws(p, end);
        NEED_MORE();
        if (*p == ']') {
            p++;
            goto close;
        }
        target = -1;
        goto value;
    }
    case '"':
        if ((msg = scan_string(p + 1, end, begin, &ss, &at)))
            FAIL(at, msg);
        struct eddy_value *v;
        if (target >= 0 && (v = slot_of(pj, target, values))) {
            size_t n;
            v->type = EDDY_V_STR;
            if (!ss.escaped) {
                v->as.s.ptr = (const char *)p + 1;
                n = (size_t)(ss.close - p - 1);
            } else {
                v->as.s.ptr = scratch + sp;
                n = unescape(p + 1, ss.close, scratch + sp);
                sp += n;
            }
            if (n > UINT32_MAX)
                FAIL(p, "string longer than 4 GiB");
            v->as.s.len = (uint32_t)n;
            replicate(pj, target, values);
        }
        p = ss.close + 1;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char tail[3][3] = {{'r', 'u', 'e'}, {'a', 'l', 's'}, {'u', 'l', 'l'}};
        int k = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t n = 4 + (k == 1);
        if ((size_t)(end - p) < n)
            FAIL(end, "unexpected end of input");
        const char *t = tail[k];
        if (p[1] != t[0] || p[2] != t[1] || p[3] != t[2] || (k == 1 && p[4] != 'e'))
            FAIL(p, "invalid literal");
        struct eddy_value *v;
        if (target >= 0 && (v = slot_of(pj, target, values))) {
            v->type = k == 2 ? EDDY_V_NULL : EDDY_V_BOOL;
            v->as.b = k == 0;
            replicate(pj, target, values);
        }
        p += n;
        break;
    }
    default: {
        int64_t small;
        const unsigned char *q = small_int(p, end, &small);
        if (q) {
            struct eddy_value *v;
            if (target >= 0 && (v = slot_of(pj, target, values))) {
                v->type = EDDY_V_INT;
                v->as.i = small;
                replicate(pj, target, values);
            }
            p = q;
            break;
        }
        if (*p != '-' && (*p < '0' || *p > '9'))
            FAIL(p, unexpected_msg[*p]);
        struct numscan ns;
        if ((msg = scan_number(p, end, &ns, &q)))
            FAIL(q, msg);
        /* inside the root object a number is never last: this also leaves
         * room for strtod's NUL in scratch (sp <= p - buf) */
        if (q == end)
            FAIL(q, "unexpected end of input");
        struct eddy_value *v = target >= 0 ? slot_of(pj, target, values) : NULL;
        if (v || ns.magnitude == 308) {
            struct eddy_value check, *dst = v ? v : &check;
            if (!number_value(p, q, &ns, scratch + sp, dst))
                FAIL(p, "number out of range");
            if (v)
                replicate(pj, target, values);
        }
        p = q;
        break;
    }
    }

after_value:
    if (p < end && *p == ',' && frame != ARRAY && end - p > 1 && p[1] == '"') {
        p++; /* compact documents: the next key follows the comma */
        goto key;
    }
    p = skip_ws(p, end);
    NEED_MORE();
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        NEED_MORE();
        if (frame == ARRAY) {
            target = -1;
            goto value;
        }
        goto key;
    }
    if (*p != (frame == ARRAY ? ']' : '}'))
        FAIL(p, unexpected_msg[*p]);
    p++;
close:
    if (--depth > 0) {
        frame = stack[depth - 1];
        goto after_value;
    }
    p = skip_ws(p, end);
    if (p != end)
        FAIL(p, "trailing characters after document");
    return EDDY_OK;
}
