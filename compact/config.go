package compact

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/filter"
)

// Config configures a Compactor.
type Config struct {
	// Bucket, Prefix and Layout describe the lake as the S3 sink writes it
	// (emit.S3Config's fields of the same names).
	Bucket string
	Prefix string
	Layout string

	// Catalog is where the snapshot tables live.
	Catalog CatalogConfig
	// Namespace is prepended to each table's Iceberg namespace: a source
	// table db.t becomes <Namespace>.db.t, or db.t when it is empty.
	// Dots separate levels.
	Namespace string

	// Tables limits a run to these "database.table" names; empty compacts
	// every table the lake holds.
	Tables []string

	// Filter is the pipeline's filter: excluded tables are not compacted
	// and dropped columns never reach a snapshot table (see filter.go).
	Filter filter.Config

	// Concurrency is how many lake objects and manifests are read at once.
	Concurrency int
	// ManifestMargin is how far before the newest manifest a run has
	// consumed it still looks for manifests it has not seen: longer than
	// any upload can take between the store stamping a manifest's
	// Last-Modified and the manifest becoming visible.
	ManifestMargin time.Duration
	// TombstoneRetention is how long (in commit time) a deleted key is
	// remembered, so that a copy of an older change read later (a replay,
	// a late object) cannot bring the row back.
	TombstoneRetention time.Duration
	// TargetFileSize is the size at which a Parquet data file is rolled.
	TargetFileSize int64
	// MaxDeleteFiles is how many equality delete files merge-on-read runs
	// may leave in a table; the run that would add one more rewrites the
	// table instead (copy on write), which removes them.
	MaxDeleteFiles int
	// Memory bounds what a copy-on-write run holds (compact.memory): the
	// external sort of a table's versions spills sorted runs to TempDir
	// beyond a quarter of it. Runs with an ALTER TABLE are not bounded
	// (see rewrite.go).
	Memory int64
	// TempDir holds the external sort's runs ("" is the system's).
	TempDir string
	// sortBudget, when set (by tests), replaces Memory/8 as the external
	// sort's buffer and Memory/8 as the batch streamed into it.
	sortBudget int64
	// beforeCommit, when set (by tests), is called before a run writes a
	// table's snapshot.
	beforeCommit func(table string)
	// holdTable, when set (by tests), makes runs with an ALTER TABLE or a
	// primary key change hold the table in memory, as before ordered
	// rewrites: the differential test compares the two.
	holdTable bool

	// Parallel is how many tables a run compacts at once.
	Parallel int
	// Registerer, when set, gets the compactor's metrics (freshness and
	// lag per table, runs, commit conflicts).
	Registerer prometheus.Registerer
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// Progress, when set, gets a progress bar. Use TerminalProgress(os.Stderr)
	// to draw one only on a terminal.
	Progress io.Writer
	Logger   *slog.Logger
}

// CatalogConfig chooses the Iceberg catalog.
type CatalogConfig struct {
	// Type is "sql" (SQLite, the default), "rest" or "glue".
	Type string
	// Name is the catalog's name (recorded in SQL catalog rows).
	Name string
	// URI is the SQLite database file for "sql" and the server's URL for
	// "rest"; "glue" does not use it.
	URI string
	// Warehouse is the root under which tables are created: a local
	// directory, file:///dir, or s3://bucket/prefix.
	Warehouse string
	// Properties are passed to the catalog and its file IO, e.g. s3.region,
	// s3.endpoint, s3.access-key-id, glue.region, credential, token.
	Properties map[string]string
}

// Catalog types.
const (
	CatalogSQL  = "sql"
	CatalogREST = "rest"
	CatalogGlue = "glue"
)

// DefaultConfig returns the defaults; Bucket and the catalog's URI and
// Warehouse must still be set.
func DefaultConfig() Config {
	return Config{
		Layout:             emit.DefaultS3Layout,
		Catalog:            CatalogConfig{Type: CatalogSQL, Name: "sluice"},
		Concurrency:        8,
		Parallel:           1,
		ManifestMargin:     time.Hour,
		TombstoneRetention: 7 * 24 * time.Hour,
		TargetFileSize:     128 << 20,
		MaxDeleteFiles:     32,
		Memory:             256 << 20,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("compact: lake bucket is empty")
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
		return fmt.Errorf("compact: lake prefix %q: no leading or doubled '/'", c.Prefix)
	}
	if _, err := parseLayout(c.Layout); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	for _, t := range c.Tables {
		if _, _, ok := splitTable(t); !ok {
			return fmt.Errorf("compact: table %q: want database.table", t)
		}
	}
	switch {
	case c.Concurrency <= 0:
		return errors.New("compact: concurrency must be positive")
	case c.Parallel <= 0:
		return errors.New("compact: parallel must be positive")
	case c.ManifestMargin <= 0:
		return errors.New("compact: manifest margin must be positive")
	case c.TombstoneRetention <= 0:
		return errors.New("compact: tombstone retention must be positive")
	case c.TargetFileSize <= 0:
		return errors.New("compact: target file size must be positive")
	case c.Memory < 16<<20:
		return fmt.Errorf("compact: memory %d bytes: want at least 16 MiB", c.Memory)
	case c.MaxDeleteFiles < 0:
		return errors.New("compact: max delete files must not be negative (0 rewrites the table on every run)")
	}
	return c.Catalog.Validate()
}

// Validate checks the catalog config.
func (c *CatalogConfig) Validate() error {
	switch c.Type {
	case CatalogSQL:
		if c.URI == "" {
			return errors.New("iceberg catalog: sql: uri (the SQLite file) is empty")
		}
		if c.Warehouse == "" {
			return errors.New("iceberg catalog: sql: warehouse is empty")
		}
	case CatalogREST:
		if c.URI == "" {
			return errors.New("iceberg catalog: rest: uri is empty")
		}
	case CatalogGlue:
		if c.Warehouse == "" {
			return errors.New("iceberg catalog: glue: warehouse is empty")
		}
	default:
		return fmt.Errorf("iceberg catalog: type %q: want sql, rest or glue", c.Type)
	}
	if c.Name == "" {
		return errors.New("iceberg catalog: name is empty")
	}
	return nil
}

// splitTable splits "database.table" at its first dot.
func splitTable(s string) (database, table string, ok bool) {
	database, table, ok = strings.Cut(s, ".")
	return database, table, ok && database != "" && table != ""
}

// GoMemoryLimit is the Go runtime's soft memory limit that keeps a
// compactor process within Memory: three quarters of it (the rest is the
// program's code and memory the runtime has not returned yet). sluice
// compact sets it when GOMEMLIMIT is not set.
func (c *Config) GoMemoryLimit() int64 { return c.Memory / 4 * 3 }

// sortBudgets are the external sort's buffer and the batch size (bytes of
// lake objects) beyond which changes are streamed into it.
func (c *Config) sortBudgets() (buffer, stream int64) {
	if c.sortBudget > 0 {
		return c.sortBudget, c.sortBudget
	}
	return c.Memory / 8, c.Memory / 8
}
