package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/event/position"
)

// openSource opens the source for reading: server-side prepared statements
// (the binary protocol gives FLOAT and DOUBLE exactly), TIMESTAMP in UTC as
// sluice writes it. A driver config, when given, is used instead of dsn.
func openSource(dsn string, dc *mysql.Config) (*sql.DB, error) {
	cfg := dc
	if cfg == nil {
		var err error
		if cfg, err = mysql.ParseDSN(dsn); err != nil {
			return nil, fmt.Errorf("source DSN: %w", err)
		}
	} else {
		cfg = cfg.Clone()
	}
	cfg.InterpolateParams = false
	cfg.ParseTime = false
	cfg.MultiStatements = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("source DSN: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	return db, nil
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// sourceTable is a source table's columns (in table order) and primary key.
type sourceTable struct {
	database, name string
	cols           []column
	pk             []int // indexes into cols
}

// describe reads a table's columns and primary key from
// information_schema.
func describe(ctx context.Context, db *sql.DB, database, table string) (*sourceTable, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COALESCE(NUMERIC_SCALE, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, database, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", database, table, err)
	}
	t := &sourceTable{database: database, name: table}
	idx := map[string]int{}
	for rows.Next() {
		var name, typ string
		var scale int
		if err := rows.Scan(&name, &typ, &scale); err != nil {
			rows.Close()
			return nil, fmt.Errorf("columns of %s.%s: %w", database, table, err)
		}
		idx[name] = len(t.cols)
		t.cols = append(t.cols, column{name: name, kind: kindOf(typ), scale: scale})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", database, table, err)
	}
	if len(t.cols) == 0 {
		return nil, nil
	}
	for _, name := range jsonColumns(ctx, db, database, table) {
		if i, ok := idx[name]; ok && t.cols[i].kind == kindText {
			t.cols[i].kind = kindJSON
		}
	}
	rows, err = db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, database, table)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s.%s: %w", database, table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("primary key of %s.%s: %w", database, table, err)
		}
		t.pk = append(t.pk, idx[name])
		t.cols[idx[name]].key = true
	}
	return t, rows.Err()
}

// jsonColumns names the columns MariaDB declares as JSON: it stores them
// as LONGTEXT with a json_valid() CHECK constraint. (MySQL's JSON columns
// have DATA_TYPE json; its CHECK_CONSTRAINTS has no TABLE_NAME, and the
// query fails harmlessly.)
func jsonColumns(ctx context.Context, db *sql.DB, database, table string) []string {
	rows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, database, table)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var clause string
		if rows.Scan(&clause) != nil {
			return out
		}
		c := strings.ReplaceAll(strings.ToLower(clause), " ", "")
		if strings.HasPrefix(c, "json_valid(`") && strings.HasSuffix(c, "`)") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(clause[strings.Index(clause, "`"):], "`"), "`)"))
		}
	}
	return out
}

// chunks reads the table in primary key order, n rows at a time, and calls
// fn with each chunk's rows (values as the driver returns them).
func (t *sourceTable) chunks(ctx context.Context, db *sql.DB, n int, fn func([][]any) error) error {
	exprs := make([]string, len(t.cols))
	for i, c := range t.cols {
		exprs[i] = quote(c.name)
		if c.kind == kindGeometry {
			exprs[i] = "ST_AsText(" + quote(c.name) + ")"
		}
	}
	keys := make([]string, len(t.pk))
	marks := make([]string, len(t.pk))
	for i, ci := range t.pk {
		keys[i] = quote(t.cols[ci].name)
		marks[i] = "?"
	}
	base := "SELECT " + strings.Join(exprs, ", ") + " FROM " + quote(t.database) + "." + quote(t.name)
	order := " ORDER BY " + strings.Join(keys, ", ") + " LIMIT " + strconv.Itoa(n)
	// A placeholder even in the first query: statements with arguments
	// are prepared on the server, and answer in the binary protocol.
	first := base + " WHERE 1 = ?" + order
	next := base + " WHERE (" + strings.Join(keys, ", ") + ") > (" + strings.Join(marks, ", ") + ")" + order
	args := []any{1}
	query := first
	for {
		chunk, err := t.query(ctx, db, query, args)
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return nil
		}
		if err := fn(chunk); err != nil {
			return err
		}
		if len(chunk) < n {
			return nil
		}
		last := chunk[len(chunk)-1]
		args = args[:0]
		for _, ci := range t.pk {
			args = append(args, last[ci])
		}
		query = next
	}
}

func (t *sourceTable) query(ctx context.Context, db *sql.DB, query string, args []any) ([][]any, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", t.database, t.name, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(t.cols))
		ptrs := make([]any, len(t.cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s.%s: %w", t.database, t.name, err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = append([]byte(nil), b...)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", t.database, t.name, err)
	}
	return out, nil
}

// head returns the source's binlog position.
func head(ctx context.Context, db *sql.DB) (position.Position, error) {
	var firstErr error
	for _, q := range []string{"SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"} {
		row, err := queryOne(ctx, db, q)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if row == nil {
			return position.Position{}, errors.New("the source has no binary log (log_bin is off)")
		}
		off, err := strconv.ParseUint(row["Position"], 10, 64)
		if err != nil {
			return position.Position{}, fmt.Errorf("%s: position %q: %w", q, row["Position"], err)
		}
		return position.Position{File: row["File"], Offset: off}, nil
	}
	return position.Position{}, fmt.Errorf("read the source's binlog position: %w", firstErr)
}

// queryOne returns the first row of a SHOW statement by column name.
func queryOne(ctx context.Context, db *sql.DB, q string) (map[string]string, error) {
	all, err := queryAll(ctx, db, q)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return all[0], nil
}

func queryAll(ctx context.Context, db *sql.DB, q string) ([]map[string]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]string, len(cols))
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// scanLimit bounds how many binlog events one SHOW BINLOG EVENTS returns.
const scanLimit = 5000

// transactionsAfter looks for a transaction in the source's binlog that
// begins after from and touches a table that is not ignored, and
// describes the first ("" when there is none). from is either a change
// the snapshot holds (the rest of its transaction is skipped) or, with
// atHead, a head position read before (the event there is the first new
// one).
func transactionsAfter(ctx context.Context, db *sql.DB, from position.Position, atHead bool, ignore map[string]bool) (string, error) {
	logs, err := queryAll(ctx, db, "SHOW BINARY LOGS")
	if err != nil {
		return "", fmt.Errorf("list binary logs: %w", err)
	}
	var (
		started  = atHead // past the transaction holding from
		inTx     bool
		relevant string
	)
	end := func() string {
		r := relevant
		inTx, relevant = false, ""
		return r
	}
	for _, l := range logs {
		file := l["Log_name"]
		if position.FileSeq(file) < position.FileSeq(from.File) {
			continue
		}
		offset, skip := uint64(4), uint64(0) // events at or before skip are done
		if file == from.File {
			offset, skip = from.Offset, from.Offset
			if atHead {
				skip--
			}
		}
		for {
			evs, err := queryAll(ctx, db, fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT %d", strings.ReplaceAll(file, "'", "''"), offset, scanLimit))
			if err != nil {
				return "", fmt.Errorf("read binlog %s from %d: %w", file, offset, err)
			}
			for _, e := range evs {
				pos, _ := strconv.ParseUint(e["Pos"], 10, 64)
				if pos <= skip {
					continue
				}
				typ, info := e["Event_type"], strings.TrimSpace(e["Info"])
				at := file + ":" + e["Pos"]
				switch {
				case typ == "Gtid" || typ == "Anonymous_Gtid" || typ == "Gtid_log_event" || typ == "Query" && strings.EqualFold(info, "BEGIN"):
					if r := end(); r != "" {
						return r, nil
					}
					started, inTx = true, true
				case !started:
					// The rest of the transaction the snapshot holds.
				case typ == "Table_map":
					if name := tableMapName(info); name != "" && !ignore[name] {
						relevant = "a change to " + name + " at " + at
					}
				case typ == "Query" && !strings.EqualFold(info, "COMMIT") && !mentionsIgnored(info, ignore):
					relevant = "a statement at " + at + ": " + truncate(info, 80)
				case typ == "Xid" || typ == "Query" && strings.EqualFold(info, "COMMIT"):
					if r := end(); r != "" {
						return r, nil
					}
				}
				offset, skip = pos, pos
			}
			if len(evs) < scanLimit {
				break
			}
		}
	}
	if inTx {
		return end(), nil
	}
	return "", nil
}

// tableMapName parses "table_id: 33 (db.t)".
func tableMapName(info string) string {
	i, j := strings.LastIndexByte(info, '('), strings.LastIndexByte(info, ')')
	if i < 0 || j < i {
		return ""
	}
	return info[i+1 : j]
}

func mentionsIgnored(info string, ignore map[string]bool) bool {
	for name := range ignore {
		_, t, _ := strings.Cut(name, ".")
		if t != "" && strings.Contains(info, t) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
