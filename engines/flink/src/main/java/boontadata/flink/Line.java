package boontadata.flink;

/**
 * One record of the results topic: key (device id, or the job id for the end line), value, and
 * the partition it must go to (the end line goes to every partition), -1 to follow the key.
 */
public class Line {
    public String key;
    public String value;
    public int partition = -1;

    public Line() {}

    Line(String key, String value) {
        this.key = key;
        this.value = value;
    }

    Line(String key, String value, int partition) {
        this(key, value);
        this.partition = partition;
    }
}
