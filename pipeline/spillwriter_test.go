package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSpillWriter: what is written through the two buffers (pieces
// smaller and larger than a buffer, strings and bytes) lands in the file
// whole and in order; a failed write in the goroutine is reported by a
// later Write or Flush, and Reset clears it.
func TestSpillWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newSpillWriter(f, 4096)
	var want bytes.Buffer
	for i := range 3000 {
		piece := bytes.Repeat([]byte{byte('a' + i%26)}, (i*37)%9000) // up to two buffers and more
		if i%2 == 0 {
			_, err = w.Write(piece)
		} else {
			_, err = w.WriteString(string(piece))
		}
		if err != nil {
			t.Fatal(err)
		}
		want.Write(piece)
		fmt.Fprintf(w, "|%d|", i)
		fmt.Fprintf(&want, "|%d|", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %d bytes, want %d (first difference at %d)", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}

	ro, err := os.Open(path) // writes to it fail
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	w = newSpillWriter(ro, 4096)
	_, werr := w.Write(make([]byte, 3*4096)) // sends at least one buffer
	ferr := w.Flush()
	if werr == nil && ferr == nil {
		t.Fatal("writes to a read-only file: no error from Write or Flush")
	}
	if ferr == nil {
		t.Fatal("Flush after a failed write: no error")
	}
	w.Reset()
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatalf("Write after Reset: %v", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
