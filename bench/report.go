package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Targets of issue 17, which supersede issue 7's ratios (file sink 0.6×,
// lake 0.5×).
const (
	targetFileRatio = 1.0 // × decode-only over range A
	targetLakeRatio = 0.6
	targetTxRatio   = 0.8 // the one-transaction run × its own decode-only
	// Every sluice run's peak RSS ≤ targetRSSFactor × the sum of the
	// memory caps sluice derives from its configuration + targetRSSBase.
	targetRSSFactor = 1.5
	targetRSSBase   = 48 << 20
)

// Targets of issue 7 that still stand.
const (
	targetTxRSS  = 64 << 20
	targetTxRows = 1_000_000
	targetP99    = 200 * time.Millisecond
	targetRate   = 10_000
)

// rangeBytes is the JSON size of a range's events, from the first run
// whose sink output was counted in full.
func (rep *report) rangeBytes(r *binlogRange) int64 {
	for _, res := range rep.results {
		if res.rng == r && res.bytes > 0 && res.problem == "" {
			return res.bytes
		}
	}
	return 0
}

func (rep *report) find(name string) *result {
	for _, res := range rep.results {
		if res.name == name {
			return res
		}
	}
	return nil
}

// markdown renders the results: workload, table, targets, profile, live.
func (rep *report) markdown() string {
	var b strings.Builder
	o := rep.opts
	if len(rep.ranges) > 0 {
		fmt.Fprintf(&b, "Workload (seed %d):\n\n", o.seed)
		for _, r := range rep.ranges {
			desc := "inserts in 1,000-row transactions, then updates, then deletes, alternating between `bench.sbtest` (sysbench's table) and `bench.wide` (DECIMAL(18,4), DATETIME(6), utf8mb4 VARCHAR(255), JSON, BLOB, ENUM, INT, DOUBLE, TINYINT, TIMESTAMP(3))"
			if r.name == "B" {
				desc = "one `INSERT ... SELECT` transaction into `bench.bigtx` (sysbench's table shape)"
			}
			fmt.Fprintf(&b, "- range %s: %s row changes in %s, %s; binlog %s → %s (%s), %s of JSON out; written in %.1f s\n",
				r.name, thousands(r.rows), plural(r.txs, "transaction"), desc, r.from, r.to, mbOrUnknown(r.binBytes), mbOrUnknown(rep.rangeBytes(r)), r.written.Seconds())
		}
		b.WriteString("\n")
	}
	if len(rep.results) > 0 {
		spread := o.count > 1
		if spread {
			fmt.Fprintf(&b, "Each run taken %d times; the table shows the median run by wall time, and the lowest and highest rows/s.\n\n", o.count)
			b.WriteString("| run | range | rows | s | rows/s | rows/s low–high | × (1) | MB/s JSON | × (1) | CPU s | × (1) | peak RSS MiB | × (1) | machine busy, cores |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		} else {
			b.WriteString("| run | range | rows | s | rows/s | × (1) | MB/s JSON | × (1) | CPU s | × (1) | peak RSS MiB | × (1) | machine busy, cores |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		for _, res := range rep.results {
			rb := rep.rangeBytes(res.rng)
			if res.wall <= 0 {
				dashes := strings.Repeat(" – |", 11)
				if spread {
					dashes += " – |"
				}
				fmt.Fprintf(&b, "| %s **(%s)** | %s |%s\n", res.name, res.problem, res.rng.name, dashes)
				continue
			}
			if res.rng.rows == 0 {
				dashes := strings.Repeat(" – |", 4)
				if spread {
					dashes += " – |"
				}
				fmt.Fprintf(&b, "| %s | %s | 0 | %.2f |%s %.2f | – | %s | – | %.1f |\n", res.name, res.rng.name, res.wall.Seconds(), dashes,
					res.cpu.Seconds(), orDash(float64(res.peakRSS)/(1<<20), "%.1f"), res.busy.Seconds()/res.wall.Seconds())
				continue
			}
			rps := float64(res.rows) / res.wall.Seconds()
			mbps := float64(res.bytes) / 1e6 / res.wall.Seconds()
			if strings.Contains(res.name, "decode-only") {
				mbps = float64(rb) / 1e6 / res.wall.Seconds()
			}
			var brps, bmbps, bcpu, brss float64
			if base := res.base; base != nil && base.wall > 0 {
				brps = float64(base.rows) / base.wall.Seconds()
				bmbps = float64(rb) / 1e6 / base.wall.Seconds()
				bcpu = base.cpu.Seconds()
				brss = float64(base.peakRSS)
			} else if strings.Contains(res.name, "decode-only") {
				brps, bmbps, bcpu, brss = rps, mbps, res.cpu.Seconds(), float64(res.peakRSS)
			}
			name := res.name
			if res.problem != "" {
				name += " **(" + res.problem + ")**"
			}
			rate := thousands(int(rps + 0.5))
			if spread {
				rate += " | " + thousands(int(res.minRate+0.5)) + "–" + thousands(int(res.maxRate+0.5))
				if res.taken < o.count {
					rate += fmt.Sprintf(" (%d ok)", res.taken)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %s | %.2f | %s | %s | %s | %.1f |\n",
				name, res.rng.name, thousands(res.rows), res.wall.Seconds(), rate, ratio(rps, brps),
				orDash(mbps, "%.0f"), ratio(mbps, bmbps), res.cpu.Seconds(), ratio(res.cpu.Seconds(), bcpu),
				orDash(float64(res.peakRSS)/(1<<20), "%.1f"), ratio(float64(res.peakRSS), brss), res.busy.Seconds()/res.wall.Seconds())
		}
		b.WriteString(`
rows/s: row changes over the run's wall time (sluice: from exec to exit, start-up, preflight and the final
fsync + checkpoint included; decode-only: from connecting to the range's last event). MB/s JSON: the
events' JSON bytes (one line each, as the file sink writes them; the lake's uncompressed) over the wall
time; for decode-only, the range's JSON size over its decode time, the rate sluice would have to emit at
to keep up. CPU s: the sluice child's own user+system time (rusage of the waited-for child); for
decode-only, this process's getrusage delta. Peak RSS: the VmHWM sluice logs at exit; for decode-only,
this process's VmHWM after resetting it (it includes the bench's own ~20–40 MiB). × (1): the ratio to the
decode-only run over the same range. Machine busy: the CPU time of every process of the machine (/proc/stat:
sluice, MariaDB, the emulators, and anything else running) over the wall time, in cores; at the machine's
core count the run competed for CPU.
`)
	}
	if t := rep.targets(); t != "" {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("Targets (issue 17; issue 7's that still stand):\n\n" + t)
	}
	for _, p := range rep.profiles {
		fmt.Fprintf(&b, "\nCPU profile of one more %s run (`sluice --cpuprofile`, `go tool pprof -top -nodecount=10`):\n\n```\n%s\n```\n", p.kind, p.top)
	}
	if len(rep.live) > 0 {
		b.WriteString(rep.liveMarkdown())
	}
	return b.String()
}

func (rep *report) targets() string {
	var b strings.Builder
	line := func(what, got string, ok bool) {
		verdict := "met"
		if !ok {
			verdict = "**not met**"
		}
		fmt.Fprintf(&b, "- %s: %s — %s\n", what, got, verdict)
	}
	ratioOf := func(res *result) (float64, bool) {
		if res == nil || res.base == nil || res.wall <= 0 || res.base.wall <= 0 || res.problem != "" {
			return 0, false
		}
		return (float64(res.rows) / res.wall.Seconds()) / (float64(res.base.rows) / res.base.wall.Seconds()), true
	}
	if r, ok := ratioOf(rep.find("(2) file sink")); ok {
		line(fmt.Sprintf("file sink ≥ %.1f× decode-only", targetFileRatio), fmt.Sprintf("%.2f×", r), r >= targetFileRatio)
	}
	if r, ok := ratioOf(rep.find("(3) S3 lake")); ok {
		line(fmt.Sprintf("S3 lake ≥ %.1f× decode-only", targetLakeRatio), fmt.Sprintf("%.2f×", r), r >= targetLakeRatio)
	}
	if res := rep.find("(5) file sink, one transaction"); res != nil {
		if r, ok := ratioOf(res); ok {
			what := fmt.Sprintf("a %s-row transaction ≥ %.1f× its decode-only", thousands(targetTxRows), targetTxRatio)
			if res.rng.rows != targetTxRows {
				what += fmt.Sprintf(" (measured with %s rows)", thousands(res.rng.rows))
			}
			line(what, fmt.Sprintf("%.2f×", r), r >= targetTxRatio)
		}
	}
	rss := func(run string, peak, caps int64) {
		if peak <= 0 {
			return
		}
		if caps <= 0 {
			fmt.Fprintf(&b, "- peak RSS of %s ≤ %.1f × caps + %d MiB: %.1f MiB — not checked: this sluice binary logs no caps_bytes\n",
				run, targetRSSFactor, targetRSSBase>>20, mib(peak))
			return
		}
		limit := int64(targetRSSFactor*float64(caps)) + targetRSSBase
		line(fmt.Sprintf("peak RSS of %s ≤ %.1f × caps (%.1f MiB) + %d MiB = %.1f MiB", run, targetRSSFactor, mib(caps), targetRSSBase>>20, mib(limit)),
			fmt.Sprintf("%.1f MiB", mib(peak)), peak <= limit)
	}
	for _, res := range rep.results {
		if res.wall > 0 && !strings.Contains(res.name, "decode-only") {
			rss(res.name, max(res.peakRSS, res.maxRSS), res.caps)
		}
	}
	for _, l := range rep.live {
		if l.sluice != nil {
			rss(fmt.Sprintf("live at %s rows/s (%s)", thousands(l.rate), l.sinks), l.sluice.peakRSS, l.sluice.caps)
		}
	}
	if res := rep.find("(5) file sink, one transaction"); res != nil && res.peakRSS > 0 {
		what := fmt.Sprintf("peak RSS ≤ %d MiB for a %s-row transaction", targetTxRSS>>20, thousands(targetTxRows))
		if res.rng.rows != targetTxRows {
			what += fmt.Sprintf(" (measured with %s rows)", thousands(res.rng.rows))
		}
		peak := max(res.peakRSS, res.maxRSS)
		line(what, fmt.Sprintf("%.1f MiB", mib(peak)), peak <= targetTxRSS)
	}
	for _, l := range rep.live {
		if l.rate == targetRate && l.arrival.n > 0 {
			line(fmt.Sprintf("commit→Kinesis p99 < %v at %s rows/s", targetP99, thousands(targetRate)),
				fmt.Sprintf("p99 %v (rate sustained: %t)", ms(l.arrival.p99), l.sustained), l.arrival.p99 < targetP99 && l.sustained)
		}
	}
	return b.String()
}

func (rep *report) liveMarkdown() string {
	var b strings.Builder
	b.WriteString("\nLive (commit→emit latency per row; see bench/live.go for exactly what is measured):\n\n")
	b.WriteString("| rate asked | rows/s written | rows | sinks | commit→Kinesis p50 / p99 / max | commit→consumer read p50 / p99 / max | commit→file p50 / p99 / max | drain | sluice CPU s (cores) | peak RSS MiB | sustained |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range rep.live {
		sinks := l.sinks
		if l.aggregate {
			sinks += " (aggregate)"
		}
		cpu, rss := "–", "–"
		if l.sluice != nil && l.sluice.wall > 0 {
			cpu = fmt.Sprintf("%.1f (%.2f)", l.sluice.cpu.Seconds(), l.sluice.cpu.Seconds()/l.sluice.wall.Seconds())
			rss = fmt.Sprintf("%.1f", float64(l.sluice.peakRSS)/(1<<20))
		}
		sus := "yes"
		if !l.sustained {
			sus = "no: " + l.why
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %v | %s | %s | %s |\n",
			thousands(l.rate), thousands(int(l.achieved+0.5)), thousands(l.written), sinks,
			lat(l.arrival), lat(l.read), lat(l.file), ms(l.drain), cpu, rss, sus)
	}
	fmt.Fprintf(&b, "\nWriter: one autocommit INSERT per %v tick; consumer poll after an empty read: %v; %d shards.\n", rep.opts.tick, rep.opts.poll, rep.opts.shards)
	return b.String()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func lat(l latency) string {
	if l.n == 0 {
		return "–"
	}
	return fmt.Sprintf("%v / %v / %v", ms(l.p50), ms(l.p99), ms(l.maxv))
}

func ratio(v, base float64) string {
	if base <= 0 || v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/base)
}

func orDash(v float64, format string) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func mbOrUnknown(n int64) string {
	if n <= 0 {
		return "size unknown"
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// machineLine describes the machine and the software measured.
func (m machineInfo) line() string {
	return fmt.Sprintf("%d × %s, %.1f GiB; %s; MariaDB %s; sluice %s; load average at start %s",
		m.CPUs, m.CPUModel, float64(m.MemBytes)/(1<<30), m.Go, m.MariaDB, m.Commit, m.Load)
}

// appendSection appends a dated section with the results to path.
func appendSection(path string, rep *report, args []string) error {
	mode := fmt.Sprintf("%s row changes", thousands(rep.opts.rows))
	if rep.opts.live {
		mode = "live"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## sluice bench (issue 17): %s, %s, sluice %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), mode, rep.machine.Commit)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if strings.ContainsAny(a, " '\"$()") {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	fmt.Fprintf(&b, "`go run ./bench %s`\n\nMachine: %s.\n\n", strings.Join(quoted, " "), rep.machine.line())
	b.WriteString(rep.markdown())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}
