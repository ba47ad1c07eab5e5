/*
 * viewing.c - the `viewing` generator kind: video streaming playback events
 * with nested properties.
 *
 * One JSON object per event, members in this order (watched_s, the seconds
 * watched, only on video_complete and video_stop, stall_ms only on
 * buffering events):
 *   {"event":"video_complete","ts":1746007200123,
 *    "user":{"id":"u-00042","country":"US"},
 *    "device":{"type":"tv","os":"tizen"},
 *    "video":{"id":"v-0123","series":"s-012","quality":"4k","duration_s":2640},
 *    "position_s":2640,"watched_s":2640}
 * ts is unix milliseconds. Key = user.id.
 *
 * Model:
 * - 50000 users "u-00001".."u-50000"; user k's country (US, GB, DE, FR, BR,
 *   IN, JP with weights 30, 12, 10, 8, 15, 15, 10), device type (tv 35%,
 *   mobile 45%, web 20%) and os (tv: tizen, webos, tvos, androidtv; mobile:
 *   ios, android; web: windows, macos, linux) are fixed functions of k, and
 *   so is being a binge watcher (3% of users).
 * - 600 videos "v-0001".."v-0600" in series of 10 episodes ("s-001".."s-060",
 *   video k in series (k-1)/10+1), 20 to 60 minutes long (a function of k);
 *   popularity Zipf(--skew, 0.9 when 0) over the series.
 * - 64 viewing sessions are open at any time; each event belongs to one,
 *   drawn uniformly. A session has a user (uniform), the user's device and
 *   a quality (tv: 4k 50% / hd 40% / sd 10%; mobile: hd 40% / sd 60%; web:
 *   4k 10% / hd 60% / sd 30%), and a number of episodes to play: a binge
 *   watcher's session plays 4 to 8 consecutive episodes of one series and
 *   completes each with probability 0.95; anyone else's plays 1 (90%) or 2
 *   episodes and completes each with probability 0.6.
 * - An episode is, in events: video_start (position 0); 0 to 3 events that
 *   are buffering (stall_ms 200-5000; per event p 0.25 for 4k on mobile or
 *   web, 0.1 for 4k on a tv, else 0.04) or video_progress; then
 *   video_complete (position = duration) or video_stop (abandoned at a
 *   uniform position). After the last episode the session is replaced.
 * Since every session is drawn uniformly among 64, an episode spans about
 * 5 x 64 events of the stream: at --event-rate 2 about 2.7 minutes of
 * event time, so a binge watcher completes 4 or more episodes in well under
 * 4 hours, and the binge pattern (3+ video_complete within 4h per user)
 * finds mostly binge watchers: with --count 30000 --event-rate 2, 203
 * binge watchers and 28 other users who completed 3 episodes within 4 hours
 * by chance.
 *
 * Malformed events are one of, uniformly: a random proper prefix
 * (malformed_json); video.duration_s as a string (wrong_type); no user
 * object (missing_field); ts as a string that is not a number
 * (bad_timestamp).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "gen/kinds.h"

#define USERS 50000
#define SERIES 60
#define EPISODES 10
#define SESSIONS 64

enum event { START, PROGRESS, BUFFERING, COMPLETE, STOP };
static const char *const event_names[] = {"video_start", "video_progress", "buffering",
                                          "video_complete", "video_stop"};
enum device { TV, MOBILE, WEB };
static const char *const device_names[] = {"tv", "mobile", "web"};
static const char *const countries[] = {"US", "GB", "DE", "FR", "BR", "IN", "JP"};
static const double country_weights[] = {30, 12, 10, 8, 15, 15, 10};
static const char *const qualities[] = {"4k", "hd", "sd"};
static const double quality_weights[3][3] = {{0.5, 0.4, 0.1}, {0, 0.4, 0.6}, {0.1, 0.6, 0.3}};

struct session {
    uint32_t user;
    uint16_t video;   /* 1-based */
    uint8_t episodes; /* still to start after the current one */
    uint8_t middle;   /* buffering/progress events left in this episode */
    uint8_t quality;
    bool playing; /* the current episode has started */
    bool will_complete;
};

struct state {
    double series_cdf[SERIES];
    struct eddy_zipf series;
    struct session sessions[SESSIONS];
    bool started[SESSIONS];
};

static eddy_err_t state_new(const struct eddy_gen_opts *opts, void **out)
{
    struct state *st = eddy_calloc(1, sizeof *st);
    if (!st)
        return EDDY_ENOMEM;
    eddy__zipf_init(&st->series, st->series_cdf, SERIES, opts->skew > 0 ? opts->skew : 0.9);
    *out = st;
    return EDDY_OK;
}

static void state_free(void *state)
{
    eddy_free(state);
}

static uint64_t user_hash(uint32_t user, uint64_t salt)
{
    return eddy_hash_mix64(user * 0x9e3779b97f4a7c15ULL + salt);
}

static bool user_binges(uint32_t user)
{
    return user_hash(user, 1) % 100 < 3;
}

static enum device user_device(uint32_t user)
{
    uint64_t h = user_hash(user, 2) % 100;
    return h < 35 ? TV : h < 80 ? MOBILE : WEB;
}

static const char *user_os(uint32_t user)
{
    static const char *const tv[] = {"tizen", "webos", "tvos", "androidtv"};
    static const char *const mobile[] = {"ios", "android"};
    static const char *const web[] = {"windows", "macos", "linux"};
    uint64_t h = user_hash(user, 3);
    switch (user_device(user)) {
    case TV: return tv[h % 4];
    case MOBILE: return mobile[h % 2];
    default: return web[h % 3];
    }
}

static const char *user_country(uint32_t user)
{
    double x = (double)(user_hash(user, 4) % 1000) / 1000.0 * 100.0;
    for (size_t i = 0; i + 1 < sizeof countries / sizeof countries[0]; i++) {
        if (x < country_weights[i])
            return countries[i];
        x -= country_weights[i];
    }
    return countries[6];
}

static int64_t video_duration_s(unsigned video)
{
    return 1200 + (int64_t)(eddy_hash_mix64(video * 0xc2b2ae3d27d4eb4fULL + 5) % 2401);
}

static void session_start(struct state *st, struct eddy_rng *rng, struct session *s)
{
    memset(s, 0, sizeof *s);
    s->user = 1 + (uint32_t)eddy__rng_below(rng, USERS);
    enum device dev = user_device(s->user);
    s->quality = (uint8_t)eddy__rng_weighted(rng, quality_weights[dev], 3);
    unsigned series = (unsigned)eddy__zipf_draw(&st->series, rng);
    unsigned episode = (unsigned)eddy__rng_below(rng, EPISODES);
    unsigned count;
    if (user_binges(s->user))
        count = 4 + (unsigned)eddy__rng_below(rng, 5);
    else
        count = eddy__rng_chance(rng, 0.9) ? 1 : 2;
    if (episode + count > EPISODES) /* binge from an earlier episode on */
        episode = EPISODES - count;
    s->video = (uint16_t)(series * EPISODES + episode + 1);
    s->episodes = (uint8_t)(count - 1);
}

/* The session's next event and the position it reports. */
static enum event next_event(struct eddy_rng *rng, struct session *s, int64_t *position,
                             int64_t *stall_ms)
{
    int64_t duration = video_duration_s(s->video);
    if (!s->playing) {
        s->playing = true;
        s->middle = (uint8_t)eddy__rng_below(rng, 4);
        s->will_complete = eddy__rng_chance(rng, user_binges(s->user) ? 0.95 : 0.6);
        *position = 0;
        return START;
    }
    if (s->middle > 0) {
        s->middle--;
        enum device dev = user_device(s->user);
        double p = s->quality != 0 ? 0.04 : dev == TV ? 0.1 : 0.25;
        *position = (int64_t)eddy__rng_below(rng, (uint64_t)duration);
        if (eddy__rng_chance(rng, p)) {
            *stall_ms = 200 + (int64_t)eddy__rng_below(rng, 4801);
            return BUFFERING;
        }
        return PROGRESS;
    }
    s->playing = false;
    enum event e = s->will_complete ? COMPLETE : STOP;
    *position = e == COMPLETE ? duration : (int64_t)eddy__rng_below(rng, (uint64_t)duration);
    return e;
}

static void write_event(void *state, struct eddy_rng *rng, const struct eddy_gen_event *ev,
                        struct eddy_buf *key, struct eddy_buf *b)
{
    struct state *st = state;
    size_t slot = (size_t)eddy__rng_below(rng, SESSIONS);
    struct session *s = &st->sessions[slot];
    if (!st->started[slot]) {
        session_start(st, rng, s);
        st->started[slot] = true;
    }
    int64_t position = 0, stall_ms = -1;
    enum event e = next_event(rng, s, &position, &stall_ms);
    unsigned corruption = ev->malformed ? (unsigned)eddy__rng_below(rng, 4) : 4;
    unsigned video = s->video;

    eddy__gen_put_padded(key, "u-", s->user, 5);
    eddy_buf_puts(b, "{\"event\":\"");
    eddy_buf_puts(b, event_names[e]);
    eddy_buf_puts(b, corruption == 3 ? "\",\"ts\":\"" : "\",\"ts\":");
    eddy__gen_put_i64(b, corruption == 3 ? 17 : ev->event_time_ms);
    if (corruption == 3)
        eddy_buf_puts(b, "h\"");
    if (corruption != 2) {
        eddy_buf_puts(b, ",\"user\":{\"id\":\"");
        eddy__gen_put_padded(b, "u-", s->user, 5);
        eddy_buf_puts(b, "\",\"country\":\"");
        eddy_buf_puts(b, user_country(s->user));
        eddy_buf_puts(b, "\"}");
    }
    eddy_buf_puts(b, ",\"device\":{\"type\":\"");
    eddy_buf_puts(b, device_names[user_device(s->user)]);
    eddy_buf_puts(b, "\",\"os\":\"");
    eddy_buf_puts(b, user_os(s->user));
    eddy_buf_puts(b, "\"},\"video\":{\"id\":\"");
    eddy__gen_put_padded(b, "v-", video, 4);
    eddy_buf_puts(b, "\",\"series\":\"");
    eddy__gen_put_padded(b, "s-", (video - 1) / EPISODES + 1, 3);
    eddy_buf_puts(b, "\",\"quality\":\"");
    eddy_buf_puts(b, qualities[s->quality]);
    eddy_buf_puts(b, corruption == 1 ? "\",\"duration_s\":\"" : "\",\"duration_s\":");
    eddy__gen_put_i64(b, video_duration_s(video));
    eddy_buf_puts(b, corruption == 1 ? "\"}" : "}");
    eddy_buf_puts(b, ",\"position_s\":");
    eddy__gen_put_i64(b, position);
    if (e == COMPLETE || e == STOP) {
        eddy_buf_puts(b, ",\"watched_s\":");
        eddy__gen_put_i64(b, position);
    }
    if (e == BUFFERING) {
        eddy_buf_puts(b, ",\"stall_ms\":");
        eddy__gen_put_i64(b, stall_ms);
    }
    eddy_buf_putc(b, '}');
    if (corruption == 0 && !b->oom)
        eddy__gen_truncate(b, rng);
    if (!s->playing && (e == COMPLETE || e == STOP)) {
        if (s->episodes == 0) {
            session_start(st, rng, s);
        } else {
            s->episodes--;
            s->video++;
        }
    }
}

const struct eddy_gen_kind eddy__gen_viewing = {
    .name = "viewing",
    .time_path = "ts",
    .time_format = "unix_ms",
    .state_new = state_new,
    .state_free = state_free,
    .write = write_event,
};
