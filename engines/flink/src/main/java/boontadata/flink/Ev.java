package boontadata.flink;

/**
 * One element read from the events topic: an event of the job's run, the end-of-run marker of
 * one partition, a poison record (a value that does not parse), or a probe that the job sends
 * through its processing-time windows to learn when they have fired (see {@link Splitter}).
 *
 * <p>A Flink POJO (public fields, public no-argument constructor), serialized by Flink's
 * PojoSerializer.
 */
public class Ev {
    public static final byte EVENT = 0;
    public static final byte MARKER = 1;
    public static final byte PROBE = 2;
    public static final byte POISON = 3;

    public byte kind;
    public String messageId;
    public String deviceId;
    public String category;
    public long deviceTime;
    public long measure1;
    public double measure2;
    /** {@code boontadata-ingest-time}, else the Kafka record timestamp. */
    public long ingestTime;
    /** Kafka partition the record came from. */
    public int partition;
    /** Its offset in that partition. */
    public long offset;
    /** Probes: index of the window subtask the probe is keyed to. */
    public int target;

    public Ev() {}

    /**
     * The key of the windows: device and category. '|' separates the fields of the wire format,
     * so it appears in neither.
     */
    public String key() {
        return deviceId + "|" + category;
    }

    static Ev marker(int partition, long ingestTime) {
        Ev e = new Ev();
        e.kind = MARKER;
        e.partition = partition;
        e.ingestTime = ingestTime;
        return e;
    }

    static Ev poison(int partition, long ingestTime) {
        Ev e = new Ev();
        e.kind = POISON;
        e.partition = partition;
        e.ingestTime = ingestTime;
        return e;
    }

    static Ev probe(String probeDevice, int partition, int target) {
        Ev e = new Ev();
        e.kind = PROBE;
        e.deviceId = probeDevice;
        e.category = "";
        e.partition = partition;
        e.target = target;
        return e;
    }
}
