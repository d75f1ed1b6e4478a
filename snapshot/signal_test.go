package snapshot

import (
	"reflect"
	"strings"
	"testing"
)

func TestExecuteSnapshot(t *testing.T) {
	for _, tt := range []struct {
		data    string
		want    []string
		wantErr string
	}{
		{`{"data-collections": ["db.t"], "type": "incremental"}`, []string{"db.t"}, ""},
		{`{"data-collections": ["db.t", "db.u"], "type": "INCREMENTAL"}`, []string{"db.t", "db.u"}, ""},
		{`{"data-collections": ["db.t"]}`, []string{"db.t"}, ""},
		{`{"data-collections": ["db.t"], "type": "blocking"}`, nil, "incremental snapshots only"},
		{`{"data-collections": ["db.t"], "additional-condition": "color=blue"}`, nil, "additional conditions"},
		{`{"data-collections": ["db.*"]}`, nil, "patterns are not supported"},
		{`{"data-collections": ["t"]}`, nil, "want DATABASE.TABLE"},
		{`{"data-collections": []}`, nil, "names no data-collections"},
		{`not json`, nil, "execute-snapshot data"},
	} {
		got, err := ExecuteSnapshot(tt.data)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.data, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.data, got, err, tt.want)
		}
	}
}

func TestReadSignalDebeziumRow(t *testing.T) {
	sig, ok := ReadSignal([]string{"id", "pipeline", "kind", "type", "data", "ts"},
		[]any{"ad-hoc-1", "", "", "execute-snapshot", `{"data-collections":["db.t"]}`, "2026-01-01 00:00:00.000000"})
	if !ok || sig.Kind != KindExecuteSnapshot || sig.Pipeline != "" || sig.Data != `{"data-collections":["db.t"]}` {
		t.Errorf("ReadSignal: %+v, %v", sig, ok)
	}
	sig, ok = ReadSignal([]string{"id", "pipeline", "kind", "data"}, []any{"x", "p", KindLow, "w"})
	if !ok || sig != (Signal{Pipeline: "p", Kind: KindLow, Data: "w"}) {
		t.Errorf("ReadSignal of a watermark: %+v, %v", sig, ok)
	}
}

func TestInlineArgs(t *testing.T) {
	q, ok := inlineArgs(" (a, b) VALUES (?, ?)", []any{"main:watermark", "0b5e7c1a-2f44-4f6e-9a59-3c1d2e4f5a6b"})
	if !ok || q != " (a, b) VALUES ('main:watermark', '0b5e7c1a-2f44-4f6e-9a59-3c1d2e4f5a6b')" {
		t.Fatalf("plain values: %q, %v", q, ok)
	}
	for _, args := range [][]any{
		{"it's", "x"}, {`back\slash`, "x"}, {"x", "semi;colon"}, {"x", "é"}, {"x", 1}, // need escaping, or not text
		{"x"}, {"x", "y", "z"}, // not one per placeholder
	} {
		if q, ok := inlineArgs(" (a, b) VALUES (?, ?)", args); ok {
			t.Errorf("%q inlined as %q: want the prepared statement", args, q)
		}
	}
}
