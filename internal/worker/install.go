package worker

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Install copies the running worker binary into dir, so that a task container of any image can run it.
func Install(dir, name string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the worker binary: %w", err)
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // only read
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dest := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone already once renamed into place
	if _, err := io.Copy(tmp, in); err != nil {
		_ = tmp.Close() // the copy's error is the one to report
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close() // the copy's error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
