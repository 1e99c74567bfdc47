package boontadata.storm;

import org.apache.kafka.common.TopicPartition;
import org.apache.storm.kafka.spout.KafkaSpoutMessageId;
import org.apache.storm.kafka.spout.KafkaTupleListener;
import org.apache.storm.task.TopologyContext;

import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The spout's {@link KafkaTupleListener}: notes the partitions each spout task was given. The
 * spout calls it once a task's consumer is assigned its partitions and positioned on them
 * ({@code KafkaSpout}'s rebalance listener: {@code initialize}, then {@code
 * onPartitionsReassigned}); the process writes the contract's start line once every partition of
 * the events topic is assigned.
 */
final class Assignments implements KafkaTupleListener {
    private static final long serialVersionUID = 1L;

    @Override
    public void open(Map<String, Object> conf, TopologyContext context) {}

    @Override
    public void onEmit(List<Object> tuple, KafkaSpoutMessageId msgId) {}

    @Override
    public void onAck(KafkaSpoutMessageId msgId) {}

    @Override
    public void onPartitionsReassigned(Collection<TopicPartition> partitions) {
        for (TopicPartition tp : partitions) {
            Stats.ASSIGNED.add(tp.partition());
        }
    }

    @Override
    public void onRetry(KafkaSpoutMessageId msgId) {}

    @Override
    public void onMaxRetryReached(KafkaSpoutMessageId msgId) {}
}
