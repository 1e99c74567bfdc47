package boontadata.storm;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** The flags of docs/engines.md (engine contract) and the Storm topology's own. */
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
        DEFAULTS.put("checkpoint-dir", ".state/engines/storm/local");
        DEFAULTS.put("heap", "1g"); // read by run.sh
        // Storm topology's own
        DEFAULTS.put("spout-parallelism", "1");
        DEFAULTS.put("parallelism", "2");
        DEFAULTS.put("message-timeout-secs", "30");
        DEFAULTS.put("topic-wait-ms", "60000");
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
    Path localDir;
    int spoutParallelism;
    int parallelism;
    int messageTimeoutSecs;
    long topicWaitMs;

    String topologyName() {
        return "boontadata-" + jobId;
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
                                + " only (it makes the topology name boontadata-JOB and the"
                                + " spout's consumer group)");
            }
        }
        o.runId = id(v, "run-id");
        o.brokers = nonEmpty(v, "brokers");
        o.eventsTopic = nonEmpty(v, "events-topic");
        o.resultsTopic = nonEmpty(v, "results-topic");
        o.time = v.get("time");
        if (o.time.equals("processing")) {
            throw new UsageException(
                    "--time processing: the Storm topology windows by the time in the tuples; use"
                            + " event (device time) or ingestion (boontadata-ingest-time)");
        }
        if (!o.time.equals("event") && !o.time.equals("ingestion")) {
            throw new UsageException("--time " + o.time + ": want event or ingestion");
        }
        o.windowMs = millis(v, "window-ms", 1);
        o.watermarkMs = millis(v, "watermark-ms", 0);
        o.latenessMs = millis(v, "lateness-ms", 0);
        o.idleMs = millis(v, "idle-ms", 0);
        String dedup = v.get("dedup");
        if (!dedup.equals("none")) {
            throw new UsageException(
                    "--dedup " + dedup + ": the Storm topology counts every tuple (at-least-once,"
                            + " record at a time: the storm preset has no dedup); use --dedup none");
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
                    "--master " + master + ": the Storm topology runs on a LocalCluster in this"
                            + " process only (no Storm cluster is set up by scripts/infra); use"
                            + " --master local");
        }
        String start = nonEmpty(v, "start-offsets");
        if (!start.equals("earliest") && !start.equals("latest")) {
            throw new UsageException("--start-offsets " + start + ": want earliest or latest");
        }
        o.latest = start.equals("latest");
        o.localDir = Path.of(nonEmpty(v, "checkpoint-dir")).toAbsolutePath().normalize();
        o.spoutParallelism = (int) Math.min(millis(v, "spout-parallelism", 1), 64);
        o.parallelism = (int) Math.min(millis(v, "parallelism", 1), 64);
        o.messageTimeoutSecs = (int) Math.min(millis(v, "message-timeout-secs", 1), 3600);
        o.topicWaitMs = millis(v, "topic-wait-ms", 0);
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
