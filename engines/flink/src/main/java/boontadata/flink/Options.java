package boontadata.flink;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** The flags of docs/engines.md (engine contract) and the Flink job's own ones. */
final class Options {
    /** A flag that is missing, unknown or has a value the job cannot honour. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

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
        DEFAULTS.put("checkpoint-dir", ".state/engines/flink/checkpoints");
        DEFAULTS.put("start-offsets", "earliest");
        DEFAULTS.put("heap", "1g"); // read by run.sh
        // Flink job's own
        DEFAULTS.put("parallelism", "2");
        DEFAULTS.put("checkpoint-interval-ms", "1000");
        DEFAULTS.put("jar", "");
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
    String master;
    String remoteHost;
    int remotePort;
    Path checkpointDir;
    /** earliest reads the events topic from its start; latest from its end offsets at submission. */
    String startOffsets;
    int parallelism;
    long checkpointIntervalMs;
    String jar;
    long topicWaitMs;

    boolean eventTime() {
        return !time.equals("processing");
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
            case "window":
                o.dedup = true;
                break;
            case "batch":
                throw new UsageException(
                        "--dedup batch: Flink's DataStream job has no micro-batches; use --dedup"
                                + " window (within the window, as Flink does) or none");
            case "watermark":
                throw new UsageException(
                        "--dedup watermark: not implemented by the Flink job; use --dedup window"
                                + " (within the window) or none");
            default:
                throw new UsageException("--dedup " + dedup + ": want none or window");
        }
        o.dedupHorizonMs = millis(v, "dedup-horizon-ms", 0);
        String output = v.get("output");
        if (!output.equals("append") && !output.equals("update")) {
            throw new UsageException("--output " + output + ": want append or update");
        }
        o.update = output.equals("update");
        o.triggerMs = millis(v, "trigger-ms", 1);
        o.master = nonEmpty(v, "master");
        if (!o.master.equals("local")) {
            int colon = o.master.lastIndexOf(':');
            if (colon <= 0) {
                throw new UsageException(
                        "--master " + o.master + ": want local or HOST:PORT of a Flink session"
                                + " cluster's REST endpoint (e.g. 127.0.0.1:8081)");
            }
            o.remoteHost = o.master.substring(0, colon);
            try {
                o.remotePort = Integer.parseInt(o.master.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new UsageException("--master " + o.master + ": the port is not a number");
            }
        }
        o.checkpointDir = Path.of(nonEmpty(v, "checkpoint-dir")).toAbsolutePath().normalize();
        o.startOffsets = nonEmpty(v, "start-offsets");
        if (!o.startOffsets.equals("earliest") && !o.startOffsets.equals("latest")) {
            throw new UsageException("--start-offsets " + o.startOffsets + ": want earliest or latest");
        }
        long p = millis(v, "parallelism", 1);
        if (p > 512) {
            throw new UsageException("--parallelism " + p + ": at most 512");
        }
        o.parallelism = (int) p;
        o.checkpointIntervalMs = millis(v, "checkpoint-interval-ms", 0);
        if (o.checkpointIntervalMs > 0 && o.checkpointIntervalMs < 10) {
            throw new UsageException("--checkpoint-interval-ms: 0 (off) or at least 10");
        }
        o.jar = v.get("jar");
        if (!o.master.equals("local") && o.jar.isEmpty()) {
            throw new UsageException("--master " + o.master + " needs --jar (run.sh passes it)");
        }
        o.topicWaitMs = millis(v, "topic-wait-ms", 0);
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
