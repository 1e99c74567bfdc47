package boontadata.kstreams;

import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * Turns the windowed aggregation's output into result lines of the contract (docs/engines.md,
 * "What an engine writes"), key = device id:
 *
 * <pre>result|JOB|RUN|DEVICE|CATEGORY|WINDOW_START_MS|WINDOW_END_MS|SUM1|SUM2|COUNT|REVISION|FINAL|EMIT_TIME_MS</pre>
 *
 * <p>{@code REVISION} is the cell's count. The final stream (after {@code suppress(untilWindowCloses)})
 * writes every cell of a closed window with {@code FINAL} 1. The update stream (the aggregation's
 * table, as its record cache forwards it at each commit) writes, with {@code FINAL} 0, only the
 * cells whose count changed since this task last wrote them: the table's value is the whole
 * aggregate of a device's window. The marker's own window is never written.
 */
final class Lines implements Processor<Windowed<String>, Agg, String, String> {
    private final String jobId;
    private final String runId;
    private final boolean fin;
    private final long graceMs;
    private ProcessorContext<String, String> ctx;
    /** Update stream: (device, category, window start) → {count written, window end}. */
    private final Map<String, long[]> written = new HashMap<>();
    private int sincePrune;
    private final StringBuilder sb = new StringBuilder(160);

    Lines(String jobId, String runId, boolean fin, long graceMs) {
        this.jobId = jobId;
        this.runId = runId;
        this.fin = fin;
        this.graceMs = graceMs;
    }

    @Override
    public void init(ProcessorContext<String, String> context) {
        this.ctx = context;
    }

    @Override
    public void process(Record<Windowed<String>, Agg> record) {
        Windowed<String> key = record.key();
        Agg agg = record.value();
        if (key == null || agg == null || EventSerde.MARKER_KEY.equals(key.key())) {
            return;
        }
        long start = key.window().start();
        long end = key.window().end();
        long now = System.currentTimeMillis();
        for (Agg.Cell c : agg.cells) {
            if (!fin) {
                String k = c.deviceId + '\u0000' + c.category + '\u0000' + start;
                long[] w = written.get(k);
                if (w != null && w[0] == c.count) {
                    continue;
                }
                if (w == null) {
                    written.put(k, new long[] {c.count, end});
                    sincePrune++;
                } else {
                    w[0] = c.count;
                }
            } else {
                Stats.FINAL_LINES.incrementAndGet();
                Stats.FINAL_COUNTED.addAndGet(c.count);
            }
            Stats.RESULT_LINES.incrementAndGet();
            sb.setLength(0);
            sb.append("result|").append(jobId).append('|').append(runId).append('|')
                    .append(c.deviceId).append('|').append(c.category).append('|')
                    .append(start).append('|').append(end).append('|')
                    .append(c.sum1).append('|').append(Double.toString(c.sum2)).append('|')
                    .append(c.count).append('|').append(c.count).append('|')
                    .append(fin ? '1' : '0').append('|').append(now);
            ctx.forward(new Record<>(c.deviceId, sb.toString(), record.timestamp()));
        }
        if (sincePrune >= 4096) {
            prune();
        }
    }

    /** Forgets the windows the aggregation closed: end + grace at or below stream time. */
    private void prune() {
        sincePrune = 0;
        long streamTime = ctx.currentStreamTimeMs();
        for (Iterator<long[]> it = written.values().iterator(); it.hasNext(); ) {
            if (it.next()[1] + graceMs <= streamTime) {
                it.remove();
            }
        }
    }
}
