package compact

import (
	"slices"
	"testing"

	"github.com/sluicecdc/sluice/filter"
)

// TestSortedRewriteDropsFilteredColumns: lake objects written before a
// column was excluded carry it; a sorted rewrite (the path of a plain
// copy-on-write run) must leave it out of the table's columns and rows, as
// the in-memory and ordered paths do.
func TestSortedRewriteDropsFilteredColumns(t *testing.T) {
	f, err := filter.New(filter.Config{ExcludeColumns: []string{"d.t.secret"}})
	if err != nil {
		t.Fatal(err)
	}
	lines := [][]byte{
		ev("insert", "bin.000001:100:0", `{"id":1,"a":"x","secret":"s1"}`, pk("1")),
		ev("update", "bin.000001:200:0", `{"id":1,"a":"y","secret":"s2"}`, pk("1"), `"old":{"a":"x","secret":"s1"}`),
		ev("insert", "bin.000001:300:0", `{"id":2,"a":"z","secret":"s3"}`, pk("2")),
	}
	st := newTableState("d", "t")
	st.filter = f
	w := newRewriteRun(st, newSorter(t.TempDir(), 1<<20))
	for _, line := range lines {
		c, err := parseChange(line)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.prepare(false); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(st.cols, "secret") || slices.Contains(st.shape, "secret") {
		t.Fatalf("columns %v, shape %v: the excluded column is in the table", st.cols, st.shape)
	}
	versions := 0
	err = w.srt.groups(func(vs []version) error {
		for _, v := range vs {
			vals, err := decodeValues(v.vals)
			if err != nil {
				return err
			}
			versions++
			if len(vals) > len(st.cols) {
				t.Errorf("version of %q holds %d values for columns %v: %v", v.key, len(vals), st.cols, vals)
			}
			for _, x := range vals {
				if s, ok := x.(string); ok && len(s) == 2 && s[0] == 's' {
					t.Errorf("version of %q holds the excluded value %q", v.key, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if versions != 3 {
		t.Fatalf("%d versions sorted, want 3", versions)
	}
	if err := w.srt.close(); err != nil {
		t.Fatal(err)
	}
}
