package checkpoint

import (
	"context"
	"sync"
)

// MemoryStore keeps a checkpoint in memory only: for replays, which must
// never move the pipeline's stored checkpoint, and for tests.
type MemoryStore struct {
	mu sync.Mutex
	cp *Checkpoint
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns a store holding cp (nil for none).
func NewMemoryStore(cp *Checkpoint) *MemoryStore {
	if cp != nil {
		c := *cp
		cp = &c
	}
	return &MemoryStore{cp: cp}
}

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		return nil, ErrNotFound
	}
	c := *s.cp
	return &c, nil
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, cp *Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *cp
	s.cp = &c
	return nil
}
