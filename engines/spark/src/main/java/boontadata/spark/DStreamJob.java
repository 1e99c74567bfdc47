package boontadata.spark;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.streaming.Durations;
import org.apache.spark.streaming.Time;
import org.apache.spark.streaming.api.java.JavaInputDStream;
import org.apache.spark.streaming.api.java.JavaStreamingContext;
import org.apache.spark.streaming.kafka010.CanCommitOffsets;
import org.apache.spark.streaming.kafka010.ConsumerStrategies;
import org.apache.spark.streaming.kafka010.HasOffsetRanges;
import org.apache.spark.streaming.kafka010.KafkaUtils;
import org.apache.spark.streaming.kafka010.LocationStrategies;
import org.apache.spark.streaming.kafka010.OffsetRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The Spark Streaming (DStream) job: the real counterpart of the {@code dstream}
 * preset (docs/engine.md), as the original boontadata Spark job.
 *
 * <p>A direct Kafka stream (spark-streaming-kafka-0-10,
 * https://spark.apache.org/docs/latest/streaming-kafka-0-10-integration.html)
 * with a batch interval of --trigger-ms. Each batch: run filter, skip control
 * and poison records, dedup by message id within the batch (--dedup batch),
 * aggregate by (device, category), and emit the aggregates as the final
 * answer of the window [batchTime - interval, batchTime).
 *
 * <p>Batch times are multiples of the interval since the epoch: JobGenerator
 * starts its RecurringTimer at {@code timer.getStartTime()}, which is
 * {@code (floor(now / period) + 1) * period}, and the timer then fires every
 * period (spark-streaming, org/apache/spark/streaming/scheduler/JobGenerator.scala
 * startFirstTime, org/apache/spark/streaming/util/RecurringTimer.scala
 * getStartTime and loop). The batch of time T holds the records that Kafka
 * had when the batch was generated at T (DirectKafkaInputDStream.compute reads
 * up to the latest offsets), i.e. the records that arrived during the interval
 * ending at T: that interval is the window.
 */
public final class DStreamJob {
  private static final Logger LOG = LoggerFactory.getLogger(DStreamJob.class);

  private final Options opts;
  private final JavaSparkContext sc;
  private final ResultsWriter out;
  private final Topics topics;
  private final EndOfRun eor;
  private final Main.Stop stop;

  private final AtomicBoolean ended = new AtomicBoolean(false);
  private final AtomicReference<Exception> failure = new AtomicReference<>();
  private final AtomicLong events = new AtomicLong();
  private final AtomicLong poison = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();

  DStreamJob(Options opts, JavaSparkContext sc, ResultsWriter out, Topics topics, EndOfRun eor,
      Main.Stop stop) {
    this.opts = opts;
    this.sc = sc;
    this.out = out;
    this.topics = topics;
    this.eor = eor;
    this.stop = stop;
  }

  /** One classified record of the job's run. */
  static final class Item implements Serializable {
    private static final long serialVersionUID = 1L;
    static final byte EVENT = 0;
    static final byte POISON = 1;
    static final byte MARKER = 2;

    byte kind;
    int partition;
    long offset;
    WireFormat.Event event;
  }

  /** Sums of one (device, category) in one batch. */
  static final class Agg implements Serializable {
    private static final long serialVersionUID = 1L;
    long sum1;
    double sum2;
    long count;

    static Agg of(WireFormat.Event e) {
      Agg a = new Agg();
      a.sum1 = e.measure1;
      a.sum2 = e.measure2;
      a.count = 1;
      return a;
    }

    static Agg merge(Agg a, Agg b) {
      Agg r = new Agg();
      r.sum1 = a.sum1 + b.sum1; // wraps on overflow, as the Go engine's int64 sum
      r.sum2 = a.sum2 + b.sum2;
      r.count = a.count + b.count;
      return r;
    }
  }

  static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /** Classifies the records of one Kafka partition of a batch (runs on executors). */
  static Iterator<Item> classify(Iterator<ConsumerRecord<byte[], byte[]>> it, String runId) {
    List<Item> items = new ArrayList<>();
    while (it.hasNext()) {
      ConsumerRecord<byte[], byte[]> r = it.next();
      if (!runId.equals(header(r, Contract.HEADER_RUN_ID))) {
        continue; // another run
      }
      Item item = new Item();
      item.partition = r.partition();
      item.offset = r.offset();
      String control = header(r, Contract.HEADER_CONTROL);
      if (control != null) {
        if (!Contract.CONTROL_END_OF_RUN.equals(control)) {
          continue; // a control record is never an event
        }
        item.kind = Item.MARKER;
      } else {
        item.event = WireFormat.parse(r.value());
        item.kind = item.event == null ? Item.POISON : Item.EVENT;
      }
      items.add(item);
    }
    return items.iterator();
  }

  private void processBatch(JavaRDD<ConsumerRecord<byte[], byte[]>> rdd, Time time,
      JavaInputDStream<ConsumerRecord<byte[], byte[]>> stream) throws Exception {
    OffsetRange[] ranges = ((HasOffsetRanges) rdd.rdd()).offsetRanges();
    final String runId = opts.runId;
    JavaRDD<Item> items = rdd.mapPartitions(it -> classify(it, runId));
    items.persist(StorageLevel.MEMORY_AND_DISK());
    try {
      // Control information: markers and poison records (a few rows).
      List<Item> control = items.filter(i -> i.kind != Item.EVENT)
          .map(i -> {
            Item c = new Item();
            c.kind = i.kind;
            c.partition = i.partition;
            c.offset = i.offset;
            return c;
          }).collect();

      JavaRDD<Item> evs = items.filter(i -> i.kind == Item.EVENT);
      long before = 0;
      if (opts.dedup == Options.Dedup.BATCH) {
        before = evs.count();
        // Within the batch, one copy per message id: the first in (partition, offset).
        evs = evs.mapToPair(i -> new Tuple2<>(i.event.messageId, i))
            .reduceByKey((a, b) -> a.partition < b.partition
                || (a.partition == b.partition && a.offset <= b.offset) ? a : b,
                opts.shufflePartitions)
            .values();
      }
      List<Tuple2<Tuple2<String, String>, Agg>> groups = evs
          .mapToPair(i -> new Tuple2<>(new Tuple2<>(i.event.deviceId, i.event.category),
              Agg.of(i.event)))
          .reduceByKey(Agg::merge, opts.shufflePartitions)
          .collect();

      long batchTime = time.milliseconds();
      long windowStart = batchTime - opts.triggerMs;
      long emit = System.currentTimeMillis();
      long n = 0;
      for (Tuple2<Tuple2<String, String>, Agg> g : groups) {
        Agg a = g._2();
        out.result(g._1()._1(), g._1()._2(), windowStart, batchTime, a.sum1, a.sum2, a.count,
            a.count, true, emit);
        n += a.count;
      }
      out.flush();
      events.addAndGet(opts.dedup == Options.Dedup.BATCH ? before : n);
      duplicates.addAndGet(opts.dedup == Options.Dedup.BATCH ? before - n : 0);

      int markers = 0;
      long bad = 0;
      for (Item c : control) {
        if (c.kind == Item.MARKER) {
          eor.marker(c.partition, c.offset, batchTime);
          markers++;
        } else {
          bad++;
        }
      }
      poison.addAndGet(bad);
      if (!groups.isEmpty() || !control.isEmpty()) {
        LOG.info("batch {}: window [{}, {}): {} result line(s), {} event(s) counted, {} poison,"
            + " {} end-of-run marker(s) ({} partition(s) ended)", batchTime, windowStart,
            batchTime, groups.size(), n, bad, markers, eor.count());
      }
    } finally {
      items.unpersist(false);
    }

    // At-least-once: offsets are committed to Kafka once the batch's results are out
    // ("Kafka itself" in the integration guide, CanCommitOffsets.commitAsync).
    ((CanCommitOffsets) stream.inputDStream()).commitAsync(ranges);

    // Every partition delivered the run's marker in this or an earlier batch, and
    // batches run one after the other (spark.streaming.concurrentJobs = 1): every
    // record before the markers is counted and its result written.
    if (!ended.get() && eor.count() > 0 && eor.complete(topics.partitions(opts.eventsTopic))) {
      out.end(System.currentTimeMillis());
      eor.markEnded();
      ended.set(true);
      LOG.info("end written after batch {}: {} event(s) ({} dropped as duplicates within"
          + " their batch), {} poison record(s) of run {}, {} result line(s)", time.milliseconds(),
          events.get(), duplicates.get(), poison.get(), opts.runId, out.written());
    }
  }

  /**
   * Runs the job until the end of the run's input; returns the process exit code.
   * DStreams are deprecated since Spark 3.4 ("Migrate to Structured Streaming") and
   * still ship in Spark 4: this job is the bench's reference for their semantics.
   */
  @SuppressWarnings("deprecation")
  int run() throws Exception {
    Map<String, Object> kafka = new HashMap<>();
    kafka.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, opts.brokers);
    kafka.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    kafka.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    kafka.put(ConsumerConfig.GROUP_ID_CONFIG, "boontadata-spark-" + opts.jobId);
    kafka.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, opts.startOffsets);
    kafka.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    kafka.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);

    JavaStreamingContext ssc = new JavaStreamingContext(sc, Durations.milliseconds(opts.triggerMs));
    JavaInputDStream<ConsumerRecord<byte[], byte[]>> stream = KafkaUtils.createDirectStream(ssc,
        LocationStrategies.PreferConsistent(),
        ConsumerStrategies.<byte[], byte[]>Subscribe(List.of(opts.eventsTopic), kafka));
    stream.foreachRDD((rdd, time) -> {
      try {
        processBatch(rdd, time, stream);
      } catch (Exception e) {
        failure.compareAndSet(null, e);
        throw e;
      }
    });
    ssc.start();
    out.start(System.currentTimeMillis());
    LOG.info("DStream job started: run {}, topic {}, batch interval {} ms, dedup {}, consumer"
        + " group boontadata-spark-{}", opts.runId, opts.eventsTopic, opts.triggerMs,
        Options.lower(opts.dedup), opts.jobId);

    while (!ended.get()) {
      if (stop.requested()) {
        LOG.warn("stop requested: stopping without writing end");
        ssc.stop(true, false);
        return 0;
      }
      if (failure.get() != null) {
        ssc.stop(true, false);
        throw new Exception("a batch failed: " + failure.get().getMessage(), failure.get());
      }
      if (ssc.awaitTerminationOrTimeout(200)) {
        throw new Exception("the streaming context stopped before the end of the run's input");
      }
    }
    // Graceful stop: the batches already generated are processed first
    // (StreamingContext.stop(stopSparkContext, stopGracefully)); they hold no record
    // of the run, which ended on every partition.
    ssc.stop(true, true);
    return 0;
  }
}
