package job

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
)

// EngineUnderTest is an engine that can run jobs: this project's own, or a
// real engine behind the engine contract (docs/engines.md).
type EngineUnderTest struct {
	Name string `json:"name"`
	// Presets are the presets it runs, as the real engine's own semantics.
	Presets []string `json:"presets"`
	// Dir holds its Maven project and run.sh, relative to the repository
	// (empty for this project's engine).
	Dir string `json:"dir,omitempty"`
	// About says what it is.
	About string `json:"about"`
	// ReportsLate: its jobs write a late line for every record they drop
	// as late (docs/engines.md), which the comparator names.
	ReportsLate bool `json:"reports_late,omitempty"`
}

// ErrEngine is wrapped by errors about an engine under test.
var ErrEngine = errors.New("engine under test")

// Engines lists the engines under test, this project's first.
func Engines() []EngineUnderTest {
	return []EngineUnderTest{
		{Name: Boontadata, Presets: engine.PresetNames(), About: "this project's engine: aggregator-master and aggregator-workers"},
		{Name: "spark", Presets: []string{"structured", "dstream"}, Dir: "engines/spark",
			About: "Apache Spark 4: Structured Streaming (structured) and DStreams (dstream)"},
		{Name: "flink", Presets: []string{"flink-event", "flink-processing", "flink-ingestion"}, Dir: "engines/flink",
			About: "Apache Flink 2: DataStream with event, processing or ingestion time", ReportsLate: true},
		{Name: "kafka-streams", Presets: []string{"exact"}, Dir: "engines/kafka-streams",
			About: "Apache Kafka Streams 4: windowed aggregation with grace and dedup, beside exact"},
		{Name: "storm", Presets: []string{"storm"}, Dir: "engines/storm",
			About: "Apache Storm 2: Kafka spout and counting bolts, at least once", ReportsLate: true},
	}
}

// EngineNamed returns an engine under test.
func EngineNamed(name string) (EngineUnderTest, error) {
	var names []string
	for _, e := range Engines() {
		if e.Name == name {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return EngineUnderTest{}, fmt.Errorf("%w %q unknown (known: %s)", ErrEngine, name, strings.Join(names, ", "))
}

// EnginesOf returns the names of the engines that run a preset.
func EnginesOf(preset string) []string {
	var out []string
	for _, e := range Engines() {
		if slices.Contains(e.Presets, preset) {
			out = append(out, e.Name)
		}
	}
	return out
}

// checkEngine reports a job whose engine does not exist or does not run its
// preset.
func (s Spec) checkEngine() error {
	e, err := EngineNamed(s.EngineUnderTest())
	if err != nil {
		return err
	}
	if !slices.Contains(e.Presets, s.Preset) {
		return fmt.Errorf("%w %s runs %s, not %s", ErrEngine, e.Name, strings.Join(e.Presets, ", "), s.Preset)
	}
	if e.Name != Boontadata && s.RunID == "" {
		return fmt.Errorf("%w %s: a job of an engine under test reads one run: give its run id", ErrEngine, e.Name)
	}
	return nil
}

// ContractArgs returns the flags of the engine contract (docs/engines.md)
// that run a job of an engine under test with its semantics: what run.sh of
// the engine takes.
func (s Spec) ContractArgs() ([]string, error) {
	es, err := s.Engine()
	if err != nil {
		return nil, err
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	dedup := map[engine.DedupScope]string{engine.DedupNone: "none", engine.DedupWithinBatch: "batch",
		engine.DedupWithinWindow: "window", engine.DedupUntilWatermark: "watermark"}[es.Dedup]
	trigger := es.TriggerInterval
	if es.Trigger == engine.Continuous {
		// Updates at most this often: the emit interval, or the continuous
		// runtime's tick without one.
		trigger = max(es.EmitInterval, 200*time.Millisecond)
	}
	args := []string{
		"--job-id", s.ID, "--run-id", s.RunID,
		"--time", es.Time.String(),
		"--window-ms", ms(es.WindowSize),
		"--watermark-ms", ms(es.WatermarkDelay),
		"--lateness-ms", ms(es.AllowedLateness),
		"--idle-ms", ms(es.IdleTimeout),
		"--dedup", dedup,
		"--dedup-horizon-ms", ms(es.DedupHorizon),
		"--output", es.Output.String(),
		"--trigger-ms", ms(trigger),
		"--start-offsets", s.WithDefaults().StartOffsets,
	}
	if s.EngineUnderTest() == "spark" {
		mode := "structured"
		if es.Trigger == engine.MicroBatch && es.Time == engine.ProcessingTime {
			mode = "dstream"
		}
		args = append(args, "--mode", mode)
	}
	return args, nil
}
