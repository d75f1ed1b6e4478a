package main

import (
	"crypto/md5"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestWorkloadIsReproducible(t *testing.T) {
	a, rows := workload{rows: 100_000, seed: 7}.statements()
	b, _ := workload{rows: 100_000, seed: 7}.statements()
	c, _ := workload{rows: 100_000, seed: 8}.statements()
	if rows != 100_000 || len(a) != 100 {
		t.Fatalf("%d rows in %d statements, want 100000 in 100", rows, len(a))
	}
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different statements")
	}
	if slices.Equal(a, c) {
		t.Error("another seed gave the same statements")
	}
	// 40 insert, 40 update, 20 delete statements, in that order, both tables.
	var kinds []string
	for _, s := range a {
		kind, _, _ := strings.Cut(s, " ")
		if len(kinds) == 0 || kinds[len(kinds)-1] != kind {
			kinds = append(kinds, kind)
		}
		if !strings.Contains(s, "bench.sbtest") && !strings.Contains(s, "bench.wide") {
			t.Errorf("statement on neither table: %.80s", s)
		}
	}
	if want := []string{"INSERT", "UPDATE", "DELETE"}; !slices.Equal(kinds, want) {
		t.Errorf("phases %v, want %v", kinds, want)
	}
}

func TestDeaggregate(t *testing.T) {
	plain := []byte(`{"table":"ticks"}`)
	if got, err := deaggregate(plain); err != nil || len(got) != 1 || string(got[0]) != string(plain) {
		t.Fatalf("plain record: %q, %v", got, err)
	}
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, "k")
	for _, d := range []string{"one", "two"} {
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.VarintType)
		rec = protowire.AppendVarint(rec, 0)
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendString(rec, d)
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, rec)
	}
	sum := md5.Sum(body)
	agg := append(append(append([]byte(nil), kplMagic...), body...), sum[:]...)
	got, err := deaggregate(agg)
	if err != nil || len(got) != 2 || string(got[0]) != "one" || string(got[1]) != "two" {
		t.Fatalf("aggregate: %q, %v", got, err)
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := summarize(d)
	if l.n != 100 || l.p50 != 50*time.Millisecond || l.p99 != 99*time.Millisecond || l.maxv != 100*time.Millisecond {
		t.Errorf("got %+v", l)
	}
}

func TestTickCreated(t *testing.T) {
	ev := []byte(`{"database":"live","table":"ticks","type":"insert","ts":1,"data":{"id":1,"created_at":"2026-11-24 08:00:00.123456","payload":"tick-1"}}`)
	got, ok := tickCreated(ev)
	if want := time.Date(2026, 11, 24, 8, 0, 0, 123456000, time.UTC); !ok || !got.Equal(want) {
		t.Errorf("got %v %t, want %v", got, ok, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTargets: the report prints issue 17's targets with met / not met,
// the RSS bound of each sluice run computed from the caps that run logged.
func TestTargets(t *testing.T) {
	a := &binlogRange{name: "A", rows: 1_000_000}
	b := &binlogRange{name: "B", rows: 1_000_000}
	baseA := &result{name: "(1) decode-only", rng: a, rows: a.rows, wall: 2 * time.Second, peakRSS: 30 << 20}
	baseB := &result{name: "(1b) decode-only, one transaction", rng: b, rows: b.rows, wall: time.Second, peakRSS: 30 << 20}
	caps := int64(72 << 20) // 1.5 × 72 + 48 = 156 MiB
	rep := &report{opts: &options{count: 1}, results: []*result{
		baseA,
		{name: "(2) file sink", rng: a, rows: a.rows, wall: 2 * time.Second, base: baseA, peakRSS: 50 << 20, caps: 8 << 20},
		{name: "(3) S3 lake", rng: a, rows: a.rows, wall: 4 * time.Second, base: baseA, peakRSS: 157 << 20, caps: caps},
		{name: "(4) Kinesis", rng: a, rows: a.rows, wall: 4 * time.Second, base: baseA, peakRSS: 150 << 20},
		baseB,
		{name: "(5) file sink, one transaction", rng: b, rows: b.rows, wall: time.Second * 5 / 4, base: baseB, peakRSS: 59 << 20, maxRSS: 61 << 20, caps: 8 << 20},
	}}
	got := rep.targets()
	for _, want := range []string{
		"- file sink ≥ 1.0× decode-only: 1.00× — met\n",
		"- S3 lake ≥ 0.6× decode-only: 0.50× — **not met**\n",
		"- a 1,000,000-row transaction ≥ 0.8× its decode-only: 0.80× — met\n",
		"- peak RSS of (2) file sink ≤ 1.5 × caps (8.0 MiB) + 48 MiB = 60.0 MiB: 50.0 MiB — met\n",
		"- peak RSS of (3) S3 lake ≤ 1.5 × caps (72.0 MiB) + 48 MiB = 156.0 MiB: 157.0 MiB — **not met**\n",
		"- peak RSS of (4) Kinesis ≤ 1.5 × caps + 48 MiB: 150.0 MiB — not checked: this sluice binary logs no caps_bytes\n",
		// The highest of the runs taken counts, not the median's.
		"- peak RSS of (5) file sink, one transaction ≤ 1.5 × caps (8.0 MiB) + 48 MiB = 60.0 MiB: 61.0 MiB — **not met**\n",
		"- peak RSS ≤ 64 MiB for a 1,000,000-row transaction: 61.0 MiB — met\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"decode-only ≤", "peak RSS of (1)"} {
		if strings.Contains(got, gone) {
			t.Errorf("targets hold %q:\n%s", gone, got)
		}
	}
	// The caps come from the line sluice logs at start.
	line := `time=2026-12-05T21:40:19.000Z level=INFO msg="memory caps; limit derived from them (set GOMEMLIMIT to override)" caps_bytes=75497472 limit_bytes=127926272`
	if m := capsLog.FindStringSubmatch(line); m == nil || m[1] != "75497472" {
		t.Errorf("caps from %q: %q", line, m)
	}
}
