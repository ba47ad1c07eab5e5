/*
 * Tool.java - the Kafka helpers of bench/compare-kstreams that kcat cannot do
 * (plain Kafka Java clients; neither engine is involved):
 *
 *   create-topics --bootstrap H:P --partitions N [--log-append-time] TOPIC...
 *       creates the topics (replication 1); with --log-append-time the broker
 *       stamps every record with its append time (message.timestamp.type).
 *   wait-caught-up --bootstrap H:P --group G --topic T [--timeout-s S]
 *       takes the end offsets of T's partitions once, then polls G's committed
 *       offsets every 50 ms until each partition's committed offset reaches
 *       its end; prints "caught_up_ms=EPOCH_MS" (the first poll that saw it).
 *       Exit 1 on timeout (default 1800 s). Lag goes to stderr every 10 s.
 *   consume --bootstrap H:P --topic T --out FILE
 *       read_committed reader of every partition of T from the beginning, no
 *       group; writes "RECEIVE_MS<TAB>PARTITION<TAB>OFFSET<TAB>VALUE" per
 *       record to FILE (flushed after each poll; fetch.max.wait.ms = 20, so
 *       a result is seen within about 20 ms of its commit); prints "ready"
 *       once positioned. Runs until SIGTERM.
 */
package eddy.bench.kstreams;

import java.io.BufferedWriter;
import java.io.FileWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class Tool {
    private static String bootstrap;

    public static void main(String[] args) throws Exception {
        if (args.length < 1)
            die("usage: Tool create-topics|wait-caught-up|consume OPTIONS");
        Map<String, String> opts = new HashMap<>();
        List<String> rest = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--log-append-time"))
                opts.put("log-append-time", "true");
            else if (args[i].startsWith("--") && i + 1 < args.length)
                opts.put(args[i].substring(2), args[++i]);
            else
                rest.add(args[i]);
        }
        bootstrap = need(opts, "bootstrap");
        switch (args[0]) {
        case "create-topics":
            createTopics(Integer.parseInt(need(opts, "partitions")),
                         opts.containsKey("log-append-time"), rest);
            break;
        case "wait-caught-up":
            System.exit(waitCaughtUp(need(opts, "group"), need(opts, "topic"),
                                     Long.parseLong(opts.getOrDefault("timeout-s", "1800"))));
            break;
        case "consume":
            consume(need(opts, "topic"), need(opts, "out"));
            break;
        default:
            die("unknown command '" + args[0] + "'");
        }
    }

    private static void die(String why) {
        System.err.println("kstreams-ref tool: " + why);
        System.exit(2);
    }

    private static String need(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null)
            die("missing --" + key);
        return v;
    }

    private static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(p);
    }

    private static void createTopics(int partitions, boolean logAppendTime, List<String> names)
            throws ExecutionException, InterruptedException {
        List<NewTopic> topics = new ArrayList<>();
        for (String name : names) {
            NewTopic t = new NewTopic(name, partitions, (short) 1);
            if (logAppendTime)
                t.configs(Map.of("message.timestamp.type", "LogAppendTime"));
            topics.add(t);
        }
        try (Admin admin = admin()) {
            admin.createTopics(topics).all().get();
        }
    }

    private static int waitCaughtUp(String group, String topic, long timeoutS)
            throws ExecutionException, InterruptedException {
        try (Admin admin = admin()) {
            int n = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic)
                         .partitions().size();
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < n; p++)
                latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            Map<TopicPartition, Long> end = new HashMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, info) -> end.put(tp, info.offset()));
            long deadline = System.currentTimeMillis() + timeoutS * 1000;
            long nextReport = System.currentTimeMillis() + 10_000;
            while (System.currentTimeMillis() < deadline) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                long now = System.currentTimeMillis();
                long lag = 0;
                for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
                    OffsetAndMetadata c = committed.get(e.getKey());
                    lag += Math.max(0, e.getValue() - (c == null ? 0 : c.offset()));
                }
                if (lag == 0) {
                    System.out.println("caught_up_ms=" + now);
                    return 0;
                }
                if (now >= nextReport) {
                    System.err.println("wait-caught-up: group " + group + " lag " + lag);
                    nextReport = now + 10_000;
                }
                Thread.sleep(50);
            }
            System.err.println("wait-caught-up: group " + group + " not caught up in " + timeoutS
                               + " s");
            return 1;
        }
    }

    private static void consume(String topic, String out) throws IOException {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 20);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
             BufferedWriter w = new BufferedWriter(new FileWriter(out, StandardCharsets.UTF_8))) {
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                consumer.wakeup();
                try {
                    main.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic))
                parts.add(new TopicPartition(topic, info.partition()));
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            for (TopicPartition tp : parts)
                consumer.position(tp);
            System.out.println("ready");
            System.out.flush();
            try {
                for (;;) {
                    ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                    long now = System.currentTimeMillis();
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        w.write(now + "\t" + r.partition() + "\t" + r.offset() + "\t"
                                + new String(r.value(), StandardCharsets.UTF_8) + "\n");
                    }
                    w.flush();
                }
            } catch (WakeupException stop) {
                w.flush();
            }
        }
    }
}
