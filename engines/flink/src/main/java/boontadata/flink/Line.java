package boontadata.flink;

/** One record of the results topic: key (device id, or none for the end line) and value. */
public class Line {
    public String key;
    public String value;

    public Line() {}

    Line(String key, String value) {
        this.key = key;
        this.value = value;
    }
}
