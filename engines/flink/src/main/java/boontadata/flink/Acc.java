package boontadata.flink;

import java.util.HashSet;

/** Window state of one (device, category, window): sums, count and the ids counted. */
public class Acc {
    public long sum1;
    public double sum2;
    public long count;
    public long duplicates;
    /** Message ids counted in this window; null when dedup is off. */
    public HashSet<String> ids;
    public boolean probe;
    public int partition;
    public int target;

    public Acc() {}
}
