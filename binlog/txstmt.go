package binlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// txStmt is what a statement logged as a query event means for the
// transaction around it.
type txStmt uint8

const (
	// stmtOther is any other statement: a schema change, or a statement
	// logged in statement format inside a transaction.
	stmtOther txStmt = iota
	stmtBegin
	stmtCommit
	// stmtRollback ends the transaction without its changes. The server
	// logs it when a transaction also changed non-transactional tables.
	stmtRollback
	// stmtSavepoint is SAVEPOINT, ROLLBACK TO [SAVEPOINT] or RELEASE
	// SAVEPOINT: inside a transaction, never a boundary. The rows a
	// ROLLBACK TO undid are not in the binlog.
	stmtSavepoint
	stmtXAStart
	stmtXAEnd
	stmtXACommit
	stmtXARollback
)

// classifyTxStmt says what a query event's statement does to the
// transaction; for XA statements it also returns the xid, spelled as
// xaPrepare spells it.
func classifyTxStmt(q string) (txStmt, string) {
	w := words(q, 3)
	if len(w) == 0 {
		return stmtOther, ""
	}
	switch w[0] {
	case "BEGIN":
		return stmtBegin, ""
	case "COMMIT":
		return stmtCommit, ""
	case "SAVEPOINT":
		return stmtSavepoint, ""
	case "RELEASE":
		if len(w) > 1 && w[1] == "SAVEPOINT" {
			return stmtSavepoint, ""
		}
	case "ROLLBACK":
		if len(w) == 1 {
			return stmtRollback, ""
		}
		if w[1] == "TO" || len(w) > 2 && w[1] == "WORK" && w[2] == "TO" {
			return stmtSavepoint, ""
		}
		if w[1] == "WORK" && len(w) == 2 {
			return stmtRollback, ""
		}
	case "XA":
		if len(w) < 2 {
			return stmtOther, ""
		}
		rest := strings.TrimSpace(q)
		rest = strings.TrimSpace(rest[2:])
		rest = strings.TrimSpace(rest[len(w[1]):])
		switch w[1] {
		case "START", "BEGIN":
			return stmtXAStart, canonicalXid(rest)
		case "END":
			return stmtXAEnd, canonicalXid(rest)
		case "COMMIT":
			return stmtXACommit, canonicalXid(rest)
		case "ROLLBACK":
			return stmtXARollback, canonicalXid(rest)
		}
	}
	return stmtOther, ""
}

// words returns up to n leading words of q, upper-cased, with comments
// and the terminating ";" left out.
func words(q string, n int) []string {
	var out []string
	f := strings.FieldsFunc(q, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ';' })
	for _, s := range f {
		if len(out) == n {
			break
		}
		out = append(out, strings.ToUpper(s))
	}
	return out
}

// canonicalXid turns the xid of an XA statement as the server logs it
// (gtrid and bqual as hex literals, then the format id; or plain quoted
// strings) into the spelling of xaPrepare.
func canonicalXid(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(strings.ToUpper(s), " ONE PHASE"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(strings.ToUpper(s), " SUSPEND"); i >= 0 {
		s = s[:i]
	}
	parts := splitXid(s)
	if len(parts) == 0 {
		return s
	}
	gtrid, ok1 := xidPart(parts[0])
	bqual, ok2 := "", true
	format := "1"
	if len(parts) > 1 {
		bqual, ok2 = xidPart(parts[1])
	}
	if len(parts) > 2 {
		format = strings.TrimSpace(parts[2])
	}
	if !ok1 || !ok2 {
		return s
	}
	return xidString(gtrid, bqual, format)
}

func xidString(gtrid, bqual, format string) string {
	return "X'" + hex.EncodeToString([]byte(gtrid)) + "',X'" + hex.EncodeToString([]byte(bqual)) + "'," + format
}

// splitXid splits at commas outside quotes.
func splitXid(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// xidPart decodes one quoted part: X'hex', 'text' or "text".
func xidPart(p string) (string, bool) {
	p = strings.TrimSpace(p)
	if len(p) >= 3 && (p[0] == 'X' || p[0] == 'x') && p[1] == '\'' && p[len(p)-1] == '\'' {
		b, err := hex.DecodeString(p[2 : len(p)-1])
		return string(b), err == nil
	}
	if len(p) >= 2 && (p[0] == '\'' || p[0] == '"') && p[len(p)-1] == p[0] {
		return strings.ReplaceAll(p[1:len(p)-1], `\'`, `'`), true
	}
	return "", false
}

// xaPrepare decodes the body of an XA_PREPARE_LOG_EVENT (MySQL and MariaDB
// alike): one_phase, format id, gtrid and bqual lengths, then the xid's
// bytes.
func xaPrepare(data []byte) (xid string, onePhase bool, err error) {
	if len(data) < 13 {
		return "", false, errors.New("XA_PREPARE event shorter than 13 bytes")
	}
	format := int32(binary.LittleEndian.Uint32(data[1:]))
	gl, bl := binary.LittleEndian.Uint32(data[5:]), binary.LittleEndian.Uint32(data[9:])
	if gl > 64 || bl > 64 || uint64(len(data)) < 13+uint64(gl)+uint64(bl) {
		return "", false, errors.New("XA_PREPARE event with a malformed xid")
	}
	g := string(data[13 : 13+gl])
	b := string(data[13+gl : 13+gl+bl])
	return xidString(g, b, strconv.Itoa(int(format))), data[0] != 0, nil
}
