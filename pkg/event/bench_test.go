package event

import (
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
