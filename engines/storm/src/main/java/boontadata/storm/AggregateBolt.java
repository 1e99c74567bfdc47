package boontadata.storm;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.storm.Config;
import org.apache.storm.Constants;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichBolt;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.Values;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A counter per (device, category, tumbling window), updated tuple by tuple: the tuples come
 * grouped by device ({@code fieldsGrouping("device_id")}), so all of a device's tuples meet in
 * one task.
 *
 * <ul>
 *   <li>A tuple whose window closed ({@code end + --lateness-ms ≤ W}, W its partition's watermark
 *       before it, from {@link ClockBolt}) is dropped as late: counted, written as a {@code late}
 *       line, and acked once Kafka has the line.
 *   <li>Any other tuple updates its counter; with {@code --output update} the counter's new value
 *       is written at once as a result line ({@code FINAL} 0, {@code REVISION} = count), and the
 *       tuple is acked once Kafka acknowledged that line (the producer's callback hands it back
 *       to the executor thread, which acks it); with {@code append} it is acked at once.
 *   <li>A watermark of a partition from {@link ClockBolt} closes that partition's windows with
 *       {@code end + lateness ≤ W}: each counter is written once more with {@code FINAL} 1 and
 *       forgotten. The end-of-run marker's watermark (+∞) closes all of them; the task then flushes
 *       its producer and reports the partition done to {@link EndBolt}.
 * </ul>
 *
 * <p>Result lines go to the results topic through a Kafka producer of the task (acks=all), key =
 * device id.
 */
final class AggregateBolt extends BaseRichBolt {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AggregateBolt.class);
    static final String DONE = "done";
    private static final int LOGGED = 10;

    private final String jobId;
    private final String runId;
    private final String brokers;
    private final String resultsTopic;
    private final long windowMs;
    private final long latenessMs;
    private final boolean update;

    private transient OutputCollector out;
    private transient KafkaProducer<String, String> producer;
    private transient ConcurrentLinkedQueue<Tuple> sent;
    private transient ConcurrentLinkedQueue<Tuple> failed;
    /** Per partition: window end → (device|category → counter). */
    private transient Map<Integer, TreeMap<Long, Map<String, Cell>>> open;
    private transient Map<Integer, Long> watermark;
    private transient int taskId;
    private transient long late;
    private transient StringBuilder sb;

    private static final class Cell {
        final String deviceId;
        final String category;
        long sum1;
        double sum2;
        long count;

        Cell(String deviceId, String category) {
            this.deviceId = deviceId;
            this.category = category;
        }
    }

    AggregateBolt(
            String jobId,
            String runId,
            String brokers,
            String resultsTopic,
            long windowMs,
            long latenessMs,
            boolean update) {
        this.jobId = jobId;
        this.runId = runId;
        this.brokers = brokers;
        this.resultsTopic = resultsTopic;
        this.windowMs = windowMs;
        this.latenessMs = latenessMs;
        this.update = update;
    }

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector collector) {
        this.out = collector;
        this.taskId = context.getThisTaskId();
        this.sent = new ConcurrentLinkedQueue<>();
        this.failed = new ConcurrentLinkedQueue<>();
        this.open = new HashMap<>();
        this.watermark = new HashMap<>();
        this.sb = new StringBuilder(160);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-storm-" + jobId + "-" + taskId);
        producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    @Override
    public Map<String, Object> getComponentConfiguration() {
        Map<String, Object> c = new HashMap<>();
        c.put(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, 1); // acks of sent lines when no tuple comes
        return c;
    }

    private void settle() {
        Tuple t;
        while ((t = sent.poll()) != null) {
            out.ack(t);
        }
        while ((t = failed.poll()) != null) {
            out.fail(t); // the spout replays it: at least once
        }
    }

    @Override
    public void execute(Tuple t) {
        settle();
        if (Constants.SYSTEM_COMPONENT_ID.equals(t.getSourceComponent())
                && Constants.SYSTEM_TICK_STREAM_ID.equals(t.getSourceStreamId())) {
            return;
        }
        if (ClockBolt.WATERMARK.equals(t.getSourceStreamId())) {
            advance(t.getIntegerByField("partition"), t.getLongByField("watermark"));
            out.ack(t);
            return;
        }
        int p = t.getIntegerByField("partition");
        long time = t.getLongByField("time");
        long w = t.getLongByField("watermark");
        long end = Math.floorDiv(time, windowMs) * windowMs + windowMs;
        if (w != ClockBolt.NONE && end + latenessMs <= w) {
            Stats.LATE.incrementAndGet();
            if (++late <= LOGGED) {
                LOG.info(
                        "late event {} at partition {} offset {}: time {}, window end {} + lateness"
                                + " {} <= watermark {}; dropped{}",
                        t.getStringByField("message_id"),
                        p,
                        t.getLongByField("offset"),
                        time,
                        end,
                        latenessMs,
                        w,
                        late == LOGGED ? " (further ones of this task are counted, not logged)" : "");
            }
            sendLate(t, end, time);
            return;
        }
        String device = t.getStringByField("device_id");
        String category = t.getStringByField("category");
        Map<String, Cell> cells =
                open.computeIfAbsent(p, k -> new TreeMap<>())
                        .computeIfAbsent(end, k -> new LinkedHashMap<>());
        Cell c = cells.computeIfAbsent(device + '|' + category, k -> new Cell(device, category));
        c.sum1 += t.getLongByField("measure1");
        c.sum2 += t.getDoubleByField("measure2");
        c.count++;
        if (update) {
            send(c, end, false, t);
        } else {
            out.ack(t);
        }
    }

    /** Closes the windows of partition p that W closed; W = +∞ ends the partition. */
    private void advance(int p, long w) {
        watermark.merge(p, w, Math::max);
        TreeMap<Long, Map<String, Cell>> windows = open.get(p);
        if (windows != null) {
            for (Iterator<Map.Entry<Long, Map<String, Cell>>> it = windows.entrySet().iterator();
                    it.hasNext(); ) {
                Map.Entry<Long, Map<String, Cell>> e = it.next();
                long end = e.getKey();
                if (w != ClockBolt.ENDED && end + latenessMs > w) {
                    break;
                }
                for (Cell c : e.getValue().values()) {
                    Stats.FINAL_LINES.incrementAndGet();
                    Stats.FINAL_COUNTED.addAndGet(c.count);
                    send(c, end, true, null);
                }
                it.remove();
            }
        }
        if (w == ClockBolt.ENDED) {
            open.remove(p);
            producer.flush();
            out.emit(DONE, new Values(taskId, p));
        }
    }

    private void send(Cell c, long end, boolean fin, Tuple anchor) {
        Stats.RESULT_LINES.incrementAndGet();
        sb.setLength(0);
        sb.append("result|").append(jobId).append('|').append(runId).append('|')
                .append(c.deviceId).append('|').append(c.category).append('|')
                .append(end - windowMs).append('|').append(end).append('|')
                .append(c.sum1).append('|').append(Double.toString(c.sum2)).append('|')
                .append(c.count).append('|').append(c.count).append('|')
                .append(fin ? '1' : '0').append('|').append(System.currentTimeMillis());
        write(c.deviceId, "result", anchor);
    }

    /**
     * Sends the line in {@code sb} to the results topic under key; the anchor, when not null, is
     * acked once Kafka has the line, failed (replayed by the spout) otherwise.
     */
    private void write(String key, String kind, Tuple anchor) {
        producer.send(
                new ProducerRecord<>(resultsTopic, key, sb.toString()),
                (md, ex) -> {
                    if (ex != null) {
                        Stats.FAILED_SENDS.incrementAndGet();
                        LOG.warn("a {} line was not written to {}: {}", kind, resultsTopic, ex.toString());
                    }
                    if (anchor != null) {
                        (ex == null ? sent : failed).add(anchor);
                    }
                });
    }

    /**
     * Writes the {@code late} line of a tuple dropped as late, and acks it once Kafka has the line
     * (fails it otherwise: the spout replays it, and it is dropped and written again).
     */
    private void sendLate(Tuple t, long end, long time) {
        String device = t.getStringByField("device_id");
        sb.setLength(0);
        sb.append("late|").append(jobId).append('|').append(runId).append('|')
                .append(device).append('|').append(t.getStringByField("category")).append('|')
                .append(end - windowMs).append('|').append(end).append('|')
                .append(t.getStringByField("message_id")).append('|')
                .append(t.getIntegerByField("partition")).append('|')
                .append(t.getLongByField("offset")).append('|').append(time).append('|')
                .append(t.getLongByField("device_time")).append('|')
                .append(t.getLongByField("measure1")).append('|')
                .append(Double.toString(t.getDoubleByField("measure2"))).append('|')
                .append(System.currentTimeMillis());
        write(device, "late", t);
    }

    @Override
    public void cleanup() {
        if (producer != null) {
            producer.close(java.time.Duration.ofSeconds(10));
        }
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {
        d.declareStream(DONE, new Fields("task", "partition"));
    }
}
