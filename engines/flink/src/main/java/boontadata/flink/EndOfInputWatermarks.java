package boontadata.flink;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * A watermark strategy that ends a partition's event time at its end-of-run marker, as Flink
 * ends a bounded split with a final watermark ({@code Long.MAX_VALUE}).
 *
 * <p>The Kafka source runs one generator per split, i.e. per partition, and the source subtask
 * emits the minimum over its splits (Flink's {@code WatermarkOutputMultiplexer}; a split at
 * {@code Long.MAX_VALUE} no longer holds that minimum back). The windows then take the minimum
 * over their input channels. So the windows' watermark reaches {@code Long.MAX_VALUE}, and every
 * event-time window fires, once every partition delivered its marker (or, with {@code
 * withIdleness}, once the partitions that did not are idle: Flink's idleness semantics).
 *
 * <p>Events go to the wrapped strategy (e.g. {@code forBoundedOutOfOrderness}); markers never
 * do, poison records neither.
 */
final class EndOfInputWatermarks implements WatermarkStrategy<Ev> {
    private static final long serialVersionUID = 1L;

    private final WatermarkStrategy<Ev> events;

    EndOfInputWatermarks(WatermarkStrategy<Ev> events) {
        this.events = events;
    }

    @Override
    public TimestampAssigner<Ev> createTimestampAssigner(
            TimestampAssignerSupplier.Context context) {
        return events.createTimestampAssigner(context);
    }

    @Override
    public WatermarkGenerator<Ev> createWatermarkGenerator(
            WatermarkGeneratorSupplier.Context context) {
        return new Generator(events.createWatermarkGenerator(context));
    }

    private static final class Generator implements WatermarkGenerator<Ev> {
        private static final Watermark END = new Watermark(Long.MAX_VALUE);
        private final WatermarkGenerator<Ev> events;
        private boolean ended;

        Generator(WatermarkGenerator<Ev> events) {
            this.events = events;
        }

        @Override
        public void onEvent(Ev e, long timestamp, WatermarkOutput output) {
            if (ended) {
                return;
            }
            if (e.kind == Ev.MARKER) {
                ended = true;
                output.emitWatermark(END);
            } else if (e.kind == Ev.EVENT) {
                events.onEvent(e, timestamp, output);
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            if (ended) {
                output.emitWatermark(END);
            } else {
                events.onPeriodicEmit(output);
            }
        }
    }
}
