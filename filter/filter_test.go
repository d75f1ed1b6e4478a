package filter

import (
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

func TestTable(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      Config
		db, tbl  string
		want     bool
		database bool // Database(db)
	}{
		{"empty streams all", Config{}, "shop", "users", true, true},
		{"system out by default", Config{}, "mysql", "rds_heartbeat2", false, false},
		{"system out by case too", Config{}, "MySQL", "user", false, false},
		{"sys out", Config{}, "sys", "x", false, false},
		{"performance_schema out", Config{}, "performance_schema", "x", false, false},
		{"information_schema out", Config{}, "information_schema", "x", false, false},
		{"a glob does not bring system back", Config{Include: []string{"*.*"}}, "mysql", "user", false, false},
		{"named system in", Config{Include: []string{"mysql.*"}}, "mysql", "user", true, true},
		{"include matches", Config{Include: []string{"shop.*", "billing.invoices"}}, "billing", "invoices", true, true},
		{"include misses", Config{Include: []string{"shop.*", "billing.invoices"}}, "billing", "refunds", false, true},
		{"include misses db", Config{Include: []string{"shop.*"}}, "other", "t", false, false},
		{"exclude wins", Config{Include: []string{"shop.*"}, Exclude: []string{"shop.audit_*"}}, "shop", "audit_2024", false, true},
		{"exclude elsewhere", Config{Include: []string{"shop.*"}, Exclude: []string{"shop.audit_*"}}, "shop", "orders", true, true},
		{"exclude whole db", Config{Exclude: []string{"tmp.*"}}, "tmp", "t", false, false},
		{"table case matters", Config{Include: []string{"shop.Users"}}, "shop", "users", false, true},
		{"star does not cross the dot", Config{Include: []string{"shop*.t"}}, "shop", "x.t", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Table(c.db, c.tbl); got != c.want {
				t.Errorf("Table(%s, %s) = %v, want %v", c.db, c.tbl, got, c.want)
			}
			if got := f.Database(c.db); got != c.database {
				t.Errorf("Database(%s) = %v, want %v", c.db, got, c.database)
			}
		})
	}
}

func TestDDLFollowsTable(t *testing.T) {
	f, err := New(Config{Include: []string{"shop.*"}, Exclude: []string{"shop.audit"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    schema.DDL
		want bool
	}{
		{schema.DDL{Kind: schema.TableAlter, Database: "shop", Table: "users"}, true},
		{schema.DDL{Kind: schema.TableAlter, Database: "shop", Table: "audit"}, false},
		{schema.DDL{Kind: schema.TableRename, Database: "shop", Table: "audit", OldDatabase: "shop", OldTable: "users"}, true},
		{schema.DDL{Kind: schema.TableCreate, Database: "other", Table: "t"}, false},
		{schema.DDL{Kind: schema.DatabaseCreate, Database: "shop"}, true},
		{schema.DDL{Kind: schema.DatabaseCreate, Database: "other"}, false},
		{schema.DDL{Kind: schema.TableCreate, Database: "mysql", Table: "t"}, false},
	} {
		if got := f.DDL(&c.d); got != c.want {
			t.Errorf("DDL(%+v) = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Include: []string{"shop.[a"}}, "bad glob"},
		{Config{Include: []string{"shop"}}, "want database.table"},
		{Config{Exclude: []string{"a.b.c"}}, "want database.table"},
		{Config{ExcludeColumns: []string{"shop.users"}}, "want database.table.column"},
		{Config{HashColumns: []string{"shop..email"}}, "empty part"},
		{Config{HashColumns: []string{"shop.users.email"}}, "no key"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	ok := Config{Include: []string{"shop.*"}, HashColumns: []string{"shop.users.email"}, HashKey: []byte("k")}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	if s := ok.String(); strings.Contains(s, `"k"`) || !strings.Contains(s, "shop.users.email") || !strings.Contains(s, `"key_id":"`) {
		t.Errorf("String() = %s: want the definition and a key id, without the key", s)
	}
	other := ok
	other.HashKey = []byte("k2")
	if ok.String() == other.String() {
		t.Errorf("a changed key leaves the definition the same: %s", ok.String())
	}
}

func users() *schema.Table {
	return &schema.Table{Database: "shop", Name: "users", Version: 3, PrimaryKey: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
		{Name: "Email", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4", Nullable: true},
		{Name: "password_hash", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
		{Name: "age", Type: mysql.MYSQL_TYPE_LONG},
	}}
}

func TestRow(t *testing.T) {
	key := []byte("secret")
	f, err := New(Config{ExcludeColumns: []string{"shop.users.password_*"}, HashColumns: []string{"shop.*.email", "shop.users.age"}, HashKey: key})
	if err != nil {
		t.Fatal(err)
	}
	tbl := users()
	before := []any{int32(1), "a@x", "h1", int32(40)}
	after := []any{int32(1), nil, "h2", int32(41)}
	r := event.Row{Table: tbl, Type: event.Update, Before: before, After: after}
	if err := f.Row(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Table.Columns) != 3 || r.Table.Columns[1].Name != "Email" || r.Table.Columns[2].Name != "age" || r.Table.Version != 3 {
		t.Fatalf("filtered shape %+v", r.Table)
	}
	if r.Table.Columns[2].Type != mysql.MYSQL_TYPE_VARCHAR {
		t.Errorf("a hashed INT column must be text in the shape events carry: %+v", r.Table.Columns[2])
	}
	if want := HashText(key, []byte("a@x")); r.Before[1] != want || len(want) != 64 {
		t.Errorf("before email %v, want %s", r.Before[1], want)
	}
	if r.After[1] != nil {
		t.Errorf("NULL hashed to %v", r.After[1])
	}
	if want := HashText(key, []byte("41")); r.After[2] != want {
		t.Errorf("age hashed to %v, want the HMAC of its text %s", r.After[2], want)
	}
	if before[1] != "a@x" || len(before) != 4 {
		t.Errorf("the source image was modified: %v", before)
	}
	// the same shape is reused: encoders cache by table pointer
	r2 := event.Row{Table: tbl, Type: event.Insert, After: after}
	if err := f.Row(&r2); err != nil || r2.Table != r.Table {
		t.Errorf("second row: shape %p, first %p, err %v", r2.Table, r.Table, err)
	}
	// a table the column patterns miss keeps its shape and images
	other := &schema.Table{Database: "shop", Name: "orders", Columns: []schema.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONG}}}
	r3 := event.Row{Table: other, Type: event.Insert, After: []any{int32(5)}}
	if err := f.Row(&r3); err != nil || r3.Table != other {
		t.Errorf("unfiltered table changed: %+v %v", r3.Table, err)
	}
}

func TestRowRefusesDroppedKey(t *testing.T) {
	f, err := New(Config{ExcludeColumns: []string{"shop.users.id"}})
	if err != nil {
		t.Fatal(err)
	}
	r := event.Row{Table: users(), Type: event.Insert, After: []any{int32(1), "a", "b", int32(2)}}
	if err := f.Row(&r); err == nil || !strings.Contains(err.Error(), "hash it") {
		t.Errorf("Row = %v, want the dropped key refused", err)
	}
}

func TestApplyReport(t *testing.T) {
	f, err := New(Config{Include: []string{"shop.*", "nope.*"}, ExcludeColumns: []string{"shop.users.password_hash", "shop.users.id"}, HashColumns: []string{"shop.users.email", "shop.gone.x"}, HashKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Apply([]Column{
		{Database: "mysql", Table: "user", Name: "Host"},
		{Database: "shop", Table: "users", Name: "id", Key: true},
		{Database: "shop", Table: "users", Name: "email"},
		{Database: "shop", Table: "users", Name: "password_hash"},
		{Database: "other", Table: "t", Name: "id"},
	})
	if len(r.Streamed) != 1 || r.Streamed[0].Table != "shop.users" || strings.Join(r.Streamed[0].Hashed, ",") != "email" ||
		strings.Join(r.Streamed[0].Dropped, ",") != "id,password_hash" {
		t.Errorf("streamed %+v", r.Streamed)
	}
	if strings.Join(r.Excluded, ",") != "mysql.user,other.t" {
		t.Errorf("excluded %v", r.Excluded)
	}
	if strings.Join(r.Unmatched, ";") != "filter.include nope.*;filter.columns.hash shop.gone.x" {
		t.Errorf("unmatched %v", r.Unmatched)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "shop.users.id") {
		t.Errorf("problems %v", r.Problems)
	}
	was, _ := New(Config{Include: []string{"other.*"}})
	before := was.Apply([]Column{{Database: "shop", Table: "users", Name: "id"}, {Database: "other", Table: "t", Name: "id"}})
	added, removed := Diff(&before, &r)
	if strings.Join(added, ",") != "shop.users" || strings.Join(removed, ",") != "other.t" {
		t.Errorf("Diff = +%v -%v", added, removed)
	}
}
