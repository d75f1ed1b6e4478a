package checkpoint

import (
	"context"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/event"
)

// recordingWriter is a KafkaWriter whose last committed record is last and
// that counts CommitCheckpoint calls.
type recordingWriter struct {
	last    []byte
	commits int
}

func (w *recordingWriter) Check(context.Context) (int16, error) { return 0, nil }
func (w *recordingWriter) LastCommitted() []byte                { return w.last }
func (w *recordingWriter) CommitCheckpoint(_ context.Context, rec []byte) error {
	w.commits++
	w.last = rec
	return nil
}

// TestKafkaStoreSaveKeepsFilterAndHistory: the sink commits checkpoint
// records from the encoder's boundaries, which carry no filter or history;
// a save at the same position that adds them is written (it was skipped,
// so a restart never saw the filter and checkpoint set's history was lost),
// and a save with nothing new is not.
func TestKafkaStoreSaveKeepsFilterAndHistory(t *testing.T) {
	ctx := context.Background()
	at := event.Position{File: "mysql-bin.000003", Offset: 4711}
	rec, err := Encode(&Checkpoint{Pipeline: "main", Position: at})
	if err != nil {
		t.Fatal(err)
	}
	w := &recordingWriter{last: rec}
	s := NewKafkaStore(nil, "__sluice_checkpoints", "main", w)

	if err := s.Save(ctx, &Checkpoint{Pipeline: "main", Position: at}); err != nil || w.commits != 0 {
		t.Fatalf("same checkpoint: %d commits, %v; want none", w.commits, err)
	}
	before := event.Position{File: at.File, Offset: 4}
	if err := s.Save(ctx, &Checkpoint{Pipeline: "main", Position: before, Filter: "f"}); err != nil || w.commits != 0 {
		t.Fatalf("an earlier position: %d commits, %v; want none", w.commits, err)
	}
	if err := s.Save(ctx, &Checkpoint{Pipeline: "main", Position: at, Filter: `{"include":["shop.*"]}`}); err != nil || w.commits != 1 {
		t.Fatalf("the filter added at the same position: %d commits, %v; want 1", w.commits, err)
	}
	hist := []Change{{At: time.Unix(1700000000, 0).UTC(), What: "set", From: "a", To: "b"}}
	if err := s.Save(ctx, &Checkpoint{Pipeline: "main", Position: at, Filter: `{"include":["shop.*"]}`, History: hist}); err != nil || w.commits != 2 {
		t.Fatalf("history added at the same position: %d commits, %v; want 2", w.commits, err)
	}
	got, err := Decode(w.last)
	if err != nil || got.Filter != `{"include":["shop.*"]}` || len(got.History) != 1 {
		t.Fatalf("committed record %+v, %v: want the filter and the history", got, err)
	}
	if err := s.Save(ctx, &Checkpoint{Pipeline: "main", Position: at, Filter: `{"include":["shop.*"]}`, History: hist}); err != nil || w.commits != 2 {
		t.Fatalf("nothing new: %d commits, %v; want still 2", w.commits, err)
	}
}

// TestKafkaStoreSaveAfterFailover: a checkpoint of a later generation (the
// pipeline moved to another server, whose positions can be lower) is
// written; one of an earlier generation is not.
func TestKafkaStoreSaveAfterFailover(t *testing.T) {
	ctx := context.Background()
	rec, err := Encode(&Checkpoint{Pipeline: "main", Position: event.Position{File: "mysql-bin.000009", Offset: 90000}, ServerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := &recordingWriter{last: rec}
	s := NewKafkaStore(nil, "__sluice_checkpoints", "main", w)
	moved := &Checkpoint{Pipeline: "main", Position: event.Position{File: "mysql-bin.000001", Offset: 400}, ServerID: 2, Generation: 1}
	if err := s.Save(ctx, moved); err != nil || w.commits != 1 {
		t.Fatalf("a later generation at a lower position: %d commits, %v; want 1", w.commits, err)
	}
	got, err := Decode(w.last)
	if err != nil || got.Generation != 1 || got.ServerID != 2 || got.Position != moved.Position {
		t.Fatalf("committed record %+v, %v: want generation 1 on server 2 at %s", got, err, moved.Position)
	}
	old := &Checkpoint{Pipeline: "main", Position: event.Position{File: "mysql-bin.000009", Offset: 99999}, ServerID: 1}
	if err := s.Save(ctx, old); err != nil || w.commits != 1 {
		t.Fatalf("an earlier generation at a higher position: %d commits, %v; want still 1", w.commits, err)
	}
}
