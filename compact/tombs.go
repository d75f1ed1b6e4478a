package compact

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/klauspost/compress/gzip"

	"github.com/sluicecdc/sluice/internal/atomicfile"
)

// Tombstones (deleted keys, with the place and time of the delete, kept
// for Config.TombstoneRetention) are not held in memory nor in the state
// file: they are in a tombstone file next to it, gzip-compressed records
// (appendVersion's encoding) that the state file names. Runs stream it:
//
//   - a sorted or ordered rewrite adds its tombstones to the sort as old
//     deletions, and writes the deleted keys the merge leaves into a new
//     file as it reaches them;
//   - a merge-on-read run copies the previous file into a new one, leaving
//     out the keys it changed, and adds its own deletions;
//   - the in-memory path (kept for tests) reads the file into memory.
//
// Tombstones older than the retention before the newest change are left
// out of every new file. A state file of an older sluice holds its
// tombstones inline; they are read into memory once and written to a file
// by the next run that changes the table.

// tombHorizon is the time before which tombstones expire.
func (s *tableState) tombHorizon(retention time.Duration) int64 {
	return int64(s.maxTS) - int64(retention/time.Second)
}

// tombWriter writes a tombstone file to a local temporary file, then to
// the table's metadata directory.
type tombWriter struct {
	f       *os.File
	gz      *gzip.Writer
	bw      *bufio.Writer
	horizon int64
	n       int
	scratch []byte
}

func newTombWriter(dir string, horizon int64) (*tombWriter, error) {
	f, err := os.CreateTemp(dir, "sluice-tombstones-*.gz")
	if err != nil {
		return nil, fmt.Errorf("tombstone file: %w", err)
	}
	w := &tombWriter{f: f, horizon: horizon}
	w.bw = bufio.NewWriterSize(f, 256<<10)
	w.gz = gzip.NewWriter(w.bw)
	return w, nil
}

// add writes a tombstone unless it has expired.
func (w *tombWriter) add(key string, t tomb) error {
	if int64(t.ts) < w.horizon {
		return nil
	}
	w.n++
	w.scratch = appendVersion(w.scratch[:0], &version{key: key, at: t.at, ts: t.ts, del: true})
	if _, err := w.gz.Write(w.scratch); err != nil {
		return fmt.Errorf("tombstone file: %w", err)
	}
	return nil
}

// discard removes the temporary file.
func (w *tombWriter) discard() {
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// finish copies the file under tbl's metadata directory and returns its
// location ("" when it holds no tombstone) and how many it holds.
func (w *tombWriter) finish(ctx context.Context, tbl *table.Table) (string, int, error) {
	defer w.discard()
	if err := w.gz.Close(); err != nil {
		return "", 0, fmt.Errorf("tombstone file: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return "", 0, fmt.Errorf("tombstone file: %w", err)
	}
	if w.n == 0 {
		return "", 0, nil
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return "", 0, fmt.Errorf("tombstone file: %w", err)
	}
	loc := strings.TrimSuffix(tbl.Location(), "/") + "/metadata/sluice-tombstones-" + uuid.NewString() + ".bin.gz"
	if err := copyToLocation(ctx, tbl, loc, w.f); err != nil {
		return "", 0, fmt.Errorf("write tombstone file %s: %w", loc, err)
	}
	return loc, w.n, nil
}

// copyToLocation writes r to a new file at loc, in the table's storage.
func copyToLocation(ctx context.Context, tbl *table.Table, loc string, r io.Reader) error {
	if p, ok := localPath(loc); ok {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return atomicfile.WriteFrom(p, r)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	wfs, ok := fs.(icebergio.WriteFileIO)
	if !ok {
		return errors.New("the table's file IO cannot write")
	}
	out, err := wfs.Create(loc)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// eachTomb calls fn with every tombstone of the table's tombstone file
// and of its state file (an older sluice's), one at a time.
func (s *tableState) eachTomb(ctx context.Context, tbl *table.Table, fn func(key string, t tomb) error) error {
	for k, t := range s.tombs {
		if err := fn(k, t); err != nil {
			return err
		}
	}
	if s.tombFile == "" {
		return nil
	}
	if tbl == nil {
		return fmt.Errorf("tombstone file %s without a table", s.tombFile)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	f, err := fs.Open(s.tombFile)
	if err != nil {
		return fmt.Errorf("read tombstone file %s: %w", s.tombFile, err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return fmt.Errorf("read tombstone file %s: %w", s.tombFile, err)
	}
	r := bufio.NewReaderSize(gz, 64<<10)
	var buf []byte
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tombstone file %s: %w", s.tombFile, err)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("read tombstone file %s: %w", s.tombFile, err)
		}
		v, err := decodeVersion(b)
		if err != nil {
			return fmt.Errorf("read tombstone file %s: %w", s.tombFile, err)
		}
		if err := fn(v.key, tomb{at: v.at, ts: v.ts}); err != nil {
			return err
		}
	}
}

// loadTombs reads the tombstone file into memory (the in-memory path).
func (s *tableState) loadTombs(ctx context.Context, tbl *table.Table) error {
	if s.tombFile == "" {
		return nil
	}
	all := make(map[string]tomb)
	err := s.eachTomb(ctx, tbl, func(k string, t tomb) error {
		if o, ok := all[k]; !ok || o.at.compare(t.at) < 0 {
			all[k] = t
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.tombs, s.tombFile, s.tombCount = all, "", 0
	return nil
}

// saveTombs writes a new tombstone file: the previous file's tombstones
// whose key keep accepts (none when keep is nil), then those in memory,
// leaving the expired out. The state then names the new file.
func (c *Compactor) saveTombs(ctx context.Context, tbl *table.Table, s *tableState, keep func(key string) bool) error {
	w, err := newTombWriter(c.cfg.TempDir, s.tombHorizon(c.cfg.TombstoneRetention))
	if err != nil {
		return err
	}
	mem := s.tombs
	if keep != nil && s.tombFile != "" {
		s.tombs = nil // eachTomb: the file only
		err = s.eachTomb(ctx, tbl, func(k string, t tomb) error {
			if _, ok := mem[k]; ok || !keep(k) {
				return nil
			}
			return w.add(k, t)
		})
		s.tombs = mem
		if err != nil {
			w.discard()
			return err
		}
	}
	for k, t := range mem {
		if err := w.add(k, t); err != nil {
			w.discard()
			return err
		}
	}
	loc, n, err := w.finish(ctx, tbl)
	if err != nil {
		return err
	}
	s.tombFile, s.tombCount = loc, n
	s.tombs = make(map[string]tomb)
	return nil
}
