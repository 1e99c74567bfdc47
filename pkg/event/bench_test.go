package event

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func BenchmarkParseView(b *testing.B) {
	line := []byte("123-12|123|1472209316326|cat1|456|789.12")
	var v View
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	start := time.Now()
	for b.Loop() {
		if err := ParseView(line, &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkAppendFormat(b *testing.B) {
	e := Event{MessageID: "123-12", DeviceID: "123", DeviceTime: 1472209316326, Category: "cat1", Measure1: 456, Measure2: 789.12}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFormat(buf[:0], e)
	}
}

// BenchmarkParseViewMix parses varied lines, as a stream has them: field
// lengths change from line to line, so a parser's loops cannot be predicted
// the way one repeated line lets them be.
func BenchmarkParseViewMix(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var lines [][]byte
	var size int64
	for seq := range 4096 {
		dev := strconv.Itoa(100 + rng.IntN(1000))
		e := Event{
			MessageID: dev + "-" + strconv.Itoa(seq*rng.IntN(1000)), DeviceID: dev,
			DeviceTime: 1472209316326 + int64(seq), Category: "cat" + strconv.Itoa(1+rng.IntN(4)),
			Measure1: rng.Int64N(1000), Measure2: float64(rng.IntN(100000)) / 100,
		}
		lines = append(lines, AppendFormat(nil, e))
		size += int64(len(lines[seq]))
	}
	var v View
	b.ReportAllocs()
	b.SetBytes(size / int64(len(lines)))
	i := 0
	for b.Loop() {
		if err := ParseView(lines[i&(len(lines)-1)], &v); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
