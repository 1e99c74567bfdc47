package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// faultReport is the part of the comparator's JSON report the fault test
// checks.
type faultReport struct {
	RunID string `json:"run_id"`
	Run   struct {
		Counts map[string]int64 `json:"counts"`
	} `json:"run"`
	Jobs []struct {
		JobID      string `json:"job_id"`
		JobState   string `json:"job_state"`
		Windows    int    `json:"windows"`
		Exceptions int    `json:"exceptions"`
	} `json:"jobs"`
	Faults []struct {
		Kind     string  `json:"kind"`
		Target   string  `json:"target"`
		OffsetS  float64 `json:"offset_s"`
		OK       bool    `json:"ok"`
		ActionMs int64   `json:"action_ms"`
		Jobs     []struct {
			JobID          string `json:"job_id"`
			LagBefore      int64  `json:"lag_before"`
			PeakLag        int64  `json:"peak_lag"`
			RecoveryMs     *int64 `json:"recovery_ms"`
			Exceptions     int    `json:"exceptions"`
			ResultsChanged bool   `json:"results_changed"`
			Note           string `json:"note"`
		} `json:"jobs"`
	} `json:"faults"`
}

// TestDisruptiveEveryFaultOnAnExactRun runs what a user types,
// ./scripts/runscenario.sh exact --fault ..., with every kind of fault once,
// one after the other over one run of about 140 s: a worker killed and
// restarted, a worker added, the master killed and restarted, a worker
// paused past its session timeout, Kafka restarted, Cassandra restarted.
// The exact preset must still answer the truth, and the report must give
// a recovery time for each fault. The platform it starts is its own (state
// folder, ports, topics, keyspace), on the shared servers, which it
// restarts: it runs with the disruptive tests.
func TestDisruptiveEveryFaultOnAnExactRun(t *testing.T) {
	testutil.Disruptive(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	env := isolatedScenario(t, root)

	start := time.Now()
	text, err := runScript(t, 8*time.Minute, env, filepath.Join(root, "scripts", "runscenario.sh"), "exact",
		"--devices", "4", "--events-per-device", "700", "--rate", "5", "--seed", "11", "--target", "kafka",
		"--fault", "kill-worker@4", "--fault", "add-worker@16", "--fault", "kill-master@24",
		"--fault", "pause-worker@30", "--fault", "restart-kafka@50", "--fault", "restart-cassandra@110")
	require.NoError(t, err, "runscenario.sh:\n%s", lastLines(text, 80))
	t.Logf("runscenario.sh took %v", time.Since(start).Round(time.Second))

	m := regexp.MustCompile(`reports: \S+\.txt\s+(\S+\.json)\s+(\S+\.html)`).FindStringSubmatch(text)
	require.Len(t, m, 3, "report paths not printed:\n%s", lastLines(text, 10))
	b, err := os.ReadFile(m[1])
	require.NoError(t, err)
	var r faultReport
	require.NoError(t, json.Unmarshal(b, &r))
	require.Len(t, r.Jobs, 1)
	job := r.Jobs[0]
	require.Equal(t, "finished", job.JobState)
	require.Positive(t, job.Windows)
	require.Zero(t, job.Exceptions, "exact answers the truth whatever the faults")
	// The simulator's own producer (--target kafka) sent through the Kafka
	// restart: exact drops a copy it wrote twice as a duplicate, so count
	// the topic. Idempotent, it holds each send once.
	sends := int64(0)
	for _, n := range r.Run.Counts {
		sends += n
	}
	require.Positive(t, sends)
	require.Equal(t, sends, runRecords(t, envValue(env, "BOONTADATA_EVENTS_TOPIC"), r.RunID),
		"the events topic holds one record per send of the run, none lost, none written twice across the restart")

	var kinds []string
	for _, f := range r.Faults {
		kinds = append(kinds, f.Kind)
		require.True(t, f.OK, "fault %s was made", f.Kind)
		require.Len(t, f.Jobs, 1)
		e := f.Jobs[0]
		require.NotNil(t, e.RecoveryMs, "fault %s: a recovery time (%s)", f.Kind, e.Note)
		require.False(t, e.ResultsChanged, "fault %s changed the results", f.Kind)
		t.Logf("%-17s at %5.1f s on %-20s action %6d ms, lag before %4d, peak %5d, recovery %6d ms",
			f.Kind, f.OffsetS, f.Target, f.ActionMs, e.LagBefore, e.PeakLag, *e.RecoveryMs)
	}
	sort.Strings(kinds)
	require.Equal(t, []string{"add-worker", "kill-master", "kill-worker", "pause-worker", "restart-cassandra", "restart-kafka"}, kinds)
	require.Contains(t, text, "Faults injected during the run", "the text report states the faults")
	html, err := os.ReadFile(m[2])
	require.NoError(t, err)
	require.Contains(t, string(html), `"faults":[{`, "the HTML report carries the faults")
}

// isolatedScenario returns the environment of a platform of the test's own
// for the scenario scripts: its state folder (on the servers of the shared
// infra state), ports, topics and keyspace. It stops that platform's
// services and drops its keyspace at the end.
func isolatedScenario(t *testing.T, root string) []string {
	t.Helper()
	state := t.TempDir()
	// The servers' own state: where scripts/infra started them.
	infra := os.Getenv("BOONTADATA_INFRA_DIR")
	if infra == "" {
		shared := os.Getenv("BOONTADATA_STATE_DIR")
		if shared == "" {
			shared = filepath.Join(root, ".state")
		}
		infra = filepath.Join(shared, "infra")
	}
	prefix := testutil.Unique("e2ef-")
	keyspace := strings.ReplaceAll(prefix, "-", "_")
	base := freePorts(t, 6)
	env := append(os.Environ(),
		"BOONTADATA_STATE_DIR="+state,
		"BOONTADATA_INFRA_DIR="+infra,
		fmt.Sprintf("BOONTADATA_INGEST_PORT=%d", base),
		fmt.Sprintf("BOONTADATA_MASTER_PORT=%d", base+1),
		fmt.Sprintf("BOONTADATA_WORKER_BASE_PORT=%d", base+2),
		"BOONTADATA_KAFKA_BROKERS="+strings.Join(testutil.KafkaBrokers(), ","),
		"BOONTADATA_CASSANDRA_HOSTS="+strings.Join(testutil.CassandraHosts(), ","),
		"BOONTADATA_CASSANDRA_KEYSPACE="+keyspace,
		"BOONTADATA_EVENTS_PARTITIONS=8",
	)
	for _, topic := range []string{"events", "deadletter", "jobs", "tasks", "progress", "results", "watermarks"} {
		env = append(env, fmt.Sprintf("BOONTADATA_%s_TOPIC=%s-%s", strings.ToUpper(topic), prefix, topic))
	}
	t.Cleanup(func() {
		stop := exec.Command(filepath.Join(root, "scripts", "stopscenario.sh"), "--keep-infra")
		stop.Env = env
		if out, err := stop.CombinedOutput(); err != nil {
			t.Logf("stopscenario.sh: %v\n%s", err, out)
		}
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(state, "services", "*.log"))
			for _, l := range logs {
				t.Logf("--- last lines of %s ---\n%s", filepath.Base(l), tail(l, 30))
			}
		}
		c := cassandra.DefaultConfig()
		c.Hosts = testutil.CassandraHosts()
		if s, err := cassandra.NewSession(&c, zap.NewNop(), false); err == nil {
			_ = s.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec() // best effort: names are unique anyway
			s.Close()
		}
	})
	return env
}

// freePorts returns the first of n consecutive ports nothing listens on.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(20000) //nolint:gosec // a port, not a secret
		free := true
		for p := base; p < base+n && free; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				continue
			}
			_ = ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// envValue returns the value of name in env.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// runRecords counts the events of run runID in topic (end-of-run markers
// aside).
func runRecords(t *testing.T, topic, runID string) int64 {
	t.Helper()
	var n int64
	eachRecord(t, topic, func(m *sarama.ConsumerMessage) {
		if _, end := kafka.EndOfRun(m.Headers); !end && string(kafka.Header(m.Headers, kafka.HeaderRunID)) == runID {
			n++
		}
	})
	return n
}
