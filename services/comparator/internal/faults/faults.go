// Package faults reads the fault timeline of a run, as
// `runscenario.sh --fault` writes it (the faults injected and samples of
// each job's progress taken from the master's API meanwhile), and says for
// each fault and job how long the job took to recover and whether the
// fault changed its final results. Pure Go over the timeline and the
// comparison reports; it knows nothing of how the faults were made.
package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// Kinds of fault, as runscenario.sh --fault names them.
const (
	KillWorker       = "kill-worker"
	KillMaster       = "kill-master"
	RestartKafka     = "restart-kafka"
	RestartCassandra = "restart-cassandra"
	AddWorker        = "add-worker"
	PauseWorker      = "pause-worker"
)

// Kinds lists the fault kinds.
func Kinds() []string {
	return []string{KillWorker, KillMaster, RestartKafka, RestartCassandra, AddWorker, PauseWorker}
}

// Types of the lines of a timeline.
const (
	lineRun    = "run"
	lineFault  = "fault"
	lineSample = "sample"
)

// Fault is one fault injected during a run.
type Fault struct {
	Kind string `json:"kind"`
	// Target names what the fault hit: a service of the platform
	// (aggregator-worker-2, aggregator-master) or a server (kafka).
	Target string `json:"target"`
	// WorkerID is the worker id of a worker the fault killed, paused or
	// added.
	WorkerID string `json:"worker_id,omitempty"`
	// OffsetS is when the fault was asked for, in seconds after the start
	// of the run's send.
	OffsetS float64 `json:"offset_s"`
	// AtMs is when the fault began (ms since the epoch); DoneMs when its
	// action ended: the process restarted and ready, the server started,
	// the worker resumed.
	AtMs   int64 `json:"at_ms"`
	DoneMs int64 `json:"done_ms"`
	// OK is false when the fault could not be made (Note says why).
	OK   bool   `json:"ok"`
	Note string `json:"note,omitempty"`
}

// Timeline is what runscenario.sh recorded of a run with faults.
type Timeline struct {
	RunID string
	// SendStartedMs is when the simulator started sending.
	SendStartedMs int64
	Faults        []Fault
	// Samples of each job, by job id, in time order.
	Samples map[string][]Sample
}

// Sample is the master's view of one job at one time: GET /api/jobs/{id}.
type Sample struct {
	TimeMs int64
	// State of the job (running, finished, ...).
	State      string
	Workers    []Worker
	Partitions []Partition
}

// Worker is a worker of a sample: when the master last heard from it and
// the partitions it reported.
type Worker struct {
	ID         string
	ReceivedMs int64
	Partitions []int32
}

// Partition is the lag of one partition of a sample, from the worker that
// reported it last.
type Partition struct {
	ID     int32
	Worker string
	Lag    int64
}

// The master's JSON (its API is a contract of the master; the comparator
// reads only these fields).
type (
	sampleLine struct {
		Type          string   `json:"type"`
		RunID         string   `json:"run_id"`
		SendStartedMs int64    `json:"send_started_ms"`
		TimeMs        int64    `json:"time_ms"`
		Job           *jobJSON `json:"job"`
	}
	jobJSON struct {
		Spec struct {
			ID    string `json:"job_id"`
			State string `json:"state"`
		} `json:"spec"`
		Workers []struct {
			ID         string    `json:"worker_id"`
			ReceivedAt time.Time `json:"received_at"`
			Partitions []int32   `json:"partitions"`
		} `json:"workers"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Worker    string `json:"worker_id"`
			Lag       int64  `json:"lag"`
		} `json:"partitions"`
	}
)

// ErrNoTimeline is returned by Read for input without a run line.
var ErrNoTimeline = errors.New("not a fault timeline: no run line (runscenario.sh --fault writes RUN_ID.faults.jsonl)")

// Read reads a timeline: JSON values, one per line, each with a type: run
// (once), fault, or sample.
func Read(r io.Reader) (Timeline, error) {
	tl := Timeline{Samples: map[string][]Sample{}}
	dec := json.NewDecoder(r)
	seenRun := false
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return Timeline{}, fmt.Errorf("fault timeline, value %d: %w", n, err)
		}
		var head sampleLine
		if err := json.Unmarshal(raw, &head); err != nil {
			return Timeline{}, fmt.Errorf("fault timeline, value %d: %w", n, err)
		}
		switch head.Type {
		case lineRun:
			tl.RunID, tl.SendStartedMs, seenRun = head.RunID, head.SendStartedMs, true
		case lineFault:
			var f Fault
			if err := json.Unmarshal(raw, &f); err != nil {
				return Timeline{}, fmt.Errorf("fault timeline, value %d: %w", n, err)
			}
			if !slices.Contains(Kinds(), f.Kind) {
				return Timeline{}, fmt.Errorf("fault timeline, value %d: unknown fault kind %q", n, f.Kind)
			}
			tl.Faults = append(tl.Faults, f)
		case lineSample:
			if head.Job == nil || head.Job.Spec.ID == "" {
				return Timeline{}, fmt.Errorf("fault timeline, value %d: a sample without a job", n)
			}
			tl.Samples[head.Job.Spec.ID] = append(tl.Samples[head.Job.Spec.ID], sampleOf(head.TimeMs, head.Job))
		default:
			return Timeline{}, fmt.Errorf("fault timeline, value %d: unknown type %q", n, head.Type)
		}
	}
	if !seenRun {
		return Timeline{}, ErrNoTimeline
	}
	sort.SliceStable(tl.Faults, func(a, b int) bool { return tl.Faults[a].AtMs < tl.Faults[b].AtMs })
	for id := range tl.Samples {
		s := tl.Samples[id]
		sort.SliceStable(s, func(a, b int) bool { return s[a].TimeMs < s[b].TimeMs })
	}
	return tl, nil
}

func sampleOf(t int64, j *jobJSON) Sample {
	s := Sample{TimeMs: t, State: j.Spec.State}
	for _, w := range j.Workers {
		s.Workers = append(s.Workers, Worker{ID: w.ID, ReceivedMs: w.ReceivedAt.UnixMilli(), Partitions: w.Partitions})
	}
	for _, p := range j.Partitions {
		s.Partitions = append(s.Partitions, Partition{ID: p.Partition, Worker: p.Worker, Lag: p.Lag})
	}
	return s
}
