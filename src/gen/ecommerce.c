/*
 * ecommerce.c - the `ecommerce` generator kind: shop clickstream events.
 *
 * One flat JSON object per event, members in this order (quantity only on
 * add_to_cart and purchase):
 *   {"event":"purchase","ts":"2025-04-30T10:00:00.123Z","user_id":"u-004211",
 *    "session_id":"s-9f1c0e5a7b3d","product_id":"p-0042","category":"books",
 *    "price":24.99,"quantity":2}
 * Key = user_id.
 *
 * Model:
 * - 200 products "p-0001".."p-0200"; product k's category (one of 8) and
 *   price (4.99 to 499.99, always ending in .99) are fixed functions of k.
 *   Popularity is Zipf over the product number with exponent --skew, 1.1
 *   when --skew is 0: p-0001 is the most viewed, the first ten products get
 *   about half of the views.
 * - 256 shopping sessions are open at any time; each event belongs to one of
 *   them, drawn uniformly. A session has a user ("u-%06d", uniform over
 *   20000), an id ("s-" and 12 hex digits, unique in the run), a length of
 *   3 + Geometric(1/12) events, a cart of at most 8 items and the product
 *   viewed last. Each of its events is, in turn:
 *     purchase (p 0.12, cart not empty): the oldest cart item, its quantity;
 *     add_to_cart (p 0.22, a product viewed): the product viewed last,
 *       quantity 1, 2 or 3 (weights 0.75, 0.2, 0.05);
 *     view otherwise: a product drawn by popularity.
 *   After its last event a session is replaced by a new one.
 * - Checkout outage: during event-time minutes [20, 25) of every hour after
 *   the start, purchases fail: a session that would purchase views instead,
 *   so the conversion rate (purchases / views) drops to 0.
 *
 * Malformed events are one of, uniformly: a random proper prefix
 * (malformed_json); price as a string (wrong_type); no event member
 * (missing_field); an unparseable timestamp (bad_timestamp).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "gen/kinds.h"

#define PRODUCTS 200
#define CATEGORIES 8
#define SESSIONS 256
#define CART 8
#define USERS 20000
#define OUTAGE_CYCLE_MS (60 * 60000)
#define OUTAGE_FROM_MS (20 * 60000)
#define OUTAGE_TO_MS (25 * 60000)

static const char *const categories[CATEGORIES] = {"electronics", "books",  "home",   "fashion",
                                                   "toys",        "sports", "beauty", "grocery"};

struct cart_item {
    uint16_t product; /* 1-based */
    uint8_t quantity;
};

struct session {
    uint64_t id;
    uint32_t user;
    uint32_t remaining;
    uint16_t last_viewed; /* 0: none */
    uint8_t n_cart;
    struct cart_item cart[CART];
};

struct state {
    double product_cdf[PRODUCTS];
    struct eddy_zipf products;
    uint64_t session_key, next_session;
    struct session sessions[SESSIONS];
    bool started[SESSIONS];
    struct eddy_gen_time_cache time_cache;
};

static eddy_err_t state_new(const struct eddy_gen_opts *opts, void **out)
{
    struct state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    eddy__zipf_init(&st->products, st->product_cdf, PRODUCTS, opts->skew > 0 ? opts->skew : 1.1);
    st->session_key = eddy_hash_mix64(opts->seed ^ 0xec0aa3e5c0ffee11ULL);
    *out = st;
    return EDDY_OK;
}

static void state_free(void *state)
{
    eddy_free(state);
}

static const char *product_category(unsigned product)
{
    return categories[eddy_hash_mix64(product * 0x9e3779b97f4a7c15ULL + 3) % CATEGORIES];
}

/* Price in cents: 4.99 to 499.99, ending in .99. */
static int64_t product_price_cents(unsigned product)
{
    uint64_t h = eddy_hash_mix64(product * 0xc2b2ae3d27d4eb4fULL + 11);
    /* log-uniform dollars in [5, 500] */
    double dollars = 5.0 * pow(100.0, (double)(h % 10000) / 10000.0);
    return (int64_t)llround(dollars) * 100 - 1;
}

static void session_start(struct state *st, struct eddy_rng *rng, struct session *s)
{
    memset(s, 0, sizeof *s);
    s->id = eddy_hash_mix64(st->next_session++ + st->session_key);
    s->user = 1 + (uint32_t)eddy__rng_below(rng, USERS);
    uint32_t extra = 0;
    while (extra < 200 && !eddy__rng_chance(rng, 1.0 / 12))
        extra++;
    s->remaining = 3 + extra;
}

static void put_price(struct eddy_buf *b, int64_t cents, bool as_string)
{
    if (as_string)
        eddy_buf_putc(b, '"');
    eddy__gen_put_i64(b, cents / 100);
    eddy_buf_putc(b, '.');
    eddy_buf_putc(b, (char)('0' + cents % 100 / 10));
    eddy_buf_putc(b, (char)('0' + cents % 10));
    if (as_string)
        eddy_buf_putc(b, '"');
}

enum action { VIEW, ADD_TO_CART, PURCHASE };

/* The session's next action and its product and quantity. */
static enum action next_action(struct state *st, struct eddy_rng *rng, struct session *s,
                               bool outage, unsigned *product, unsigned *quantity)
{
    static const double qty_weights[] = {0.75, 0.2, 0.05};
    double u = eddy__rng_unit(rng);
    if (u < 0.12 && s->n_cart > 0 && !outage) {
        *product = s->cart[0].product;
        *quantity = s->cart[0].quantity;
        memmove(&s->cart[0], &s->cart[1], (size_t)(s->n_cart - 1) * sizeof s->cart[0]);
        s->n_cart--;
        return PURCHASE;
    }
    if (u >= 0.12 && u < 0.34 && s->last_viewed && s->n_cart < CART) {
        *product = s->last_viewed;
        *quantity = 1 + (unsigned)eddy__rng_weighted(rng, qty_weights, 3);
        s->cart[s->n_cart++] = (struct cart_item){(uint16_t)*product, (uint8_t)*quantity};
        return ADD_TO_CART;
    }
    *product = 1 + (unsigned)eddy__zipf_draw(&st->products, rng);
    *quantity = 0;
    s->last_viewed = (uint16_t)*product;
    return VIEW;
}

static void write_event(void *state, struct eddy_rng *rng, const struct eddy_gen_event *ev,
                        struct eddy_buf *key, struct eddy_buf *b)
{
    static const char *const names[] = {"view", "add_to_cart", "purchase"};
    struct state *st = state;
    size_t slot = (size_t)eddy__rng_below(rng, SESSIONS);
    struct session *s = &st->sessions[slot];
    if (!st->started[slot]) {
        session_start(st, rng, s);
        st->started[slot] = true;
    }
    int64_t cycle =
        ev->elapsed_ms - eddy_floor_div(ev->elapsed_ms, OUTAGE_CYCLE_MS) * OUTAGE_CYCLE_MS;
    bool outage = cycle >= OUTAGE_FROM_MS && cycle < OUTAGE_TO_MS;
    unsigned product, quantity;
    enum action action = next_action(st, rng, s, outage, &product, &quantity);
    unsigned corruption = ev->malformed ? (unsigned)eddy__rng_below(rng, 4) : 4;

    eddy__gen_put_padded(key, "u-", s->user, 6);
    eddy_buf_putc(b, '{');
    if (corruption != 2) {
        eddy_buf_puts(b, "\"event\":\"");
        eddy_buf_puts(b, names[action]);
        eddy_buf_puts(b, "\",");
    }
    eddy_buf_puts(b, "\"ts\":\"");
    if (corruption == 3)
        eddy_buf_puts(b, "2025-04-31T25:00:00Z");
    else
        eddy__gen_put_time(b, ev->event_time_ms, &st->time_cache);
    eddy_buf_puts(b, "\",\"user_id\":\"");
    eddy__gen_put_padded(b, "u-", s->user, 6);
    eddy_buf_puts(b, "\",\"session_id\":\"s-");
    eddy__gen_put_hex(b, s->id, 12);
    eddy_buf_puts(b, "\",\"product_id\":\"");
    eddy__gen_put_padded(b, "p-", product, 4);
    eddy_buf_puts(b, "\",\"category\":\"");
    eddy_buf_puts(b, product_category(product));
    eddy_buf_puts(b, "\",\"price\":");
    put_price(b, product_price_cents(product), corruption == 1);
    if (action != VIEW) {
        eddy_buf_puts(b, ",\"quantity\":");
        eddy__gen_put_i64(b, quantity);
    }
    eddy_buf_putc(b, '}');
    if (corruption == 0 && !b->oom)
        eddy__gen_truncate(b, rng);
    if (--s->remaining == 0)
        session_start(st, rng, s);
}

const struct eddy_gen_kind eddy__gen_ecommerce = {
    .name = "ecommerce",
    .time_path = "ts",
    .time_format = "rfc3339",
    .state_new = state_new,
    .state_free = state_free,
    .write = write_event,
};
