// Package atomicfile replaces files so that a crash leaves the old or the new
// content, never a mix: write a temporary file, fsync, rename, fsync the
// directory.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpSuffix ends every temporary file's name: ".<name>.<random>.sluice-tmp".
const tmpSuffix = ".sluice-tmp"

// Write replaces path with data so that a crash leaves either the
// old or the new content: temporary file, fsync, rename, fsync directory.
// The temporary file has a name of its own (os.CreateTemp), so two writers
// never write into each other's; one a crash left behind is removed by
// Clean.
func Write(path string, data []byte) error {
	return WriteFrom(path, bytes.NewReader(data))
}

// WriteFrom is Write with the content read from r.
func WriteFrom(path string, r io.Reader) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	if err = f.Chmod(0o644); err == nil {
		if _, err = io.Copy(f, r); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory of %s: %w", path, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory of %s: %w", path, err)
	}
	return nil
}

// Clean removes the temporary files that Write left in dir when its
// process died mid-write, and returns how many it removed. Call it only
// while no other process writes into dir (under its dirlock).
func Clean(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clean temporary files in %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return n, fmt.Errorf("clean temporary files in %s: %w", dir, err)
			}
			n++
		}
	}
	return n, nil
}
