package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/atomicfile"
)

// FileStore keeps a pipeline's checkpoint in a JSON file in a directory,
// replaced atomically: write a temporary file, fsync, rename, fsync the
// directory.
type FileStore struct {
	path string
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store for the named pipeline in dir, creating dir.
func NewFileStore(dir, pipeline string) (*FileStore, error) {
	if pipeline == "" {
		return nil, errors.New("checkpoint: empty pipeline name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", dir, err)
	}
	return &FileStore{path: filepath.Join(dir, pipeline+".checkpoint.json")}, nil
}

// Path is the checkpoint file's path.
func (s *FileStore) Path() string { return s.path }

// fileCheckpoint is the stored form: the position spelled out for people
// who read the file.
type fileCheckpoint struct {
	*Checkpoint
	File   string `json:"file"`
	Offset uint64 `json:"offset"`
}

// Load implements Store.
func (s *FileStore) Load(ctx context.Context) (*Checkpoint, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	fc := fileCheckpoint{Checkpoint: &Checkpoint{}}
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("checkpoint file %s is corrupt (%w); restore it or remove it to start over", s.path, err)
	}
	if fc.File == "" {
		return nil, fmt.Errorf("checkpoint file %s has no binlog file; restore it or remove it to start over", s.path)
	}
	fc.Checkpoint.Position = event.Position{File: fc.File, Offset: fc.Offset}
	return fc.Checkpoint, nil
}

// Save implements Store.
func (s *FileStore) Save(ctx context.Context, cp *Checkpoint) error {
	b, err := json.MarshalIndent(fileCheckpoint{Checkpoint: cp, File: cp.Position.File, Offset: cp.Position.Offset}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(b, '\n'))
}
