package boontadata.flink;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Chained to the source: events go on to the windows; markers and poison records go to the
 * control side output, read by the end-of-run operator, so that no marker ever reaches a window.
 *
 * <p>With processing-time windows, a marker also sends one probe per window subtask through the
 * windows: a probe is keyed so that it lands on that subtask (Flink's key-group assignment), and
 * follows every event of its partition on the channel to it. {@link ProcessingWindows} puts it in
 * the processing-time window after the current one, so its firing comes after the firing of every
 * window holding that partition's events on that subtask (timers fire in timestamp order). Once
 * the probes of all partitions fired on all subtasks, the processing-time windows holding the
 * run's events have fired.
 */
final class Splitter extends ProcessFunction<Ev, Ev> {
    private static final long serialVersionUID = 1L;

    static final OutputTag<Ev> CONTROL = new OutputTag<>("control") {};

    private final boolean probes;
    private final int maxParallelism;
    private final int windowParallelism;
    private transient String[][] probeKeys;

    Splitter(boolean probes, int maxParallelism, int windowParallelism) {
        this.probes = probes;
        this.maxParallelism = maxParallelism;
        this.windowParallelism = windowParallelism;
    }

    @Override
    public void open(OpenContext openContext) {
        probeKeys = new String[0][];
    }

    /** The device of a probe: starts with a control character, so no event can have it. */
    static String probeDevice(int partition, int target, int maxParallelism, int parallelism) {
        for (int i = 0; ; i++) {
            String device = "\u0001probe-" + partition + "-" + i;
            Ev p = Ev.probe(device, partition, target);
            if (KeyGroupRangeAssignment.assignKeyToParallelOperator(
                            p.key(), maxParallelism, parallelism)
                    == target) {
                return device;
            }
        }
    }

    private String[] probesOf(int partition) {
        if (partition >= probeKeys.length) {
            String[][] grown = new String[partition + 1][];
            System.arraycopy(probeKeys, 0, grown, 0, probeKeys.length);
            probeKeys = grown;
        }
        if (probeKeys[partition] == null) {
            String[] keys = new String[windowParallelism];
            for (int k = 0; k < windowParallelism; k++) {
                keys[k] = probeDevice(partition, k, maxParallelism, windowParallelism);
            }
            probeKeys[partition] = keys;
        }
        return probeKeys[partition];
    }

    @Override
    public void processElement(Ev e, Context ctx, Collector<Ev> out) {
        switch (e.kind) {
            case Ev.EVENT:
                out.collect(e);
                break;
            case Ev.MARKER:
                ctx.output(CONTROL, e);
                if (probes) {
                    String[] keys = probesOf(e.partition);
                    for (int k = 0; k < keys.length; k++) {
                        out.collect(Ev.probe(keys[k], e.partition, k));
                    }
                }
                break;
            default:
                ctx.output(CONTROL, e);
        }
    }
}
