package boontadata.storm;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichBolt;
import org.apache.storm.tuple.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The end of the run (one task, {@code globalGrouping}): every aggregation task reports each
 * partition whose end-of-run marker it received, after it wrote that partition's final lines and
 * flushed its producer. Once every (aggregation task, partition) pair reported, every result of
 * the run is in Kafka: the bolt writes the {@code end} line (acks=all, synchronously) and tells
 * the process, which kills the topology. The end line goes to every partition of the results
 * topic (key = job id).
 */
final class EndBolt extends BaseRichBolt {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EndBolt.class);

    private final String jobId;
    private final String runId;
    private final String brokers;
    private final String resultsTopic;
    private final int partitions;
    private transient OutputCollector out;
    private transient int aggregators;
    private transient Set<Long> done;
    private transient boolean ended;

    EndBolt(String jobId, String runId, String brokers, String resultsTopic, int partitions) {
        this.jobId = jobId;
        this.runId = runId;
        this.brokers = brokers;
        this.resultsTopic = resultsTopic;
        this.partitions = partitions;
    }

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector collector) {
        this.out = collector;
        this.aggregators = context.getComponentTasks(StormJob.AGGREGATE).size();
        this.done = new HashSet<>();
    }

    @Override
    public void execute(Tuple t) {
        int task = t.getIntegerByField("task");
        int p = t.getIntegerByField("partition");
        out.ack(t);
        if (p >= partitions) {
            LOG.warn(
                    "end-of-run marker from partition {}, beyond the {} partitions the events topic"
                            + " had at start; not counted",
                    p,
                    partitions);
            return;
        }
        done.add(((long) task << 32) | p);
        if (ended || done.size() < (long) aggregators * partitions) {
            return;
        }
        ended = true;
        LOG.info(
                "run {}: the end-of-run markers of all {} partitions arrived and the {} aggregation"
                        + " tasks wrote their finals",
                runId,
                partitions,
                aggregators);
        Properties pr = new Properties();
        pr.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        pr.put(ProducerConfig.ACKS_CONFIG, "all");
        pr.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-storm-" + jobId + "-end");
        String line = "end|" + jobId + "|" + runId + "|" + System.currentTimeMillis();
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(pr, new StringSerializer(), new StringSerializer())) {
            // on every partition of the results topic (key = job id), after the results written
            // there: every aggregation task flushed its producer before it reported
            int n = producer.partitionsFor(resultsTopic).size();
            List<Future<?>> sends = new ArrayList<>();
            for (int rp = 0; rp < n; rp++) {
                sends.add(producer.send(new ProducerRecord<>(resultsTopic, rp, jobId, line)));
            }
            for (Future<?> f : sends) {
                f.get(30, TimeUnit.SECONDS);
            }
            Stats.END_LINE.set(line);
        } catch (Exception e) {
            LOG.error("cannot write the end line to {}: {}", resultsTopic, e.toString());
        }
        Stats.ENDED.countDown();
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {}
}
