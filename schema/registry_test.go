package schema

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event/position"
)

func pos(off uint64) position.Position {
	return position.Position{File: "mysql-bin.000001", Offset: off}
}

func table(cols ...string) *Table {
	t := &Table{Database: "d", Name: "t"}
	for _, c := range cols {
		t.Columns = append(t.Columns, Column{Name: c, Type: mysql.MYSQL_TYPE_BLOB, Charset: "utf8mb4"})
	}
	return t
}

// TestRegistryVersions walks a table through TABLE_MAPs and DDL, then replays
// the same positions against the saved registry: the same versions come
// back, and nothing new is registered.
func TestRegistryVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema.json")
	r, err := LoadRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	create := ClassifyDDL("d", "CREATE TABLE t (a TEXT, j JSON)")[0]
	alter := ClassifyDDL("d", "ALTER TABLE t MODIFY j TEXT, ADD COLUMN k JSON")[0]
	type step struct {
		ddl   *DDL
		table *Table
		pos   uint64
		want  int
		json  map[string]bool
	}
	steps := []step{
		{ddl: &create, pos: 100, want: 1},
		{table: table("a", "j"), pos: 200, want: 1, json: map[string]bool{"j": true}},
		{table: table("a", "j"), pos: 300, want: 1, json: map[string]bool{"j": true}},
		{ddl: &alter, pos: 400, want: 2},
		{table: table("a", "j", "k"), pos: 500, want: 2, json: map[string]bool{"k": true}},
		// a shape change seen without DDL (an unparsed statement)
		{table: table("a", "j", "k", "l"), pos: 600, want: 3, json: map[string]bool{"k": true}},
	}
	run := func(r *Registry, steps []step) {
		t.Helper()
		for _, s := range steps {
			if s.ddl != nil {
				if got := r.ApplyDDL(s.ddl, "sql", pos(s.pos)); got != s.want {
					t.Fatalf("DDL at %d: version %d, want %d", s.pos, got, s.want)
				}
				continue
			}
			got := r.Observe(s.table, pos(s.pos))
			if got.Version != s.want {
				t.Fatalf("TABLE_MAP at %d: version %d, want %d", s.pos, got.Version, s.want)
			}
			for _, c := range got.Columns {
				if c.JSON != s.json[c.Name] {
					t.Fatalf("TABLE_MAP at %d: column %s JSON=%v", s.pos, c.Name, c.JSON)
				}
			}
		}
	}
	run(r, steps)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	// Replay from the start, and from the middle, against the saved registry.
	for _, from := range []int{0, 3} {
		r2, err := LoadRegistry(path)
		if err != nil {
			t.Fatal(err)
		}
		run(r2, steps[from:])
		if r2.dirty {
			t.Fatalf("replay from step %d changed the registry", from)
		}
		if n := len(r2.Versions("d", "t")); n != 3 {
			t.Fatalf("replay from step %d: %d versions, want 3", from, n)
		}
		v, ok := r2.At("d", "t", pos(450))
		if !ok || v.Number != 2 || v.Cause != "table-alter" {
			t.Fatalf("version at 450: %+v", v)
		}
	}
}

// blockingStore is a Store whose reads wait for their context.
type blockingStore struct{}

func (blockingStore) Read(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingStore) Write(context.Context, []byte) error { return nil }
func (blockingStore) String() string                      { return "blocking" }

// TestOpenRegistryContext: opening the registry reads the store under the
// caller's context, so a stop ends a read that hangs.
func TestOpenRegistryContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := OpenRegistryContext(ctx, blockingStore{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenRegistryContext with an ended context = %v, want context.Canceled", err)
	}
}
