package boontadata.flink;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns the records of the events topic into {@link Ev} elements (docs/engines.md, "What an
 * engine reads"):
 *
 * <ul>
 *   <li>a record of another run ({@code boontadata-run-id}) is skipped;
 *   <li>a control record ({@code boontadata-control}) is never an event: the end-of-run marker of
 *       the job's run becomes a {@link Ev#MARKER} element, which the watermark generator turns
 *       into the end of that partition's event time ({@link EndOfInputWatermarks}) and which
 *       {@link Splitter} takes out of the stream before the windows; any other control record is
 *       skipped;
 *   <li>a value that does not parse becomes a {@link Ev#POISON} element, counted by the end-of-run
 *       operator and never fatal; the first ones of each subtask are logged with their reason.
 * </ul>
 *
 * <p>The Kafka source of flink-connector-kafka never ends a split on a record (it does not call
 * {@code DeserializationSchema#isEndOfStream}); the marker therefore travels as an element.
 */
final class EventDeserializer implements KafkaRecordDeserializationSchema<Ev> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EventDeserializer.class);
    private static final int LOGGED_POISON = 10;

    static final String HEADER_RUN_ID = "boontadata-run-id";
    static final String HEADER_CONTROL = "boontadata-control";
    static final String HEADER_INGEST_TIME = "boontadata-ingest-time";
    static final String CONTROL_END_OF_RUN = "end-of-run";

    private final byte[] runId;
    private transient long poison;

    EventDeserializer(String runId) {
        this.runId = runId.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        poison = 0;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Ev> out) {
        Headers headers = record.headers();
        Header run = headers.lastHeader(HEADER_RUN_ID);
        if (run == null || !Arrays.equals(run.value(), runId)) {
            return; // another run, or no run at all
        }
        long ingest = ingestTime(headers, record.timestamp());
        Header control = headers.lastHeader(HEADER_CONTROL);
        if (control != null) {
            if (Arrays.equals(
                    control.value(), CONTROL_END_OF_RUN.getBytes(StandardCharsets.UTF_8))) {
                out.collect(Ev.marker(record.partition(), ingest));
            }
            return;
        }
        Ev e = new Ev();
        try {
            WireFormat.parse(record.value(), e);
        } catch (WireFormat.ParseException ex) {
            poison++;
            if (poison <= LOGGED_POISON) {
                LOG.warn(
                        "skipping a poison record at {}-{} offset {}: {}{}",
                        record.topic(),
                        record.partition(),
                        record.offset(),
                        ex.getMessage(),
                        poison == LOGGED_POISON ? " (further ones are counted, not logged)" : "");
            }
            out.collect(Ev.poison(record.partition(), ingest));
            return;
        }
        e.kind = Ev.EVENT;
        e.partition = record.partition();
        e.offset = record.offset();
        e.ingestTime = ingest;
        out.collect(e);
    }

    private static long ingestTime(Headers headers, long recordTimestamp) {
        Header h = headers.lastHeader(HEADER_INGEST_TIME);
        if (h != null && h.value() != null && h.value().length > 0 && h.value().length < 20) {
            long v = 0;
            for (byte c : h.value()) {
                if (c < '0' || c > '9') {
                    return recordTimestamp;
                }
                v = v * 10 + (c - '0');
            }
            return v;
        }
        return recordTimestamp;
    }

    @Override
    public TypeInformation<Ev> getProducedType() {
        return TypeInformation.of(Ev.class);
    }
}
