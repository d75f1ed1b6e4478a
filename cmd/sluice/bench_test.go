package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// BenchmarkLargeTransactionRSS runs the sluice binary over one transaction
// of a million rows into a file sink and reports the process's peak
// resident memory (getrusage ru_maxrss) and rows/s.
func BenchmarkLargeTransactionRSS(b *testing.B) {
	const rows = 1_000_000
	s, err := mysqltest.Start(mysqltest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	s.Exec(b, "CREATE DATABASE big", "USE big",
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), d DECIMAL(12,2), ts DATETIME(6))",
		"INSERT INTO t SELECT seq, CONCAT('row-', seq), seq / 100, '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_1000000")
	var peakBytes int64
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		cfg := writeConfig(&testing.T{}, dir, s, s.User, "")
		b.StartTimer()
		cmd := exec.CommandContext(context.Background(), binary, "run", "--exit-when-caught-up", "--config", cfg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("sluice: %v\n%s", err, stderr.String())
		}
		b.StopTimer()
		// getrusage's ru_maxrss would include this test process's own
		// high-water mark (inherited across vfork+exec): read the peak the
		// process logs from its /proc/self/status VmHWM instead.
		m := regexp.MustCompile(`peak_rss_bytes=(\d+)`).FindStringSubmatch(stderr.String())
		if m == nil {
			b.Fatalf("sluice logged no peak_rss_bytes:\n%s", stderr.String())
		}
		peak, _ := strconv.ParseInt(m[1], 10, 64)
		peakBytes = max(peakBytes, peak)
		out, err := os.ReadFile(filepath.Join(dir, "out", "events.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		if n := bytes.Count(out, []byte(`"type":"insert"`)); n != rows {
			b.Fatalf("%d insert events, want %d", n, rows)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peakBytes)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
