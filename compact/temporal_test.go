package compact

import "testing"

func TestTemporalTypes(t *testing.T) {
	tests := []struct {
		types []colType // declared or written, in order
		vals  []any
		want  string
	}{
		{[]colType{{kind: typeTimestamp}}, []any{"2024-01-02 03:04:05.123", nil, "0000-00-00 00:00:00"}, "timestamp"},
		{[]colType{{kind: typeTimestampTz}}, nil, "timestamptz"},
		{[]colType{{kind: typeDate}}, []any{"2024-01-02"}, "date"},
		{[]colType{{kind: typeTime}}, []any{"838:59:59"}, "time"},
		// A table written with a string column keeps it.
		{[]colType{{kind: typeString}, {kind: typeTimestamp}}, []any{"2024-01-02 03:04:05"}, "string"},
		// DATETIME → DATE: no Iceberg promotion, a string.
		{[]colType{{kind: typeTimestamp}, {kind: typeDate}}, []any{"2024-01-02"}, "string"},
		// Strings without a temporal declaration stay strings.
		{nil, []any{"2024-01-02"}, "string"},
		{[]colType{{kind: typeDate}}, []any{int64(5)}, "string"},
	}
	for _, tt := range tests {
		var s typeStats
		for _, ct := range tt.types {
			s.addType(ct)
		}
		for _, v := range tt.vals {
			s.add(v)
		}
		got := s.result()
		if got.String() != tt.want {
			t.Errorf("%v then %v: got %s, want %s", tt.types, tt.vals, got, tt.want)
		}
		if back, ok := parseColType(got.String()); !ok || back != got {
			t.Errorf("parseColType(%s) = %v, %v", got, back, ok)
		}
		if back, ok := colTypeOf(got.iceberg()); got.kind != typeNone && (!ok || back != got) {
			t.Errorf("colTypeOf(%s) = %v, %v", got.iceberg(), back, ok)
		}
	}
}

func TestTemporalValues(t *testing.T) {
	dates := map[string]bool{"2024-02-29": true, "1970-01-01": true, "0001-01-01": true,
		"0000-00-00": false, "2024-00-10": false, "2024-03-00": false, "2023-02-29": false, "24-01-01": false}
	for s, ok := range dates {
		d, got := dateDays(s)
		if got != ok {
			t.Errorf("dateDays(%q) ok = %v, want %v", s, got, ok)
		} else if ok && formatDate(d) != s {
			t.Errorf("date %q renders back as %q", s, formatDate(d))
		}
	}
	stamps := map[string]string{
		"2024-01-02 03:04:05":        "2024-01-02 03:04:05",
		"2024-01-02 03:04:05.120":    "2024-01-02 03:04:05.12",
		"1969-12-31 23:59:59.999999": "1969-12-31 23:59:59.999999",
		"2024-01-02 03:04:05.000000": "2024-01-02 03:04:05",
		"0000-00-00 00:00:00":        "",
		"2024-01-00 10:00:00":        "",
		"2024-01-02 24:00:00":        "",
		"2024-01-02":                 "",
	}
	for s, want := range stamps {
		us, ok := dateTimeMicros(s)
		if ok != (want != "") {
			t.Errorf("dateTimeMicros(%q) ok = %v", s, ok)
		} else if ok && formatDateTime(us, -1) != want {
			t.Errorf("%q renders back as %q, want %q", s, formatDateTime(us, -1), want)
		}
	}
	times := map[string]string{
		"00:00:00": "00:00:00", "23:59:59.999999": "23:59:59.999999", "12:30:00.500": "12:30:00.5",
		"24:00:00": "", "-00:00:01": "", "838:59:59": "", "-838:59:59": "", "1:2:3": "",
	}
	for s, want := range times {
		us, ok := timeMicros(s)
		if ok != (want != "") {
			t.Errorf("timeMicros(%q) ok = %v", s, ok)
		} else if ok && formatClock(us, -1) != want {
			t.Errorf("%q renders back as %q, want %q", s, formatClock(us, -1), want)
		}
	}
}

func TestTemporalDigits(t *testing.T) {
	if got := formatDateTime(1_550_000, 3); got != "1970-01-01 00:00:01.550" {
		t.Errorf("DATETIME(3) renders %q", got)
	}
	if got := formatClock(3_600_000_000, 2); got != "01:00:00.00" {
		t.Errorf("TIME(2) renders %q", got)
	}
	if got := formatClock(3_600_500_000, 0); got != "01:00:00" {
		t.Errorf("TIME(0) renders %q", got)
	}
	for _, s := range []string{"timestamp(3)", "timestamptz(6)", "time(2)", "timestamp"} {
		ct, ok := parseColType(s)
		if !ok || ct.String() != s {
			t.Errorf("parseColType(%q) = %v, %v", s, ct, ok)
		}
	}
	if _, ok := parseColType("timestamp(7)"); ok {
		t.Error("parseColType accepts timestamp(7)")
	}
}
