package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/internal/testing/mysql8test"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestMySQL8Files serves each real MySQL 8 binlog file from a fake primary
// and runs it through a whole pipeline (preflight, BinlogSyncer, schema,
// encoder, file sink) in both formats. The events must equal
// testdata/mysql8/NAME.FORMAT.golden; for a file sluice must refuse, the
// run's error must equal NAME.FORMAT.golden's only line, "halt: <message>",
// with nothing of the refused transaction written. -update rewrites them.
func TestMySQL8Files(t *testing.T) {
	for _, path := range mysql8test.Files(t) {
		for _, format := range []pipeline.Format{pipeline.FormatMaxwell, pipeline.FormatDebezium} {
			name := filepath.Base(path) + "." + string(format)
			t.Run(name, func(t *testing.T) {
				got := runMySQL8File(t, path, format, false)
				compareGolden(t, filepath.Join("../testdata/mysql8", name+".golden"), got)
			})
		}
	}
}

// namesFromDDL are the column names of the tables of minimal-metadata
// files, from the CREATE TABLE each file holds.
var namesFromDDL = map[string]map[string][]string{
	"mdev35643_mysql_80_binlog.000001": {"test.t1": {"a", "b", "c"}, "test.t2": {"a", "b"}},
	"json.binlog.000001":               {"mysql.t": {"id", "json_col", "name", "age"}},
}

// TestMySQL8FilesNamed runs the minimal-metadata files again with the
// column names of their CREATE TABLEs added to every TABLE_MAP (by the
// harness, as binlog_row_metadata=FULL would have written them), so the
// rest of each file, compressed transaction and partial JSON update
// included, goes through sluice: goldens NAME.names.FORMAT.golden.
func TestMySQL8FilesNamed(t *testing.T) {
	for _, path := range mysql8test.Files(t) {
		names, ok := namesFromDDL[filepath.Base(path)]
		if !ok {
			continue
		}
		for _, format := range []pipeline.Format{pipeline.FormatMaxwell, pipeline.FormatDebezium} {
			name := filepath.Base(path) + ".names." + string(format)
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if data, err = mysql8test.ClearInUse(data); err != nil {
					t.Fatal(err)
				}
				if data, err = mysql8test.AddColumnNames(data, names); err != nil {
					t.Fatal(err)
				}
				got := runMySQL8(t, mysql8test.ServeData(t, filepath.Base(path), data), format, false)
				compareGolden(t, filepath.Join("../testdata/mysql8", name+".golden"), got)
			})
		}
	}
}

// TestMySQL8FileGTID: the same through COM_BINLOG_DUMP_GTID (a pipeline
// started after a GTID set): the events are those of the position start.
func TestMySQL8FileGTID(t *testing.T) {
	var path string
	for _, f := range mysql8test.Files(t) {
		if strings.Contains(f, "mysql-enum-string-set") {
			path = f
		}
	}
	if path == "" {
		t.Fatal("mysql-enum-string-set.000001 missing")
	}
	byPos := runMySQL8File(t, path, pipeline.FormatMaxwell, false)
	p := mysql8test.Serve(t, path)
	byGTID := runMySQL8(t, p, pipeline.FormatMaxwell, true)
	if d := p.Dumps(); len(d) == 0 || !strings.HasPrefix(d[0], "COM_BINLOG_DUMP_GTID ") {
		t.Fatalf("the pipeline did not dump by GTID: %q", d)
	}
	if len(bytes.Split(byPos, []byte("\n"))) < 3 {
		t.Fatalf("too few events to compare:\n%s", byPos)
	}
	if !bytes.Equal(byPos, byGTID) {
		t.Fatalf("GTID dump differs from position dump:\n%s\n---\n%s", byGTID, byPos)
	}
}

// runMySQL8File returns the events of one file, or "halt: <error>" when the
// pipeline refuses it.
func runMySQL8File(t *testing.T, path string, format pipeline.Format, gtid bool) []byte {
	t.Helper()
	return runMySQL8(t, mysql8test.Serve(t, path), format, gtid)
}

func runMySQL8(t *testing.T, p *mysql8test.Primary, format pipeline.Format, gtid bool) []byte {
	t.Helper()
	dir := t.TempDir()
	store, err := checkpoint.NewFileStore(dir, "m8")
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.DefaultConfig()
	cfg.Name = "m8"
	cfg.Source.Host, cfg.Source.Port, cfg.Source.User, cfg.Source.Password = p.Host, p.Port, mysql8test.User, mysql8test.Password
	cfg.Source.HeartbeatPeriod = 250 * time.Millisecond
	cfg.Source.ReadTimeout = 3 * time.Second
	cfg.Source.RetryTimeout = 5 * time.Second
	cfg.Start = pipeline.StartEarliest
	cfg.Format = format
	// The files' authors wrote most of their tables into the mysql
	// database, which the default filter leaves out.
	cfg.Filter = filter.Config{Include: []string{"*.*", "mysql.*"}}
	cfg.ExitWhenCaughtUp = true
	cfg.SpillDir = dir
	cfg.SchemaPath = filepath.Join(dir, "m8.schema.json")
	cfg.Logger = testLogger(t)
	if gtid {
		cfg.StartGTID = "00000000-0000-0000-0000-000000000000:1"
	}
	out := filepath.Join(dir, "events.jsonl")
	pl, err := pipeline.New(cfg, store, func() ([]emit.Sink, error) {
		f, err := emit.OpenFile(out)
		if err != nil {
			return nil, err
		}
		return []emit.Sink{f}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runErr := pl.Run(ctx)
	written, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	// keys sorted, so goldens read the same whatever the encoder's order
	var b bytes.Buffer
	for i, l := range bytes.Split(bytes.TrimSpace(written), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		m := decodeEvent(t, i, l)
		j, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	if runErr != nil {
		if ctx.Err() != nil {
			t.Fatalf("run did not end: %v", runErr)
		}
		b.WriteString("halt: " + runErr.Error() + "\n")
	}
	return b.Bytes()
}

func compareGolden(t *testing.T, goldenFile string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it, then review it)", err)
	}
	if halt := bytes.LastIndex(want, []byte("halt: ")); halt >= 0 && (halt == 0 || want[halt-1] == '\n') {
		// A halt stops the pipeline with what it had committed maybe not
		// yet delivered (nor checkpointed): the events written must be a
		// prefix of those before the halt, and the halt the same.
		gh := bytes.LastIndex(got, []byte("halt: "))
		if gh < 0 || !bytes.Equal(got[gh:], want[halt:]) || !bytes.HasPrefix(want[:halt], got[:gh]) {
			t.Fatalf("got\n%s\nwant (events before the halt may be cut short)\n%s", got, want)
		}
		return
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("line %d differs from %s:\n got: %s\nwant: %s", i+1, goldenFile, g, w)
			}
		}
	}
}
