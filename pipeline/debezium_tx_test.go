package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestDebeziumTransactionMetadata: with provide.transaction.metadata, a
// transaction's change events come between a BEGIN and an END event named by
// its GTID, each with a transaction block counting it in the transaction
// and in its table; END counts the events per table; a DDL statement gets
// no boundary events. A schema change event's source.thread is the id of the
// client connection that ran it; MariaDB logs no thread for row changes (its
// GTID event stands for BEGIN), so theirs is null.
func TestDebeziumTransactionMetadata(t *testing.T) {
	for _, schemas := range []bool{false, true} {
		t.Run(fmt.Sprint("schemas=", schemas), func(t *testing.T) {
			h := newHarness(t, srv)
			h.cfg.Format = pipeline.FormatDebezium
			h.cfg.Debezium = event.DefaultDebeziumOptions()
			h.cfg.Debezium.TransactionMetadata = true
			h.cfg.Debezium.SchemasEnable = schemas

			ctx := context.Background()
			conn, err := srv.DB(t).Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var thread int64
			if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&thread); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				"DROP DATABASE IF EXISTS dbz_tx", "CREATE DATABASE dbz_tx",
				"CREATE TABLE dbz_tx.a (id INT PRIMARY KEY, v INT)", "CREATE TABLE dbz_tx.b (id INT PRIMARY KEY)",
				"BEGIN", "INSERT INTO dbz_tx.a VALUES (1, 1), (2, 2)", "INSERT INTO dbz_tx.b VALUES (1)",
				"UPDATE dbz_tx.a SET v = 3 WHERE id = 1", "COMMIT",
				"INSERT INTO dbz_tx.b VALUES (2)",
			} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			h.catchUp()

			type want struct {
				status, table       string
				total, order, count int
			}
			wants := []want{
				{status: "BEGIN"},
				{table: "a", total: 1, order: 1}, {table: "a", total: 2, order: 2}, {table: "b", total: 3, order: 1}, {table: "a", total: 4, order: 3},
				{status: "END", count: 4},
				{status: "BEGIN"}, {table: "b", total: 1, order: 1}, {status: "END", count: 1},
			}
			var got []map[string]any
			for i, l := range h.lines() {
				ev := decodeEvent(t, i, l)
				if schemas {
					if ev["schema"] == nil {
						t.Fatalf("event %d has no schema: %s", i, l)
					}
					ev = ev["payload"].(map[string]any)
				}
				if ev["databaseName"] != nil {
					if th := ev["source"].(map[string]any)["thread"]; fmt.Sprint(th) != fmt.Sprint(thread) {
						t.Errorf("schema change event %d: source.thread %v, want the connection's id %d", i, th, thread)
					}
					continue
				}
				got = append(got, ev)
			}
			if len(got) != len(wants) {
				t.Fatalf("%d events, want %d: %v", len(got), len(wants), got)
			}
			var gtid any
			for i, w := range wants {
				ev := got[i]
				if w.status != "" {
					if ev["status"] != w.status {
						t.Fatalf("event %d: status %v, want %s: %v", i, ev["status"], w.status, ev)
					}
					if w.status == "BEGIN" {
						gtid = ev["id"]
						if gtid == nil || gtid == "" || ev["event_count"] != nil || ev["data_collections"] != nil {
							t.Errorf("BEGIN %v", ev)
						}
						continue
					}
					if ev["id"] != gtid || fmt.Sprint(ev["event_count"]) != fmt.Sprint(w.count) {
						t.Errorf("END %v, want id %v and %d events", ev, gtid, w.count)
					}
					continue
				}
				src := ev["source"].(map[string]any)
				if src["table"] != w.table || src["gtid"] != gtid {
					t.Errorf("event %d: table %v gtid %v, want %s %v", i, src["table"], src["gtid"], w.table, gtid)
				}
				if src["thread"] != nil {
					t.Errorf("event %d: source.thread %v, want null (MariaDB logs none for rows)", i, src["thread"])
				}
				tx, _ := ev["transaction"].(map[string]any)
				wantTx := map[string]any{"id": gtid, "total_order": json.Number(fmt.Sprint(w.total)), "data_collection_order": json.Number(fmt.Sprint(w.order))}
				if !reflect.DeepEqual(tx, wantTx) {
					t.Errorf("event %d: transaction %v, want %v", i, tx, wantTx)
				}
			}
			end := got[5]["data_collections"]
			wantEnd := []any{
				map[string]any{"data_collection": "dbz_tx.a", "event_count": json.Number("3")},
				map[string]any{"data_collection": "dbz_tx.b", "event_count": json.Number("1")},
			}
			if !reflect.DeepEqual(end, wantEnd) {
				t.Errorf("END data_collections %v, want %v", end, wantEnd)
			}
		})
	}
}
