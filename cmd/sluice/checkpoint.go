package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/checkpoint"
)

func newCheckpointCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "checkpoint", Short: "Inspect the stored checkpoint"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the stored position",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			store, err := cfg.loadCheckpointStore(cmd.Context())
			if err != nil {
				return err
			}
			cp, err := store.Load(cmd.Context())
			if errors.Is(err, checkpoint.ErrNotFound) {
				return fmt.Errorf("pipeline %s has no checkpoint yet (it is written when `sluice run` starts)", cfg.Pipeline)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "pipeline:  %s\nposition:  %s\n", cfg.Pipeline, cp.Position)
			if cp.GTID != "" {
				fmt.Fprintf(stdout, "gtid:      %s\n", cp.GTID)
			}
			if cp.GTIDSet != "" {
				fmt.Fprintf(stdout, "gtid_set:  %s\n", cp.GTIDSet)
			}
			if cp.Emitted != "" {
				fmt.Fprintf(stdout, "emitted:   %s (an XA transaction is prepared before position; what commits up to here is delivered)\n", cp.Emitted)
			}
			fmt.Fprintf(stdout, "server_id: %d\n", cp.ServerID)
			if cp.Generation != 0 {
				fmt.Fprintf(stdout, "generation: %d\n", cp.Generation)
			}
			if cp.Timestamp != 0 {
				fmt.Fprintf(stdout, "commit_ts: %d\n", cp.Timestamp)
			}
			fmt.Fprintf(stdout, "updated:   %s\n", cp.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"))
			if s := cp.Snapshot; s != nil {
				if !s.Idle() {
					fmt.Fprintf(stdout, "snapshot:  %s, %d rows so far (after key %v); queued after it: %v\n", s.Queue[0], s.Rows, s.After, s.Queue[1:])
				}
				for _, d := range s.Done {
					if d.Error != "" {
						fmt.Fprintf(stdout, "snapshot:  %s failed %s: %s\n", d.Table, d.Finished.Format("2006-01-02T15:04:05Z"), d.Error)
					} else {
						fmt.Fprintf(stdout, "snapshot:  %s done %s, %d rows\n", d.Table, d.Finished.Format("2006-01-02T15:04:05Z"), d.Rows)
					}
				}
			}
			for _, h := range cp.History {
				fmt.Fprintf(stdout, "history:   %s %s: %s -> %s\n", h.At.Format("2006-01-02T15:04:05Z"), h.What, h.From, h.To)
			}
			return nil
		},
	})
	cmd.AddCommand(newCheckpointSetCommand(load, stdout))
	return cmd
}
