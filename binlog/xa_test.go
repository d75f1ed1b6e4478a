package binlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// mysqlRowsEvents returns a TABLE_MAP and a write rows event written by a
// real MySQL 8.0.26 (from ../shared/mysql8-binlogs/mysql_type_bit.000001).
func mysqlRowsEvents(t *testing.T) (*replication.TableMapEvent, *replication.RowsEvent) {
	t.Helper()
	var path string
	for _, d := range []string{"../../shared", "../../../shared"} {
		if m, _ := filepath.Glob(d + "/mysql8-binlogs/mysql_type_bit.000001"); len(m) == 1 {
			path = m[0]
		}
	}
	if path == "" {
		t.Fatal("no shared/mysql8-binlogs beside the repository (CI clones it as <repo>/../shared)")
	}
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(false)
	var tm *replication.TableMapEvent
	var rows *replication.RowsEvent
	err := p.ParseFile(path, 4, func(e *replication.BinlogEvent) error {
		switch ev := e.Event.(type) {
		case *replication.TableMapEvent:
			tm = ev
		case *replication.RowsEvent:
			if rows == nil && ev.Type() == replication.EnumRowsEventTypeInsert {
				rows = ev
			}
		}
		return nil
	})
	if err != nil || tm == nil || rows == nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return tm, rows
}

// TestMySQLXA feeds the handler the events MySQL 8 logs for XA (XA START and
// XA END as statements, an XA_PREPARE event, XA COMMIT or XA ROLLBACK as a
// statement of its own transaction later): the prepared transaction's rows
// go out once, at its commit, after the transaction committed in between;
// one-phase commits go out at their prepare; a rolled-back one emits
// nothing; boundaries while a transaction is prepared are Held.
func TestMySQLXA(t *testing.T) {
	tm, rows := mysqlRowsEvents(t)
	out := make(chan Item, 100)
	h := &handler{s: &Streamer{flavor: "mysql", registry: schema.NewRegistry(), log: slog.New(slog.DiscardHandler)},
		ctx: context.Background(), out: out, tables: map[uint64]*schema.Table{}, prepared: map[string]*heldTx{}}
	sid := make([]byte, 16)
	sid[0] = 0xab
	pos := uint32(4)
	feed := func(ev replication.Event, typ replication.EventType) {
		t.Helper()
		pos += 100
		hdr := &replication.EventHeader{EventType: typ, ServerID: 1, LogPos: pos, EventSize: 100, Timestamp: pos}
		if err := h.HandleEvent(&replication.BinlogEvent{Header: hdr, Event: ev}); err != nil {
			t.Fatalf("at %d: %v", pos, err)
		}
	}
	gtid := func(gno int64) { feed(&replication.GTIDEvent{SID: sid, GNO: gno}, replication.GTID_EVENT) }
	query := func(q string) { feed(&replication.QueryEvent{Query: []byte(q)}, replication.QUERY_EVENT) }
	prepare := func(onePhase byte, gtrid string) {
		d := []byte{onePhase}
		d = binary.LittleEndian.AppendUint32(d, 1)
		d = binary.LittleEndian.AppendUint32(d, uint32(len(gtrid)))
		d = binary.LittleEndian.AppendUint32(d, 0)
		feed(&replication.GenericEvent{Data: append(d, gtrid...)}, replication.XA_PREPARE_LOG_EVENT)
	}
	body := func() {
		feed(tm, replication.TABLE_MAP_EVENT)
		feed(rows, replication.WRITE_ROWS_EVENTv2)
	}
	h.pos = event.Position{File: "binlog.000001", Offset: 4}
	h.committed = h.pos

	gtid(1)
	query("XA START X'6131',X'',1")
	body()
	query("XA END X'6131',X'',1")
	prepare(0, "a1")
	gtid(2)
	query("BEGIN")
	body()
	feed(&replication.XIDEvent{XID: 7}, replication.XID_EVENT)
	gtid(3)
	query("XA COMMIT X'6131',X'',1")
	gtid(4)
	query("XA START X'6132',X'',1")
	body()
	query("XA END X'6132',X'',1")
	prepare(1, "a2") // XA COMMIT ... ONE PHASE
	gtid(5)
	query("XA START X'6133',X'',1")
	body()
	query("XA END X'6133',X'',1")
	prepare(0, "a3")
	gtid(6)
	query("XA ROLLBACK X'6133',X'',1")
	close(out)

	var got []string
	for it := range out {
		switch it.Kind {
		case ItemBegin:
			got = append(got, "begin "+strings.TrimPrefix(it.Tx.GTID, "ab000000-0000-0000-0000-000000000000:"))
		case ItemRows:
			got = append(got, fmt.Sprintf("rows@%d", it.Pos.Offset))
		case ItemCommit:
			got = append(got, fmt.Sprintf("commit xid=%d held=%v", it.Commit.Xid, it.Held))
		case ItemProgress:
			got = append(got, fmt.Sprintf("progress held=%v", it.Held))
		case ItemAbort:
			got = append(got, "abort")
		default:
			got = append(got, fmt.Sprint(it.Kind))
		}
	}
	want := []string{
		"progress held=true",                            // after XA PREPARE a1
		"begin 2", "rows@904", "commit xid=7 held=true", // committed while a1 waits
		"begin 3", "rows@304", "commit xid=0 held=false", // XA COMMIT a1: its rows, from its prepare
		"begin 4", "rows@1604", "commit xid=0 held=false", // one phase
		"progress held=true",  // XA PREPARE a3
		"progress held=false", // XA ROLLBACK a3: nothing of it
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
