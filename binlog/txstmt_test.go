package binlog

import (
	"encoding/binary"
	"testing"
)

func TestClassifyTxStmt(t *testing.T) {
	for _, c := range []struct {
		q    string
		kind txStmt
		xid  string
	}{
		{"BEGIN", stmtBegin, ""},
		{"COMMIT", stmtCommit, ""},
		{"ROLLBACK", stmtRollback, ""},
		{"rollback work", stmtRollback, ""},
		{"SAVEPOINT `s1`", stmtSavepoint, ""},
		{"ROLLBACK TO `a`", stmtSavepoint, ""},
		{"ROLLBACK TO SAVEPOINT s1", stmtSavepoint, ""},
		{"ROLLBACK WORK TO SAVEPOINT s1", stmtSavepoint, ""},
		{"RELEASE SAVEPOINT s1", stmtSavepoint, ""},
		{"XA START X'7831',X'',1", stmtXAStart, "X'7831',X'',1"},
		{"XA END X'7831',X'',1", stmtXAEnd, "X'7831',X'',1"},
		{"XA COMMIT X'7831',X'',1", stmtXACommit, "X'7831',X'',1"},
		{"XA COMMIT 'x1'", stmtXACommit, "X'7831',X'',1"},
		{"XA COMMIT 'x1','b',7 ONE PHASE", stmtXACommit, "X'7831',X'62',7"},
		{"XA ROLLBACK X'7832',X'',1", stmtXARollback, "X'7832',X'',1"},
		{"INSERT INTO t VALUES (1)", stmtOther, ""},
		{"ROLLBACKS", stmtOther, ""},
		{"CREATE TABLE savepoint (a INT)", stmtOther, ""},
		{"RELEASE", stmtOther, ""},
		{"", stmtOther, ""},
	} {
		kind, xid := classifyTxStmt(c.q)
		if kind != c.kind || xid != c.xid {
			t.Errorf("%q: got %d %q, want %d %q", c.q, kind, xid, c.kind, c.xid)
		}
	}
}

func TestXAPrepare(t *testing.T) {
	body := func(onePhase byte, format uint32, g, b string) []byte {
		d := []byte{onePhase}
		d = binary.LittleEndian.AppendUint32(d, format)
		d = binary.LittleEndian.AppendUint32(d, uint32(len(g)))
		d = binary.LittleEndian.AppendUint32(d, uint32(len(b)))
		return append(append(d, g...), b...)
	}
	xid, one, err := xaPrepare(body(0, 1, "x1", ""))
	if err != nil || one || xid != "X'7831',X'',1" {
		t.Fatalf("got %q %v %v", xid, one, err)
	}
	xid, one, err = xaPrepare(body(1, 7, "x1", "b"))
	if err != nil || !one || xid != "X'7831',X'62',7" {
		t.Fatalf("got %q %v %v", xid, one, err)
	}
	if _, _, err := xaPrepare(body(0, 1, "x1", "")[:14]); err == nil {
		t.Fatal("truncated event accepted")
	}
	if _, _, err := xaPrepare([]byte{0, 1}); err == nil {
		t.Fatal("short event accepted")
	}
}
