package compare

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// reportedLate is the decision an engine under test's late line becomes.
func reportedLate(id, dev, cat string, w, recordTime, deviceTime, m1 int64, m2 float64) Decision {
	start := t0 + w*size
	return Decision{DeviceID: dev, Category: cat, MessageID: id, Kind: DecisionLate, Reason: "reported by the engine: dropped as late",
		Time: recordTime, DeviceTime: deviceTime, WindowStart: start, WindowEnd: start + size, M1: m1, M2: m2}
}

func flinkJob(t *testing.T, presetName string) Job {
	j := preset(t, presetName)
	j.ID, j.EngineName, j.ReportsLate = "job-"+presetName+"-flink", "flink", true
	return j
}

// TestReportedLateDropsAreTheOnlyOnesNamed: an engine that reports its late
// drops (Flink's late side output, written as late lines) has a late event
// named only if it reported dropping it; one that does not report them is
// explained from the run's late events, as before.
func TestReportedLateDropsAreTheOnlyOnesNamed(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	late := f.send("d1", "c1", PatternLate, t0+200, t0+2*minute, 20, 2)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	answer := []Result{result("d1", "c1", 0, 10, 1, 1, t0+6*sec)}

	guessed := c.Compare(JobData{Job: preset(t, "flink-event"), Results: answer})
	require.Equal(t, []string{CauseLateDropped}, codes(rowAt(t, guessed, "d1", "c1", 0)), "no report: the run's late event")

	silent := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: answer})
	require.NotContains(t, codes(rowAt(t, silent, "d1", "c1", 0)), CauseLateDropped,
		"the engine reported no late drop: none is named")

	rep := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: answer,
		Decisions: []Decision{reportedLate(late, "d1", "c1", 0, t0+200, t0+200, 20, 2)}})
	row := rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, []string{CauseLateDropped}, codes(row))

	// A message re-sent and both copies dropped: one event lost, not a
	// duplicate counted on top of two drops.
	f.resend(late, t0+2*minute+sec)
	c = New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	copies := reportedLate(late, "d1", "c1", 0, t0+200, t0+200, 20, 2)
	again := copies
	again.Offset++
	twice := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: answer, Decisions: []Decision{copies, again}})
	require.Equal(t, []string{CauseLateDropped}, codes(rowAt(t, twice, "d1", "c1", 0)))
	require.Contains(t, row.Causes[0].Text, late+" (m1 20, device time 00:00:00.200, record time 00:00:00.200; the engine reported it dropped as late")
	require.Contains(t, rep.Notes[len(rep.Notes)-1], "reports the records it drops as late")
}

// TestReportedLateDropsInIngestionTime: by ingestion time any event may be
// late (its partition went idle, or was read behind the others); an engine
// that reports its drops has them named, in the window of their send time
// through which ingestion time is compared.
func TestReportedLateDropsInIngestionTime(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+150, 10, 1)
	lost := f.send("d1", "c1", PatternNormal, t0+4900, t0+4990, 20, 2) // sent in window 0, ingested in 1
	f.send("d1", "c1", PatternNormal, t0+5200, t0+5250, 5, 1)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	answer := []Result{result("d1", "c1", 0, 10, 1, 1, t0+6*sec), result("d1", "c1", 1, 5, 1, 1, t0+11*sec)}

	silent := c.Compare(JobData{Job: flinkJob(t, "flink-ingestion"), Results: answer})
	require.Equal(t, []string{CauseUnexplained}, codes(rowAt(t, silent, "d1", "c1", 0)))

	rep := c.Compare(JobData{Job: flinkJob(t, "flink-ingestion"), Results: answer,
		Decisions: []Decision{reportedLate(lost, "d1", "c1", 1, t0+5010, t0+4900, 20, 2)}})
	row := rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, []string{CauseLateDropped}, codes(row))
	require.Contains(t, row.Causes[0].Text, "record time 00:00:05.010")
	require.False(t, rowAt(t, rep, "d1", "c1", 1).Exception)
}

// TestConformanceReconciledByLateDrops: when both sides say what they
// dropped as late (the preset's decision log, the engine's late lines), a
// window where their answers differ is reconciled by the records one side
// dropped and the other counted.
func TestConformanceReconciledByLateDrops(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	a := f.send("d1", "c1", PatternNormal, t0+200, t0+200, 20, 2)
	b := f.send("d1", "c1", PatternNormal, t0+300, t0+300, 40, 4)
	both := f.send("d1", "c1", PatternNormal, t0+400, t0+400, 80, 8)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	ours := preset(t, "flink-event")
	ours.EngineName, ours.DecisionLog = "boontadata", true
	droppedByUs := func(id string, m1 int64, m2 float64, at int64) Decision {
		d := reportedLate(id, "d1", "c1", 0, at, at, m1, m2)
		d.Reason, d.Watermark, d.Partition, d.Offset = "window closed: window end + allowed lateness <= watermark", t0+size+1, 0, at
		return d
	}
	preset := c.Compare(JobData{Job: ours, Results: []Result{result("d1", "c1", 0, 50, 5, 2, t0+6*sec)},
		Decisions: []Decision{droppedByUs(a, 20, 2, t0+200), droppedByUs(both, 80, 8, t0+400)}})
	require.Empty(t, rowAt(t, preset, "d1", "c1", 0).Causes[1:], "one cause")
	require.Equal(t, CauseLateDropped, rowAt(t, preset, "d1", "c1", 0).Causes[0].Code)

	flink := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: []Result{result("d1", "c1", 0, 30, 3, 2, t0+6*sec)},
		Decisions: []Decision{reportedLate(b, "d1", "c1", 0, t0+300, t0+300, 40, 4), reportedLate(both, "d1", "c1", 0, t0+400, t0+400, 80, 8)}})
	cfs := Conform([]Report{preset, flink}, DefaultM2Tolerance)
	require.Len(t, cfs, 1)
	require.Equal(t, 1, cfs[0].Differ)
	row := cfs[0].Rows[0]
	require.Equal(t, &LateDifference{Engine: []string{b}, Against: []string{a},
		Text: "the answers differ by late drops: " + b + " (m1 40, dropped as late by flink), " + a + " (m1 20, dropped as late by boontadata)"}, row.Dropped)

	require.Contains(t, row.Describe("flink", "boontadata"), " — the answers differ by late drops: ")

	// An engine that does not report its drops: nothing to reconcile with,
	// though the preset's drop of a alone would make the numbers agree.
	spark := flinkJob(t, "flink-event")
	spark.ReportsLate = false
	other := c.Compare(JobData{Job: spark, Results: []Result{result("d1", "c1", 0, 70, 7, 3, t0+6*sec)}})
	require.Nil(t, Conform([]Report{preset, other}, DefaultM2Tolerance)[0].Rows[0].Dropped)

	// Answers that late drops do not reconcile.
	wrong := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: []Result{result("d1", "c1", 0, 31, 3, 2, t0+6*sec)},
		Decisions: []Decision{reportedLate(b, "d1", "c1", 0, t0+300, t0+300, 40, 4)}})
	require.Nil(t, Conform([]Report{preset, wrong}, DefaultM2Tolerance)[0].Rows[0].Dropped)
}

// TestConformanceReconciledByManyLateDrops: an engine starved of CPU drops
// a whole window as late, and also the late copy of a message whose first
// copy it had counted: every drop but that one reconciles the answers, past
// the size a subset search takes.
func TestConformanceReconciledByManyLateDrops(t *testing.T) {
	f := newFixture(t)
	kept := f.send("d1", "c1", PatternNormal, t0+10, t0+10, 1000, 1)
	var lost []string
	for i := range int64(24) {
		lost = append(lost, f.send("d1", "c1", PatternNormal, t0+100+i*100, t0+100+i*100, 1+i, 0.5))
	}
	f.resend(kept, t0+4000)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	ours := preset(t, "flink-event")
	ours.EngineName, ours.DecisionLog = "boontadata", true
	var sum int64
	for i := range int64(24) {
		sum += 1 + i
	}
	preset := c.Compare(JobData{Job: ours, Results: []Result{result("d1", "c1", 0, 1000+sum, 13, 25, t0+6*sec)}})
	var drops []Decision
	for i, id := range lost {
		drops = append(drops, reportedLate(id, "d1", "c1", 0, t0+100+int64(i)*100, t0+100+int64(i)*100, 1+int64(i), 0.5))
	}
	copyOfKept := reportedLate(kept, "d1", "c1", 0, t0+10, t0+10, 1000, 1)
	drops = append(drops[:7], append([]Decision{copyOfKept}, drops[7:]...)...)
	flink := c.Compare(JobData{Job: flinkJob(t, "flink-event"), Results: []Result{result("d1", "c1", 0, 1000, 1, 1, t0+6*sec)}, Decisions: drops})
	row := Conform([]Report{preset, flink}, DefaultM2Tolerance)[0].Rows[0]
	require.NotNil(t, row.Dropped)
	require.ElementsMatch(t, lost, row.Dropped.Engine, "every drop but the copy of the message counted")
	require.Empty(t, row.Dropped.Against)
}

// TestReportedLateCopyOfAMessageCounted: an engine that counts every copy
// (Storm, at least once) drops the late re-send of a message whose first
// copy it counted: that message is neither counted twice nor lost, and
// only the other event it dropped is named.
func TestReportedLateCopyOfAMessageCounted(t *testing.T) {
	f := newFixture(t)
	m := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	b := f.send("d1", "c1", PatternNormal, t0+200, t0+200, 20, 2)
	f.send("d1", "c1", PatternNormal, t0+300, t0+300, 40, 4)
	f.resend(m, t0+9*sec)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	copyOfM := reportedLate(m, "d1", "c1", 0, t0+100, t0+100, 10, 1)
	copyOfM.Offset = 9
	rep := c.Compare(JobData{Job: flinkJob(t, "storm"), Results: []Result{result("d1", "c1", 0, 50, 5, 2, t0+6*sec)},
		Decisions: []Decision{copyOfM, reportedLate(b, "d1", "c1", 0, t0+200, t0+200, 20, 2)}})
	row := rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, []string{CauseLateDropped}, codes(row))
	require.Equal(t, []string{b}, row.Causes[0].MessageIDs)

	// Every copy of m dropped: m is lost, once.
	first := copyOfM
	first.Offset = 1
	rep = c.Compare(JobData{Job: flinkJob(t, "storm"), Results: []Result{result("d1", "c1", 0, 40, 4, 1, t0+6*sec)},
		Decisions: []Decision{first, copyOfM, reportedLate(b, "d1", "c1", 0, t0+200, t0+200, 20, 2)}})
	row = rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, []string{CauseLateDropped}, codes(row))
	require.ElementsMatch(t, []string{m, b}, row.Causes[0].MessageIDs)
}
