package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
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
			pc := cfg.pipelineConfig(log)
			pc.ExitWhenCaughtUp = exitWhenCaughtUp
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
