package binlog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// PreflightError is a server setting or grant that keeps sluice from
// streaming correctly. Its message names the setting and the fix.
type PreflightError struct {
	Check string // "binlog_format", "grants", ...
	Msg   string
}

func (e *PreflightError) Error() string { return "preflight " + e.Check + ": " + e.Msg }

// Server describes the source server as preflight found it.
type Server struct {
	Flavor   string // mysql.MySQLFlavor or mysql.MariaDBFlavor
	Version  string
	ServerID uint32
	// Head is the position after the last event the server has written.
	Head event.Position
	// Binlogs are the binlog files the server still has, oldest first.
	Binlogs []string
	// GTIDs is the executed GTID set at Head ("" when the server writes
	// no GTIDs).
	GTIDs string
	// Addr is the server of Config.Addrs that answered.
	Addr string
}

// HasBinlog reports whether the server still has the named binlog file.
func (s *Server) HasBinlog(name string) bool {
	for _, b := range s.Binlogs {
		if b == name {
			return true
		}
	}
	return false
}

// Preflight checks that the source can be streamed from with full fidelity:
// binlog on, ROW format, FULL row image and metadata, replication grants, and
// (when from is set) that the binlog file of from still exists. It returns a
// *PreflightError naming the setting and its fix for the first failure.
func Preflight(ctx context.Context, cfg *Config, from event.Position) (*Server, error) {
	conn, addr, _, err := cfg.connectAny(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	srv, err := preflight(conn, cfg.User, from)
	if err != nil {
		return nil, err
	}
	srv.Addr = addr
	return srv, nil
}

// querier runs one SQL statement on the source: a *client.Conn, or a
// test's table of answers.
type querier interface {
	Execute(command string, args ...any) (*mysql.Result, error)
}

var _ querier = (*client.Conn)(nil)

// preflight runs Preflight's checks over conn.
func preflight(conn querier, user string, from event.Position) (*Server, error) {
	srv := &Server{}
	r, err := conn.Execute("SELECT @@version, @@server_id, @@log_bin, @@binlog_format, @@binlog_row_image")
	if err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	srv.Version, _ = r.GetString(0, 0)
	id, _ := r.GetUint(0, 1)
	srv.ServerID = uint32(id)
	logBin, _ := r.GetInt(0, 2)
	format, _ := r.GetString(0, 3)
	image, _ := r.GetString(0, 4)
	srv.Flavor = mysql.MySQLFlavor
	if strings.Contains(strings.ToLower(srv.Version), "mariadb") {
		srv.Flavor = mysql.MariaDBFlavor
	}
	if logBin != 1 {
		return nil, &PreflightError{Check: "log_bin", Msg: "binary logging is off on the source; start the server with --log-bin (log_bin=ON in my.cnf; on RDS enable automated backups) and restart it"}
	}
	if !strings.EqualFold(format, "ROW") {
		return nil, &PreflightError{Check: "binlog_format", Msg: fmt.Sprintf("binlog_format is %s, sluice needs ROW: SET GLOBAL binlog_format=ROW (and binlog_format=ROW in my.cnf or the RDS parameter group)", format)}
	}
	if !strings.EqualFold(image, "FULL") {
		return nil, &PreflightError{Check: "binlog_row_image", Msg: fmt.Sprintf("binlog_row_image is %s, sluice needs FULL: SET GLOBAL binlog_row_image=FULL (and binlog_row_image=FULL in my.cnf or the RDS parameter group)", image)}
	}
	r, err = conn.Execute("SELECT @@binlog_row_metadata")
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_UNKNOWN_SYSTEM_VARIABLE {
			return nil, &PreflightError{Check: "binlog_row_metadata", Msg: fmt.Sprintf("server %s has no binlog_row_metadata; sluice needs MySQL 8.0.1+ or MariaDB 10.5+ with binlog_row_metadata=FULL", srv.Version)}
		}
		return nil, fmt.Errorf("read binlog_row_metadata: %w", err)
	}
	meta, _ := r.GetString(0, 0)
	if !strings.EqualFold(meta, "FULL") {
		return nil, &PreflightError{Check: "binlog_row_metadata", Msg: fmt.Sprintf("binlog_row_metadata is %s, sluice needs FULL to decode rows with the column names they were written with: SET GLOBAL binlog_row_metadata=FULL (and binlog_row_metadata=FULL in my.cnf or the RDS parameter group)", meta)}
	}
	if srv.Flavor == mysql.MySQLFlavor {
		if err := checkRowValueOptions(conn); err != nil {
			return nil, err
		}
	}
	if err := checkGrants(conn, user); err != nil {
		return nil, err
	}
	if srv.Binlogs, err = listBinlogs(conn); err != nil {
		return nil, err
	}
	if srv.Head, err = head(conn); err != nil {
		return nil, err
	}
	if srv.GTIDs, srv.Head, err = gtidHead(conn, srv.Flavor, srv.Head); err != nil {
		return nil, err
	}
	if err := srv.CheckFrom(from); err != nil {
		return nil, err
	}
	return srv, nil
}

// checkRowValueOptions refuses binlog_row_value_options=PARTIAL_JSON
// (MySQL 8.0+): an update of a JSON column then logs only the change, and
// sluice emits full after-images.
func checkRowValueOptions(conn querier) error {
	r, err := conn.Execute("SELECT @@binlog_row_value_options")
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_UNKNOWN_SYSTEM_VARIABLE {
			return nil // before 8.0.3: no partial updates
		}
		return fmt.Errorf("read binlog_row_value_options: %w", err)
	}
	v, _ := r.GetString(0, 0)
	if strings.Contains(strings.ToUpper(v), "PARTIAL_JSON") {
		return &PreflightError{Check: "binlog_row_value_options", Msg: "binlog_row_value_options is PARTIAL_JSON: updates of JSON columns would be logged as changes, not whole values; SET GLOBAL binlog_row_value_options='' (and binlog_row_value_options='' in my.cnf or the RDS parameter group)"}
	}
	return nil
}

// CheckFrom checks that the server still has the binlog file of from
// (zero: nothing to check).
func (s *Server) CheckFrom(from event.Position) error {
	if !from.IsZero() && !s.HasBinlog(from.File) {
		oldest := "none"
		if len(s.Binlogs) > 0 {
			oldest = s.Binlogs[0]
		}
		return &PreflightError{Check: "checkpoint", Msg: fmt.Sprintf("the checkpoint is at %s but the server no longer has binlog file %s (oldest is %s): the changes in between are lost to sluice. Raise binlog retention (binlog_expire_logs_seconds, or on RDS: CALL mysql.rds_set_configuration('binlog retention hours', 72)), then re-snapshot the tables or remove the checkpoint to start from `start`", from, from.File, oldest)}
	}
	return nil
}

// checkGrants looks for REPLICATION SLAVE (MySQL 8.4 and MariaDB also say
// REPLICATION REPLICA) and REPLICATION CLIENT (MariaDB 10.5+: BINLOG
// MONITOR) on *.*, or ALL PRIVILEGES.
func checkGrants(conn querier, user string) error {
	r, err := conn.Execute("SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return fmt.Errorf("read grants: %w", err)
	}
	var slave, clientPriv bool
	for i := range r.RowNumber() {
		g, _ := r.GetString(i, 0)
		g = strings.ToUpper(g)
		if !strings.Contains(g, " ON *.* ") {
			continue
		}
		if strings.Contains(g, "ALL PRIVILEGES") {
			return nil
		}
		if strings.Contains(g, "REPLICATION SLAVE") || strings.Contains(g, "REPLICATION REPLICA") {
			slave = true
		}
		if strings.Contains(g, "REPLICATION CLIENT") || strings.Contains(g, "BINLOG MONITOR") || strings.Contains(g, "SUPER") {
			clientPriv = true
		}
	}
	var missing []string
	if !slave {
		missing = append(missing, "REPLICATION SLAVE")
	}
	if !clientPriv {
		missing = append(missing, "REPLICATION CLIENT")
	}
	if len(missing) == 0 {
		return nil
	}
	// MySQL 8.0 to 8.4 and MariaDB all take these names (MariaDB 10.5+
	// reads REPLICATION CLIENT as BINLOG MONITOR).
	return &PreflightError{Check: "grants", Msg: fmt.Sprintf("user %s lacks %s: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'%%'", user, strings.Join(missing, " and "), user)}
}

func listBinlogs(conn querier) ([]string, error) {
	r, err := conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list binlogs: %w", err)
	}
	names := make([]string, 0, r.RowNumber())
	for i := range r.RowNumber() {
		n, _ := r.GetString(i, 0)
		names = append(names, n)
	}
	return names, nil
}

// head reads the binlog's end: SHOW MASTER STATUS, which MySQL 8.4 removed
// for SHOW BINARY LOG STATUS (MySQL 8.2+; MariaDB 10.5+ has SHOW BINLOG
// STATUS), tried in that order.
func head(conn querier) (event.Position, error) {
	var r *mysql.Result
	var err error
	var stmt string
	for _, stmt = range []string{"SHOW MASTER STATUS", "SHOW BINARY LOG STATUS", "SHOW BINLOG STATUS"} {
		r, err = conn.Execute(stmt)
		var me *mysql.MyError
		if err == nil || !errors.As(err, &me) || me.Code != mysql.ER_PARSE_ERROR {
			break
		}
	}
	if err != nil {
		return event.Position{}, fmt.Errorf("read binlog head (%s): %w", stmt, err)
	}
	if r.RowNumber() == 0 {
		return event.Position{}, &PreflightError{Check: "log_bin", Msg: stmt + " is empty: binary logging is off; start the server with --log-bin"}
	}
	f, _ := r.GetString(0, 0)
	p, _ := r.GetUint(0, 1)
	return event.Position{File: f, Offset: p}, nil
}

// Head returns the position after the last event the server has written.
func Head(ctx context.Context, cfg *Config) (event.Position, error) {
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return event.Position{}, err
	}
	defer func() { _ = conn.Close() }()
	return head(conn)
}

// JSONColumn names a column that holds JSON.
type JSONColumn struct{ Database, Table, Column string }

// MariaDBJSONColumns lists the columns MariaDB created as JSON. MariaDB
// logs JSON as LONGTEXT, so sluice learns JSON-ness from DDL; for tables
// created before sluice first started, the json_valid() CHECK constraints
// that MariaDB adds to JSON columns tell.
func MariaDBJSONColumns(ctx context.Context, cfg *Config) ([]JSONColumn, error) {
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	r, err := conn.Execute(`SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CHECK_CLAUSE LIKE 'json_valid(%'`)
	if err != nil {
		return nil, fmt.Errorf("list JSON columns: %w", err)
	}
	var out []JSONColumn
	for i := range r.RowNumber() {
		db, _ := r.GetString(i, 0)
		t, _ := r.GetString(i, 1)
		clause, _ := r.GetString(i, 2)
		if col, ok := schema.JSONCheckColumn(clause); ok {
			out = append(out, JSONColumn{Database: db, Table: t, Column: col})
		}
	}
	return out, nil
}
