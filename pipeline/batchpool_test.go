package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/schema"
)

func TestBatchPoolClasses(t *testing.T) {
	p := newBatchPool(1<<20 + 64<<10)
	want := []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 1<<20 + 64<<10}
	if fmt.Sprint(p.sizes) != fmt.Sprint(want) {
		t.Fatalf("classes %v, want %v", p.sizes, want)
	}
	for need, c := range map[int]int{0: 4 << 10, 300: 4 << 10, 5000: 16 << 10, 64 << 10: 64 << 10, 300 << 10: 1 << 20, 1<<20 + 1: 1<<20 + 64<<10, 8 << 20: 1<<20 + 64<<10} {
		if got := cap(p.get(need).Data); got != c {
			t.Errorf("get(%d): capacity %d, want %d", need, got, c)
		}
	}
	// A released batch serves the largest class its buffer covers.
	b := &emit.Batch{Data: make([]byte, 10, 20<<10)}
	p.put(b)
	if len(p.free[1]) != 1 {
		t.Fatalf("a 20 KiB buffer went to classes %v", func() (n []int) {
			for _, f := range p.free {
				n = append(n, len(f))
			}
			return n
		}())
	}
	if got := p.get(10 << 10); cap(got.Data) != 20<<10 || len(got.Data) != 0 {
		t.Fatalf("reused batch: len %d cap %d, want an empty 20 KiB one", len(got.Data), cap(got.Data))
	}
	p.put(&emit.Batch{Data: make([]byte, 0, 100)}) // below the smallest class: dropped
	for i, f := range p.free {
		if len(f) != 0 {
			t.Errorf("class %d holds %d batches", i, len(f))
		}
	}
}

// TestBatchSizedToTransaction: a small transaction's batch is a small
// buffer, not one of BatchBytes; a large one's is the largest class.
func TestBatchSizedToTransaction(t *testing.T) {
	cfg := DefaultConfig()
	f, err := filter.New(cfg.Filter)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: cfg, saved: &checkpoint.Checkpoint{}, sinks: make([]emit.Sink, 1), filter: f}
	out := make(chan delivery, 64)
	e := newEncoder(p, 1, out)
	defer e.close()
	tbl := &schema.Table{Database: "d", Name: "t", Columns: []schema.Column{
		{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
		{Name: "s", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 1000, Charset: "utf8mb4", Nullable: true},
	}, PrimaryKey: []int{0}}
	ctx := context.Background()
	tx := func(rows int, off uint64) *emit.Batch {
		t.Helper()
		if err := e.handle(ctx, &binlog.Item{Kind: binlog.ItemBegin, Pos: event.Position{File: "mysql-bin.000001", Offset: off}}); err != nil {
			t.Fatal(err)
		}
		it := &binlog.Item{Kind: binlog.ItemRows, Table: tbl, Type: event.Insert, Pos: event.Position{File: "mysql-bin.000001", Offset: off + 1}}
		for i := range rows {
			it.Rows = append(it.Rows, []any{int32(i), "some text of a row"})
		}
		if err := e.handle(ctx, it); err != nil {
			t.Fatal(err)
		}
		if err := e.handle(ctx, &binlog.Item{Kind: binlog.ItemCommit, Commit: event.Commit{Pos: event.Position{File: "mysql-bin.000001", Offset: off + 2}, Xid: 1, Timestamp: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := e.flush(ctx); err != nil {
			t.Fatal(err)
		}
		return (<-out).batch
	}
	small := tx(1, 100)
	if len(small.Events) != 1 || cap(small.Data) != smallestBatch {
		t.Fatalf("one-row transaction: %d events in a %d-byte batch, want 1 in %d", len(small.Events), cap(small.Data), smallestBatch)
	}
	mid := tx(200, 1000)
	if len(mid.Events) != 200 || cap(mid.Data) < len(mid.Data) || cap(mid.Data) > 4*len(mid.Data) || cap(mid.Data) == cap(small.Data) {
		t.Fatalf("200-row transaction: %d bytes in a %d-byte batch", len(mid.Data), cap(mid.Data))
	}
	if cap(mid.Data) >= cfg.BatchBytes {
		t.Fatalf("200-row transaction (%d bytes) got a batch of BatchBytes (%d)", len(mid.Data), cap(mid.Data))
	}
}
