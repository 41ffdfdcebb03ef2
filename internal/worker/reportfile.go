package worker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// The progress and result files are the program's to make, and it may make them anything: a named pipe,
// whose read blocks until something writes to it, a symlink to /dev/zero, which never ends, a directory.
// The worker reads only regular files, and only up to a cap, so that none of them can hang it, and with it
// the task's last status writes, or make it run out of memory.

// openReportFile opens the regular file at path. The open does not wait for a writer of a named pipe
// (O_NONBLOCK), and the file is checked once open, so that it cannot be swapped between the check and the
// read.
func openReportFile(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("is %s, not a regular file: it is not read", kindOfFile(info.Mode()))
	}
	if err != nil {
		_ = f.Close() // only opened to read
		return nil, nil, err
	}
	return f, info, nil
}

func kindOfFile(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "not a regular file"
	}
}

// readLastLine returns the last line of the progress file, read from its last maxLineBytes: a program
// may append a line a report, and only the last counts. A last line longer than that is refused.
func readLastLine(path string) (string, error) {
	f, info, err := openReportFile(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // only read
	offset := max(0, info.Size()-maxLineBytes)
	data, err := io.ReadAll(io.NewSectionReader(f, offset, maxLineBytes))
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(data), "\r\n")
	i := strings.LastIndexByte(s, '\n')
	if i < 0 && offset > 0 && s != "" {
		return "", fmt.Errorf("ends in a line longer than %d bytes: the line is ignored", maxLineBytes)
	}
	return strings.TrimSpace(s[i+1:]), nil
}

// readResult returns the start of the result file: MaxResultBytes, a newline that may end them (which the
// result drops), and a byte more, which says that the result is longer than its cap.
func readResult(path string) (string, error) {
	f, _, err := openReportFile(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // only read
	data, err := io.ReadAll(io.LimitReader(f, int64(longtaskv1.MaxResultBytes+len("\n")+1)))
	return string(data), err
}

// reportFileProblem says what is wrong with a report file, for the task's output; empty when nothing is,
// or when the program did not make the file, which it need not.
func reportFileProblem(what, path string, err error) string {
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		return fmt.Sprintf("the %s %s cannot be read: %v", what, path, pathErr.Err)
	}
	return fmt.Sprintf("the %s %s %v", what, path, err)
}
