package schema

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
	"golang.org/x/text/transform"
)

// binaryCollationID is the collation of the binary pseudo charset: columns
// with it hold bytes, not text.
const binaryCollationID = 63

// CharsetOf returns the character set name of a MySQL or MariaDB collation id
// ("latin1", "utf8mb4", "utf8mb3", "binary", "ucs2", ...), and false for an
// unknown id. The three-byte UTF-8 charset is always named "utf8mb3", never
// "utf8", whatever the server calls it.
func CharsetOf(collationID uint64) (string, bool) {
	if collationID >= mariaUCA1400Min && collationID < mariaUCA1400Min+uint64(len(mariaUCA1400Charsets))<<8 {
		return mariaUCA1400Charsets[(collationID-mariaUCA1400Min)>>8], true
	}
	i, ok := slices.BinarySearchFunc(collations[:], collationID, func(c collation, id uint64) int {
		switch {
		case uint64(c.id) < id:
			return -1
		case uint64(c.id) > id:
			return 1
		}
		return 0
	})
	if !ok {
		return "", false
	}
	return collations[i].charset, true
}

// IsBinaryCollation reports collation 63 (binary): the column's value is
// bytes, not text in some charset.
func IsBinaryCollation(collationID uint64) bool {
	return collationID == binaryCollationID
}

// MariaDB 10.10+ numbers its UCA 14.0.0 collations (utf8mb4_uca1400_ai_ci and
// the rest, MDEV-27009) from 2048 by rule rather than by list: the id is
//
//	2048 + charset<<8 + tailoring<<3 + nopad<<2 + accent_sensitive<<1 + case_sensitive
//
// where charset is the index in mariaUCA1400Charsets, tailoring is 0 for the
// root collation and 1..24 for the language tailorings (icelandic ...
// croatian; 21 and 22 are unused in 10.11). So the charset is derived from the id alone, which also covers
// tailorings a later MariaDB adds. The rule was checked against every one of
// the 920 rows with an ID of 2048 or more in MariaDB 10.11's
// information_schema.COLLATION_CHARACTER_SET_APPLICABILITY.
const mariaUCA1400Min = 2048

var mariaUCA1400Charsets = [...]string{"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"}

type collation struct {
	id      uint16
	charset string
}

// collations maps every collation id below 2048 to its charset, sorted by id.
// It is the union of:
//
//   - MariaDB 10.11.19: SELECT ID, CHARACTER_SET_NAME, FULL_COLLATION_NAME FROM
//     information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE ID < 2048
//     (322 rows: the ids MySQL shares, MariaDB's utf8*_croatian/myanmar/thai
//     ids 576-738, and its _nopad_ collations at 1024 + the PAD SPACE id);
//   - MySQL 8.0/8.4 information_schema.COLLATIONS (286 rows): ids 1-250 and
//     the utf8mb4_*_0900_* ids 255-323. The 67 ids MariaDB lacks are marked
//     (MySQL); ids marked (MariaDB) do not exist in MySQL. The 219 ids both
//     servers have name the same charset in both.
//
// The comment after each entry is the collation's name. MariaDB before 10.6
// and MySQL before 8.0.30 named the utf8mb3 collations utf8_*; the ids are the
// same. MariaDB 11.4.5+ accepts MySQL's utf8mb4_0900_* names as aliases of its
// utf8mb4_uca1400_nopad_* collations; they are utf8mb4 either way.
var collations = [...]collation{
	{1, "big5"},        // big5_chinese_ci
	{2, "latin2"},      // latin2_czech_cs
	{3, "dec8"},        // dec8_swedish_ci
	{4, "cp850"},       // cp850_general_ci
	{5, "latin1"},      // latin1_german1_ci
	{6, "hp8"},         // hp8_english_ci
	{7, "koi8r"},       // koi8r_general_ci
	{8, "latin1"},      // latin1_swedish_ci
	{9, "latin2"},      // latin2_general_ci
	{10, "swe7"},       // swe7_swedish_ci
	{11, "ascii"},      // ascii_general_ci
	{12, "ujis"},       // ujis_japanese_ci
	{13, "sjis"},       // sjis_japanese_ci
	{14, "cp1251"},     // cp1251_bulgarian_ci
	{15, "latin1"},     // latin1_danish_ci
	{16, "hebrew"},     // hebrew_general_ci
	{18, "tis620"},     // tis620_thai_ci
	{19, "euckr"},      // euckr_korean_ci
	{20, "latin7"},     // latin7_estonian_cs
	{21, "latin2"},     // latin2_hungarian_ci
	{22, "koi8u"},      // koi8u_general_ci
	{23, "cp1251"},     // cp1251_ukrainian_ci
	{24, "gb2312"},     // gb2312_chinese_ci
	{25, "greek"},      // greek_general_ci
	{26, "cp1250"},     // cp1250_general_ci
	{27, "latin2"},     // latin2_croatian_ci
	{28, "gbk"},        // gbk_chinese_ci
	{29, "cp1257"},     // cp1257_lithuanian_ci
	{30, "latin5"},     // latin5_turkish_ci
	{31, "latin1"},     // latin1_german2_ci
	{32, "armscii8"},   // armscii8_general_ci
	{33, "utf8mb3"},    // utf8mb3_general_ci
	{34, "cp1250"},     // cp1250_czech_cs
	{35, "ucs2"},       // ucs2_general_ci
	{36, "cp866"},      // cp866_general_ci
	{37, "keybcs2"},    // keybcs2_general_ci
	{38, "macce"},      // macce_general_ci
	{39, "macroman"},   // macroman_general_ci
	{40, "cp852"},      // cp852_general_ci
	{41, "latin7"},     // latin7_general_ci
	{42, "latin7"},     // latin7_general_cs
	{43, "macce"},      // macce_bin
	{44, "cp1250"},     // cp1250_croatian_ci
	{45, "utf8mb4"},    // utf8mb4_general_ci
	{46, "utf8mb4"},    // utf8mb4_bin
	{47, "latin1"},     // latin1_bin
	{48, "latin1"},     // latin1_general_ci
	{49, "latin1"},     // latin1_general_cs
	{50, "cp1251"},     // cp1251_bin
	{51, "cp1251"},     // cp1251_general_ci
	{52, "cp1251"},     // cp1251_general_cs
	{53, "macroman"},   // macroman_bin
	{54, "utf16"},      // utf16_general_ci
	{55, "utf16"},      // utf16_bin
	{56, "utf16le"},    // utf16le_general_ci
	{57, "cp1256"},     // cp1256_general_ci
	{58, "cp1257"},     // cp1257_bin
	{59, "cp1257"},     // cp1257_general_ci
	{60, "utf32"},      // utf32_general_ci
	{61, "utf32"},      // utf32_bin
	{62, "utf16le"},    // utf16le_bin
	{63, "binary"},     // binary
	{64, "armscii8"},   // armscii8_bin
	{65, "ascii"},      // ascii_bin
	{66, "cp1250"},     // cp1250_bin
	{67, "cp1256"},     // cp1256_bin
	{68, "cp866"},      // cp866_bin
	{69, "dec8"},       // dec8_bin
	{70, "greek"},      // greek_bin
	{71, "hebrew"},     // hebrew_bin
	{72, "hp8"},        // hp8_bin
	{73, "keybcs2"},    // keybcs2_bin
	{74, "koi8r"},      // koi8r_bin
	{75, "koi8u"},      // koi8u_bin
	{76, "utf8mb3"},    // utf8mb3_tolower_ci (MySQL)
	{77, "latin2"},     // latin2_bin
	{78, "latin5"},     // latin5_bin
	{79, "latin7"},     // latin7_bin
	{80, "cp850"},      // cp850_bin
	{81, "cp852"},      // cp852_bin
	{82, "swe7"},       // swe7_bin
	{83, "utf8mb3"},    // utf8mb3_bin
	{84, "big5"},       // big5_bin
	{85, "euckr"},      // euckr_bin
	{86, "gb2312"},     // gb2312_bin
	{87, "gbk"},        // gbk_bin
	{88, "sjis"},       // sjis_bin
	{89, "tis620"},     // tis620_bin
	{90, "ucs2"},       // ucs2_bin
	{91, "ujis"},       // ujis_bin
	{92, "geostd8"},    // geostd8_general_ci
	{93, "geostd8"},    // geostd8_bin
	{94, "latin1"},     // latin1_spanish_ci
	{95, "cp932"},      // cp932_japanese_ci
	{96, "cp932"},      // cp932_bin
	{97, "eucjpms"},    // eucjpms_japanese_ci
	{98, "eucjpms"},    // eucjpms_bin
	{99, "cp1250"},     // cp1250_polish_ci
	{101, "utf16"},     // utf16_unicode_ci
	{102, "utf16"},     // utf16_icelandic_ci
	{103, "utf16"},     // utf16_latvian_ci
	{104, "utf16"},     // utf16_romanian_ci
	{105, "utf16"},     // utf16_slovenian_ci
	{106, "utf16"},     // utf16_polish_ci
	{107, "utf16"},     // utf16_estonian_ci
	{108, "utf16"},     // utf16_spanish_ci
	{109, "utf16"},     // utf16_swedish_ci
	{110, "utf16"},     // utf16_turkish_ci
	{111, "utf16"},     // utf16_czech_ci
	{112, "utf16"},     // utf16_danish_ci
	{113, "utf16"},     // utf16_lithuanian_ci
	{114, "utf16"},     // utf16_slovak_ci
	{115, "utf16"},     // utf16_spanish2_ci
	{116, "utf16"},     // utf16_roman_ci
	{117, "utf16"},     // utf16_persian_ci
	{118, "utf16"},     // utf16_esperanto_ci
	{119, "utf16"},     // utf16_hungarian_ci
	{120, "utf16"},     // utf16_sinhala_ci
	{121, "utf16"},     // utf16_german2_ci
	{122, "utf16"},     // utf16_croatian_mysql561_ci
	{123, "utf16"},     // utf16_unicode_520_ci
	{124, "utf16"},     // utf16_vietnamese_ci
	{128, "ucs2"},      // ucs2_unicode_ci
	{129, "ucs2"},      // ucs2_icelandic_ci
	{130, "ucs2"},      // ucs2_latvian_ci
	{131, "ucs2"},      // ucs2_romanian_ci
	{132, "ucs2"},      // ucs2_slovenian_ci
	{133, "ucs2"},      // ucs2_polish_ci
	{134, "ucs2"},      // ucs2_estonian_ci
	{135, "ucs2"},      // ucs2_spanish_ci
	{136, "ucs2"},      // ucs2_swedish_ci
	{137, "ucs2"},      // ucs2_turkish_ci
	{138, "ucs2"},      // ucs2_czech_ci
	{139, "ucs2"},      // ucs2_danish_ci
	{140, "ucs2"},      // ucs2_lithuanian_ci
	{141, "ucs2"},      // ucs2_slovak_ci
	{142, "ucs2"},      // ucs2_spanish2_ci
	{143, "ucs2"},      // ucs2_roman_ci
	{144, "ucs2"},      // ucs2_persian_ci
	{145, "ucs2"},      // ucs2_esperanto_ci
	{146, "ucs2"},      // ucs2_hungarian_ci
	{147, "ucs2"},      // ucs2_sinhala_ci
	{148, "ucs2"},      // ucs2_german2_ci
	{149, "ucs2"},      // ucs2_croatian_mysql561_ci
	{150, "ucs2"},      // ucs2_unicode_520_ci
	{151, "ucs2"},      // ucs2_vietnamese_ci
	{159, "ucs2"},      // ucs2_general_mysql500_ci
	{160, "utf32"},     // utf32_unicode_ci
	{161, "utf32"},     // utf32_icelandic_ci
	{162, "utf32"},     // utf32_latvian_ci
	{163, "utf32"},     // utf32_romanian_ci
	{164, "utf32"},     // utf32_slovenian_ci
	{165, "utf32"},     // utf32_polish_ci
	{166, "utf32"},     // utf32_estonian_ci
	{167, "utf32"},     // utf32_spanish_ci
	{168, "utf32"},     // utf32_swedish_ci
	{169, "utf32"},     // utf32_turkish_ci
	{170, "utf32"},     // utf32_czech_ci
	{171, "utf32"},     // utf32_danish_ci
	{172, "utf32"},     // utf32_lithuanian_ci
	{173, "utf32"},     // utf32_slovak_ci
	{174, "utf32"},     // utf32_spanish2_ci
	{175, "utf32"},     // utf32_roman_ci
	{176, "utf32"},     // utf32_persian_ci
	{177, "utf32"},     // utf32_esperanto_ci
	{178, "utf32"},     // utf32_hungarian_ci
	{179, "utf32"},     // utf32_sinhala_ci
	{180, "utf32"},     // utf32_german2_ci
	{181, "utf32"},     // utf32_croatian_mysql561_ci
	{182, "utf32"},     // utf32_unicode_520_ci
	{183, "utf32"},     // utf32_vietnamese_ci
	{192, "utf8mb3"},   // utf8mb3_unicode_ci
	{193, "utf8mb3"},   // utf8mb3_icelandic_ci
	{194, "utf8mb3"},   // utf8mb3_latvian_ci
	{195, "utf8mb3"},   // utf8mb3_romanian_ci
	{196, "utf8mb3"},   // utf8mb3_slovenian_ci
	{197, "utf8mb3"},   // utf8mb3_polish_ci
	{198, "utf8mb3"},   // utf8mb3_estonian_ci
	{199, "utf8mb3"},   // utf8mb3_spanish_ci
	{200, "utf8mb3"},   // utf8mb3_swedish_ci
	{201, "utf8mb3"},   // utf8mb3_turkish_ci
	{202, "utf8mb3"},   // utf8mb3_czech_ci
	{203, "utf8mb3"},   // utf8mb3_danish_ci
	{204, "utf8mb3"},   // utf8mb3_lithuanian_ci
	{205, "utf8mb3"},   // utf8mb3_slovak_ci
	{206, "utf8mb3"},   // utf8mb3_spanish2_ci
	{207, "utf8mb3"},   // utf8mb3_roman_ci
	{208, "utf8mb3"},   // utf8mb3_persian_ci
	{209, "utf8mb3"},   // utf8mb3_esperanto_ci
	{210, "utf8mb3"},   // utf8mb3_hungarian_ci
	{211, "utf8mb3"},   // utf8mb3_sinhala_ci
	{212, "utf8mb3"},   // utf8mb3_german2_ci
	{213, "utf8mb3"},   // utf8mb3_croatian_mysql561_ci
	{214, "utf8mb3"},   // utf8mb3_unicode_520_ci
	{215, "utf8mb3"},   // utf8mb3_vietnamese_ci
	{223, "utf8mb3"},   // utf8mb3_general_mysql500_ci
	{224, "utf8mb4"},   // utf8mb4_unicode_ci
	{225, "utf8mb4"},   // utf8mb4_icelandic_ci
	{226, "utf8mb4"},   // utf8mb4_latvian_ci
	{227, "utf8mb4"},   // utf8mb4_romanian_ci
	{228, "utf8mb4"},   // utf8mb4_slovenian_ci
	{229, "utf8mb4"},   // utf8mb4_polish_ci
	{230, "utf8mb4"},   // utf8mb4_estonian_ci
	{231, "utf8mb4"},   // utf8mb4_spanish_ci
	{232, "utf8mb4"},   // utf8mb4_swedish_ci
	{233, "utf8mb4"},   // utf8mb4_turkish_ci
	{234, "utf8mb4"},   // utf8mb4_czech_ci
	{235, "utf8mb4"},   // utf8mb4_danish_ci
	{236, "utf8mb4"},   // utf8mb4_lithuanian_ci
	{237, "utf8mb4"},   // utf8mb4_slovak_ci
	{238, "utf8mb4"},   // utf8mb4_spanish2_ci
	{239, "utf8mb4"},   // utf8mb4_roman_ci
	{240, "utf8mb4"},   // utf8mb4_persian_ci
	{241, "utf8mb4"},   // utf8mb4_esperanto_ci
	{242, "utf8mb4"},   // utf8mb4_hungarian_ci
	{243, "utf8mb4"},   // utf8mb4_sinhala_ci
	{244, "utf8mb4"},   // utf8mb4_german2_ci
	{245, "utf8mb4"},   // utf8mb4_croatian_mysql561_ci
	{246, "utf8mb4"},   // utf8mb4_unicode_520_ci
	{247, "utf8mb4"},   // utf8mb4_vietnamese_ci
	{248, "gb18030"},   // gb18030_chinese_ci (MySQL)
	{249, "gb18030"},   // gb18030_bin (MySQL)
	{250, "gb18030"},   // gb18030_unicode_520_ci (MySQL)
	{255, "utf8mb4"},   // utf8mb4_0900_ai_ci (MySQL)
	{256, "utf8mb4"},   // utf8mb4_de_pb_0900_ai_ci (MySQL)
	{257, "utf8mb4"},   // utf8mb4_is_0900_ai_ci (MySQL)
	{258, "utf8mb4"},   // utf8mb4_lv_0900_ai_ci (MySQL)
	{259, "utf8mb4"},   // utf8mb4_ro_0900_ai_ci (MySQL)
	{260, "utf8mb4"},   // utf8mb4_sl_0900_ai_ci (MySQL)
	{261, "utf8mb4"},   // utf8mb4_pl_0900_ai_ci (MySQL)
	{262, "utf8mb4"},   // utf8mb4_et_0900_ai_ci (MySQL)
	{263, "utf8mb4"},   // utf8mb4_es_0900_ai_ci (MySQL)
	{264, "utf8mb4"},   // utf8mb4_sv_0900_ai_ci (MySQL)
	{265, "utf8mb4"},   // utf8mb4_tr_0900_ai_ci (MySQL)
	{266, "utf8mb4"},   // utf8mb4_cs_0900_ai_ci (MySQL)
	{267, "utf8mb4"},   // utf8mb4_da_0900_ai_ci (MySQL)
	{268, "utf8mb4"},   // utf8mb4_lt_0900_ai_ci (MySQL)
	{269, "utf8mb4"},   // utf8mb4_sk_0900_ai_ci (MySQL)
	{270, "utf8mb4"},   // utf8mb4_es_trad_0900_ai_ci (MySQL)
	{271, "utf8mb4"},   // utf8mb4_la_0900_ai_ci (MySQL)
	{273, "utf8mb4"},   // utf8mb4_eo_0900_ai_ci (MySQL)
	{274, "utf8mb4"},   // utf8mb4_hu_0900_ai_ci (MySQL)
	{275, "utf8mb4"},   // utf8mb4_hr_0900_ai_ci (MySQL)
	{277, "utf8mb4"},   // utf8mb4_vi_0900_ai_ci (MySQL)
	{278, "utf8mb4"},   // utf8mb4_0900_as_cs (MySQL)
	{279, "utf8mb4"},   // utf8mb4_de_pb_0900_as_cs (MySQL)
	{280, "utf8mb4"},   // utf8mb4_is_0900_as_cs (MySQL)
	{281, "utf8mb4"},   // utf8mb4_lv_0900_as_cs (MySQL)
	{282, "utf8mb4"},   // utf8mb4_ro_0900_as_cs (MySQL)
	{283, "utf8mb4"},   // utf8mb4_sl_0900_as_cs (MySQL)
	{284, "utf8mb4"},   // utf8mb4_pl_0900_as_cs (MySQL)
	{285, "utf8mb4"},   // utf8mb4_et_0900_as_cs (MySQL)
	{286, "utf8mb4"},   // utf8mb4_es_0900_as_cs (MySQL)
	{287, "utf8mb4"},   // utf8mb4_sv_0900_as_cs (MySQL)
	{288, "utf8mb4"},   // utf8mb4_tr_0900_as_cs (MySQL)
	{289, "utf8mb4"},   // utf8mb4_cs_0900_as_cs (MySQL)
	{290, "utf8mb4"},   // utf8mb4_da_0900_as_cs (MySQL)
	{291, "utf8mb4"},   // utf8mb4_lt_0900_as_cs (MySQL)
	{292, "utf8mb4"},   // utf8mb4_sk_0900_as_cs (MySQL)
	{293, "utf8mb4"},   // utf8mb4_es_trad_0900_as_cs (MySQL)
	{294, "utf8mb4"},   // utf8mb4_la_0900_as_cs (MySQL)
	{296, "utf8mb4"},   // utf8mb4_eo_0900_as_cs (MySQL)
	{297, "utf8mb4"},   // utf8mb4_hu_0900_as_cs (MySQL)
	{298, "utf8mb4"},   // utf8mb4_hr_0900_as_cs (MySQL)
	{300, "utf8mb4"},   // utf8mb4_vi_0900_as_cs (MySQL)
	{303, "utf8mb4"},   // utf8mb4_ja_0900_as_cs (MySQL)
	{304, "utf8mb4"},   // utf8mb4_ja_0900_as_cs_ks (MySQL)
	{305, "utf8mb4"},   // utf8mb4_0900_as_ci (MySQL)
	{306, "utf8mb4"},   // utf8mb4_ru_0900_ai_ci (MySQL)
	{307, "utf8mb4"},   // utf8mb4_ru_0900_as_cs (MySQL)
	{308, "utf8mb4"},   // utf8mb4_zh_0900_as_cs (MySQL)
	{309, "utf8mb4"},   // utf8mb4_0900_bin (MySQL)
	{310, "utf8mb4"},   // utf8mb4_nb_0900_ai_ci (MySQL)
	{311, "utf8mb4"},   // utf8mb4_nb_0900_as_cs (MySQL)
	{312, "utf8mb4"},   // utf8mb4_nn_0900_ai_ci (MySQL)
	{313, "utf8mb4"},   // utf8mb4_nn_0900_as_cs (MySQL)
	{314, "utf8mb4"},   // utf8mb4_sr_latn_0900_ai_ci (MySQL)
	{315, "utf8mb4"},   // utf8mb4_sr_latn_0900_as_cs (MySQL)
	{316, "utf8mb4"},   // utf8mb4_bs_0900_ai_ci (MySQL)
	{317, "utf8mb4"},   // utf8mb4_bs_0900_as_cs (MySQL)
	{318, "utf8mb4"},   // utf8mb4_bg_0900_ai_ci (MySQL)
	{319, "utf8mb4"},   // utf8mb4_bg_0900_as_cs (MySQL)
	{320, "utf8mb4"},   // utf8mb4_gl_0900_ai_ci (MySQL)
	{321, "utf8mb4"},   // utf8mb4_gl_0900_as_cs (MySQL)
	{322, "utf8mb4"},   // utf8mb4_mn_cyrl_0900_ai_ci (MySQL)
	{323, "utf8mb4"},   // utf8mb4_mn_cyrl_0900_as_cs (MySQL)
	{576, "utf8mb3"},   // utf8mb3_croatian_ci (MariaDB)
	{577, "utf8mb3"},   // utf8mb3_myanmar_ci (MariaDB)
	{578, "utf8mb3"},   // utf8mb3_thai_520_w2 (MariaDB)
	{608, "utf8mb4"},   // utf8mb4_croatian_ci (MariaDB)
	{609, "utf8mb4"},   // utf8mb4_myanmar_ci (MariaDB)
	{610, "utf8mb4"},   // utf8mb4_thai_520_w2 (MariaDB)
	{640, "ucs2"},      // ucs2_croatian_ci (MariaDB)
	{641, "ucs2"},      // ucs2_myanmar_ci (MariaDB)
	{642, "ucs2"},      // ucs2_thai_520_w2 (MariaDB)
	{672, "utf16"},     // utf16_croatian_ci (MariaDB)
	{673, "utf16"},     // utf16_myanmar_ci (MariaDB)
	{674, "utf16"},     // utf16_thai_520_w2 (MariaDB)
	{736, "utf32"},     // utf32_croatian_ci (MariaDB)
	{737, "utf32"},     // utf32_myanmar_ci (MariaDB)
	{738, "utf32"},     // utf32_thai_520_w2 (MariaDB)
	{1025, "big5"},     // big5_chinese_nopad_ci (MariaDB)
	{1027, "dec8"},     // dec8_swedish_nopad_ci (MariaDB)
	{1028, "cp850"},    // cp850_general_nopad_ci (MariaDB)
	{1030, "hp8"},      // hp8_english_nopad_ci (MariaDB)
	{1031, "koi8r"},    // koi8r_general_nopad_ci (MariaDB)
	{1032, "latin1"},   // latin1_swedish_nopad_ci (MariaDB)
	{1033, "latin2"},   // latin2_general_nopad_ci (MariaDB)
	{1034, "swe7"},     // swe7_swedish_nopad_ci (MariaDB)
	{1035, "ascii"},    // ascii_general_nopad_ci (MariaDB)
	{1036, "ujis"},     // ujis_japanese_nopad_ci (MariaDB)
	{1037, "sjis"},     // sjis_japanese_nopad_ci (MariaDB)
	{1040, "hebrew"},   // hebrew_general_nopad_ci (MariaDB)
	{1042, "tis620"},   // tis620_thai_nopad_ci (MariaDB)
	{1043, "euckr"},    // euckr_korean_nopad_ci (MariaDB)
	{1046, "koi8u"},    // koi8u_general_nopad_ci (MariaDB)
	{1048, "gb2312"},   // gb2312_chinese_nopad_ci (MariaDB)
	{1049, "greek"},    // greek_general_nopad_ci (MariaDB)
	{1050, "cp1250"},   // cp1250_general_nopad_ci (MariaDB)
	{1052, "gbk"},      // gbk_chinese_nopad_ci (MariaDB)
	{1054, "latin5"},   // latin5_turkish_nopad_ci (MariaDB)
	{1056, "armscii8"}, // armscii8_general_nopad_ci (MariaDB)
	{1057, "utf8mb3"},  // utf8mb3_general_nopad_ci (MariaDB)
	{1059, "ucs2"},     // ucs2_general_nopad_ci (MariaDB)
	{1060, "cp866"},    // cp866_general_nopad_ci (MariaDB)
	{1061, "keybcs2"},  // keybcs2_general_nopad_ci (MariaDB)
	{1062, "macce"},    // macce_general_nopad_ci (MariaDB)
	{1063, "macroman"}, // macroman_general_nopad_ci (MariaDB)
	{1064, "cp852"},    // cp852_general_nopad_ci (MariaDB)
	{1065, "latin7"},   // latin7_general_nopad_ci (MariaDB)
	{1067, "macce"},    // macce_nopad_bin (MariaDB)
	{1069, "utf8mb4"},  // utf8mb4_general_nopad_ci (MariaDB)
	{1070, "utf8mb4"},  // utf8mb4_nopad_bin (MariaDB)
	{1071, "latin1"},   // latin1_nopad_bin (MariaDB)
	{1074, "cp1251"},   // cp1251_nopad_bin (MariaDB)
	{1075, "cp1251"},   // cp1251_general_nopad_ci (MariaDB)
	{1077, "macroman"}, // macroman_nopad_bin (MariaDB)
	{1078, "utf16"},    // utf16_general_nopad_ci (MariaDB)
	{1079, "utf16"},    // utf16_nopad_bin (MariaDB)
	{1080, "utf16le"},  // utf16le_general_nopad_ci (MariaDB)
	{1081, "cp1256"},   // cp1256_general_nopad_ci (MariaDB)
	{1082, "cp1257"},   // cp1257_nopad_bin (MariaDB)
	{1083, "cp1257"},   // cp1257_general_nopad_ci (MariaDB)
	{1084, "utf32"},    // utf32_general_nopad_ci (MariaDB)
	{1085, "utf32"},    // utf32_nopad_bin (MariaDB)
	{1086, "utf16le"},  // utf16le_nopad_bin (MariaDB)
	{1088, "armscii8"}, // armscii8_nopad_bin (MariaDB)
	{1089, "ascii"},    // ascii_nopad_bin (MariaDB)
	{1090, "cp1250"},   // cp1250_nopad_bin (MariaDB)
	{1091, "cp1256"},   // cp1256_nopad_bin (MariaDB)
	{1092, "cp866"},    // cp866_nopad_bin (MariaDB)
	{1093, "dec8"},     // dec8_nopad_bin (MariaDB)
	{1094, "greek"},    // greek_nopad_bin (MariaDB)
	{1095, "hebrew"},   // hebrew_nopad_bin (MariaDB)
	{1096, "hp8"},      // hp8_nopad_bin (MariaDB)
	{1097, "keybcs2"},  // keybcs2_nopad_bin (MariaDB)
	{1098, "koi8r"},    // koi8r_nopad_bin (MariaDB)
	{1099, "koi8u"},    // koi8u_nopad_bin (MariaDB)
	{1101, "latin2"},   // latin2_nopad_bin (MariaDB)
	{1102, "latin5"},   // latin5_nopad_bin (MariaDB)
	{1103, "latin7"},   // latin7_nopad_bin (MariaDB)
	{1104, "cp850"},    // cp850_nopad_bin (MariaDB)
	{1105, "cp852"},    // cp852_nopad_bin (MariaDB)
	{1106, "swe7"},     // swe7_nopad_bin (MariaDB)
	{1107, "utf8mb3"},  // utf8mb3_nopad_bin (MariaDB)
	{1108, "big5"},     // big5_nopad_bin (MariaDB)
	{1109, "euckr"},    // euckr_nopad_bin (MariaDB)
	{1110, "gb2312"},   // gb2312_nopad_bin (MariaDB)
	{1111, "gbk"},      // gbk_nopad_bin (MariaDB)
	{1112, "sjis"},     // sjis_nopad_bin (MariaDB)
	{1113, "tis620"},   // tis620_nopad_bin (MariaDB)
	{1114, "ucs2"},     // ucs2_nopad_bin (MariaDB)
	{1115, "ujis"},     // ujis_nopad_bin (MariaDB)
	{1116, "geostd8"},  // geostd8_general_nopad_ci (MariaDB)
	{1117, "geostd8"},  // geostd8_nopad_bin (MariaDB)
	{1119, "cp932"},    // cp932_japanese_nopad_ci (MariaDB)
	{1120, "cp932"},    // cp932_nopad_bin (MariaDB)
	{1121, "eucjpms"},  // eucjpms_japanese_nopad_ci (MariaDB)
	{1122, "eucjpms"},  // eucjpms_nopad_bin (MariaDB)
	{1125, "utf16"},    // utf16_unicode_nopad_ci (MariaDB)
	{1147, "utf16"},    // utf16_unicode_520_nopad_ci (MariaDB)
	{1152, "ucs2"},     // ucs2_unicode_nopad_ci (MariaDB)
	{1174, "ucs2"},     // ucs2_unicode_520_nopad_ci (MariaDB)
	{1184, "utf32"},    // utf32_unicode_nopad_ci (MariaDB)
	{1206, "utf32"},    // utf32_unicode_520_nopad_ci (MariaDB)
	{1216, "utf8mb3"},  // utf8mb3_unicode_nopad_ci (MariaDB)
	{1238, "utf8mb3"},  // utf8mb3_unicode_520_nopad_ci (MariaDB)
	{1248, "utf8mb4"},  // utf8mb4_unicode_nopad_ci (MariaDB)
	{1270, "utf8mb4"},  // utf8mb4_unicode_520_nopad_ci (MariaDB)
}

// Decoder returns a function that converts raw column bytes in the named
// charset to UTF-8, appending to dst and returning the extended slice, so a
// caller that reuses dst decodes without allocating. Bytes that are not valid
// in the charset become U+FFFD; the error is reserved for a failure inside a
// decoder, which the decoders used here do not have. The function is safe for
// concurrent use.
//
// For utf8mb4, utf8mb3 and utf8 the function is a validating copy: valid input
// is appended as is, and each byte of an invalid sequence becomes U+FFFD (as
// encoding/json does). For ascii each byte above 0x7F becomes U+FFFD. Names
// are case-insensitive. For "binary" and for charsets without a decoder
// (dec8, hp8, swe7, armscii8, keybcs2, macce, geostd8) it returns nil, false.
func Decoder(charset string) (func(dst, raw []byte) ([]byte, error), bool) {
	d, ok := decoders[charset]
	if !ok {
		d, ok = decoders[strings.ToLower(charset)]
	}
	return d, ok
}

var decoders = map[string]func(dst, raw []byte) ([]byte, error){
	"utf8mb4": decodeUTF8,
	"utf8mb3": decodeUTF8,
	"utf8":    decodeUTF8,
	"ascii":   decodeASCII,

	// MySQL's latin1 is Windows-1252, except that the five bytes cp1252 leaves
	// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are the C1 controls of the
	// same value, as in ISO 8859-1.
	"latin1":   newSingleByte(charmap.Windows1252, 0x81, 0x8D, 0x8F, 0x90, 0x9D).decode,
	"latin2":   newISO8859(charmap.ISO8859_2).decode,
	"latin5":   newISO8859(charmap.ISO8859_9).decode,
	"latin7":   newISO8859(charmap.ISO8859_13).decode,
	"greek":    newISO8859(charmap.ISO8859_7).decode,
	"hebrew":   newISO8859(charmap.ISO8859_8).decode,
	"cp1250":   newSingleByte(charmap.Windows1250).decode,
	"cp1251":   newSingleByte(charmap.Windows1251).decode,
	"cp1256":   newSingleByte(charmap.Windows1256).decode,
	"cp1257":   newSingleByte(charmap.Windows1257).decode,
	"cp850":    newSingleByte(charmap.CodePage850).decode,
	"cp852":    newSingleByte(charmap.CodePage852).decode,
	"cp866":    newSingleByte(charmap.CodePage866).decode,
	"koi8r":    newSingleByte(charmap.KOI8R).decode,
	"koi8u":    newSingleByte(charmap.KOI8U).decode,
	"macroman": newSingleByte(charmap.Macintosh).decode,
	"tis620":   newSingleByte(charmap.Windows874).decode,

	// UCS-2, UTF-16 and UTF-32 columns are stored big-endian (utf16le
	// little-endian) and never carry a byte order mark.
	"ucs2":    newTransform(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)),
	"utf16":   newTransform(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)),
	"utf16le": newTransform(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)),
	"utf32":   newTransform(utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)),

	// MySQL's gb2312 is EUC-CN, which GBK extends.
	"gbk":     newTransform(simplifiedchinese.GBK),
	"gb2312":  newTransform(simplifiedchinese.GBK),
	"gb18030": newTransform(simplifiedchinese.GB18030),
	"big5":    newTransform(traditionalchinese.Big5),
	"ujis":    newTransform(japanese.EUCJP),
	"eucjpms": newTransform(japanese.EUCJP),
	"sjis":    newTransform(japanese.ShiftJIS),
	"cp932":   newTransform(japanese.ShiftJIS),
	"euckr":   newTransform(korean.EUCKR),
}

// decodeUTF8 appends raw to dst, replacing each byte of an invalid UTF-8
// sequence with U+FFFD.
func decodeUTF8(dst, raw []byte) ([]byte, error) {
	if utf8.Valid(raw) {
		return append(dst, raw...), nil
	}
	dst = slices.Grow(dst, len(raw)+2*utf8.UTFMax)
	start := 0 // raw[start:i] is valid and not yet appended
	for i := 0; i < len(raw); {
		if raw[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, raw[start:i]...)
			dst = append(dst, "\uFFFD"...)
			start = i + 1
		}
		i += n
	}
	return append(dst, raw[start:]...), nil
}

// decodeASCII appends raw to dst, replacing each byte above 0x7F with U+FFFD.
func decodeASCII(dst, raw []byte) ([]byte, error) {
	i := 0
	for i < len(raw) && raw[i] < utf8.RuneSelf {
		i++
	}
	if i == len(raw) {
		return append(dst, raw...), nil
	}
	dst = slices.Grow(dst, len(raw)+2*(len(raw)-i))
	dst = append(dst, raw[:i]...)
	for _, b := range raw[i:] {
		if b < utf8.RuneSelf {
			dst = append(dst, b)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
	}
	return dst, nil
}

// singleByte decodes a charset of one byte per character through a table of
// the UTF-8 encoding of each byte. Bytes below 0x80 are ASCII in every
// charset here.
type singleByte [256]struct {
	n int
	b [3]byte
}

// newSingleByte builds the table of cm. The bytes listed in c1 decode to the
// C1 control of the same value instead of U+FFFD.
func newSingleByte(cm *charmap.Charmap, c1 ...byte) *singleByte {
	t := new(singleByte)
	for i := range t {
		r := cm.DecodeByte(byte(i))
		if i < utf8.RuneSelf && r != rune(i) {
			panic("schema: " + cm.String() + " is not ASCII-compatible")
		}
		if r == utf8.RuneError && slices.Contains(c1, byte(i)) {
			r = rune(i)
		}
		t[i].n = copy(t[i].b[:], utf8.AppendRune(nil, r))
	}
	return t
}

// newISO8859 builds the table of an ISO 8859 part. ISO 8859 leaves
// 0x80-0x9F to the C1 controls, and the Unicode mapping tables (which MySQL's
// follow) map them to U+0080-U+009F; x/text leaves them undefined.
func newISO8859(cm *charmap.Charmap) *singleByte {
	c1 := make([]byte, 0, 0x20)
	for b := 0x80; b < 0xA0; b++ {
		c1 = append(c1, byte(b))
	}
	return newSingleByte(cm, c1...)
}

func (t *singleByte) decode(dst, raw []byte) ([]byte, error) {
	dst = slices.Grow(dst, len(raw)+len(raw)/4)
	start := 0 // raw[start:i] is ASCII not yet appended
	for i, b := range raw {
		if b < utf8.RuneSelf {
			continue
		}
		e := &t[b]
		dst = append(dst, raw[start:i]...)
		dst = append(dst, e.b[:e.n]...)
		start = i + 1
	}
	return append(dst, raw[start:]...), nil
}

// newTransform returns a decoder running enc's x/text decoder straight into
// dst's spare capacity. x/text decoders keep state, so each call takes its
// own from a pool.
func newTransform(enc encoding.Encoding) func(dst, raw []byte) ([]byte, error) {
	pool := &sync.Pool{New: func() any { return enc.NewDecoder() }}
	return func(dst, raw []byte) ([]byte, error) {
		d := pool.Get().(*encoding.Decoder)
		defer pool.Put(d)
		d.Reset()
		start := len(dst)
		// Every charset here needs at most 3 bytes of UTF-8 per 2 bytes of
		// input for valid text; invalid bytes and single-byte characters
		// can need more, which the loop grows for.
		dst = slices.Grow(dst, len(raw)+len(raw)/2+utf8.UTFMax)
		for {
			nDst, nSrc, err := d.Transform(dst[len(dst):cap(dst)], raw, true)
			dst = dst[:len(dst)+nDst]
			raw = raw[nSrc:]
			switch err {
			case nil:
				return dst, nil
			case transform.ErrShortDst:
				dst = slices.Grow(dst, 2*len(raw)+utf8.UTFMax)
			default:
				return dst[:start], err
			}
		}
	}
}
