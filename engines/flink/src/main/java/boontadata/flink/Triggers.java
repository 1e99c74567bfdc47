package boontadata.flink;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.triggers.TriggerResult;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

/**
 * Triggers used when Flink's default ones ({@code EventTimeTrigger}, {@code
 * ProcessingTimeTrigger}) do not say all the contract needs: with allowed lateness, a last firing
 * that carries FINAL; with {@code --output update}, early firings. With allowed lateness 0 and
 * {@code --output append} the job uses Flink's default trigger of the window assigner.
 */
final class Triggers {
    private Triggers() {}

    private static final ValueStateDescriptor<Long> EARLY =
            new ValueStateDescriptor<>("boontadata-early-firing", Types.LONG);

    private static void cancelEarly(Trigger.TriggerContext ctx) throws Exception {
        ValueState<Long> pending = ctx.getPartitionedState(EARLY);
        Long t = pending.value();
        if (t != null) {
            ctx.deleteProcessingTimeTimer(t);
            pending.clear();
        }
    }

    /**
     * Flink's {@code EventTimeTrigger} (fire when the watermark passes the window's end, and
     * again for each element that arrives within the allowed lateness), plus:
     *
     * <ul>
     *   <li>lateness &gt; 0: one more firing at the window's cleanup time (end - 1 + lateness,
     *       the timer at which Flink's WindowOperator drops the window), with the same contents,
     *       which {@link WindowEmit} marks FINAL; when one watermark passes both the end and the
     *       cleanup time, only that last firing is emitted;
     *   <li>early interval &gt; 0 ({@code --output update}): a firing at the next multiple of the
     *       interval in processing time after a window changed, until the watermark passes the
     *       window's end.
     * </ul>
     */
    static final class EventTime extends Trigger<Object, TimeWindow> {
        private static final long serialVersionUID = 1L;
        private final long lateness;
        private final long early;

        EventTime(long lateness, long early) {
            this.lateness = lateness;
            this.early = early;
        }

        @Override
        public TriggerResult onElement(
                Object element, long timestamp, TimeWindow w, TriggerContext ctx)
                throws Exception {
            if (lateness > 0) {
                ctx.registerEventTimeTimer(WindowEmit.cleanupTime(w, lateness));
            }
            if (w.maxTimestamp() <= ctx.getCurrentWatermark()) {
                return TriggerResult.FIRE; // a late firing, within the allowed lateness
            }
            ctx.registerEventTimeTimer(w.maxTimestamp());
            if (early > 0) {
                ValueState<Long> pending = ctx.getPartitionedState(EARLY);
                if (pending.value() == null) {
                    long next = (ctx.getCurrentProcessingTime() / early + 1) * early;
                    ctx.registerProcessingTimeTimer(next);
                    pending.update(next);
                }
            }
            return TriggerResult.CONTINUE;
        }

        @Override
        public TriggerResult onEventTime(long time, TimeWindow w, TriggerContext ctx)
                throws Exception {
            long cleanup = WindowEmit.cleanupTime(w, lateness);
            if (time == w.maxTimestamp()) {
                if (early > 0) {
                    cancelEarly(ctx);
                }
                if (lateness > 0 && ctx.getCurrentWatermark() >= cleanup) {
                    return TriggerResult.CONTINUE; // the final firing follows at once
                }
                return TriggerResult.FIRE;
            }
            if (lateness > 0 && time == cleanup) {
                return TriggerResult.FIRE;
            }
            return TriggerResult.CONTINUE;
        }

        @Override
        public TriggerResult onProcessingTime(long time, TimeWindow w, TriggerContext ctx)
                throws Exception {
            ctx.getPartitionedState(EARLY).clear();
            return w.maxTimestamp() > ctx.getCurrentWatermark()
                    ? TriggerResult.FIRE
                    : TriggerResult.CONTINUE;
        }

        @Override
        public void clear(TimeWindow w, TriggerContext ctx) throws Exception {
            ctx.deleteEventTimeTimer(w.maxTimestamp());
            if (lateness > 0) {
                ctx.deleteEventTimeTimer(WindowEmit.cleanupTime(w, lateness));
            }
            if (early > 0) {
                cancelEarly(ctx);
            }
        }

        @Override
        public String toString() {
            return "EventTimeTrigger(final firing at cleanup: " + (lateness > 0)
                    + ", early every " + early + " ms)";
        }
    }

    /**
     * Flink's {@code ProcessingTimeTrigger} (fire when processing time reaches the window's end)
     * plus early firings every interval of processing time after a window changed.
     */
    static final class ProcessingTime extends Trigger<Object, TimeWindow> {
        private static final long serialVersionUID = 1L;
        private final long early;

        ProcessingTime(long early) {
            this.early = early;
        }

        @Override
        public TriggerResult onElement(
                Object element, long timestamp, TimeWindow w, TriggerContext ctx)
                throws Exception {
            ctx.registerProcessingTimeTimer(w.maxTimestamp());
            if (element instanceof Ev && ((Ev) element).kind == Ev.PROBE) {
                return TriggerResult.CONTINUE; // a probe fires at its window's end only
            }
            ValueState<Long> pending = ctx.getPartitionedState(EARLY);
            if (pending.value() == null) {
                long next = (ctx.getCurrentProcessingTime() / early + 1) * early;
                if (next < w.maxTimestamp()) {
                    ctx.registerProcessingTimeTimer(next);
                    pending.update(next);
                }
            }
            return TriggerResult.CONTINUE;
        }

        @Override
        public TriggerResult onEventTime(long time, TimeWindow w, TriggerContext ctx) {
            return TriggerResult.CONTINUE;
        }

        @Override
        public TriggerResult onProcessingTime(long time, TimeWindow w, TriggerContext ctx)
                throws Exception {
            if (time != w.maxTimestamp()) {
                ctx.getPartitionedState(EARLY).clear();
            }
            return TriggerResult.FIRE;
        }

        @Override
        public void clear(TimeWindow w, TriggerContext ctx) throws Exception {
            ctx.deleteProcessingTimeTimer(w.maxTimestamp());
            cancelEarly(ctx);
        }

        @Override
        public String toString() {
            return "ProcessingTimeTrigger(early every " + early + " ms)";
        }
    }
}
