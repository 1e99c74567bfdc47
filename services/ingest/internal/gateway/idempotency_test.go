package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/ingestapi"
)

// TestIdempotentRetryStoresEachLineOnce: a request answered 503 at the
// produce timeout while the producer still held its records, which Kafka
// acknowledged later. Resent with the same Idempotency-Key, it is answered
// 202 and each line went to the producer once; resent without a key, every
// line went twice (the duplicates a client's truth would not know of).
func TestIdempotentRetryStoresEachLineOnce(t *testing.T) {
	body := valid1 + "\nbad\n" + valid2
	// attempt posts body to a gateway whose producer acknowledges nothing
	// until the first answer (a 503), then resends it until it is answered
	// 202; it returns the records the producer received.
	attempt := func(headers ...string) (*harness, *fakeProducer) {
		cfg := testConfig(t, []string{"127.0.0.1:1"})
		cfg.ProduceTimeout = 300 * time.Millisecond
		p := newGatedProducer()
		h := startGateway(t, cfg, harnessOpts{prod: p, checker: &fakeChecker{}})
		first := h.post(t, body, headers...)
		require.Equal(t, http.StatusServiceUnavailable, first.status, first.raw)
		require.Zero(t, first.body.Accepted, "nothing is claimed accepted")
		p.open()
		require.Eventually(t, func() bool {
			a := h.post(t, body, headers...)
			if a.status == http.StatusAccepted {
				require.Equal(t, 2, a.body.Accepted, a.raw)
				require.Equal(t, 1, a.body.Rejected, a.raw)
				return true
			}
			require.Contains(t, []int{http.StatusServiceUnavailable, http.StatusConflict}, a.status, a.raw)
			return false
		}, 20*time.Second, 100*time.Millisecond)
		return h, p
	}

	h, p := attempt(ingestapi.HeaderIdempotencyKey, `"batch-1"`)
	require.Equal(t, int64(3), p.received.Load(), "each line (two events, one dead letter) produced once")
	require.Contains(t, h.metric(t), "boontadata_ingest_idempotent_records_skipped_total 3")

	// A retry of the answered request replays its answer and produces nothing.
	a := h.post(t, body, ingestapi.HeaderIdempotencyKey, "batch-1")
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, 2, a.body.Accepted)
	require.Equal(t, int64(3), p.received.Load())

	// The same key with another body is a client error, and produces nothing.
	a = h.post(t, valid2, ingestapi.HeaderIdempotencyKey, "batch-1")
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
	require.Contains(t, a.body.Error, "another body")
	require.Equal(t, int64(3), p.received.Load())

	// Without a key, the resend produces again what Kafka acknowledged late.
	_, p = attempt()
	require.GreaterOrEqual(t, p.received.Load(), int64(6), "each line produced at least twice")
}

func TestIdempotencyKeyChecked(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	p := newFakeProducer(nil)
	h := startGateway(t, cfg, harnessOpts{prod: p, checker: &fakeChecker{}})
	for _, bad := range []string{`""`, "a b", strings.Repeat("k", maxIdemKeyLen+1), `k"ey`} {
		a := h.post(t, valid1, ingestapi.HeaderIdempotencyKey, bad)
		require.Equal(t, http.StatusBadRequest, a.status, "%q: %s", bad, a.raw)
		require.Contains(t, a.body.Error, ingestapi.HeaderIdempotencyKey)
	}
	require.Zero(t, p.received.Load(), "nothing of a refused request is produced")
	a := h.post(t, valid1, ingestapi.HeaderIdempotencyKey, "k-1")
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, int64(1), p.received.Load())
}

func TestIdempotencyCacheForgetsOldKeys(t *testing.T) {
	c := newIdemCache(time.Minute)
	t0 := time.Unix(1000, 0)
	e, err := c.entry("a", []byte("x"), t0)
	require.NoError(t, err)
	again, err := c.entry("a", []byte("x"), t0.Add(time.Second))
	require.NoError(t, err)
	require.Same(t, e, again, "a retry finds its key")
	_, err = c.entry("a", []byte("y"), t0.Add(time.Second))
	require.ErrorIs(t, err, errKeyReused)
	c.setHeld(e, 10, t0)
	require.Equal(t, 10, c.held)
	fresh, err := c.entry("a", []byte("y"), t0.Add(2*time.Minute))
	require.NoError(t, err, "past the ttl the key is new")
	require.NotSame(t, e, fresh)
	require.Zero(t, c.held, "the forgotten key's records are no longer held")
	require.Equal(t, 1, len(c.m))
}
