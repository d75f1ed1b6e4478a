package mysql8test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

func sharedFiles(t *testing.T) []string {
	files, _ := filepath.Glob("../../../../shared/mysql8-binlogs/*.0*")
	more, _ := filepath.Glob("../../../../../shared/mysql8-binlogs/*.0*")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no shared/mysql8-binlogs beside the repository")
	}
	return files
}

// TestAddColumnNames: with no names the file comes back unchanged (so
// positions and checksums are recomputed right); with names, every
// event still parses with its checksum verified, the table maps carry the
// names, and positions run on from event to event.
func TestAddColumnNames(t *testing.T) {
	for _, f := range append(sharedFiles(t), "/usr/share/mysql/mysql-test/std_data/mdev35643_mysql_80_binlog.000001") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data, err = ClearInUse(data)
		if err != nil {
			t.Fatal(err)
		}
		same, err := AddColumnNames(data, nil)
		if err != nil || !bytes.Equal(same, data) {
			t.Fatalf("%s: without names the file changed (%v)", f, err)
		}
	}
	data, err := os.ReadFile("/usr/share/mysql/mysql-test/std_data/mdev35643_mysql_80_binlog.000001")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = ClearInUse(data)
	named, err := AddColumnNames(data, map[string][]string{"test.t1": {"a", "b", "c"}, "test.t2": {"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "named.000001")
	if err := os.WriteFile(path, named, 0o644); err != nil {
		t.Fatal(err)
	}
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(true)
	maps, inner := 0, 0
	var end uint32 = 4
	check := func(tm *replication.TableMapEvent) {
		maps++
		if len(tm.ColumnName) != int(tm.ColumnCount) || string(tm.ColumnName[0]) != "a" {
			t.Fatalf("table map %s without names: %q", tm.Table, tm.ColumnName)
		}
	}
	err = p.ParseFile(path, 4, func(e *replication.BinlogEvent) error {
		if e.Header.LogPos != 0 && e.Header.EventType != replication.FORMAT_DESCRIPTION_EVENT {
			if e.Header.LogPos != end+e.Header.EventSize {
				t.Fatalf("%s ends at %d, want %d", e.Header.EventType, e.Header.LogPos, end+e.Header.EventSize)
			}
		}
		if e.Header.LogPos != 0 {
			end = e.Header.LogPos
		}
		switch ev := e.Event.(type) {
		case *replication.TableMapEvent:
			check(ev)
		case *replication.TransactionPayloadEvent:
			for _, in := range ev.Events {
				if tm, ok := in.Event.(*replication.TableMapEvent); ok {
					check(tm)
					inner++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if maps < 10 || inner == 0 {
		t.Fatalf("%d table maps (%d in the compressed payload)", maps, inner)
	}
}
