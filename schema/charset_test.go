package schema

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestCharsetOf(t *testing.T) {
	for _, tc := range []struct {
		id   uint64
		want string
		ok   bool
	}{
		{1, "big5", true},         // big5_chinese_ci
		{8, "latin1", true},       // latin1_swedish_ci
		{11, "ascii", true},       // ascii_general_ci
		{28, "gbk", true},         // gbk_chinese_ci
		{33, "utf8mb3", true},     // utf8mb3_general_ci (MariaDB 10.6+ and MySQL 8.0.30+ name it so; older: utf8_general_ci)
		{35, "ucs2", true},        // ucs2_general_ci
		{45, "utf8mb4", true},     // utf8mb4_general_ci
		{46, "utf8mb4", true},     // utf8mb4_bin
		{56, "utf16le", true},     // utf16le_general_ci
		{63, "binary", true},      // binary
		{76, "utf8mb3", true},     // utf8mb3_tolower_ci, MySQL only
		{83, "utf8mb3", true},     // utf8mb3_bin
		{95, "cp932", true},       // cp932_japanese_ci
		{97, "eucjpms", true},     // eucjpms_japanese_ci
		{224, "utf8mb4", true},    // utf8mb4_unicode_ci
		{248, "gb18030", true},    // gb18030_chinese_ci, MySQL only
		{255, "utf8mb4", true},    // utf8mb4_0900_ai_ci, MySQL 8 default
		{309, "utf8mb4", true},    // utf8mb4_0900_bin
		{323, "utf8mb4", true},    // utf8mb4_mn_cyrl_0900_as_cs, the last MySQL id
		{576, "utf8mb3", true},    // utf8mb3_croatian_ci, MariaDB only
		{610, "utf8mb4", true},    // utf8mb4_thai_520_w2, MariaDB only
		{1032, "latin1", true},    // latin1_swedish_nopad_ci, MariaDB only
		{1071, "latin1", true},    // latin1_nopad_bin, MariaDB only
		{1270, "utf8mb4", true},   // utf8mb4_vietnamese_nopad_ci, MariaDB only
		{2048, "utf8mb3", true},   // utf8mb3_uca1400_ai_ci, MariaDB 10.10+
		{2304, "utf8mb4", true},   // utf8mb4_uca1400_ai_ci, MariaDB 11.5+ default
		{2308, "utf8mb4", true},   // utf8mb4_uca1400_nopad_ai_ci
		{2368, "utf8mb4", true},   // utf8mb4_uca1400_swedish_ai_ci
		{2495, "utf8mb4", true},   // utf8mb4_uca1400_vietnamese_nopad_as_cs
		{2560, "ucs2", true},      // ucs2_uca1400_ai_ci
		{2816, "utf16", true},     // utf16_uca1400_ai_ci
		{3072, "utf32", true},     // utf32_uca1400_ai_ci
		{3271, "utf32", true},     // utf32_uca1400_croatian_nopad_as_cs, the last MariaDB 10.11 id
		{0, "", false},            // never a collation
		{17, "", false},           // a hole in both servers' numbering
		{100, "", false},          // likewise
		{251, "", false},          // between gb18030 and the 0900 collations
		{272, "", false},          // a hole among MySQL's 0900 ids
		{324, "", false},          // past MySQL's last id
		{2047, "", false},         // just below MariaDB's UCA 14.0.0 block
		{3328, "", false},         // past the five UCA 14.0.0 charsets
		{1 << 40, "", false},      // absurd
		{1<<64 - 1, "", false},    // absurd
		{2048 + 1<<32, "", false}, // must not wrap into the UCA block
	} {
		got, ok := CharsetOf(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CharsetOf(%d) = %q, %v; want %q, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCharsetTableSortedAndKnown(t *testing.T) {
	for i := 1; i < len(collations); i++ {
		if collations[i-1].id >= collations[i].id {
			t.Fatalf("collations not strictly sorted at %d: %d then %d", i, collations[i-1].id, collations[i].id)
		}
	}
	if last := collations[len(collations)-1].id; last >= mariaUCA1400Min {
		t.Fatalf("listed id %d overlaps the MariaDB UCA 14.0.0 rule", last)
	}
	noDecoder := map[string]bool{"binary": true, "dec8": true, "hp8": true, "swe7": true,
		"armscii8": true, "keybcs2": true, "macce": true, "geostd8": true}
	seen := map[string]bool{}
	for _, c := range collations {
		seen[c.charset] = true
	}
	for _, cs := range mariaUCA1400Charsets {
		seen[cs] = true
	}
	if len(seen) != 41 {
		t.Errorf("table names %d charsets, want 41 (MariaDB's 40 + MySQL's gb18030)", len(seen))
	}
	for cs := range seen {
		_, ok := Decoder(cs)
		if ok == noDecoder[cs] {
			t.Errorf("Decoder(%q) ok = %v", cs, ok)
		}
	}
}

func TestIsBinaryCollationCharset(t *testing.T) {
	if !IsBinaryCollation(63) {
		t.Error("IsBinaryCollation(63) = false")
	}
	for _, id := range []uint64{0, 8, 45, 46, 47, 83, 255, 309, 1071, 2304} {
		if IsBinaryCollation(id) {
			t.Errorf("IsBinaryCollation(%d) = true", id)
		}
	}
}

func TestDecoderCharset(t *testing.T) {
	for _, tc := range []struct {
		charset string
		raw     string
		want    string
	}{
		{"utf8mb4", "héllo 😀", "héllo 😀"},
		{"utf8mb3", "日本語", "日本語"},
		{"utf8", "abc", "abc"},
		{"utf8mb4", "", ""},
		{"utf8mb4", "a\xffb", "a\uFFFDb"},
		{"utf8mb4", "\xe2\x82", "\uFFFD\uFFFD"},           // truncated €: one U+FFFD per byte, like encoding/json
		{"utf8mb4", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // an encoded surrogate is invalid
		{"utf8mb4", "\xc0\xaf", "\uFFFD\uFFFD"},           // overlong '/'
		{"UTF8MB4", "x", "x"},                             // names are case-insensitive
		{"ascii", "plain text", "plain text"},
		{"ascii", "caf\xe9", "caf\uFFFD"},

		{"latin1", "caf\xe9", "café"},
		{"latin1", "\xe9", "é"},
		{"latin1", "\x80", "€"},
		{"latin1", "\x99\x85\x9c", "™…œ"},
		{"latin1", "\x81\x8d\x8f\x90\x9d", "\u0081\u008D\u008F\u0090\u009D"}, // MySQL's five extra bytes
		{"latin1", "\xff", "ÿ"},
		{"latin2", "\xa3\xf3d\xbc", "Łódź"},
		{"latin2", "\x80", "\u0080"}, // C1 control, as MySQL maps it
		{"latin5", "\xdei\xfeli", "Şişli"},
		{"latin7", "\xc0\xfeuolas", "Ąžuolas"},
		{"greek", "\xc5\xeb\xeb\xdc\xe4\xe1", "Ελλάδα"},
		{"hebrew", "\xf9\xec\xe5\xed", "שלום"},
		{"cp1250", "\xa3\xf3d\x9f", "Łódź"},
		{"cp1251", "\xcc\xee\xf1\xea\xe2\xe0", "Москва"},
		{"cp1256", "\xe3\xd1\xcd\xc8\xc7", "مرحبا"},
		{"cp1257", "\xdbdens", "Ūdens"},
		{"cp850", "Gr\x94\xe1e", "Größe"},
		{"cp852", "\x9d\xa2d\xab", "Łódź"},
		{"cp866", "\x8c\xae\xe1\xaa\xa2\xa0", "Москва"},
		{"koi8r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{"koi8u", "\xb7\xd6\xc1\xcb", "Їжак"},
		{"macroman", "caf\x8e\xaa", "café™"},
		{"tis620", "\xc0\xd2\xc9\xd2\xe4\xb7\xc2", "ภาษาไทย"},

		{"ucs2", "\x00\x41", "A"},
		{"ucs2", "\x00\x41\x00\xe9\x4e\x2d", "Aé中"},
		{"ucs2", "\xfe\xff\x00\x41", "\uFEFFA"},  // no BOM handling: FE FF is a character
		{"utf16", "\xd8\x3d\xde\x00", "😀"},       // surrogate pair
		{"utf16", "\x00\x41\xd8\x3d", "A\uFFFD"}, // unpaired high surrogate
		{"utf16", "\x00\x41\x00", "A\uFFFD"},     // odd trailing byte
		{"utf16le", "\x3d\xd8\x00\xde\x41\x00", "😀A"},
		{"utf32", "\x00\x01\xf6\x00", "😀"},
		{"utf32", "\x00\x00\x00\x41\x00\x00\x4e\x2d", "A中"},
		{"utf32", "\x00\x11\x00\x00", "\uFFFD"}, // beyond U+10FFFF

		{"gbk", "\x81\x65", "乪"},
		{"gbk", "\x81\x56", "乂"},
		{"gbk", "\xd6\xd0\xce\xc4", "中文"},
		{"gb2312", "\xd6\xd0\xce\xc4", "中文"},
		{"gb18030", "\xd6\xd0\xa2\xe3", "中€"},
		{"gb18030", "\x95\x32\x82\x36", "𠀀"}, // four-byte sequence, U+20000
		{"big5", "\xb9\xcf\xa7\xce\xbd\x58", "圖形碼"},
		{"ujis", "\xb2\xcf", "河"},
		{"eucjpms", "\xb2\xcf\xad\xa1", "河①"}, // NEC row 13
		{"sjis", "\x89\xcd", "河"},
		{"cp932", "\x89\xcd\x87\x40", "河①"},
		{"euckr", "\xc7\xd1\xb1\xb9\xbe\xee", "한국어"},
		{"gbk", "a\xff", "a\uFFFD"}, // invalid lead byte
	} {
		dec, ok := Decoder(tc.charset)
		if !ok {
			t.Errorf("Decoder(%q): none", tc.charset)
			continue
		}
		got, err := dec(nil, []byte(tc.raw))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s % x: got %q, %v; want %q", tc.charset, tc.raw, got, err, tc.want)
		}
		// Appends after what dst already holds.
		got, err = dec([]byte("prefix:"), []byte(tc.raw))
		if err != nil || string(got) != "prefix:"+tc.want {
			t.Errorf("%s % x with prefix: got %q, %v", tc.charset, tc.raw, got, err)
		}
	}
}

func TestDecoderCharsetMissing(t *testing.T) {
	for _, cs := range []string{"binary", "dec8", "armscii8", "geostd8", "", "klingon"} {
		if dec, ok := Decoder(cs); ok || dec != nil {
			t.Errorf("Decoder(%q) = %v, %v; want nil, false", cs, dec != nil, ok)
		}
	}
}

func TestDecoderCharsetLongInput(t *testing.T) {
	// Inputs longer than the first guess at the output size make the x/text
	// path grow dst mid-transform; the single-byte path must triple.
	for _, tc := range []struct {
		charset string
		unit    string
		want    string
	}{
		{"gbk", "\xd6\xd0a", "中a"},
		{"big5", "\xb9\xcf", "圖"},
		{"ucs2", "\x4e\x2d", "中"},
		{"utf32", "\x00\x01\xf6\x00", "😀"},
		{"latin1", "\x80", "€"},
		{"ujis", "\xff", "\uFFFD"},
		{"utf8mb4", "\xff", "\uFFFD"},
	} {
		dec, _ := Decoder(tc.charset)
		raw := bytes.Repeat([]byte(tc.unit), 5000)
		got, err := dec(make([]byte, 0, 3), raw)
		if want := strings.Repeat(tc.want, 5000); err != nil || string(got) != want {
			t.Errorf("%s: %d bytes, %v; want %d bytes", tc.charset, len(got), err, len(want))
		}
	}
}

func TestDecoderCharsetConcurrent(t *testing.T) {
	dec, _ := Decoder("ujis")
	raw := bytes.Repeat([]byte("\xb2\xcfa"), 200)
	want := strings.Repeat("河a", 200)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for range 200 {
				var err error
				buf, err = dec(buf[:0], raw)
				if err != nil || string(buf) != want {
					t.Errorf("concurrent ujis decode: %q, %v", buf, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestDecoderCharsetNoAllocs(t *testing.T) {
	for _, tc := range []struct{ charset, raw string }{
		{"utf8mb4", "plain ascii and ünïcödé 😀"},
		{"utf8mb4", "invalid \xff here"},
		{"ascii", "plain"},
		{"latin1", "caf\xe9 \x80"},
		{"gbk", "\xd6\xd0\xce\xc4"},
		{"utf16", "\xd8\x3d\xde\x00"},
	} {
		dec, _ := Decoder(tc.charset)
		dst := make([]byte, 0, 256)
		raw := []byte(tc.raw)
		if n := testing.AllocsPerRun(100, func() { dst, _ = dec(dst[:0], raw) }); n != 0 {
			t.Errorf("%s: %v allocs per decode into a large enough dst", tc.charset, n)
		}
	}
}

func TestDecodeUTF8ValidIsPlainAppendCharset(t *testing.T) {
	raw := []byte("ok ✓")
	dst := make([]byte, 2, 64)
	out, _ := decodeUTF8(dst, raw)
	if &out[0] != &dst[0] || string(out[2:]) != "ok ✓" || !utf8.Valid(out[2:]) {
		t.Errorf("valid input was not appended in place: %q", out)
	}
}

func BenchmarkDecodeUTF8mb4(b *testing.B) {
	dec, _ := Decoder("utf8mb4")
	// 100 bytes, ASCII but for one é: the common case of a utf8mb4 column.
	raw := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 3)[:98] + "é")
	dst := make([]byte, 0, 256)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = dec(dst[:0], raw)
	}
}

func BenchmarkDecodeUTF8mb4Invalid(b *testing.B) {
	dec, _ := Decoder("utf8mb4")
	raw := []byte(strings.Repeat("Hello, w\xf6rld! ", 8)[:100])
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = dec(dst[:0], raw)
	}
}

func BenchmarkDecodeLatin1(b *testing.B) {
	dec, _ := Decoder("latin1")
	raw := []byte(strings.Repeat("Hello, w\xf6rld! ", 8)[:100])
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = dec(dst[:0], raw)
	}
}

func BenchmarkDecodeGBK(b *testing.B) {
	dec, _ := Decoder("gbk")
	raw := bytes.Repeat([]byte("\xd6\xd0\xce\xc4ab"), 16)[:96]
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = dec(dst[:0], raw)
	}
}
