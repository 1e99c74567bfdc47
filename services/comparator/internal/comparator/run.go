package comparator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/logging"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/faults"
	"github.com/boontadata/boontadata/services/comparator/internal/render"
	"github.com/boontadata/boontadata/services/comparator/internal/store"
)

// Source is what the comparator reads; store.Store reads it from Cassandra.
type Source interface {
	LoadRun(ctx context.Context, runID string) (compare.RunData, error)
	Jobs(ctx context.Context) ([]compare.Job, error)
	Job(ctx context.Context, id string) (compare.Job, error)
	HasResults(ctx context.Context, runID, jobID string, devices []string) (bool, error)
	LoadResults(ctx context.Context, runID, jobID string, devices []string) ([]compare.Result, []compare.Revision, error)
	LoadDecisions(ctx context.Context, runID, jobID string, devices []string) ([]compare.Decision, error)
}

// Deps are the comparator's dependencies.
type Deps struct {
	Source Source
	Log    *zap.Logger
	// Stdout receives the report when --output is not a file.
	Stdout io.Writer
	// Now is the clock of the report's generated_at.
	Now func() time.Time
}

// Errors of Run, besides those of the source.
var (
	ErrNoTruth        = errors.New("the run has no truth yet")
	ErrNoJobs         = errors.New("the run has no jobs")
	ErrWrongRun       = errors.New("the job consumed another run")
	ErrNothingCompare = errors.New("nothing to compare")
)

// Run compares the jobs of the run and writes the reports. It returns a
// cli.ExitCoder with status ExitMaxExceptions when --max-exceptions is
// exceeded.
func Run(ctx context.Context, cfg Config, d Deps) error {
	log := d.Log.With(zap.String(logging.KeyRunID, cfg.RunID))
	start := time.Now()
	run, err := d.Source.LoadRun(ctx, cfg.RunID)
	if errors.Is(err, store.ErrRunNotFound) {
		return fmt.Errorf("run %q not found in keyspace %s: use the run id the simulator printed on its last line (the runs table lists them)",
			cfg.RunID, cfg.Cassandra.Keyspace)
	}
	if err != nil {
		return err
	}
	var timeline *faults.Timeline
	if cfg.Faults != "" {
		tl, err := readTimeline(cfg.Faults, cfg.RunID)
		if err != nil {
			return err
		}
		timeline = &tl
	}
	log.Info("run loaded", zap.Int("devices", len(run.DeviceIDs)), zap.Int("truth_rows", len(run.TruthByDevice)),
		zap.Int("raw_events", len(run.Raw)), zap.String("status", run.Run.Status), zap.Duration("took", time.Since(start)))
	if len(run.TruthByDevice) == 0 {
		return fmt.Errorf("%w: run %s (status %q) has no rows in truth_by_device_time; the simulator writes them when the run ends",
			ErrNoTruth, cfg.RunID, run.Run.Status)
	}
	jobs, err := selectJobs(ctx, cfg, d.Source, &run)
	if err != nil {
		return err
	}
	cmp := compare.New(&run, compare.Options{M2Tolerance: cfg.M2Tolerance})
	reports := make([]compare.Report, 0, len(jobs))
	for _, j := range jobs {
		results, revisions, err := d.Source.LoadResults(ctx, cfg.RunID, j.ID, run.DeviceIDs)
		if err != nil {
			return err
		}
		var decisions []compare.Decision
		if j.DecisionLog || j.ReportsLate {
			if decisions, err = d.Source.LoadDecisions(ctx, cfg.RunID, j.ID, run.DeviceIDs); err != nil {
				return err
			}
		}
		rep := cmp.Compare(compare.JobData{Job: j, Results: results, Revisions: revisions, Decisions: decisions})
		log.Info("job compared", zap.String(logging.KeyJobID, j.ID), zap.String("preset", j.Preset),
			zap.Int("windows", rep.Windows), zap.Int("exceptions", rep.Exceptions), zap.String("problem", rep.Problem))
		reports = append(reports, rep)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	doc := render.NewDocument(run.Run, cfg.M2Tolerance, now(), reports)
	if timeline != nil {
		doc.Faults = faults.Assess(*timeline, reports)
	}
	if err := writeReports(cfg, d.Stdout, doc); err != nil {
		return err
	}
	return verdict(cfg, reports)
}

// ErrOtherRun is returned for a fault timeline of another run.
var ErrOtherRun = errors.New("the fault timeline is of another run")

// readTimeline reads the fault timeline of run from path.
func readTimeline(path, run string) (faults.Timeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return faults.Timeline{}, fmt.Errorf("--faults: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	tl, err := faults.Read(f)
	if err != nil {
		return faults.Timeline{}, fmt.Errorf("--faults %s: %w", path, err)
	}
	if tl.RunID != run {
		return faults.Timeline{}, fmt.Errorf("--faults %s: %w: %s, not %s", path, ErrOtherRun, tl.RunID, run)
	}
	return tl, nil
}

// selectJobs returns the --job jobs, or every job of the run.
func selectJobs(ctx context.Context, cfg Config, src Source, run *compare.RunData) ([]compare.Job, error) {
	if ids := cfg.JobIDs.Value(); len(ids) > 0 {
		var out []compare.Job
		seen := map[string]bool{}
		for _, raw := range ids {
			for _, id := range strings.Split(raw, ",") {
				id = strings.TrimSpace(id)
				if id == "" || seen[id] {
					continue
				}
				seen[id] = true
				j, err := src.Job(ctx, id)
				if errors.Is(err, store.ErrJobNotFound) {
					return nil, fmt.Errorf("job %q not found: list the jobs with `aggregator-master list`", id)
				}
				if err != nil {
					return nil, err
				}
				if j.RunID != "" && j.RunID != cfg.RunID {
					return nil, fmt.Errorf("%w: job %s consumed run %s, not %s", ErrWrongRun, id, j.RunID, cfg.RunID)
				}
				out = append(out, j)
			}
		}
		return out, nil
	}
	all, err := src.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []compare.Job
	for _, j := range all {
		switch j.RunID {
		case cfg.RunID:
			out = append(out, j)
		case "":
			// A job reading every run stores results under each event's run.
			ok, err := src.HasResults(ctx, cfg.RunID, j.ID, run.DeviceIDs)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, j)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: run %s: submit one with `aggregator-master submit --preset exact --run-id %s` (any preset: %s), let it consume the run, then compare again",
			ErrNoJobs, cfg.RunID, cfg.RunID, strings.Join(engine.PresetNames(), ", "))
	}
	order := engine.PresetNames()
	rank := func(p string) int {
		if i := slices.Index(order, p); i >= 0 {
			return i
		}
		return len(order)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank(out[a].Preset), rank(out[b].Preset); ra != rb {
			return ra < rb
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

func writeReports(cfg Config, stdout io.Writer, doc render.Document) error {
	write := func(w io.Writer) error {
		switch cfg.Format {
		case FormatJSON:
			return render.JSON(w, doc)
		case FormatCSV:
			return render.CSV(w, doc)
		}
		return render.Text(w, doc, render.TextOptions{AllWindows: cfg.AllWindows})
	}
	if cfg.Output == "" || cfg.Output == "-" {
		if err := write(stdout); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else if err := writeFile(cfg.Output, write); err != nil {
		return err
	}
	if cfg.HTML != "" {
		return writeFile(cfg.HTML, func(w io.Writer) error { return render.HTML(w, doc) })
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create report file: %w", err)
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write error says more
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// verdict turns the reports into the exit status: an error when a job asked
// for has nothing to compare, or when no job has; status 3 when a job has
// more exceptions than --max-exceptions.
func verdict(cfg Config, reports []compare.Report) error {
	explicit := len(cfg.JobIDs.Value()) > 0
	var problems []string
	for _, r := range reports {
		if r.Problem != "" {
			problems = append(problems, r.Problem)
		}
	}
	if len(problems) > 0 && (explicit || len(problems) == len(reports)) {
		return fmt.Errorf("%w: %s", ErrNothingCompare, strings.Join(problems, "; "))
	}
	if cfg.MaxExceptions >= 0 {
		var over []string
		for _, r := range reports {
			if r.Problem == "" && r.Exceptions > cfg.MaxExceptions {
				over = append(over, fmt.Sprintf("job %s (%s) has %d exceptions", r.JobID, r.Preset, r.Exceptions))
			}
		}
		if len(over) > 0 {
			return cli.Exit(fmt.Sprintf("%s, more than --max-exceptions %d", strings.Join(over, ", "), cfg.MaxExceptions), ExitMaxExceptions)
		}
	}
	return nil
}
