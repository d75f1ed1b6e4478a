package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/pipeline"
)

func newConfigCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Parse and validate the configuration, and print what the filter streams of the live schema",
		Long: `Parse and validate the configuration (exit 2 on an error, naming the key), then
connect to the source and apply the filter to its schema: print each table that
would stream with its dropped and hashed columns, the tables left out, and a
warning for every pattern that matches nothing. Nothing is written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			pc := cfg.pipelineConfig(nil)
			report, err := pipeline.FilterReport(cmd.Context(), &pc)
			if err != nil {
				return err
			}
			if err := renderFilterReport(stdout, pc.Source.Addr(), report); err != nil {
				return err
			}
			if len(report.Problems) > 0 {
				return &configError{errors.New("filter: " + strings.Join(report.Problems, "; "))}
			}
			return nil
		},
	})
	return cmd
}

// renderFilterReport prints a filter report as `sluice config check` shows it.
func renderFilterReport(w io.Writer, source string, r *filter.Report) error {
	fmt.Fprintf(w, "configuration OK; source %s: %d tables stream, %d left out\n\n", source, len(r.Streamed), len(r.Excluded))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tDROPPED COLUMNS\tHASHED COLUMNS")
	for _, t := range r.Streamed {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Table, list(t.Dropped), list(t.Hashed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out []string
	system := 0
	for _, t := range r.Excluded {
		if db, _, _ := strings.Cut(t, "."); slices.Contains(filter.SystemDatabases, strings.ToLower(db)) {
			system++
			continue
		}
		out = append(out, t)
	}
	if len(out) > 0 {
		fmt.Fprintf(w, "\nleft out: %s\n", strings.Join(out, ", "))
	}
	if system > 0 {
		fmt.Fprintf(w, "left out: %d tables of the system databases (%s)\n", system, strings.Join(filter.SystemDatabases, ", "))
	}
	for _, u := range r.Unmatched {
		fmt.Fprintf(w, "warning: %s matches nothing in the live schema\n", u)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "error: %s\n", p)
	}
	return nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// version is the module version and VCS revision the binary was built
// from, as the Go toolchain recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v + " " + bi.GoVersion
}
