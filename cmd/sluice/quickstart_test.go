//go:build lake

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// TestQuickstartLake runs `scripts/quickstart.sh lake --exit-when-caught-up`
// end to end: its own MariaDB, the S3 and DynamoDB emulators, a snapshot and
// the binlog into the lake, writes and an ALTER, compaction, the Iceberg
// table read back next to the source, and verify; then stops what it
// started.
func TestQuickstartLake(t *testing.T) {
	dir := t.TempDir()
	_, port, _ := strings.Cut(testport.Loopback(t, 1)[0], ":")
	env := append(os.Environ(), "QUICKSTART_DIR="+dir, "PORT="+port, "QUICKSTART_SLUICE="+binary)
	script, err := filepath.Abs("../../scripts/quickstart.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", script, "stop")
		stop.Env = env
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("quickstart.sh stop: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "lake", "--exit-when-caught-up")
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("quickstart.sh lake took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("quickstart.sh lake: %v\n%s", err, out)
	}
	text := string(out)
	iceberg, source, ok := strings.Cut(text, "== SELECT * FROM shop.orders on the source")
	if !ok {
		t.Fatalf("no source rows printed:\n%s", text)
	}
	_, iceberg, _ = strings.Cut(iceberg, "== shop.orders read back through its Iceberg table")
	// The rows after the writes and the ALTER, in both: the snapshot's
	// rows (ann, cy) with the binlog's changes, dee inserted, bob deleted.
	want := []string{
		"id\tcustomer\ttotal\tstatus\tcreated_at\tnote",
		"1\tann\t19.99\tpaid\t", "3\tcy\t42.50\tnew\t", "\tgift wrap", "4\tdee\t7.25\tnew\t",
	}
	for _, w := range want {
		if !strings.Contains(iceberg, w) || !strings.Contains(source, w) {
			t.Errorf("%q is not in both the Iceberg rows and the source's:\n%s", w, text)
		}
	}
	if strings.Contains(iceberg, "\tbob\t") {
		t.Errorf("the deleted row is in the Iceberg table:\n%s", iceberg)
	}
	if !strings.Contains(text, "shop.orders  OK") || !strings.Contains(text, "== to look further") {
		t.Errorf("verify did not report OK, or the closing hints are missing:\n%s", text)
	}
}
