package binlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/event"
)

// DecodeOnly reads the binlog from `from` until `to` with go-mysql's
// BinlogSyncer alone, configured as sluice's streamer configures it but
// with go-mysql's own row decoder, and does nothing with the events but
// count rows: the limit benchmarks compare sluice's throughput with. It returns the rows decoded (an
// update's before and after image count as one).
func DecodeOnly(ctx context.Context, cfg *Config, flavor string, from, to event.Position) (int, error) {
	h := &countingHandler{to: to, done: make(chan struct{})}
	syncer := replication.NewBinlogSyncer(decodeOnlyConfig(cfg, flavor, h))
	defer syncer.Close()
	if _, err := syncer.StartSync(mysql.Position{Name: from.File, Pos: uint32(from.Offset)}); err != nil {
		return 0, fmt.Errorf("decode-only from %s: %w", from, err)
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		syncer.Close() // waits for the handler: h.rows is settled
		return h.rows, fmt.Errorf("decode-only: not at %s (%d rows): %w", to, h.rows, ctx.Err())
	}
	return h.rows, nil
}

// decodeOnlyConfig is syncerConfig with go-mysql's own row decoder: the
// baseline.
func decodeOnlyConfig(cfg *Config, flavor string, h replication.EventHandler) replication.BinlogSyncerConfig {
	sc := syncerConfig(cfg, flavor, 4242, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sc.RowsEventDecodeFunc = nil
	return sc
}

// countingHandler counts decoded rows and says when the range's end is
// reached. It is go-mysql's synchronous handler: each event is decoded and
// handed over on the reading goroutine, nothing else is done with it.
type countingHandler struct {
	rows int
	file string
	to   event.Position
	done chan struct{}
}

func (h *countingHandler) HandleEvent(e *replication.BinlogEvent) error {
	switch ev := e.Event.(type) {
	case *replication.RotateEvent:
		h.file = string(ev.NextLogName)
	case *replication.RowsEvent:
		if ev.Type() == replication.EnumRowsEventTypeUpdate {
			h.rows += len(ev.Rows) / 2
		} else {
			h.rows += len(ev.Rows)
		}
	}
	if (event.Position{File: h.file, Offset: uint64(e.Header.LogPos)}).Compare(h.to) >= 0 {
		select {
		case <-h.done:
		default:
			close(h.done)
		}
	}
	return nil
}
