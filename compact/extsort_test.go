package compact

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicecdc/sluice/event/position"
)

// TestSorterSpills sorts the same versions with a budget that spills every
// few versions and with one that never spills: both give every key's
// versions in key order, by place (generation first), with values
// intact.
func TestSorterSpills(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var in []version
	for i := range 5000 {
		vals := []any{int64(r.IntN(1000) - 500), nil, number(fmt.Sprintf("%d.%02d", r.IntN(100), r.IntN(100))), fmt.Sprintf("s-%d\n\"x\"", i)}
		in = append(in, version{
			key: keyOf([]any{int64(r.IntN(700))}),
			at:  place{gen: uint32(r.IntN(3)), pos: position.Position{File: fmt.Sprintf("mysql-bin.%06d", 1+r.IntN(3)), Offset: uint64(r.IntN(1 << 20))}, row: r.IntN(4)},
			sid: 7, ts: uint32(i), del: r.IntN(5) == 0, old: r.IntN(3) == 0,
			vals: encodeValues(nil, vals),
		})
	}
	collect := func(budget int64) ([][]version, int, int) {
		s := newSorter(t.TempDir(), budget)
		defer func() {
			if err := s.close(); err != nil {
				t.Error(err)
			}
		}()
		for _, v := range in {
			if err := s.add(v); err != nil {
				t.Fatal(err)
			}
		}
		runs := len(s.runs)
		var out [][]version
		if err := s.groups(func(vs []version) error {
			out = append(out, slices.Clone(vs))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out, runs, s.spilled
	}
	mem, memRuns, _ := collect(1 << 30)
	disk, diskRuns, spilled := collect(4 << 10)
	if memRuns != 0 || diskRuns < 10 || spilled != len(in) {
		t.Fatalf("runs: %d in memory, %d spilled (%d versions): want 0 and many, all %d versions", memRuns, diskRuns, spilled, len(in))
	}
	if len(mem) != len(disk) {
		t.Fatalf("%d groups in memory, %d spilled", len(mem), len(disk))
	}
	n := 0
	for i := range mem {
		if i > 0 && mem[i-1][0].key >= mem[i][0].key {
			t.Fatalf("groups out of key order: %q then %q", mem[i-1][0].key, mem[i][0].key)
		}
		for j := range mem[i] {
			a, b := mem[i][j], disk[i][j]
			if j > 0 && mem[i][j-1].at.compare(a.at) > 0 {
				t.Fatalf("key %s: versions out of place order", a.key)
			}
			if a.key != b.key || a.at != b.at || a.sid != b.sid || a.ts != b.ts || a.del != b.del || a.old != b.old || string(a.vals) != string(b.vals) {
				t.Fatalf("group %d version %d: in memory %+v, spilled %+v", i, j, a, b)
			}
			vals, err := decodeValues(b.vals)
			if err != nil || len(vals) != 4 || vals[1] != nil {
				t.Fatalf("values %v: %v", vals, err)
			}
			n++
		}
	}
	if n != len(in) {
		t.Fatalf("%d versions out, %d in", n, len(in))
	}
}
