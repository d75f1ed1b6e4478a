package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Signal kinds: rows of the signal table, read back from the binlog.
const (
	KindLow     = "low"      // a chunk's low watermark; data is its id
	KindHigh    = "high"     // a chunk's high watermark; data is its id
	KindRequest = "snapshot" // a request to snapshot the table named in data
	// KindExecuteSnapshot is Debezium's execute-snapshot signal: data is
	// {"data-collections": ["db.table", ...], "type": "incremental"}.
	KindExecuteSnapshot = "execute-snapshot"
)

// Signal is one signal-table row as the binlog shows it.
type Signal struct {
	Pipeline, Kind, Data string
}

// SignalTable is the small table through which snapshots talk to the
// pipeline by way of the binlog: watermarks and on-demand requests. Its
// rows are never emitted.
type SignalTable struct {
	Database, Table string
}

// ParseSignalTable parses "db.table".
func ParseSignalTable(s string) (SignalTable, error) {
	db, t, ok := strings.Cut(s, ".")
	if !ok || db == "" || t == "" || strings.ContainsAny(s, "`") {
		return SignalTable{}, fmt.Errorf("snapshot.signal_table %q: want DATABASE.TABLE", s)
	}
	return SignalTable{Database: db, Table: t}, nil
}

func (s SignalTable) String() string { return s.Database + "." + s.Table }

func (s SignalTable) quoted() string { return quoteName(s.Database) + "." + quoteName(s.Table) }

// Ensure creates the signal table if it does not exist.
func (s SignalTable) Ensure(conn *client.Conn) error {
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteName(s.Database),
		// type and the defaults take Debezium's signal rows as they are
		// written: INSERT INTO t (id, type, data) VALUES (...).
		"CREATE TABLE IF NOT EXISTS " + s.quoted() + ` (
			id VARCHAR(100) NOT NULL PRIMARY KEY,
			pipeline VARCHAR(64) NOT NULL DEFAULT '',
			kind VARCHAR(32) NOT NULL DEFAULT '',
			type VARCHAR(32) NULL,
			data VARCHAR(2048) NOT NULL,
			ts DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		) DEFAULT CHARSET = utf8mb4`,
	} {
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("signal table %s: %w (grant CREATE, INSERT and UPDATE on %s.* to the sluice user)", s, err, quoteName(s.Database))
		}
	}
	return nil
}

// Watermark writes a chunk's low or high watermark. One row per pipeline
// is updated in place, so the table does not grow.
func (s SignalTable) Watermark(conn *client.Conn, pipeline, kind, id string) error {
	const upsert = " (id, pipeline, kind, data, ts) VALUES (?, ?, ?, ?, NOW(6)) " +
		"ON DUPLICATE KEY UPDATE kind = VALUES(kind), data = VALUES(data), ts = VALUES(ts)"
	args := []any{pipeline + ":watermark", pipeline, kind, id}
	var err error
	if q, ok := inlineArgs(upsert, args); ok {
		_, err = conn.Execute("INSERT INTO " + s.quoted() + q)
	} else {
		_, err = conn.Execute("INSERT INTO "+s.quoted()+upsert, args...)
	}
	if err != nil {
		return fmt.Errorf("write %s watermark to %s: %w", kind, s, err)
	}
	return nil
}

// execute runs q with args: in one round trip with the values inlined
// when inlineArgs can, else prepared, executed and closed (go-mysql's
// Execute with arguments), which takes two. A chunk's shape and
// watermarks take five statements.
func execute(conn *client.Conn, q string, args ...any) (*mysql.Result, error) {
	if inlined, ok := inlineArgs(q, args); ok {
		return conn.Execute(inlined)
	}
	return conn.Execute(q, args...)
}

// inlineArgs puts args into q's placeholders as quoted literals when
// every one is plain text that needs no escaping (letters, digits and
// " .:_-", as pipeline names and UUIDs are), so the statement goes in one
// round trip instead of a prepare and an execute.
func inlineArgs(q string, args []any) (string, bool) {
	var b strings.Builder
	for _, a := range args {
		v, ok := a.(string)
		if !ok || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" .:_-", r))
		}) >= 0 {
			return "", false
		}
		i := strings.IndexByte(q, '?')
		if i < 0 {
			return "", false
		}
		b.WriteString(q[:i])
		b.WriteString("'" + v + "'")
		q = q[i+1:]
	}
	if strings.IndexByte(q, '?') >= 0 {
		return "", false
	}
	b.WriteString(q)
	return b.String(), true
}

// Request asks the pipeline to snapshot table ("db.table"). The request
// travels through the binlog, so the pipeline acts on it in order, once,
// whichever node leads, and even if it is not running right now.
func (s SignalTable) Request(conn *client.Conn, pipeline, table, id string) error {
	_, err := conn.Execute("INSERT INTO "+s.quoted()+" (id, pipeline, kind, data, ts) VALUES (?, ?, ?, ?, NOW(6))",
		id, pipeline, KindRequest, table)
	if err != nil {
		return fmt.Errorf("request a snapshot of %s through %s: %w", table, s, err)
	}
	return nil
}

// ReadSignal reads a signal-table row from a binlog row image, by column
// name (the table may have been created with more columns). A row with no
// kind takes it from a type column, as Debezium's signal rows carry it; a
// row with no pipeline is for every pipeline reading the table.
func ReadSignal(names []string, row []any) (Signal, bool) {
	var sig Signal
	var typ string
	for i, n := range names {
		if i >= len(row) {
			break
		}
		var v string
		switch x := row[i].(type) {
		case string:
			v = x
		case []byte:
			v = string(x)
		default:
			continue
		}
		switch n {
		case "pipeline":
			sig.Pipeline = v
		case "kind":
			sig.Kind = v
		case "data":
			sig.Data = v
		case "type":
			typ = v
		}
	}
	if sig.Kind == "" {
		sig.Kind = typ
	}
	return sig, sig.Kind != ""
}

// ExecuteSnapshot reads the data of Debezium's execute-snapshot signal and
// returns the tables it names. sluice's snapshots are Debezium's
// incremental ones: other types, additional conditions and names that are
// patterns rather than "db.table" are refused with the reason.
func ExecuteSnapshot(data string) ([]string, error) {
	var d struct {
		Collections []string `json:"data-collections"`
		Type        string   `json:"type"`
		Condition   any      `json:"additional-condition"`
		Conditions  any      `json:"additional-conditions"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("execute-snapshot data %q: %w", data, err)
	}
	if d.Type != "" && !strings.EqualFold(d.Type, "incremental") {
		return nil, fmt.Errorf("execute-snapshot type %q: sluice takes incremental snapshots only", d.Type)
	}
	if d.Condition != nil || d.Conditions != nil {
		return nil, errors.New("execute-snapshot with additional conditions: sluice snapshots whole tables only")
	}
	if len(d.Collections) == 0 {
		return nil, fmt.Errorf("execute-snapshot data %q names no data-collections", data)
	}
	for _, t := range d.Collections {
		if _, _, err := SplitTable(t); err != nil || strings.ContainsAny(t, `*?[]()|+^$\`) {
			return nil, fmt.Errorf("execute-snapshot data-collection %q: want DATABASE.TABLE (patterns are not supported)", t)
		}
	}
	return d.Collections, nil
}

// ListTables lists the base tables ("db.table") of every database but the
// system ones, leaving out those in skip; tables without a primary key are
// listed apart.
func ListTables(conn *client.Conn, skip ...string) (tables []string, noKey []string, err error) {
	r, err := conn.Execute(`SELECT t.TABLE_SCHEMA, t.TABLE_NAME,
		EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME AND s.INDEX_NAME = 'PRIMARY')
		FROM information_schema.TABLES t
		WHERE t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')
		ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME`)
	if err != nil {
		return nil, nil, fmt.Errorf("list tables: %w", err)
	}
	for i := range r.RowNumber() {
		db, _ := r.GetString(i, 0)
		name, _ := r.GetString(i, 1)
		hasKey, _ := r.GetInt(i, 2)
		if slices.Contains(skip, db+"."+name) {
			continue
		}
		if hasKey == 0 {
			noKey = append(noKey, db+"."+name)
			continue
		}
		tables = append(tables, db+"."+name)
	}
	return tables, noKey, nil
}

// EstimateRows is the server's estimate of a table's row count, for
// progress: cheap, and within tens of percent for InnoDB.
func EstimateRows(conn *client.Conn, database, table string) (int64, error) {
	r, err := conn.Execute("SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", database, table)
	if err != nil {
		return 0, fmt.Errorf("estimate the rows of %s.%s: %w", database, table, err)
	}
	if r.RowNumber() == 0 {
		return 0, fmt.Errorf("%s.%s: %w", database, table, ErrNoTable)
	}
	n, _ := r.GetInt(0, 0)
	return n, nil
}

// SplitTable splits "db.table".
func SplitTable(s string) (db, table string, err error) {
	db, table, ok := strings.Cut(s, ".")
	if !ok || db == "" || table == "" {
		return "", "", fmt.Errorf("table %q: want DATABASE.TABLE", s)
	}
	return db, table, nil
}

// ErrNotLogged: the server does not write the signal table's changes to
// its binlog, so no watermark ever comes back.
var ErrNotLogged = errors.New("the signal table's database is filtered out of the binlog")

// CheckLogged fails with ErrNotLogged when the server's binlog filters
// (binlog_do_db, binlog_ignore_db, as SHOW MASTER STATUS reports them)
// leave the signal table's database out.
func (s SignalTable) CheckLogged(conn *client.Conn) error {
	r, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil {
		return fmt.Errorf("signal table %s: read the binlog filters: %w", s, err)
	}
	defer r.Close()
	if r.RowNumber() == 0 {
		return nil // no binlog: preflight says so
	}
	col := func(name string) []string {
		v, err := r.GetStringByName(0, name)
		if err != nil || v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	do, ignore := col("Binlog_Do_DB"), col("Binlog_Ignore_DB")
	if slices.Contains(ignore, s.Database) || (len(do) > 0 && !slices.Contains(do, s.Database)) {
		return fmt.Errorf("signal table %s: %w (binlog_do_db %q, binlog_ignore_db %q): log database %s, or pick a logged one with snapshot.signal_table",
			s, ErrNotLogged, strings.Join(do, ","), strings.Join(ignore, ","), s.Database)
	}
	return nil
}
