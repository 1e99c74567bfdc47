// Package e2e runs the platform's binaries as separate processes against the
// real Kafka and Cassandra and checks what users rely on: results equal to
// the truth, surviving killed processes, poison records dead-lettered.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/testutil"
)

var services = []string{"simulator", "ingest", "aggregator-master", "aggregator-worker", "comparator"}

// binaries are built once for the whole test run, by the first test that
// needs them, into a folder TestMain removes.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir) // a temporary folder
	}
	os.Exit(code)
}

func buildBinaries() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "boontadata-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		for _, s := range services {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, s), "./services/"+s+"/cmd/"+s)
			cmd.Dir = "../.."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %w\n%s", s, err, out)
				return
			}
		}
	})
	return binDir, buildErr
}

// platform is one isolated instance of the platform: its own topics and
// keyspace on the shared servers, its own processes.
type platform struct {
	t         *testing.T
	env       []string
	prefix    string
	keyspace  string
	masterURL string
	logDir    string
	session   *gocql.Session

	mu    sync.Mutex
	procs []*proc
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	testutil.Integration(t)
	_, err := buildBinaries()
	require.NoError(t, err)
	prefix := testutil.Unique("e2e-")
	keyspace := strings.ReplaceAll(prefix, "-", "_")
	p := &platform{t: t, prefix: prefix, keyspace: keyspace, logDir: t.TempDir()}
	p.env = append(os.Environ(),
		"BOONTADATA_KAFKA_BROKERS="+strings.Join(testutil.KafkaBrokers(), ","),
		"BOONTADATA_CASSANDRA_HOSTS="+strings.Join(testutil.CassandraHosts(), ","),
		"BOONTADATA_CASSANDRA_KEYSPACE="+keyspace,
		"BOONTADATA_EVENTS_TOPIC="+prefix+"-events",
		"BOONTADATA_DEADLETTER_TOPIC="+prefix+"-deadletter",
		"BOONTADATA_JOBS_TOPIC="+prefix+"-jobs",
		"BOONTADATA_TASKS_TOPIC="+prefix+"-tasks",
		"BOONTADATA_PROGRESS_TOPIC="+prefix+"-progress",
		"BOONTADATA_EVENTS_PARTITIONS=8",
		"BOONTADATA_LOG_FORMAT=json",
	)
	t.Cleanup(p.cleanup)
	return p
}

func (p *platform) cleanup() {
	p.mu.Lock()
	procs := p.procs
	p.mu.Unlock()
	for _, pr := range procs {
		pr.stop(10 * time.Second)
	}
	if p.t.Failed() {
		for _, pr := range procs {
			p.t.Logf("--- last lines of %s ---\n%s", pr.name, tail(pr.logPath, 40))
		}
	}
	if p.session != nil {
		_ = p.session.Query("DROP KEYSPACE IF EXISTS " + p.keyspace).Exec() // best effort: names are unique anyway
		p.session.Close()
	}
}

// proc is a running service.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// start runs a service binary with the platform's environment.
func (p *platform) start(name, service string, args ...string) *proc {
	p.t.Helper()
	logPath := filepath.Join(p.logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	cmd := exec.Command(filepath.Join(binDir, service), args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(p.t, cmd.Start(), "start %s", name)
	pr := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		_ = f.Close()
		close(pr.done)
	}()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	return pr
}

// run runs a service binary to completion and returns its stdout.
func (p *platform) run(timeout time.Duration, service string, args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, service), args...)
	cmd.Env = p.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	require.NoError(p.t, err, "%s %v failed:\n%s", service, args, lastLines(errOut.String(), 40))
	return out.String()
}

// kill sends SIGKILL: no cleanup, no commit, as a crash.
func (pr *proc) kill() {
	_ = pr.cmd.Process.Kill()
	<-pr.done
}

// stop sends SIGTERM and waits, then kills after the timeout.
func (pr *proc) stop(timeout time.Duration) {
	select {
	case <-pr.done:
		return
	default:
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(timeout):
		pr.kill()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startMaster starts the aggregator-master, with args after its own, and
// waits until it answers.
func (p *platform) startMaster(name string, addr string, args ...string) *proc {
	p.t.Helper()
	if addr == "" {
		addr = freeAddr(p.t)
	}
	p.masterURL = "http://" + addr
	pr := p.start(name, "aggregator-master", append([]string{"serve", "--listen", addr}, args...)...)
	p.waitFor(90*time.Second, "the master answers /healthz", func() (bool, string) {
		select {
		case <-pr.done:
			p.t.Fatalf("master exited: %v\n%s", pr.err, tail(pr.logPath, 30))
		default:
		}
		resp, err := http.Get(p.masterURL + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return pr
}

func (p *platform) startWorker(name string) *proc {
	p.t.Helper()
	return p.start(name, "aggregator-worker", "run", "--worker-id", name, "--listen", "127.0.0.1:0")
}

// submit posts a job to the master.
func (p *platform) submit(spec job.Spec) {
	p.t.Helper()
	b, err := json.Marshal(spec)
	require.NoError(p.t, err)
	resp, err := http.Post(p.masterURL+"/api/jobs", "application/json", bytes.NewReader(b))
	require.NoError(p.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Less(p.t, resp.StatusCode, 300, "submit job: %s: %s", resp.Status, body)
}

// waitFor polls cond until it holds or the timeout passes, then fails with
// cond's last explanation.
func (p *platform) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// cql returns a session on the platform's keyspace (created by the services).
func (p *platform) cql() *gocql.Session {
	p.t.Helper()
	if p.session != nil {
		return p.session
	}
	c := cassandra.DefaultConfig()
	c.Hosts = testutil.CassandraHosts()
	c.Keyspace = p.keyspace
	s, err := cassandra.NewSession(&c, zap.NewNop(), true)
	require.NoError(p.t, err)
	p.session = s
	return s
}

type windowKey struct {
	device, category string
	start            int64
}

type aggregate struct {
	m1    int64
	m2    float64
	count int64
}

// truth reads the truth by device time of a run.
func (p *platform) truth(runID string) map[windowKey]aggregate {
	p.t.Helper()
	s := p.cql()
	out := map[windowKey]aggregate{}
	for _, dev := range p.devices(runID) {
		iter := s.Query(`SELECT category, window_start, m1_sum, m2_sum, event_count FROM truth_by_device_time WHERE run_id = ? AND device_id = ?`,
			runID, dev).Iter()
		var (
			cat   string
			start time.Time
			a     aggregate
		)
		for iter.Scan(&cat, &start, &a.m1, &a.m2, &a.count) {
			out[windowKey{dev, cat, start.UnixMilli()}] = a
		}
		require.NoError(p.t, iter.Close())
	}
	return out
}

func (p *platform) devices(runID string) []string {
	p.t.Helper()
	iter := p.cql().Query(`SELECT device_id FROM run_devices WHERE run_id = ?`, runID).Iter()
	var out []string
	var d string
	for iter.Scan(&d) {
		out = append(out, d)
	}
	require.NoError(p.t, iter.Close())
	return out
}

// results reads the engine's answers of a job for the devices of a run.
func (p *platform) results(runID, jobID string) (map[windowKey]aggregate, error) {
	answers, err := cassandra.Answers(context.Background(), p.cql(), runID, jobID)
	if err != nil {
		return nil, err
	}
	ofRun := map[string]bool{}
	for _, dev := range p.devices(runID) {
		ofRun[dev] = true
	}
	out := map[windowKey]aggregate{}
	for k, a := range answers {
		if ofRun[k.DeviceID] {
			out[windowKey{k.DeviceID, k.Category, k.WindowStart}] = aggregate{m1: a.M1, m2: a.M2, count: a.Count}
		}
	}
	return out, nil
}

// diff describes how results differ from the truth; empty when equal.
func diff(truth, results map[windowKey]aggregate) string {
	var lines []string
	for k, want := range truth {
		got, ok := results[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("missing %v: truth %+v", k, want))
		case got.m1 != want.m1 || got.count != want.count || math.Abs(got.m2-want.m2) > 1e-6*math.Max(1, math.Abs(want.m2)):
			lines = append(lines, fmt.Sprintf("differs %v: truth %+v engine %+v", k, want, got))
		}
	}
	for k, got := range results {
		if _, ok := truth[k]; !ok {
			lines = append(lines, fmt.Sprintf("extra %v: engine %+v", k, got))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	sort.Strings(lines)
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("... and %d more", len(lines)-10))
	}
	return fmt.Sprintf("%d windows differ of %d: %s", len(lines), len(truth), strings.Join(lines, "; "))
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runScript runs a script of scripts/ with env (nil: the test's own) until
// it ends or timeout passes, and returns what it printed. On timeout its
// whole process group is stopped (the services it started in the
// background hold its output open, so killing the script alone would leave
// the test waiting for them) and the error says so.
func runScript(t *testing.T, timeout time.Duration, env []string, script string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second // then the pipes close and the group is killed
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return string(out), fmt.Errorf("%s %v did not end within %v: %w", filepath.Base(script), args, timeout, ctx.Err())
	}
	return string(out), err
}
