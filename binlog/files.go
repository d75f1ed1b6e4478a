package binlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// File is one binlog file the server still has.
type File struct {
	Name string
	Size uint64
}

// Files lists the binlog files the server still has, oldest first, with
// their sizes (SHOW BINARY LOGS).
func Files(ctx context.Context, cfg *Config) ([]File, error) {
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r, err := conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list binlogs on %s: %w", cfg.Addr(), err)
	}
	files := make([]File, 0, r.RowNumber())
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		size, _ := r.GetUint(i, 1)
		files = append(files, File{Name: name, Size: size})
	}
	return files, nil
}

// FileIndex is the number at the end of a binlog file name
// ("mysql-bin.000042" → 42), or false when the name has none.
func FileIndex(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}
