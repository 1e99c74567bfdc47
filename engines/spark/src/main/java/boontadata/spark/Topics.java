package boontadata.spark;

import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Topic metadata through Kafka's admin client, which never creates a topic
 * as a side effect (a producer's or consumer's metadata request may).
 */
public final class Topics implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Topics.class);

  private final Admin admin;

  public Topics(String brokers) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "boontadata-spark-admin");
    this.admin = Admin.create(p);
  }

  /** The number of partitions of a topic, 0 when it does not exist (yet). */
  public int partitions(String topic) throws Exception {
    try {
      TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames()
          .get(30, TimeUnit.SECONDS).get(topic);
      return d == null ? 0 : d.partitions().size();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UnknownTopicOrPartitionException) {
        return 0;
      }
      throw e;
    }
  }

  /**
   * Creates a topic with the given partition count and the broker's default
   * replication when it is missing.
   */
  public void ensure(String topic, int partitions) throws Exception {
    if (partitions(topic) > 0) {
      return;
    }
    try {
      admin.createTopics(List.of(new NewTopic(topic, Optional.of(partitions), Optional.empty())))
          .all().get(30, TimeUnit.SECONDS);
      LOG.info("created topic {} ({} partitions)", topic, partitions);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
  }

  @Override
  public void close() {
    admin.close(java.time.Duration.ofSeconds(5));
  }
}
