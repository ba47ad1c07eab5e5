/*
 * LogEvent.java - the fields of a service-log line that the aggregation uses
 * (eddy's topology declares the same four; other fields are skipped), its
 * Kafka deserializer (Jackson databind) and the event-time extractor.
 *
 * The event time is the JSON field "timestamp", RFC 3339 with an offset or Z
 * and an optional fraction (milliseconds kept, as eddy does). A record that is
 * not such a JSON object fails deserialization; Kafka Streams' default
 * handler then stops the application (the benchmark's input has no malformed
 * records, so there is nothing to skip, and silently skipping would hide a
 * difference from eddy).
 */
package eddy.bench.kstreams;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.processor.TimestampExtractor;

@JsonIgnoreProperties(ignoreUnknown = true)
final class LogEvent {
    @JsonProperty("service")
    public String service;
    @JsonProperty("timestamp")
    public String timestamp;
    @JsonProperty("status_code")
    public Integer statusCode;
    @JsonProperty("latency_ms")
    public Double latencyMs;

    /* epoch milliseconds of timestamp, set by the deserializer */
    long eventTime;

    private static final ObjectReader READER = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .readerFor(LogEvent.class);

    static LogEvent parse(byte[] json) {
        try {
            LogEvent e = READER.readValue(json);
            if (e.service == null || e.timestamp == null || e.statusCode == null
                || e.latencyMs == null)
                throw new SerializationException("service-log line without service, timestamp,"
                                                 + " status_code or latency_ms");
            e.eventTime = OffsetDateTime.parse(e.timestamp, DateTimeFormatter.ISO_OFFSET_DATE_TIME)
                    .toInstant().toEpochMilli();
            return e;
        } catch (IOException | DateTimeParseException ex) {
            throw new SerializationException("cannot parse service-log line: " + ex.getMessage(), ex);
        }
    }

    static final class JsonDeserializer implements Deserializer<LogEvent> {
        @Override
        public LogEvent deserialize(String topic, byte[] data) {
            return data == null ? null : parse(data);
        }
    }

    /* Events are only read, never written. */
    static Serde<LogEvent> serde() {
        Serializer<LogEvent> none = (topic, e) -> {
            throw new UnsupportedOperationException("LogEvent is never serialized");
        };
        return Serdes.serdeFrom(none, new JsonDeserializer());
    }

    /* Event time from the deserialized value (Kafka Streams deserializes
     * before it extracts the timestamp). */
    static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            if (!(record.value() instanceof LogEvent))
                throw new SerializationException("record without a service-log value at "
                                                 + record.topic() + "-" + record.partition()
                                                 + "@" + record.offset());
            return ((LogEvent) record.value()).eventTime;
        }
    }
}
