/*
 * main.c - the eddy command line: run, gen, validate, demo.
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

#include "codec/timestamp.h"
#include "core/log.h"
#include "core/time.h"
#include "config/diff.h"
#include "eddy/topology.h"
#include "gen/gen.h"
#include "runtime/demo.h"
#include "serve/serve.h"
#include "runtime/engine.h"
#include "runtime/kengine.h"
#include "sink/kafka.h"
#include "sink/file.h"

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
    "  gen KIND [options]   generate events: service-logs, frames\n"
    "  validate TOPOLOGY    check a topology and print its plan\n"
    "  diff OLD NEW         what a topology upgrade keeps, rebuilds or changes\n"
    "  demo [--seconds N]   service health over generated logs, as a live table\n"
    "\n"
    "  eddy COMMAND --help  options of a command\n"
    "  eddy --version\n";

static const char usage_run[] =
    "usage: eddy run TOPOLOGY [--input PATH|-] [--output PATH|-] [--dlq PATH]\n"
    "                         [--bootstrap HOST:PORT] [--state-dir DIR] [--http ADDR:PORT]\n"
    "                         [--instance ID]\n"
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
    "  --commit-interval-ms N  Kafka mode: transaction commit interval (default 100)\n"
    "  --replication N  Kafka mode: replication factor of the topics eddy creates\n"
    "                 (default: the smaller of 3 and the number of brokers)\n"
    "  -X key=value   librdkafka property (after the topology's kafka: section)\n"
    "  --reset-store NAME  Kafka mode: rebuild store NAME (its state and changelog are\n"
    "                 emptied) when it was written by an incompatible topology; see\n"
    "                 `eddy diff`. Repeatable.\n";

static const char usage_gen[] =
    "usage: eddy gen service-logs|frames [options]\n"
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
    "  --skew Z           Zipf exponent of tenant traffic (default 0 = uniform)\n"
    "  --frame-bytes N    frames: target line size (default 2048)\n"
    "  --users N          frames: user pool (default 100000)\n"
    "  --output PATH      write to PATH instead of stdout\n"
    "  --topic T          produce to Kafka topic T instead (keyed by service, or uid)\n"
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

/* Kafka mode: `eddy run TOPOLOGY` without --input. */
static int run_kafka(struct eddy_plan *plan, const char *bootstrap, const char *state_dir,
                     const char *instance, const char *commit_ms, const char *replication,
                     struct eddy_kv *props, size_t n_props, const char *const *reset_stores,
                     size_t n_reset_stores, const char *http)
{
    char host[256];
    if (!instance) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "eddy");
        host[sizeof host - 1] = '\0';
        instance = host;
    }
    struct eddy_kengine_opts opts = {
        .bootstrap = bootstrap ? bootstrap : (getenv("EDDY_BOOTSTRAP") ? getenv("EDDY_BOOTSTRAP")
                                                                       : "127.0.0.1:9092"),
        .state_dir = state_dir ? state_dir : "eddy-state",
        .instance = instance,
        .props = props,
        .n_props = n_props,
        .commit_interval_ms = commit_ms ? atoll(commit_ms) : 100,
        .replication = replication ? atoi(replication) : -1,
        .reset_stores = reset_stores,
        .n_reset_stores = n_reset_stores,
    };
    install_signals();
    eddy_err_t err = EDDY_OK;
    if (http) {
        struct eddy_serve_opts so = {.listen = http, .instance = instance,
                                     .bootstrap = opts.bootstrap, .props = props,
                                     .n_props = n_props};
        err = eddy__serve_start(plan, &so, &opts.serve);
    }
    if (!err)
        err = eddy__kengine_run(plan, &opts, &stop_requested);
    eddy__serve_stop(opts.serve);
    if (err) {
        fprintf(stderr, "eddy: run failed: %s\n", eddy_err_message(err));
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
    const char *bootstrap = NULL, *state_dir = NULL, *instance = NULL, *http = NULL;
    const char *commit_ms = NULL, *replication = NULL;
    struct eddy_kv props[64];
    size_t n_props = 0;
    const char *reset_stores[64];
    size_t n_reset_stores = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--reset-store") == 0) {
            const char *store = opt_value(argc, argv, &i);
            if (!store || n_reset_stores == 64)
                return usage_error(usage_run, "option '%s' needs a store name", a);
            reset_stores[n_reset_stores++] = store;
            continue;
        }
        const char **slot = strcmp(a, "--input") == 0          ? &input
                            : strcmp(a, "--output") == 0       ? &output
                            : strcmp(a, "--dlq") == 0          ? &dlq
                            : strcmp(a, "--bootstrap") == 0    ? &bootstrap
                            : strcmp(a, "--state-dir") == 0    ? &state_dir
                            : strcmp(a, "--instance") == 0     ? &instance
                            : strcmp(a, "--http") == 0         ? &http
                            : strcmp(a, "--commit-interval-ms") == 0 ? &commit_ms
                            : strcmp(a, "--replication") == 0  ? &replication
                            : NULL;
        if (strcmp(a, "-X") == 0) {
            const char *kv = opt_value(argc, argv, &i);
            char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq || eq == kv || n_props == 64)
                return usage_error(usage_run, "-X needs key=value, got '%s'", kv ? kv : "");
            props[n_props].key = strndup(kv, (size_t)(eq - kv));
            props[n_props++].value = eq + 1;
            continue;
        }
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
        int rc = run_kafka(plan, bootstrap, state_dir, instance, commit_ms, replication, props,
                           n_props, reset_stores, n_reset_stores, http);
        for (size_t i = 0; i < n_props; i++)
            free(props[i].key);
        eddy_plan_free(plan);
        return rc;
    }
    struct eddy_file_sink *sink = NULL;
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
        if (!err)
            err = eddy__engine_run_local(plan, input, &out, &stop_requested, &stats, serve);
        eddy__serve_stop(serve);
        eddy_err_t close_err = eddy__file_sink_close(sink);
        if (!err)
            err = close_err;
    }
    eddy_plan_free(plan);
    if (err) {
        fprintf(stderr, "eddy: run failed: %s\n", eddy_err_message(err));
        return 1;
    }
    return 0;
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

struct kafka_out {
    struct eddy_kproducer *producer;
    const char *topic;
};

static eddy_err_t send_record(void *ctx, const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    struct kafka_out *k = ctx;
    return eddy__kproducer_send(k->producer, k->topic, -1, key, key_len, value, value_len);
}

/* `eddy gen ... --topic T`: keyed records (service, or uid for frames) into T. */
static int gen_to_kafka(const char *kind, const struct eddy_gen_opts *opts, const char *topic,
                        const char *bootstrap)
{
    struct eddy_kconf conf = {bootstrap ? bootstrap
                                        : (getenv("EDDY_BOOTSTRAP") ? getenv("EDDY_BOOTSTRAP")
                                                                    : "127.0.0.1:9092"),
                              NULL, 0};
    struct kafka_out out = {NULL, topic};
    eddy_err_t err = eddy__kproducer_new(&conf, NULL, &out.producer);
    if (!err) {
        install_signals();
        err = eddy_gen_run(kind, opts, send_record, &out, (volatile int *)&stop_requested);
        if (!err)
            err = eddy__kproducer_commit(out.producer, NULL, NULL); /* flush */
    }
    eddy__kproducer_free(out.producer);
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
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--output") == 0      ? &output
                            : strcmp(a, "--topic") == 0     ? &topic
                            : strcmp(a, "--bootstrap") == 0 ? &bootstrap
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
    if (!kind || (strcmp(kind, "service-logs") != 0 && strcmp(kind, "frames") != 0))
        return usage_error(usage_gen, "gen needs a KIND: service-logs or frames%s", "");
    if (topic)
        return gen_to_kafka(kind, &opts, topic, bootstrap);
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(usage_main, "%s", "missing COMMAND");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("eddy %s\n", EDDY_VERSION);
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
                {"gen", usage_gen, cmd_gen},
                {"validate", usage_validate, cmd_validate},
                {"diff", usage_diff, cmd_diff},
                {"demo", usage_demo, cmd_demo}};
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
