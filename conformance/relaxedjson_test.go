package conformance

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseRelaxedJSON(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`{}`, map[string]any{}},
		{`[]`, []any{}},
		{`{database:"d", "table": "t", $x_1: null}`, map[string]any{"database": "d", "table": "t", "$x_1": nil}},
		{` { a : [1, -2.5e3, true, false, null, "q\"\\\u00e9"] } `, map[string]any{"a": []any{json.Number("1"), json.Number("-2.5e3"), true, false, nil, "q\"\\é"}}},
		{`{n: 18446744073709551615}`, map[string]any{"n": json.Number("18446744073709551615")}},
		{`{"nested": {inner: {deep: []}}}`, map[string]any{"nested": map[string]any{"inner": map[string]any{"deep": []any{}}}}},
		{`"圖形碼"`, "圖形碼"},
	}
	for _, tt := range tests {
		got, err := ParseRelaxedJSON(tt.in)
		if err != nil {
			t.Errorf("ParseRelaxedJSON(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRelaxedJSON(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseRelaxedJSONErrors(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{a}`, `{a:}`, `{1a: 1}`, `{a: 1,}`, `[1,]`, `{a: 1} x`, `{a: 1, a: 2}`,
		`{a: 'single'}`, `{a: 01}`, `{a: 1.}`, `{a: "unterminated}`, `{a: nul}`, `{a: truex}`,
	} {
		if v, err := ParseRelaxedJSON(in); err == nil {
			t.Errorf("ParseRelaxedJSON(%s) = %#v, want an error", in, v)
		}
	}
}

func TestEqualJSON(t *testing.T) {
	parse := func(s string) any {
		t.Helper()
		v, err := ParseRelaxedJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{`{a: 1.5}`, `{"a": 1.50}`, true},
		{`{a: 15e-1}`, `{"a": 1.5}`, true},
		{`{a: 1}`, `{"a": 1.0}`, true},
		{`{a: 18446744073709551615}`, `{"a": 18446744073709551614}`, false},
		{`{a: 1}`, `{"a": "1"}`, false},
		{`{a: null}`, `{}`, false},
		{`{a: [1, 2]}`, `{"a": [2, 1]}`, false},
		{`{a: {b: [true, null, "x"]}}`, `{"a": {"b": [true, null, "x"]}}`, true},
		{`{a: 1}`, `{"a": 1, "b": 2}`, false},
	}
	for _, tt := range tests {
		if got := EqualJSON(parse(tt.a), parse(tt.b)); got != tt.want {
			t.Errorf("EqualJSON(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if !EqualJSON(json.Number("0.5"), 0.5) {
		t.Error("json.Number 0.5 and float64 0.5 differ")
	}
}

func TestParseMaxwellFixture(t *testing.T) {
	const text = `create database d
use d

CREATE TABLE tt ( t time(6),
    dt datetime(6) );
# a comment, not a statement
insert into tt values (0, 0);
-> { "database": "d", "table": "tt",
     "data": {
        t: "00:00:00.000000",
        "dt": "0000-00-00 00:00:00.000000"
    } }
  -> {database: "d", table: "tt", type: "insert", data: {}}
update tt set t = 1
`
	fx, err := ParseMaxwellFixture(text)
	if err != nil {
		t.Fatal(err)
	}
	wantStmts := []string{
		"create database d",
		"use d",
		"CREATE TABLE tt ( t time(6), dt datetime(6) );",
		"insert into tt values (0, 0);",
		"update tt set t = 1",
	}
	if !reflect.DeepEqual(fx.Statements, wantStmts) {
		t.Errorf("statements:\n got %q\nwant %q", fx.Statements, wantStmts)
	}
	if len(fx.Expected) != 2 {
		t.Fatalf("got %d expected events, want 2: %q", len(fx.Expected), fx.ExpectedText)
	}
	data, _ := fx.Expected[0]["data"].(map[string]any)
	if data["t"] != "00:00:00.000000" || data["dt"] != "0000-00-00 00:00:00.000000" {
		t.Errorf("first expected event: %#v", fx.Expected[0])
	}
	if !strings.HasPrefix(fx.ExpectedText[1], "{database:") {
		t.Errorf("second expected event text %q", fx.ExpectedText[1])
	}
	emitted := []map[string]any{
		{"database": "d", "table": "tt", "type": "insert", "data": map[string]any{}},
	}
	if got := MatchEvents(fx.Expected, emitted); !reflect.DeepEqual(got, []bool{false, true}) {
		t.Errorf("MatchEvents = %v, want [false true]", got)
	}
}
