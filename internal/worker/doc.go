// Package worker runs a task's program inside its Job's pod, reads the progress it reports and writes it
// into the LongTask's status.
package worker
