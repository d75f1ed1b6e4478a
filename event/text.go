package event

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/sluicecdc/sluice/schema"
)

// ColumnText renders a column's decoded values as text: what the Maxwell
// encoding shows, without the quotes and escapes of a JSON string. A
// binlog row and a snapshot row of the same value give the same text.
type ColumnText struct{ cc columnCodec }

// NewColumnText returns the text renderer of c.
func NewColumnText(c *schema.Column) (*ColumnText, error) {
	cc, err := newColumnCodec(c)
	if err != nil {
		return nil, err
	}
	return &ColumnText{cc: cc}, nil
}

// Append appends v's text to dst.
func (t *ColumnText) Append(dst []byte, v any) ([]byte, error) {
	if s, ok := v.(string); ok && t.cc.kind == kindText && t.cc.decode == nil && utf8.ValidString(s) {
		return append(dst, s...), nil // UTF-8 text shows as itself
	}
	enc, _, err := t.cc.appendValue(nil, v, nil)
	if err != nil {
		return dst, err
	}
	if len(enc) > 0 && enc[0] == '"' {
		var s string
		if err := json.Unmarshal(enc, &s); err != nil {
			return dst, fmt.Errorf("column %s: %w", t.cc.col.Name, err)
		}
		return append(dst, s...), nil
	}
	return append(dst, enc...), nil
}
