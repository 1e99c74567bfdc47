package boontadata.storm;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.storm.Config;
import org.apache.storm.LocalCluster;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.kafka.spout.FirstPollOffsetStrategy;
import org.apache.storm.kafka.spout.KafkaSpout;
import org.apache.storm.kafka.spout.KafkaSpoutConfig;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.tuple.Fields;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * boontadata's Apache Storm topology behind the engine contract (docs/engines.md, section
 * "Storm").
 *
 * <pre>
 * KafkaSpout (at least once) -> ClockBolt (fields: partition) -> AggregateBolt (fields: device)
 *                                          \-- watermarks (all) --/        \-- done (global) -> EndBolt
 * </pre>
 *
 * <p>The process starts a LocalCluster (Nimbus, a supervisor and an in-process ZooKeeper in this
 * JVM), submits the topology, waits for {@link EndBolt} to write the end line, then kills the
 * topology, shuts the cluster down and exits 0. SIGTERM and SIGINT do the same without an end
 * line.
 */
public final class StormJob {
    private static final Logger LOG = LoggerFactory.getLogger(StormJob.class);
    private static final Logger TRACE = LoggerFactory.getLogger("boontadata.trace");
    static final String SPOUT = "kafka-spout";
    static final String CLOCK = "partition-clock";
    static final String AGGREGATE = "aggregate";
    static final String END = "end-of-run";

    private StormJob() {}

    public static void main(String[] args) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (Options.UsageException e) {
            System.err.println("storm job: " + e.getMessage());
            System.exit(2);
            return;
        }
        int rc;
        try {
            rc = run(o);
        } catch (Fatal e) {
            LOG.error("{}", e.getMessage());
            if (e.getCause() != null) {
                TRACE.error("cause", e.getCause());
            }
            rc = 1;
        } catch (Throwable t) {
            LOG.error("the topology failed: {}", rootMessage(t));
            TRACE.error("the topology failed", t);
            rc = 1;
        }
        // LocalCluster leaves non-daemon threads behind
        Runtime.getRuntime().halt(rc);
    }

    /** An error with a message that says what to do. */
    static final class Fatal extends Exception {
        private static final long serialVersionUID = 1L;

        Fatal(String message) {
            super(message);
        }

        Fatal(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        String m = r.getMessage();
        return r.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static int run(Options o) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        for (String sig : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.set(true));
        }
        int partitions = prepareTopics(o);
        if (o.latest) {
            pinLatestOffsets(o, partitions);
        }
        StormTopology topology = topology(o, partitions);
        Config conf = new Config();
        conf.setNumWorkers(1);
        conf.setNumAckers(1);
        conf.setMessageTimeoutSecs(o.messageTimeoutSecs);
        conf.setMaxSpoutPending(10_000);
        conf.put(Config.TOPOLOGY_DISABLE_LOADAWARE_MESSAGING, true);
        long t0 = System.currentTimeMillis();
        // not closed: once the topology is killed, main() halts the JVM, which ends the
        // LocalCluster's daemons (closing them waits seconds for the worker's slot to shut down)
        LocalCluster cluster = new LocalCluster();
        {
            long t1 = System.currentTimeMillis();
            cluster.submitTopology(o.topologyName(), conf, topology);
            LOG.info(
                    "topology {} submitted to a LocalCluster (started in {} ms, submitted in {} ms):"
                            + " run {}, {} partitions of {}, time {}, window {} ms, watermark {} ms,"
                            + " lateness {} ms, output {}; waiting for the end-of-run markers",
                    o.topologyName(),
                    t1 - t0,
                    System.currentTimeMillis() - t1,
                    o.runId,
                    partitions,
                    o.eventsTopic,
                    o.time,
                    o.windowMs,
                    o.watermarkMs,
                    o.latenessMs,
                    o.update ? "update" : "append");
            boolean ended = false;
            boolean started = false;
            while (!stop.get()) {
                if (!started && Stats.ASSIGNED.size() >= partitions) {
                    writeStart(o);
                    started = true;
                }
                if (Stats.ENDED.await(250, TimeUnit.MILLISECONDS)) {
                    ended = true;
                    break;
                }
            }
            if (!ended) {
                LOG.warn("signal received: killing the topology (no end line)");
            } else if (Stats.END_LINE.get() == null) {
                throw new Fatal("the end line could not be written to " + o.resultsTopic);
            } else {
                LOG.info(
                        "run {}: {} events read, {} result lines ({} final, {} events counted in"
                                + " them), {} late events dropped, {} poison records skipped, {}"
                                + " end-of-run markers, {} failed sends; wrote {}",
                        o.runId,
                        Stats.EVENTS.get(),
                        Stats.RESULT_LINES.get(),
                        Stats.FINAL_LINES.get(),
                        Stats.FINAL_COUNTED.get(),
                        Stats.LATE.get(),
                        Stats.POISON.get(),
                        Stats.MARKERS.get(),
                        Stats.FAILED_SENDS.get(),
                        Stats.END_LINE.get());
            }
            org.apache.storm.generated.KillOptions kill = new org.apache.storm.generated.KillOptions();
            kill.set_wait_secs(0);
            cluster.killTopologyWithOpts(o.topologyName(), kill);
            LOG.info("topology {} killed", o.topologyName());
        }
        return 0;
    }

    /** The contract's start line (key = job id), acknowledged by Kafka. */
    private static void writeStart(Options o) throws Fatal {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-storm-" + o.jobId + "-start");
        String line = "start|" + o.jobId + "|" + o.runId + "|" + System.currentTimeMillis();
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            producer.send(new ProducerRecord<>(o.resultsTopic, o.jobId, line)).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new Fatal("write the start line to " + o.resultsTopic + ": " + rootMessage(e), e);
        }
        LOG.info("{} (the spout has every partition of {})", line, o.eventsTopic);
    }

    /**
     * {@code --start-offsets latest}: commits the events topic's current end offsets for the
     * spout's consumer group before the topology starts, when the group has none: the spout
     * ({@code UNCOMMITTED_EARLIEST}) then starts there, and every record written from now on is
     * read, however long the LocalCluster takes to start the spout.
     */
    private static void pinLatestOffsets(Options o, int partitions) throws Exception {
        String group = "boontadata-storm-" + o.jobId;
        try (Admin admin = Admin.create(adminProps(o))) {
            Map<TopicPartition, OffsetAndMetadata> committed;
            try {
                committed =
                        admin.listConsumerGroupOffsets(group)
                                .partitionsToOffsetAndMetadata()
                                .get(15, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof GroupIdNotFoundException)) {
                    throw new Fatal("read the offsets of " + group + ": " + rootMessage(e), e);
                }
                committed = Map.of();
            }
            Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
            for (int p = 0; p < partitions; p++) {
                TopicPartition tp = new TopicPartition(o.eventsTopic, p);
                if (committed.get(tp) == null) {
                    ask.put(tp, OffsetSpec.latest());
                }
            }
            if (ask.isEmpty()) {
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> pin = new HashMap<>();
            admin.listOffsets(ask)
                    .all()
                    .get(15, TimeUnit.SECONDS)
                    .forEach((tp, info) -> pin.put(tp, new OffsetAndMetadata(info.offset())));
            admin.alterConsumerGroupOffsets(group, pin).all().get(15, TimeUnit.SECONDS);
            LOG.info("reading {} from its end offsets ({} partitions)", o.eventsTopic, pin.size());
        }
    }

    private static Properties adminProps(Options o) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "boontadata-storm-admin-" + o.jobId);
        return p;
    }

    static StormTopology topology(Options o, int partitions) {
        KafkaSpoutConfig<byte[], byte[]> spout =
                new KafkaSpoutConfig.Builder<byte[], byte[]>(o.brokers, o.eventsTopic)
                        .setProp(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class)
                        .setProp(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class)
                        .setProp(ConsumerConfig.CLIENT_ID_CONFIG, "boontadata-storm-" + o.jobId)
                        .setGroupId("boontadata-storm-" + o.jobId)
                        .setProcessingGuarantee(KafkaSpoutConfig.ProcessingGuarantee.AT_LEAST_ONCE)
                        .setFirstPollOffsetStrategy(FirstPollOffsetStrategy.UNCOMMITTED_EARLIEST)
                        .setOffsetCommitPeriodMs(1000)
                        .setRecordTranslator(new Translator(o.runId, o.time.equals("ingestion")))
                        .setTupleListener(new Assignments())
                        .build();
        TopologyBuilder b = new TopologyBuilder();
        b.setSpout(SPOUT, new KafkaSpout<>(spout), o.spoutParallelism);
        b.setBolt(CLOCK, new ClockBolt(o.windowMs, o.watermarkMs, o.latenessMs), o.parallelism)
                .fieldsGrouping(SPOUT, new Fields("partition"));
        b.setBolt(
                        AGGREGATE,
                        new AggregateBolt(
                                o.jobId,
                                o.runId,
                                o.brokers,
                                o.resultsTopic,
                                o.windowMs,
                                o.latenessMs,
                                o.update),
                        o.parallelism)
                .fieldsGrouping(CLOCK, ClockBolt.DATA, new Fields("device_id"))
                .allGrouping(CLOCK, ClockBolt.WATERMARK);
        b.setBolt(END, new EndBolt(o.jobId, o.runId, o.brokers, o.resultsTopic, partitions), 1)
                .globalGrouping(AGGREGATE, AggregateBolt.DONE);
        return b.createTopology();
    }

    /** Events topic partitions (waiting for the topic if needed); creates the results topic. */
    private static int prepareTopics(Options o) throws Exception {
        try (Admin admin = Admin.create(adminProps(o))) {
            int nodes;
            try {
                nodes = admin.describeCluster().nodes().get(20, TimeUnit.SECONDS).size();
            } catch (ExecutionException | TimeoutException e) {
                throw new Fatal(
                        "cannot reach Kafka at " + o.brokers + " (" + rootMessage(e) + "): start"
                                + " it (scripts/infra/infra.sh start kafka) or pass --brokers",
                        e);
            }
            long deadline = System.currentTimeMillis() + o.topicWaitMs;
            int partitions = -1;
            boolean waited = false;
            while (partitions < 0) {
                try {
                    TopicDescription d =
                            admin.describeTopics(List.of(o.eventsTopic))
                                    .allTopicNames()
                                    .get(20, TimeUnit.SECONDS)
                                    .get(o.eventsTopic);
                    partitions = d.partitions().size();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                        throw new Fatal("describe topic " + o.eventsTopic + ": " + rootMessage(e), e);
                    }
                    if (System.currentTimeMillis() >= deadline) {
                        throw new Fatal(
                                "events topic " + o.eventsTopic + " does not exist on " + o.brokers
                                        + " (waited " + o.topicWaitMs + " ms): start the run (the"
                                        + " simulator creates it) or pass --events-topic");
                    }
                    if (!waited) {
                        LOG.info("waiting for the events topic {} to exist", o.eventsTopic);
                        waited = true;
                    }
                    Thread.sleep(500);
                }
            }
            Set<String> names = admin.listTopics().names().get(20, TimeUnit.SECONDS);
            if (!names.contains(o.resultsTopic)) {
                short rf = (short) Math.min(3, nodes);
                try {
                    admin.createTopics(List.of(new NewTopic(o.resultsTopic, partitions, rf)))
                            .all()
                            .get(20, TimeUnit.SECONDS);
                    LOG.info(
                            "created the results topic {} ({} partitions, replication {})",
                            o.resultsTopic,
                            partitions,
                            rf);
                } catch (ExecutionException e) {
                    if (!(e.getCause()
                            instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                        throw new Fatal("create topic " + o.resultsTopic + ": " + rootMessage(e), e);
                    }
                }
            }
            return partitions;
        }
    }
}
