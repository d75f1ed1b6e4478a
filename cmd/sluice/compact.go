//go:build lake

// The compactor and verify link apache/iceberg-go, whose dependencies
// allocate ~32 MB while initialising: built into every sluice, that doubled
// the daemon's resident memory. They are therefore in the binary only when
// built with -tags lake (go build -tags lake ./cmd/sluice).

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/verify"
)

// lakeCommands adds compact and verify (see lake_off.go for the others).
var lakeCommands = addLakeCommands

// buildTags are the tags this binary was built with (tests build the
// binary under test with the same).
const buildTags = "lake"

func addLakeCommands(root *cobra.Command, load func() (*fileConfig, error), stdout, stderr io.Writer) {
	root.AddCommand(newCompactCommand(load, stdout, stderr), newVerifyCommand(load, stdout, stderr), newTableCommand(load, stdout))
}

func (c *fileConfig) catalog() compact.CatalogConfig {
	cc := compact.DefaultConfig().Catalog
	if c.Compact.Catalog.Type != "" {
		cc.Type = c.Compact.Catalog.Type
	}
	if c.Compact.Catalog.Name != "" {
		cc.Name = c.Compact.Catalog.Name
	}
	cc.URI, cc.Warehouse, cc.Properties = c.Compact.Catalog.URI, c.Compact.Catalog.Warehouse, c.Compact.Catalog.Properties
	if cc.Type == compact.CatalogSQL && cc.URI == "" {
		cc.URI = filepath.Join(c.Checkpoint.Dir, "catalog.db")
	}
	if cc.Warehouse == "" {
		cc.Warehouse = filepath.Join(c.Checkpoint.Dir, "warehouse")
	}
	return cc
}

// localCatalogDirs creates the directories of a local catalog and warehouse.
func localCatalogDirs(cc compact.CatalogConfig) error {
	if cc.Type == compact.CatalogSQL && cc.URI != "" {
		if err := os.MkdirAll(filepath.Dir(cc.URI), 0o755); err != nil {
			return fmt.Errorf("catalog directory: %w", err)
		}
	}
	if cc.Warehouse != "" && !strings.Contains(cc.Warehouse, "://") {
		if err := os.MkdirAll(cc.Warehouse, 0o755); err != nil {
			return fmt.Errorf("warehouse directory: %w", err)
		}
	}
	return nil
}

// lake returns the S3 sink the compactor reads.
func (c *fileConfig) lake() (*s3SinkConfig, error) {
	for _, s := range c.sinks {
		if s3c, ok := s.(*s3SinkConfig); ok {
			if c.sinkFormats[s] == pipeline.FormatDebezium {
				return nil, &configError{errors.New("the s3 sink writes the lake in the debezium format, and the compactor reads Maxwell lines: leave format out of the s3 sink (it defaults to maxwell)")}
			}
			if emit.PrefixTemplate(s3c.Prefix) {
				return nil, &configError{fmt.Errorf("the s3 sink's prefix %q is a template: each database has its own lake: compact one with a config whose s3 sink's prefix is that database's (e.g. raw/shop)", s3c.Prefix)}
			}
			return s3c, nil
		}
	}
	return nil, &configError{errors.New("no lake to compact: configure a sink of type s3")}
}

func newCompactCommand(load func() (*fileConfig, error), stdout, stderr io.Writer) *cobra.Command {
	var (
		tables      []string
		watch       bool
		interval    time.Duration
		parallel    int
		metricsAddr string
	)
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Merge the lake into snapshot tables (Iceberg): the current row per primary key",
		Long: `Merge the lake into snapshot tables (Iceberg): the current row per primary key.
With --watch it runs every --interval until interrupted, printing each run's
report (FRESHNESS: the source commit time of the newest change a table holds;
LAG: how long before the run's end that was) and serving the metrics on
--metrics-addr. Several processes may compact the same tables: a run that
finds the table committed by another process meanwhile runs again on its
snapshot. See docs/compaction.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			lake, err := cfg.lake()
			if err != nil {
				return err
			}
			clients, err := cfg.awsClients(cmd.Context())
			if err != nil {
				return err
			}
			cc := compact.DefaultConfig()
			cc.Bucket, cc.Prefix = lake.Bucket, lake.Prefix
			if lake.Layout != "" {
				cc.Layout = lake.Layout
			}
			cc.Catalog, cc.Namespace, cc.Tables = cfg.catalog(), cfg.Compact.Namespace, tables
			cc.Filter = cfg.Filter.filter()
			mem, err := cfg.Compact.memory()
			if err != nil {
				return &configError{err}
			}
			if mem > 0 {
				cc.Memory = mem
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				// The runtime's soft limit at the budget: the collector
				// works harder before the process outgrows it.
				debug.SetMemoryLimit(cc.GoMemoryLimit())
			}
			cc.Parallel = parallel
			if watch && interval <= 0 {
				return &configError{fmt.Errorf("--interval %s: want a positive duration", interval)}
			}
			if err := localCatalogDirs(cc.Catalog); err != nil {
				return err
			}
			var reg *prometheus.Registry
			if metricsAddr != "" {
				reg = prometheus.NewRegistry()
				cc.Registerer = reg
			}
			cc.Logger = cfg.logger(stderr)
			if f, ok := stderr.(*os.File); ok {
				cc.Progress = compact.TerminalProgress(f)
			}
			c, err := compact.New(cmd.Context(), clients.s3(), cc)
			if err != nil {
				return &configError{err}
			}
			defer func() { _ = c.Close() }()
			if watch {
				return watchCompaction(cmd.Context(), c, interval, metricsAddr, reg, stdout, cc.Logger)
			}
			report, err := c.Run(cmd.Context())
			if report != nil {
				_ = report.Render(stdout)
			}
			if err != nil {
				return err
			}
			if report.Failed() {
				return errors.New("compaction failed for some tables (see the report)")
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&tables, "table", nil, "only these tables (DATABASE.TABLE; repeatable)")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep compacting every --interval until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", time.Minute, "time between the starts of two runs with --watch")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "tables compacted at once")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "with --watch, serve Prometheus metrics on HOST:PORT/metrics")
	return cmd
}

// watchCompaction runs the compactor every interval until ctx ends.
func watchCompaction(ctx context.Context, c *compact.Compactor, interval time.Duration, metricsAddr string, reg *prometheus.Registry, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return &configError{fmt.Errorf("--metrics-addr %s: %w", metricsAddr, err)}
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	err := c.Watch(ctx, interval, func(rep *compact.Report, err error) {
		if rep != nil {
			_ = rep.Render(stdout)
		}
		if err != nil {
			log.Error("compaction run", "err", err)
		}
	})
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: the watch is over
	}
	return err
}

func newVerifyCommand(load func() (*fileConfig, error), stdout, stderr io.Writer) *cobra.Command {
	var tables []string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare each snapshot table with the source: row counts and per-chunk checksums",
		Long: `Compare each snapshot table with the source at the snapshot's position. The
snapshot must have caught up with the source (verify waits up to --wait for the
compactor's position to reach the source's head, else reports BEHIND; a source
that moves during the comparison is reported as MOVED). Exit code 1 on any
difference.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			vc := verify.DefaultConfig()
			pc := cfg.pipelineConfig(nil)
			if vc.Source, err = pc.Source.DriverConfig(cmd.Context()); err != nil {
				return err
			}
			vc.Catalog, vc.Namespace, vc.Tables = cfg.catalog(), cfg.Compact.Namespace, tables
			vc.Filter = cfg.Filter.filter()
			if err := localCatalogDirs(vc.Catalog); err != nil {
				return err
			}
			if wait != 0 {
				vc.Wait = wait
			}
			if cfg.Heartbeat.Table != "" {
				vc.IgnoreTables = append(vc.IgnoreTables, cfg.Heartbeat.Table)
			}
			vc.Logger = cfg.logger(stderr)
			report, err := verify.Run(cmd.Context(), vc)
			if report != nil {
				_ = report.Render(stdout)
			}
			if err != nil {
				return err
			}
			if !report.OK() {
				return errors.New("verify: the snapshot differs from the source (see the report)")
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&tables, "table", nil, "only these tables (DATABASE.TABLE; repeatable)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "how long to wait for the snapshot to reach the source's position")
	return cmd
}

func newTableCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "table", Short: "Look at the snapshot tables the compactor wrote"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show DATABASE.TABLE",
		Short: "Print a snapshot table's rows, read back through its Iceberg table (tab-separated, NULL for null)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			db, name, ok := strings.Cut(args[0], ".")
			if !ok || db == "" || name == "" {
				return &configError{fmt.Errorf("table %q: want DATABASE.TABLE", args[0])}
			}
			cc := cfg.catalog()
			if err := localCatalogDirs(cc); err != nil {
				return err
			}
			cat, err := compact.OpenCatalog(cmd.Context(), cc)
			if err != nil {
				return &configError{err}
			}
			defer func() { _ = cat.Close() }()
			rows, err := compact.ReadRows(cmd.Context(), cat, compact.Identifier(cfg.Compact.Namespace, db, name))
			if err != nil {
				return fmt.Errorf("%w (run sluice compact first)", err)
			}
			fmt.Fprintln(stdout, strings.Join(rows.Columns, "\t"))
			for _, r := range rows.Rows {
				vals := make([]string, len(r))
				for i, v := range r {
					vals[i] = "NULL"
					if v != nil {
						vals[i] = *v
					}
				}
				fmt.Fprintln(stdout, strings.Join(vals, "\t"))
			}
			return nil
		},
	})
	return cmd
}
