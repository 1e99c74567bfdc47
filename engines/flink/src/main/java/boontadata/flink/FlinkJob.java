package boontadata.flink;

import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.datastream.WindowedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.OutputTag;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
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
 * boontadata's Apache Flink job behind the engine contract (docs/engines.md, section "Flink").
 *
 * <p>The process is the job's client: it checks the topics, builds the DataStream job, runs it
 * on a local MiniCluster ({@code --master local}) or submits it to a session cluster's REST
 * endpoint ({@code --master HOST:PORT}), watches the results topic for the job's {@code end}
 * line, then cancels the job (its Kafka source never ends by itself) and exits 0. SIGTERM and
 * SIGINT cancel the job and exit 0 without an end line; a failed job exits 1 with its cause.
 */
public final class FlinkJob {
    private static final Logger LOG = LoggerFactory.getLogger(FlinkJob.class);
    /** Stack traces: to the log file only (conf/log4j2.properties). */
    private static final Logger TRACE = LoggerFactory.getLogger("boontadata.trace");
    static final int MAX_PARALLELISM = 128;

    private FlinkJob() {}

    public static void main(String[] args) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (Options.UsageException e) {
            System.err.println("flink job: " + e.getMessage());
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
            LOG.error("the job's client failed: {}", rootMessage(t));
            TRACE.error("the job's client failed", t);
            rc = 1;
        }
        System.exit(rc);
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

        if (!o.master.equals("local")) {
            checkCluster(o);
        }
        int partitions;
        int resultsPartitions;
        OffsetsInitializer startingOffsets;
        try (Admin admin = admin(o)) {
            partitions = prepareTopics(o, admin);
            resultsPartitions = resultsPartitions(o, admin);
            startingOffsets = startingOffsets(o, admin, partitions);
        }
        try (KafkaConsumer<byte[], byte[]> results = resultsWatcher(o)) {
            long t0 = System.currentTimeMillis();
            StreamExecutionEnvironment env = environment(o);
            build(env, o, partitions, resultsPartitions, startingOffsets);
            JobClient job;
            try {
                job = env.executeAsync("boontadata " + o.jobId + " run " + o.runId);
            } catch (Exception e) {
                if (o.master.equals("local")) {
                    throw e;
                }
                throw new Fatal(
                        "cannot submit the job to the Flink session cluster at " + o.master + " ("
                                + rootMessage(e) + "): is it up? (scripts/infra/infra.sh status"
                                + " flink)",
                        e);
            }
            LOG.info(
                    "job {} ({}) submitted to {} in {} ms: run {}, {} partitions of {}, time {},"
                            + " window {} ms; waiting for the end-of-run markers",
                    o.jobId,
                    job.getJobID(),
                    o.master.equals("local") ? "a local MiniCluster" : o.master,
                    System.currentTimeMillis() - t0,
                    o.runId,
                    partitions,
                    o.eventsTopic,
                    o.time,
                    o.windowMs);
            return watch(o, job, results, stop);
        }
    }

    /** Fails fast, with what to do, when the session cluster's REST endpoint does not answer. */
    private static void checkCluster(Options o) throws Fatal {
        String url = "http://" + o.master + "/overview";
        try {
            java.net.http.HttpClient http =
                    java.net.http.HttpClient.newBuilder()
                            .connectTimeout(Duration.ofSeconds(5))
                            .build();
            java.net.http.HttpResponse<String> r =
                    http.send(
                            java.net.http.HttpRequest.newBuilder(java.net.URI.create(url))
                                    .timeout(Duration.ofSeconds(10))
                                    .GET()
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new Fatal(
                        "the Flink REST endpoint " + url + " answered " + r.statusCode()
                                + ": is --master the REST address of a session cluster?");
            }
            LOG.info("Flink session cluster at {}: {}", o.master, r.body());
        } catch (java.io.IOException e) {
            throw new Fatal(
                    "no Flink session cluster answers at " + o.master + " (" + rootMessage(e)
                            + "): start one (scripts/infra/infra.sh start flink) or use"
                            + " --master local",
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Fatal("interrupted while checking " + url, e);
        }
    }

    /** The Kafka admin client of the job's client: topics and offsets before submission. */
    private static Admin admin(Options o) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "boontadata-flink-admin-" + o.jobId);
        return Admin.create(p);
    }

    /** The partitions of the results topic (prepareTopics made sure it exists). */
    private static int resultsPartitions(Options o, Admin admin) throws Exception {
        return admin.describeTopics(List.of(o.resultsTopic))
                .allTopicNames()
                .get(20, TimeUnit.SECONDS)
                .get(o.resultsTopic)
                .partitions()
                .size();
    }

    /** Events topic partitions (waiting for the topic if needed); creates the results topic. */
    private static int prepareTopics(Options o, Admin admin) throws Exception {
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
                            "events topic " + o.eventsTopic + " does not exist on "
                                    + o.brokers + " (waited " + o.topicWaitMs + " ms): start"
                                    + " the run (the simulator creates it) or pass"
                                    + " --events-topic");
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

    /** A consumer of the results topic positioned at its end, before the job starts. */
    private static KafkaConsumer<byte[], byte[]> resultsWatcher(Options o) throws Fatal {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "boontadata-flink-watch-" + o.jobId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
        try {
            List<TopicPartition> tps = new ArrayList<>();
            c.partitionsFor(o.resultsTopic, Duration.ofSeconds(20))
                    .forEach(i -> tps.add(new TopicPartition(i.topic(), i.partition())));
            c.assign(tps);
            c.seekToEnd(tps);
            for (TopicPartition tp : tps) {
                c.position(tp, Duration.ofSeconds(20));
            }
        } catch (RuntimeException e) {
            c.close();
            throw new Fatal("read the results topic " + o.resultsTopic + ": " + rootMessage(e), e);
        }
        return c;
    }

    private static StreamExecutionEnvironment environment(Options o) {
        Configuration conf = new Configuration();
        // a failure ends the run with its cause instead of restarting (the job keeps no state
        // across restarts that would make its results the same)
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        conf.set(org.apache.flink.configuration.RestOptions.RETRY_MAX_ATTEMPTS, 3);
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                o.checkpointDir.resolve(o.jobId).toUri().toString());
        StreamExecutionEnvironment env =
                o.master.equals("local")
                        ? StreamExecutionEnvironment.createLocalEnvironment(o.parallelism, conf)
                        : StreamExecutionEnvironment.createRemoteEnvironment(
                                o.remoteHost, o.remotePort, conf, o.jar);
        env.configure(conf);
        env.setParallelism(o.parallelism);
        env.setMaxParallelism(MAX_PARALLELISM);
        if (o.checkpointIntervalMs > 0) {
            env.enableCheckpointing(o.checkpointIntervalMs);
        }
        return env;
    }

    /**
     * Where the job reads the events topic from. {@code latest} is resolved here, by the client,
     * before the job is submitted: the Kafka source's own {@code OffsetsInitializer.latest()} is
     * resolved by its split enumerator when the job's tasks run, which on a session cluster comes
     * seconds after the job's RUNNING status, i.e. after the start line; the records produced in
     * between would not be read. Offsets taken before submission are at or below the end of the
     * topic when the start line is written, so every record produced after the start line is
     * read.
     */
    private static OffsetsInitializer startingOffsets(Options o, Admin admin, int partitions)
            throws Fatal {
        if (!o.startOffsets.equals("latest")) {
            return OffsetsInitializer.earliest();
        }
        try {
            Map<TopicPartition, OffsetSpec> want = new HashMap<>();
            for (int i = 0; i < partitions; i++) {
                want.put(new TopicPartition(o.eventsTopic, i), OffsetSpec.latest());
            }
            Map<TopicPartition, Long> offsets = new HashMap<>();
            admin.listOffsets(want)
                    .all()
                    .get(20, TimeUnit.SECONDS)
                    .forEach((tp, info) -> offsets.put(tp, info.offset()));
            LOG.info(
                    "--start-offsets latest: the job reads {} from the end offsets it has now ({}"
                            + " records before them skipped)",
                    o.eventsTopic,
                    offsets.values().stream().mapToLong(Long::longValue).sum());
            return OffsetsInitializer.offsets(offsets);
        } catch (ExecutionException | TimeoutException e) {
            throw new Fatal(
                    "read the end offsets of " + o.eventsTopic + " (--start-offsets latest): "
                            + rootMessage(e),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Fatal("interrupted while reading the end offsets of " + o.eventsTopic, e);
        }
    }

    /** The DataStream job. */
    static void build(
            StreamExecutionEnvironment env,
            Options o,
            int partitions,
            int resultsPartitions,
            OffsetsInitializer startingOffsets) {
        Properties consumer = new Properties();
        consumer.put("partition.discovery.interval.ms", "-1"); // partitions are fixed at start
        consumer.put("client.id.prefix", "boontadata-flink-" + o.jobId);
        KafkaSource<Ev> source =
                KafkaSource.<Ev>builder()
                        .setBootstrapServers(o.brokers)
                        .setTopics(o.eventsTopic)
                        .setGroupId("boontadata-flink-" + o.jobId)
                        .setStartingOffsets(startingOffsets)
                        .setDeserializer(new EventDeserializer(o.runId))
                        .setProperties(consumer)
                        .build();

        WatermarkStrategy<Ev> events;
        if (o.eventTime()) {
            boolean ingestion = o.time.equals("ingestion");
            SerializableTimestampAssigner<Ev> ts =
                    ingestion ? FlinkJob::ingestionTime : FlinkJob::deviceTime;
            events =
                    WatermarkStrategy.<Ev>forBoundedOutOfOrderness(
                                    Duration.ofMillis(o.watermarkMs))
                            .withTimestampAssigner(ts);
            if (o.idleMs > 0) {
                events = events.withIdleness(Duration.ofMillis(o.idleMs));
            }
        } else {
            events = WatermarkStrategy.<Ev>noWatermarks().withTimestampAssigner(FlinkJob::ingestionTime);
        }

        SingleOutputStreamOperator<Ev> split =
                env.fromSource(source, new EndOfInputWatermarks(events), "kafka: " + o.eventsTopic)
                        .uid("source")
                        .process(new Splitter(!o.eventTime(), MAX_PARALLELISM, o.parallelism))
                        .name("split events / control")
                        .uid("split");

        OutputTag<Ev> lateTag = new OutputTag<>("late", TypeInformation.of(Ev.class));
        WindowedStream<Ev, String, TimeWindow> windowed;
        if (o.eventTime()) {
            windowed =
                    split.keyBy(Ev::key, Types.STRING)
                            .window(TumblingEventTimeWindows.of(Duration.ofMillis(o.windowMs)))
                            .allowedLateness(Duration.ofMillis(o.latenessMs))
                            .sideOutputLateData(lateTag);
            if (o.latenessMs > 0 || o.update) {
                windowed = windowed.trigger(
                        new Triggers.EventTime(o.latenessMs, o.update ? o.triggerMs : 0));
            }
        } else {
            if (o.latenessMs > 0) {
                LOG.warn("--lateness-ms is ignored with --time processing (Flink ignores allowed"
                        + " lateness for processing-time windows)");
            }
            windowed =
                    split.keyBy(Ev::key, Types.STRING).window(new ProcessingWindows(o.windowMs));
            if (o.update) {
                windowed = windowed.trigger(new Triggers.ProcessingTime(o.triggerMs));
            }
        }
        SingleOutputStreamOperator<Out> fired =
                windowed.aggregate(
                                new WindowAggregate(o.dedup),
                                new WindowEmit(o.eventTime(), o.latenessMs),
                                TypeInformation.of(Acc.class),
                                TypeInformation.of(Acc.class),
                                TypeInformation.of(Out.class))
                        .name("windows")
                        .uid("windows");

        DataStream<Ev> control = split.getSideOutput(Splitter.CONTROL);
        if (o.eventTime()) {
            control = control.union(fired.getSideOutput(lateTag));
        }
        SingleOutputStreamOperator<Line> lines =
                fired.connect(control)
                        .transform(
                                "end of run",
                                TypeInformation.of(Line.class),
                                new EndOfRun(
                                        o.jobId,
                                        o.runId,
                                        partitions,
                                        resultsPartitions,
                                        o.eventTime(),
                                        o.windowMs,
                                        o.parallelism,
                                        o.checkpointIntervalMs > 0))
                        .setParallelism(1)
                        .setMaxParallelism(1)
                        .uid("end-of-run");

        Properties producer = new Properties();
        producer.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-flink-" + o.jobId);
        producer.put(ProducerConfig.ACKS_CONFIG, "all");
        producer.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        String topic = o.resultsTopic;
        KafkaSink<Line> sink =
                KafkaSink.<Line>builder()
                        .setBootstrapServers(o.brokers)
                        .setKafkaProducerConfig(producer)
                        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                        .setRecordSerializer(
                                (KafkaRecordSerializationSchema<Line>)
                                        (line, context, timestamp) ->
                                                new ProducerRecord<>(
                                                        topic,
                                                        line.partition >= 0 ? line.partition : null,
                                                        line.key == null
                                                                ? null
                                                                : line.key.getBytes(
                                                                        StandardCharsets.UTF_8),
                                                        line.value.getBytes(
                                                                StandardCharsets.UTF_8)))
                        .build();
        lines.sinkTo(sink).name("kafka: " + o.resultsTopic).setParallelism(1).uid("sink");
    }

    static long deviceTime(Ev e, long recordTimestamp) {
        switch (e.kind) {
            case Ev.EVENT:
                return e.deviceTime;
            case Ev.MARKER:
                return Long.MAX_VALUE;
            default:
                return recordTimestamp;
        }
    }

    static long ingestionTime(Ev e, long recordTimestamp) {
        return e.kind == Ev.MARKER ? Long.MAX_VALUE : e.ingestTime;
    }

    /** Waits for the job's end line, a failure of the job, or a signal. */
    private static int watch(
            Options o, JobClient job, KafkaConsumer<byte[], byte[]> results, AtomicBoolean stop)
            throws Exception {
        byte[] endPrefix = ("end|" + o.jobId + "|" + o.runId + "|").getBytes(StandardCharsets.UTF_8);
        long nextStatus = 0;
        int statusErrors = 0;
        boolean started = false;
        while (true) {
            if (stop.get()) {
                LOG.warn("signal received: cancelling the job (no end line)");
                cancel(job);
                return 0;
            }
            for (ConsumerRecord<byte[], byte[]> r : results.poll(Duration.ofMillis(250))) {
                if (startsWith(r.value(), endPrefix)) {
                    LOG.info(
                            "{} (results topic {} partition {} offset {}); cancelling the job",
                            new String(r.value(), StandardCharsets.UTF_8),
                            r.topic(),
                            r.partition(),
                            r.offset());
                    cancel(job);
                    return 0;
                }
            }
            long now = System.currentTimeMillis();
            if (now >= nextStatus) {
                nextStatus = now + 1000;
                JobStatus status;
                try {
                    status = job.getJobStatus().get(10, TimeUnit.SECONDS);
                    statusErrors = 0;
                } catch (ExecutionException | TimeoutException e) {
                    if (++statusErrors >= 10) {
                        throw new Fatal("lost the job's status (" + rootMessage(e) + ")", e);
                    }
                    continue;
                }
                if (status == JobStatus.RUNNING && !started) {
                    // The job runs: its sources read the events topic.
                    writeStart(o);
                    started = true;
                }
                if (status.isGloballyTerminalState()) {
                    String cause = "job ended as " + status;
                    try {
                        job.getJobExecutionResult().get(10, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        cause = "job " + status + ": " + rootMessage(e);
                        TRACE.error("the job failed", e);
                    }
                    throw new Fatal(cause + " before writing its end line");
                }
            }
        }
    }

    /**
     * Writes the contract's start line (key = job id) and waits until Kafka acknowledged it:
     * a runner may then start producing the run.
     */
    private static void writeStart(Options o) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "boontadata-flink-start-" + o.jobId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            String line = "start|" + o.jobId + "|" + o.runId + "|" + System.currentTimeMillis();
            producer.send(new ProducerRecord<>(o.resultsTopic, o.jobId, line)).get(30, TimeUnit.SECONDS);
            LOG.info("{} (the job reads the events topic)", line);
        }
    }

    private static boolean startsWith(byte[] v, byte[] prefix) {
        if (v == null || v.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (v[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private static void cancel(JobClient job) {
        try {
            job.cancel().get(30, TimeUnit.SECONDS);
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                JobStatus s = job.getJobStatus().get(10, TimeUnit.SECONDS);
                if (s.isGloballyTerminalState()) {
                    return;
                }
                Thread.sleep(100);
            }
            LOG.warn("the job did not reach a terminal state within 30 s of its cancellation");
        } catch (Exception e) {
            // a local MiniCluster that already shut down answers nothing: the job is gone
            TRACE.debug("cancel", e);
        }
    }

}
