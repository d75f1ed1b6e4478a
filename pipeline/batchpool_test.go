package pipeline

import (
	"context"
	"fmt"
	"strings"
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
		if got := cap(p.get(need, 0).Data); got != c {
			t.Errorf("get(%d): capacity %d, want %d", need, got, c)
		}
	}
	// Refs for the events: all of them up to the largest class, one
	// batch's share past it (a huge transaction goes out in parts).
	if got := cap(p.get(300<<10, 2000).Events); got != 2000 {
		t.Errorf("get(300 KiB, 2000 events): room for %d Refs", got)
	}
	if got := cap(p.get(1<<30, 1_000_000).Events); got > 1_000_000*(1<<20+64<<10)/(1<<30)+1 {
		t.Errorf("get(1 GiB, 1,000,000 events): room for %d Refs, more than one batch's share", got)
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
	if got := p.get(10<<10, 0); cap(got.Data) != 20<<10 || len(got.Data) != 0 {
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
	e, out := newBatchTestEncoder(t, cfg, 64)
	ctx := context.Background()
	tx := func(rows int, off uint64) *emit.Batch {
		t.Helper()
		var rs [][]any
		for i := range rows {
			rs = append(rs, []any{int32(i), "some text of a row"})
		}
		commitBatchTestTx(t, e, off, 1, rs)
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

// TestBatchesDoNotGrow: transactions committed one after another fill
// pooled batches without growing them past their class (a grown batch is a
// fresh allocation twice its size, copied), each batch ends at a
// transaction's boundary, and every event arrives once, in order.
func TestBatchesDoNotGrow(t *testing.T) {
	cfg := DefaultConfig()
	e, out := newBatchTestEncoder(t, cfg, 256)
	ctx := context.Background()
	id := 0
	// Transactions of 1 to 3000 rows: small ones share batches, large
	// ones need a class of their own.
	for n, rows := range []int{1, 3, 200, 1, 1500, 7, 3000, 40, 900, 2, 2, 600} {
		off := uint64(1000 * (n + 1))
		var rs [][]any
		for range rows {
			rs = append(rs, []any{int32(id), "some text of a row, some text of a row"})
			id++
		}
		commitBatchTestTx(t, e, off, uint64(n+1), rs)
	}
	if err := e.flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(out)
	classes := map[int]bool{}
	for _, s := range e.batches.sizes {
		classes[s] = true
	}
	next, batches := 0, 0
	for d := range out {
		b := d.batch
		batches++
		if !classes[cap(b.Data)] {
			t.Errorf("batch %d: %d bytes in a buffer of %d, not a pool class %v", b.Seq, len(b.Data), cap(b.Data), e.batches.sizes)
		}
		if len(b.Data) > cfg.BatchBytes+64<<10 {
			t.Errorf("batch %d: %d bytes, past BatchBytes %d", b.Seq, len(b.Data), cfg.BatchBytes)
		}
		if d.boundary == nil || b.Checkpoint == nil {
			t.Errorf("batch %d does not end at a transaction's boundary", b.Seq)
		}
		for _, r := range b.Events {
			want := fmt.Sprintf(`"data":{"id":%d,`, next)
			if line := string(b.Data[r.Off : r.Off+r.Len]); !strings.Contains(line, want) {
				t.Fatalf("batch %d: event %q, want the row with id %d", b.Seq, line, next)
			}
			next++
		}
	}
	if next != id {
		t.Fatalf("%d events delivered, want %d", next, id)
	}
	if batches < 3 {
		t.Fatalf("%d batches for %d rows of BatchBytes %d: the test does not fill batches", batches, id, cfg.BatchBytes)
	}
}

// newBatchTestEncoder is an encoder of a pipeline with cfg and one sink,
// delivering to a channel of outCap batches.
func newBatchTestEncoder(t *testing.T, cfg Config, outCap int) (*encoder, chan delivery) {
	t.Helper()
	f, err := filter.New(cfg.Filter)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: cfg, saved: &checkpoint.Checkpoint{}, sinks: make([]emit.Sink, 1), filter: f}
	out := make(chan delivery, outCap)
	e := newEncoder(p, 1, out)
	t.Cleanup(e.close)
	return e, out
}

// batchTestTable is d.t (id INT PRIMARY KEY, s VARCHAR(1000)).
var batchTestTable = &schema.Table{Database: "d", Name: "t", Columns: []schema.Column{
	{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
	{Name: "s", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 1000, Charset: "utf8mb4", Nullable: true},
}, PrimaryKey: []int{0}}

// commitBatchTestTx hands e one transaction inserting rows into
// batchTestTable, begun at off, committed with xid.
func commitBatchTestTx(t *testing.T, e *encoder, off, xid uint64, rows [][]any) {
	t.Helper()
	ctx := context.Background()
	if err := e.handle(ctx, &binlog.Item{Kind: binlog.ItemBegin, Pos: event.Position{File: "mysql-bin.000001", Offset: off}}); err != nil {
		t.Fatal(err)
	}
	it := &binlog.Item{Kind: binlog.ItemRows, Table: batchTestTable, Type: event.Insert, Pos: event.Position{File: "mysql-bin.000001", Offset: off + 1}, Rows: rows}
	if err := e.handle(ctx, it); err != nil {
		t.Fatal(err)
	}
	if err := e.handle(ctx, &binlog.Item{Kind: binlog.ItemCommit, Commit: event.Commit{Pos: event.Position{File: "mysql-bin.000001", Offset: off + 2}, Xid: xid, Timestamp: 1}}); err != nil {
		t.Fatal(err)
	}
}
