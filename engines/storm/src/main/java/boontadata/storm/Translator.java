package boontadata.storm;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.storm.kafka.spout.RecordTranslator;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Values;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The Kafka spout's {@link RecordTranslator} (docs/engines.md, "What an engine reads"): an event of
 * the job's run becomes a tuple {@code (kind, partition, offset, message_id, device_id, category,
 * time, measure1, measure2)}, the run's end-of-run marker a tuple of kind {@link #MARKER}; a record
 * of another run, any other control record and a poison record (a value that does not parse,
 * counted and logged) become {@code null}, which the spout acks at once without emitting it
 * ({@code KafkaSpout#emitOrRetryTuple}), so their offsets are committed.
 */
final class Translator implements RecordTranslator<byte[], byte[]> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(Translator.class);
    static final int EVENT = 0;
    static final int MARKER = 1;
    static final Fields FIELDS =
            new Fields(
                    "kind", "partition", "offset", "message_id", "device_id", "category", "time",
                    "measure1", "measure2", "device_time");
    private static final byte[] END_OF_RUN = "end-of-run".getBytes(StandardCharsets.UTF_8);
    private static final int LOGGED = 10;

    private final byte[] runId;
    private final boolean ingestion;

    Translator(String runId, boolean ingestion) {
        this.runId = runId.getBytes(StandardCharsets.UTF_8);
        this.ingestion = ingestion;
    }

    @Override
    public List<Object> apply(ConsumerRecord<byte[], byte[]> r) {
        Headers headers = r.headers();
        Header run = headers.lastHeader("boontadata-run-id");
        if (run == null || !Arrays.equals(run.value(), runId)) {
            return null;
        }
        Header control = headers.lastHeader("boontadata-control");
        if (control != null) {
            if (!Arrays.equals(control.value(), END_OF_RUN)) {
                return null;
            }
            Stats.MARKERS.incrementAndGet();
            LOG.info("end-of-run marker at {}-{} offset {}", r.topic(), r.partition(), r.offset());
            return new Values(MARKER, r.partition(), r.offset(), null, null, null, 0L, 0L, 0.0, 0L);
        }
        WireFormat.Event e = new WireFormat.Event();
        try {
            WireFormat.parse(r.value(), e);
        } catch (WireFormat.ParseException ex) {
            long n = Stats.POISON.incrementAndGet();
            if (n <= LOGGED) {
                LOG.warn(
                        "skipping a poison record at {}-{} offset {}: {}{}",
                        r.topic(),
                        r.partition(),
                        r.offset(),
                        ex.getMessage(),
                        n == LOGGED ? " (further ones are counted, not logged)" : "");
            }
            return null;
        }
        Stats.EVENTS.incrementAndGet();
        long time = e.deviceTime;
        if (ingestion) {
            long h = ingestTime(headers);
            time = h >= 0 ? h : r.timestamp();
        }
        return new Values(
                EVENT, r.partition(), r.offset(), e.messageId, e.deviceId, e.category, time,
                e.measure1, e.measure2, e.deviceTime);
    }

    private static long ingestTime(Headers headers) {
        Header h = headers.lastHeader("boontadata-ingest-time");
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

    @Override
    public Fields getFieldsFor(String stream) {
        return FIELDS;
    }
}
