package pipeline

import (
	"testing"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
)

func TestMeasureRetention(t *testing.T) {
	files := []binlog.File{{Name: "b.000003", Size: 100}, {Name: "b.000004", Size: 200}, {Name: "b.000005", Size: 50}}
	for _, c := range []struct {
		cp          event.Position
		known       bool
		files       int
		bytesBefore uint64
	}{
		{event.Position{File: "b.000003", Offset: 40}, true, 0, 40},
		{event.Position{File: "b.000004", Offset: 4}, true, 1, 104},
		{event.Position{File: "b.000005", Offset: 50}, true, 2, 350},
		{event.Position{File: "b.000002", Offset: 4}, false, 0, 0}, // purged already
	} {
		r := measureRetention(files, c.cp)
		if r.Known != c.known || r.FilesFromOldest != c.files || r.BytesFromOldest != c.bytesBefore {
			t.Errorf("%s: got known %v files %d bytes %d, want %v %d %d", c.cp, r.Known, r.FilesFromOldest, r.BytesFromOldest, c.known, c.files, c.bytesBefore)
		}
		if r.Oldest != "b.000003" || r.Newest != "b.000005" || r.Files != 3 || r.Bytes != 350 {
			t.Errorf("%s: server side %+v", c.cp, r)
		}
	}
	if n, ok := binlog.FileIndex("mysql-bin.000042"); !ok || n != 42 {
		t.Errorf("FileIndex = %d %v", n, ok)
	}
	if _, ok := binlog.FileIndex("nonumber"); ok {
		t.Error("FileIndex of a name without a number")
	}
}
