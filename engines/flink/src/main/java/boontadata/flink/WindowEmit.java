package boontadata.flink;

import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * Turns a window firing into an {@link Out}: the window's sums with FINAL set when Flink will not
 * change the window any more (its cleanup time, end - 1 + allowed lateness, is at or below the
 * watermark: every later element for it is dropped; for processing-time windows, once processing
 * time reached the window's end), or a fired probe.
 */
final class WindowEmit extends ProcessWindowFunction<Acc, Out, String, TimeWindow> {
    private static final long serialVersionUID = 1L;

    private final boolean eventTime;
    private final long lateness;

    WindowEmit(boolean eventTime, long lateness) {
        this.eventTime = eventTime;
        this.lateness = lateness;
    }

    static long cleanupTime(TimeWindow w, long lateness) {
        long t = w.maxTimestamp() + lateness;
        return t >= w.maxTimestamp() ? t : Long.MAX_VALUE;
    }

    @Override
    public void process(String key, Context ctx, Iterable<Acc> accs, Collector<Out> out) {
        Acc a = accs.iterator().next();
        TimeWindow w = ctx.window();
        Out o = new Out();
        o.emitTime = System.currentTimeMillis();
        o.windowStart = w.getStart();
        o.windowEnd = w.getEnd();
        if (a.probe) {
            o.kind = Out.PROBE_FIRED;
            o.partition = a.partition;
            o.target = a.target;
            out.collect(o);
            return;
        }
        int bar = key.indexOf('|');
        o.kind = Out.RESULT;
        o.deviceId = key.substring(0, bar);
        o.category = key.substring(bar + 1);
        o.sum1 = a.sum1;
        o.sum2 = a.sum2;
        o.count = a.count;
        o.duplicates = a.duplicates;
        o.fin =
                eventTime
                        ? ctx.currentWatermark() >= cleanupTime(w, lateness)
                        : ctx.currentProcessingTime() >= w.maxTimestamp();
        out.collect(o);
    }
}
