package progress

import (
	"fmt"
	"time"
)

// FormatRate says a rate of steps in the unit that reads best, as the worker writes a LongTask's
// status.progress.rate: "25/s", "2.5/s", "12.0/min", "3.0/h".
func FormatRate(perSecond float64) string {
	switch {
	case perSecond >= 10:
		return fmt.Sprintf("%.0f/s", perSecond)
	case perSecond >= 1:
		return fmt.Sprintf("%.1f/s", perSecond)
	case perSecond*60 >= 1:
		return fmt.Sprintf("%.1f/min", perSecond*60)
	default:
		return fmt.Sprintf("%.1f/h", perSecond*3600)
	}
}

// FormatRemaining says a duration the way people read an ETA, as the worker writes a LongTask's
// status.progress.remaining: "45s", "1m20s", "2h5m".
func FormatRemaining(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}
