package compact

import (
	"strconv"
	"strings"
	"time"
)

// Temporal columns. A column declared DATE, DATETIME, TIMESTAMP or TIME
// (as a CREATE TABLE or ALTER TABLE in the lake declares it) is an
// Iceberg date, timestamp (µs, no zone), timestamptz (µs, UTC: sluice
// writes TIMESTAMP values in UTC) or time (µs). The type follows the
// declaration alone, so it is the same from run to run; a value the type
// cannot hold is written as NULL and counted in the run's report (NULLED):
// zero dates (0000-00-00, a zero month or day), invalid dates, and TIME
// values outside 00:00:00–23:59:59.999999 (MariaDB's TIME spans
// -838:59:59 to 838:59:59).

// Microseconds in a day, and the epoch's day in Go's reckoning.
const usPerDay = int64(24 * time.Hour / time.Microsecond)

// parseDate parses "YYYY-MM-DD"; ok is false for zero and invalid dates.
func parseDate(s string) (t time.Time, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, e1 := strconv.Atoi(s[:4])
	m, e2 := strconv.Atoi(s[5:7])
	d, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil || m < 1 || m > 12 || d < 1 || d > 31 || !allDigits(s[:4]+s[5:7]+s[8:10]) {
		return time.Time{}, false
	}
	t = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 2024-02-30
		return time.Time{}, false
	}
	return t, true
}

// dateDays is a DATE value as days since 1970-01-01.
func dateDays(v any) (int32, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	t, ok := parseDate(s)
	if !ok {
		return 0, false
	}
	return int32(t.Unix() / 86400), true
}

// dateTimeMicros is a DATETIME or TIMESTAMP value ("YYYY-MM-DD
// HH:MM:SS[.ffffff]", UTC for a TIMESTAMP) as µs since the epoch.
func dateTimeMicros(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok || len(s) < 19 || (s[10] != ' ' && s[10] != 'T') {
		return 0, false
	}
	day, ok := parseDate(s[:10])
	if !ok {
		return 0, false
	}
	us, ok := clockMicros(s[11:])
	if !ok || us >= usPerDay {
		return 0, false
	}
	return day.Unix()*1_000_000 + us, true
}

// timeMicros is a TIME value as µs since midnight; ok is false for
// values outside a day.
func timeMicros(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	us, ok := clockMicros(s)
	if !ok || us >= usPerDay {
		return 0, false
	}
	return us, true
}

// clockMicros parses "H+:MM:SS[.f{1,6}]" (no sign) as µs.
func clockMicros(s string) (int64, bool) {
	clock, frac, hasFrac := strings.Cut(s, ".")
	parts := strings.Split(clock, ":")
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[1]) != 2 || len(parts[2]) != 2 || !allDigits(parts[0]+parts[1]+parts[2]) {
		return 0, false
	}
	if hasFrac && (len(frac) == 0 || len(frac) > 6 || !allDigits(frac)) {
		return 0, false
	}
	h, _ := strconv.ParseInt(parts[0], 10, 64)
	m, _ := strconv.ParseInt(parts[1], 10, 64)
	sec, _ := strconv.ParseInt(parts[2], 10, 64)
	if len(parts[0]) > 4 || m > 59 || sec > 59 {
		return 0, false
	}
	var f int64
	if hasFrac {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return ((h*60+m)*60+sec)*1_000_000 + f, true
}

// Values read back from a snapshot are rendered in sluice's text forms,
// with the column's declared fraction digits (kept in the table's state:
// the Iceberg type has none), or, when they are unknown (digits < 0),
// without the fraction's trailing zeros.

func formatDate(days int32) string {
	return time.Unix(int64(days)*86400, 0).UTC().Format("2006-01-02")
}

func formatDateTime(us int64, digits int) string {
	t := time.UnixMicro(us).UTC()
	return t.Format("2006-01-02 ") + formatClock(int64(t.Hour()*3600+t.Minute()*60+t.Second())*1_000_000+int64(t.Nanosecond()/1000), digits)
}

func formatClock(us int64, digits int) string {
	sec := us / 1_000_000
	s := strconv.AppendInt(nil, sec/3600, 10)
	if len(s) < 2 {
		s = append([]byte{'0'}, s...)
	}
	s = append(s, ':', byte('0'+sec/60%60/10), byte('0'+sec/60%60%10), ':', byte('0'+sec%60/10), byte('0'+sec%60%10))
	fs := strconv.FormatInt(us%1_000_000+1_000_000, 10)[1:]
	switch {
	case digits > 0:
		s = append(append(s, '.'), fs[:min(digits, 6)]...)
	case digits < 0 && us%1_000_000 != 0:
		s = append(append(s, '.'), strings.TrimRight(fs, "0")...)
	}
	return string(s)
}

// isTemporal reports the temporal kinds.
func (k typeKind) isTemporal() bool {
	return k == typeDate || k == typeTimestamp || k == typeTimestampTz || k == typeTime
}
