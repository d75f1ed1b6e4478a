package snapshot

import (
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

func TestMemberList(t *testing.T) {
	for in, want := range map[string][]string{
		"enum('a','b')":          {"a", "b"},
		"set('it''s','x,y','')":  {"it's", "x,y", ""},
		"enum('(',')')":          {"(", ")"},
		"enum('small','medium')": {"small", "medium"},
	} {
		got, err := memberList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("memberList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"enum", "enum(a)", "enum('a)"} {
		if _, err := memberList(bad); err == nil {
			t.Errorf("memberList(%q): no error", bad)
		}
	}
}

func TestChunkQuery(t *testing.T) {
	tbl := &schema.Table{Database: "d", Name: "t`x", Columns: []schema.Column{
		{Name: "a", Type: mysql.MYSQL_TYPE_LONG},
		{Name: "e", Type: mysql.MYSQL_TYPE_ENUM},
		{Name: "f", Type: mysql.MYSQL_TYPE_FLOAT},
		{Name: "s", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "latin1"},
	}, PrimaryKey: []int{0, 3}}
	q, err := chunkQuery(tbl, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `a`, `e`+0, `f`+0e0, `s`, `a`, `s` FROM `d`.`t``x` ORDER BY `a`, `s` LIMIT 10"; q != want {
		t.Errorf("first chunk:\n got %s\nwant %s", q, want)
	}
	q, err = chunkQuery(tbl, []string{"-7", "_latin1 X'e9'"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `a`, `e`+0, `f`+0e0, `s`, `a`, `s` FROM `d`.`t``x` WHERE (`a` > -7) OR (`a` = -7 AND `s` > _latin1 X'e9') ORDER BY `a`, `s` LIMIT 10"; q != want {
		t.Errorf("next chunk:\n got %s\nwant %s", q, want)
	}
	// Resume keys come from the checkpoint: anything but a literal sluice
	// writes is refused, never spliced into SQL.
	for _, bad := range [][]string{{"1"}, {"1); DROP TABLE t; --", "2"}, {"'a' OR 1=1", "2"}, {"1", "X'zz'"}} {
		if _, err := chunkQuery(tbl, bad, 10); err == nil {
			t.Errorf("resume key %q accepted", bad)
		}
	}
	for _, ok := range []string{"42", "-1.50", "1.5e+00", "X'00ff'", "_utf8mb4 X'61'", "'2024-01-02 03:04:05.123'", "'-838:59:59'"} {
		if !validLiteral(ok) {
			t.Errorf("literal %q refused", ok)
		}
	}
}
