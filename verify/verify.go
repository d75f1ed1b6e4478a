// Package verify compares snapshot tables (written by package compact)
// with their source tables: row counts, and checksums of chunks of rows in
// primary key order over values normalized to one text form (see
// normalize.go), and names the first keys that differ.
//
// A snapshot reflects the source at a binlog position: the lake as far as
// its last compaction read it. Verify compares it with the source as it is
// now, which is only meaningful when the source has not changed since. So
// before comparing a table, verify checks the source's binlog after the
// snapshot's lake position: if a transaction touching any table (other
// than Config.IgnoreTables) follows, the snapshot is behind; verify waits
// up to Config.Wait for a newer snapshot, then reports BEHIND. It reads
// the source's head before comparing, and reports MOVED if a transaction
// (on a table not ignored) followed it by the end. In practice: stop writes (or compare on a quiesced
// replica), let the pipeline catch up (sluice run --exit-when-caught-up),
// compact, then verify.
//
// Verify holds a hash per column of every snapshot row in memory; the
// source is read in chunks.
package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/filter"
)

// Config configures a verification.
type Config struct {
	// SourceDSN is a go-sql-driver DSN of the source server
	// ("user:pw@tcp(host:3306)/"); the user needs SELECT on the tables and
	// REPLICATION SLAVE (for SHOW BINLOG EVENTS).
	SourceDSN string
	// Source, when set, is used instead of SourceDSN: a driver config
	// with the pipeline's TLS config and per-connection credentials
	// (binlog.Config.DriverConfig).
	Source *mysql.Config
	// Catalog and Namespace locate the snapshot tables, as for compact.
	Catalog   compact.CatalogConfig
	Namespace string
	// Tables limits verification to these "database.table" names; empty
	// verifies every snapshot table of the catalog.
	Tables []string
	// ChunkRows is how many rows one checksum covers.
	ChunkRows int
	// MaxDiffKeys is how many differing keys a table reports.
	MaxDiffKeys int
	// Wait is how long to wait for a snapshot that is behind the source,
	// checking every Poll.
	Wait, Poll time.Duration
	// IgnoreTables are source tables ("database.table") whose changes do
	// not make a snapshot stale, e.g. the pipeline's heartbeat table.
	IgnoreTables []string
	// Filter is the pipeline's filter: the columns it drops or hashes are
	// not compared (reported as masked).
	Filter filter.Config
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; SourceDSN and the catalog must still
// be set.
func DefaultConfig() Config {
	return Config{
		Catalog:     compact.DefaultConfig().Catalog,
		ChunkRows:   1000,
		MaxDiffKeys: 5,
		Poll:        time.Second,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.SourceDSN == "" && c.Source == nil {
		return errors.New("verify: source DSN is empty")
	}
	for _, t := range append(slices.Clone(c.Tables), c.IgnoreTables...) {
		if db, tbl, ok := strings.Cut(t, "."); !ok || db == "" || tbl == "" {
			return fmt.Errorf("verify: table %q: want database.table", t)
		}
	}
	switch {
	case c.ChunkRows <= 0:
		return errors.New("verify: chunk rows must be positive")
	case c.MaxDiffKeys <= 0:
		return errors.New("verify: max diff keys must be positive")
	case c.Wait < 0 || c.Poll <= 0:
		return errors.New("verify: want wait >= 0 and poll > 0")
	}
	return c.Catalog.Validate()
}

// Run verifies the tables. The error is for what stopped verification as a
// whole (no catalog, no source); a table that differs or cannot be read is
// reported in the Report, whose OK says whether all tables matched.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := openSource(cfg.SourceDSN, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer func() { _ = db.Close() }()
	cat, err := compact.OpenCatalog(ctx, cfg.Catalog)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer func() { _ = cat.Close() }()
	ids, err := targets(ctx, cat, &cfg)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	f, err := filter.New(cfg.Filter)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := &verifier{cfg: &cfg, db: db, cat: cat, log: log, ignore: map[string]bool{}, filter: f}
	for _, t := range cfg.IgnoreTables {
		v.ignore[t] = true
	}
	rep := &Report{}
	for _, name := range sortedKeys(ids) {
		tr := v.table(ctx, name, ids[name])
		log.Info("table verified", "table", name, "status", tr.Status, "source_rows", tr.SourceRows, "snapshot_rows", tr.SnapshotRows)
		rep.Tables = append(rep.Tables, tr)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, nil
}

func targets(ctx context.Context, cat *compact.Catalog, cfg *Config) (map[string]table.Identifier, error) {
	out := make(map[string]table.Identifier)
	if len(cfg.Tables) > 0 {
		for _, t := range cfg.Tables {
			db, tbl, _ := strings.Cut(t, ".")
			out[t] = compact.Identifier(cfg.Namespace, db, tbl)
		}
		return out, nil
	}
	return cat.SourceTables(ctx, cfg.Namespace)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type verifier struct {
	cfg    *Config
	db     *sql.DB
	cat    *compact.Catalog
	log    *slog.Logger
	ignore map[string]bool
	filter *filter.Filter
}

// table verifies one table.
func (v *verifier) table(ctx context.Context, name string, id table.Identifier) TableReport {
	tr := TableReport{Table: name}
	fail := func(err error) TableReport {
		tr.Status, tr.Err = StatusError, err
		return tr
	}
	database, tblName, _ := strings.Cut(name, ".")
	src, err := describe(ctx, v.db, database, tblName)
	if err != nil {
		return fail(err)
	}
	if src == nil {
		return fail(fmt.Errorf("source table %s does not exist", name))
	}
	if len(src.pk) == 0 {
		return fail(fmt.Errorf("source table %s has no primary key", name))
	}
	h1, err := head(ctx, v.db)
	if err != nil {
		return fail(err)
	}
	tr.SourceHead = h1.String()
	tbl, behind, err := v.current(ctx, id, h1)
	if err != nil {
		return fail(err)
	}
	tr.SnapshotPosition = tbl.CurrentSnapshot().Summary.Properties[compact.PropLakePosition]
	if behind != "" {
		tr.Status, tr.Note = StatusBehind, "the source has changes the snapshot lacks: "+behind
		return tr
	}
	masked := map[string]bool{}
	for _, c := range src.cols {
		if v.filter.Column(database, tblName, c.name) != filter.Keep {
			masked[c.name] = true
			tr.MaskedColumns = append(tr.MaskedColumns, c.name)
		}
	}
	snap, err := readSnapshot(ctx, tbl, src, masked)
	if err != nil {
		return fail(err)
	}
	tr.SnapshotRows = int64(len(snap.rows))
	tr.MissingColumns, tr.ExtraColumns = snap.missing, snap.extra
	cmp := newComparison(src, snap, v.cfg.MaxDiffKeys)
	if err := src.chunks(ctx, v.db, v.cfg.ChunkRows, cmp.chunk); err != nil {
		return fail(err)
	}
	cmp.finish()
	tr.SourceRows, tr.Chunks, tr.DiffChunks = cmp.sourceRows, cmp.chunks, cmp.diffChunks
	tr.Diffs = cmp.diffs
	if err := snap.describeDiffs(ctx, tbl, src, tr.Diffs); err != nil {
		return fail(err)
	}
	tr.Status = StatusOK
	if len(tr.Diffs) > 0 || tr.SourceRows != tr.SnapshotRows || len(tr.MissingColumns) > 0 || len(tr.ExtraColumns) > 0 {
		tr.Status = StatusDiff
	}
	moved, err := transactionsAfter(ctx, v.db, h1, true, v.ignore)
	if err != nil {
		return fail(fmt.Errorf("check the source did not move: %w", err))
	}
	if moved != "" {
		tr.Status, tr.Note = StatusMoved, "the source changed while verify read it ("+moved+"): verify a quiesced source"
	}
	return tr
}

// current loads the table's snapshot, waiting up to Config.Wait for one
// that is not behind the source; behind describes the first change it
// lacks when it still is.
func (v *verifier) current(ctx context.Context, id table.Identifier, h position.Position) (*table.Table, string, error) {
	deadline := time.Now().Add(v.cfg.Wait)
	for {
		tbl, err := v.cat.LoadTable(ctx, id)
		if err != nil {
			return nil, "", fmt.Errorf("load snapshot table %s: %w", strings.Join(id, "."), err)
		}
		snap := tbl.CurrentSnapshot()
		if snap == nil {
			return nil, "", fmt.Errorf("snapshot table %s has no snapshot yet", strings.Join(id, "."))
		}
		lake := snap.Summary.Properties[compact.PropLakePosition]
		behind := ""
		if lake == "" {
			behind = "the snapshot records no lake position"
		} else {
			at, err := parseLakePosition(lake)
			if err != nil {
				return nil, "", err
			}
			if behind, err = transactionsAfter(ctx, v.db, at, false, v.ignore); err != nil {
				return nil, "", fmt.Errorf("compare the snapshot's position %s with the source: %w", lake, err)
			}
		}
		if behind == "" || !time.Now().Before(deadline) {
			return tbl, behind, nil
		}
		v.log.Info("snapshot behind the source: waiting", "table", strings.Join(id, "."), "lake_position", lake, "head", h.String(), "first_missing", behind)
		t := time.NewTimer(v.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", ctx.Err()
		case <-t.C:
		}
	}
}

// parseLakePosition takes the binlog position out of a dedupe key.
func parseLakePosition(s string) (position.Position, error) {
	i := strings.LastIndexByte(s, ':')
	j := strings.IndexByte(s, ':')
	if i <= j {
		return position.Position{}, fmt.Errorf("lake position %q: want server_id:file:offset:row", s)
	}
	return position.Parse(s[j+1 : i])
}
