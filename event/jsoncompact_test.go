package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// compactCases are JSON texts, valid and not, that compactJSON must treat
// as encoding/json.Compact does.
var compactCases = []string{
	``, ` `, `null`, ` true `, `false`, `nul`, `truex`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`,
	`-12.50e3`, `1 2`, `"a"`, `"a`, `"\u00e9\n\"\\\/\b\f\r\t"`, `"\x"`, `"\u12g4"`, `"\u123"`, "\"tab\there\"", "\"nl\nhere\"",
	"\"caf\xc3\xa9 \xff\"", `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2`, `{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b" : [ true , null ] }`,
	`{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":[}`, `[{]`, `[}`, `{]`, "{\r\n\t\"k\": \"v w\",\n  \"n\": -1.25E-2\n}",
	`{"k":[1,{"x":"y"},[],{}],"s":"{ [ , : ] }"}`, `[1]]`, `{"a":1}}`, `"\ud800"`, "\"\x7f\"", "\x00", `[-]`, `[--1]`, `[1.e1]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat("}", 10000), strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat("}", 10001),
}

func checkCompact(t *testing.T, text string) {
	t.Helper()
	var want bytes.Buffer
	err := json.Compact(&want, []byte(text))
	got, ok := compactJSON([]byte("pre"), []byte(text))
	if ok != (err == nil) {
		t.Fatalf("%.80q: valid %v, encoding/json says %v", text, ok, err)
	}
	if !ok {
		if string(got) != "pre" {
			t.Fatalf("%.80q: invalid, but dst became %.80q", text, got)
		}
		return
	}
	if string(got) != "pre"+want.String() {
		t.Fatalf("%.80q: compacted to %.80q, encoding/json to %.80q", text, got[3:], want.String())
	}
}

func TestCompactJSONAsEncodingJSON(t *testing.T) {
	for _, c := range compactCases {
		checkCompact(t, c)
	}
}

// FuzzCompactJSON: compactJSON's verdict and output are encoding/json.Compact's.
func FuzzCompactJSON(f *testing.F) {
	for _, c := range compactCases {
		if len(c) < 1000 {
			f.Add(c)
		}
	}
	f.Fuzz(func(t *testing.T, text string) { checkCompact(t, text) })
}

func BenchmarkCompactJSON(b *testing.B) {
	text := []byte("{\"id\": 12345, \"name\": \"some name here\", \"tags\": [\"a\", \"b\", \"c\"], \"nested\": {\"x\": 1.5, \"y\": null, \"z\": true}}")
	dst := make([]byte, 0, 256)
	b.Run("compactJSON", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			dst, _ = compactJSON(dst[:0], text)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			buf := bytes.NewBuffer(dst[:0])
			_ = json.Compact(buf, text)
			dst = buf.Bytes()
		}
	})
}
