//go:build !lake

package main

import (
	"io"

	"github.com/spf13/cobra"
)

// lakeCommands adds compact and verify when the binary is built with
// -tags lake (see compact.go); without the tag the config keys are still
// accepted and the commands say how to get them.
var lakeCommands = func(root *cobra.Command, load func() (*fileConfig, error), stdout, stderr io.Writer) {
	for _, name := range []string{"compact", "verify", "table"} {
		root.AddCommand(&cobra.Command{
			Use:   name,
			Short: name + " (in binaries built with -tags lake)",
			RunE: func(*cobra.Command, []string) error {
				return &configError{errLakeCommands}
			},
			DisableFlagParsing: true,
		})
	}
}

// buildTags are the tags this binary was built with.
const buildTags = ""
