package boontadata.kstreams;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The first processor, one instance per task (per partition of the events topic): keeps the
 * events of the job's run and its end-of-run marker, counts and logs poison records, and, with
 * {@code --dedup watermark}, drops the copies of a message id still remembered.
 *
 * <p>It judges each event against the partition's watermark before it, {@code W = max record
 * time so far − --watermark-ms}, as the windowed aggregation after it does with its grace
 * ({@code KStreamWindowAggregate}: a record is dropped when {@code window end ≤ stream time −
 * grace}, grace = {@code --watermark-ms + --lateness-ms}, i.e. {@code end + lateness ≤ W}):
 *
 * <ul>
 *   <li>a late event is counted, forwarded unchanged (the aggregation drops it: the decision is
 *       Kafka Streams' own), and its id is not remembered;
 *   <li>a duplicate (dedup on) is an event whose message id is remembered with an expiry above
 *       {@code W}: it is dropped and counted. An id is remembered until {@code W} reaches both its
 *       time + {@code --dedup-horizon-ms} and its window's end + {@code --lateness-ms}, rounded
 *       up to the window size: the "until watermark" dedup of docs/engine.md, as the project's
 *       engine computes it ({@code pkg/engine}, {@code roundExpiry}).
 * </ul>
 *
 * <p>Remembered ids live in two key-value stores of the task: id → expiry, and (expiry, id) for
 * the purge, a stream-time punctuation every window that deletes the entries whose expiry is at
 * or below {@code W}.
 */
final class Decode implements FixedKeyProcessor<String, Ev, Ev> {
    private static final Logger LOG = LoggerFactory.getLogger(Decode.class);
    static final String IDS_STORE = "dedup-ids";
    static final String EXPIRY_STORE = "dedup-expiry";
    private static final int LOGGED = 10;
    private static final long NONE = Long.MIN_VALUE;
    private static final byte[] EMPTY = new byte[0];

    private final long windowMs;
    private final long delayMs;
    private final long latenessMs;
    private final boolean dedup;
    private final long horizonMs;

    private FixedKeyProcessorContext<String, Ev> ctx;
    private KeyValueStore<String, Long> ids;
    private KeyValueStore<Bytes, byte[]> expiries;
    private long maxTime = NONE;
    private long poison;
    private long late;

    Decode(long windowMs, long delayMs, long latenessMs, boolean dedup, long horizonMs) {
        this.windowMs = windowMs;
        this.delayMs = delayMs;
        this.latenessMs = latenessMs;
        this.dedup = dedup;
        this.horizonMs = horizonMs;
    }

    @Override
    public void init(FixedKeyProcessorContext<String, Ev> context) {
        this.ctx = context;
        if (dedup) {
            ids = context.getStateStore(IDS_STORE);
            expiries = context.getStateStore(EXPIRY_STORE);
            context.schedule(Duration.ofMillis(windowMs), PunctuationType.STREAM_TIME, t -> purge());
        }
    }

    private long watermark() {
        return maxTime == NONE ? NONE : maxTime - delayMs;
    }

    @Override
    public void process(FixedKeyRecord<String, Ev> record) {
        Ev e = record.value();
        switch (e.kind) {
            case Ev.EVENT:
                break;
            case Ev.MARKER:
                Stats.MARKERS.incrementAndGet();
                LOG.info("end-of-run marker at {}", where());
                ctx.forward(record);
                return;
            case Ev.POISON:
                Stats.POISON.incrementAndGet();
                if (++poison <= LOGGED) {
                    LOG.warn(
                            "skipping a poison record at {}: {}{}",
                            where(),
                            e.problem,
                            poison == LOGGED ? " (further ones of this task are counted, not logged)" : "");
                }
                return;
            default:
                return;
        }
        Stats.EVENTS.incrementAndGet();
        long ts = record.timestamp();
        long w = watermark();
        long end = Math.floorDiv(ts, windowMs) * windowMs + windowMs;
        if (w != NONE && end + latenessMs <= w) {
            Stats.LATE.incrementAndGet();
            if (++late <= LOGGED) {
                LOG.info(
                        "late event {} at {}: time {}, window end {} + lateness {} <= watermark {}"
                                + " (stream time {} - {}); the windowed aggregation drops it{}",
                        e.messageId,
                        where(),
                        ts,
                        end,
                        latenessMs,
                        w,
                        maxTime,
                        delayMs,
                        late == LOGGED ? " (further ones of this task are counted, not logged)" : "");
            }
            ctx.forward(record);
            return;
        }
        if (dedup) {
            Long known = ids.get(e.messageId);
            if (known != null && (w == NONE || known > w)) {
                Stats.DUPLICATES.incrementAndGet();
                return;
            }
            long expiry = Math.max(ts + horizonMs, end + latenessMs);
            expiry = -Math.floorDiv(-expiry, windowMs) * windowMs;
            ids.put(e.messageId, expiry);
            expiries.put(expiryKey(expiry, e.messageId), EMPTY);
        }
        if (ts > maxTime) {
            maxTime = ts;
        }
        ctx.forward(record);
    }

    private String where() {
        RecordMetadata m = ctx.recordMetadata().orElse(null);
        return m == null ? "?" : m.topic() + "-" + m.partition() + " offset " + m.offset();
    }

    private static Bytes expiryKey(long expiry, String id) {
        byte[] b = id.getBytes(StandardCharsets.UTF_8);
        return Bytes.wrap(ByteBuffer.allocate(8 + b.length).putLong(expiry).put(b).array());
    }

    /** Forgets the ids whose expiry is at or below the watermark. */
    private void purge() {
        long w = watermark();
        if (w == NONE || w < 0) {
            return;
        }
        Bytes from = Bytes.wrap(new byte[8]);
        Bytes to = Bytes.wrap(ByteBuffer.allocate(8).putLong(w + 1).array());
        List<Bytes> gone = new ArrayList<>();
        try (KeyValueIterator<Bytes, byte[]> it = expiries.range(from, to)) {
            while (it.hasNext()) {
                KeyValue<Bytes, byte[]> kv = it.next();
                if (kv.key.get().length > 8) {
                    gone.add(kv.key);
                }
            }
        }
        for (Bytes k : gone) {
            ByteBuffer b = ByteBuffer.wrap(k.get());
            long expiry = b.getLong();
            String id = new String(k.get(), 8, k.get().length - 8, StandardCharsets.UTF_8);
            Long current = ids.get(id);
            if (current != null && current == expiry) {
                ids.delete(id);
            }
            expiries.delete(k);
        }
    }
}
