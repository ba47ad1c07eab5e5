/*
 * WindowAgg.java - the aggregate of one service in one window: requests,
 * errors (status_code >= 500), the latency sum for the average and a DDSketch
 * of latency_ms for p95/p99. Its serde is the value format of the window
 * store, its changelog and the suppression buffer: uvarint requests, uvarint
 * errors, f64 latency sum, then the sketch (DDSketch.encode).
 */
package eddy.bench.kstreams;

import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

final class WindowAgg {
    long requests;
    long errors;
    double latencySum;
    DDSketch latency = new DDSketch();

    WindowAgg add(LogEvent e) {
        requests++;
        if (e.statusCode >= 500)
            errors++;
        latencySum += e.latencyMs;
        latency.add(e.latencyMs);
        return this;
    }

    double latencyAvg() {
        return requests == 0 ? Double.NaN : latencySum / (double) requests;
    }

    byte[] encode() {
        Buf out = new Buf(64 + 2 * latency.bins());
        out.uvarint(requests);
        out.uvarint(errors);
        out.f64(latencySum);
        latency.encode(out);
        return out.toArray();
    }

    static WindowAgg decode(byte[] data) {
        Buf in = Buf.reader(data);
        WindowAgg a = new WindowAgg();
        a.requests = in.getUvarint();
        a.errors = in.getUvarint();
        a.latencySum = in.getF64();
        a.latency = DDSketch.decode(in);
        return a;
    }

    static Serde<WindowAgg> serde() {
        Serializer<WindowAgg> ser = (topic, a) -> a == null ? null : a.encode();
        Deserializer<WindowAgg> de = (topic, data) -> data == null ? null : decode(data);
        return Serdes.serdeFrom(ser, de);
    }
}
