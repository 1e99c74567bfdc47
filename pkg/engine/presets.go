package engine

import (
	"fmt"
	"strings"
	"time"
)

// Presets returns the named scenarios users type, in a fresh slice each call.
// docs/engine.md holds the same values in one table; TestPresetsMatchDocs
// keeps the two in step.
func Presets() []Spec {
	const sec = time.Second
	return []Spec{{
		Name: "dstream", Mirrors: "Spark Streaming DStream (direct Kafka)",
		Time: ProcessingTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger: MicroBatch, TriggerInterval: 5 * sec,
		Dedup:  DedupWithinBatch,
		Output: Append, Delivery: AtLeastOnce,
	}, {
		Name: "structured", Mirrors: "Spark Structured Streaming",
		Time: EventTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger: MicroBatch, TriggerInterval: 5 * sec,
		WatermarkDelay: 60 * sec, LateByRecordTime: true, Scope: ScopeGlobal,
		Dedup:  DedupUntilWatermark,
		Output: Update, Delivery: ExactlyOnce,
	}, {
		Name: "flink-processing", Mirrors: "Flink ProcessingTime",
		Time: ProcessingTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger: Continuous,
		Dedup:   DedupWithinWindow,
		Output:  Append, Delivery: ExactlyOnce,
	}, {
		Name: "flink-event", Mirrors: "Flink EventTime, bounded out-of-orderness",
		Time: EventTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger:        Continuous,
		WatermarkDelay: 5 * sec, Scope: ScopeMin, IdleTimeout: 2 * sec,
		Dedup:  DedupWithinWindow,
		Output: Append, Delivery: ExactlyOnce,
	}, {
		Name: "flink-ingestion", Mirrors: "Flink IngestionTime",
		Time: IngestionTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger:        Continuous,
		WatermarkDelay: 1 * sec, Scope: ScopeMin, IdleTimeout: 2 * sec,
		Dedup:  DedupWithinWindow,
		Output: Append, Delivery: ExactlyOnce,
	}, {
		Name: "storm", Mirrors: "Storm at-least-once, record at a time",
		Time: EventTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger:         Continuous,
		AllowedLateness: 5 * time.Minute, Scope: ScopePartition,
		Dedup:  DedupNone,
		Output: Update, EmitPerRecord: true, Delivery: AtLeastOnce,
	}, {
		Name: "exact", Mirrors: "the best this engine can do",
		Time: EventTime, WindowSize: 5 * sec, WindowSlide: 5 * sec,
		Trigger:        Continuous,
		WatermarkDelay: 10 * sec, AllowedLateness: 5 * time.Minute, Scope: ScopePartition,
		Dedup: DedupUntilWatermark, DedupHorizon: 30 * sec,
		Output: Update, Delivery: ExactlyOnce,
	}}
}

// PresetNames lists the preset names in table order.
func PresetNames() []string {
	ps := Presets()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// Preset returns the named preset.
func Preset(name string) (Spec, error) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, nil
		}
	}
	return Spec{}, fmt.Errorf("preset %q: %w (known: %s)", name, ErrUnknownPreset, strings.Join(PresetNames(), ", "))
}
