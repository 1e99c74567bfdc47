package boontadata.spark;

import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes the contract's result and end lines (docs/engines.md, "What an engine
 * writes") to the results topic, from the driver: one idempotent producer,
 * acks=all; {@link #flush()} returns once Kafka acknowledged every line sent
 * so far, or throws.
 */
public final class ResultsWriter implements AutoCloseable {
  private final Options opts;
  private final KafkaProducer<String, String> producer;
  private final AtomicReference<Exception> failure = new AtomicReference<>();
  private long written;

  public ResultsWriter(Options opts) {
    this.opts = opts;
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, opts.brokers);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-spark-" + opts.jobId);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    this.producer = new KafkaProducer<>(p);
  }

  /** Formats one result line. */
  public static String resultLine(String job, String run, String device, String category,
      long windowStart, long windowEnd, long sum1, double sum2, long count, long revision,
      boolean fin, long emitTime) {
    return "result|" + job + "|" + run + "|" + device + "|" + category + "|" + windowStart + "|"
        + windowEnd + "|" + sum1 + "|" + Double.toString(sum2) + "|" + count + "|" + revision
        + "|" + (fin ? 1 : 0) + "|" + emitTime;
  }

  /** Formats the start line. */
  public static String startLine(String job, String run, long emitTime) {
    return "start|" + job + "|" + run + "|" + emitTime;
  }

  /**
   * Sends the start line (key = job id) once the job reads the events topic, so that a
   * runner may start producing the run.
   */
  public void start(long emitTime) throws Exception {
    send(opts.jobId, startLine(opts.jobId, opts.runId, emitTime));
    flush();
  }

  /** Formats the end line. */
  public static String endLine(String job, String run, long emitTime) {
    return "end|" + job + "|" + run + "|" + emitTime;
  }

  /** Sends one window's answer; key = device id. */
  public void result(String device, String category, long windowStart, long windowEnd, long sum1,
      double sum2, long count, long revision, boolean fin, long emitTime) {
    send(device, resultLine(opts.jobId, opts.runId, device, category, windowStart, windowEnd,
        sum1, sum2, count, revision, fin, emitTime));
    written++;
  }

  /**
   * Sends the end line to every partition of the results topic (key = job id), after the
   * results, and waits until Kafka acknowledged them: a reader of a partition that reads the
   * end has read every result before it.
   */
  public void end(long emitTime) throws Exception {
    flush();
    String line = endLine(opts.jobId, opts.runId, emitTime);
    for (org.apache.kafka.common.PartitionInfo p : producer.partitionsFor(opts.resultsTopic)) {
      producer.send(new ProducerRecord<>(opts.resultsTopic, p.partition(), opts.jobId, line), (md, err) -> {
        if (err != null) {
          failure.compareAndSet(null, err);
        }
      });
    }
    flush();
  }

  public long written() {
    return written;
  }

  private void send(String key, String line) {
    producer.send(new ProducerRecord<>(opts.resultsTopic, key, line), (md, err) -> {
      if (err != null) {
        failure.compareAndSet(null, err);
      }
    });
  }

  /** Waits for every line sent so far; throws the first failure. */
  public void flush() throws Exception {
    producer.flush();
    Exception e = failure.get();
    if (e != null) {
      throw new Exception("write to results topic " + opts.resultsTopic + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    producer.close(java.time.Duration.ofSeconds(10));
  }
}
