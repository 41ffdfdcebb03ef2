package worker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/longtask-dev/longtask/pkg/progress"
)

// chattyOutput is what a chatty task prints: half progress lines, half ordinary output.
func chattyOutput(lines int) []byte {
	var b bytes.Buffer
	for i := range lines / 2 {
		fmt.Fprintf(&b, "::progress %d/%d Resized photo-%d.jpg\n", i, lines/2, i)
		fmt.Fprintf(&b, "resized photo-%d.jpg to 64x64 in 12ms\n", i)
	}
	return b.Bytes()
}

// BenchmarkScanVersusPassThrough measures what reading a task's output costs the worker, against passing
// the same lines through untouched: the x-passthrough metric is the ratio of the two, measured in the
// same run.
func BenchmarkScanVersusPassThrough(b *testing.B) {
	output := chattyOutput(10000)
	passThrough := measure(b.N, func() {
		reader := bufio.NewReaderSize(bytes.NewReader(output), maxLineBytes)
		for {
			line, err := reader.ReadSlice('\n')
			_, _ = io.Discard.Write(line)
			if err != nil {
				return
			}
		}
	})

	runner := &Runner{Publisher: NewPublisher(time.Hour, nil), Tracker: &Tracker{Attempt: 1}}
	b.SetBytes(int64(len(output)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		runner.scan(bytes.NewReader(output), io.Discard)
	}
	scanTime := time.Since(start)
	b.ReportMetric(float64(10000*b.N)/scanTime.Seconds(), "lines/s")
	b.ReportMetric(scanTime.Seconds()/passThrough.Seconds(), "x-passthrough")
}

// BenchmarkCoalescing measures how many status writes a flood of reports causes: writes/report is the
// share of reports that reach the API server while a task reports far faster than its interval.
func BenchmarkCoalescing(b *testing.B) {
	var writes atomic.Int64
	p := NewPublisher(10*time.Millisecond, func(context.Context, Snapshot) error {
		writes.Add(1)
		time.Sleep(time.Millisecond) // an API server's round trip
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	tracker := &Tracker{Attempt: 1}
	b.ResetTimer()
	for i := range b.N {
		p.Update(func(s *Snapshot) { tracker.Apply(s, progressLine(int64(i), int64(b.N), "step"), time.Now()) })
	}
	cancel()
	<-done
	_ = p.Flush(context.Background())
	b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/report")
}

func measure(n int, f func()) time.Duration {
	start := time.Now()
	for range n {
		f()
	}
	return time.Since(start)
}

var sink progress.Line

// BenchmarkParse measures the parser on a progress line and on an ordinary line.
func BenchmarkParse(b *testing.B) {
	for name, line := range map[string]string{
		"progress": "::progress 12/25 Resized cat.jpg\n",
		"output":   strings.Repeat("ordinary output ", 8) + "\n",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				sink, _ = progress.Parse(line)
			}
		})
	}
}
