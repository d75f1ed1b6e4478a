package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

func newRunCommand(load func() (*fileConfig, error), stdout, stderr io.Writer) *cobra.Command {
	var exitWhenCaughtUp bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Stream the binlog to the configured sinks, resuming from the checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			log := cfg.logger(stderr)
			store, err := cfg.checkpointStore()
			if err != nil {
				return err
			}
			pc := cfg.pipelineConfig(log)
			pc.ExitWhenCaughtUp = exitWhenCaughtUp
			p, err := pipeline.New(pc, store, func() ([]emit.Sink, error) { return cfg.openSinks(stdout) })
			if err != nil {
				return &configError{err}
			}
			return p.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&exitWhenCaughtUp, "exit-when-caught-up", false, "stop once everything committed before start-up is delivered and checkpointed")
	return cmd
}
