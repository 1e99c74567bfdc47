package boontadata.spark;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point of the boontadata Spark engine (engines/spark/run.sh): parses the
 * flags, starts Spark in local mode or against a standalone master, and runs
 * the Structured Streaming or the DStream job until the end of the run's
 * input. Exit code 0 after the end line or after SIGTERM/SIGINT, 2 for a bad
 * command line, 1 for any failure.
 */
public final class Main {
  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  private Main() {}

  /** A stop request from SIGTERM or SIGINT. */
  static final class Stop {
    private final CountDownLatch latch = new CountDownLatch(1);

    void request() {
      latch.countDown();
    }

    boolean requested() {
      return latch.getCount() == 0;
    }

    void await(long ms) throws InterruptedException {
      latch.await(ms, TimeUnit.MILLISECONDS);
    }
  }

  public static void main(String[] args) {
    Path stateDir = Paths.get(System.getProperty("boontadata.spark.state",
        ".state/engines/spark")).toAbsolutePath();
    Options opts;
    try {
      opts = Options.parse(args, stateDir);
    } catch (Options.UsageException e) {
      System.err.println("spark engine: " + e.getMessage());
      System.exit(2);
      return;
    }
    int code;
    try {
      code = run(opts);
    } catch (Throwable t) {
      LOG.error("job {} failed: {}", opts.jobId, t.toString(), t);
      String msg = String.valueOf(t.getMessage());
      int nl = msg.indexOf('\n');
      System.err.println("spark engine: job " + opts.jobId + " failed: "
          + (nl > 0 ? msg.substring(0, nl) : msg) + " (details above and in the log file)");
      code = 1;
    }
    System.exit(code);
  }

  static SparkConf conf(Options opts) {
    SparkConf c = new SparkConf()
        .setMaster(opts.sparkMaster())
        .setAppName("boontadata-spark-" + Options.lower(opts.mode) + "-" + opts.jobId)
        .set("spark.ui.enabled", "false")
        .set("spark.driver.host", opts.driverHost)
        .set("spark.driver.bindAddress", opts.driverHost)
        // Few shuffle partitions: the aggregation state is small and the machine has
        // two cores (one task per state store partition in every micro-batch).
        .set("spark.sql.shuffle.partitions", Integer.toString(opts.shufflePartitions))
        // sum() of a bigint wraps on overflow like the Go engine's int64 sum instead
        // of failing the query (spark.sql.ansi.enabled, true by default in Spark 4).
        .set("spark.sql.ansi.enabled", "false")
        // Adaptive query execution does not apply to streaming queries (Spark disables
        // it there and warns); off from the start.
        .set("spark.sql.adaptive.enabled", "false")
        .set("spark.sql.session.timeZone", "UTC");
    if (opts.isCluster()) {
      String jars = System.getProperty("boontadata.spark.jars", "");
      if (jars.isEmpty()) {
        throw new IllegalStateException("cluster mode needs the job's jars in"
            + " -Dboontadata.spark.jars (run.sh sets it)");
      }
      // Client mode: the driver runs here; executors fetch the app jar and the
      // Kafka connector jars from the driver (spark.jars).
      c.set("spark.jars", jars)
          .set("spark.executor.memory", opts.executorMemory)
          .set("spark.cores.max", Integer.toString(opts.coresMax));
    }
    return c;
  }

  static int run(Options opts) throws Exception {
    Stop stop = new Stop();
    EndOfRun eor = new EndOfRun(Paths.get(opts.checkpointDir));
    try (Topics topics = new Topics(opts.brokers); ResultsWriter out = new ResultsWriter(opts)) {
      topics.ensure(opts.resultsTopic, opts.resultsPartitions);
      if (eor.ended()) {
        LOG.warn("job {} already ended (state in {}): writing end again", opts.jobId,
            opts.checkpointDir);
        out.end(System.currentTimeMillis());
        return 0;
      }
      long t0 = System.nanoTime();
      SparkSession spark = SparkSession.builder().config(conf(opts)).getOrCreate();
      LOG.info("Spark {} started in {} ms, master {}", spark.version(),
          (System.nanoTime() - t0) / 1_000_000, opts.sparkMaster());
      installSignalHandlers(stop);
      try {
        // Spark's Kafka sources fail on a topic that does not exist: wait for the
        // producer of the run to create it.
        if (!awaitTopic(opts, topics, stop)) {
          return 0;
        }
        return switch (opts.mode) {
          case STRUCTURED -> new StructuredJob(opts, spark, out, topics, eor, stop).run();
          case DSTREAM -> new DStreamJob(opts, JavaSparkContext.fromSparkContext(
              spark.sparkContext()), out, topics, eor, stop).run();
        };
      } finally {
        spark.stop();
      }
    }
  }

  private static boolean awaitTopic(Options opts, Topics topics, Stop stop) throws Exception {
    boolean said = false;
    while (topics.partitions(opts.eventsTopic) == 0) {
      if (!said) {
        LOG.info("waiting for topic {} to exist", opts.eventsTopic);
        said = true;
      }
      if (stop.requested()) {
        return false;
      }
      stop.await(500);
    }
    return true;
  }

  /**
   * SIGTERM and SIGINT stop consuming and end the process with 0, without the
   * end line (docs/engines.md); the JVM's default would exit with 143/130.
   */
  private static void installSignalHandlers(Stop stop) {
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
          System.err.println("spark engine: SIG" + name + " received, stopping");
          stop.request();
        });
      } catch (IllegalArgumentException e) {
        LOG.warn("cannot handle SIG{}: {}", name, e.toString());
      }
    }
  }
}
