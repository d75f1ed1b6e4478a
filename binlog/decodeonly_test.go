package binlog

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestDecodeOnly counts the rows of a binlog range: inserts, an update
// (before and after images: one row) and a delete.
func TestDecodeOnly(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.User, cfg.Password = s.Host, uint16(s.Port), s.User, s.Password
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	from, err := Head(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "INSERT INTO d.t VALUES (1, 1), (2, 2), (3, 3)", "UPDATE d.t SET v = 9 WHERE id = 2", "DELETE FROM d.t WHERE id = 3")
	to, err := Head(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := DecodeOnly(ctx, &cfg, mysql.MariaDBFlavor, from, to)
	if err != nil || rows != 5 {
		t.Fatalf("decode-only: %d rows, %v: want 5", rows, err)
	}
}
