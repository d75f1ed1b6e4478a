package compact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/sluicecdc/sluice/compact"
)

var (
	lakeRows      = flag.Int("lake-rows", 0, "rows of the generated table of BenchmarkCompactLake (0 skips it; the issue's figure is 10000000)")
	lakeHoldTable = flag.Bool("lake-hold-table", false, "BenchmarkCompactLake's alter run holds the table in memory (the path before ordered rewrites), for comparison")
)

// lakeGen writes a lake of one table straight to the bucket: n inserts,
// then batches of changes spread uniformly over the keys.
type lakeGen struct {
	*benchGen
	rows    int64 // keys inserted: 1..rows
	deleted map[int64]bool
	live    int64
	flag    bool // rows have the column the alter run adds
}

func (g *lakeGen) event(b *bytes.Buffer, typ string, id int64, extra string) string {
	offset := 4 + uint64(g.events)*100
	g.events++
	dk := fmt.Sprintf("1:mysql-bin.000001:%d:0", offset)
	fmt.Fprintf(b, `{"database":"bench","table":"orders","type":%q,"ts":%d,"xid":%d,"commit":true,"position":"mysql-bin.000001:%d","server_id":1,"dedupe_key":%q,"schema_version":1,"primary_key":{"id":%d},"data":%s%s}`+"\n",
		typ, 1732430000+g.events/10000, g.events, offset, dk, id, g.data(id), extra)
	return dk
}

// data is a row image, with the added column once the ALTER is written.
func (g *lakeGen) data(id int64) string {
	d := g.row(id)
	if g.flag {
		d = strings.TrimSuffix(d, "}") + fmt.Sprintf(`,"flag":%d}`, g.r.IntN(10))
	}
	return d
}

// alter writes an ALTER TABLE adding a column with a default.
func (g *lakeGen) alter(b *bytes.Buffer) string {
	offset := 4 + uint64(g.events)*100
	g.events++
	dk := fmt.Sprintf("1:mysql-bin.000001:%d:0", offset)
	fmt.Fprintf(b, `{"database":"bench","table":"orders","type":"table-alter","ts":%d,"position":"mysql-bin.000001:%d","server_id":1,"dedupe_key":%q,"sql":"ALTER TABLE orders ADD COLUMN flag INT NOT NULL DEFAULT 7"}`+"\n",
		1732430000+g.events/10000, offset, dk)
	g.flag = true
	return dk
}

// emit writes n events made by next into objects of perObject events and
// a manifest per ten objects.
func (g *lakeGen) emit(n int, next func(b *bytes.Buffer) string) {
	var (
		lines       bytes.Buffer
		objs        []map[string]any
		first, last string
		count       int
	)
	flush := func() {
		if len(objs) == 0 {
			return
		}
		body, _ := json.Marshal(map[string]any{"version": 1, "objects": objs})
		g.put(fmt.Sprintf("raw/_manifests/m-%08d.json", g.manifests), body)
		g.manifests++
		objs = nil
	}
	for i := range n {
		dk := next(&lines)
		if count == 0 {
			first = dk
		}
		last = dk
		count++
		if count == g.perObject || i == n-1 {
			var gz bytes.Buffer
			w, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
			_, _ = w.Write(lines.Bytes())
			_ = w.Close()
			key := fmt.Sprintf("raw/bench/orders/dt=2024-11-24/hr=06/obj-%08d.json.gz", g.objects)
			g.put(key, gz.Bytes())
			sum := sha256.Sum256(lines.Bytes())
			objs = append(objs, map[string]any{"key": key, "bytes": lines.Len(), "sha256": hex.EncodeToString(sum[:]),
				"events": count, "first_dedupe_key": first, "last_dedupe_key": last, "min_ts": 1732430000, "max_ts": 1732430000})
			g.objects++
			lines.Reset()
			count = 0
			if len(objs) == 10 {
				flush()
			}
		}
	}
	flush()
}

// inserts writes rows inserts of keys 1..rows.
func (g *lakeGen) inserts(rows int64) {
	g.emit(int(rows), func(b *bytes.Buffer) string {
		g.rows++
		g.live++
		return g.event(b, "insert", g.rows, "")
	})
}

// changes writes n changes spread over the keys: half updates, a quarter
// deletes, a quarter inserts of new keys; with alter, an ALTER TABLE
// after the first half of them.
func (g *lakeGen) changes(n int, alter bool) {
	r := g.r
	if alter {
		n++
	}
	i := 0
	pick := func() int64 {
		for {
			if id := 1 + r.Int64N(g.rows); !g.deleted[id] {
				return id
			}
		}
	}
	g.emit(n, func(b *bytes.Buffer) string {
		i++
		if alter && i == n/2 {
			return g.alter(b)
		}
		switch p := r.IntN(4); {
		case p < 2:
			return g.event(b, "update", pick(), `,"old":{"status":"x"}`)
		case p < 3:
			id := pick()
			g.deleted[id] = true
			g.live--
			return g.event(b, "delete", id, "")
		default:
			g.rows++
			g.live++
			return g.event(b, "insert", g.rows, "")
		}
	})
}

// peakRSS returns the process's peak resident memory since the last
// resetPeak, in MiB.
func peakRSS(b *testing.B) float64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status: peak RSS needs Linux")
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeak returns freed memory to the OS and resets the peak RSS.
func resetPeak(b *testing.B) {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// BenchmarkCompactLake is the issue-16 figure: a lake holding a -lake-rows
// table (10,000,000 in BENCHMARKS.md) compacted in full, then 10,000
// changes spread over the keys compacted incrementally (merge on read),
// then 10,000 changes with an ALTER TABLE ADD COLUMN ... DEFAULT among
// them (an ordered rewrite, or with -lake-hold-table the in-memory path
// before it), then another 10,000 compacted by rewriting the table (copy
// on write, as a run with max delete files 0 does). Each phase reports wall time and
// the process's peak RSS (the generator's memory returned to the OS and
// the peak reset before each). Not run in CI: it takes minutes.
//
//	go test -tags lake -run '^$' -bench CompactLake -benchtime 1x -timeout 60m -lake-rows 10000000 ./compact/
func BenchmarkCompactLake(b *testing.B) {
	if *lakeRows == 0 {
		b.Skip("set -lake-rows (10000000 for the BENCHMARKS.md figure)")
	}
	// As sluice compact does (GOMEMLIMIT unset): the Go runtime's soft
	// limit from compact.memory.
	def := compact.DefaultConfig()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(def.GoMemoryLimit()))
	for range b.N {
		g := &lakeGen{benchGen: newBenchGen(b, 5000), deleted: make(map[int64]bool)}
		g.r = rand.New(rand.NewPCG(16, 16))
		start := time.Now()
		g.inserts(int64(*lakeRows))
		b.Logf("generated %d rows in %d objects, %d manifests in %s", g.rows, g.objects, g.manifests, time.Since(start).Round(time.Second))
		dir := b.TempDir()
		phase := func(name string, maxDeleteFiles int, wantEvents int, wantMode string) time.Duration {
			c := g.compactorWith(dir, func(cfg *compact.Config) {
				cfg.MaxDeleteFiles = maxDeleteFiles
				compact.SetHoldTable(cfg, *lakeHoldTable)
			})
			defer c.Close()
			resetPeak(b)
			base := peakRSS(b)
			t0 := time.Now()
			rep, err := c.Run(context.Background())
			d := time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			rss := peakRSS(b)
			tr := rep.Tables[0]
			if tr.Events != wantEvents || tr.Mode != wantMode || tr.Rows != g.live {
				b.Fatalf("%s: %d events, mode %s, %d rows: want %d, %s, %d (%+v)", name, tr.Events, tr.Mode, tr.Rows, wantEvents, wantMode, g.live, tr)
			}
			b.Logf("%s: %d events → %d rows of %d columns in %s (%.0f events/s), peak RSS %.0f MiB (%.0f MiB before the run), %d versions spilled",
				name, tr.Events, tr.Rows, tr.Columns, d.Round(time.Millisecond), float64(tr.Events)/d.Seconds(), rss, base, tr.Spilled)
			b.ReportMetric(d.Seconds(), name+"-s")
			b.ReportMetric(rss, name+"-peak-MiB")
			return d
		}
		full := phase("full", 32, *lakeRows, compact.ModeCopyOnWrite)
		b.ReportMetric(float64(*lakeRows)/full.Seconds(), "full-rows/s")
		g.changes(10_000, false)
		mor := phase("incremental", 32, 10_000, compact.ModeMergeOnRead)
		g.changes(10_000, true)
		phase("alter", 32, 10_001, compact.ModeCopyOnWrite)
		g.changes(10_000, false)
		cow := phase("rewrite", 0, 10_000, compact.ModeCopyOnWrite)
		b.ReportMetric(cow.Seconds()/mor.Seconds(), "rewrite/incremental")
	}
}
