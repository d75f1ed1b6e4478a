package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestReplay re-emits ranges chosen by position, time and GTID into a
// second file: the events are byte-identical to the live run's, and the
// live checkpoint and schema registry are left as they were.
func TestReplay(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	dir := t.TempDir()
	live := writeConfig(t, dir, s, s.User, "")
	head := func() (string, string) {
		var file string
		var pos int64
		var a, b any
		if err := s.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
			t.Fatal(err)
		}
		var gtid string
		if err := s.DB(t).QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s:%d", file, pos), gtid
	}
	s.Exec(t, "CREATE DATABASE rp", "CREATE TABLE rp.t (id INT PRIMARY KEY, phase INT)", "INSERT INTO rp.t VALUES (1, 1), (2, 1)")
	mid, midGTID := head()
	time.Sleep(1100 * time.Millisecond) // commit times are whole seconds
	midTime := time.Now().UTC().Truncate(time.Second)
	s.Exec(t, "INSERT INTO rp.t VALUES (3, 2)", "ALTER TABLE rp.t ADD COLUMN extra VARCHAR(10)", "UPDATE rp.t SET extra = 'x', phase = 2 WHERE id = 1")
	end, _ := head()
	s.Exec(t, "INSERT INTO rp.t VALUES (4, 3, 'after')")
	if r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", live); r.code != 0 {
		t.Fatalf("live run: exit %d\n%s", r.code, r.stderr)
	}
	liveEvents := readLines(t, filepath.Join(dir, "out", "events.jsonl"))
	cpBefore := mustRead(t, filepath.Join(dir, "cp", "clitest.checkpoint.json"))
	regBefore := mustRead(t, filepath.Join(dir, "cp", "clitest.schema.json"))

	// A config that shares the pipeline's state but writes elsewhere.
	replayCfg := func(name string) (string, string) {
		out := filepath.Join(dir, name+".jsonl")
		b, err := os.ReadFile(live)
		if err != nil {
			t.Fatal(err)
		}
		cfg := strings.Replace(string(b), filepath.Join(dir, "out", "events.jsonl"), out, 1)
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path, out
	}
	// which live events a range should reproduce, by a predicate on the line
	pick := func(keep func(line string) bool) []string {
		var out []string
		for _, l := range liveEvents {
			if keep(l) {
				out = append(out, l)
			}
		}
		return out
	}
	isPhase2 := func(l string) bool {
		return strings.Contains(l, `"id":3,"phase":2`) || strings.Contains(l, `"table-alter"`) || strings.Contains(l, `"type":"update"`)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"position range", []string{"--from", "pos:" + mid, "--to", "pos:" + end}, pick(isPhase2)},
		{"time", []string{"--from", "time:" + midTime.Format(time.RFC3339)}, pick(func(l string) bool { return isPhase2(l) || strings.Contains(l, `"after"`) })},
		{"gtid", []string{"--from", "gtid:" + midGTID, "--to", "pos:" + end}, pick(isPhase2)},
		{"from the checkpoint: nothing new", []string{"--from", "checkpoint"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, out := replayCfg(strings.ReplaceAll(c.name, " ", "-"))
			r := sluice(t, nil, append([]string{"replay", "--config", cfg}, c.args...)...)
			if r.code != 0 {
				t.Fatalf("replay: exit %d\n%s", r.code, r.stderr)
			}
			got := readLines(t, out)
			if len(c.want) == 0 && len(got) == 0 {
				return
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("replay %v emitted:\n%s\nwant (the live run's lines):\n%s", c.args, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
	if !bytes.Equal(cpBefore, mustRead(t, filepath.Join(dir, "cp", "clitest.checkpoint.json"))) {
		t.Error("a replay moved the live checkpoint")
	}
	if !bytes.Equal(regBefore, mustRead(t, filepath.Join(dir, "cp", "clitest.schema.json"))) {
		t.Error("a replay changed the schema registry")
	}
	if r := sluice(t, nil, "replay", "--config", live, "--from", "yesterday"); r.code != 2 || !strings.Contains(r.stderr, "want checkpoint, pos:FILE:OFFSET, gtid:SET or time:RFC3339") {
		t.Fatalf("bad --from: exit %d\n%s", r.code, r.stderr)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
