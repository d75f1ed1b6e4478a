package compact

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// An ordered rewrite is a sorted rewrite of a run that changes the
// table's schema (ALTER TABLE, CREATE TABLE after rows) or its primary
// key, with memory bounded the same way:
//
//   - The run's changes go through a first external sort, by binlog place,
//     and are replayed from it in binlog order, as the in-memory path
//     applies them: the shape, the columns' indexes (renames), the types
//     declared and the primary key change at the same points.
//   - Row changes go into the sort by key with their values by the
//     columns' indexes at their place, so a rename moves their values
//     with the column.
//   - An ALTER's effect on the rows written before it is not applied to
//     them (they are not in memory): a column added with a default is
//     recorded as a fill (column index, value, place) and given to every
//     row written before that place as the merge writes it out. Renamed
//     and dropped columns need nothing: a rename renames an index, a drop
//     leaves the shape.
//   - A change of primary key re-keys what the sort holds at its place:
//     the latest version of each key is read back, filled, keyed by the
//     new key's values and added to a new sort (spilling beyond the
//     budget as any sort); the old key's tombstones are dropped, as the
//     in-memory path drops them.

// fillOp gives column idx the value def in the rows written before at
// (an ALTER TABLE ... ADD COLUMN ... DEFAULT).
type fillOp struct {
	idx int
	def any
	at  place
}

// applyFills gives a row written at at the defaults of the columns added
// after it, in binlog order, as fill does for rows in memory.
func (s *tableState) applyFills(vals []any, at place) []any {
	for _, f := range s.fills {
		if at.compare(f.at) >= 0 {
			continue
		}
		if f.idx >= len(vals) {
			if f.def == nil {
				continue
			}
			vals = append(vals, make([]any, f.idx+1-len(vals))...)
		}
		vals[f.idx] = f.def
	}
	return vals
}

// orderedRewrite compacts tg copy-on-write through the external sort,
// replaying the run's changes in binlog order. feed hands every change of
// the run to add.
func (c *Compactor) orderedRewrite(ctx context.Context, tg *target, tr *TableReport, feed func(add func(*change) error) error, next manifestState) error {
	st := tg.st
	buffer, _ := c.cfg.sortBudgets()
	byPlace := newSorter(c.cfg.TempDir, buffer)
	defer func() {
		if err := byPlace.close(); err != nil {
			c.log.Warn("sorted runs not removed", "err", err)
		}
	}()
	events := 0
	var scratch []byte
	err := feed(func(ch *change) error {
		events++
		scratch = appendChange(scratch[:0], ch)
		return byPlace.add(version{at: ch.place, sid: ch.serverID, ts: ch.ts, vals: slices.Clone(scratch)})
	})
	if err != nil {
		return err
	}
	tr.Events = events
	if events == 0 {
		return errNotSorted{whyNoChange}
	}
	w := newRewriteRun(st, newSorter(c.cfg.TempDir, buffer))
	defer func() {
		if err := w.srt.close(); err != nil {
			c.log.Warn("sorted runs not removed", "err", err)
		}
	}()
	st.recordFills, st.fills = true, nil
	st.hasRows = tg.tbl != nil && rowCount(tg.tbl) > 0
	if err := w.addTable(ctx, tg.tbl); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	var prev place
	first := true
	err = byPlace.each(func(v version) error {
		ch, err := decodeChange(v)
		if err != nil {
			return fmt.Errorf("sorted changes: %w", err)
		}
		if !first && prev == ch.place {
			st.stats.Duplicates++
			return nil
		}
		first, prev = false, ch.place
		if err := w.replay(ch); err != nil {
			return fmt.Errorf("%s: apply %s event %s: %w", st.name(), ch.typ, ch.dedupe, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range st.fills {
		if f.def != nil {
			w.stat(f.idx).add(f.def)
		}
	}
	w.setValStats()
	w.spilled += byPlace.spilled
	return c.writeRewrite(ctx, tg, tr, w, next, nil)
}

// replay applies one change of an ordered rewrite, in binlog order.
func (w *rewriteRun) replay(c *change) error {
	st := w.st
	if c.kind != kindUpsert && c.kind != kindDelete {
		if c.kind == kindClear && c.place.compare(st.cleared) > 0 {
			st.hasRows = false
		}
		return st.apply(c)
	}
	if c.place.compare(st.maxAt) > 0 {
		st.maxAt, st.maxSID = c.place, c.serverID
	}
	st.maxTS = max(st.maxTS, c.ts)
	if len(c.pk) == 0 {
		return errNoPrimaryKey
	}
	st.dropFiltered(c)
	if c.place.compare(st.shapeAt) > 0 && len(c.cols) > 0 {
		st.shape, st.shapeAt = c.cols, c.place
	}
	if !slices.Equal(c.pk, st.pk) && c.place.compare(st.pkAt) > 0 {
		if err := w.rekey(c.pk); err != nil {
			return err
		}
	}
	if c.place.compare(st.pkAt) > 0 {
		st.pkAt = c.place
	}
	if c.kind == kindUpsert && c.place.compare(st.cleared) > 0 {
		st.hasRows = true
	}
	return w.addVersions(c)
}

// rekey re-keys what the sort holds by a new primary key: the latest row
// of each key, with the defaults filled in so far, under the new key's
// values (the newest row wins when two meet). Deleted keys are forgotten.
func (w *rewriteRun) rekey(pk []string) error {
	st := w.st
	st.pk = slices.Clone(pk)
	idx := make([]int, len(pk))
	for i, name := range pk {
		idx[i] = st.col(name)
	}
	old := w.srt
	srt := newSorter(old.dir, old.budget)
	key := make([]any, len(pk))
	err := old.groups(func(vs []version) error {
		last := w.latest(vs)
		if last == nil || last.del {
			return nil
		}
		vals, err := decodeValues(last.vals)
		if err != nil {
			return fmt.Errorf("sorted run: %w", err)
		}
		vals = st.applyFills(vals, last.at)
		for i, ci := range idx {
			key[i] = nil
			if ci < len(vals) {
				key[i] = vals[ci]
			}
		}
		return srt.add(version{key: keyOf(key), at: last.at, sid: last.sid, ts: last.ts, old: true, vals: encodeValues(nil, vals)})
	})
	w.spilled += old.spilled
	if cerr := old.close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		_ = srt.close()
		return err
	}
	w.srt = srt
	return nil
}

// Change encoding for the sort by place: the version carries the place,
// server id and timestamp; vals the rest.

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// appendChange appends c's fields but its place, server id and time.
func appendChange(dst []byte, c *change) []byte {
	dst = append(dst, byte(c.kind))
	for _, s := range []string{c.typ, c.database, c.table, c.dedupe, c.renamedFrom, c.sql} {
		dst = appendString(dst, s)
	}
	dst = appendStrings(dst, c.pk)
	dst = appendBytes(dst, encodeValues(nil, c.key))
	dst = appendStrings(dst, c.cols)
	dst = appendBytes(dst, encodeValues(nil, c.vals))
	if c.old == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	names := make([]string, 0, len(c.old))
	vals := make([]any, 0, len(c.old))
	for name, v := range c.old {
		names, vals = append(names, name), append(vals, v)
	}
	dst = appendStrings(dst, names)
	return appendBytes(dst, encodeValues(nil, vals))
}

func (d *decoder) strings() []string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errors.New("bad list")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = string(d.bytes())
	}
	return out
}

func (d *decoder) values() []any {
	b := d.bytes()
	if d.err != nil {
		return nil
	}
	vals, err := decodeValues(b)
	if err != nil {
		d.err = err
	}
	if len(vals) == 0 {
		return nil
	}
	return vals
}

// decodeChange decodes a change appendChange encoded into v.
func decodeChange(v version) (*change, error) {
	if len(v.vals) == 0 {
		return nil, errors.New("empty change")
	}
	c := &change{kind: changeKind(v.vals[0]), place: v.at, serverID: v.sid, ts: v.ts}
	d := decoder{b: v.vals[1:]}
	for _, s := range []*string{&c.typ, &c.database, &c.table, &c.dedupe, &c.renamedFrom, &c.sql} {
		*s = string(d.bytes())
	}
	c.pk = d.strings()
	c.key = d.values()
	c.cols = d.strings()
	c.vals = d.values()
	if d.err == nil && len(d.b) > 0 && d.b[0] == 1 {
		d.b = d.b[1:]
		names := d.strings()
		vals := d.values()
		if d.err == nil && len(names) != len(vals) {
			d.err = errors.New("bad old values")
		}
		c.old = make(map[string]any, len(names))
		for i, name := range names {
			if i < len(vals) {
				c.old[name] = vals[i]
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}
