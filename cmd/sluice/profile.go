package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// addCPUProfileFlag gives root the hidden --cpuprofile FILE flag, which
// writes a CPU profile of the whole command to FILE (read it with
// `go tool pprof -top sluice FILE`); the benchmark program, bench/, uses it.
// The returned stop ends the profile and closes the file; it is a no-op
// when no profile was started. Call it before the process exits.
func addCPUProfileFlag(root *cobra.Command) (stop func() error) {
	var path string
	var f *os.File
	root.PersistentFlags().StringVar(&path, "cpuprofile", "", "write a CPU profile to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if path == "" {
			return nil
		}
		var err error
		if f, err = os.Create(path); err != nil {
			return &configError{fmt.Errorf("--cpuprofile: %w", err)}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			f = nil
			return fmt.Errorf("--cpuprofile %s: %w", path, err)
		}
		return nil
	}
	return func() error {
		if f == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := f.Close()
		f = nil
		if err != nil {
			return fmt.Errorf("--cpuprofile %s: %w", path, err)
		}
		return nil
	}
}
