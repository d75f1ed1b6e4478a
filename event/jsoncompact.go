package event

// compactJSON appends text to dst without the white space between its
// tokens, as encoding/json's Compact does, byte for byte, and reports
// whether text is one valid JSON value (Compact's validation, nesting
// limit included); dst's length is unchanged when it is not. One pass over
// the bytes, tokens copied whole: Compact's scanner takes a function call
// per byte.
func compactJSON(dst, text []byte) ([]byte, bool) {
	orig := len(dst)
	// stack holds the open containers: '{' or '['.
	var stackBuf [32]byte
	stack := stackBuf[:0]
	i, n := 0, len(text)
	fail := func() ([]byte, bool) { return dst[:orig], false }
value:
	for i < n && isJSONSpace(text[i]) {
		i++
	}
	if i == n {
		return fail()
	}
	switch c := text[i]; c {
	case '{', '[':
		if len(stack) == maxJSONDepth {
			return fail()
		}
		stack = append(stack, c)
		dst = append(dst, c)
		i++
		for i < n && isJSONSpace(text[i]) {
			i++
		}
		if i == n {
			return fail()
		}
		if c == '[' {
			if text[i] == ']' {
				dst = append(dst, ']')
				i++
				stack = stack[:len(stack)-1]
				goto after
			}
			goto value
		}
		if text[i] == '}' {
			dst = append(dst, '}')
			i++
			stack = stack[:len(stack)-1]
			goto after
		}
		goto key
	case '"':
		end, ok := jsonStringEnd(text, i)
		if !ok {
			return fail()
		}
		dst = append(dst, text[i:end]...)
		i = end
	case 't':
		if !hasJSONWord(text[i:], "true") {
			return fail()
		}
		dst = append(dst, "true"...)
		i += 4
	case 'f':
		if !hasJSONWord(text[i:], "false") {
			return fail()
		}
		dst = append(dst, "false"...)
		i += 5
	case 'n':
		if !hasJSONWord(text[i:], "null") {
			return fail()
		}
		dst = append(dst, "null"...)
		i += 4
	default:
		end, ok := jsonNumberEnd(text, i)
		if !ok {
			return fail()
		}
		dst = append(dst, text[i:end]...)
		i = end
	}
after:
	for i < n && isJSONSpace(text[i]) {
		i++
	}
	if len(stack) == 0 {
		if i != n {
			return fail()
		}
		return dst, true
	}
	if i == n {
		return fail()
	}
	switch top, c := stack[len(stack)-1], text[i]; {
	case c == ',':
		dst = append(dst, ',')
		i++
		if top == '[' {
			goto value
		}
		for i < n && isJSONSpace(text[i]) {
			i++
		}
		goto key
	case top == '[' && c == ']' || top == '{' && c == '}':
		dst = append(dst, c)
		i++
		stack = stack[:len(stack)-1]
		goto after
	default:
		return fail()
	}
key:
	// at an object's key (white space before it skipped): "name" :
	if i == n || text[i] != '"' {
		return fail()
	}
	{
		end, ok := jsonStringEnd(text, i)
		if !ok {
			return fail()
		}
		dst = append(dst, text[i:end]...)
		i = end
	}
	for i < n && isJSONSpace(text[i]) {
		i++
	}
	if i == n || text[i] != ':' {
		return fail()
	}
	dst = append(dst, ':')
	i++
	goto value
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

func isJSONSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func hasJSONWord(b []byte, w string) bool { return len(b) >= len(w) && string(b[:len(w)]) == w }

// jsonStringEnd returns the index just past the string starting at
// text[i] ('"'), if it is a valid JSON string: no control characters,
// only JSON's escapes. Other bytes pass as they are, as with Compact.
func jsonStringEnd(text []byte, i int) (int, bool) {
	n := len(text)
	for i++; i < n; i++ {
		switch c := text[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i == n {
				return 0, false
			}
			switch text[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= n {
					return 0, false
				}
				for _, h := range text[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// jsonNumberEnd returns the index just past the number starting at
// text[i], if it is one: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumberEnd(text []byte, i int) (int, bool) {
	n := len(text)
	digits := func() bool {
		s := i
		for i < n && '0' <= text[i] && text[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < n && text[i] == '-' {
		i++
	}
	switch {
	case i < n && text[i] == '0':
		i++
	case i < n && '1' <= text[i] && text[i] <= '9':
		digits()
	default:
		return 0, false
	}
	if i < n && text[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < n && (text[i] == 'e' || text[i] == 'E') {
		i++
		if i < n && (text[i] == '+' || text[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}
