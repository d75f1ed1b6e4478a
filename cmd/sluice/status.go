package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/status"
)

func newStatusCommand(load func() (*fileConfig, error), stdout io.Writer) *cobra.Command {
	var watch bool
	th := status.DefaultThresholds()
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the pipeline's role, position, lag, checkpoint age, rate, sinks and snapshot; exit 1 when unhealthy",
		Long: `Show one line for the pipeline and one per sink. With http.listen set it asks the
running node (/api/status); otherwise it reads the checkpoint store and the
source's binlog head. Exit 0 when healthy, 1 when lag or checkpoint age is past
--max-lag / --max-checkpoint-age (or a sink halted the pipeline).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if th.MaxLag <= 0 || th.MaxCheckpointAge <= 0 {
				return &configError{errors.New("--max-lag and --max-checkpoint-age must be more than 0")}
			}
			ctx := cmd.Context()
			if !watch {
				d, err := cfg.statusDoc(ctx)
				if err != nil {
					return err
				}
				if err := status.WriteTable(stdout, d, th); err != nil {
					return err
				}
				if probs := d.Problems(th); len(probs) > 0 {
					return fmt.Errorf("unhealthy: %s", strings.Join(probs, "; "))
				}
				return nil
			}
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				// Clear the screen and draw from the top.
				fmt.Fprint(stdout, "\x1b[H\x1b[2J")
				fmt.Fprintf(stdout, "sluice status  %s  (every 1s; Ctrl-C to stop)\n\n", time.Now().Format(time.TimeOnly))
				if d, err := cfg.statusDoc(ctx); err != nil {
					fmt.Fprintf(stdout, "error: %v\n", err)
				} else if err := status.WriteTable(stdout, d, th); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "redraw every second until interrupted")
	cmd.Flags().DurationVar(&th.MaxLag, "max-lag", th.MaxLag, "unhealthy past this replication lag")
	cmd.Flags().DurationVar(&th.MaxCheckpointAge, "max-checkpoint-age", th.MaxCheckpointAge, "unhealthy past this checkpoint age")
	return cmd
}

// statusDoc asks the running node when it serves HTTP, else builds the
// document from the checkpoint store and the source.
func (c *fileConfig) statusDoc(ctx context.Context) (status.Doc, error) {
	if c.HTTP.Listen != "" {
		return httpStatus(ctx, statusURL(c.HTTP.Listen))
	}
	return c.storeStatus(ctx)
}

// statusURL is where the node at listen answers: an unspecified host
// (":9100", "0.0.0.0:9100") is reached on loopback.
func statusURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/api/status"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api/status"
}

func httpStatus(ctx context.Context, url string) (status.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return status.Doc{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return status.Doc{}, fmt.Errorf("ask the node at %s: %w (is `sluice run` up with this config?)", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return status.Doc{}, fmt.Errorf("ask the node at %s: %s", url, resp.Status)
	}
	var d status.Doc
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return status.Doc{}, fmt.Errorf("read the status from %s: %w", url, err)
	}
	return d, nil
}

// storeStatus reads the checkpoint, and the source's head to tell a
// caught-up pipeline (checkpoint at the head: no lag however old its
// transaction) from one behind.
func (c *fileConfig) storeStatus(ctx context.Context) (status.Doc, error) {
	store, err := c.loadCheckpointStore(ctx)
	if err != nil {
		return status.Doc{}, err
	}
	cp, err := store.Load(ctx)
	if errors.Is(err, checkpoint.ErrNotFound) {
		return status.Doc{}, fmt.Errorf("pipeline %s has no checkpoint yet (it is written when `sluice run` starts)", c.Pipeline)
	}
	if err != nil {
		return status.Doc{}, err
	}
	now := time.Now()
	d := status.Doc{At: now, Role: "standalone", Source: "checkpoint"}
	if c.haEnabled() {
		d.Role = "unknown (set http.listen to ask the node)"
	}
	p := &d.Pipeline
	p.Pipeline, p.Position, p.GTID, p.CheckpointSaved = c.Pipeline, cp.Position.String(), cp.GTID, cp.UpdatedAt
	if s := cp.Snapshot; !s.Idle() {
		p.Snapshot = &pipeline.SnapshotStatus{Table: s.Queue[0], Rows: s.Rows, Queued: slices.Clone(s.Queue[1:])}
	}
	pc := c.pipelineConfig(nil)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	head, err := binlog.Head(hctx, &pc.Source)
	switch {
	case err != nil:
		p.Error = fmt.Sprintf("source head unknown: %v", err)
		fallthrough
	case head != cp.Position && cp.Timestamp != 0:
		age := max(0, now.Sub(time.Unix(int64(cp.Timestamp), 0)).Seconds())
		p.LagSeconds, p.CheckpointAgeSeconds = age, age
	}
	return d, nil
}
