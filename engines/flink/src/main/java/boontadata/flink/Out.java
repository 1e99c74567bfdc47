package boontadata.flink;

/** What a window firing produces: a window's answer, or a fired probe (see {@link Splitter}). */
public class Out {
    public static final byte RESULT = 0;
    public static final byte PROBE_FIRED = 1;

    public byte kind;
    public String deviceId;
    public String category;
    public long windowStart;
    public long windowEnd;
    public long sum1;
    public double sum2;
    public long count;
    /** Copies dropped by within-window dedup so far in this window. */
    public long duplicates;
    public boolean fin;
    public long emitTime;
    public int partition;
    public int target;

    public Out() {}
}
