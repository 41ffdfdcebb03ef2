package progress

import (
	"testing"
	"time"
)

func TestFormatRateAndRemaining(t *testing.T) {
	rates := map[float64]string{25: "25/s", 2.5: "2.5/s", 0.2: "12.0/min", 1.0 / 1200: "3.0/h", 0.001: "3.6/h"}
	for perSecond, want := range rates {
		if got := FormatRate(perSecond); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", perSecond, got, want)
		}
	}
	durations := map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 80 * time.Second: "1m20s", 2*time.Hour + 5*time.Minute + 10*time.Second: "2h5m",
		1499 * time.Millisecond: "1s",
	}
	for d, want := range durations {
		if got := FormatRemaining(d); got != want {
			t.Errorf("FormatRemaining(%v) = %q, want %q", d, got, want)
		}
	}
}
