package worker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
)

// sentMarks is a SyncProducer that hands every batch it is asked to send
// to a channel; only SendMessages is used by the hub.
type sentMarks struct {
	sarama.SyncProducer
	batches chan []*sarama.ProducerMessage
}

func (s sentMarks) SendMessages(msgs []*sarama.ProducerMessage) error {
	s.batches <- msgs
	return nil
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A partition's end of input is news for every partition of the job: the
// signal fires once per partition that newly ends, whether the mark is
// this worker's or another worker's, and not for other changes.
func TestHubSignalsEndedMarks(t *testing.T) {
	h := NewHub("marks", "w1", zap.NewNop(), time.Now)
	sig := h.endSignal()
	h.report("job", engine.PartitionMark{Partition: 0, Watermark: 10})
	h.report("job", engine.PartitionMark{Partition: 0, Watermark: 20, Idle: true})
	require.False(t, closed(sig), "a moving watermark is not the end")

	h.report("job", engine.PartitionMark{Partition: 0, Watermark: 20, Ended: true})
	require.True(t, closed(sig))
	sig = h.endSignal()
	h.report("job", engine.PartitionMark{Partition: 0, Watermark: 20, Ended: true})
	require.False(t, closed(sig), "an ended partition reported again is no news")

	h.mu.Lock()
	h.set("job", engine.PartitionMark{Partition: 1, Ended: true}) // as Consume does for another worker's mark
	h.mu.Unlock()
	require.True(t, closed(sig))
}

// The publisher sends a mark that says the end of input at once, not at
// its next interval.
func TestHubPublishesEndedMarkAtOnce(t *testing.T) {
	h := NewHub("marks", "w1", zap.NewNop(), time.Now)
	p := sentMarks{batches: make(chan []*sarama.ProducerMessage, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Publish(ctx, p, time.Hour) }()
	defer func() { cancel(); <-done }()

	h.report("job", engine.PartitionMark{Partition: 3, Watermark: 42, Ended: true})
	select {
	case msgs := <-p.batches:
		require.Len(t, msgs, 1)
		b, err := msgs[0].Value.Encode()
		require.NoError(t, err)
		var w wireMark
		require.NoError(t, json.Unmarshal(b, &w))
		require.Equal(t, "job", w.JobID)
		require.Equal(t, int32(3), w.Partition)
		require.True(t, w.Ended)
	case <-time.After(5 * time.Second):
		t.Fatal("the ended mark waited for the publish interval (1 h)")
	}
}
