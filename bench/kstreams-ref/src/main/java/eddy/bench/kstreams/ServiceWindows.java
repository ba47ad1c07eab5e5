/*
 * ServiceWindows.java - the Kafka Streams reference application of
 * bench/compare-kstreams: per service (the record key, as the producers key
 * the input), per 1-minute tumbling event-time window with 2 minutes of grace,
 * requests, errors (status_code >= 500), average, p95 and p99 of latency_ms,
 * emitted once per window when it closes. The same computation as eddy's
 * bench/compare/service_1m.yaml.
 *
 *   java -cp 'target/kstreams-ref.jar:target/lib/*' eddy.bench.kstreams.ServiceWindows \
 *       --bootstrap H:P --input TOPIC --output TOPIC --application-id ID --state-dir DIR
 *
 * Plain DSL with library defaults, as a Kafka Streams user would write it:
 * exactly_once_v2 (commit interval 100 ms), one stream thread, the default
 * persistent (RocksDB) window store with its record cache, suppress
 * untilWindowCloses with an unbounded buffer. Kafka Streams closes a window
 * like eddy: when its end + grace <= the task's stream time (the largest event
 * time seen on the partition).
 *
 * Output: key = service, value = one JSON object in eddy's result layout
 *   {"aggregation":"service_1m","window":{"start":"...Z","end":"...Z"},
 *    "key":{"service":"..."},"final":true,"metrics":{"requests":N,"errors":N,
 *    "latency_avg":X,"latency_p95":X,"latency_p99":X}}
 * Doubles print as Java's shortest round-trip form.
 *
 * Stdout: one line per state change, "state NEW_STATE at EPOCH_MS" (the
 * benchmark waits for RUNNING). Exit status 1 when the streams thread dies.
 */
package eddy.bench.kstreams;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.WindowStore;

public final class ServiceWindows {
    static final Duration WINDOW = Duration.ofMinutes(1);
    static final Duration GRACE = Duration.ofMinutes(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    static Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), LogEvent.serde())
                                      .withTimestampExtractor(new LogEvent.EventTime()))
               .groupByKey(Grouped.with(Serdes.String(), LogEvent.serde()))
               .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
               .aggregate(WindowAgg::new, (service, event, agg) -> agg.add(event),
                          Materialized.<String, WindowAgg, WindowStore<Bytes, byte[]>>as("service-1m")
                                      .withKeySerde(Serdes.String())
                                      .withValueSerde(WindowAgg.serde()))
               .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded())
                                   .withName("service-1m-final"))
               .toStream()
               .map((window, agg) -> KeyValue.pair(window.key(), resultJson(window, agg)))
               .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    static String resultJson(Windowed<String> window, WindowAgg agg) {
        ObjectNode root = JSON.createObjectNode();
        root.put("aggregation", "service_1m");
        ObjectNode w = root.putObject("window");
        w.put("start", Instant.ofEpochMilli(window.window().start()).toString());
        w.put("end", Instant.ofEpochMilli(window.window().end()).toString());
        root.putObject("key").put("service", window.key());
        root.put("final", true);
        ObjectNode m = root.putObject("metrics");
        m.put("requests", agg.requests);
        m.put("errors", agg.errors);
        m.put("latency_avg", agg.latencyAvg());
        m.put("latency_p95", agg.latency.quantile(0.95));
        m.put("latency_p99", agg.latency.quantile(0.99));
        return root.toString();
    }

    private static Map<String, String> parseArgs(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--"))
                usage("unexpected argument '" + args[i] + "'");
            opts.put(args[i].substring(2), args[i + 1]);
        }
        if (args.length % 2 != 0)
            usage("option '" + args[args.length - 1] + "' needs a value");
        for (String need : new String[] {"bootstrap", "input", "output", "application-id",
                                         "state-dir"})
            if (!opts.containsKey(need))
                usage("missing --" + need);
        return opts;
    }

    private static void usage(String why) {
        System.err.println("kstreams-ref: " + why + "\nusage: ServiceWindows --bootstrap H:P"
                           + " --input TOPIC --output TOPIC --application-id ID --state-dir DIR");
        System.exit(2);
    }

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> opts = parseArgs(args);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, opts.get("application-id"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opts.get("bootstrap"));
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, opts.get("state-dir"));
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);

        KafkaStreams streams = new KafkaStreams(topology(opts.get("input"), opts.get("output")),
                                                props);
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger status = new AtomicInteger(0);
        streams.setStateListener((now, before) -> {
            System.out.println("state " + now + " at " + System.currentTimeMillis());
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)
                done.countDown();
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams-ref: stream thread failed: " + e);
            e.printStackTrace();
            status.set(1);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            done.countDown();
        }));
        streams.start();
        done.await();
        streams.close(Duration.ofSeconds(30));
        System.exit(status.get());
    }
}
