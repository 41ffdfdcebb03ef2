package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

const (
	// barWidth is the width of a progress bar when the terminal has room for it.
	barWidth = 40
	// minBarWidth is what a long message leaves of the bar: the message is cut rather than the bar.
	minBarWidth = 12
	// refreshInterval is how often the bars are redrawn: the ETA counts down between two reports.
	refreshInterval = 200 * time.Millisecond
)

// plainDisplay prints a line each time a task moves: for logs, pipes and CI.
type plainDisplay struct {
	out  io.Writer
	view func(key string) taskView
	last map[string]string
}

func newPlainDisplay(out io.Writer, view func(key string) taskView) *plainDisplay {
	return &plainDisplay{out: out, view: view, last: map[string]string{}}
}

func (d *plainDisplay) show(key string) {
	v := d.view(key)
	change := plainChange(v)
	if d.last[key] == change {
		return
	}
	d.last[key] = change
	fmt.Fprintln(d.out, plainLine(v))
	for _, line := range v.Output {
		fmt.Fprintf(d.out, "%s | %s\n", v.Name, line)
	}
}

func (d *plainDisplay) close() {}

// barDisplay draws a live bar per task in a terminal: the task's name, the bar, its progress, phase, rate
// and ETA, and its message; under a failed task's bar, the reason and its last lines.
type barDisplay struct {
	progress *mpb.Progress
	view     func(key string) taskView
	bars     map[string]*mpb.Bar
	finished map[string]bool
}

func newBarDisplay(out io.Writer, view func(key string) taskView) *barDisplay {
	return &barDisplay{
		progress: mpb.New(mpb.WithOutput(out), mpb.WithWidth(barWidth), mpb.WithRefreshRate(refreshInterval), mpb.WithAutoRefresh()),
		view:     view,
		bars:     map[string]*mpb.Bar{},
		finished: map[string]bool{},
	}
}

func (d *barDisplay) show(key string) {
	bar, ok := d.bars[key]
	if !ok {
		bar = d.newBar(key)
		d.bars[key] = bar
	}
	v := d.view(key)
	switch {
	case v.succeeded():
		bar.SetTotal(100, true)
	case v.finished():
		bar.SetCurrent(int64(v.Percent))
		bar.Abort(false)
	default:
		bar.SetCurrent(int64(v.Percent))
		return
	}
	d.finished[key] = true
}

// newBar adds a task's bar. Each column reads the task's view when the bar is drawn, so the ETA counts
// down between two changes.
func (d *barDisplay) newBar(key string) *mpb.Bar {
	column := func(text func(v taskView) string, wc decor.WC) decor.Decorator {
		return decor.Any(func(decor.Statistics) string { return text(d.view(key)) }, wc)
	}
	message := decor.Any(func(s decor.Statistics) string {
		return " " + cut(d.view(key).Message, s.AvailableWidth-minBarWidth-3)
	})
	// Created without a total, so that a task at 100% that has not succeeded yet does not complete its bar:
	// only the task's phase does.
	bar := d.progress.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(column(func(v taskView) string { return v.Name }, decor.WCSyncWidthR)),
		mpb.AppendDecorators(
			column(func(v taskView) string { return v.Summary }, decor.WCSyncSpace),
			// Left-aligned, one space before.
			column(func(v taskView) string { return " " + v.phaseText() }, decor.WCSyncWidthR),
			column(func(v taskView) string { return " " + strings.TrimSpace(v.Rate+" "+etaText(v)) }, decor.WCSyncWidthR),
			message,
		),
		mpb.BarExtender(mpb.BarFillerFunc(func(w io.Writer, s decor.Statistics) error {
			return d.writeFailure(w, key, s.AvailableWidth)
		}), false),
	)
	bar.SetTotal(100, false)
	return bar
}

// writeFailure writes, under a failed task's bar, why it failed and its last lines.
func (d *barDisplay) writeFailure(w io.Writer, key string, width int) error {
	v := d.view(key)
	if v.Failure == "" {
		return nil
	}
	if _, err := fmt.Fprintf(w, "  %s\n", cut(v.Failure, width-2)); err != nil {
		return err
	}
	for _, line := range v.Output {
		if _, err := fmt.Fprintf(w, "  │ %s\n", cut(line, width-4)); err != nil {
			return err
		}
	}
	return nil
}

func etaText(v taskView) string {
	if v.Remaining == "" {
		return ""
	}
	return "ETA " + v.Remaining
}

// close stops the bars of tasks that have not finished (the watch was interrupted) and draws the last
// frame.
func (d *barDisplay) close() {
	for key, bar := range d.bars {
		if !d.finished[key] {
			bar.Abort(false)
		}
	}
	d.progress.Wait()
}
