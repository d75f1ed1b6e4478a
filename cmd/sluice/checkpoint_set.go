package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
)

// newCheckpointSetCommand re-points a stopped pipeline's checkpoint.
func newCheckpointSetCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	var gtids, pos string
	cmd := &cobra.Command{
		Use:   "set (--gtid SET | --pos FILE:OFFSET)",
		Short: "Re-point a stopped pipeline's checkpoint at a GTID set or a binlog position of the source",
		Long: `Re-point the checkpoint of a stopped pipeline. --gtid resumes after the GTID set
on whichever server of source.hosts answers (MariaDB domain-server-seq,...; MySQL
uuid:1-N,...); --pos resumes at FILE:OFFSET of the server that answers now, which
must be a transaction boundary. The change is recorded in the checkpoint's
history. Stop the pipeline first: with checkpoint.store dynamodb, this claims
the pipeline and a running process is fenced out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (gtids == "") == (pos == "") {
				return &configError{errors.New("checkpoint set: give exactly one of --gtid SET or --pos FILE:OFFSET")}
			}
			var at event.Position
			if pos != "" {
				var err error
				if at, err = event.ParsePosition(pos); err != nil {
					return &configError{fmt.Errorf("checkpoint set --pos: %w", err)}
				}
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pc := cfg.pipelineConfig(nil)
			srv, err := binlog.Preflight(ctx, &pc.Source, at)
			if err != nil {
				return err
			}
			next := &checkpoint.Checkpoint{Pipeline: cfg.Pipeline, UpdatedAt: time.Now().UTC()}
			var to string
			if gtids != "" {
				if err := binlog.ValidGTIDSet(srv.Flavor, gtids); err != nil {
					return &configError{fmt.Errorf("checkpoint set --gtid: %w", err)}
				}
				// Not tied to a server: the next run resumes after the set
				// wherever it connects. The position is the head, for people.
				next.Position, next.GTIDSet = srv.Head, gtids
				to = "gtid " + gtids
			} else {
				next.Position, next.ServerID = at, srv.ServerID
				if next.GTIDSet, err = binlog.GTIDsAt(ctx, &pc.Source, srv.Flavor, at); err != nil {
					return err
				}
				to = fmt.Sprintf("%s on server_id %d", at, srv.ServerID)
			}
			store, err := cfg.checkpointStore(ctx)
			if err != nil {
				return err
			}
			if fs, ok := store.(checkpoint.FencingStore); ok {
				if _, err := fs.Acquire(ctx, "checkpoint-set@"+pc.Owner); err != nil {
					return fmt.Errorf("claim pipeline %s: %w", cfg.Pipeline, err)
				}
			}
			cur, err := store.Load(ctx)
			from := "none"
			switch {
			case errors.Is(err, checkpoint.ErrNotFound):
			case err != nil:
				return err
			default:
				from = fmt.Sprintf("%s on server_id %d", cur.Position, cur.ServerID)
				if cur.GTIDSet != "" {
					from += " (gtid " + cur.GTIDSet + ")"
				}
				next.History, next.Snapshot, next.Generation = cur.History, cur.Snapshot, cur.Generation
				if gtids != "" || cur.ServerID != srv.ServerID {
					// The events from here on may sit at places of
					// another server: they start a new generation.
					next.Generation++
					to += fmt.Sprintf(", generation %d", next.Generation)
				}
			}
			next.History = checkpoint.WithChange(next.History, checkpoint.Change{At: next.UpdatedAt, What: "set", From: from, To: to})
			if err := store.Save(ctx, next); err != nil {
				return fmt.Errorf("checkpoint set: %w", err)
			}
			fmt.Fprintf(stdout, "pipeline %s: checkpoint re-pointed from %s to %s\n", cfg.Pipeline, from, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&gtids, "gtid", "", "resume after this executed GTID set")
	cmd.Flags().StringVar(&pos, "pos", "", "resume at this binlog position (FILE:OFFSET) of the source")
	return cmd
}
