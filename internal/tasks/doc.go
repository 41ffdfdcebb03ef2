// Package tasks is what the web UI and kubectl longtask both do to a LongTask, written once so that the
// two cannot drift apart: find its pods and the newest of them, follow its output across attempts, cancel
// it, name a task started from a template, and say its rate and the time it has left.
package tasks
