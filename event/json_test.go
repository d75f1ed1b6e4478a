package event

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// refAppendString is appendString one byte at a time, without the
// eight-byte fast path: the reference it must match.
func refAppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func TestAppendStringAsReference(t *testing.T) {
	// every special byte at every place of strings around the 8-byte blocks
	specials := []byte{0, 0x1f, 0x20, '"', '\\', '\n', 0x7f, 0x80, 0xc3, 0xff, '!', '#', '[', ']', '~'}
	for n := range 20 {
		for at := range n {
			for _, c := range specials {
				b := []byte(strings.Repeat("abcdefgh", 3)[:n])
				b[at] = c
				if got, want := appendString(nil, string(b)), refAppendString(nil, string(b)); string(got) != string(want) {
					t.Fatalf("%q: %q, want %q", b, got, want)
				}
			}
		}
	}
	for _, s := range []string{"", "café crème", "日本語のテキスト、かなり長い", "\xe6\x97", "tab\there and a \"quote\" and \\", strings.Repeat("x", 1000) + "\x01"} {
		if got, want := appendString(nil, s), refAppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text here", "café", "a\"b\\c\nd\x00e\x1f", "\xff\xfe", "0123456789abcdef\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString([]byte("x"), s), refAppendString([]byte("x"), s); string(got) != string(want) {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("68487932199-96439406143-93774651418-41631865787-", 3) // sysbench's c column
	dst := make([]byte, 0, 512)
	b.Run("appendString", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			dst = appendString(dst[:0], s)
		}
	})
	b.Run("bytewise", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			dst = refAppendString(dst[:0], s)
		}
	})
}
