package binlog

import (
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// benchRowStatements write the bench's two tables (bench/workload.go):
// sysbench's sbtest and the wide row of costly types, 2,000 rows each
// inserted, updated and half deleted, in 500-row statements.
func benchRowStatements() []string {
	st := []string{
		"CREATE DATABASE rd_bench", "USE rd_bench",
		`CREATE TABLE sbtest (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k))`,
		`CREATE TABLE wide (id BIGINT NOT NULL PRIMARY KEY, amount DECIMAL(18,4) NOT NULL, created DATETIME(6) NOT NULL,
			name VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL, doc JSON, payload BLOB,
			status ENUM('new','paid','shipped','cancelled','refunded') NOT NULL, qty INT, ratio DOUBLE,
			flag TINYINT NOT NULL, updated TIMESTAMP(3) NULL)`,
	}
	for lo := 1; lo <= 2000; lo += 500 {
		hi := lo + 499
		st = append(st,
			"INSERT INTO sbtest SELECT seq, (seq * 7919) % 1000000, CONCAT_WS('-', LPAD(seq * 104729 % 100000000000, 11, '0'), LPAD(seq * 3 % 100000000000, 11, '0'), "+
				"LPAD(seq * 999331 % 100000000000, 11, '0'), LPAD(seq * 7 % 100000000000, 11, '0'), LPAD(seq * 13 % 100000000000, 11, '0'), LPAD(seq * 17 % 100000000000, 11, '0'), "+
				"LPAD(seq * 19 % 100000000000, 11, '0'), LPAD(seq * 23 % 100000000000, 11, '0'), LPAD(seq * 29 % 100000000000, 11, '0'), LPAD(seq * 31 % 100000000000, 11, '0')), "+
				"CONCAT_WS('-', LPAD(seq * 37 % 100000000000, 11, '0'), LPAD(seq * 41 % 100000000000, 11, '0'), LPAD(seq * 43 % 100000000000, 11, '0'), "+
				"LPAD(seq * 47 % 100000000000, 11, '0'), LPAD(seq * 53 % 100000000000, 11, '0')) FROM seq_"+itoa(lo)+"_to_"+itoa(hi),
			`INSERT INTO wide SELECT seq, ((seq * 7727 + 11) % 10000000000) / 10000,
				TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ((seq * 104723) % 31536000000000) MICROSECOND,
				CONCAT(ELT(1 + seq % 8, 'Zoë', 'José', 'Łukasz', '山田太郎', 'Ренат', 'Ørjan', 'Ana 🚀', 'Mette "M" Olsen'), ' #', seq, ' amber'),
				JSON_OBJECT('id', seq, 'sku', CONCAT('SKU-', seq % 9973), 'tags', JSON_ARRAY(ELT(1 + seq % 3, 'red', 'green', 'blue'), 'fjord'),
					'price', (seq % 100000) / 100, 'nested', JSON_OBJECT('k', seq % 7, 'even', seq % 2 = 0)),
				UNHEX(CONCAT(SHA2(CONCAT(seq, 'x'), 512), SHA2(seq, 256))),
				1 + (seq * 13) % 5, IF(seq % 10 = 0, NULL, seq % 1000), seq / 3, seq % 2,
				IF(seq % 7 = 0, NULL, TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND)
			FROM seq_`+itoa(lo)+"_to_"+itoa(hi))
	}
	for lo := 1; lo <= 2000; lo += 500 {
		where := " WHERE id BETWEEN " + itoa(lo) + " AND " + itoa(lo+499)
		st = append(st, "UPDATE sbtest SET k = k + 1"+where,
			"UPDATE wide SET amount = amount + 1.5, status = 1 + (id * 3) % 5, updated = TIMESTAMP'2025-06-01 00:00:00' + INTERVAL id SECOND"+where)
	}
	return append(st, "DELETE FROM sbtest WHERE id <= 1000", "DELETE FROM wide WHERE id <= 1000")
}

func itoa(i int) string { return string(appendPadded(nil, int64(i), 0)) }

// recordedEvent is a rows event before decoding: its header state and
// data, to decode again and again.
type recordedEvent struct {
	ev   replication.RowsEvent
	data []byte
}

// BenchmarkRowDecode decodes the same rows events of the bench's tables
// with go-mysql's decoder and with the rowDecoder. ns/row and allocs/row
// count rows as decode-only does (an update's two images are one row).
func BenchmarkRowDecode(b *testing.B) {
	s := mysqltest.StartT(b, mysqltest.Options{})
	s.RequireOwned(b)
	s.Exec(b, benchRowStatements()...)
	s.Exec(b, "FLUSH BINARY LOGS")
	files, err := filepath.Glob(filepath.Join(s.DataDir(), "mysql-bin.[0-9]*"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no binlog files in %s: %v", s.DataDir(), err)
	}
	var evs []recordedEvent
	rows := 0
	hook := func(re *replication.RowsEvent, data []byte) error {
		rec := recordedEvent{ev: *re, data: slices.Clone(data)}
		if err := re.Decode(data); err != nil {
			return err
		}
		if string(re.Table.Schema) == "rd_bench" {
			evs = append(evs, rec)
			rows += imageRows(re)
		}
		return nil
	}
	for _, f := range files {
		if err := syncerParser(mysql.MariaDBFlavor, hook).ParseFile(f, 4, func(*replication.BinlogEvent) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if rows < 5000 {
		b.Fatalf("only %d rows", rows)
	}
	b.Logf("%d rows events, %d rows", len(evs), rows)
	for _, c := range []struct {
		name   string
		decode func(*replication.RowsEvent, []byte) error
	}{
		{"go-mysql", func(re *replication.RowsEvent, data []byte) error { return re.Decode(data) }},
		{"sluice", newRowDecoder().decode},
	} {
		b.Run(c.name, func(b *testing.B) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			n := 0
			for b.Loop() {
				for i := range evs {
					re := evs[i].ev
					if err := c.decode(&re, evs[i].data); err != nil {
						b.Fatal(err)
					}
					n += imageRows(&re)
				}
			}
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/row")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n), "B/row")
		})
	}
}

// imageRows counts rows as decode-only does.
func imageRows(re *replication.RowsEvent) int {
	if re.Type() == replication.EnumRowsEventTypeUpdate {
		return len(re.Rows) / 2
	}
	return len(re.Rows)
}
