package compare

import (
	"math"
	"slices"

	"github.com/boontadata/boontadata/pkg/engine/window"
)

const histogramBins = 20

// latencies fills the latency fields: every revision recorded (with a
// revision sample, the revisions of the sampled windows; the answers when
// no revision was recorded) and the answer of each window. latency = emit
// time − window end − watermark delay.
func latencies(rep *Report, jd JobData, size, wm int64) {
	ends := make(map[Key]int64, len(jd.Results))
	var finals []int64
	for _, r := range jd.Results {
		end := r.WindowEnd
		if end == 0 {
			end = r.WindowStart + size
		}
		ends[r.Key] = end
		finals = append(finals, r.EmitTime-end-wm)
	}
	type sample struct{ end, ms int64 }
	var all []sample
	rep.ResultWindows = len(jd.Results)
	if len(jd.Revisions) > 0 {
		sampled := make(map[Key]struct{}, len(jd.Results))
		for _, r := range jd.Revisions {
			sampled[r.Key] = struct{}{}
			end, ok := ends[r.Key]
			if !ok {
				end = r.WindowStart + size
			}
			all = append(all, sample{end: end, ms: r.EmitTime - end - wm})
		}
		rep.RevisionWindows = len(sampled)
	} else {
		for _, r := range jd.Results {
			all = append(all, sample{end: ends[r.Key], ms: r.EmitTime - ends[r.Key] - wm})
		}
	}
	values := make([]int64, len(all))
	byEnd := map[int64][]int64{}
	for i, s := range all {
		values[i] = s.ms
		byEnd[s.end] = append(byEnd[s.end], s.ms)
	}
	rep.LatencyMs = Summarise(values)
	rep.FinalLatencyMs = Summarise(finals)
	rep.LatencyHistogram = Histogram(values, histogramBins)
	endsSorted := make([]int64, 0, len(byEnd))
	for end := range byEnd {
		endsSorted = append(endsSorted, end)
	}
	slices.Sort(endsSorted)
	rep.LatencySeries = make([]LatencyPoint, 0, len(endsSorted))
	for _, end := range endsSorted {
		s := Summarise(byEnd[end])
		rep.LatencySeries = append(rep.LatencySeries, LatencyPoint{WindowEnd: end,
			WindowEndUTC: window.Window{Start: end - size, End: end}.EndString(), Count: s.Count, P50: s.P50, Max: s.Max})
	}
}

// Summarise returns exact percentiles (nearest rank) of values, which it
// sorts in place.
func Summarise(values []int64) Latency {
	if len(values) == 0 {
		return Latency{}
	}
	slices.Sort(values)
	var sum float64
	for _, v := range values {
		sum += float64(v)
	}
	return Latency{
		Count: int64(len(values)), Min: values[0], Max: values[len(values)-1],
		Mean: math.Round(sum/float64(len(values))*10) / 10,
		P50:  Percentile(values, 0.50), P95: Percentile(values, 0.95),
		P99: Percentile(values, 0.99), P999: Percentile(values, 0.999),
	}
}

// Percentile returns the nearest-rank percentile q (0 < q ≤ 1) of sorted
// values: the smallest value with at least q of the values at or below it.
func Percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Histogram counts values in at most bins bins of a round width (1, 2 or 5
// times a power of ten ms).
func Histogram(values []int64, bins int) []HistogramBin {
	if len(values) == 0 {
		return []HistogramBin{}
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := hi - lo + 1
	width := int64(1)
	for span > width*int64(bins) {
		switch {
		case isPow10(width):
			width *= 2
		case isPow10(width / 2):
			width = width / 2 * 5
		default:
			width = width / 5 * 10
		}
	}
	from := floorDiv(lo, width) * width
	n := int(floorDiv(hi-from, width)) + 1
	out := make([]HistogramBin, n)
	for i := range out {
		out[i] = HistogramBin{From: from + int64(i)*width, To: from + int64(i+1)*width}
	}
	for _, v := range values {
		out[floorDiv(v-from, width)].Count++
	}
	return out
}

func isPow10(v int64) bool {
	for v >= 10 && v%10 == 0 {
		v /= 10
	}
	return v == 1
}
