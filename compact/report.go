package compact

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Table statuses in a Report.
const (
	StatusCompacted = "compacted" // new rows committed as a new snapshot
	StatusAdvanced  = "advanced"  // no change for the table: only its lake bookkeeping moved
	StatusUnchanged = "unchanged" // nothing new in the lake
	StatusSkipped   = "skipped"   // cannot be compacted (see Note)
	StatusFailed    = "failed"
)

// Report is what a run did, per table.
type Report struct {
	Manifests int // manifests in the lake
	// ManifestsRead is how many of them the run read (the others were
	// consumed by earlier runs of every table it compacted).
	ManifestsRead int
	Tables        []TableReport
}

// TableReport is one table's part of a run.
type TableReport struct {
	Table      string // source table, "database.table"
	Identifier string // Iceberg table
	Status     string
	// Objects and Events count the lake objects and events read; ObjectKeys
	// names the objects.
	Objects    int
	ObjectKeys []string
	Events     int
	// Applied changes changed rows; Stale ones were older than what they
	// would overwrite; Duplicates were copies of a change already read.
	Applied, Stale, Duplicates int
	Rows                       int64 // in the snapshot
	Columns                    int
	// Mode is how the snapshot was written (ModeMergeOnRead or
	// ModeCopyOnWrite); ModeWhy says why a run did not merge on read.
	Mode, ModeWhy string
	// Freshness is the source commit time of the newest change the table
	// holds (zero before any); Lag is how long before the end of the run
	// that was. A source with no writes shows a growing lag: the table is
	// then as fresh as the lake, which Position tells.
	Freshness time.Time
	Lag       time.Duration
	// Attempts counts the runs of the table: more than one when another
	// process committed it first.
	Attempts int
	// Spilled counts the row versions a copy-on-write run's external sort
	// wrote to disk (0: it fit in memory).
	Spilled int
	// Nulled counts the values written as NULL because their temporal
	// column cannot hold them: zero dates, invalid dates, TIME values
	// outside 00:00:00–23:59:59.999999.
	Nulled     int
	Position   string // highest change applied, as a dedupe key
	SnapshotID int64
	Note       string
	Err        error
}

// Failed reports whether any table failed.
func (r *Report) Failed() bool {
	for _, t := range r.Tables {
		if t.Status == StatusFailed {
			return true
		}
	}
	return false
}

// Render writes the report as a table.
func (r *Report) Render(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSTATUS\tMODE\tOBJECTS\tEVENTS\tAPPLIED\tSTALE\tDUPLICATES\tNULLED\tROWS\tPOSITION\tFRESHNESS\tLAG\tNOTE")
	for _, t := range r.Tables {
		note := t.Note
		if t.ModeWhy != "" && t.Mode == ModeCopyOnWrite {
			note = strings.TrimSpace("rewritten: " + t.ModeWhy + ". " + note)
		}
		if t.Err != nil {
			note = strings.TrimSpace(note + " " + t.Err.Error())
		}
		fresh, lag := "-", "-"
		if !t.Freshness.IsZero() {
			fresh, lag = t.Freshness.Format(time.RFC3339), t.Lag.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n",
			t.Table, t.Status, dash(t.Mode), t.Objects, t.Events, t.Applied, t.Stale, t.Duplicates, t.Nulled, t.Rows, dash(t.Position), fresh, lag, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d manifests in the lake, %d read\n", r.Manifests, r.ManifestsRead)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
