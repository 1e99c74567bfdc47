package master

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/retry"
)

func TestDecodeReport(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"report", `{"worker_id":"w1","job_id":"j1","time":"2026-03-01T12:00:00Z","partitions":[{"partition":3,"lag":5}]}`, true},
		{"stopping", `{"worker_id":"w1","job_id":"j1","stopping":true}`, true},
		{"no worker", `{"job_id":"j1"}`, false},
		{"no job", `{"worker_id":"w1"}`, false},
		{"not JSON", `w1|j1`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeReport([]byte(tt.in))
			if !tt.ok {
				require.ErrorIs(t, err, ErrBadReport)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "w1", r.WorkerID)
		})
	}
}

func TestConsumeProgress(t *testing.T) {
	const topic = "progress"
	c := mocks.NewConsumer(t, nil)
	c.SetTopicMetadata(map[string][]int32{topic: {0}})
	pc := c.ExpectConsumePartition(topic, 0, sarama.OffsetNewest)
	b, err := json.Marshal(report("w1", "j1", part(0, 5, 1000, 1)))
	require.NoError(t, err)
	pc.YieldMessage(&sarama.ConsumerMessage{Value: []byte("not a report")})
	pc.YieldError(errors.New("broker hiccup"))
	pc.YieldMessage(&sarama.ConsumerMessage{Value: b})

	var mu sync.Mutex
	var got []job.WorkerReport
	var bad int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ConsumeProgress(ctx, c, topic, retry.Policy{}, zap.NewNop(), func(r job.WorkerReport) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r)
		}, func(error) {
			mu.Lock()
			defer mu.Unlock()
			bad++
		})
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, "j1", got[0].JobID)
	require.Equal(t, 1, bad)
	require.NoError(t, c.Close())
}

func TestConsumeProgressUnknownTopic(t *testing.T) {
	c := mocks.NewConsumer(t, nil)
	c.SetTopicMetadata(map[string][]int32{"other": {0}})
	err := ConsumeProgress(context.Background(), c, "progress", retry.Policy{}, zap.NewNop(), func(job.WorkerReport) {}, func(error) {})
	require.ErrorContains(t, err, "partitions of progress")
}

// unready fails the first fails calls of ConsumePartition.
type unready struct {
	sarama.Consumer
	fails int
}

func (u *unready) ConsumePartition(topic string, p int32, offset int64) (sarama.PartitionConsumer, error) {
	if u.fails > 0 {
		u.fails--
		return nil, sarama.ErrLeaderNotAvailable
	}
	return u.Consumer.ConsumePartition(topic, p, offset)
}

func TestConsumeProgressRetriesAPartitionThatCannotStart(t *testing.T) {
	const topic = "progress"
	c := mocks.NewConsumer(t, nil)
	c.SetTopicMetadata(map[string][]int32{topic: {0}})
	pc := c.ExpectConsumePartition(topic, 0, sarama.OffsetNewest)
	b, err := json.Marshal(report("w1", "j1", part(0, 5, 1000, 1)))
	require.NoError(t, err)
	pc.YieldMessage(&sarama.ConsumerMessage{Value: b})

	var retried []string // one goroutine: the partition's
	p := retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, OnRetry: func(what string) { retried = append(retried, what) }}
	got := make(chan job.WorkerReport, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ConsumeProgress(ctx, &unready{Consumer: c, fails: 2}, topic, p, zap.NewNop(),
			func(r job.WorkerReport) { got <- r }, func(error) {})
	}()
	select {
	case r := <-got:
		require.Equal(t, "j1", r.JobID)
	case <-time.After(5 * time.Second):
		t.Fatal("no report after the partition consumer started")
	}
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, []string{"read progress partition", "read progress partition"}, retried)
	require.NoError(t, c.Close())
}
