package store

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
)

// TestJobSaysWhatItsEngineLogs: this project's engine keeps the decision
// log; Flink and Storm report their late drops; the other engines under
// test neither.
func TestJobSaysWhatItsEngineLogs(t *testing.T) {
	for _, tc := range []struct {
		engine           string
		log, reportsLate bool
	}{{"", true, false}, {job.Boontadata, true, false}, {"flink", false, true}, {"spark", false, false}, {"kafka-streams", false, false}, {"storm", false, true}} {
		j := toJob(job.Spec{ID: "j", Preset: "flink-event", EngineName: tc.engine})
		require.Equal(t, tc.log, j.DecisionLog, tc.engine)
		require.Equal(t, tc.reportsLate, j.ReportsLate, tc.engine)
	}
}
