package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/snapshot"
)

// newSnapshotCommand asks the running pipeline for table snapshots: the
// request is a row of the signal table, so it reaches the pipeline through
// the binlog, in order, whichever node leads. The command then follows the
// snapshot's progress in the checkpoint until it is done.
func newSnapshotCommand(load func() (*fileConfig, error), stdout, stderr io.Writer) *cobra.Command {
	var tables []string
	var noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "snapshot --table DB.TABLE [--table ...]",
		Short: "Snapshot tables: the running pipeline emits their rows as bootstrap-insert events",
		Long: "Snapshot tables without locking them: the pipeline (`sluice run`, or the cluster's leader) reads\n" +
			"them in primary-key chunks between watermarks and emits their rows as bootstrap-insert events\n" +
			"to its sinks, interleaved with the binlog. The request is written to the signal table\n" +
			"(snapshot.signal_table); a pipeline that is not running picks it up when it starts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(tables) == 0 {
				return &configError{errors.New("name the tables to snapshot with --table DB.TABLE")}
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			if cfg.Snapshot.SignalTable == "" {
				return &configError{errors.New("snapshot.signal_table is empty: snapshots need a signal table")}
			}
			ctx := cmd.Context()
			pc := cfg.pipelineConfig(cfg.logger(stderr))
			srv, err := binlog.Preflight(ctx, &pc.Source, event.Position{})
			if err != nil {
				return err
			}
			conn, err := binlog.Connect(ctx, &pc.Source)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			f, err := filter.New(pc.Filter)
			if err != nil {
				return &configError{err}
			}
			for i, t := range tables {
				db, name, err := snapshot.SplitTable(t)
				if err != nil {
					return &configError{fmt.Errorf("--table: %w", err)}
				}
				if !f.Table(db, name) {
					return &configError{fmt.Errorf("--table %s: the filter excludes it (filter.include / filter.exclude)", t)}
				}
				shape, err := snapshot.ReadShape(conn, db, name, srv.Flavor == mysql.MariaDBFlavor)
				if err != nil {
					return &pipeline.SnapshotError{Err: fmt.Errorf("--table %s: %w", t, err)}
				}
				tables[i] = shape.QualifiedName() // the server's spelling, as the binlog names it
			}
			store, err := cfg.loadCheckpointStore(ctx)
			if err != nil {
				return err
			}
			sig, err := snapshot.ParseSignalTable(cfg.Snapshot.SignalTable)
			if err != nil {
				return &configError{err}
			}
			if err := sig.Ensure(conn); err != nil {
				return err
			}
			requested := time.Now().UTC()
			for _, t := range tables {
				if err := sig.Request(conn, cfg.Pipeline, t, uuid.NewString()); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "requested a snapshot of %d table(s) from pipeline %s\n", len(tables), cfg.Pipeline)
			if noWait {
				return nil
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return followSnapshots(ctx, store, tables, requested, stdout, stderr)
		},
	}
	cmd.Flags().StringArrayVar(&tables, "table", nil, "table to snapshot, DB.TABLE (repeatable)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the request is written, without following the snapshot")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up following after this long (the snapshot goes on)")
	return cmd
}

// followSnapshots polls the checkpoint until every table has a finished
// snapshot newer than the request, drawing a progress bar on a terminal
// and a line per table otherwise.
func followSnapshots(ctx context.Context, store checkpoint.Store, tables []string, since time.Time, stdout, stderr io.Writer) error {
	var bar *progressbar.ProgressBar
	barTable := ""
	tty := false
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	reported := map[string]bool{}
	failed := 0
	waiting := time.Now()
	for {
		cp, err := store.Load(ctx)
		if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
			return err
		}
		var st *checkpoint.Snapshot
		if cp != nil {
			st = cp.Snapshot
		}
		if st != nil {
			for _, d := range st.Done {
				if reported[d.Table] || d.Finished.Before(since.Add(-time.Second)) || !slices.Contains(tables, d.Table) {
					continue
				}
				reported[d.Table] = true
				if bar != nil {
					_ = bar.Finish()
					bar = nil
				}
				if d.Error != "" {
					failed++
					fmt.Fprintf(stdout, "%-40s FAILED  %s\n", d.Table, d.Error)
				} else {
					fmt.Fprintf(stdout, "%-40s done    %d rows\n", d.Table, d.Rows)
				}
			}
			if tty && !st.Idle() && slices.Contains(tables, st.Queue[0]) && !reported[st.Queue[0]] {
				if barTable != st.Queue[0] {
					barTable = st.Queue[0]
					bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr),
						progressbar.OptionSetDescription(barTable), progressbar.OptionShowCount(),
						progressbar.OptionSetItsString("rows"), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish())
				}
				_ = bar.Set64(st.Rows)
			}
		}
		if len(reported) == len(tables) {
			if failed > 0 {
				return &pipeline.SnapshotError{Err: fmt.Errorf("%d of %d table snapshot(s) failed", failed, len(tables))}
			}
			return nil
		}
		if time.Since(waiting) > 10*time.Second && (st == nil || st.Idle()) {
			fmt.Fprintln(stderr, "waiting for the pipeline to pick up the request: is `sluice run` running?")
			waiting = time.Now().Add(time.Minute)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following the snapshot (it goes on in the pipeline): %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
