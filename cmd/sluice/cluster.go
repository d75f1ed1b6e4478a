package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/ha"
)

func newClusterCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	var addr string
	client := func() (*ha.AdminClient, error) {
		cfg, err := load()
		if err != nil {
			return nil, err
		}
		if addr == "" {
			if addr = cfg.localAdminURL(); addr == "" {
				return nil, &configError{errors.New("no node to ask: set http.listen (or http.admin_listen) in the config or pass --addr http://HOST:PORT")}
			}
		}
		token, err := cfg.adminToken()
		if err != nil {
			return nil, &configError{err}
		}
		return ha.NewAdminClient(addr, token, &http.Client{Timeout: 10 * time.Second}), nil
	}
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and change the Raft cluster of sluice nodes"}
	cmd.PersistentFlags().StringVar(&addr, "addr", "", "a node's HTTP address (default: this config's http.listen)")
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Print the cluster as a node sees it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("cluster status from %s: %w", addr, err)
			}
			fmt.Fprintf(stdout, "node:    %s (%s, term %d)\nleader:  %s %s\nleading: %v\nindex:   last %d, commit %d, applied %d\n",
				st.ID, st.State, st.Term, st.LeaderID, st.LeaderAddr, st.Leading, st.LastIndex, st.CommitIndex, st.AppliedIndex)
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tADDRESS\tSUFFRAGE")
			for _, s := range st.Servers {
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.ID, s.Addr, s.Suffrage)
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "add-voter ID RAFT_ADDR",
		Short: "Add a node to the cluster as a voter (sent to the leader)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.AddVoter(cmd.Context(), args[0], args[1]); err != nil {
				return fmt.Errorf("add voter %s at %s: %w", args[0], args[1], err)
			}
			fmt.Fprintf(stdout, "added %s (%s)\n", args[0], args[1])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "remove-server ID",
		Short: "Remove a node from the cluster (sent to the leader)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.RemoveServer(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("remove server %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "removed %s\n", args[0])
			return nil
		},
	})
	return cmd
}
