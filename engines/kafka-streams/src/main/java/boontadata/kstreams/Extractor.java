package boontadata.kstreams;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * The record time of the events topic's source ({@code Consumed#withTimestampExtractor}): what
 * the windows are on and what moves each partition's stream time.
 *
 * <ul>
 *   <li>an event: its device time ({@code --time event}), its {@code boontadata-ingest-time}
 *       header, else the Kafka record timestamp ({@code ingestion}), or the wall clock at
 *       extraction, as {@code WallclockTimestampExtractor} ({@code processing});
 *   <li>the run's end-of-run marker: {@link #endTime}, beyond the end plus grace of any window
 *       an event can fall in (device times end at 2100-01-01, {@link WireFormat}), so that the
 *       marker, once processed, moves the partition's stream time past the close of every window
 *       of the partition;
 *   <li>anything else (another run, another control record, a poison record): the partition's
 *       time so far ({@code partitionTime}), so that it never moves stream time; 0 before the
 *       partition's first record (a negative time would make Kafka Streams drop the record with a
 *       warning, {@code RecordQueue#updateHead}).
 * </ul>
 */
final class Extractor implements TimestampExtractor {
    private final String time;
    private final long endTime;

    Extractor(String time, long endTime) {
        this.time = time;
        this.endTime = endTime;
    }

    /** The time of the end-of-run marker for windows of {@code windowMs} and this grace. */
    static long endTime(long windowMs, long graceMs) {
        return WireFormat.MAX_DEVICE_TIME + windowMs + graceMs + 1;
    }

    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        Object v = record.value();
        if (v instanceof Ev) {
            Ev e = (Ev) v;
            switch (e.kind) {
                case Ev.EVENT:
                    switch (time) {
                        case "event":
                            return e.deviceTime;
                        case "ingestion":
                            return e.ingestTime >= 0 ? e.ingestTime : Math.max(0, record.timestamp());
                        default:
                            return System.currentTimeMillis();
                    }
                case Ev.MARKER:
                    return endTime;
                default:
                    break;
            }
        }
        return partitionTime >= 0 ? partitionTime : 0;
    }
}
