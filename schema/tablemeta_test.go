package schema

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// describe renders a definition compactly: the default charset, the key,
// and per column name:TYPE/jdbc(length,scale) charset and flags.
func describe(m *TableMeta) string {
	if m == nil {
		return "nil"
	}
	num := func(n int) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cs=%s pk=%v", m.DefaultCharset, m.PrimaryKey)
	for _, c := range m.Columns {
		fmt.Fprintf(&b, "; %s:%s/%d(%s,%s)", c.Name, c.TypeName, c.JDBCType, num(c.Length), num(c.Scale))
		if c.Charset != "" {
			b.WriteString(" " + c.Charset)
		}
		if !c.Optional {
			b.WriteString(" notnull")
		}
		if c.AutoIncrement {
			b.WriteString(" auto")
		}
		if c.Generated {
			b.WriteString(" gen")
		}
		if len(c.EnumValues) > 0 {
			b.WriteString(" " + strings.Join(c.EnumValues, "|"))
		}
	}
	return b.String()
}

// TestMetaAfterDDL walks a table through DDL in a registry and checks the
// definition each statement leaves, as Debezium's MySQL DDL parser would
// describe it: CREATE from its column list, each ALTER applied to the
// previous definition, a rename carrying it over, a drop leaving none, and
// a table sluice first saw in a TABLE_MAP described from that shape.
func TestMetaAfterDDL(t *testing.T) {
	r := NewRegistry()
	steps := []struct {
		sql, db, table string
		want           string
	}{
		{"CREATE TABLE c (id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL, " +
			"price DECIMAL(10,2) UNSIGNED, n BIGINT(20) ZEROFILL, at DATETIME(6), ts TIMESTAMP NULL ON UPDATE CURRENT_TIMESTAMP, " +
			"e ENUM('a','b''c') CHARACTER SET latin1, s SET('x','y','z'), bin VARBINARY(16), txt MEDIUMTEXT COLLATE utf8mb4_bin, b BIT, d DECIMAL) DEFAULT CHARSET=utf8mb4",
			"d", "c",
			"cs=utf8mb4 pk=[id]; id:INT/4(-,-) notnull auto gen; name:VARCHAR/12(255,-) utf8mb4 notnull; price:DECIMAL UNSIGNED/3(10,2); " +
				"n:BIGINT UNSIGNED ZEROFILL/-5(20,-); at:DATETIME/93(6,-); ts:TIMESTAMP/2014(-,-) auto gen; e:ENUM/1(1,-) latin1 'a'|'b''c'; " +
				"s:SET/1(5,-) utf8mb4 'x'|'y'|'z'; bin:VARBINARY/-3(16,-); txt:MEDIUMTEXT/12(-,-) utf8mb4; b:BIT/-7(1,-); d:DECIMAL/3(10,0)"},
		{"ALTER TABLE c ADD middle VARCHAR(10) AFTER id, ADD first INT FIRST, DROP COLUMN price, DROP n, DROP at, DROP ts, DROP e, DROP s, DROP bin, DROP txt, DROP b, DROP d",
			"d", "c",
			"cs=utf8mb4 pk=[id]; first:INT/4(-,-); id:INT/4(-,-) notnull auto gen; middle:VARCHAR/12(10,-) utf8mb4; name:VARCHAR/12(255,-) utf8mb4 notnull"},
		{"ALTER TABLE c CHANGE name full_name VARCHAR(300) CHARACTER SET latin1 NULL, MODIFY first BIGINT NOT NULL AFTER full_name, RENAME COLUMN middle TO mid",
			"d", "c",
			"cs=utf8mb4 pk=[id]; id:INT/4(-,-) notnull auto gen; mid:VARCHAR/12(10,-) utf8mb4; full_name:VARCHAR/12(300,-) latin1; first:BIGINT/-5(-,-) notnull"},
		{"ALTER TABLE c DROP PRIMARY KEY, ADD PRIMARY KEY (mid, first)",
			"d", "c",
			"cs=utf8mb4 pk=[mid first]; id:INT/4(-,-) notnull auto gen; mid:VARCHAR/12(10,-) utf8mb4 notnull; full_name:VARCHAR/12(300,-) latin1; first:BIGINT/-5(-,-) notnull"},
		{"RENAME TABLE c TO c2", "d", "c2",
			"cs=utf8mb4 pk=[mid first]; id:INT/4(-,-) notnull auto gen; mid:VARCHAR/12(10,-) utf8mb4 notnull; full_name:VARCHAR/12(300,-) latin1; first:BIGINT/-5(-,-) notnull"},
		{"CREATE TABLE c3 LIKE c2", "d", "c3",
			"cs=utf8mb4 pk=[mid first]; id:INT/4(-,-) notnull auto gen; mid:VARCHAR/12(10,-) utf8mb4 notnull; full_name:VARCHAR/12(300,-) latin1; first:BIGINT/-5(-,-) notnull"},
		{"DROP TABLE c2", "d", "c2", "nil"},
		{"CREATE TABLE u (a INT, b VARCHAR(5) CHARSET ascii UNIQUE, c INT UNIQUE)", "d", "u",
			"cs= pk=[b]; a:INT/4(-,-); b:VARCHAR/12(5,-) ascii; c:INT/4(-,-)"},
		{"CREATE TABLE u2 (a INT UNIQUE, b INT, PRIMARY KEY (b))", "d", "u2",
			"cs= pk=[b]; a:INT/4(-,-); b:INT/4(-,-) notnull"},
		{"ALTER TABLE unknown ADD x INT", "d", "unknown", "nil"},
		// a table first seen in a TABLE_MAP (see below, at offset 5000)
		{"ALTER TABLE old ADD z CHAR(3) AFTER k", "d", "old",
			"cs= pk=[k]; k:INT UNSIGNED/4(-,-) notnull; z:CHAR/1(3,-); v:VARCHAR/12(20,-) utf8mb4; c:CHAR/1(4,-) latin1 notnull; big:LONGBLOB/2004(-,-); en:ENUM/1(1,-) utf8mb4 'p'|'q'"},
	}
	old := &Table{Database: "d", Name: "old", PrimaryKey: []int{0}, Columns: []Column{
		{Name: "k", Type: mysql.MYSQL_TYPE_LONG, Unsigned: true},
		{Name: "v", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 80, Charset: "utf8mb4", Nullable: true},
		{Name: "c", Type: mysql.MYSQL_TYPE_STRING, Length: 4, Charset: "latin1"},
		{Name: "big", Type: mysql.MYSQL_TYPE_BLOB, Meta: 4, Charset: "binary", Nullable: true},
		{Name: "en", Type: mysql.MYSQL_TYPE_ENUM, Values: []string{"p", "q"}, Charset: "utf8mb4", Nullable: true},
	}}
	r.Observe(old, pos(5000))
	for i, s := range steps {
		p := pos(uint64(1000 * (i + 1)))
		if s.table == "old" {
			p = pos(6000)
		}
		for _, d := range ClassifyDDL("d", s.sql) {
			if d.Table == s.table {
				r.ApplyDDL(&d, s.sql, p)
			}
		}
		got := describe(r.MetaAfter(s.db, s.table, p))
		if got != s.want {
			t.Errorf("after %s:\n got %s\nwant %s", s.sql, got, s.want)
		}
	}
	// the same DDL streamed again keeps its definition
	d := ClassifyDDL("d", steps[0].sql)[0]
	r.ApplyDDL(&d, steps[0].sql, pos(1000))
	if got := describe(r.MetaAfter("d", "c", pos(1000))); got != steps[0].want {
		t.Errorf("replayed CREATE: got %s", got)
	}
}
