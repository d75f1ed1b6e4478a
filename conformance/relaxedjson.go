// Package conformance checks sluice's output against external suites of
// expected events, such as Maxwell's own SQL → JSON fixtures. The suites
// themselves live outside the repository; the tests here find, parse and
// run them.
package conformance

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// ParseRelaxedJSON parses one JSON value written in the relaxed syntax of
// Maxwell's fixtures: standard JSON, except that an object key may be a bare
// identifier (letters, digits, '_' and '$', not starting with a digit), as
// Jackson's ALLOW_UNQUOTED_FIELD_NAMES reads it. Objects become
// map[string]any, arrays []any, numbers json.Number (kept as written), and
// strings, booleans and null their Go values.
func ParseRelaxedJSON(s string) (any, error) {
	p := relaxedParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, p.errorf("unexpected %q after the value", p.s[p.i])
	}
	return v, nil
}

type relaxedParser struct {
	s string
	i int
}

func (p *relaxedParser) errorf(format string, args ...any) error {
	return fmt.Errorf("relaxed JSON at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *relaxedParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *relaxedParser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range []struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.s[p.i:], lit.word) && !identChar(p.at(p.i+len(lit.word))) {
			p.i += len(lit.word)
			return lit.v, nil
		}
	}
	return nil, p.errorf("unexpected %q", p.s[p.i])
}

func (p *relaxedParser) at(i int) byte {
	if i < len(p.s) {
		return p.s[i]
	}
	return 0
}

func (p *relaxedParser) object() (any, error) {
	p.i++ // {
	m := map[string]any{}
	p.space()
	if p.at(p.i) == '}' {
		p.i++
		return m, nil
	}
	for {
		p.space()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, p.errorf("duplicate key %q", key)
		}
		p.space()
		if p.at(p.i) != ':' {
			return nil, p.errorf("want ':' after key %q", key)
		}
		p.i++
		if m[key], err = p.value(); err != nil {
			return nil, err
		}
		p.space()
		switch p.at(p.i) {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, nil
		default:
			return nil, p.errorf("want ',' or '}' in object")
		}
	}
}

func (p *relaxedParser) key() (string, error) {
	if p.at(p.i) == '"' {
		return p.str()
	}
	start := p.i
	for identChar(p.at(p.i)) {
		p.i++
	}
	if p.i == start || p.s[start] >= '0' && p.s[start] <= '9' {
		p.i = start
		return "", p.errorf("want a key")
	}
	return p.s[start:p.i], nil
}

func identChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}

func (p *relaxedParser) array() (any, error) {
	p.i++ // [
	a := []any{}
	p.space()
	if p.at(p.i) == ']' {
		p.i++
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.space()
		switch p.at(p.i) {
		case ',':
			p.i++
		case ']':
			p.i++
			return a, nil
		default:
			return nil, p.errorf("want ',' or ']' in array")
		}
	}
}

// str reads a standard JSON string; encoding/json decodes its escapes.
func (p *relaxedParser) str() (string, error) {
	start := p.i
	p.i++ // "
	for p.i < len(p.s) && p.s[p.i] != '"' {
		if p.s[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	if p.i >= len(p.s) {
		p.i = start
		return "", p.errorf("unterminated string")
	}
	p.i++
	var s string
	if err := json.Unmarshal([]byte(p.s[start:p.i]), &s); err != nil {
		p.i = start
		return "", p.errorf("string: %v", err)
	}
	return s, nil
}

// number reads a standard JSON number.
func (p *relaxedParser) number() (any, error) {
	start := p.i
	for p.i < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[p.i]) >= 0 {
		p.i++
	}
	n := p.s[start:p.i]
	if !json.Valid([]byte(n)) {
		p.i = start
		return nil, p.errorf("bad number %q", n)
	}
	return json.Number(n), nil
}

// EqualJSON reports whether two decoded JSON values are equal: objects with
// the same keys and equal values, arrays of equal elements in the same
// order, and numbers of the same value however written (1.5 = 1.50 = 15e-1,
// and 18446744073709551615 is exact), as Maxwell's runner compares them.
// Numbers may be json.Number or float64.
func EqualJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !EqualJSON(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !EqualJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number, float64:
		xr, ok1 := numberValue(x)
		yr, ok2 := numberValue(b)
		return ok1 && ok2 && xr.Cmp(yr) == 0
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return false
}

func numberValue(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case json.Number:
		return new(big.Rat).SetString(string(x))
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(x) == nil {
			return nil, false
		}
		return r, true
	}
	return nil, false
}
