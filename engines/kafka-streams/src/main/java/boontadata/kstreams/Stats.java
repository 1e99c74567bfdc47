package boontadata.kstreams;

import java.util.concurrent.atomic.AtomicLong;

/** Counters of this instance, over all its stream threads, for the log lines. */
final class Stats {
    static final AtomicLong EVENTS = new AtomicLong();
    static final AtomicLong POISON = new AtomicLong();
    static final AtomicLong MARKERS = new AtomicLong();
    static final AtomicLong LATE = new AtomicLong();
    static final AtomicLong DUPLICATES = new AtomicLong();
    static final AtomicLong RESULT_LINES = new AtomicLong();
    static final AtomicLong FINAL_LINES = new AtomicLong();
    static final AtomicLong FINAL_COUNTED = new AtomicLong();

    private Stats() {}
}
