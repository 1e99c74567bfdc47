package boontadata.flink;

import org.apache.flink.api.common.functions.AggregateFunction;

import java.util.HashSet;

/**
 * Sums of measure1 (long, wrapping) and measure2 (double) and the count of one (device,
 * category, window); with {@code --dedup window}, a copy of a message id already counted in
 * this window is not counted again (it is counted as a duplicate).
 */
final class WindowAggregate implements AggregateFunction<Ev, Acc, Acc> {
    private static final long serialVersionUID = 1L;

    private final boolean dedup;

    WindowAggregate(boolean dedup) {
        this.dedup = dedup;
    }

    @Override
    public Acc createAccumulator() {
        Acc a = new Acc();
        if (dedup) {
            a.ids = new HashSet<>();
        }
        return a;
    }

    @Override
    public Acc add(Ev e, Acc a) {
        if (e.kind == Ev.PROBE) {
            a.probe = true;
            a.partition = e.partition;
            a.target = e.target;
            return a;
        }
        if (a.ids != null && !a.ids.add(e.messageId)) {
            a.duplicates++;
            return a;
        }
        a.sum1 += e.measure1;
        a.sum2 += e.measure2;
        a.count++;
        return a;
    }

    @Override
    public Acc getResult(Acc a) {
        return a;
    }

    @Override
    public Acc merge(Acc a, Acc b) {
        // tumbling windows never merge; kept correct for completeness
        if (a.ids != null && b.ids != null) {
            for (String id : b.ids) {
                if (!a.ids.add(id)) {
                    a.duplicates++;
                }
            }
        }
        a.sum1 += b.sum1;
        a.sum2 += b.sum2;
        a.count += b.count;
        a.duplicates += b.duplicates;
        return a;
    }
}
