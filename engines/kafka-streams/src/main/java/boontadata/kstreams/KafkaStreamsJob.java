package boontadata.kstreams;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.AutoOffsetReset;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * boontadata's Kafka Streams application behind the engine contract (docs/engines.md, section
 * "Kafka Streams").
 *
 * <p>The process runs one {@link KafkaStreams} instance of the application {@code
 * boontadata-JOB} with {@code --threads} stream threads; more processes started with the same job
 * id join it (Kafka's consumer-group protocol spreads the partitions, one task per partition).
 * The process writes the {@code end} line once Kafka Streams committed, for every partition of
 * the events topic, a stream time at the end-of-run time (the marker was processed, and the
 * commit that carries it came after the record caches were flushed and the producer's sends were
 * acknowledged), then closes the instance and exits 0. SIGTERM and SIGINT close it and exit 0
 * without an end line; a fatal error of a stream thread exits 1 with its cause.
 */
public final class KafkaStreamsJob {
    private static final Logger LOG = LoggerFactory.getLogger(KafkaStreamsJob.class);
    /** Stack traces: to the log file only (conf/log4j2.properties). */
    private static final Logger TRACE = LoggerFactory.getLogger("boontadata.trace");

    private KafkaStreamsJob() {}

    public static void main(String[] args) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (Options.UsageException e) {
            System.err.println("kafka-streams job: " + e.getMessage());
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
            LOG.error("the application failed: {}", rootMessage(t));
            TRACE.error("the application failed", t);
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
        long endTime = Extractor.endTime(o.windowMs, o.graceMs());
        try (Admin admin = Admin.create(adminProps(o))) {
            int partitions = prepareTopics(o, admin);
            if (o.latest) {
                pinLatestOffsets(o, admin, partitions);
            }
            Path stateDir = o.stateDir.resolve(o.jobId).resolve(Integer.toString(o.instance));
            Files.createDirectories(stateDir);
            Properties props = streamsProps(o, stateDir);
            Topology topology = topology(o, endTime, props);
            LOG.debug("topology:\n{}", topology.describe());
            AtomicReference<Throwable> failure = new AtomicReference<>();
            long t0 = System.currentTimeMillis();
            KafkaStreams streams = new KafkaStreams(topology, props);
            streams.setUncaughtExceptionHandler(
                    e -> {
                        failure.compareAndSet(null, e);
                        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                                .SHUTDOWN_CLIENT;
                    });
            streams.start();
            LOG.info(
                    "application {} (instance {}, {} stream threads) started in {} ms: run {}, {}"
                            + " partitions of {}, time {}, window {} ms, grace {} ms, dedup {},"
                            + " output {}; waiting for the end-of-run markers",
                    o.applicationId(),
                    o.instance,
                    o.threads,
                    System.currentTimeMillis() - t0,
                    o.runId,
                    partitions,
                    o.eventsTopic,
                    o.time,
                    o.windowMs,
                    o.graceMs(),
                    o.dedup ? "watermark" : "none",
                    o.update ? "update" : "append");
            boolean ended;
            try {
                ended = watch(o, admin, streams, partitions, endTime, failure, stop);
            } finally {
                streams.close(Duration.ofSeconds(30));
            }
            if (ended) {
                // the run is over: nothing reads this instance's local state again
                deleteTree(stateDir);
            }
            return 0;
        }
    }

    private static void deleteTree(Path dir) {
        try (java.util.stream.Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException e) {
            LOG.warn("could not delete the local state {}: {}", dir, rootMessage(e));
        }
        dir.getParent().toFile().delete(); // DIR/JOB, when no other instance uses it
    }

    private static Properties adminProps(Options o) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, o.applicationId() + "-watch");
        return p;
    }

    /** Events topic partitions (waiting for the topic if needed); creates the results topic. */
    private static int prepareTopics(Options o, Admin admin) throws Exception {
        int nodes;
        try {
            nodes = admin.describeCluster().nodes().get(20, TimeUnit.SECONDS).size();
        } catch (ExecutionException | TimeoutException e) {
            throw new Fatal(
                    "cannot reach Kafka at " + o.brokers + " (" + rootMessage(e) + "): start it"
                            + " (scripts/infra/infra.sh start kafka) or pass --brokers",
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
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                    throw new Fatal("create topic " + o.resultsTopic + ": " + rootMessage(e), e);
                }
            }
        }
        return partitions;
    }

    /**
     * {@code --start-offsets latest}: commits the events topic's current end offsets for the
     * application's consumer group before Kafka Streams starts, when the group has none, so that
     * every record written from now on is read whenever the stream threads get their partitions
     * (an offset reset to "latest" would be resolved only at their first fetch). Another instance
     * of the application that already runs has done it: the group then has members and offsets.
     */
    private static void pinLatestOffsets(Options o, Admin admin, int partitions) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed;
        try {
            committed =
                    admin.listConsumerGroupOffsets(o.applicationId())
                            .partitionsToOffsetAndMetadata()
                            .get(15, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof GroupIdNotFoundException)) {
                throw new Fatal("read the offsets of " + o.applicationId() + ": " + rootMessage(e), e);
            }
            committed = Map.of();
        }
        Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> ask = new java.util.HashMap<>();
        for (int p = 0; p < partitions; p++) {
            TopicPartition tp = new TopicPartition(o.eventsTopic, p);
            if (committed.get(tp) == null) {
                ask.put(tp, org.apache.kafka.clients.admin.OffsetSpec.latest());
            }
        }
        if (ask.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> pin = new java.util.HashMap<>();
        admin.listOffsets(ask)
                .all()
                .get(15, TimeUnit.SECONDS)
                .forEach((tp, info) -> pin.put(tp, new OffsetAndMetadata(info.offset())));
        try {
            admin.alterConsumerGroupOffsets(o.applicationId(), pin).all().get(15, TimeUnit.SECONDS);
            LOG.info("reading {} from its end offsets ({} partitions)", o.eventsTopic, pin.size());
        } catch (ExecutionException e) {
            // a running instance of the application (the group has members) pinned them first
            LOG.info(
                    "the offsets of {} are set by a running instance ({})",
                    o.applicationId(),
                    rootMessage(e));
        }
    }

    /** The topology (docs/engines.md, "Kafka Streams"). */
    static Topology topology(Options o, long endTime, Properties props) {
        StreamsBuilder b =
                new StreamsBuilder(
                        new org.apache.kafka.streams.TopologyConfig(new StreamsConfig(props)));
        String[] stores = new String[0];
        if (o.dedup) {
            StoreBuilder<KeyValueStore<String, Long>> ids =
                    Stores.keyValueStoreBuilder(
                            o.inMemory
                                    ? Stores.inMemoryKeyValueStore(Decode.IDS_STORE)
                                    : Stores.persistentKeyValueStore(Decode.IDS_STORE),
                            Serdes.String(),
                            Serdes.Long());
            StoreBuilder<KeyValueStore<Bytes, byte[]>> expiries =
                    Stores.keyValueStoreBuilder(
                            o.inMemory
                                    ? Stores.inMemoryKeyValueStore(Decode.EXPIRY_STORE)
                                    : Stores.persistentKeyValueStore(Decode.EXPIRY_STORE),
                            Serdes.Bytes(),
                            Serdes.ByteArray());
            if (!o.changelog) {
                ids = ids.withLoggingDisabled();
                expiries = expiries.withLoggingDisabled();
            }
            b.addStateStore(ids);
            b.addStateStore(expiries);
            stores = new String[] {Decode.IDS_STORE, Decode.EXPIRY_STORE};
        }
        KStream<String, Ev> events =
                b.stream(
                                o.eventsTopic,
                                Consumed.with(
                                                EventSerde.keySerde(o.runId),
                                                EventSerde.valueSerde(o.runId))
                                        .withTimestampExtractor(new Extractor(o.time, endTime))
                                        .withOffsetResetPolicy(
                                                o.latest
                                                        ? AutoOffsetReset.latest()
                                                        : AutoOffsetReset.earliest())
                                        .withName("events"))
                        .processValues(
                                () ->
                                        new Decode(
                                                o.windowMs,
                                                o.watermarkMs,
                                                o.latenessMs,
                                                o.dedup,
                                                o.dedupHorizonMs),
                                Named.as(o.dedup ? "run-filter-and-dedup" : "run-filter"),
                                stores);

        Materialized<String, Agg, WindowStore<Bytes, byte[]>> windows =
                Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("windows")
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Agg.serde())
                        .withCachingEnabled();
        Suppressed.StrictBufferConfig buffer = Suppressed.BufferConfig.unbounded();
        if (!o.changelog) {
            windows = windows.withLoggingDisabled();
            buffer = buffer.withLoggingDisabled();
        }
        KTable<Windowed<String>, Agg> table =
                events.groupByKey()
                        .windowedBy(
                                TimeWindows.ofSizeAndGrace(
                                        Duration.ofMillis(o.windowMs),
                                        Duration.ofMillis(o.graceMs())))
                        .aggregate(Agg::new, (k, e, a) -> a.add(e), Named.as("aggregate"), windows);

        KStream<String, String> lines = null;
        if (o.update) {
            lines =
                    table.toStream(Named.as("updates"))
                            .process(
                                    () -> new Lines(o.jobId, o.runId, false, o.graceMs()),
                                    Named.as("update-lines"));
        }
        KStream<String, String> finals =
                table.suppress(Suppressed.untilWindowCloses(buffer).withName("until-window-closes"))
                        .toStream(Named.as("finals"))
                        .process(
                                () -> new Lines(o.jobId, o.runId, true, o.graceMs()),
                                Named.as("final-lines"));
        lines = lines == null ? finals : lines.merge(finals, Named.as("all-lines"));
        lines.to(
                o.resultsTopic,
                Produced.with(Serdes.String(), Serdes.String()).withName("results"));
        return b.build();
    }

    private static Properties streamsProps(Options o, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.applicationId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.triggerMs);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, o.cacheBytes);
        p.put(
                StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG,
                o.inMemory
                        ? BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class
                        : BuiltInDslStoreSuppliers.RocksDBDslStoreSuppliers.class);
        p.put(StreamsConfig.CLIENT_ID_CONFIG, o.applicationId() + "-" + o.instance);
        p.put(
                StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG),
                o.latest ? "latest" : "earliest");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.ACKS_CONFIG), "all");
        return p;
    }

    /**
     * The partition time that Kafka Streams commits with each offset of a task's input
     * partitions, in the offset's metadata ({@code TopicPartitionMetadata#encode}: base64 of a
     * version byte, 1 or 2, then the partition time as a long), or -1.
     */
    static long committedPartitionTime(OffsetAndMetadata om) {
        if (om == null || om.metadata() == null || om.metadata().isEmpty()) {
            return -1;
        }
        try {
            ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(om.metadata()));
            byte version = b.get();
            if (version != 1 && version != 2) {
                return -1;
            }
            return b.getLong();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /**
     * Waits for the end of the run on every partition (then writes the end line and returns
     * true), a fatal error, or a signal (false).
     */
    private static boolean watch(
            Options o,
            Admin admin,
            KafkaStreams streams,
            int partitions,
            long endTime,
            AtomicReference<Throwable> failure,
            AtomicBoolean stop)
            throws Exception {
        int ended = 0;
        int errors = 0;
        boolean started = false;
        while (true) {
            if (stop.get()) {
                LOG.warn("signal received: closing the application (no end line)");
                return false;
            }
            Throwable f = failure.get();
            KafkaStreams.State state = streams.state();
            if (f != null || state == KafkaStreams.State.ERROR
                    || state == KafkaStreams.State.PENDING_ERROR
                    || state == KafkaStreams.State.NOT_RUNNING) {
                if (f != null) {
                    TRACE.error("a stream thread failed", f);
                }
                throw new Fatal(
                        "Kafka Streams stopped (" + state + ")"
                                + (f == null ? "" : ": " + rootMessage(f))
                                + " before the end of run " + o.runId);
            }
            if (!started && state == KafkaStreams.State.RUNNING) {
                // the stream threads have their tasks: the source reads the events topic
                writeStart(o);
                started = true;
            }
            Map<TopicPartition, OffsetAndMetadata> committed;
            try {
                committed =
                        admin.listConsumerGroupOffsets(o.applicationId())
                                .partitionsToOffsetAndMetadata()
                                .get(15, TimeUnit.SECONDS);
                errors = 0;
            } catch (ExecutionException | TimeoutException e) {
                if (e.getCause() instanceof GroupIdNotFoundException) {
                    committed = Map.of();
                } else if (++errors >= 20) {
                    throw new Fatal(
                            "cannot read the committed offsets of " + o.applicationId() + " ("
                                    + rootMessage(e) + ")",
                            e);
                } else {
                    Thread.sleep(500);
                    continue;
                }
            }
            int n = 0;
            for (int p = 0; p < partitions; p++) {
                long t = committedPartitionTime(committed.get(new TopicPartition(o.eventsTopic, p)));
                if (t >= endTime) {
                    n++;
                }
            }
            if (n != ended) {
                ended = n;
                LOG.info("{} of {} partitions committed past their end-of-run marker", n, partitions);
            }
            if (n == partitions) {
                writeEnd(o, admin);
                return true;
            }
            Thread.sleep(250);
        }
    }

    private static KafkaProducer<String, String> lineProducer(Options o, String what) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, o.applicationId() + "-" + what);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** The contract's start line (key = job id), acknowledged by Kafka. */
    private static void writeStart(Options o) throws Fatal {
        String line = "start|" + o.jobId + "|" + o.runId + "|" + System.currentTimeMillis();
        try (KafkaProducer<String, String> producer = lineProducer(o, "start")) {
            producer.send(new ProducerRecord<>(o.resultsTopic, o.jobId, line)).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new Fatal("write the start line to " + o.resultsTopic + ": " + rootMessage(e), e);
        }
        LOG.info("{} (the stream threads read the events topic)", line);
    }

    /**
     * The contract's end line, on every partition of the results topic (key = job id), after the
     * results written there: the commits that carried the end-of-run markers came after Kafka
     * acknowledged them.
     */
    private static void writeEnd(Options o, Admin admin) throws Fatal {
        String line = "end|" + o.jobId + "|" + o.runId + "|" + System.currentTimeMillis();
        try (KafkaProducer<String, String> producer = lineProducer(o, "end")) {
            int n = producer.partitionsFor(o.resultsTopic).size();
            List<java.util.concurrent.Future<?>> sends = new java.util.ArrayList<>();
            for (int p = 0; p < n; p++) {
                sends.add(producer.send(new ProducerRecord<>(o.resultsTopic, p, o.jobId, line)));
            }
            for (java.util.concurrent.Future<?> f : sends) {
                f.get(30, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new Fatal("write the end line to " + o.resultsTopic + ": " + rootMessage(e), e);
        }
        LOG.info(
                "run {}: {} events read, {} result lines ({} final, {} events counted in them), {}"
                        + " duplicates dropped, {} late events dropped, {} poison records skipped,"
                        + " {} end-of-run markers (this instance); wrote {}",
                o.runId,
                Stats.EVENTS.get(),
                Stats.RESULT_LINES.get(),
                Stats.FINAL_LINES.get(),
                Stats.FINAL_COUNTED.get(),
                Stats.DUPLICATES.get(),
                Stats.LATE.get(),
                Stats.POISON.get(),
                Stats.MARKERS.get(),
                line);
    }
}
