package binlog

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestCheckGTIDResume: a GTID resume is refused, as a "checkpoint"
// preflight failure naming the fix, exactly when the server purged
// transactions the executed set lacks.
func TestCheckGTIDResume(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	for _, c := range []struct {
		flavor, executed, purged string
		lost                     bool
	}{
		{mysql.MariaDBFlavor, "0-1-100", "", false},
		{mysql.MariaDBFlavor, "0-1-100", "0-1-100", false},
		{mysql.MariaDBFlavor, "0-1-100", "0-1-90,0-2-100", false}, // a binlog state: several servers in a domain
		{mysql.MariaDBFlavor, "0-2-120", "0-1-110", false},        // after a failover: the sequence decides
		{mysql.MariaDBFlavor, "0-1-100", "0-1-101", true},
		{mysql.MariaDBFlavor, "0-1-100", "0-2-50,0-1-101", true},
		{mysql.MariaDBFlavor, "0-1-100", "0-1-5,1-1-3", true}, // a domain the set has never seen
		{mysql.MySQLFlavor, u1 + ":1-100", "", false},
		{mysql.MySQLFlavor, u1 + ":1-100", u1 + ":1-80", false},
		{mysql.MySQLFlavor, u1 + ":1-100," + u2 + ":1-5", u1 + ":1-100," + u2 + ":1-5", false},
		{mysql.MySQLFlavor, u1 + ":1-100", u1 + ":1-101", true},
		{mysql.MySQLFlavor, u1 + ":1-100", u1 + ":1-50," + u2 + ":1-2", true},
	} {
		err := CheckGTIDResume(c.flavor, c.executed, c.purged)
		var pe *PreflightError
		switch {
		case !c.lost && err != nil:
			t.Errorf("%s executed %s purged %s: %v, want no error", c.flavor, c.executed, c.purged, err)
		case c.lost && (!errors.As(err, &pe) || pe.Check != "checkpoint" || !strings.Contains(err.Error(), "snapshot.mode: when_needed")):
			t.Errorf("%s executed %s purged %s: %v, want a checkpoint preflight error naming the fix", c.flavor, c.executed, c.purged, err)
		}
	}
}
