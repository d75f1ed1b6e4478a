package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

func newReplayCommand(load func() (*fileConfig, error), stdout, stderr io.Writer) *cobra.Command {
	var from, to, sinks string
	var generation int64
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-emit a range of the binlog to the sinks without moving the live checkpoint",
		Long: `Re-emit a range of the binlog, e.g. to rebuild a lake partition or refill a consumer.
The live checkpoint and schema registry are read, never written; events carry the
same dedupe keys (and bytes) as when they were first emitted.

--from: checkpoint (the pipeline's stored position), pos:FILE:OFFSET,
        gtid:SET (MariaDB 0-1-42, MySQL uuid:1-42) or time:RFC3339
--to:   pos:FILE:OFFSET or time:RFC3339; default: the server's position when
        the replay starts

Events carry the source generation of the live checkpoint when the replay reads
its server (the generation that server's events were streamed in); on another
server, give --generation: the one the pipeline had while it read that server
(checkpoint show lists the moves).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if err := cfg.keepSinks(sinks); err != nil {
				return &configError{err}
			}
			log := cfg.logger(stderr)
			ctx := cmd.Context()
			cfg.replaying = true
			pc := cfg.pipelineConfig(log)
			pc.ExitWhenCaughtUp = true
			pc.SchemaReadOnly = true
			// A replay re-reads the binlog: it neither starts nor continues
			// table snapshots (their rows are in the lake, not the binlog).
			pc.Snapshot.Ignore, pc.Snapshot.Initial, pc.Snapshot.InitialAll = true, nil, false
			if pc.SchemaStore, err = cfg.schemaStore(ctx); err != nil {
				return err
			}
			start := &checkpoint.Checkpoint{Pipeline: cfg.Pipeline}
			kind, arg, _ := strings.Cut(from, ":")
			live, err := cfg.liveCheckpoint(ctx)
			switch {
			case err != nil && kind == "checkpoint":
				return err
			case err != nil && generation < 0:
				return fmt.Errorf("read the live checkpoint for its source generation: %w (or give --generation)", err)
			}
			if pc.Generation, err = replayGeneration(cmd, &pc.Source, live, generation); err != nil {
				return err
			}
			pc.FixedGeneration = true
			switch kind {
			case "checkpoint":
				if live == nil {
					return fmt.Errorf("pipeline %s has no checkpoint to replay from", cfg.Pipeline)
				}
				start = live
				start.Snapshot = nil
			case "pos":
				if start.Position, err = event.ParsePosition(arg); err != nil {
					return &configError{fmt.Errorf("--from: %w", err)}
				}
			case "gtid":
				if arg == "" {
					return &configError{errors.New("--from gtid: needs a GTID set")}
				}
				pc.StartGTID = arg
				start = nil // the GTID set says where; the server's head only fills the gap
				pc.Start = pipeline.StartLatest
			case "time":
				t, err := time.Parse(time.RFC3339, arg)
				if err != nil {
					return &configError{fmt.Errorf("--from time: %w", err)}
				}
				srv, err := binlog.Preflight(ctx, &pc.Source, event.Position{})
				if err != nil {
					return err
				}
				if start.Position, err = binlog.FileBefore(ctx, &pc.Source, srv, t); err != nil {
					return err
				}
				pc.NotBefore = t
			default:
				return &configError{fmt.Errorf("--from %q: want checkpoint, pos:FILE:OFFSET, gtid:SET or time:RFC3339", from)}
			}
			if to != "" {
				kind, arg, _ := strings.Cut(to, ":")
				switch kind {
				case "pos":
					if pc.StopAt, err = event.ParsePosition(arg); err != nil {
						return &configError{fmt.Errorf("--to: %w", err)}
					}
				case "time":
					if pc.NotAfter, err = time.Parse(time.RFC3339, arg); err != nil {
						return &configError{fmt.Errorf("--to time: %w", err)}
					}
				default:
					return &configError{fmt.Errorf("--to %q: want pos:FILE:OFFSET or time:RFC3339", to)}
				}
			}
			p, err := pipeline.New(pc, checkpoint.NewMemoryStore(start), func() ([]emit.Sink, error) {
				return cfg.openSinks(ctx, stdout, log)
			})
			if err != nil {
				return &configError{err}
			}
			if err := p.Run(ctx); err != nil {
				return err
			}
			end := p.Checkpoint()
			fmt.Fprintf(stderr, "replayed %d events up to %s\n", p.Delivered(), end.Position)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "where to start (checkpoint | pos:FILE:OFFSET | gtid:SET | time:RFC3339)")
	cmd.Flags().StringVar(&to, "to", "", "where to stop (pos:FILE:OFFSET | time:RFC3339); default: the server's position at start")
	cmd.Flags().StringVar(&sinks, "sinks", "", "only the configured sinks of these types, comma-separated (e.g. s3,kinesis)")
	cmd.Flags().Int64Var(&generation, "generation", -1, "the source generation the events carry (default: the live checkpoint's, when the replay reads its server)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// liveCheckpoint loads the pipeline's checkpoint (nil when it has none).
func (c *fileConfig) liveCheckpoint(ctx context.Context) (*checkpoint.Checkpoint, error) {
	store, err := c.checkpointStore(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := store.Load(ctx)
	if errors.Is(err, checkpoint.ErrNotFound) {
		return nil, nil
	}
	return cp, err
}

// replayGeneration is the source generation a replay stamps on its
// events: flag when given (not -1), else the live checkpoint's when the
// source is the server it was taken on. Another server's places are
// ordered by the generation the pipeline had while it read that server,
// which only the operator can tell.
func replayGeneration(cmd *cobra.Command, src *binlog.Config, live *checkpoint.Checkpoint, flag int64) (uint32, error) {
	switch {
	case flag > int64(^uint32(0)) || flag < -1:
		return 0, &configError{fmt.Errorf("--generation %d: want 0 to %d", flag, ^uint32(0))}
	case flag >= 0:
		return uint32(flag), nil
	case live == nil || live.Generation == 0:
		return 0, nil
	}
	srv, err := binlog.Preflight(cmd.Context(), src, event.Position{})
	if err != nil {
		return 0, err
	}
	if live.ServerID != 0 && srv.ServerID != live.ServerID {
		return 0, &configError{fmt.Errorf("the replay reads server_id %d, but the pipeline's checkpoint is on server_id %d in source generation %d: give --generation, the generation the pipeline had while it read server_id %d (`sluice checkpoint show` lists the moves), so the replayed events order as they did", srv.ServerID, live.ServerID, live.Generation, srv.ServerID)}
	}
	return live.Generation, nil
}

// keepSinks narrows the configured sinks to the listed types.
func (c *fileConfig) keepSinks(types string) error {
	if types == "" {
		return nil
	}
	want := map[string]bool{}
	for _, t := range strings.Split(types, ",") {
		want[strings.TrimSpace(t)] = true
	}
	var kept []any
	found := map[string]bool{}
	for _, s := range c.sinks {
		if want[sinkType(s)] {
			kept = append(kept, s) // every sink of a listed type
			found[sinkType(s)] = true
		}
	}
	for t := range want {
		if !found[t] {
			return fmt.Errorf("--sinks: no sink of type %q is configured", t)
		}
	}
	c.sinks = kept
	return nil
}

func sinkType(s any) string {
	switch s.(type) {
	case *fileSinkConfig:
		return "file"
	case *stdoutSinkConfig:
		return "stdout"
	case *s3SinkConfig:
		return "s3"
	case *kinesisSinkConfig:
		return "kinesis"
	}
	return "unknown"
}
