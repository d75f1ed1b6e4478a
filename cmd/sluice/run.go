package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/internal/atomicfile"
	"github.com/sluicecdc/sluice/internal/dirlock"
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
			if exitWhenCaughtUp && cfg.haEnabled() {
				return &configError{errors.New("--exit-when-caught-up runs one pipeline to the end, not a cluster node: leave ha.node_id unset for it")}
			}
			log := cfg.logger(stderr)
			// One writer per checkpoint directory: a second run on the same
			// config stops here, naming the first one's pid.
			lock, err := dirlock.Acquire(cfg.Checkpoint.Dir)
			if err != nil {
				if _, held := errors.AsType[*dirlock.HeldError](err); held {
					return &configError{err}
				}
				return err
			}
			defer func() { _ = lock.Release() }()
			pc := cfg.pipelineConfig(log)
			pc.ExitWhenCaughtUp = pc.ExitWhenCaughtUp || exitWhenCaughtUp // snapshot.mode initial_only sets it
			if err := cleanLeftovers(cfg.Checkpoint.Dir, pc.SpillDir, log); err != nil {
				return err
			}
			setMemoryLimit(cfg.memoryCaps(pc), os.Getenv, log)
			if pc.SchemaStore, err = cfg.schemaStore(cmd.Context()); err != nil {
				return err
			}
			err = cfg.daemon(cmd.Context(), pc, stdout, log)
			if peak, ok := peakRSS(); ok {
				log.Info("stopped", "peak_rss_bytes", peak)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&exitWhenCaughtUp, "exit-when-caught-up", false, "stop once everything committed before start-up is delivered and checkpointed")
	return cmd
}

// cleanLeftovers removes what a crashed run left: temporary files of the
// checkpoint and registry, and spill files of a transaction under way.
func cleanLeftovers(checkpointDir, spillDir string, log *slog.Logger) error {
	tmp, err := atomicfile.Clean(checkpointDir)
	if err != nil {
		return err
	}
	spill, err := pipeline.CleanSpillDir(spillDir)
	if err != nil {
		return err
	}
	if tmp+spill > 0 {
		log.Info("removed files an earlier run left behind", "temporary_files", tmp, "spill_files", spill, "spill_dir", spillDir)
	}
	return nil
}

// peakRSS reads the process's peak resident memory (VmHWM) on Linux. Unlike
// getrusage, it does not inherit the parent's high-water mark across exec.
func peakRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
