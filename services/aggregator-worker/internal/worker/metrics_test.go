package worker

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/retry"
)

func TestMetricsCountRetriesByOperation(t *testing.T) {
	m := NewMetrics()
	m.Observe(job.WorkerReport{WorkerID: "w", JobID: "j", Partitions: []job.PartitionProgress{{Partition: 2, Records: 7}}})
	p := retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, OnRetry: m.Retried}
	for _, op := range []string{"write results", "write results", "consume events"} {
		fail := true
		require.NoError(t, p.Do(context.Background(), zap.NewNop(), op, func() error {
			if fail {
				fail = false
				return errors.New("down")
			}
			return nil
		}))
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `boontadata_worker_records_total{job="j",partition="2"} 7`)
	require.Contains(t, string(body), "# TYPE boontadata_worker_retries_total counter\n"+
		`boontadata_worker_retries_total{operation="consume events"} 1`+"\n"+
		`boontadata_worker_retries_total{operation="write results"} 2`+"\n")
}
