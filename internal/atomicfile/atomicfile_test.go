package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentWriters: writers of one path each use a temporary file of
// their own: every Write succeeds and the file ends up whole, one of them.
func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := Write(path, bytes.Repeat([]byte{byte('a' + w)}, 4096+i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4096 || !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) {
		t.Fatalf("file holds a mix of writes (%d bytes)", len(b))
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"+tmpSuffix)); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestCleanAfterCrash: a temporary file a dead writer left is removed by
// Clean; other files stay.
func TestCleanAfterCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.checkpoint.json")
	if err := Write(path, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	crashed, err := os.CreateTemp(dir, ".main.checkpoint.json.*"+tmpSuffix) // as Write makes it
	if err != nil {
		t.Fatal(err)
	}
	_ = crashed.Close()
	other := filepath.Join(dir, "events.tmp")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Clean(dir)
	if err != nil || n != 1 {
		t.Fatalf("clean: %d, %v: want 1 file removed", n, err)
	}
	for _, p := range []string{path, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(crashed.Name()); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", crashed.Name(), err)
	}
	if n, err := Clean(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Fatalf("clean of a missing dir: %d, %v", n, err)
	}
}
