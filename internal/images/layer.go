package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// file is one entry of a layer.
type file struct {
	name string // absolute
	// mode holds the permissions and fs.ModeDir, fs.ModeSymlink or fs.ModeSticky; nothing else.
	mode    fs.FileMode
	owner   int // uid and gid; root unless set
	content []byte
	link    string // a symlink's target
}

// newLayer makes a layer of files, adding the parent directories they lack. The layer depends only on
// its arguments: entries are sorted by name and all carry the modification time mtime.
func newLayer(mtime time.Time, files []file) (v1.Layer, error) {
	files = withParents(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		header := &tar.Header{
			Name:     strings.TrimPrefix(f.name, "/"),
			Mode:     int64(f.mode.Perm()),
			Uid:      f.owner,
			Gid:      f.owner,
			ModTime:  mtime,
			Typeflag: tar.TypeReg,
			Size:     int64(len(f.content)),
		}
		if f.mode&fs.ModeSticky != 0 {
			header.Mode |= 0o1000 // tar's sticky bit, which fs.FileMode keeps elsewhere
		}
		switch {
		case f.mode.IsDir():
			header.Typeflag, header.Name = tar.TypeDir, header.Name+"/"
		case f.mode&fs.ModeSymlink != 0:
			header.Typeflag, header.Linkname = tar.TypeSymlink, f.link
		}
		if err := tw.WriteHeader(header); err != nil {
			return nil, fmt.Errorf("adding %s to a layer: %w", f.name, err)
		}
		if _, err := tw.Write(f.content); err != nil {
			return nil, fmt.Errorf("adding %s to a layer: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	archive := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(archive)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// withParents returns files and the directories above them that files does not list (owned by root,
// mode 0755), so that a runtime unpacking the layer does not have to invent them.
func withParents(files []file) []file {
	listed := map[string]bool{"/": true}
	for _, f := range files {
		listed[f.name] = true
	}
	all := slices.Clone(files)
	for _, f := range files {
		for dir := path.Dir(f.name); !listed[dir]; dir = path.Dir(dir) {
			listed[dir] = true
			all = append(all, file{name: dir, mode: fs.ModeDir | 0o755})
		}
	}
	return all
}

// checkStatic refuses an executable that is dynamically linked: the images have no C library or
// dynamic loader for it.
func checkStatic(path string) error {
	exe, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading the binary %s: %w", path, err)
	}
	defer func() { _ = exe.Close() }() // only read
	for _, prog := range exe.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it static (CGO_ENABLED=0, no -buildmode=pie)", path)
		}
	}
	return nil
}
