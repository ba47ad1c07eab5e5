/*
 * nexmark.c - the `nexmark` generator kind: the NEXMark benchmark's online
 * auction events (persons, auctions, bids), following the event model of
 * the reference generator (Apache Beam's / Flink's nexmark
 * NexmarkGenerator with its default configuration).
 *
 * Event number n (the driver's seq, duplicates not counted) is, by n mod 50:
 * 0 a person, 1-3 an auction, 4-49 a bid (2%, 6%, 92%). One JSON object per
 * line, with event_type (0 person, 1 auction, 2 bid), a top-level dateTime
 * (the event time, so that one timestamp path serves every type: Flink's
 * nexmark DDL computes it with a CASE over the three), and the object of its
 * type, members in this order:
 *   {"event_type":2,"dateTime":"2025-04-30T10:00:00.123Z",
 *    "bid":{"auction":1007,"bidder":1023,"price":3612,"channel":"Google",
 *    "url":"https://www.nexmark.com/googl/item.htm?query=1",
 *    "dateTime":"2025-04-30T10:00:00.123Z"}}
 *   {"event_type":1,"dateTime":"...","auction":{"id":1003,"itemName":"...",
 *    "description":"...","initialBid":1520,"reserve":2480,"dateTime":"...",
 *    "expires":"...","seller":1004,"category":12}}
 *   {"event_type":0,"dateTime":"...","person":{"id":1001,"name":"Peter Jones",
 *    "emailAddress":"abcdefg@hijkl.com","creditCard":"1234 5678 9012 3456",
 *    "city":"Boise","state":"ID","dateTime":"..."}}
 * Key = the bid's auction, the auction's id, the person's id (decimal).
 *
 * Ids as in the reference: the k-th person (auction) made has id 1000 + k
 * (base-0 k); lastBase0AuctionId(n) and lastBase0PersonId(n) are the newest
 * ones at event n. A bid's auction is, with probability 1/2 (hot auction
 * ratio 2), the hot auction lastBase0AuctionId(n) / 100 * 100 (the first of
 * the last batch of 100 auctions, so a new hot auction every 100 auctions,
 * about every 1667 events), else uniform over the last 100 auctions plus
 * 10 not made yet; its bidder, with probability 3/4 (hot bidder ratio 4),
 * the hot bidder lastBase0PersonId(n) / 100 * 100 + 1, else uniform over the
 * 1000 newest persons plus 10. An auction's seller is with probability 3/4
 * the hot seller lastBase0PersonId(n) / 100 * 100, else drawn like a bidder;
 * its category 10 + uniform(5); it expires 1 ms to twice the event time of
 * 1667 events after it is made. Prices are round(10^(6u) * 100) for u
 * uniform in [0, 1): 100 to 100000000 (cents), log-uniform; reserve =
 * initialBid + another such price. Channels: with probability 1/2 one of
 * the four hot channels (Google, Facebook, Baidu, Apple, with their urls),
 * else "channel-N", N uniform below 10000. Names, cities and states come
 * from the reference's lists; strings are lowercase letters.
 *
 * Not modelled: the reference's "extra" padding members, and the rate
 * shapes (sine/square) of its event-time generator: event times come from
 * the driver (--event-rate, late events, duplicates).
 *
 * Malformed events are one of, uniformly: a random proper prefix
 * (malformed_json) or the top-level dateTime unparseable (bad_timestamp).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "gen/kinds.h"

#define PROPORTION 50
#define PERSON_PROPORTION 1
#define AUCTION_PROPORTION 3
#define FIRST_ID 1000
#define FIRST_CATEGORY 10
#define CATEGORIES 5
#define HOT_RATIO 100 /* HOT_AUCTION_RATIO, HOT_BIDDER_RATIO, HOT_SELLER_RATIO */
#define IN_FLIGHT_AUCTIONS 100
#define AUCTION_ID_LEAD 10
#define ACTIVE_PEOPLE 1000
#define PERSON_ID_LEAD 10
#define CHANNELS 10000

static const char *const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};
static const char *const hot_urls[] = {"https://www.nexmark.com/googl/item.htm?query=1",
                                       "https://www.nexmark.com/meta/item.htm?query=1",
                                       "https://www.nexmark.com/baidu/item.htm?query=1",
                                       "https://www.nexmark.com/apple/item.htm?query=1"};
static const char *const us_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const us_cities[] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                        "Portland", "Bend",        "Redmond",       "Seattle",
                                        "Kent",     "Cheyenne"};
static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};

struct state {
    double event_rate;
    struct eddy_gen_time_cache time_cache;
};

static eddy_err_t state_new(const struct eddy_gen_opts *opts, void **out)
{
    struct state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    st->event_rate = opts->event_rate > 0 ? opts->event_rate : 1000;
    *out = st;
    return EDDY_OK;
}

static void state_free(void *state)
{
    eddy_free(state);
}

static int64_t last_base0_person(uint64_t n)
{
    uint64_t epoch = n / PROPORTION, offset = n % PROPORTION;
    if (offset >= PERSON_PROPORTION)
        offset = PERSON_PROPORTION - 1;
    return (int64_t)(epoch * PERSON_PROPORTION + offset);
}

static int64_t last_base0_auction(uint64_t n)
{
    int64_t epoch = (int64_t)(n / PROPORTION), offset = (int64_t)(n % PROPORTION);
    if (offset < PERSON_PROPORTION) { /* a person: the last auction of the last epoch */
        epoch--;
        offset = AUCTION_PROPORTION - 1;
    } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) { /* a bid */
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    return epoch * AUCTION_PROPORTION + offset;
}

static int64_t next_base0_person(uint64_t n, struct eddy_rng *rng)
{
    int64_t people = last_base0_person(n) + 1;
    int64_t active = people < ACTIVE_PEOPLE ? people : ACTIVE_PEOPLE;
    return people - active + (int64_t)eddy__rng_below(rng, (uint64_t)(active + PERSON_ID_LEAD));
}

static int64_t next_base0_auction(uint64_t n, struct eddy_rng *rng)
{
    int64_t max = last_base0_auction(n);
    int64_t min = max - IN_FLIGHT_AUCTIONS > 0 ? max - IN_FLIGHT_AUCTIONS : 0;
    return min + (int64_t)eddy__rng_below(rng, (uint64_t)(max - min + 1 + AUCTION_ID_LEAD));
}

static int64_t next_price(struct eddy_rng *rng)
{
    return llround(pow(10.0, eddy__rng_unit(rng) * 6.0) * 100.0);
}

/* A string of 3 to @max - 1 lowercase letters (the reference's nextString). */
static void put_string(struct eddy_buf *b, struct eddy_rng *rng, unsigned max)
{
    unsigned len = 3 + (unsigned)eddy__rng_below(rng, max - 3);
    eddy_buf_putc(b, '"');
    for (unsigned i = 0; i < len; i++)
        eddy_buf_putc(b, (char)('a' + eddy__rng_below(rng, 26)));
    eddy_buf_putc(b, '"');
}

static void put_member_i64(struct eddy_buf *b, const char *name, int64_t v)
{
    eddy_buf_puts(b, name);
    eddy__gen_put_i64(b, v);
}

static void put_time(struct state *st, struct eddy_buf *b, int64_t ms)
{
    eddy_buf_putc(b, '"');
    eddy__gen_put_time(b, ms, &st->time_cache);
    eddy_buf_putc(b, '"');
}

static void write_person(struct state *st, struct eddy_rng *rng, uint64_t n, int64_t ts,
                         struct eddy_buf *key, struct eddy_buf *b)
{
    int64_t id = last_base0_person(n) + FIRST_ID;
    eddy__gen_put_i64(key, id);
    put_member_i64(b, "\"person\":{\"id\":", id);
    eddy_buf_puts(b, ",\"name\":\"");
    eddy_buf_puts(b, first_names[eddy__rng_below(rng, 11)]);
    eddy_buf_putc(b, ' ');
    eddy_buf_puts(b, last_names[eddy__rng_below(rng, 9)]);
    eddy_buf_puts(b, "\",\"emailAddress\":");
    put_string(b, rng, 7);
    if (!b->oom)
        b->len--; /* reopen the string: "<7>@<5>.com" */
    eddy_buf_putc(b, '@');
    for (unsigned i = 0; i < 5; i++)
        eddy_buf_putc(b, (char)('a' + eddy__rng_below(rng, 26)));
    eddy_buf_puts(b, ".com\",\"creditCard\":\"");
    for (int group = 0; group < 4; group++) {
        unsigned v = (unsigned)eddy__rng_below(rng, 10000);
        char digits[5] = {(char)('0' + v / 1000), (char)('0' + v / 100 % 10),
                          (char)('0' + v / 10 % 10), (char)('0' + v % 10), ' '};
        eddy_buf_append(b, digits, group < 3 ? 5 : 4);
    }
    eddy_buf_puts(b, "\",\"city\":\"");
    eddy_buf_puts(b, us_cities[eddy__rng_below(rng, 10)]);
    eddy_buf_puts(b, "\",\"state\":\"");
    eddy_buf_puts(b, us_states[eddy__rng_below(rng, 6)]);
    eddy_buf_puts(b, "\",\"dateTime\":");
    put_time(st, b, ts);
    eddy_buf_putc(b, '}');
}

static void write_auction(struct state *st, struct eddy_rng *rng, uint64_t n, int64_t ts,
                          struct eddy_buf *key, struct eddy_buf *b)
{
    int64_t id = last_base0_auction(n) + FIRST_ID;
    int64_t seller = eddy__rng_below(rng, 4) > 0 ? last_base0_person(n) / HOT_RATIO * HOT_RATIO
                                                 : next_base0_person(n, rng);
    int64_t category = FIRST_CATEGORY + (int64_t)eddy__rng_below(rng, CATEGORIES);
    int64_t initial = next_price(rng);
    /* the reference's nextAuctionLengthMs: up to twice the time of the
     * events that make IN_FLIGHT_AUCTIONS auctions */
    double horizon_ms =
        (double)(IN_FLIGHT_AUCTIONS * PROPORTION / AUCTION_PROPORTION) * 1000.0 / st->event_rate;
    int64_t length = 1 + (int64_t)eddy__rng_below(rng, (uint64_t)fmax(2 * horizon_ms, 1));
    eddy__gen_put_i64(key, id);
    put_member_i64(b, "\"auction\":{\"id\":", id);
    eddy_buf_puts(b, ",\"itemName\":");
    put_string(b, rng, 20);
    eddy_buf_puts(b, ",\"description\":");
    put_string(b, rng, 100);
    put_member_i64(b, ",\"initialBid\":", initial);
    put_member_i64(b, ",\"reserve\":", initial + next_price(rng));
    eddy_buf_puts(b, ",\"dateTime\":");
    put_time(st, b, ts);
    eddy_buf_puts(b, ",\"expires\":");
    put_time(st, b, ts + length);
    put_member_i64(b, ",\"seller\":", seller + FIRST_ID);
    put_member_i64(b, ",\"category\":", category);
    eddy_buf_putc(b, '}');
}

static void write_bid(struct state *st, struct eddy_rng *rng, uint64_t n, int64_t ts,
                      struct eddy_buf *key, struct eddy_buf *b)
{
    int64_t auction = eddy__rng_below(rng, 2) > 0 ? last_base0_auction(n) / HOT_RATIO * HOT_RATIO
                                                  : next_base0_auction(n, rng);
    int64_t bidder = eddy__rng_below(rng, 4) > 0 ? last_base0_person(n) / HOT_RATIO * HOT_RATIO + 1
                                                 : next_base0_person(n, rng);
    int64_t price = next_price(rng);
    eddy__gen_put_i64(key, auction + FIRST_ID);
    put_member_i64(b, "\"bid\":{\"auction\":", auction + FIRST_ID);
    put_member_i64(b, ",\"bidder\":", bidder + FIRST_ID);
    put_member_i64(b, ",\"price\":", price);
    if (eddy__rng_below(rng, 2) > 0) {
        size_t i = (size_t)eddy__rng_below(rng, 4);
        eddy_buf_puts(b, ",\"channel\":\"");
        eddy_buf_puts(b, hot_channels[i]);
        eddy_buf_puts(b, "\",\"url\":\"");
        eddy_buf_puts(b, hot_urls[i]);
    } else {
        unsigned channel = (unsigned)eddy__rng_below(rng, CHANNELS);
        eddy_buf_puts(b, ",\"channel\":\"channel-");
        eddy__gen_put_i64(b, channel);
        eddy_buf_puts(b, "\",\"url\":\"https://www.nexmark.com/");
        for (int part = 0; part < 3; part++) {
            for (int i = 0; i < 5; i++)
                eddy_buf_putc(b, (char)('a' + eddy__rng_below(rng, 26)));
            eddy_buf_putc(b, '/');
        }
        eddy_buf_puts(b, "item.htm?query=1&channel_id=");
        eddy__gen_put_i64(b, channel);
    }
    eddy_buf_puts(b, "\",\"dateTime\":");
    put_time(st, b, ts);
    eddy_buf_putc(b, '}');
}

static void write_event(void *state, struct eddy_rng *rng, const struct eddy_gen_event *ev,
                        struct eddy_buf *key, struct eddy_buf *b)
{
    struct state *st = state;
    uint64_t n = ev->seq, offset = n % PROPORTION;
    int type = offset < PERSON_PROPORTION                        ? 0
               : offset < PERSON_PROPORTION + AUCTION_PROPORTION ? 1
                                                                 : 2;
    unsigned corruption = ev->malformed ? (unsigned)eddy__rng_below(rng, 2) : 2;
    put_member_i64(b, "{\"event_type\":", type);
    eddy_buf_puts(b, ",\"dateTime\":");
    if (corruption == 1)
        eddy_buf_puts(b, "\"not a time\"");
    else
        put_time(st, b, ev->event_time_ms);
    eddy_buf_putc(b, ',');
    if (type == 0)
        write_person(st, rng, n, ev->event_time_ms, key, b);
    else if (type == 1)
        write_auction(st, rng, n, ev->event_time_ms, key, b);
    else
        write_bid(st, rng, n, ev->event_time_ms, key, b);
    eddy_buf_putc(b, '}');
    if (corruption == 0 && !b->oom)
        eddy__gen_truncate(b, rng);
}

const struct eddy_gen_kind eddy__gen_nexmark = {
    .name = "nexmark",
    .time_path = "dateTime",
    .time_format = "rfc3339",
    .state_new = state_new,
    .state_free = state_free,
    .write = write_event,
};
