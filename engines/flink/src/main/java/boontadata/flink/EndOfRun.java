package boontadata.flink;

import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.BitSet;
import java.util.HashSet;
import java.util.Set;

/**
 * The last operator before the sink, with parallelism 1: formats every window answer as a result
 * line, and writes the {@code end} line once the run's input is over and every window that holds
 * its events has fired.
 *
 * <p>Input 1: window firings (results and fired probes). Input 2: the control elements (end-of-run
 * markers and poison records, from {@link Splitter}) and the events the windows dropped as late
 * (their side output), each written as a {@code late} line: the window it belonged to by its
 * timestamp, which had closed, and the record. The run is over when
 *
 * <ul>
 *   <li>the markers of every partition of the events topic arrived, and
 *   <li>event and ingestion time: the operator's watermark, the minimum over the window subtasks,
 *       which forward theirs after firing, reached {@code Long.MAX_VALUE}: every window fired;
 *   <li>processing time: the probe of every partition fired on every window subtask (see {@link
 *       Splitter}).
 * </ul>
 *
 * <p>Then, with checkpointing on, the end line waits for the completion of the next checkpoint:
 * the Kafka sink flushes its producer before a checkpoint barrier passes it (at-least-once), so
 * every result line was acknowledged by Kafka before the end line is written.
 */
final class EndOfRun extends AbstractStreamOperator<Line>
        implements TwoInputStreamOperator<Out, Ev, Line> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EndOfRun.class);

    private final String jobId;
    private final String runId;
    private final int partitions;
    private final int resultsPartitions;
    private final boolean eventTime;
    private final long windowMs;
    private final int windowParallelism;
    private final boolean waitForCheckpoint;

    private transient BitSet markers;
    private transient Set<Long> probesFired;
    private transient boolean finalWatermark;
    private transient boolean over;
    private transient long endCheckpoint;
    private transient boolean ended;
    private transient long results;
    private transient long finals;
    private transient long counted;
    private transient long duplicates;
    private transient long late;
    private transient long poison;
    private transient StringBuilder sb;

    EndOfRun(
            String jobId,
            String runId,
            int partitions,
            int resultsPartitions,
            boolean eventTime,
            long windowMs,
            int windowParallelism,
            boolean waitForCheckpoint) {
        this.jobId = jobId;
        this.runId = runId;
        this.partitions = partitions;
        this.resultsPartitions = resultsPartitions;
        this.eventTime = eventTime;
        this.windowMs = windowMs;
        this.windowParallelism = windowParallelism;
        this.waitForCheckpoint = waitForCheckpoint;
    }

    @Override
    public void open() throws Exception {
        super.open();
        markers = new BitSet(partitions);
        probesFired = new HashSet<>();
        endCheckpoint = -1;
        sb = new StringBuilder(256);
    }

    @Override
    public void processElement1(StreamRecord<Out> record) {
        Out o = record.getValue();
        if (o.kind == Out.PROBE_FIRED) {
            probesFired.add((long) o.partition * windowParallelism + o.target);
            checkOver();
            return;
        }
        results++;
        if (o.fin) {
            finals++;
            counted += o.count;
            duplicates += o.duplicates;
        }
        sb.setLength(0);
        sb.append("result|").append(jobId).append('|').append(runId).append('|')
                .append(o.deviceId).append('|').append(o.category).append('|')
                .append(o.windowStart).append('|').append(o.windowEnd).append('|')
                .append(o.sum1).append('|').append(Double.toString(o.sum2)).append('|')
                .append(o.count).append('|').append(o.count).append('|')
                .append(o.fin ? '1' : '0').append('|').append(o.emitTime);
        output.collect(new StreamRecord<>(new Line(o.deviceId, sb.toString())));
    }

    @Override
    public void processElement2(StreamRecord<Ev> record) {
        Ev e = record.getValue();
        switch (e.kind) {
            case Ev.MARKER:
                if (e.partition < partitions) {
                    markers.set(e.partition);
                } else {
                    LOG.warn(
                            "end-of-run marker from partition {}, beyond the {} partitions the"
                                    + " events topic had at start; not counted",
                            e.partition,
                            partitions);
                }
                checkOver();
                break;
            case Ev.POISON:
                poison++;
                break;
            default:
                late++; // the windows' late side output
                writeLate(e, record.getTimestamp());
        }
    }

    /**
     * Writes the {@code late} line of an event the windows dropped: its window by {@code
     * timestamp} (the record time the window assigner saw: device or ingestion time), its Kafka
     * position, times and measures.
     */
    private void writeLate(Ev e, long timestamp) {
        long start = TimeWindow.getWindowStartWithOffset(timestamp, 0, windowMs);
        sb.setLength(0);
        sb.append("late|").append(jobId).append('|').append(runId).append('|')
                .append(e.deviceId).append('|').append(e.category).append('|')
                .append(start).append('|').append(start + windowMs).append('|')
                .append(e.messageId).append('|').append(e.partition).append('|')
                .append(e.offset).append('|').append(timestamp).append('|')
                .append(e.deviceTime).append('|').append(e.measure1).append('|')
                .append(Double.toString(e.measure2)).append('|')
                .append(System.currentTimeMillis());
        output.collect(new StreamRecord<>(new Line(e.deviceId, sb.toString())));
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        super.processWatermark(mark);
        if (mark.getTimestamp() == Long.MAX_VALUE && !finalWatermark) {
            finalWatermark = true;
            checkOver();
        }
    }

    private void checkOver() {
        if (over || markers.cardinality() < partitions) {
            return;
        }
        if (eventTime && !finalWatermark) {
            return;
        }
        if (!eventTime && probesFired.size() < (long) partitions * windowParallelism) {
            return;
        }
        over = true;
        LOG.info(
                "run {}: the end-of-run markers of all {} partitions arrived and every window"
                        + " fired{}",
                runId,
                partitions,
                waitForCheckpoint ? "; writing the end line after the next checkpoint" : "");
        if (!waitForCheckpoint) {
            writeEnd();
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        if (over && endCheckpoint < 0) {
            endCheckpoint = context.getCheckpointId();
        }
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        if (!ended && endCheckpoint >= 0 && checkpointId >= endCheckpoint) {
            writeEnd();
        }
    }

    private void writeEnd() {
        ended = true;
        String line = "end|" + jobId + "|" + runId + "|" + System.currentTimeMillis();
        // On every partition of the results topic, after the results written there: a
        // reader of a partition that reads the end has read every result before it.
        for (int p = 0; p < resultsPartitions; p++) {
            output.collect(new StreamRecord<>(new Line(jobId, line, p)));
        }
        LOG.info(
                "run {}: {} result lines ({} final windows, {} events counted), {} duplicates"
                        + " dropped, {} late events dropped, {} poison records skipped; wrote {}",
                runId,
                results,
                finals,
                counted,
                duplicates,
                late,
                poison,
                line);
    }
}
