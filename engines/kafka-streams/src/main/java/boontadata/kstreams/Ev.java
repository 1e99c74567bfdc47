package boontadata.kstreams;

/**
 * One record of the events topic as the application sees it, decoded once by {@link
 * EventSerde}: an event of the job's run, the run's end-of-run marker, a poison record of the
 * run (a value that does not parse), or a record the job skips (another run, another control
 * record).
 */
final class Ev {
    static final byte SKIP = 0;
    static final byte EVENT = 1;
    static final byte MARKER = 2;
    static final byte POISON = 3;

    byte kind;
    String messageId;
    String deviceId;
    String category;
    long deviceTime;
    long measure1;
    double measure2;
    /** {@code boontadata-ingest-time}, else the Kafka record timestamp. */
    long ingestTime;
    /** Poison records: why the value does not parse. */
    String problem;

    static final Ev SKIPPED = new Ev(SKIP);

    Ev() {}

    private Ev(byte kind) {
        this.kind = kind;
    }

    static Ev of(byte kind) {
        return new Ev(kind);
    }
}
