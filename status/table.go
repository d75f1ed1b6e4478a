package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicecdc/sluice/pipeline"
)

// Thresholds say when a node is unhealthy.
type Thresholds struct {
	MaxLag           time.Duration
	MaxCheckpointAge time.Duration
}

// DefaultThresholds match the SluiceLagHigh and SluiceCheckpointStale
// alerts.
func DefaultThresholds() Thresholds {
	return Thresholds{MaxLag: 5 * time.Minute, MaxCheckpointAge: 15 * time.Minute}
}

// Problems lists what makes d unhealthy under th: lag or checkpoint age
// past their thresholds (a stream that stopped moving counts its idle time
// as lag), or a sink that halted the pipeline. Empty means healthy.
func (d Doc) Problems(th Thresholds) []string {
	var out []string
	p := d.Pipeline
	if d.Source == "http" && !p.Running && p.Error == "" {
		// This node does not stream (a follower, or a leader before its
		// pipeline starts): its pipeline figures are an earlier term's.
		return nil
	}
	lag := p.LagSeconds
	if p.Running && !p.LastProgress.IsZero() {
		lag = max(lag, d.At.Sub(p.LastProgress).Seconds())
	}
	if th.MaxLag > 0 && lag > th.MaxLag.Seconds() {
		out = append(out, fmt.Sprintf("lag %s is past %s", secs(lag), th.MaxLag))
	}
	if th.MaxCheckpointAge > 0 && p.CheckpointAgeSeconds > th.MaxCheckpointAge.Seconds() {
		out = append(out, fmt.Sprintf("checkpoint age %s is past %s", secs(p.CheckpointAgeSeconds), th.MaxCheckpointAge))
	}
	for _, s := range p.Sinks {
		if s.State == pipeline.SinkHalted {
			out = append(out, fmt.Sprintf("sink %s halted: %s", s.Name, s.LastError))
		}
	}
	return out
}

// WriteTable prints d as `sluice status` shows it: one line for the
// pipeline, one per sink, then the problems under th.
func WriteTable(w io.Writer, d Doc, th Thresholds) error {
	p := d.Pipeline
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tROLE\tCLAIM EPOCH\tTERM\tPOSITION\tGTID\tLAG\tCHECKPOINT AGE\tEVENTS/S\tSNAPSHOT")
	role := d.Role
	if d.Node != "" {
		role += " (" + d.Node + ")"
	}
	lag, rate := secs(p.LagSeconds), fmt.Sprintf("%.1f", d.EventsPerSecond)
	if d.Source == "checkpoint" {
		rate = "-"
	}
	term := "-"
	if d.Term != 0 {
		term = strconv.FormatUint(d.Term, 10)
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(p.Pipeline), role, d.Epoch, term, dash(p.Position), dash(p.GTID),
		lag, secs(p.CheckpointAgeSeconds), rate, snapshot(p.Snapshot))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Sinks) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SINK\tSTATE\tBUFFERED\tERRORS\tLAST ERROR")
		for _, s := range p.Sinks {
			buffered := "-"
			if s.BufferCap > 0 {
				buffered = fmt.Sprintf("%s / %s", bytesOf(s.BufferedBytes), bytesOf(s.BufferCap))
			}
			last := "-"
			if s.LastError != "" {
				last = fmt.Sprintf("%s (%s ago)", oneLine(s.LastError, 100), d.At.Sub(s.LastErrorAt).Round(time.Second))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.State, buffered, s.Errors, last)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if p.Error != "" {
		fmt.Fprintf(w, "\nstopped: %s\n", oneLine(p.Error, 200))
	}
	if d.Source == "http" && !p.Running && p.Error == "" {
		fmt.Fprintf(w, "\nnot streaming on this node")
		if d.LeaderID != "" {
			fmt.Fprintf(w, " (the leader is %s: ask it)", d.LeaderID)
		}
		fmt.Fprintln(w)
		return nil
	}
	if probs := d.Problems(th); len(probs) > 0 {
		fmt.Fprintf(w, "\nUNHEALTHY: %s\n", strings.Join(probs, "; "))
	} else {
		fmt.Fprintf(w, "\nhealthy (lag ≤ %s, checkpoint age ≤ %s)\n", th.MaxLag, th.MaxCheckpointAge)
	}
	return nil
}

func snapshot(s *pipeline.SnapshotStatus) string {
	if s == nil {
		return "-"
	}
	out := fmt.Sprintf("%s %d rows", s.Table, s.Rows)
	if s.EstimatedRows > 0 {
		out += fmt.Sprintf(" of ~%d (%.0f%%)", s.EstimatedRows, min(100, 100*float64(s.Rows)/float64(s.EstimatedRows)))
	}
	if len(s.Queued) > 0 {
		out += fmt.Sprintf(", %d queued", len(s.Queued))
	}
	return out
}

func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func bytesOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
