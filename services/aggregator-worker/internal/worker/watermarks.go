package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/logging"
)

// wireMark is one partition's mark on the watermarks topic.
type wireMark struct {
	JobID    string `json:"job_id"`
	WorkerID string `json:"worker_id"`
	engine.PartitionMark
	// At is the publisher's clock, ms.
	At int64 `json:"at"`
}

// heartbeat is how often a partition's unchanged mark is published again,
// so that a worker that starts reading the topic learns every mark soon.
const heartbeat = time.Second

// Hub shares the partition marks of this worker's jobs with the other
// workers through the watermarks topic, and combines every worker's marks
// into the watermark of a job (ScopeMin, ScopeGlobal): what Flink's window
// operator does with the watermarks of its inputs, across processes. Local
// marks are used as they are; remote ones as the topic last said. A stale
// mark can only hold a minimum back or lag a maximum, never move a
// watermark past what a partition said.
type Hub struct {
	topic    string
	workerID string
	log      *zap.Logger
	now      func() time.Time

	mu    sync.Mutex
	marks map[string]map[int32]engine.PartitionMark // job -> partition -> latest
	local map[string]map[int32]*localMark           // marks this worker owns
	// ended is closed, and replaced, when a partition's mark newly says
	// the end of its input: the publisher sends it at once and the
	// partitions of the jobs combine it at once, so a run's last windows
	// do not wait for ticks.
	ended chan struct{}
}

type localMark struct {
	mark      engine.PartitionMark
	published time.Time
	dirty     bool
}

// NewHub returns the hub of one worker; Publish and Consume run it.
func NewHub(topic, workerID string, log *zap.Logger, now func() time.Time) *Hub {
	return &Hub{topic: topic, workerID: workerID, log: log, now: now,
		marks: map[string]map[int32]engine.PartitionMark{}, local: map[string]map[int32]*localMark{},
		ended: make(chan struct{})}
}

// endSignal returns a channel closed when a partition's mark next says the
// end of its input.
func (h *Hub) endSignal() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ended
}

// report records the mark of a partition this worker owns.
func (h *Hub) report(jobID string, m engine.PartitionMark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set(jobID, m)
	lm := h.local[jobID]
	if lm == nil {
		lm = map[int32]*localMark{}
		h.local[jobID] = lm
	}
	cur := lm[m.Partition]
	if cur == nil {
		cur = &localMark{}
		lm[m.Partition] = cur
	}
	if cur.mark != m {
		cur.mark, cur.dirty = m, true
	}
}

// release stops publishing a partition this worker no longer owns; its last
// mark stays known until its next owner reports.
func (h *Hub) release(jobID string, partition int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.local[jobID], partition)
}

// forget drops everything known of a job that stopped on this worker.
func (h *Hub) forget(jobID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.marks, jobID)
	delete(h.local, jobID)
}

func (h *Hub) set(jobID string, m engine.PartitionMark) {
	pm := h.marks[jobID]
	if pm == nil {
		pm = map[int32]engine.PartitionMark{}
		h.marks[jobID] = pm
	}
	if m.Ended && !pm[m.Partition].Ended {
		close(h.ended)
		h.ended = make(chan struct{})
	}
	pm[m.Partition] = m
}

// combined returns the watermark of a job over its input's partitions,
// never below prev. A partition no one reported yet holds a minimum back.
func (h *Hub) combined(jobID string, scope engine.WatermarkScope, prev int64, partitions int) int64 {
	marks := make([]engine.PartitionMark, partitions)
	h.mu.Lock()
	known := h.marks[jobID]
	for p := range marks {
		m, ok := known[int32(p)]
		if !ok {
			m = engine.PartitionMark{Partition: int32(p), Watermark: math.MinInt64}
		}
		marks[p] = m
	}
	h.mu.Unlock()
	return engine.Combine(scope, prev, marks)
}

// take returns the messages of the local marks that changed, or that were
// not published for a heartbeat.
func (h *Hub) take() []*sarama.ProducerMessage {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var msgs []*sarama.ProducerMessage
	for jobID, lm := range h.local {
		for p, m := range lm {
			if !m.dirty && now.Sub(m.published) < heartbeat {
				continue
			}
			b, err := json.Marshal(wireMark{JobID: jobID, WorkerID: h.workerID, PartitionMark: m.mark, At: now.UnixMilli()})
			if err != nil {
				continue // plain integers and booleans: cannot fail
			}
			msgs = append(msgs, &sarama.ProducerMessage{Topic: h.topic,
				Key: sarama.StringEncoder(jobID + "/" + strconv.Itoa(int(p))), Value: sarama.ByteEncoder(b)})
			m.dirty, m.published = false, now
		}
	}
	return msgs
}

// Publish sends the local marks that are due every interval, and a mark
// that newly says the end of its input at once, until ctx ends.
func (h *Hub) Publish(ctx context.Context, p sarama.SyncProducer, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// Taken before take: an end reported after it wakes the next round.
		ended := h.endSignal()
		if msgs := h.take(); len(msgs) > 0 {
			if err := p.SendMessages(msgs); err != nil {
				// The next heartbeat sends them again.
				h.log.Warn("partition watermarks not published", zap.String(logging.KeyTopic, h.topic), zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ended:
		}
	}
}

// Consume reads the marks of the other workers from the newest offset on
// (every mark is published again within a heartbeat) until ctx ends.
func (h *Hub) Consume(ctx context.Context, c sarama.Consumer) error {
	pc, err := c.ConsumePartition(h.topic, 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("read %s: %w", h.topic, err)
	}
	defer func() { _ = pc.Close() }() // reading only
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-pc.Errors():
			if e != nil {
				h.log.Warn("reading partition watermarks", zap.Error(e.Err))
			}
		case msg, ok := <-pc.Messages():
			if !ok {
				return nil
			}
			var w wireMark
			if err := json.Unmarshal(msg.Value, &w); err != nil || w.JobID == "" {
				h.log.Debug("unreadable partition watermark skipped", zap.Int64(logging.KeyOffset, msg.Offset))
				continue
			}
			if w.WorkerID == h.workerID {
				continue // our own marks are known first hand
			}
			h.mu.Lock()
			if _, mine := h.local[w.JobID][w.Partition]; !mine {
				h.set(w.JobID, w.PartitionMark)
			}
			h.mu.Unlock()
		}
	}
}
