package emit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/event"
)

// DefaultS3Layout is the Hive-style partition path of the S3 sink: one
// directory per table and commit hour, in UTC.
const DefaultS3Layout = "{database}/{table}/dt={year}-{month}-{day}/hr={hour}"

// s3Layout is a parsed partition layout: literal text and tokens.
//
// Tokens: {database} and {table} (with '%' and '/' escaped as %25 and %2F),
// and {year} {month} {day} {hour} of the event's commit time in UTC, zero
// padded to 4, 2, 2 and 2 digits. The finest time token is the layout's
// grain: a partition holds the events committed in one such period.
type s3Layout struct {
	parts []layoutPart
	grain grain
}

type layoutPart struct {
	lit string
	tok layoutToken
}

type layoutToken uint8

const (
	tokLiteral layoutToken = iota
	tokDatabase
	tokTable
	tokYear
	tokMonth
	tokDay
	tokHour
)

var layoutTokens = map[string]layoutToken{
	"database": tokDatabase, "table": tokTable,
	"year": tokYear, "month": tokMonth, "day": tokDay, "hour": tokHour,
}

// grain is how much commit time one partition spans.
type grain uint8

const (
	grainNone grain = iota // the layout has no time token
	grainYear
	grainMonth
	grainDay
	grainHour
)

func parseLayout(s string) (*s3Layout, error) {
	if s == "" {
		return nil, fmt.Errorf("layout is empty: want e.g. %q", DefaultS3Layout)
	}
	if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
		return nil, fmt.Errorf("layout %q: no leading, trailing or doubled '/'", s)
	}
	l := &s3Layout{}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			l.parts = append(l.parts, layoutPart{lit: rest})
			break
		}
		if i > 0 {
			l.parts = append(l.parts, layoutPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("layout %q: unclosed '{'", s)
		}
		name := rest[i+1 : i+j]
		tok, ok := layoutTokens[name]
		if !ok {
			return nil, fmt.Errorf("layout %q: unknown token {%s}: want {database} {table} {year} {month} {day} {hour}", s, name)
		}
		l.parts = append(l.parts, layoutPart{tok: tok})
		switch tok {
		case tokYear:
			l.grain = max(l.grain, grainYear)
		case tokMonth:
			l.grain = max(l.grain, grainMonth)
		case tokDay:
			l.grain = max(l.grain, grainDay)
		case tokHour:
			l.grain = max(l.grain, grainHour)
		}
		rest = rest[i+j+1:]
	}
	return l, nil
}

// unit numbers the partition period holding commit time ts: equal units
// render to equal paths for one table.
func (l *s3Layout) unit(ts uint32) int64 {
	switch l.grain {
	case grainHour:
		return int64(ts) / 3600
	case grainDay:
		return int64(ts) / 86400
	case grainMonth:
		y, m, _ := time.Unix(int64(ts), 0).UTC().Date()
		return int64(y)*12 + int64(m)
	case grainYear:
		return int64(time.Unix(int64(ts), 0).UTC().Year())
	}
	return 0
}

// floor returns the start of the partition period holding t: every
// partition before it ends at or before t.
func (l *s3Layout) floor(t time.Time) time.Time {
	t = t.UTC()
	switch l.grain {
	case grainHour:
		return t.Truncate(time.Hour)
	case grainDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case grainMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case grainYear:
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// render appends the partition path of an event of database.table
// committed at ts, without a trailing '/'.
func (l *s3Layout) render(dst []byte, database, table string, ts uint32) []byte {
	t := time.Unix(int64(ts), 0).UTC()
	for _, p := range l.parts {
		switch p.tok {
		case tokLiteral:
			dst = append(dst, p.lit...)
		case tokDatabase:
			dst = appendKeySegment(dst, database)
		case tokTable:
			dst = appendKeySegment(dst, table)
		case tokYear:
			dst = appendPadded(dst, uint64(t.Year()), 4)
		case tokMonth:
			dst = appendPadded(dst, uint64(t.Month()), 2)
		case tokDay:
			dst = appendPadded(dst, uint64(t.Day()), 2)
		case tokHour:
			dst = appendPadded(dst, uint64(t.Hour()), 2)
		}
	}
	return dst
}

// appendKeySegment appends s with '%' and '/' escaped, so a name is one
// path segment and unescapes the way Hive-style readers expect.
func appendKeySegment(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, "%/") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			dst = append(dst, "%25"...)
		case '/':
			dst = append(dst, "%2F"...)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

// appendPadded appends n in decimal, zero padded to width digits.
func appendPadded(dst []byte, n uint64, width int) []byte {
	var buf [20]byte
	d := strconv.AppendUint(buf[:0], n, 10)
	for i := len(d); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// rowPlace is where a row sits in the binlog: its dedupe key, and the
// source generation, which orders places of different servers.
type rowPlace struct {
	pos      event.Position
	index    int
	serverID uint32
	gen      uint32
}

func (p rowPlace) compare(o rowPlace) int {
	switch {
	case p.gen < o.gen:
		return -1
	case p.gen > o.gen:
		return 1
	}
	if c := p.pos.Compare(o.pos); c != 0 {
		return c
	}
	return p.index - o.index
}

// dedupeKey is the place as events carry it: "server_id:file:offset:row".
func (p rowPlace) dedupeKey() string {
	return string(event.AppendDedupeKey(nil, p.serverID, p.pos, p.index))
}

// Widths of the numbers in object names, so names sort in binlog order.
// The row index counts rows across a whole rows event, or across a whole
// transaction when its events sit in one compressed transaction payload
// (MySQL binlog_transaction_compression): hence 10 digits.
const (
	nameOffsetWidth = 12
	nameRowWidth    = 10
)

// appendName appends "<file>-<offset>-<row>" with fixed-width numbers.
func (p rowPlace) appendName(dst []byte) []byte {
	dst = appendKeySegment(dst, p.pos.File)
	dst = append(dst, '-')
	dst = appendPadded(dst, p.pos.Offset, nameOffsetWidth)
	dst = append(dst, '-')
	return appendPadded(dst, uint64(p.index), nameRowWidth)
}
