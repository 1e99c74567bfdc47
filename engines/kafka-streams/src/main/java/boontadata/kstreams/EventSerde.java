package boontadata.kstreams;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The key and value deserializers of the events topic's source (docs/engines.md, "What an engine
 * reads"). Kafka Streams calls them with the record's headers ({@code SourceNode#deserializeKey},
 * {@code #deserializeValue}), so the run filter and the control records are decided here, once
 * per record, before the timestamp extractor and the topology see it:
 *
 * <ul>
 *   <li>value: a record of another run, and any control record other than the run's end-of-run
 *       marker, becomes {@link Ev#SKIPPED}; the marker becomes {@link Ev#MARKER}; a value that
 *       does not parse becomes {@link Ev#POISON} (never an exception: no deserialization handler
 *       is involved); an event is parsed with the platform's rules ({@link WireFormat}).
 *   <li>key: the device id; the marker (written with no key) gets {@link #MARKER_KEY}, which no
 *       device id can equal (a device id has no control character), so that it reaches the
 *       windowed aggregation (which skips null keys) and can be filtered from its output; any
 *       other record without a key gets the empty string.
 * </ul>
 *
 * <p>Neither changes the key that Kafka partitioned the record by, so the topology needs no
 * repartition: a device's records stay in the task of their partition.
 */
final class EventSerde {
    static final String HEADER_RUN_ID = "boontadata-run-id";
    static final String HEADER_CONTROL = "boontadata-control";
    static final String HEADER_INGEST_TIME = "boontadata-ingest-time";
    static final byte[] END_OF_RUN = "end-of-run".getBytes(StandardCharsets.UTF_8);
    static final String MARKER_KEY = "\u0000end-of-run";

    private EventSerde() {}

    /** What a record is for the job's run: kind only, from the headers. */
    static byte classify(Headers headers, byte[] runId) {
        Header run = headers.lastHeader(HEADER_RUN_ID);
        if (run == null || !Arrays.equals(run.value(), runId)) {
            return Ev.SKIP;
        }
        Header control = headers.lastHeader(HEADER_CONTROL);
        if (control != null) {
            return Arrays.equals(control.value(), END_OF_RUN) ? Ev.MARKER : Ev.SKIP;
        }
        return Ev.EVENT;
    }

    static long ingestTime(Headers headers) {
        Header h = headers.lastHeader(HEADER_INGEST_TIME);
        if (h == null || h.value() == null || h.value().length == 0 || h.value().length > 18) {
            return -1;
        }
        long v = 0;
        for (byte c : h.value()) {
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    static final class KeyDeserializer implements Deserializer<String> {
        private final byte[] runId;

        KeyDeserializer(String runId) {
            this.runId = runId.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String deserialize(String topic, byte[] data) {
            return data == null ? "" : new String(data, StandardCharsets.UTF_8);
        }

        @Override
        public String deserialize(String topic, Headers headers, byte[] data) {
            if (data == null) {
                return classify(headers, runId) == Ev.MARKER ? MARKER_KEY : "";
            }
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    static final class ValueDeserializer implements Deserializer<Ev> {
        private final byte[] runId;

        ValueDeserializer(String runId) {
            this.runId = runId.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public Ev deserialize(String topic, byte[] data) {
            return Ev.SKIPPED; // no headers: no run id
        }

        @Override
        public Ev deserialize(String topic, Headers headers, byte[] data) {
            byte kind = classify(headers, runId);
            if (kind == Ev.SKIP) {
                return Ev.SKIPPED;
            }
            long ingest = ingestTime(headers);
            if (kind == Ev.MARKER) {
                Ev m = Ev.of(Ev.MARKER);
                m.ingestTime = ingest;
                return m;
            }
            Ev e = new Ev();
            try {
                WireFormat.parse(data, e);
            } catch (WireFormat.ParseException ex) {
                Ev p = Ev.of(Ev.POISON);
                p.problem = ex.getMessage();
                p.ingestTime = ingest;
                return p;
            }
            e.kind = Ev.EVENT;
            e.ingestTime = ingest;
            return e;
        }
    }

    /** Serializer side of the source's serdes: the job never writes an {@link Ev}. */
    static final class NoSerializer<T> implements Serializer<T> {
        @Override
        public byte[] serialize(String topic, T data) {
            throw new UnsupportedOperationException(
                    "the topology never writes this type to Kafka (no repartition, no changelog of"
                            + " it)");
        }
    }

    static Serde<String> keySerde(String runId) {
        return org.apache.kafka.common.serialization.Serdes.serdeFrom(
                new NoSerializer<>(), new KeyDeserializer(runId));
    }

    static Serde<Ev> valueSerde(String runId) {
        return org.apache.kafka.common.serialization.Serdes.serdeFrom(
                new NoSerializer<>(), new ValueDeserializer(runId));
    }
}
