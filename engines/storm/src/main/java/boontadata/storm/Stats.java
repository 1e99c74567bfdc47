package boontadata.storm;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Counters of the topology and its end, shared through the JVM: the LocalCluster runs the spout,
 * the bolts and the process's main thread in one JVM.
 */
final class Stats {
    static final AtomicLong EVENTS = new AtomicLong();
    static final AtomicLong POISON = new AtomicLong();
    static final AtomicLong MARKERS = new AtomicLong();
    static final AtomicLong LATE = new AtomicLong();
    static final AtomicLong RESULT_LINES = new AtomicLong();
    static final AtomicLong FINAL_LINES = new AtomicLong();
    static final AtomicLong FINAL_COUNTED = new AtomicLong();
    static final AtomicLong FAILED_SENDS = new AtomicLong();
    /** Counted down by {@link EndBolt} once it wrote the end line. */
    static final CountDownLatch ENDED = new CountDownLatch(1);
    static final AtomicReference<String> END_LINE = new AtomicReference<>();
    /** Partitions of the events topic assigned to the spout's tasks ({@link Assignments}). */
    static final java.util.Set<Integer> ASSIGNED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private Stats() {}
}
