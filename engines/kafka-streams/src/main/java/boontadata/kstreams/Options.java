package boontadata.kstreams;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** The flags of docs/engines.md (engine contract) and the Kafka Streams application's own. */
final class Options {
    /** A flag that is missing, unknown or has a value the application cannot honour. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** Ten years: keeps the end-of-run time and the expiries far from overflowing. */
    private static final long MAX_DURATION_MS = 10L * 366 * 24 * 3600 * 1000;

    private static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

    static {
        DEFAULTS.put("job-id", null);
        DEFAULTS.put("run-id", null);
        DEFAULTS.put("brokers", "127.0.0.1:9092");
        DEFAULTS.put("events-topic", "boontadata-events");
        DEFAULTS.put("results-topic", "boontadata-results");
        DEFAULTS.put("time", "event");
        DEFAULTS.put("window-ms", "5000");
        DEFAULTS.put("watermark-ms", "0");
        DEFAULTS.put("lateness-ms", "0");
        DEFAULTS.put("idle-ms", "0");
        DEFAULTS.put("dedup", "none");
        DEFAULTS.put("dedup-horizon-ms", "0");
        DEFAULTS.put("output", "append");
        DEFAULTS.put("trigger-ms", "5000");
        DEFAULTS.put("master", "local");
        DEFAULTS.put("start-offsets", "earliest");
        DEFAULTS.put("checkpoint-dir", ".state/engines/kafka-streams/state");
        DEFAULTS.put("heap", "1g"); // read by run.sh
        // Kafka Streams application's own
        DEFAULTS.put("threads", "2");
        DEFAULTS.put("store", "rocksdb");
        DEFAULTS.put("changelog", "false");
        DEFAULTS.put("cache-bytes", "10485760");
        DEFAULTS.put("topic-wait-ms", "60000");
        DEFAULTS.put("instance", "0"); // set by run.sh: this instance's state folder
    }

    String jobId;
    String runId;
    String brokers;
    String eventsTopic;
    String resultsTopic;
    String time;
    long windowMs;
    long watermarkMs;
    long latenessMs;
    long idleMs;
    boolean dedup;
    long dedupHorizonMs;
    boolean update;
    long triggerMs;
    boolean latest;
    Path stateDir;
    int threads;
    boolean inMemory;
    boolean changelog;
    long cacheBytes;
    long topicWaitMs;
    int instance;

    String applicationId() {
        return "boontadata-" + jobId;
    }

    /** Kafka Streams' grace: the watermark delay plus the allowed lateness. */
    long graceMs() {
        return watermarkMs + latenessMs;
    }

    static Options parse(String[] args) throws UsageException {
        Map<String, String> v = new LinkedHashMap<>(DEFAULTS);
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new UsageException("unexpected argument \"" + a + "\": flags are --name value");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length) {
                    throw new UsageException("--" + name + " needs a value");
                }
                value = args[++i];
            }
            if (!DEFAULTS.containsKey(name)) {
                throw new UsageException("unknown flag --" + name + " (run.sh --help lists them)");
            }
            v.put(name, value);
        }
        Options o = new Options();
        o.jobId = id(v, "job-id");
        for (char c : o.jobId.toCharArray()) {
            if (!(Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-') || c > 0x7f) {
                throw new UsageException(
                        "--job-id \"" + o.jobId + "\": ASCII letters, digits, '.', '_' and '-'"
                                + " only (it makes the application id boontadata-JOB, a consumer"
                                + " group and a state folder)");
            }
        }
        o.runId = id(v, "run-id");
        o.brokers = nonEmpty(v, "brokers");
        o.eventsTopic = nonEmpty(v, "events-topic");
        o.resultsTopic = nonEmpty(v, "results-topic");
        o.time = v.get("time");
        if (!o.time.equals("event") && !o.time.equals("ingestion") && !o.time.equals("processing")) {
            throw new UsageException("--time " + o.time + ": want event, ingestion or processing");
        }
        o.windowMs = millis(v, "window-ms", 1);
        o.watermarkMs = millis(v, "watermark-ms", 0);
        o.latenessMs = millis(v, "lateness-ms", 0);
        o.idleMs = millis(v, "idle-ms", 0);
        String dedup = v.get("dedup");
        switch (dedup) {
            case "none":
                break;
            case "watermark":
                o.dedup = true;
                break;
            case "batch":
                throw new UsageException(
                        "--dedup batch: Kafka Streams processes record by record, it has no"
                                + " micro-batches; use --dedup watermark (ids remembered until the"
                                + " partition's stream time passes them) or none");
            case "window":
                throw new UsageException(
                        "--dedup window: not implemented by the Kafka Streams application; use"
                                + " --dedup watermark or none");
            default:
                throw new UsageException("--dedup " + dedup + ": want none or watermark");
        }
        o.dedupHorizonMs = millis(v, "dedup-horizon-ms", 0);
        String output = v.get("output");
        if (!output.equals("append") && !output.equals("update")) {
            throw new UsageException("--output " + output + ": want append or update");
        }
        o.update = output.equals("update");
        o.triggerMs = millis(v, "trigger-ms", 1);
        String master = nonEmpty(v, "master");
        if (!master.equals("local")) {
            throw new UsageException(
                    "--master " + master + ": Kafka Streams is a library and has no cluster; use"
                            + " --master local and scale out by starting more instances of run.sh"
                            + " with the same --job-id (the same application id)");
        }
        String start = nonEmpty(v, "start-offsets");
        if (!start.equals("earliest") && !start.equals("latest")) {
            throw new UsageException("--start-offsets " + start + ": want earliest or latest");
        }
        o.latest = start.equals("latest");
        o.stateDir = Path.of(nonEmpty(v, "checkpoint-dir")).toAbsolutePath().normalize();
        long t = millis(v, "threads", 1);
        if (t > 64) {
            throw new UsageException("--threads " + t + ": at most 64");
        }
        o.threads = (int) t;
        String store = v.get("store");
        if (!store.equals("rocksdb") && !store.equals("memory")) {
            throw new UsageException("--store " + store + ": want rocksdb or memory");
        }
        o.inMemory = store.equals("memory");
        String changelog = v.get("changelog");
        if (!changelog.equals("true") && !changelog.equals("false")) {
            throw new UsageException("--changelog " + changelog + ": want true or false");
        }
        o.changelog = changelog.equals("true");
        o.cacheBytes = millis(v, "cache-bytes", 0);
        o.topicWaitMs = millis(v, "topic-wait-ms", 0);
        o.instance = (int) Math.min(millis(v, "instance", 0), 1000);
        for (String n : new String[] {"window-ms", "watermark-ms", "lateness-ms", "dedup-horizon-ms"}) {
            if (Long.parseLong(v.get(n)) > MAX_DURATION_MS) {
                throw new UsageException("--" + n + ": at most " + MAX_DURATION_MS + " (ten years)");
            }
        }
        return o;
    }

    private static String nonEmpty(Map<String, String> v, String name) throws UsageException {
        String s = v.get(name);
        if (s == null || s.isEmpty()) {
            throw new UsageException("--" + name + " is required");
        }
        return s;
    }

    private static String id(Map<String, String> v, String name) throws UsageException {
        String s = nonEmpty(v, name);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '|' || c < 0x20 || c == 0x7f) {
                throw new UsageException(
                        "--" + name + " \"" + s + "\": no '|' or control character (it is a field"
                                + " of the result lines)");
            }
        }
        return s;
    }

    private static long millis(Map<String, String> v, String name, long min)
            throws UsageException {
        String s = v.get(name);
        long n;
        try {
            n = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " " + s + ": not an integer");
        }
        if (n < min) {
            throw new UsageException("--" + name + " " + s + ": at least " + min);
        }
        return n;
    }
}
