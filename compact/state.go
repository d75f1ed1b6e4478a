package compact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Snapshot summary properties the compactor sets on each snapshot it
// commits. The state file holds what the next run needs; the others are
// for people and for verify.
const (
	// PropState is the location of the run's state file.
	PropState = "sluice.state"
	// PropPosition is the highest binlog place applied to the table,
	// as a dedupe key (server_id:file:offset:row), preceded by
	// "generation/" when the source generation is not 0.
	PropPosition = "sluice.position"
	// PropLakePosition is the highest binlog place in any manifest the run
	// read: the lake as far as the snapshot reflects it.
	PropLakePosition = "sluice.lake-position"
	// PropObjects and PropEvents count the lake objects and events the
	// run read.
	PropObjects = "sluice.lake-objects"
	PropEvents  = "sluice.lake-events"
	// PropRows counts the table's rows (total-records also counts, in
	// merge-on-read snapshots, rows that equality deletes hide).
	PropRows = "sluice.rows"
	// PropMode is how the run wrote the snapshot: ModeMergeOnRead or
	// ModeCopyOnWrite.
	PropMode = "sluice.mode"
)

// Ways a run writes a snapshot (PropMode, TableReport.Mode).
const (
	// ModeMergeOnRead: a data file of the changed rows and an equality
	// delete file of the changed keys were added; nothing was rewritten.
	ModeMergeOnRead = "merge-on-read"
	// ModeCopyOnWrite: every data file was rewritten.
	ModeCopyOnWrite = "copy-on-write"
)

// Table properties the compactor sets.
const (
	// PropSource names the source table, "database.table".
	PropSource = "sluice.source"
	// PropPrimaryKey lists the primary key's columns, as a JSON array.
	PropPrimaryKey = "sluice.primary-key"
)

// ColumnPlace is the metadata column holding, for each row, the dedupe key
// (server_id:file:offset:row) of the change that wrote it.
const ColumnPlace = "_sluice_dedupe_key"

// ColumnGeneration is the metadata column holding, for each row, the
// source generation of the change that wrote it (null: 0). A table has it
// from the first run that applies a change of a generation above 0: the
// row's place is then the generation, then the dedupe key's position.
const ColumnGeneration = "_sluice_generation"

// stateFile is what a run leaves for the next: it is written to a new file
// under the table's metadata directory and named in the snapshot's
// summary, so it takes effect exactly when the snapshot is committed.
type stateFile struct {
	Version int    `json:"version"`
	Table   string `json:"table"`
	// Manifests are the lake manifests consumed: every manifest stamped
	// before Horizon less the margin, and those listed in Recent.
	Manifests manifestState `json:"manifests"`
	// Shape is the current columns, from the row image at ShapeAt.
	Shape      []string `json:"shape"`
	ShapeAt    string   `json:"shape_at,omitempty"`
	PrimaryKey []string `json:"primary_key"`
	PKAt       string   `json:"primary_key_at,omitempty"`
	ClearedAt  string   `json:"cleared_at,omitempty"`
	Position   string   `json:"position,omitempty"`
	// LakePosition is the highest place of any manifest consumed.
	LakePosition string `json:"lake_position,omitempty"`
	MaxTS        uint32 `json:"max_ts,omitempty"`
	// Hints are the types columns were declared with; Untyped the
	// columns written as strings for want of a value.
	Hints   map[string]string `json:"hints,omitempty"`
	Untyped []string          `json:"untyped,omitempty"`
	// Fractions are the declared fraction digits of temporal columns.
	Fractions map[string]int `json:"fractions,omitempty"`
	// Tombstones are deleted keys with the place and time of the delete
	// (state files of older versions; now in TombstoneFile).
	Tombstones []tombEntry `json:"tombstones,omitempty"`
	// TombstoneFile is the location of the tombstone file (tombs.go),
	// which holds TombstoneCount tombstones.
	TombstoneFile  string `json:"tombstone_file,omitempty"`
	TombstoneCount int    `json:"tombstone_count,omitempty"`
}

type manifestState struct {
	Horizon time.Time `json:"horizon"`
	Recent  []string  `json:"recent,omitempty"`
}

type tombEntry struct {
	Key string `json:"key"`
	At  string `json:"at"`
	TS  uint32 `json:"ts"`
}

const stateVersion = 1

// placeString renders a place as its dedupe key, preceded by
// "generation/" when the generation is not 0 ("" for no place).
func placeString(p place, sid uint32) string {
	if p.isZero() {
		return ""
	}
	if p.gen != 0 {
		return strconv.FormatUint(uint64(p.gen), 10) + "/" + p.dedupeKey(sid)
	}
	return p.dedupeKey(sid)
}

// parsePlace parses what placeString renders.
func parsePlace(s string) (place, uint32, error) {
	if s == "" {
		return place{}, 0, nil
	}
	var gen uint64
	if g, rest, ok := strings.Cut(s, "/"); ok && !strings.Contains(g, ":") {
		var err error
		if gen, err = strconv.ParseUint(g, 10, 32); err != nil {
			return place{}, 0, fmt.Errorf("place %q: want generation/server_id:file:offset:row", s)
		}
		s = rest
	}
	p, sid, err := parseDedupeKey(s)
	p.gen = uint32(gen)
	return p, sid, err
}

// encodeState renders a table's state, gzip-compressed.
func encodeState(s *tableState, ms manifestState) ([]byte, error) {
	f := stateFile{
		Version:    stateVersion,
		Table:      s.name(),
		Manifests:  ms,
		Shape:      s.shape,
		ShapeAt:    placeString(s.shapeAt, 0),
		PrimaryKey: s.pk,
		PKAt:       placeString(s.pkAt, 0),
		ClearedAt:  placeString(s.cleared, 0),
		Position:   placeString(s.maxAt, s.maxSID),
		MaxTS:      s.maxTS,

		LakePosition:   placeString(s.lakeAt, s.lakeSID),
		TombstoneFile:  s.tombFile,
		TombstoneCount: s.tombCount,
	}
	for name, h := range s.hints {
		if f.Hints == nil {
			f.Hints = make(map[string]string)
		}
		f.Hints[name] = h.String()
	}
	if len(s.fracs) > 0 {
		f.Fractions = s.fracs
	}
	for name := range s.untyped {
		f.Untyped = append(f.Untyped, name)
	}
	slices.Sort(f.Untyped)
	for k, t := range s.tombs {
		f.Tombstones = append(f.Tombstones, tombEntry{Key: k, At: placeString(t.at, 0), TS: t.ts})
	}
	slices.SortFunc(f.Tombstones, func(a, b tombEntry) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
	js, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// decodeState restores a table's state from a state file.
func decodeState(b []byte, s *tableState) (manifestState, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return manifestState{}, err
	}
	js, err := io.ReadAll(r)
	if err != nil {
		return manifestState{}, err
	}
	var f stateFile
	if err := json.Unmarshal(js, &f); err != nil {
		return manifestState{}, err
	}
	if f.Version != stateVersion {
		return manifestState{}, fmt.Errorf("state version %d: this sluice reads version %d", f.Version, stateVersion)
	}
	s.shape, s.pk, s.maxTS = f.Shape, f.PrimaryKey, f.MaxTS
	for _, c := range f.Shape {
		s.col(c)
	}
	for _, c := range f.PrimaryKey {
		s.col(c)
	}
	if s.shapeAt, _, err = parsePlace(f.ShapeAt); err != nil {
		return manifestState{}, err
	}
	if s.pkAt, _, err = parsePlace(f.PKAt); err != nil {
		return manifestState{}, err
	}
	if s.cleared, _, err = parsePlace(f.ClearedAt); err != nil {
		return manifestState{}, err
	}
	if s.maxAt, s.maxSID, err = parsePlace(f.Position); err != nil {
		return manifestState{}, err
	}
	if s.lakeAt, s.lakeSID, err = parsePlace(f.LakePosition); err != nil {
		return manifestState{}, err
	}
	for name, h := range f.Hints {
		t, ok := parseColType(h)
		if !ok {
			return manifestState{}, fmt.Errorf("column %s: type hint %q", name, h)
		}
		s.hints[name] = t
	}
	for _, name := range f.Untyped {
		s.untyped[name] = true
	}
	for name, d := range f.Fractions {
		s.fracs[name] = d
	}
	s.tombFile, s.tombCount = f.TombstoneFile, f.TombstoneCount
	for _, t := range f.Tombstones {
		at, _, err := parsePlace(t.At)
		if err != nil {
			return manifestState{}, err
		}
		s.tombs[t.Key] = tomb{at: at, ts: t.TS}
	}
	return f.Manifests, nil
}
