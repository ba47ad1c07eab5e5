/*
 * main.c - the eddy command line: run, backfill, gen, validate, diff, demo,
 * archive.
 *
 * Exit codes: 0 ok; 2 usage or configuration error (the message names what is
 * wrong); 1 runtime failure (the message names the cause).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/json.h"
#include "codec/timestamp.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "config/diff.h"
#include "config/version.h"
#include "eddy/topology.h"
#include "gen/gen.h"
#include "runtime/demo.h"
#include "serve/serve.h"
#include "runtime/engine.h"
#include "runtime/kengine.h"
#include "sink/archive_prune.h"
#include "sink/kafka.h"
#include "sink/file.h"
#include "source/ktable.h"

#define EXIT_USAGE 2

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char usage_main[] =
    "usage: eddy COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run TOPOLOGY [--input PATH|-] [--output PATH|-] [--dlq PATH]\n"
    "               [--bootstrap HOST:PORT] [--state-dir DIR] [--http ADDR:PORT] [--instance ID]\n"
    "      run a topology; with --input locally over a file (plain, .gz, .lz4) or stdin\n"
    "  backfill TOPOLOGY --from TIME [--to TIME] [--version V] [Kafka options of run]\n"
    "      reprocess the input from TIME into version V of the topology (<name>.v<V>,\n"
    "      output topics <topic>.v<V>) beside the live one\n"
    "  gen KIND [options]   generate events: service-logs, frames, ecommerce, viewing, nexmark\n"
    "  validate TOPOLOGY    check a topology and print its plan\n"
    "  diff OLD NEW         what a topology upgrade keeps, rebuilds or changes\n"
    "  demo [--seconds N]   service health over generated logs, as a live table\n"
    "  archive prune PATH --older-than DURATION [--dry-run]\n"
    "      delete the archive's date= partitions older than DURATION\n"
    "\n"
    "  eddy COMMAND --help  options of a command\n"
    "  eddy --version\n";

static const char usage_run[] =
    "usage: eddy run TOPOLOGY [--input PATH|-] [--output PATH|-] [--dlq PATH]\n"
    "                         [--bootstrap HOST:PORT] [--state-dir DIR] [--http ADDR:PORT]\n"
    "                         [--advertise HOST:PORT] [--instance ID]\n"
    "\n"
    "  --input PATH   run locally over PATH (plain, gzip or lz4; '-' = stdin); every open\n"
    "                 window is closed and emitted at end of input\n"
    "  --output PATH  results and alerts as JSON lines (default stdout)\n"
    "  --dlq PATH     dead letters as JSON lines (default stderr)\n"
    "  --bootstrap HOST:PORT  Kafka mode (no --input): join the topology's consumer group\n"
    "                 (default $EDDY_BOOTSTRAP, else 127.0.0.1:9092)\n"
    "  --state-dir DIR  Kafka mode: RocksDB state (default ./eddy-state)\n"
    "  --instance ID  Kafka mode: stable instance id (default: host name); the\n"
    "                 transactional id is <topology name>-<ID>\n"
    "  --http ADDR:PORT  serve /metrics, /healthz, /readyz, the query API and the status\n"
    "                 page (docs/http.md)\n"
    "  --advertise HOST:PORT  Kafka mode with --http: the address other instances use to\n"
    "                 reach this one's --http (default: the --http address; 0.0.0.0 is\n"
    "                 advertised as 127.0.0.1): set it behind NAT or in containers\n"
    "  --commit-interval-ms N  Kafka mode: transaction commit interval (default 100)\n"
    "  --replication N  Kafka mode: replication factor of the topics eddy creates\n"
    "                 (default: the smaller of 3 and the number of brokers)\n"
    "  -X key=value   librdkafka property (after the topology's kafka: section)\n"
    "  --reset-store NAME  Kafka mode: rebuild store NAME (its state and changelog are\n"
    "                 emptied) when it was written by an incompatible topology; see\n"
    "                 `eddy diff`. Repeatable.\n";

static const char usage_backfill[] =
    "usage: eddy backfill TOPOLOGY --from TIME [--to TIME] [--version V]\n"
    "                              [--bootstrap HOST:PORT] [--state-dir DIR] [--instance ID]\n"
    "                              [--http ADDR:PORT] [--advertise HOST:PORT] [--replication N]\n"
    "                              [--commit-interval-ms N] [-X key=value]\n"
    "\n"
    "  Reprocesses the topology's input topic from TIME into version V of the topology,\n"
    "  beside the live one, which it does not touch (docs/backfill.md). Version V is the\n"
    "  topology named <name>.v<V> (its own consumer group, transactional ids, state,\n"
    "  changelog and repartition topics, <name>.v<V>-instances directory) whose output,\n"
    "  alert and dead-letter topics are <topic>.v<V> (dead letters: <name>-dlq.v<V>).\n"
    "  It runs exactly once like `eddy run`: a restarted backfill of the same version\n"
    "  resumes from its committed offsets and state.\n"
    "\n"
    "  --from TIME    RFC 3339. Each input partition starts at its first record whose\n"
    "                 Kafka timestamp is >= TIME (its end when none is that new), unless\n"
    "                 this version has committed offsets already\n"
    "  --to TIME      RFC 3339, exclusive. Each input partition stops before its first\n"
    "                 record whose timestamp is >= TIME (or, when none is that new, at\n"
    "                 its end as of the start); then every open window is emitted final\n"
    "                 and committed, and eddy exits 0. Run it as ONE process: with\n"
    "                 others in its group it refuses to finish (exit 2).\n"
    "                 Without --to: catch up, then keep running live\n"
    "  --version V    1 to 999999 (default 2); refused when a derived name is invalid\n"
    "  --state-dir DIR  RocksDB state in DIR/<name>.v<V> (default DIR ./eddy-state), never\n"
    "                 the live instance's\n"
    "  --bootstrap, --instance, --http, --replication, --commit-interval-ms, -X: as for\n"
    "                 `eddy run`\n"
    "\n"
    "  Progress: every 2 s a line \"backfill: 37% (1.2M of 3.3M records), 512k records/s,\n"
    "  ETA 4 s\" (a bar redrawn in place when stderr is a terminal), counted in offsets\n"
    "  from --from to --to (or to the ends at start); without --to, \"backfill caught up:\n"
    "  live from here\" once those ends are reached.\n"
    "  Exit: 0 done (with --to) or stopped; 2 usage or configuration error; 1 failure.\n";

static const char usage_gen[] =
    "usage: eddy gen service-logs|frames|ecommerce|viewing|nexmark [options]\n"
    "\n"
    "  --count N          events to generate (default 100000)\n"
    "  --rate EPS         pace output at EPS events per wall-clock second (default: unpaced)\n"
    "  --seed S           random seed (default 1); same seed, same bytes\n"
    "  --start TIME       event time of the first event, RFC 3339 (default 2025-04-30T10:00:00Z)\n"
    "  --event-rate EPS   events per second of event time (default 1000)\n"
    "  --live             timestamps follow the wall clock\n"
    "  --late-rate F      fraction of late events (default 0)\n"
    "  --max-late DUR     how late a late event may be (default 0s)\n"
    "  --dup-rate F       fraction of duplicated events (default 0)\n"
    "  --malformed-rate F fraction of malformed events (default 0)\n"
    "  --skew Z           Zipf exponent of tenant traffic (default 0 = uniform); ecommerce:\n"
    "                     of product views (default 1.1), viewing: of series (default 0.9)\n"
    "  --frame-bytes N    frames: target line size (default 2048)\n"
    "  --users N          frames: user pool (default 100000)\n"
    "  --output PATH      write to PATH instead of stdout\n"
    "  --topic T          produce to Kafka topic T instead (keyed by service, uid, user,\n"
    "                     or auction/person id)\n"
    "  --record-time event|send  --topic: the records' Kafka timestamps: the time of\n"
    "                     sending (default), or the generator's clock, the newest event\n"
    "                     time so far (what `eddy backfill --from/--to` select on; keep\n"
    "                     --start within the topic's retention.ms of now, or the broker\n"
    "                     deletes the records)\n"
    "  --bootstrap H:P    Kafka cluster for --topic (default $EDDY_BOOTSTRAP, else\n"
    "                     127.0.0.1:9092)\n";

static const char usage_validate[] = "usage: eddy validate TOPOLOGY\n";
static const char usage_diff[] =
    "usage: eddy diff OLD.yaml NEW.yaml\n"
    "  what upgrading a running topology from OLD to NEW does to every store, changelog,\n"
    "  repartition topic and output topic (docs/upgrades.md). Exit 0 when all state\n"
    "  carries over, 1 when some store must be rebuilt (eddy run --reset-store NAME),\n"
    "  2 for bad input.\n";
static const char usage_demo[] =
    "usage: eddy demo [--seconds N] [--rate EPS] [--http ADDR:PORT]\n"
    "  runs topologies/service-health.yaml over generated logs (one minute of event time\n"
    "  every two seconds) and prints a live table as windows close; stops on Ctrl-C or\n"
    "  after N seconds (default: DEMO_SECONDS, else until Ctrl-C)\n";

static const char usage_archive[] =
    "usage: eddy archive prune PATH --older-than DURATION [--dry-run]\n"
    "\n"
    "  Deletes every date=YYYY-MM-DD partition directory under PATH (an aggregation's\n"
    "  directory or the whole archive root, walked recursively) whose day ended at least\n"
    "  DURATION ago, with all its files, then the directories this left empty (never\n"
    "  PATH). Symbolic links are not followed; directories not named date=... are only\n"
    "  walked; a date= value that is not a day is skipped with a warning (docs/archive.md).\n"
    "\n"
    "  --older-than DURATION  e.g. 90d, 13mo, 1y: units s, m (minutes), h, d, w (7 days),\n"
    "                 mo (30 days), y (365 days), combinable (1y6mo); at least 1d\n"
    "  --dry-run      delete nothing; count (and log) what would be deleted\n"
    "\n"
    "  Prints \"prune: deleted N partitions, F files, B bytes older than DATE\": the\n"
    "  partitions dated before DATE. Exit: 0 done; 2 usage error; 1 some deletion failed\n"
    "  (the others are done; the log names each failure).\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "eddy: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return EXIT_USAGE;
}

/* Returns the value of option @name at argv[*i], advancing *i; NULL on a
 * missing value. */
static const char *opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static struct eddy_plan *load_plan(const char *path)
{
    char err[1024];
    struct eddy_plan *plan = NULL;
    if (eddy_topology_load(path, &plan, err, sizeof err) != EDDY_OK) {
        fprintf(stderr, "eddy: %s\n", err);
        return NULL;
    }
    return plan;
}

static int cmd_validate(int argc, char **argv)
{
    if (argc != 3)
        return usage_error(usage_validate, "%s", "validate takes exactly one TOPOLOGY");
    struct eddy_plan *plan = load_plan(argv[2]);
    if (!plan)
        return EXIT_USAGE;
    eddy_plan_print(plan, stdout);
    eddy_plan_free(plan);
    return 0;
}

/* The Kafka-mode options of run and backfill. */
struct kafka_args {
    const char *bootstrap, *state_dir, *instance, *http, *advertise, *commit_ms, *replication;
    struct eddy_kv props[64]; /* -X; keys are strndup'ed (kafka_args_release) */
    size_t n_props;
    const char *reset_stores[64];
    size_t n_reset_stores;
};

static void kafka_args_release(struct kafka_args *k)
{
    for (size_t i = 0; i < k->n_props; i++)
        free(k->props[i].key);
    k->n_props = 0;
}

/* The Kafka-mode option at argv[*i], if it is one, into @k: returns 1 (*i
 * advanced past its value), 0 when argv[*i] is not one, or -1 after a usage
 * error was printed (with @usage). */
static int kafka_option(struct kafka_args *k, int argc, char **argv, int *i, const char *usage)
{
    const char *a = argv[*i];
    if (strcmp(a, "-X") == 0) {
        const char *kv = opt_value(argc, argv, i);
        char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv || k->n_props == 64) {
            usage_error(usage, "-X needs key=value, got '%s'", kv ? kv : "");
            return -1;
        }
        k->props[k->n_props].key = strndup(kv, (size_t)(eq - kv));
        k->props[k->n_props++].value = eq + 1;
        return 1;
    }
    const char **slot = strcmp(a, "--bootstrap") == 0            ? &k->bootstrap
                        : strcmp(a, "--state-dir") == 0          ? &k->state_dir
                        : strcmp(a, "--instance") == 0           ? &k->instance
                        : strcmp(a, "--http") == 0               ? &k->http
                        : strcmp(a, "--advertise") == 0          ? &k->advertise
                        : strcmp(a, "--commit-interval-ms") == 0 ? &k->commit_ms
                        : strcmp(a, "--replication") == 0        ? &k->replication
                                                                 : NULL;
    if (!slot)
        return 0;
    if (!(*slot = opt_value(argc, argv, i))) {
        usage_error(usage, "option '%s' needs a value", a);
        return -1;
    }
    return 1;
}

/* Kafka mode: `eddy run TOPOLOGY` without --input, and `eddy backfill`
 * (@backfill; @dlq_topic NULL: the plan's default). */
static int run_kafka(struct eddy_plan *plan, const struct kafka_args *k, const char *state_dir,
                     const char *dlq_topic, const struct eddy_backfill_opts *backfill)
{
    char host[256];
    const char *instance = k->instance;
    if (!instance) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "eddy");
        host[sizeof host - 1] = '\0';
        instance = host;
    }
    struct eddy_kengine_opts opts = {
        .bootstrap = k->bootstrap ? k->bootstrap
                                  : (getenv("EDDY_BOOTSTRAP") ? getenv("EDDY_BOOTSTRAP")
                                                              : "127.0.0.1:9092"),
        .state_dir = state_dir,
        .instance = instance,
        .props = k->props,
        .n_props = k->n_props,
        .commit_interval_ms = k->commit_ms ? atoll(k->commit_ms) : 100,
        .replication = k->replication ? atoi(k->replication) : -1,
        .reset_stores = k->reset_stores,
        .n_reset_stores = k->n_reset_stores,
        .dlq_topic = dlq_topic,
        .backfill = backfill,
    };
    install_signals();
    eddy_err_t err = EDDY_OK;
    if (k->http) {
        struct eddy_serve_opts so = {.listen = k->http, .advertise = k->advertise,
                                     .instance = instance, .bootstrap = opts.bootstrap,
                                     .props = k->props, .n_props = k->n_props};
        err = eddy__serve_start(plan, &so, &opts.serve);
    }
    if (!err)
        err = eddy__kengine_run(plan, &opts, &stop_requested);
    eddy__serve_stop(opts.serve);
    if (err) {
        fprintf(stderr, "eddy: %s failed: %s\n", backfill ? "backfill" : "run",
                eddy_err_message(err));
        return err == EDDY_ECONFIG ? EXIT_USAGE : 1;
    }
    return 0;
}

static int cmd_diff(int argc, char **argv)
{
    if (argc != 4)
        return usage_error(usage_diff, "%s", "diff takes OLD and NEW topologies");
    struct eddy_plan *old_plan = load_plan(argv[2]);
    struct eddy_plan *new_plan = old_plan ? load_plan(argv[3]) : NULL;
    int incompatible = 0, rc = EXIT_USAGE;
    if (new_plan) {
        eddy_err_t err = eddy_plan_diff(old_plan, new_plan, stdout, &incompatible);
        rc = err ? 1 : incompatible ? 1 : 0;
        if (err)
            fprintf(stderr, "eddy: diff failed: %s\n", eddy_err_message(err));
    }
    eddy_plan_free(old_plan);
    eddy_plan_free(new_plan);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    const char *topology = NULL, *input = NULL, *output = NULL, *dlq = NULL;
    struct kafka_args k = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int kafka = kafka_option(&k, argc, argv, &i, usage_run);
        if (kafka < 0) {
            kafka_args_release(&k);
            return EXIT_USAGE;
        }
        if (kafka)
            continue;
        if (strcmp(a, "--reset-store") == 0) {
            const char *store = opt_value(argc, argv, &i);
            if (!store || k.n_reset_stores == 64)
                return usage_error(usage_run, "option '%s' needs a store name", a);
            k.reset_stores[k.n_reset_stores++] = store;
            continue;
        }
        const char **slot = strcmp(a, "--input") == 0    ? &input
                            : strcmp(a, "--output") == 0 ? &output
                            : strcmp(a, "--dlq") == 0    ? &dlq
                                                         : NULL;
        if (slot) {
            if (!(*slot = opt_value(argc, argv, &i)))
                return usage_error(usage_run, "option '%s' needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return usage_error(usage_run, "unknown option '%s'", a);
        } else if (!topology) {
            topology = a;
        } else {
            return usage_error(usage_run, "unexpected argument '%s'", a);
        }
    }
    if (!topology)
        return usage_error(usage_run, "%s", "run needs a TOPOLOGY");
    struct eddy_plan *plan = load_plan(topology);
    if (!plan)
        return EXIT_USAGE;
    if (!input) {
        int rc = run_kafka(plan, &k, k.state_dir ? k.state_dir : "eddy-state", NULL, NULL);
        kafka_args_release(&k);
        eddy_plan_free(plan);
        return rc;
    }
    const char *http = k.http;
    struct eddy_file_sink *sink = NULL;
    struct eddy_ktables *tables = NULL;
    eddy_err_t err = eddy__file_sink_open(output, dlq, &sink);
    if (!err) {
        struct eddy_output out = eddy__file_sink_output(sink);
        struct eddy_task_stats stats;
        struct eddy_serve *serve = NULL;
        install_signals();
        if (http) {
            struct eddy_serve_opts so = {.listen = http, .instance = "local"};
            err = eddy__serve_start(plan, &so, &serve);
        }
        /* topic tables follow their topics only with --bootstrap */
        struct eddy_kconf tables_conf = {k.bootstrap, k.props, k.n_props};
        if (!err && k.bootstrap)
            err = eddy__ktables_start(plan, &tables_conf, &stop_requested, &tables);
        else if (!err)
            eddy__ktables_log_unread(plan);
        if (!err)
            err = eddy__engine_run_local_tables(plan, input, &out, &stop_requested, &stats, serve,
                                                tables);
        eddy__ktables_stop(tables);
        eddy__serve_stop(serve);
        eddy_err_t close_err = eddy__file_sink_close(sink);
        if (!err)
            err = close_err;
    }
    kafka_args_release(&k);
    eddy_plan_free(plan);
    if (err) {
        fprintf(stderr, "eddy: run failed: %s\n", eddy_err_message(err));
        return 1;
    }
    return 0;
}

/* `eddy backfill`: Kafka mode on version V of the topology (config/version.h)
 * with start and stop times (runtime/backfill.h). */
static int cmd_backfill(int argc, char **argv)
{
    const char *topology = NULL, *from = NULL, *to = NULL, *version_text = NULL;
    struct kafka_args k = {0};
    int rc = EXIT_USAGE;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int kafka = kafka_option(&k, argc, argv, &i, usage_backfill);
        if (kafka < 0)
            goto out;
        if (kafka)
            continue;
        const char **slot = strcmp(a, "--from") == 0      ? &from
                            : strcmp(a, "--to") == 0      ? &to
                            : strcmp(a, "--version") == 0 ? &version_text
                                                          : NULL;
        if (slot) {
            if (!(*slot = opt_value(argc, argv, &i))) {
                usage_error(usage_backfill, "option '%s' needs a value", a);
                goto out;
            }
        } else if (a[0] == '-' && a[1]) {
            usage_error(usage_backfill, "unknown option '%s'", a);
            goto out;
        } else if (!topology) {
            topology = a;
        } else {
            usage_error(usage_backfill, "unexpected argument '%s'", a);
            goto out;
        }
    }
    struct eddy_backfill_opts bf = {.to_ms = EDDY_BACKFILL_OPEN_END,
                                    .tty = isatty(STDERR_FILENO) == 1};
    long version = EDDY_VERSION_DEFAULT;
    if (!topology || !from) {
        usage_error(usage_backfill, "%s", !topology ? "backfill needs a TOPOLOGY"
                                                    : "backfill needs --from TIME");
        goto out;
    }
    const char *bad_time = !eddy__ts_parse_rfc3339(from, strlen(from), &bf.from_ms) ? from
                           : to && !eddy__ts_parse_rfc3339(to, strlen(to), &bf.to_ms) ? to
                                                                                      : NULL;
    if (bad_time) {
        usage_error(usage_backfill, "invalid time '%s' (expected RFC 3339, e.g. "
                    "2025-04-30T10:00:00Z)", bad_time);
        goto out;
    }
    if (to && bf.to_ms <= bf.from_ms) {
        usage_error(usage_backfill, "--to %s is not after --from", to);
        goto out;
    }
    if (version_text && !eddy_version_parse(version_text, &version)) {
        usage_error(usage_backfill, "invalid --version '%s' (expected 1 to 999999)",
                    version_text);
        goto out;
    }
    struct eddy_plan *plan = load_plan(topology);
    char err_text[512], *dlq_topic = NULL, *state_dir = NULL;
    if (!plan)
        goto out;
    eddy_err_t err = eddy_plan_version(plan, version, &dlq_topic, err_text, sizeof err_text);
    if (err == EDDY_ECONFIG)
        fprintf(stderr, "eddy: %s: cannot make version %ld: %s\n", topology, version, err_text);
    else if (err)
        fprintf(stderr, "eddy: backfill failed: %s\n", eddy_err_message(err));
    if (!err) {
        /* never the live instance's RocksDB, even with its --state-dir */
        const char *dir = k.state_dir ? k.state_dir : "eddy-state";
        size_t len = strlen(dir) + strlen(plan->name) + 2;
        if ((state_dir = eddy_malloc(len)))
            snprintf(state_dir, len, "%s/%s", dir, plan->name);
        rc = state_dir ? run_kafka(plan, &k, state_dir, dlq_topic, &bf) : 1;
    } else {
        rc = err == EDDY_ECONFIG ? EXIT_USAGE : 1;
    }
    eddy_free(state_dir);
    eddy_free(dlq_topic);
    eddy_plan_free(plan);
out:
    kafka_args_release(&k);
    return rc;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return s[0] && !*end && errno == 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-')
        return false;
    *out = strtoull(s, &end, 10);
    return s[0] && !*end && errno == 0;
}

static eddy_err_t write_line(void *ctx, const char *key, size_t key_len, const char *value,
                             size_t value_len)
{
    FILE *fp = ctx;
    if (fwrite(value, 1, value_len, fp) != value_len || putc('\n', fp) == EOF)
        return EDDY_EIO;
    return EDDY_OK;
}

/* `eddy gen --topic --record-time event`: each record's Kafka timestamp is
 * the generator's clock when it emitted the line, the newest event time so
 * far (a late or duplicated event keeps its older event time in the payload,
 * the way a producer stamps records when it sends them): what `eddy backfill
 * --from/--to` select on. The clock starts at --start (with --live: at the
 * first event time; before it, records get the time of sending); a line
 * without a readable event time (malformed) gets the clock as it is. Not the
 * default: the broker deletes records stamped older than the topic's
 * retention (7 days by default), and --start defaults to 2025-04-30. */
struct kafka_out {
    struct eddy_kproducer *producer;
    const char *topic;
    struct eddy_projection *time_field; /* the kind's event time (eddy_gen_kind_time) */
    enum eddy_ts_format time_format;
    char *scratch;
    size_t scratch_cap;
    int64_t clock_ms; /* 0: none yet */
};

static void advance_clock(struct kafka_out *k, const char *value, size_t value_len)
{
    struct eddy_value time_value;
    struct eddy_json_error jerr;
    int64_t ms;
    if (value_len > k->scratch_cap) {
        char *scratch = eddy_realloc(k->scratch, value_len);
        if (!scratch)
            return;
        k->scratch = scratch;
        k->scratch_cap = value_len;
    }
    if (eddy__json_project(k->time_field, value, value_len, &time_value, k->scratch, NULL,
                           &jerr) ==
            EDDY_OK &&
        eddy__ts_from_value(&time_value, k->time_format, &ms) && ms > k->clock_ms)
        k->clock_ms = ms;
}

static eddy_err_t send_record(void *ctx, const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    struct kafka_out *k = ctx;
    if (k->time_field)
        advance_clock(k, value, value_len);
    return eddy__kproducer_send_at(k->producer, k->topic, -1, key, key_len, value, value_len,
                                   k->clock_ms > 0 ? k->clock_ms : 0);
}

/* `eddy gen ... --topic T`: keyed records (gen/gen.h names each kind's key) into T. */
static int gen_to_kafka(const char *kind, const struct eddy_gen_opts *opts, const char *topic,
                        const char *bootstrap, bool event_time)
{
    struct eddy_kconf conf = {bootstrap ? bootstrap
                                        : (getenv("EDDY_BOOTSTRAP") ? getenv("EDDY_BOOTSTRAP")
                                                                    : "127.0.0.1:9092"),
                              NULL, 0};
    const char *time_path = "timestamp", *time_format = "rfc3339";
    eddy_gen_kind_time(kind, &time_path, &time_format);
    enum eddy_ts_format format = strcmp(time_format, "unix_s") == 0    ? EDDY_TS_UNIX_S
                                 : strcmp(time_format, "unix_ms") == 0 ? EDDY_TS_UNIX_MS
                                                                       : EDDY_TS_RFC3339;
    /* --record-time event: the clock starts at the first event's time (live:
     * the time of sending); send: no clock, every record gets the time of
     * sending (it used to get --start: with the default --start, 2025-04-30,
     * the broker deleted the records at its next retention check) */
    struct kafka_out out = {NULL,   topic, NULL, format, NULL, 0,
                            event_time && !opts->live ? opts->start_ms : 0};
    eddy_err_t err = event_time ? eddy__projection_new(&time_path, 1, &out.time_field) : EDDY_OK;
    if (!err)
        err = eddy__kproducer_new(&conf, NULL, &out.producer);
    if (!err) {
        install_signals();
        err = eddy_gen_run(kind, opts, send_record, &out, (volatile int *)&stop_requested);
        if (!err)
            err = eddy__kproducer_commit(out.producer, NULL, NULL); /* flush */
    }
    eddy__kproducer_free(out.producer);
    eddy__projection_free(out.time_field);
    eddy_free(out.scratch);
    if (err) {
        fprintf(stderr, "eddy: gen to topic '%s' failed: %s\n", topic, eddy_err_message(err));
        return 1;
    }
    return 0;
}

static int gen_option(struct eddy_gen_opts *o, const char *name, const char *v)
{
    uint64_t u;
    double d;
    int64_t ms;
    if (strcmp(name, "--count") == 0 && parse_u64(v, &u))
        o->count = u;
    else if (strcmp(name, "--seed") == 0 && parse_u64(v, &u))
        o->seed = u;
    else if (strcmp(name, "--users") == 0 && parse_u64(v, &u) && u > 0)
        o->users = u;
    else if (strcmp(name, "--frame-bytes") == 0 && parse_u64(v, &u))
        o->frame_bytes = (size_t)u;
    else if (strcmp(name, "--rate") == 0 && parse_double(v, &d) && d >= 0)
        o->rate = d;
    else if (strcmp(name, "--event-rate") == 0 && parse_double(v, &d) && d > 0)
        o->event_rate = d;
    else if (strcmp(name, "--late-rate") == 0 && parse_double(v, &d) && d >= 0 && d <= 1)
        o->late_rate = d;
    else if (strcmp(name, "--dup-rate") == 0 && parse_double(v, &d) && d >= 0 && d <= 1)
        o->dup_rate = d;
    else if (strcmp(name, "--malformed-rate") == 0 && parse_double(v, &d) && d >= 0 && d <= 1)
        o->malformed_rate = d;
    else if (strcmp(name, "--skew") == 0 && parse_double(v, &d) && d >= 0)
        o->skew = d;
    else if (strcmp(name, "--max-late") == 0 && eddy_duration_parse(v, &ms))
        o->max_late_ms = ms;
    else if (strcmp(name, "--start") == 0 && eddy__ts_parse_rfc3339(v, strlen(v), &ms))
        o->start_ms = ms;
    else
        return -1;
    return 0;
}

static int cmd_gen(int argc, char **argv)
{
    struct eddy_gen_opts opts;
    eddy_gen_opts_defaults(&opts);
    const char *kind = NULL, *output = NULL, *topic = NULL, *bootstrap = NULL;
    const char *record_time = "send";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--output") == 0        ? &output
                            : strcmp(a, "--topic") == 0       ? &topic
                            : strcmp(a, "--bootstrap") == 0   ? &bootstrap
                            : strcmp(a, "--record-time") == 0 ? &record_time
                                                              : NULL;
        if (strcmp(a, "--live") == 0) {
            opts.live = true;
        } else if (slot) {
            if (!(*slot = opt_value(argc, argv, &i)))
                return usage_error(usage_gen, "option '%s' needs a value", a);
        } else if (a[0] == '-' && a[1] == '-') {
            const char *v = opt_value(argc, argv, &i);
            if (!v)
                return usage_error(usage_gen, "option '%s' needs a value", a);
            if (gen_option(&opts, a, v) != 0) {
                fprintf(stderr, "eddy: gen: invalid value '%s' for option '%s'\n", v, a);
                fputs(usage_gen, stderr);
                return EXIT_USAGE;
            }
        } else if (!kind) {
            kind = a;
        } else {
            return usage_error(usage_gen, "unexpected argument '%s'", a);
        }
    }
    const char *path, *format;
    if (!kind || !eddy_gen_kind_time(kind, &path, &format))
        return usage_error(usage_gen,
                           "gen needs a KIND: service-logs, frames, ecommerce, viewing or "
                           "nexmark%s",
                           "");
    if (strcmp(record_time, "send") != 0 && strcmp(record_time, "event") != 0)
        return usage_error(usage_gen, "--record-time must be event or send, not '%s'",
                           record_time);
    if (topic)
        return gen_to_kafka(kind, &opts, topic, bootstrap, strcmp(record_time, "event") == 0);
    FILE *fp = stdout;
    if (output && strcmp(output, "-") != 0 && !(fp = fopen(output, "w"))) {
        fprintf(stderr, "eddy: cannot open '%s': %s\n", output, strerror(errno));
        return 1;
    }
    static char buffer[1 << 20];
    setvbuf(fp, buffer, opts.rate > 0 ? _IOLBF : _IOFBF, sizeof buffer);
    install_signals();
    eddy_err_t err = eddy_gen_run(kind, &opts, write_line, fp, (volatile int *)&stop_requested);
    if (fflush(fp) != 0 && !err)
        err = EDDY_EIO;
    if (fp != stdout)
        fclose(fp);
    if (err) {
        fprintf(stderr, "eddy: gen failed: %s\n", eddy_err_message(err));
        return 1;
    }
    return 0;
}

static int cmd_demo(int argc, char **argv)
{
    struct eddy_demo_opts opts = {.seconds = 0, .rate = 20000};
    const char *env = getenv("DEMO_SECONDS");
    if (env)
        opts.seconds = atoi(env);
    for (int i = 2; i < argc; i++) {
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--seconds") == 0 && v) {
            opts.seconds = atoi(v);
            i++;
        } else if (strcmp(argv[i], "--rate") == 0 && v) {
            opts.rate = atof(v);
            i++;
        } else if (strcmp(argv[i], "--http") == 0 && v) {
            opts.http = v;
            i++;
        } else {
            return usage_error(usage_demo, "unknown option '%s'", argv[i]);
        }
    }
    install_signals();
    return eddy__demo_run(&opts, &stop_requested) == EDDY_OK ? 0 : 1;
}

/* `eddy archive prune`: retention of the archive sink (sink/archive_prune.h). */
static int cmd_archive(int argc, char **argv)
{
    const char *path = NULL, *older_than = NULL;
    bool dry_run = false;
    if (argc < 3 || strcmp(argv[2], "prune") != 0)
        return usage_error(usage_archive, argc < 3 ? "archive needs a subcommand%s"
                                                   : "unknown archive subcommand '%s'",
                           argc < 3 ? "" : argv[2]);
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--dry-run") == 0) {
            dry_run = true;
        } else if (strcmp(a, "--older-than") == 0) {
            if (!(older_than = opt_value(argc, argv, &i)))
                return usage_error(usage_archive, "option '%s' needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return usage_error(usage_archive, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return usage_error(usage_archive, "unexpected argument '%s'", a);
        }
    }
    int64_t retention_ms;
    if (!path || !older_than)
        return usage_error(usage_archive, "%s", !path ? "archive prune needs a PATH"
                                                      : "archive prune needs --older-than");
    if (!eddy__archive_retention_parse(older_than, &retention_ms))
        return usage_error(usage_archive, "invalid --older-than '%s' (e.g. 90d, 13mo, 1y)",
                           older_than);
    /* partitions are days; also catches "13m" meant as months */
    if (retention_ms < 86400000)
        return usage_error(usage_archive, "--older-than '%s' is under a day (m is minutes, "
                           "mo months)", older_than);
    int64_t cutoff_ms = eddy_now_ms() - retention_ms;
    char date[32];
    eddy_time_format(eddy_floor_div(cutoff_ms, 86400000) * 86400000, date);
    *strchr(date, 'T') = '\0';
    struct eddy_archive_prune_stats st;
    eddy_err_t err = eddy__archive_prune(path, cutoff_ms, dry_run, &st);
    printf("prune: %s %llu partitions, %llu files, %llu bytes older than %s\n",
           dry_run ? "would delete" : "deleted", (unsigned long long)st.partitions,
           (unsigned long long)st.files, (unsigned long long)st.bytes, date);
    if (err) {
        fflush(stdout);
        fprintf(stderr, "eddy: archive prune failed: %s\n", eddy_err_message(err));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(usage_main, "%s", "missing COMMAND");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        char allocator[128];
        eddy_allocator(allocator, sizeof allocator);
        printf("eddy %s (allocator: %s)\n", EDDY_VERSION, allocator);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    static const struct {
        const char *name;
        const char *usage;
        int (*fn)(int, char **);
    } cmds[] = {{"run", usage_run, cmd_run},
                {"backfill", usage_backfill, cmd_backfill},
                {"gen", usage_gen, cmd_gen},
                {"validate", usage_validate, cmd_validate},
                {"diff", usage_diff, cmd_diff},
                {"demo", usage_demo, cmd_demo},
                {"archive", usage_archive, cmd_archive}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (wants_help(argc, argv)) {
            fputs(cmds[i].usage, stdout);
            return 0;
        }
        return cmds[i].fn(argc, argv);
    }
    return usage_error(usage_main, "unknown command '%s'", cmd);
}
