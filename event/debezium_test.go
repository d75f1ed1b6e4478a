package event

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

func TestDebeziumBytes(t *testing.T) {
	tbl := ordersTable()
	c := &Commit{Timestamp: 1700000000, Xid: 99}
	pos := Position{File: "mysql-bin.000003", Offset: 4711}
	tests := []struct {
		name string
		tx   *Tx
		row  *Row
		want string
	}{
		{
			name: "update",
			tx:   &Tx{ServerID: 7, GTID: "0-7-42"},
			row: &Row{
				Table: tbl, Type: Update, Pos: pos, Index: 1,
				Before: []any{int32(5), "old", "12.50", nil},
				After:  []any{int32(5), "new", "12.50", "2024-02-29 23:59:59"},
			},
			want: `{"before":{"id":5,"note":"old","amount":"BOI=","created":null},` +
				`"after":{"id":5,"note":"new","amount":"BOI=","created":1709251199000},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":"0-7-42","file":"mysql-bin.000003","pos":4711,"row":1,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"u"}`,
		},
		{
			name: "insert without GTID",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: Insert, Pos: pos, After: []any{int32(6), nil, "-0.01", nil}},
			want: `{"before":null,"after":{"id":6,"note":null,"amount":"/w==","created":null},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"mysql-bin.000003","pos":4711,"row":0,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"c"}`,
		},
		{
			name: "delete",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: Delete, Pos: pos, Index: 2, Before: []any{int32(6), "x", "1.00", nil}},
			want: `{"before":{"id":6,"note":"x","amount":"ZA==","created":null},"after":null,` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"mysql-bin.000003","pos":4711,"row":2,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"d"}`,
		},
		{
			name: "snapshot read",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: BootstrapInsert, After: []any{int32(6), "x", "1.00", nil}},
			want: `{"before":null,"after":{"id":6,"note":"x","amount":"ZA==","created":null},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"true",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"","pos":0,"row":0,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"r"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDebezium("main")
			// The commit fields do not depend on the row's place in the
			// transaction.
			for _, last := range []bool{false, true} {
				got := encodeEvent(t, d, tt.tx, tt.row, c, 0, last)
				if got != tt.want {
					t.Errorf("last=%v: got\n%s\nwant\n%s", last, got, tt.want)
				}
				if !json.Valid([]byte(got)) {
					t.Errorf("not JSON: %s", got)
				}
			}
		})
	}
}

func TestDebeziumUnknownType(t *testing.T) {
	r := &Row{Table: ordersTable(), Type: Type(42)}
	if _, _, err := NewDebezium("main").AppendRow(nil, &Tx{}, r); err == nil {
		t.Error("AppendRow accepted a row of unknown type")
	}
}

// customersTable is the customers table of Debezium's documentation.
func customersTable() *schema.Table {
	return &schema.Table{
		Database: "inventory",
		Name:     "customers",
		Columns: []schema.Column{
			{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
			{Name: "first_name", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
			{Name: "last_name", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
			{Name: "email", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
		},
		PrimaryKey: []int{0},
	}
}

// TestDebeziumKeyDocumentationExample: the key of a customers row, with
// schemas, is the documentation's change event key (its payload's id made
// the example row's 1004).
func TestDebeziumKeyDocumentationExample(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "testdata", "golden-debezium", "docs", "key.json"))
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultDebeziumOptions()
	opts.SchemasEnable = true
	r := &Row{Table: customersTable(), Type: Delete, Before: []any{int32(1004), "Anne", "Kretchmar", "annek@noanswer.org"}}
	got, err := AppendDebeziumKey(nil, "mysql-server-1", r, opts)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("key\n got %s\nwant %s", got, want)
	}
	opts.SchemasEnable = false
	got, err = AppendDebeziumKey(nil, "mysql-server-1", r, opts)
	if err != nil || string(got) != `{"id":1004}` {
		t.Errorf("key without schema: %s, %v", got, err)
	}
	r.Table.PrimaryKey = nil
	if got, err := AppendDebeziumKey(nil, "p", r, opts); err != nil || len(got) != 0 {
		t.Errorf("table without a primary key: key %q, %v; want none", got, err)
	}
	if ks, err := DebeziumKeySchema("p", r.Table, opts); err != nil || ks != nil {
		t.Errorf("table without a primary key: key schema %q, %v; want none", ks, err)
	}
}

// TestDebeziumValues renders single values the way Debezium documents
// them, including the ones a MySQL server cannot produce in the golden
// fixtures (DATETIME before year 1 is not among them; fractions of negative
// epochs are).
func TestDebeziumValues(t *testing.T) {
	for _, tt := range []struct {
		col  schema.Column
		mode func(*DebeziumOptions)
		v    any
		want string
	}{
		{schema.Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 5, Scale: 2}, nil, "-1.29", `"/38="`},
		{schema.Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 5, Scale: 2}, nil, "1.28", `"AIA="`},
		{schema.Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 5, Scale: 2}, nil, "-1.28", `"gA=="`},
		{schema.Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 5, Scale: 2}, func(o *DebeziumOptions) { o.DecimalHandlingMode = DecimalString }, "-1.20", `"-1.20"`},
		{schema.Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 5, Scale: 2}, func(o *DebeziumOptions) { o.DecimalHandlingMode = DecimalDouble }, "-1.20", `-1.2`},
		{schema.Column{Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, nil, uint64(1<<63 + 1), `-9223372036854775807`},
		{schema.Column{Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, func(o *DebeziumOptions) { o.BigintUnsignedHandlingMode = BigintPrecise }, uint64(1 << 63), `"AIAAAAAAAAAA"`},
		{schema.Column{Type: mysql.MYSQL_TYPE_DATETIME2, Fsp: 3}, nil, "1969-12-31 23:59:59.999", `-1`},
		{schema.Column{Type: mysql.MYSQL_TYPE_DATETIME2, Fsp: 6}, func(o *DebeziumOptions) { o.TimePrecisionMode = TimeConnect }, "1969-12-31 23:59:59.999999", `-1`},
		{schema.Column{Type: mysql.MYSQL_TYPE_DATE, Nullable: true}, nil, "2024-02-30", `null`},
		{schema.Column{Type: mysql.MYSQL_TYPE_DATE}, nil, "0000-00-00", `0`},
		{schema.Column{Type: mysql.MYSQL_TYPE_TIMESTAMP2, Fsp: 3}, nil, "2018-06-20 13:37:03", `"2018-06-20T13:37:03.000Z"`},
		{schema.Column{Type: mysql.MYSQL_TYPE_TIME2, Fsp: 6}, nil, "-838:59:59.000001", `-3020399000001`},
		{schema.Column{Type: mysql.MYSQL_TYPE_TIME2}, func(o *DebeziumOptions) { o.TimePrecisionMode = TimeConnect }, "01:00:00", `3600000`},
		{schema.Column{Type: mysql.MYSQL_TYPE_BIT, Meta: 1<<8 | 2}, nil, int64(0x201), `"AQI="`},
		{schema.Column{Type: mysql.MYSQL_TYPE_BLOB, Charset: "binary"}, func(o *DebeziumOptions) { o.BinaryHandlingMode = BinaryHex }, []byte{0xde, 0xad}, `"dead"`},
		{schema.Column{Type: mysql.MYSQL_TYPE_BLOB, Charset: "binary"}, func(o *DebeziumOptions) { o.BinaryHandlingMode = BinaryBase64URLSafe }, []byte{0xfb, 0xff}, `"-_8="`},
		{schema.Column{Type: mysql.MYSQL_TYPE_SET, Values: []string{`a"`, "b"}}, nil, int64(3), `"a\",b"`},
	} {
		o := DefaultDebeziumOptions()
		if tt.mode != nil {
			tt.mode(&o)
		}
		tt.col.Name = "c"
		dc, err := newDbzColumn(&tt.col, &o)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := dc.appendDbz(nil, tt.v, nil)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s %v: got %s, %v; want %s", tt.col.TypeName(), tt.v, got, err, tt.want)
		}
	}
}

// TestUnscaledSmallMatchesBig: the allocation-free path for short decimals
// writes exactly what the big.Int path does.
func TestUnscaledSmallMatchesBig(t *testing.T) {
	for _, s := range []string{"0", "0.00", "-0.01", "1.27", "1.28", "-1.28", "-1.29", "127", "128", "-128", "-129",
		"32767", "32768", "-32768", "-32769", "999999999999999999", "-999999999999999999", "12345678.90", "-12345678.90",
		"9223372036854775807", "-0.000000000000000001"} {
		small, ok := appendUnscaledSmall(nil, s)
		n, _ := new(big.Int).SetString(strings.Replace(s, ".", "", 1), 10)
		want := appendUnscaled(nil, n)
		if len(strings.Replace(strings.TrimPrefix(s, "-"), ".", "", 1)) > 18 {
			if ok {
				t.Errorf("%s: the small path took %d digits", s, len(s))
			}
			continue
		}
		if !ok || string(small) != string(want) {
			t.Errorf("%s: small path %s, big.Int path %s", s, small, want)
		}
	}
}

// TestDebeziumSchemaChangeSchema encodes schema change events with schemas
// on (a CREATE with every kind of column metadata, a DROP) and checks the
// payload against the schema as Kafka Connect's JsonConverter would read
// it: each struct's fields by name and in order, null only in an optional
// field, arrays of structs item by item.
func TestDebeziumSchemaChangeSchema(t *testing.T) {
	opts := DefaultDebeziumOptions()
	opts.SchemasEnable = true
	meta := &schema.TableMeta{DefaultCharset: "utf8mb4", PrimaryKey: []string{"id"}, Columns: []schema.ColumnMeta{
		{Name: "id", TypeName: "INT", JDBCType: 4, Length: -1, Scale: -1, AutoIncrement: true, Generated: true},
		{Name: "e", TypeName: "ENUM", JDBCType: 1, Charset: "utf8mb4", Length: 1, Scale: -1, Optional: true, EnumValues: []string{"'a'", "'b'"}},
		{Name: "d", TypeName: "DECIMAL", JDBCType: 3, Length: 10, Scale: 2, Optional: true},
	}}
	for _, c := range []*DDL{
		{DDL: schema.DDL{Kind: schema.TableCreate, Database: "db", Table: "t"}, SQL: "CREATE TABLE t ...", Meta: meta},
		{DDL: schema.DDL{Kind: schema.TableDrop, Database: "db", Table: "t"}, SQL: "DROP TABLE t", Meta: meta},
	} {
		d := NewDebeziumWith("main", opts)
		b, split, err := d.AppendDDL(nil, &Tx{ServerID: 1}, c)
		if err != nil {
			t.Fatal(err)
		}
		msgb := d.AppendCommit(append([]byte(nil), b[:split]...), &Commit{Timestamp: 1}, 0, true)
		b = append(msgb, b[split:]...)
		var msg struct {
			Schema  map[string]any `json:"schema"`
			Payload any            `json:"payload"`
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatalf("%s: %v\n%s", c.SQL, err, b)
		}
		fitsSchema(t, c.SQL, msg.Schema, msg.Payload)
		tc := msg.Payload.(map[string]any)["tableChanges"].([]any)[0].(map[string]any)
		if got := tc["table"] == nil; got != (c.Kind == schema.TableDrop) {
			t.Errorf("%s: table null is %v", c.SQL, got)
		}
	}
}

func fitsSchema(t *testing.T, path string, s map[string]any, v any) {
	t.Helper()
	if v == nil {
		if s["optional"] != true {
			t.Errorf("%s: null in a required %v", path, s["type"])
		}
		return
	}
	switch s["type"] {
	case "struct":
		obj, ok := v.(map[string]any)
		fields, _ := s["fields"].([]any)
		if !ok || len(obj) != len(fields) {
			t.Errorf("%s: %v does not have the %d fields of %v", path, v, len(fields), s["name"])
			return
		}
		for _, f := range fields {
			fm := f.(map[string]any)
			name := fm["field"].(string)
			fv, ok := obj[name]
			if !ok {
				t.Errorf("%s.%s: missing", path, name)
				continue
			}
			fitsSchema(t, path+"."+name, fm, fv)
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			t.Errorf("%s: %v is not an array", path, v)
			return
		}
		for i, it := range items {
			fitsSchema(t, fmt.Sprintf("%s[%d]", path, i), s["items"].(map[string]any), it)
		}
	case "string":
		if _, ok := v.(string); !ok {
			t.Errorf("%s: %v is not a string", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			t.Errorf("%s: %v is not a boolean", path, v)
		}
	case "int32", "int64":
		if _, ok := v.(float64); !ok {
			t.Errorf("%s: %v is not a number", path, v)
		}
	}
}
