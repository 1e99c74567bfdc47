package boontadata.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.collect_list;
import static org.apache.spark.sql.functions.concat_ws;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.count_if;
import static org.apache.spark.sql.functions.current_timestamp;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.timestamp_millis;
import static org.apache.spark.sql.functions.udf;
import static org.apache.spark.sql.functions.unix_millis;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.window;

import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.StreamingQueryProgress;
import org.apache.spark.sql.streaming.Trigger;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Structured Streaming job: the real counterpart of the {@code structured}
 * preset (docs/engine.md).
 *
 * <pre>
 * Kafka source (includeHeaders, earliest)
 *   -> run filter -> observe(events, poison, end-of-run markers)
 *   -> skip control and poison records -> event time column
 *   -> withWatermark(event_time, --watermark-ms)
 *   -> [dropDuplicates(message_id, event_time) | dropDuplicatesWithinWatermark(message_id)]
 *   -> groupBy(window(event_time, --window-ms), device_id, category)
 *        .agg(sum(measure1), sum(measure2), count(*))
 *   -> foreachBatch: result lines to the results topic
 * </pre>
 *
 * Guide: https://spark.apache.org/docs/latest/streaming/apis-on-dataframes-and-datasets.html
 */
public final class StructuredJob {
  private static final Logger LOG = LoggerFactory.getLogger(StructuredJob.class);
  private static final String METRICS = "boontadata";

  private final Options opts;
  private final SparkSession spark;
  private final ResultsWriter out;
  private final Topics topics;
  private final EndOfRun eor;
  private final Main.Stop stop;

  private final AtomicLong lastCompletedBatch = new AtomicLong(-1);
  private final java.util.concurrent.atomic.AtomicBoolean started =
      new java.util.concurrent.atomic.AtomicBoolean(false);
  private final AtomicLong events = new AtomicLong();
  private final AtomicLong poison = new AtomicLong();
  private volatile java.util.UUID queryId;

  StructuredJob(Options opts, SparkSession spark, ResultsWriter out, Topics topics, EndOfRun eor,
      Main.Stop stop) {
    this.opts = opts;
    this.spark = spark;
    this.out = out;
    this.topics = topics;
    this.eor = eor;
    this.stop = stop;
  }

  /** The parsed event, or null for a poison record. */
  static final StructType EVENT = new StructType()
      .add("message_id", DataTypes.StringType, false)
      .add("device_id", DataTypes.StringType, false)
      .add("device_time", DataTypes.LongType, false)
      .add("category", DataTypes.StringType, false)
      .add("measure1", DataTypes.LongType, false)
      .add("measure2", DataTypes.DoubleType, false);

  /** The wire format parser as a Spark UDF (runs on executors). */
  static final class Parse implements UDF1<byte[], Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public Row call(byte[] value) {
      WireFormat.Event e = WireFormat.parse(value);
      if (e == null) {
        return null;
      }
      return RowFactory.create(e.messageId, e.deviceId, e.deviceTime, e.category, e.measure1,
          e.measure2);
    }
  }

  /** The text value of a record header, or null; headers is array<struct<key,value>>. */
  static Column header(String name) {
    return expr("get(filter(headers, h -> h.key = '" + name + "'), 0).value").cast("string");
  }

  /** Builds the streaming aggregation (a streaming DataFrame of window results). */
  Dataset<Row> plan() {
    // Kafka source: https://spark.apache.org/docs/latest/streaming/structured-streaming-kafka-integration.html
    // includeHeaders=true adds the headers column; earliest reads the topic from its start.
    Dataset<Row> raw = spark.readStream().format("kafka")
        .option("kafka.bootstrap.servers", opts.brokers)
        .option("subscribe", opts.eventsTopic)
        .option("startingOffsets", opts.startOffsets)
        .option("includeHeaders", "true")
        .load();

    // Run filter first: records of other runs never reach the watermark or the state.
    Dataset<Row> ours = raw.select(col("partition"), col("offset"),
            col("timestamp").as("kafka_time"), col("value"),
            header(Contract.HEADER_RUN_ID).as("run_id"),
            header(Contract.HEADER_CONTROL).as("control"),
            header(Contract.HEADER_INGEST_TIME).as("ingest_time"))
        .where(col("run_id").equalTo(lit(opts.runId)));

    UserDefinedFunction parse = udf(new Parse(), EVENT);
    Dataset<Row> classified = ours.withColumn("ev",
        when(col("control").isNull(), parse.apply(col("value"))));

    // Observed metrics are computed on the rows of each micro-batch and reported in
    // that batch's StreamingQueryProgress.observedMetrics once the batch completed
    // (Dataset.observe, https://spark.apache.org/docs/latest/api/java/org/apache/spark/sql/Dataset.html,
    // and "Reporting Metrics programmatically using Asynchronous APIs" in the guide):
    // the end-of-run markers are found in the very batches that Spark aggregates.
    Column isEvent = col("control").isNull();
    classified = classified.observe(METRICS,
        count_if(isEvent.and(col("ev").isNotNull())).as("events"),
        count_if(isEvent.and(col("ev").isNull())).as("poison"),
        collect_list(when(col("control").equalTo(lit(Contract.CONTROL_END_OF_RUN)),
            concat_ws(":", col("partition").cast("string"), col("offset").cast("string"))))
            .as("markers"));

    Column eventTime = switch (opts.time) {
      case EVENT -> timestamp_millis(col("ev.device_time"));
      // The ingest gateway's stamp; the record timestamp carries the same instant.
      case INGESTION -> expr("coalesce(timestamp_millis(try_cast(ingest_time as bigint)),"
          + " kafka_time)");
      // current_timestamp() is the batch's trigger time in a streaming query.
      case PROCESSING -> current_timestamp();
    };

    Dataset<Row> evs = classified
        .where(isEvent.and(col("ev").isNotNull()))
        .select(col("ev.message_id").as("message_id"), col("ev.device_id").as("device_id"),
            col("ev.category").as("category"), col("ev.measure1").as("measure1"),
            col("ev.measure2").as("measure2"), eventTime.as("event_time"))
        // https://spark.apache.org/docs/latest/streaming/apis-on-dataframes-and-datasets.html#handling-late-data-and-watermarking
        .withWatermark("event_time", opts.watermarkMs + " milliseconds");

    if (opts.dedup == Options.Dedup.WATERMARK) {
      if (opts.dedupHorizonMs == 0) {
        // "With watermark - ... deduplicate using both the guid and the event time
        // columns. The query will use the watermark to remove old state data from past
        // records that are not expected to get any duplicates any more." (guide,
        // #streaming-deduplication). An id is remembered until the watermark passes its
        // event time, and a record whose event time is at or below the watermark is
        // dropped as late ("too late data older than watermark will be dropped",
        // Dataset.dropDuplicates): "until the watermark", as the structured preset.
        // (Since Spark 3.4 the late filter of batch N uses the watermark of batch N-1,
        // eviction that of batch N: WatermarkPropagator.getInputWatermarkForLateEvents.)
        // A re-sent event carries the same device time, so copies share the key.
        evs = evs.dropDuplicates("message_id", "event_time");
      } else {
        // dropDuplicatesWithinWatermark (Spark 3.5+): "Events are deduplicated as long as
        // the time distance of earliest and latest events are smaller than the delay
        // threshold of watermark"; the state of an id expires when the watermark reaches
        // its first event time + delay (StreamingDeduplicateWithinWatermarkExec), i.e. a
        // horizon equal to --watermark-ms.
        evs = evs.dropDuplicatesWithinWatermark("message_id");
      }
    }

    // Tumbling window: window(timeColumn, windowDuration), windows aligned on the epoch
    // ("Window Operations on Event Time" in the guide).
    return evs.groupBy(window(col("event_time"), opts.windowMs + " milliseconds"),
            col("device_id"), col("category"))
        .agg(sum("measure1").as("sum1"), sum("measure2").as("sum2"), count(lit(1)).as("cnt"))
        .select(unix_millis(col("window.start")).as("window_start"),
            unix_millis(col("window.end")).as("window_end"), col("device_id"), col("category"),
            col("sum1"), col("sum2"), col("cnt"));
  }

  /** Writes one micro-batch's window results; runs on the driver. */
  private void writeBatch(Dataset<Row> batch, long batchId) throws Exception {
    List<Row> rows = batch.collectAsList();
    long emit = System.currentTimeMillis();
    boolean fin = opts.output == Options.Output.APPEND;
    for (Row r : rows) {
      long cnt = r.getLong(6);
      // REVISION = the number of records aggregated into the window: it grows with
      // each new answer of a window, as the project's own engine counts revisions.
      out.result(r.getString(2), r.getString(3), r.getLong(0), r.getLong(1),
          r.isNullAt(4) ? 0 : r.getLong(4), r.isNullAt(5) ? 0.0 : r.getDouble(5), cnt, cnt, fin,
          emit);
    }
    out.flush();
    if (!rows.isEmpty()) {
      LOG.info("batch {}: {} result line(s) written", batchId, rows.size());
    }
  }

  private final class Listener extends StreamingQueryListener {
    @Override
    public void onQueryStarted(QueryStartedEvent event) {}

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
      StreamingQueryProgress p = event.progress();
      if (queryId == null || !queryId.equals(p.id())) {
        return;
      }
      if (started.compareAndSet(false, true)) {
        // The first trigger ran: the query reads the events topic.
        try {
          out.start(System.currentTimeMillis());
        } catch (Exception ex) {
          LOG.error("cannot write the start line: {}", ex.toString());
        }
      }
      Row m = p.observedMetrics().get(METRICS);
      if (m != null) {
        long e = m.getLong(m.fieldIndex("events"));
        long bad = m.getLong(m.fieldIndex("poison"));
        List<String> markers = m.getList(m.fieldIndex("markers"));
        events.addAndGet(e);
        poison.addAndGet(bad);
        for (String s : markers) {
          int colon = s.indexOf(':');
          try {
            eor.marker(Integer.parseInt(s.substring(0, colon)),
                Long.parseLong(s.substring(colon + 1)), p.batchId());
          } catch (java.io.IOException ex) {
            LOG.error("cannot record end-of-run marker {}: {}", s, ex.toString());
          }
        }
        if (e > 0 || bad > 0 || !markers.isEmpty()) {
          LOG.info("batch {}: {} event(s), {} poison, {} end-of-run marker(s) ({} partition(s)"
              + " ended), watermark {}", p.batchId(), e, bad, markers.size(), eor.count(),
              p.eventTime().get("watermark"));
        }
      }
      // Spark 4 posts QueryProgressEvent for executed batches only (a trigger that runs
      // no batch updates lastProgress and posts QueryIdleEvent at most):
      // ProgressReporter.updateProgress vs updateIdleness.
      lastCompletedBatch.accumulateAndGet(p.batchId(), Math::max);
    }

    @Override
    public void onQueryTerminated(QueryTerminatedEvent event) {}
  }

  /** Runs the job until the end of the run's input; returns the process exit code. */
  int run() throws Exception {
    spark.streams().addListener(new Listener());
    Dataset<Row> results = plan();
    String mode = opts.output == Options.Output.APPEND ? "append" : "update";
    StreamingQuery query = results.writeStream()
        .queryName("boontadata-" + opts.jobId)
        // https://spark.apache.org/docs/latest/streaming/apis-on-dataframes-and-datasets.html#output-modes
        .outputMode(mode)
        // Micro-batches at multiples of the interval since the epoch
        // (ProcessingTimeExecutor.nextBatchTime: now / interval * interval + interval).
        .trigger(Trigger.ProcessingTime(opts.triggerMs, TimeUnit.MILLISECONDS))
        .option("checkpointLocation", Paths.get(opts.checkpointDir, "query").toString())
        // https://spark.apache.org/docs/latest/streaming/apis-on-dataframes-and-datasets.html#foreachbatch
        .foreachBatch((VoidFunction2<Dataset<Row>, Long>) this::writeBatch)
        .start();
    queryId = query.id();
    LOG.info("structured streaming query {} started: run {}, topic {}, window {} ms, watermark"
        + " {} ms, dedup {}, output {}, trigger {} ms, checkpoint {}", query.id(), opts.runId,
        opts.eventsTopic, opts.windowMs, opts.watermarkMs, Options.lower(opts.dedup), mode,
        opts.triggerMs, opts.checkpointDir);

    // 1. Every partition delivered the run's end-of-run marker in a completed batch:
    //    every record before the markers was processed (Kafka keeps the order of a
    //    partition and a batch reads a contiguous offset range of each partition).
    while (!eor.complete(eor.count() > 0 ? topics.partitions(opts.eventsTopic) : 0)) {
      if (stop.requested()) {
        return stopWithoutEnd(query);
      }
      checkAlive(query);
      stop.await(200);
    }
    long markerBatch = eor.lastMarkerBatch();
    LOG.info("end-of-run marker seen on all {} partition(s), the last in batch {}; waiting for"
        + " the next batch or for the query to be idle", eor.count(), markerBatch);

    // 2. One more batch: the watermark computed from the last batch with data is used
    //    by the next one, which evicts (and in append mode emits) what it closes; Spark
    //    runs such a no-data batch when the state needs it
    //    (spark.sql.streaming.noDataMicroBatches.enabled, MicroBatchExecution
    //    .constructNextBatch). processAllAvailable() returns once a trigger found no
    //    new data and no batch to run; on a busy topic the next batch is enough.
    AtomicBoolean idle = new AtomicBoolean(false);
    Thread waiter = new Thread(() -> {
      try {
        query.processAllAvailable();
        idle.set(true);
      } catch (Exception e) {
        LOG.debug("processAllAvailable: {}", e.toString());
      }
    }, "boontadata-idle-wait");
    waiter.setDaemon(true);
    waiter.start();
    while (!idle.get() && lastCompletedBatch.get() <= markerBatch) {
      if (stop.requested()) {
        return stopWithoutEnd(query);
      }
      checkAlive(query);
      stop.await(100);
    }
    if (lastCompletedBatch.get() > markerBatch) {
      LOG.info("batch {} completed after the last marker", lastCompletedBatch.get());
    } else {
      LOG.info("the query is idle: no batch was needed after the last marker");
    }

    // 3. The end line, after every result line was acknowledged.
    out.end(System.currentTimeMillis());
    eor.markEnded();
    LOG.info("end written: {} event(s), {} poison record(s) of run {}, {} result line(s);"
        + " stopping the query", events.get(), poison.get(), opts.runId, out.written());
    query.stop();
    return 0;
  }

  private void checkAlive(StreamingQuery query) throws Exception {
    if (!query.isActive()) {
      if (query.exception().isDefined()) {
        throw new Exception("the streaming query failed: " + query.exception().get().getMessage(),
            query.exception().get());
      }
      throw new Exception("the streaming query stopped before the end of the run's input");
    }
  }

  private int stopWithoutEnd(StreamingQuery query) throws Exception {
    LOG.warn("stop requested: stopping the query without writing end");
    query.stop();
    return 0;
  }
}
