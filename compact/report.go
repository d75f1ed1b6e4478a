package compact

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
	// Spilled counts the row versions a copy-on-write run's external sort
	// wrote to disk (0: it fit in memory).
	Spilled    int
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
	fmt.Fprintln(tw, "TABLE\tSTATUS\tOBJECTS\tEVENTS\tAPPLIED\tSTALE\tDUPLICATES\tROWS\tPOSITION\tNOTE")
	for _, t := range r.Tables {
		note := t.Note
		if t.Err != nil {
			note = strings.TrimSpace(note + " " + t.Err.Error())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n",
			t.Table, t.Status, t.Objects, t.Events, t.Applied, t.Stale, t.Duplicates, t.Rows, dash(t.Position), note)
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
