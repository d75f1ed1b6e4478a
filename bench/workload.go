package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
)

// blockRows is the size of every transaction of the workload.
const blockRows = 1000

// schemaDDL creates the workload's tables. They are created before a
// range starts, so the ranges hold row changes only.
var schemaDDL = []string{
	"DROP DATABASE IF EXISTS bench",
	"CREATE DATABASE bench",
	// sysbench's oltp table.
	`CREATE TABLE bench.sbtest (
		id INT NOT NULL PRIMARY KEY,
		k INT NOT NULL DEFAULT 0,
		c CHAR(120) NOT NULL DEFAULT '',
		pad CHAR(60) NOT NULL DEFAULT '',
		KEY k_1 (k))`,
	// A wide row of the types that cost the most to decode and encode.
	`CREATE TABLE bench.wide (
		id BIGINT NOT NULL PRIMARY KEY,
		amount DECIMAL(18,4) NOT NULL,
		created DATETIME(6) NOT NULL,
		name VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
		doc JSON,
		payload BLOB,
		status ENUM('new','paid','shipped','cancelled','refunded') NOT NULL,
		qty INT,
		ratio DOUBLE,
		flag TINYINT NOT NULL,
		updated TIMESTAMP(3) NULL)`,
	"CREATE TABLE bench.bigtx LIKE bench.sbtest",
}

// names are the wide table's utf8mb4 names: accents, CJK, Cyrillic, an
// emoji and a quote to escape.
var names = []string{"Zoë", "José", "Łukasz", "山田太郎", "Ренат", "Ørjan", "Ana 🚀", `Mette "M" Olsen`}

// words are picked by the seed into names and digests.
var words = []string{"amber", "basalt", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "indigo", "juniper", "krill", "lumen"}

// workload is the throughput workload: -rows row changes, 40% inserts,
// then 40% updates, then 20% deletes, in 1,000-row transactions, half on
// each table (the two tables alternate statement by statement). Random
// values (multipliers, offsets, words, which blocks are updated and
// deleted) come from a PCG seeded with seed, so the same flags give the
// same binlog.
type workload struct {
	rows int
	seed uint64
}

// statements returns the workload's statements, one transaction each, and
// the row changes they make.
func (w workload) statements() ([]string, int) {
	rng := rand.New(rand.NewPCG(w.seed, 0x511ce))
	blocks := w.rows / blockRows
	ins := blocks * 2 / 5
	upd := blocks * 2 / 5
	del := blocks - ins - upd
	// Each table gets half of each phase; sbtest the odd one.
	split := func(n int) [2]int { return [2]int{n - n/2, n / 2} }
	insN, updN, delN := split(ins), split(upd), split(del)
	tables := [2]string{"sbtest", "wide"}

	var phases [3][2][]string
	for t := range 2 {
		for b := range insN[t] {
			lo := b*blockRows + 1
			phases[0][t] = append(phases[0][t], insertSQL(tables[t], lo, lo+blockRows-1, rng))
		}
		for i := range updN[t] {
			b := rng.IntN(insN[t])
			lo := b*blockRows + 1
			phases[1][t] = append(phases[1][t], updateSQL(tables[t], lo, lo+blockRows-1, i, rng))
		}
		for _, b := range rng.Perm(insN[t])[:delN[t]] {
			lo := b*blockRows + 1
			phases[2][t] = append(phases[2][t], fmt.Sprintf("DELETE FROM bench.%s WHERE id BETWEEN %d AND %d", tables[t], lo, lo+blockRows-1))
		}
	}
	var out []string
	for _, ph := range phases {
		for i := range max(len(ph[0]), len(ph[1])) {
			for t := range 2 {
				if i < len(ph[t]) {
					out = append(out, ph[t][i])
				}
			}
		}
	}
	return out, (ins + upd + del) * blockRows
}

// bigTxSQL is the single transaction of n rows into bench.bigtx.
func bigTxSQL(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 0xb16))
	return insertSQL("bigtx", 1, n, rng)
}

// insertSQL inserts ids lo..hi into table (sbtest, bigtx or wide).
func insertSQL(table string, lo, hi int, rng *rand.Rand) string {
	if table == "wide" {
		return fmt.Sprintf(`INSERT INTO bench.wide (id, amount, created, name, doc, payload, status, qty, ratio, flag, updated)
SELECT seq,
  ((seq * %d + %d) %% 10000000000) / 10000,
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ((seq * %d) %% 31536000000000) MICROSECOND,
  CONCAT(ELT(1 + (seq + %d) %% %d, %s), ' #', seq, ' %s'),
  JSON_OBJECT('id', seq, 'sku', CONCAT('SKU-', seq %% 9973), 'tags', JSON_ARRAY(ELT(1 + seq %% 3, 'red', 'green', 'blue'), '%s'),
    'price', (seq %% 100000) / 100, 'nested', JSON_OBJECT('k', seq %% 7, 'even', seq %% 2 = 0)),
  UNHEX(CONCAT(SHA2(CONCAT(seq, '%s'), 512), SHA2(seq, 256))),
  1 + (seq * %d) %% 5,
  IF(seq %% 10 = 0, NULL, seq %% 1000),
  seq / 3,
  seq %% 2,
  IF(seq %% 7 = 0, NULL, TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND)
FROM bench.seq_%d_to_%d`,
			rng.IntN(1_000_000)+1, rng.IntN(1_000_000), rng.IntN(1_000_000_000)+1,
			rng.IntN(len(names)), len(names), sqlList(names), word(rng), word(rng), word(rng),
			rng.IntN(1000)+1, lo, hi)
	}
	return fmt.Sprintf("INSERT INTO bench.%s (id, k, c, pad) SELECT seq, (seq * %d + %d) %% 1000000, %s, %s FROM bench.seq_%d_to_%d",
		table, rng.IntN(1000)+1, rng.IntN(1_000_000), digitGroups(10, rng), digitGroups(5, rng), lo, hi)
}

// updateSQL changes every row of ids lo..hi; the i-th update of a table
// alternates between two kinds.
func updateSQL(table string, lo, hi, i int, rng *rand.Rand) string {
	where := fmt.Sprintf(" WHERE id BETWEEN %d AND %d", lo, hi)
	switch {
	case table == "sbtest" && i%2 == 0: // an indexed column, as sysbench's update_index
		return fmt.Sprintf("UPDATE bench.sbtest SET k = k + %d", rng.IntN(1000)+1) + where
	case table == "sbtest": // a non-indexed one, as update_non_index
		return "UPDATE bench.sbtest SET c = " + strings.ReplaceAll(digitGroups(10, rng), "seq", "id") + where
	case i%2 == 0:
		return fmt.Sprintf("UPDATE bench.wide SET amount = amount + %d.%04d, status = 1 + (id * %d) %% 5, updated = TIMESTAMP'2025-06-01 00:00:00' + INTERVAL (id + %d) SECOND",
			rng.IntN(100), rng.IntN(9999)+1, rng.IntN(1000)+1, rng.IntN(100000)) + where
	default:
		return fmt.Sprintf("UPDATE bench.wide SET doc = JSON_SET(doc, '$.price', %d + id %% 100, '$.rev', %d, '$.by', '%s'), qty = COALESCE(qty, 0) + 1",
			rng.IntN(1000), i, word(rng)) + where
	}
}

// digitGroups is sysbench's c/pad value: n groups of 11 digits joined by
// '-', here a function of seq with random coefficients.
func digitGroups(n int, rng *rand.Rand) string {
	parts := make([]string, n)
	for j := range parts {
		parts[j] = fmt.Sprintf("LPAD((seq * %d + %d) %% 100000000000, 11, '0')", rng.Int64N(1_000_000_000)+1, rng.Int64N(100_000_000_000))
	}
	return "CONCAT_WS('-', " + strings.Join(parts, ", ") + ")"
}

func word(rng *rand.Rand) string { return words[rng.IntN(len(words))] }

func sqlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}

// binlogRange is a range of the binlog and the row changes in it.
type binlogRange struct {
	name     string
	from, to event.Position
	rows     int
	txs      int
	written  time.Duration // how long writing it took
	binBytes int64         // binlog bytes in the range, when in one file
}

// writeRange runs stmts (one transaction each) and returns the binlog
// range they were written to.
func (e *env) writeRange(ctx context.Context, name string, stmts []string, rows int) (*binlogRange, error) {
	r := &binlogRange{name: name, rows: rows, txs: len(stmts)}
	var err error
	if r.from, err = binlog.Head(ctx, &e.src); err != nil {
		return nil, err
	}
	start := time.Now()
	last := start
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	for i, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("write %s, statement %d: %w", name, i, err)
		}
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			logf("  %d of %d transactions", i+1, len(stmts))
		}
	}
	r.written = time.Since(start)
	if r.to, err = binlog.Head(ctx, &e.src); err != nil {
		return nil, err
	}
	if r.from.File == r.to.File {
		r.binBytes = int64(r.to.Offset - r.from.Offset)
	}
	return r, nil
}
