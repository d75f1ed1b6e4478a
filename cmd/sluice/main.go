// Command sluice streams MySQL/MariaDB row changes to sinks as JSON change
// events. This package only parses configuration and wires packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand(os.Stdout, os.Stderr, os.Environ)
	stopProfile := addCPUProfileFlag(root)
	err := root.ExecuteContext(ctx)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(exitCode(err))
	}
}

// Exit codes: 1 for a runtime failure, 2 for bad configuration or usage, 3
// for a source that fails preflight.
func exitCode(err error) int {
	var pe *binlog.PreflightError
	var ce *configError
	var se *pipeline.SnapshotError
	var fe *pipeline.FilterError
	switch {
	case errors.As(err, &pe):
		return 3
	case errors.As(err, &ce), errors.As(err, &se), errors.As(err, &fe), errors.Is(err, emit.ErrFileInUse):
		return 2
	}
	return 1
}

var errLakeCommands = errors.New("this sluice was built without the compactor: build it with go build -tags lake ./cmd/sluice")

type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func newRootCommand(stdout, stderr io.Writer, environ func() []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Change data capture from MySQL/MariaDB binlogs to JSON change events",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("sluice {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	var configPath string
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "", "configuration file (YAML)")
	load := func() (*fileConfig, error) {
		cfg, err := loadConfig(configPath, environ)
		if err != nil {
			return nil, &configError{err}
		}
		return cfg, nil
	}
	root.AddCommand(newRunCommand(load, stdout, stderr), newCheckpointCommand(load, stdout), newSchemaCommand(load, stdout), newReplayCommand(load, stdout, stderr), newClusterCommand(load, stdout),
		newSnapshotCommand(load, stdout, stderr), newConfigCommand(load, stdout), newStatusCommand(load, stdout))
	lakeCommands(root, load, stdout, stderr)
	return root
}
