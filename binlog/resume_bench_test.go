package binlog

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"
)

// BenchmarkExecutedGTIDs is the cost of keeping the executed GTID set:
// Add runs at every commit (in the stream and in the encoder), String only
// for the checkpoint of a flushed batch.
func BenchmarkExecutedGTIDs(b *testing.B) {
	u := uuid.MustParse("3e11fa47-71ca-11e1-9e33-c80aa9429562")
	for _, tc := range []struct {
		flavor, start string
		gtid          func(n int64) GTID
	}{
		{mysql.MariaDBFlavor, "0-1-100,1-2-5,2-3-7", func(n int64) GTID {
			return GTID{MariaDB: &mysql.MariadbGTID{DomainID: 0, ServerID: 1, SequenceNumber: uint64(n)}}
		}},
		{mysql.MySQLFlavor, u.String() + ":1-100,9e33c80a-71ca-11e1-9e33-c80aa9429562:1-5", func(n int64) GTID {
			return GTID{SID: u, GNO: n}
		}},
	} {
		set, err := ParseExecutedSet(tc.flavor, tc.start)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.flavor+"/add", func(b *testing.B) {
			n := int64(100)
			for b.Loop() {
				n++
				set.Add(tc.gtid(n))
			}
		})
		b.Run(tc.flavor+"/string", func(b *testing.B) {
			for b.Loop() {
				_ = set.String()
			}
		})
	}
}
