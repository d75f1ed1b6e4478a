package emit

import (
	"testing"

	"github.com/sluicecdc/sluice/event"
)

func TestKinesisRouteKeys(t *testing.T) {
	commit := event.Position{File: "mysql-bin.000003", Offset: 5000}
	orders := Ref{Database: "shop", Table: "orders", Key: []byte(`[7]`), ServerID: 1, Commit: commit}
	tests := []struct {
		name string
		by   KinesisPartitionKey
		cols []string
		ref  Ref
		line string
		want string
	}{
		{"transaction", PartitionByTransaction, nil, orders, `{}`, "tx:1:mysql-bin.000003:5000"},
		{"transaction, not from the binlog", PartitionByTransaction, nil, Ref{Database: "shop", Table: "orders", Key: []byte(`[7]`)}, `{}`, "shop.orders[7]"},
		{"columns, maxwell", PartitionByColumns, []string{"customer_id"}, orders,
			`{"database":"shop","table":"orders","type":"insert","data":{"id":7,"customer_id":1042,"note":"x"}}`, "[1042]"},
		{"columns in order, strings", PartitionByColumns, []string{"region", "customer_id"}, orders,
			`{"type":"delete","data":{"customer_id":1042, "region":"eu"}}`, `["eu",1042]`},
		{"columns, debezium update", PartitionByColumns, []string{"customer_id"}, orders,
			`{"before":{"customer_id":1},"after":{"customer_id":2},"op":"u"}`, "[2]"},
		{"columns, debezium delete", PartitionByColumns, []string{"customer_id"}, orders,
			`{"before":{"customer_id":1},"after":null,"op":"d"}`, "[1]"},
		{"columns, debezium with schemas", PartitionByColumns, []string{"customer_id"}, orders,
			`{"schema":{},"payload":{"before":null,"after":{"customer_id":3},"op":"c"}}`, "[3]"},
		{"columns missing: by primary key", PartitionByColumns, []string{"customer_id"}, orders,
			`{"data":{"id":7}}`, "shop.orders[7]"},
		{"schema change: by primary key", PartitionByColumns, []string{"customer_id"}, Ref{Database: "shop", Table: "orders"},
			`{"type":"table-alter","sql":"ALTER TABLE orders ADD customer_id INT"}`, "shop.orders"},
	}
	for _, tt := range tests {
		cfg := testKinesisConfig()
		cfg.PartitionKey, cfg.Columns = tt.by, tt.cols
		s := newTestKinesisSink(t, &fakeKinesis{}, cfg)
		if got := s.routeKey(&tt.ref, []byte(tt.line)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, bad := range []func(*KinesisConfig){
		func(c *KinesisConfig) { c.PartitionKey = PartitionByColumns },
		func(c *KinesisConfig) { c.Columns = []string{"a"} },
		func(c *KinesisConfig) { c.PartitionKey = "row" },
	} {
		c := testKinesisConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
