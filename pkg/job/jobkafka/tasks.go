package jobkafka

import (
	"encoding/json"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/boontadata/boontadata/pkg/job"
)

// TaskMessage returns the record that carries a task.
func TaskMessage(topic string, t job.Task) (*sarama.ProducerMessage, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode task %s/%d/%d: %w", t.JobID, t.BatchID, t.Partition, err)
	}
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(job.TaskKey(t.JobID, t.Partition)),
		Value: sarama.ByteEncoder(b)}, nil
}
