package boontadata.storm;

import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichBolt;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.Values;

import java.util.HashMap;
import java.util.Map;

/**
 * The stream time of each partition of the events topic. The spout's tuples arrive here grouped by
 * partition ({@code fieldsGrouping("partition")}), so one task sees all of a partition's tuples
 * in offset order (a spout task emits each partition's records in order, and Storm keeps the
 * order of the tuples between two tasks). For each event it forwards to the aggregation, keyed by
 * device, the watermark of its partition before it, {@code W = max time so far − --watermark-ms},
 * against which the record is judged; when {@code W} moves past the close ({@code end +
 * --lateness-ms}) of one more window, and when the partition's end-of-run marker arrives ({@code W
 * = +∞}), it tells every aggregation task ({@code allGrouping}, stream {@value #WATERMARK}), behind
 * the events it forwarded before.
 */
final class ClockBolt extends BaseRichBolt {
    private static final long serialVersionUID = 1L;
    static final String DATA = "default";
    static final String WATERMARK = "watermark";
    static final Fields DATA_FIELDS =
            new Fields(
                    "device_id", "category", "message_id", "time", "measure1", "measure2",
                    "partition", "offset", "watermark", "device_time");
    static final Fields WATERMARK_FIELDS = new Fields("partition", "watermark");
    static final long NONE = Long.MIN_VALUE;
    static final long ENDED = Long.MAX_VALUE;

    private final long windowMs;
    private final long delayMs;
    private final long latenessMs;
    private transient OutputCollector out;
    private transient Map<Integer, Long> maxTime;

    ClockBolt(long windowMs, long delayMs, long latenessMs) {
        this.windowMs = windowMs;
        this.delayMs = delayMs;
        this.latenessMs = latenessMs;
    }

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector collector) {
        this.out = collector;
        this.maxTime = new HashMap<>();
    }

    /** How many windows W has closed so far, as a number that grows with W. */
    private long closed(long w) {
        return w == NONE ? NONE : Math.floorDiv(w - latenessMs, windowMs);
    }

    @Override
    public void execute(Tuple t) {
        int p = t.getIntegerByField("partition");
        if (t.getIntegerByField("kind") == Translator.MARKER) {
            out.emit(WATERMARK, t, new Values(p, ENDED));
            out.ack(t);
            return;
        }
        long time = t.getLongByField("time");
        long before = maxTime.getOrDefault(p, NONE);
        long wBefore = before == NONE ? NONE : before - delayMs;
        out.emit(
                DATA,
                t,
                new Values(
                        t.getStringByField("device_id"),
                        t.getStringByField("category"),
                        t.getStringByField("message_id"),
                        time,
                        t.getLongByField("measure1"),
                        t.getDoubleByField("measure2"),
                        p,
                        t.getLongByField("offset"),
                        wBefore,
                        t.getLongByField("device_time")));
        if (time > before) {
            maxTime.put(p, time);
            long wAfter = time - delayMs;
            if (closed(wAfter) > closed(wBefore)) {
                out.emit(WATERMARK, t, new Values(p, wAfter));
            }
        }
        out.ack(t);
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {
        d.declareStream(DATA, DATA_FIELDS);
        d.declareStream(WATERMARK, WATERMARK_FIELDS);
    }
}
