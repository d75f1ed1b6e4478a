package ha

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestFSMApplySnapshotRestore(t *testing.T) {
	f := &fsm{}
	rec := LeaderRecord{ID: "n2", RaftAddr: "10.0.0.2:7946", AdminURL: "http://10.0.0.2:9100", Term: 7, Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := encodeLeader(rec)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: b}); r != nil {
		t.Fatalf("Apply = %v", r)
	}
	if got := f.Leader(); got != rec {
		t.Fatalf("leader = %+v, want %+v", got, rec)
	}

	// Entries it cannot use leave the state alone and say why.
	for name, l := range map[string]*raft.Log{
		"garbage":   {Index: 4, Type: raft.LogCommand, Data: []byte("{")},
		"unknown":   {Index: 5, Type: raft.LogCommand, Data: []byte(`{"op":"epoch"}`)},
		"no record": {Index: 6, Type: raft.LogCommand, Data: []byte(`{"op":"leader"}`)},
	} {
		if _, ok := f.Apply(l).(error); !ok {
			t.Errorf("%s: Apply returned no error", name)
		}
	}
	if f.Apply(&raft.Log{Index: 7, Type: raft.LogNoop}) != nil {
		t.Error("non-command entry should be ignored")
	}
	if got := f.Leader(); got != rec {
		t.Fatalf("state changed by unusable entries: %+v", got)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot is a copy: later applies do not change it.
	b2, _ := encodeLeader(LeaderRecord{ID: "n3", Term: 8})
	f.Apply(&raft.Log{Index: 8, Type: raft.LogCommand, Data: b2})
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed {
		t.Fatal("Persist did not close the sink")
	}
	g := &fsm{}
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := g.Leader(); got != rec {
		t.Fatalf("restored %+v, want %+v", got, rec)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("nope")))); err == nil {
		t.Fatal("Restore of garbage succeeded")
	}
}

type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string                  { return "mem" }
func (s *memSink) Close() error                { s.closed = true; return nil }
func (s *memSink) Cancel() error               { s.cancelled = true; return nil }
func (s *memSink) Write(p []byte) (int, error) { return s.Buffer.Write(p) }
