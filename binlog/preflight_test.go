package binlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event"
)

// answers is a source as preflight sees it: each statement's result rows,
// or the server error it gets.
type answers map[string]any

func (a answers) Execute(q string, _ ...any) (*mysql.Result, error) {
	switch v := a[q].(type) {
	case *mysql.MyError:
		return nil, v
	case [][]any:
		names := make([]string, 0)
		if len(v) > 0 {
			for i := range v[0] {
				names = append(names, fmt.Sprint("c", i))
			}
		} else {
			names = []string{"c0"}
		}
		rs, err := mysql.BuildSimpleTextResultset(names, v)
		if err != nil {
			return nil, err
		}
		for _, rd := range rs.RowDatas {
			vals, err := rd.ParseText(rs.Fields, nil)
			if err != nil {
				return nil, err
			}
			rs.Values = append(rs.Values, vals)
		}
		return &mysql.Result{Resultset: rs}, nil
	}
	return nil, &mysql.MyError{Code: mysql.ER_PARSE_ERROR, Message: "unexpected statement in test: " + q}
}

// with returns a copy of a with some answers replaced.
func (a answers) with(kv ...any) answers {
	out := answers{}
	for k, v := range a {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

const settingsQuery = "SELECT @@version, @@server_id, @@log_bin, @@binlog_format, @@binlog_row_image"

var parseError = &mysql.MyError{Code: mysql.ER_PARSE_ERROR, Message: "You have an error in your SQL syntax"}

// mysql80 answers as MySQL 8.0 (RDS) does with the settings sluice needs.
var mysql80 = answers{
	settingsQuery:                           [][]any{{"8.0.39", 1234, 1, "ROW", "FULL"}},
	"SELECT @@binlog_row_metadata":          [][]any{{"FULL"}},
	"SELECT @@binlog_row_value_options":     [][]any{{""}},
	"SHOW GRANTS FOR CURRENT_USER()":        [][]any{{"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `sluice`@`%`"}, {"GRANT BACKUP_ADMIN ON *.* TO `sluice`@`%`"}},
	"SHOW BINARY LOGS":                      [][]any{{"mysql-bin-changelog.000101", 1200, "No"}, {"mysql-bin-changelog.000102", 157, "No"}},
	"SHOW MASTER STATUS":                    [][]any{{"mysql-bin-changelog.000102", 157, "", "", ""}},
	"SHOW BINARY LOG STATUS":                [][]any{{"mysql-bin-changelog.000102", 157, "", "", ""}},
	"SELECT @@version_comment":              [][]any{{"Source distribution"}},
	"SHOW VARIABLES LIKE 'binlog_checksum'": [][]any{{"binlog_checksum", "CRC32"}},
	"SELECT @@GLOBAL.gtid_mode":             [][]any{{"ON"}},
	"SELECT @@GLOBAL.gtid_executed":         [][]any{{"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-57"}},
}

// mysql84 answers as MySQL 8.4 does: no SHOW MASTER STATUS, grants in the
// order and words 8.4 prints them.
var mysql84 = mysql80.with(
	settingsQuery, [][]any{{"8.4.3", 7, 1, "ROW", "FULL"}},
	"SHOW MASTER STATUS", parseError,
	"SHOW GRANTS FOR CURRENT_USER()", [][]any{{"GRANT REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO `sluice`@`%`"}, {"GRANT REPLICATION_APPLIER ON *.* TO `sluice`@`%`"}},
)

var mariadb1011 = answers{
	settingsQuery:                     [][]any{{"10.11.19-MariaDB-0+deb12u1-log", 1, 1, "ROW", "FULL"}},
	"SELECT @@binlog_row_metadata":    [][]any{{"FULL"}},
	"SHOW GRANTS FOR CURRENT_USER()":  [][]any{{"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `sluice`@`%`"}},
	"SHOW BINARY LOGS":                [][]any{{"mysql-bin.000001", 1200}},
	"SHOW MASTER STATUS":              [][]any{{"mysql-bin.000001", 1200, "", ""}},
	"SELECT @@GLOBAL.gtid_binlog_pos": [][]any{{"0-1-42"}},
}

func TestPreflightAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		source answers
		from   event.Position
		flavor string
		head   event.Position
		// failure: the check that fails and words its message must hold
		check string
		words []string
	}{
		{name: "MySQL 8.0", source: mysql80, flavor: "mysql", head: event.Position{File: "mysql-bin-changelog.000102", Offset: 157},
			from: event.Position{File: "mysql-bin-changelog.000101", Offset: 4}},
		{name: "MySQL 8.4: SHOW BINARY LOG STATUS", source: mysql84, flavor: "mysql", head: event.Position{File: "mysql-bin-changelog.000102", Offset: 157}},
		{name: "MySQL 8.4: REPLICATION REPLICA", source: mysql84.with("SHOW GRANTS FOR CURRENT_USER()", [][]any{{"GRANT REPLICATION REPLICA, REPLICATION CLIENT ON *.* TO `sluice`@`%`"}}),
			flavor: "mysql", head: event.Position{File: "mysql-bin-changelog.000102", Offset: 157}},
		{name: "MariaDB 10.11", source: mariadb1011, flavor: "mariadb", head: event.Position{File: "mysql-bin.000001", Offset: 1200}},
		{name: "MariaDB: SHOW BINLOG STATUS", source: mariadb1011.with("SHOW MASTER STATUS", parseError, "SHOW BINARY LOG STATUS", parseError,
			"SHOW BINLOG STATUS", [][]any{{"mysql-bin.000001", 1300, "", ""}}), flavor: "mariadb", head: event.Position{File: "mysql-bin.000001", Offset: 1300}},

		{name: "MySQL 8.4 without REPLICATION CLIENT", source: mysql84.with("SHOW GRANTS FOR CURRENT_USER()", [][]any{{"GRANT REPLICATION SLAVE ON *.* TO `sluice`@`%`"}}),
			check: "grants", words: []string{"lacks REPLICATION CLIENT", "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'sluice'"}},
		{name: "MySQL 8.0 without any grant", source: mysql80.with("SHOW GRANTS FOR CURRENT_USER()", [][]any{{"GRANT USAGE ON *.* TO `sluice`@`%`"}}),
			check: "grants", words: []string{"REPLICATION SLAVE and REPLICATION CLIENT"}},
		{name: "MariaDB without BINLOG MONITOR", source: mariadb1011.with("SHOW GRANTS FOR CURRENT_USER()", [][]any{{"GRANT REPLICATION SLAVE ON *.* TO `sluice`@`%`"}}),
			check: "grants", words: []string{"lacks REPLICATION CLIENT", "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.*"}},
		{name: "MySQL 8.0 PARTIAL_JSON", source: mysql80.with("SELECT @@binlog_row_value_options", [][]any{{"PARTIAL_JSON"}}),
			check: "binlog_row_value_options", words: []string{"SET GLOBAL binlog_row_value_options=''", "parameter group"}},
		{name: "MySQL 8.0 minimal metadata", source: mysql80.with("SELECT @@binlog_row_metadata", [][]any{{"MINIMAL"}}),
			check: "binlog_row_metadata", words: []string{"SET GLOBAL binlog_row_metadata=FULL"}},
		{name: "MySQL 8.4 MINIMAL row image", source: mysql84.with(settingsQuery, [][]any{{"8.4.3", 7, 1, "ROW", "MINIMAL"}}),
			check: "binlog_row_image", words: []string{"SET GLOBAL binlog_row_image=FULL"}},
		{name: "MySQL 8.0 log_bin off", source: mysql80.with(settingsQuery, [][]any{{"8.0.39", 7, 0, "ROW", "FULL"}}),
			check: "log_bin", words: []string{"--log-bin", "automated backups"}},
		{name: "MySQL 8.4 binlog purged", source: mysql84, from: event.Position{File: "mysql-bin-changelog.000042", Offset: 4},
			check: "checkpoint", words: []string{"no longer has binlog file mysql-bin-changelog.000042", "oldest is mysql-bin-changelog.000101", "binlog retention hours"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := preflight(c.source, "sluice", c.from)
			if c.check != "" {
				var pe *PreflightError
				if !errors.As(err, &pe) || pe.Check != c.check {
					t.Fatalf("got %v, want a %s preflight error", err, c.check)
				}
				for _, w := range c.words {
					if !strings.Contains(pe.Error(), w) {
						t.Errorf("message does not say %q: %s", w, pe)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if srv.Flavor != c.flavor || srv.Head != c.head || len(srv.Binlogs) == 0 {
				t.Fatalf("got %+v, want flavor %s head %s", srv, c.flavor, c.head)
			}
			want := map[string]string{"mysql": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-57", "mariadb": "0-1-42"}[c.flavor]
			if srv.GTIDs != want {
				t.Fatalf("executed GTID set %q, want %q", srv.GTIDs, want)
			}
		})
	}
}

// TestHeadErrors: an error that is not "no such statement" is not hidden by
// trying the next spelling.
func TestHeadErrors(t *testing.T) {
	denied := &mysql.MyError{Code: mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, Message: "Access denied; you need (at least one of) the SUPER, REPLICATION CLIENT privilege(s)"}
	_, err := head(mysql84.with("SHOW BINARY LOG STATUS", denied))
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR || !strings.Contains(err.Error(), "SHOW BINARY LOG STATUS") {
		t.Fatalf("got %v", err)
	}
	_, err = head(mysql84.with("SHOW BINARY LOG STATUS", [][]any{}))
	var pe *PreflightError
	if !errors.As(err, &pe) || pe.Check != "log_bin" {
		t.Fatalf("empty status: got %v", err)
	}
}
