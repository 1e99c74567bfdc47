package boontadata.flink;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.ProcessingTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

import java.time.Duration;
import java.util.Collection;
import java.util.List;

/**
 * Flink's {@link TumblingProcessingTimeWindows} for events; a probe (see {@link Splitter}) goes to
 * the window after the one the current processing time falls in.
 */
final class ProcessingWindows extends WindowAssigner<Object, TimeWindow> {
    private static final long serialVersionUID = 1L;

    private final TumblingProcessingTimeWindows windows;
    private final long size;

    ProcessingWindows(long sizeMs) {
        this.windows = TumblingProcessingTimeWindows.of(Duration.ofMillis(sizeMs));
        this.size = sizeMs;
    }

    @Override
    public Collection<TimeWindow> assignWindows(
            Object element, long timestamp, WindowAssignerContext context) {
        Collection<TimeWindow> assigned = windows.assignWindows(element, timestamp, context);
        if (element instanceof Ev && ((Ev) element).kind == Ev.PROBE) {
            TimeWindow current = assigned.iterator().next();
            return List.of(new TimeWindow(current.getEnd(), current.getEnd() + size));
        }
        return assigned;
    }

    @Override
    public Trigger<Object, TimeWindow> getDefaultTrigger() {
        return ProcessingTimeTrigger.create();
    }

    @Override
    public TypeSerializer<TimeWindow> getWindowSerializer(
            org.apache.flink.api.common.ExecutionConfig executionConfig) {
        return new TimeWindow.Serializer();
    }

    @Override
    public boolean isEventTime() {
        return false;
    }

    @Override
    public String toString() {
        return "TumblingProcessingTimeWindows(" + size + ") with end-of-run probes";
    }
}
