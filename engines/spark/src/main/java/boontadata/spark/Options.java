package boontadata.spark;

import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The flags of run.sh: the engine contract's (docs/engines.md, "How an engine is
 * started, watched and stopped") plus the Spark-specific ones. Every value is
 * checked here, so that a job that starts can run.
 */
public final class Options implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Thrown for a bad command line; the message says what to do. */
  public static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
      super(message);
    }
  }

  public enum Mode { STRUCTURED, DSTREAM }

  public enum TimeMode { EVENT, INGESTION, PROCESSING }

  public enum Dedup { NONE, BATCH, WINDOW, WATERMARK }

  public enum Output { APPEND, UPDATE }

  public Mode mode = Mode.STRUCTURED;
  public String jobId;
  public String runId;
  public String brokers = "127.0.0.1:9092";
  public String eventsTopic = "boontadata-events";
  public String resultsTopic = "boontadata-results";
  public TimeMode time = TimeMode.EVENT;
  public boolean timeGiven;
  public long windowMs = 5000;
  public long watermarkMs = 0;
  public long latenessMs = 0;
  public long idleMs = 0;
  public Dedup dedup = Dedup.NONE;
  public long dedupHorizonMs = 0;
  public Output output = Output.APPEND;
  public long triggerMs = 5000;
  public String master = "local";
  public String checkpointDir;
  /** earliest reads the events topic from its start; latest from when the job starts. */
  public String startOffsets = "earliest";
  public int shufflePartitions = 4;
  public String executorMemory = "512m";
  public int coresMax = 2;
  public String driverHost = "127.0.0.1";
  public int resultsPartitions = 16;

  /** Flags that run.sh handles itself and passes on as well. */
  private static final Set<String> RUNNER_FLAGS = Set.of("heap", "log-level");

  public static Options parse(String[] args, Path stateDir) throws UsageException {
    Map<String, String> kv = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || a.length() == 2) {
        throw new UsageException("unexpected argument \"" + a
            + "\": flags are --name value (see run.sh --help)");
      }
      String name;
      String value;
      int eq = a.indexOf('=');
      if (eq > 0) {
        name = a.substring(2, eq);
        value = a.substring(eq + 1);
      } else {
        name = a.substring(2);
        if (i + 1 >= args.length) {
          throw new UsageException("flag --" + name + " needs a value (see run.sh --help)");
        }
        value = args[++i];
      }
      if (kv.put(name, value) != null) {
        throw new UsageException("flag --" + name + " given twice");
      }
    }
    Options o = new Options();
    for (Map.Entry<String, String> e : kv.entrySet()) {
      o.set(e.getKey(), e.getValue());
    }
    o.validate(stateDir);
    return o;
  }

  private void set(String name, String v) throws UsageException {
    switch (name) {
      case "mode" -> mode = enumValue(name, v, Mode.class, "structured, dstream");
      case "job-id" -> jobId = text(name, v);
      case "run-id" -> runId = text(name, v);
      case "brokers" -> brokers = text(name, v);
      case "events-topic" -> eventsTopic = text(name, v);
      case "results-topic" -> resultsTopic = text(name, v);
      case "time" -> {
        time = enumValue(name, v, TimeMode.class, "event, ingestion, processing");
        timeGiven = true;
      }
      case "window-ms" -> windowMs = millis(name, v, 1);
      case "watermark-ms" -> watermarkMs = millis(name, v, 0);
      case "lateness-ms" -> latenessMs = millis(name, v, 0);
      case "idle-ms" -> idleMs = millis(name, v, 0);
      case "dedup" -> dedup = enumValue(name, v, Dedup.class, "none, batch, window, watermark");
      case "dedup-horizon-ms" -> dedupHorizonMs = millis(name, v, 0);
      case "output" -> output = enumValue(name, v, Output.class, "append, update");
      case "trigger-ms" -> triggerMs = millis(name, v, 1);
      case "master" -> master = text(name, v);
      case "checkpoint-dir" -> checkpointDir = text(name, v);
      case "start-offsets" -> {
        if (!v.equals("earliest") && !v.equals("latest")) {
          throw new UsageException("--start-offsets " + v + ": want earliest or latest");
        }
        startOffsets = v;
      }
      case "shuffle-partitions" -> shufflePartitions = (int) integer(name, v, 1, 10000);
      case "executor-memory" -> executorMemory = text(name, v);
      case "cores-max" -> coresMax = (int) integer(name, v, 1, 10000);
      case "driver-host" -> driverHost = text(name, v);
      case "results-partitions" -> resultsPartitions = (int) integer(name, v, 1, 100000);
      default -> {
        if (!RUNNER_FLAGS.contains(name)) {
          throw new UsageException("unknown flag --" + name + " (see run.sh --help)");
        }
      }
    }
  }

  private void validate(Path stateDir) throws UsageException {
    if (jobId == null) {
      throw new UsageException("--job-id is required: the job id written in every result line");
    }
    if (runId == null) {
      throw new UsageException("--run-id is required: the simulator run to read");
    }
    if (jobId.indexOf('|') >= 0 || runId.indexOf('|') >= 0) {
      throw new UsageException("--job-id and --run-id cannot contain '|' (the field separator)");
    }
    if (latenessMs != 0) {
      throw new UsageException("--lateness-ms " + latenessMs + ": Spark has no allowed lateness;"
          + " its only bound on late data is the watermark delay: use --watermark-ms");
    }
    if (mode == Mode.STRUCTURED) {
      if (dedup == Dedup.BATCH || dedup == Dedup.WINDOW) {
        throw new UsageException("--dedup " + lower(dedup) + ": Structured Streaming deduplicates"
            + " across batches with state (dropDuplicates); use --dedup watermark or none,"
            + " or --mode dstream for --dedup batch");
      }
      if (dedup == Dedup.WATERMARK && dedupHorizonMs != 0 && dedupHorizonMs != watermarkMs) {
        throw new UsageException("--dedup-horizon-ms " + dedupHorizonMs + ": Spark remembers an id"
            + " either until the watermark passes its event time (dropDuplicates with the event-time"
            + " column: --dedup-horizon-ms 0) or until it passes event time + watermark delay"
            + " (dropDuplicatesWithinWatermark: --dedup-horizon-ms equal to --watermark-ms "
            + watermarkMs + ")");
      }
      if (dedup == Dedup.NONE && dedupHorizonMs != 0) {
        throw new UsageException("--dedup-horizon-ms applies to --dedup watermark only");
      }
    } else {
      if (!timeGiven) {
        time = TimeMode.PROCESSING;
      }
      if (time != TimeMode.PROCESSING) {
        throw new UsageException("--time " + lower(time) + ": a DStream job windows records by the"
            + " time of their batch (processing time); use --time processing, or --mode structured"
            + " for event or ingestion time");
      }
      if (windowMs != triggerMs) {
        throw new UsageException("--window-ms " + windowMs + " --trigger-ms " + triggerMs
            + ": the window of a DStream batch is its batch interval; give both the same value");
      }
      if (dedup == Dedup.WINDOW || dedup == Dedup.WATERMARK) {
        throw new UsageException("--dedup " + lower(dedup) + ": a DStream job keeps no state across"
            + " batches; use --dedup batch or none, or --mode structured for --dedup watermark");
      }
      if (dedupHorizonMs != 0) {
        throw new UsageException("--dedup-horizon-ms applies to --mode structured --dedup watermark");
      }
      if (output != Output.APPEND) {
        throw new UsageException("--output update: every DStream batch result is final; use"
            + " --output append, or --mode structured for update output");
      }
      if (watermarkMs != 0) {
        throw new UsageException("--watermark-ms: a DStream job has no watermark (processing time);"
            + " leave it at 0, or use --mode structured");
      }
    }
    if (checkpointDir == null) {
      checkpointDir = stateDir.resolve("checkpoints").resolve(safe(jobId)).toString();
    }
    checkpointDir = Paths.get(checkpointDir).toAbsolutePath().normalize().toString();
  }

  /** The Spark master URL: "local" is local[2], the machine's two cores. */
  public String sparkMaster() {
    return master.equals("local") ? "local[2]" : master;
  }

  public boolean isCluster() {
    return !master.startsWith("local");
  }

  public static String lower(Enum<?> e) {
    return e.name().toLowerCase();
  }

  private static String safe(String s) {
    return s.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  private static String text(String name, String v) throws UsageException {
    if (v.isEmpty()) {
      throw new UsageException("--" + name + " cannot be empty");
    }
    return v;
  }

  private static long millis(String name, String v, long min) throws UsageException {
    return integer(name, v, min, Long.MAX_VALUE / 1000);
  }

  private static long integer(String name, String v, long min, long max) throws UsageException {
    long n;
    try {
      n = Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " " + v + ": want an integer");
    }
    if (n < min || n > max) {
      throw new UsageException("--" + name + " " + v + ": want an integer from " + min + " to "
          + max);
    }
    return n;
  }

  private static <E extends Enum<E>> E enumValue(String name, String v, Class<E> type,
      String choices) throws UsageException {
    try {
      return Enum.valueOf(type, v.toUpperCase());
    } catch (IllegalArgumentException e) {
      throw new UsageException("--" + name + " " + v + ": want one of " + choices);
    }
  }
}
