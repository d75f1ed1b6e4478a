package pipeline

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicecdc/sluice/event"
)

// TestTxBufferCarriesPositions checks that every row keeps its table and its
// binlog place, whether it stayed in memory or went through the spill file.
func TestTxBufferCarriesPositions(t *testing.T) {
	for _, limit := range []int{1 << 20, 64} { // all in memory; mostly spilled
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			b := newTxBuffer(limit, t.TempDir())
			defer b.close()
			type row struct {
				head, tail, db, table string
				key                   string
				pos                   event.Position
				index                 int
			}
			var want []row
			for i := range 50 {
				r := row{
					head: fmt.Sprintf(`{"n":%d,`, i), tail: `"x":1}`,
					db: "db", table: fmt.Sprintf("t%d", i%3),
					key:   strings.Repeat(fmt.Sprintf("[%d]", i), i%2), // keyless every other row
					pos:   event.Position{File: fmt.Sprintf("mysql-bin.%06d", 1+i/20), Offset: uint64(4 + 100*(i/4))},
					index: i % 4,
				}
				want = append(want, r)
				start := len(b.arena)
				b.arena = append(b.arena, r.head...)
				split := len(b.arena)
				b.arena = append(b.arena, r.tail...)
				if err := b.added(start, split, r.db, r.table, []byte(r.key), r.pos, r.index); err != nil {
					t.Fatal(err)
				}
			}
			if limit < 1<<20 && b.nSpilled == 0 {
				t.Fatal("nothing spilled")
			}
			var got []row
			err := b.each(func(head, tail []byte, rec *txRec) error {
				got = append(got, row{string(head), string(tail), rec.database, rec.table, string(rec.key), rec.pos, rec.index})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestTxBufferSpillReuse: rows larger than the spill reader's buffer come
// back whole, and after a spilled transaction the next ones (spilled or
// not) see only their own rows.
func TestTxBufferSpillReuse(t *testing.T) {
	b := newTxBuffer(4<<10, t.TempDir())
	defer b.close()
	for round, rows := range []int{300, 3, 50} {
		if err := b.reset(); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range rows {
			body := fmt.Sprintf(`{"round":%d,"row":%d}`, round, i)
			if i == 1 && round != 1 {
				body = `{"big":"` + strings.Repeat("b", spillBuffer+100) + `"}` // past the reader's buffer
			}
			want = append(want, body)
			start := len(b.arena)
			b.arena = append(b.arena, body...)
			if err := b.added(start, start+1, "db", "t", nil, event.Position{File: "f", Offset: uint64(i)}, i); err != nil {
				t.Fatal(err)
			}
		}
		if round != 1 && b.nSpilled == 0 {
			t.Fatalf("round %d: nothing spilled", round)
		}
		var got []string
		err := b.each(func(head, tail []byte, rec *txRec) error {
			got = append(got, string(head)+string(tail))
			if rec.index != len(got)-1 {
				return fmt.Errorf("row %d has index %d", len(got)-1, rec.index)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d rows back, want %d", round, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d row %d: %.60q, want %.60q", round, i, got[i], want[i])
			}
		}
	}
}

// TestTxBufferFreesSpillAsRead: reading a spilled transaction back frees
// the spill file behind the read (the commit's writes reuse those pages),
// and the rows still come back whole and in order.
func TestTxBufferFreesSpillAsRead(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	_, err = probe.Write(make([]byte, 64<<10))
	if err == nil {
		err = freeSpilled(probe, 0, 64<<10)
	}
	_ = probe.Close()
	if err != nil {
		t.Skipf("no hole punching in %s: %v", dir, err)
	}
	b := newTxBuffer(64<<10, dir)
	defer b.close()
	row := strings.Repeat("r", 500)
	const rows = 20000 // ~10 MB spilled
	for i := range rows {
		start := len(b.arena)
		b.arena = append(b.arena, fmt.Sprintf(`{"row":%d,"s":"%s"}`, i, row)...)
		if err := b.added(start, start+1, "db", "t", nil, event.Position{File: "f", Offset: uint64(i)}, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.spillW.Flush(); err != nil {
		t.Fatal(err)
	}
	held := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(b.spill.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	before := held()
	if before < 8<<20 {
		t.Fatalf("spill file holds %d bytes, want the ~10 MB spilled", before)
	}
	n, atHalf := 0, int64(0)
	err = b.each(func(head, tail []byte, rec *txRec) error {
		if want := fmt.Sprintf(`{"row":%d,"s":"%s"}`, n, row); string(head)+string(tail) != want {
			return fmt.Errorf("row %d: %.40q, want %.40q", n, string(head)+string(tail), want)
		}
		if n == rows/2 {
			atHalf = held()
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Fatalf("%d rows back, want %d", n, rows)
	}
	// Halfway, about half has been read and freed (the reader's buffer
	// holds a little ahead); at the end, about nothing is left.
	if atHalf > before/2+2*spillBuffer {
		t.Errorf("halfway through, the spill file still holds %d of %d bytes", atHalf, before)
	}
	if after := held(); after > 2*spillBuffer {
		t.Errorf("after the read-back, the spill file holds %d of %d bytes", after, before)
	}
}
