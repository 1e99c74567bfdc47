package simulator

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/kafka"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's metrics registry and gocql's session machinery start
		// process-wide goroutines that outlive a closed client.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/apache/cassandra-gocql-driver/v2.(*eventDebouncer).flusher"),
	)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
		msg    string
	}{
		{"defaults", func(*Config) {}, nil, ""},
		{"fast with start", func(c *Config) { c.Clock, c.StartTime = ClockFast, "2026-01-01T00:00:00Z" }, nil, ""},
		{"start in ms", func(c *Config) { c.Clock, c.StartTime = ClockFast, "1767225600000" }, nil, ""},
		{"total rate", func(c *Config) { c.TotalRate = 5000 }, nil, ""},
		{"unknown clock", func(c *Config) { c.Clock = "slow" }, ErrChoice, "--clock"},
		{"unknown target", func(c *Config) { c.Target = "file" }, ErrChoice, "--target"},
		{"unknown record", func(c *Config) { c.Record = "some" }, ErrChoice, "--record"},
		{"unknown progress", func(c *Config) { c.Progress = "fancy" }, ErrChoice, "--progress"},
		{"start in live mode", func(c *Config) { c.StartTime = "2026-01-01T00:00:00Z" }, nil, "--start-time needs --clock fast"},
		{"bad start", func(c *Config) { c.Clock, c.StartTime = ClockFast, "yesterday" }, ErrStartTime, ""},
		{"no devices", func(c *Config) { c.Devices = 0 }, gen.ErrDevices, ""},
		{"defects above 1", func(c *Config) { c.ResendRate = 0.99 }, gen.ErrDefect, ""},
		{"no window", func(c *Config) { c.Window = 0 }, ErrPositive, "window"},
		{"no batch", func(c *Config) { c.BatchSize = 0 }, ErrPositive, "--batch-size"},
		{"no shutdown time", func(c *Config) { c.ShutdownTimeout = 0 }, ErrPositive, "--shutdown-timeout"},
		{"bad url", func(c *Config) { c.IngestURL = "127.0.0.1:8080" }, nil, "--ingest-url"},
		{"kafka checked for kafka", func(c *Config) { c.Target, c.Kafka.Partitions = TargetKafka, 0 }, kafka.ErrBadPartitions, ""},
		{"kafka ignored for http", func(c *Config) { c.Kafka.Partitions = 0 }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil && tt.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParamsFromConfig(t *testing.T) {
	c := DefaultConfig()
	c.Devices, c.TotalRate, c.Count = 4, 1000, 100
	p, err := c.Params(1_767_225_600_000)
	require.NoError(t, err)
	require.Equal(t, 250.0, p.Rate, "the total rate is shared by the devices")
	require.Zero(t, p.Duration, "a count overrides the duration")
	require.NoError(t, p.Validate())
	require.Equal(t, "4", c.FlagMap()["devices"])
	require.NotContains(t, c.FlagMap(), "ingest-token")
}

func dryConfig() Config {
	c := DefaultConfig()
	c.DryRun, c.Clock, c.StartTime, c.Seed, c.Count, c.Devices = true, ClockFast, "2026-01-01T00:00:00Z", 5, 5000, 3
	c.Progress = ProgressOff
	return c
}

func TestDryRunIsDeterministic(t *testing.T) {
	run := func(c Config) (string, *Result) {
		var out bytes.Buffer
		res, err := Run(context.Background(), c, Deps{Log: zaptest.NewLogger(t), Stdout: &out, Stderr: &out})
		require.NoError(t, err)
		return out.String(), res
	}
	a, ra := run(dryConfig())
	b, rb := run(dryConfig())
	require.Equal(t, a, b)
	require.Equal(t, ra.Counts, rb.Counts)
	require.Equal(t, int64(5000), ra.Counts.Total())
	require.Len(t, strings.Split(strings.TrimSpace(a), "\n"), 5000)
	require.Positive(t, ra.Counts[gen.Resend])

	other := dryConfig()
	other.Seed = 6
	c, _ := run(other)
	require.NotEqual(t, a, c)
}

func TestRandomSeedAndRunID(t *testing.T) {
	c := dryConfig()
	c.Seed, c.Count = 0, 10
	var out bytes.Buffer
	res, err := Run(context.Background(), c, Deps{Log: zaptest.NewLogger(t), Stdout: &out, Stderr: &out})
	require.NoError(t, err)
	require.Positive(t, res.Seed)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, res.RunID)
}

func TestWallClockSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	require.ErrorIs(t, WallClock{}.Sleep(ctx, time.Hour), context.Canceled)
	require.Less(t, time.Since(start), time.Second)
	require.NoError(t, WallClock{}.Sleep(context.Background(), time.Millisecond))
}
