package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

func newSchemaCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	var table, at string
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the versions of each table's schema that sluice has seen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			var atPos event.Position
			if at != "" {
				if atPos, err = event.ParsePosition(at); err != nil {
					return &configError{fmt.Errorf("--at: %w", err)}
				}
			}
			if table != "" && !strings.Contains(table, ".") {
				return &configError{fmt.Errorf("--table %q: want DATABASE.TABLE", table)}
			}
			store, err := cfg.schemaStore(cmd.Context())
			if err != nil {
				return err
			}
			if b, err := store.Read(cmd.Context()); err != nil {
				return fmt.Errorf("read schema registry %s: %w", store, err)
			} else if b == nil {
				return fmt.Errorf("no schema registry at %s: it is written by `sluice run`", store)
			}
			reg, err := schema.OpenRegistryContext(cmd.Context(), store)
			if err != nil {
				return err
			}
			found := false
			for _, name := range reg.Tables() {
				if table != "" && name != table {
					continue
				}
				db, tbl, _ := strings.Cut(name, ".")
				versions := reg.Versions(db, tbl)
				if !atPos.IsZero() {
					v, ok := reg.At(db, tbl, atPos)
					if !ok {
						continue
					}
					versions = []schema.Version{v}
				}
				for _, v := range versions {
					found = true
					if err := printVersion(stdout, name, &v); err != nil {
						return err
					}
				}
			}
			if !found && table != "" {
				return fmt.Errorf("table %s is not in the schema registry", table)
			}
			return nil
		},
	}
	show.Flags().StringVar(&table, "table", "", "only this table (DATABASE.TABLE)")
	show.Flags().StringVar(&at, "at", "", "only the version valid at this binlog position (FILE:OFFSET)")
	cmd := &cobra.Command{Use: "schema", Short: "Inspect the table schemas sluice has recorded"}
	cmd.AddCommand(show)
	return cmd
}

func printVersion(out io.Writer, name string, v *schema.Version) error {
	fmt.Fprintf(out, "%s version %d from %s (%s)\n", name, v.Number, v.Pos, v.Cause)
	if v.SQL != "" {
		fmt.Fprintf(out, "  sql: %s\n", strings.Join(strings.Fields(v.SQL), " "))
	}
	if v.Table == nil {
		if v.Cause == string(schema.TableDrop) {
			fmt.Fprintln(out, "  (dropped)")
		} else {
			fmt.Fprintln(out, "  (shape not seen yet: no row since the change)")
		}
		return nil
	}
	pk := map[int]bool{}
	for _, i := range v.Table.PrimaryKey {
		pk[i] = true
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i := range v.Table.Columns {
		c := &v.Table.Columns[i]
		flags := ""
		if pk[i] {
			flags = " primary key"
		}
		if !c.Nullable {
			flags += " not null"
		}
		fmt.Fprintf(w, "  %s\t%s%s\n", c.Name, c.TypeName(), flags)
	}
	return w.Flush()
}
