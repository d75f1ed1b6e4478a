// Package mysql8test is a test harness, not used by sluice itself: a fake
// MySQL 8 primary on go-mysql's server package that answers sluice's
// preflight and serves binlog files written by real MySQL 8.0/9.0 servers
// over the replication protocol (COM_REGISTER_SLAVE, COM_BINLOG_DUMP and
// COM_BINLOG_DUMP_GTID), so tests can run those files through sluice's own
// decode path on machines that only have MariaDB.
//
// The server sends a synthetic ROTATE naming the file first, then the
// file's events from the requested position (from its start for a GTID
// dump), unchanged but for the "binlog in use" flag of the format
// description event, which MySQL clears before computing the checksum.
// After the last event the dump connection stays open, like a primary with
// nothing more to send.
package mysql8test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-mysql-org/go-mysql/server"
)

// User and Password log in to every Primary.
const (
	User     = "sluice"
	Password = "fake-primary"
)

// Primary serves one binlog file.
type Primary struct {
	Host string
	Port uint16
	// File is the name the file is served under; Size its length (the
	// head of the binlog).
	File string
	Size int64
	// Version is what SELECT @@version answers.
	Version string
	// queries lists the statements clients sent, in order; dumps the
	// dump commands ("COM_BINLOG_DUMP file:pos", "COM_BINLOG_DUMP_GTID set").
	queries []string
	dumps   []string

	data []byte
	ln   net.Listener
	mu   sync.Mutex
	wg   sync.WaitGroup
	// streams are those of open dump connections, ended at Close.
	streams []*replication.BinlogStreamer
	closed  bool
	conns   []net.Conn
}

// Serve starts a primary for the binlog file at path and stops it when the
// test ends.
func Serve(t testing.TB, path string) *Primary {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err = ClearInUse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ServeData(t, filepath.Base(path), data)
}

// ServeData starts a primary serving data (a binlog file, "binlog in use"
// flag cleared) under the given file name; a name without a numbered
// extension gets ".000001" in place of ".binlog".
func ServeData(t testing.TB, name string, data []byte) *Primary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, ".") || strings.HasSuffix(name, ".binlog") {
		name = strings.TrimSuffix(name, ".binlog") + ".000001"
	}
	p := &Primary{Host: "127.0.0.1", Port: uint16(ln.Addr().(*net.TCPAddr).Port), File: name, Size: int64(len(data)),
		Version: "8.0.40-fake-primary", data: data, ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// ClearInUse returns a copy of a binlog file with the format description
// event's LOG_EVENT_BINLOG_IN_USE_F flag cleared: a file copied from a
// running server keeps it, and its checksum was computed without it.
func ClearInUse(data []byte) ([]byte, error) {
	if len(data) < 4+19 || string(data[:4]) != "\xfebin" {
		return nil, errors.New("not a binlog file (no magic number)")
	}
	out := append([]byte(nil), data...)
	if out[4+4] != byte(replication.FORMAT_DESCRIPTION_EVENT) {
		return nil, errors.New("the first event is not a format description")
	}
	out[4+17] &^= 0x01
	return out, nil
}

// Queries returns the statements clients sent, in order.
func (p *Primary) Queries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

// Dumps returns the dump commands clients sent, in order.
func (p *Primary) Dumps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dumps...)
}

// Close stops accepting, ends every connection and waits for them.
func (p *Primary) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, s := range p.streams {
		s.AddErrorToStreamer(errors.New("primary closed"))
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Primary) accept() {
	defer p.wg.Done()
	srv := server.NewServer(p.Version, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			auth := server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
			if err := auth.AddUser(User, Password); err != nil {
				return
			}
			conn, err := srv.NewCustomizedConn(c, auth, &handler{p: p})
			if err != nil {
				return
			}
			for !conn.Closed() {
				if err := conn.HandleCommand(); err != nil {
					return
				}
			}
		}()
	}
}

// handler answers one connection.
type handler struct {
	server.EmptyHandler
	p *Primary
}

func (h *handler) HandleQuery(q string) (*mysql.Result, error) {
	h.p.mu.Lock()
	h.p.queries = append(h.p.queries, q)
	h.p.mu.Unlock()
	uq := strings.ToUpper(strings.TrimSpace(q))
	switch {
	case strings.HasPrefix(uq, "SET "), strings.HasPrefix(uq, "KILL "):
		return nil, nil
	case uq == "SELECT @@VERSION, @@SERVER_ID, @@LOG_BIN, @@BINLOG_FORMAT, @@BINLOG_ROW_IMAGE":
		return result([]string{"@@version", "@@server_id", "@@log_bin", "@@binlog_format", "@@binlog_row_image"}, []any{h.p.Version, 1, 1, "ROW", "FULL"})
	case uq == "SELECT @@SERVER_ID":
		return result([]string{"@@server_id"}, []any{1})
	case uq == "SELECT @@GLOBAL.GTID_MODE":
		return result([]string{"@@GLOBAL.gtid_mode"}, []any{"OFF"})
	case uq == "SELECT @@BINLOG_ROW_METADATA":
		return result([]string{"@@binlog_row_metadata"}, []any{"FULL"})
	case uq == "SELECT @@BINLOG_ROW_VALUE_OPTIONS":
		return result([]string{"@@binlog_row_value_options"}, []any{""})
	case uq == "SHOW GRANTS FOR CURRENT_USER()":
		return result([]string{"Grants"}, []any{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `" + User + "`@`%`"})
	case uq == "SHOW BINARY LOGS":
		return result([]string{"Log_name", "File_size", "Encrypted"}, []any{h.p.File, h.p.Size, "No"})
	case uq == "SHOW MASTER STATUS" || uq == "SHOW BINARY LOG STATUS":
		return result([]string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"}, []any{h.p.File, h.p.Size, "", "", ""})
	case uq == "SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'":
		return result([]string{"Variable_name", "Value"}, []any{"binlog_checksum", "CRC32"})
	case strings.HasPrefix(uq, "SHOW VARIABLES WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC"):
		return result([]string{"Variable_name", "Value"})
	case strings.HasPrefix(uq, "SELECT @@VERSION_COMMENT"):
		return result([]string{"@@version_comment"}, []any{"fake primary"})
	}
	return nil, mysql.NewError(mysql.ER_UNKNOWN_ERROR, "fake primary does not answer: "+q)
}

func (h *handler) HandleRegisterSlave([]byte) error { return nil }

func (h *handler) HandleBinlogDump(pos mysql.Position) (*replication.BinlogStreamer, error) {
	h.p.mu.Lock()
	h.p.dumps = append(h.p.dumps, fmt.Sprintf("COM_BINLOG_DUMP %s:%d", pos.Name, pos.Pos))
	h.p.mu.Unlock()
	if pos.Name != "" && pos.Name != h.p.File {
		return nil, mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "Could not find first log file name in binary log index file: "+pos.Name)
	}
	return h.p.dump(int64(pos.Pos))
}

func (h *handler) HandleBinlogDumpGTID(set *mysql.MysqlGTIDSet) (*replication.BinlogStreamer, error) {
	h.p.mu.Lock()
	h.p.dumps = append(h.p.dumps, "COM_BINLOG_DUMP_GTID "+set.String())
	h.p.mu.Unlock()
	// The file is short: serving it whole stands for "the transactions
	// the set lacks".
	return h.p.dump(4)
}

// dump streams a synthetic rotation, the format description and the events
// from pos on.
func (p *Primary) dump(pos int64) (*replication.BinlogStreamer, error) {
	if pos < 4 {
		pos = 4
	}
	events, err := split(p.data)
	if err != nil {
		return nil, err
	}
	s := replication.NewBinlogStreamerWithChanSize(len(events) + 2)
	add := func(raw []byte) {
		_ = s.AddEventToStreamer(&replication.BinlogEvent{RawData: raw})
	}
	add(rotate(p.File, uint64(pos)))
	for _, e := range events {
		typ := replication.EventType(e.raw[4])
		if typ == replication.FORMAT_DESCRIPTION_EVENT || e.start >= pos {
			add(e.raw)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("primary closed")
	}
	p.streams = append(p.streams, s)
	return s, nil
}

type rawEvent struct {
	start int64
	raw   []byte
}

// split cuts a binlog file into its events.
func split(data []byte) ([]rawEvent, error) {
	var out []rawEvent
	for off := int64(4); off < int64(len(data)); {
		if off+19 > int64(len(data)) {
			return nil, fmt.Errorf("truncated event header at %d", off)
		}
		size := int64(binary.LittleEndian.Uint32(data[off+9:]))
		if size < 19 || off+size > int64(len(data)) {
			return nil, fmt.Errorf("event at %d has a bad size %d", off, size)
		}
		out = append(out, rawEvent{start: off, raw: data[off : off+size]})
		off += size
	}
	return out, nil
}

// rotate builds the artificial ROTATE event a primary sends first (no
// checksum: the replica has not read the format description yet).
func rotate(file string, pos uint64) []byte {
	body := binary.LittleEndian.AppendUint64(nil, pos)
	body = append(body, file...)
	h := make([]byte, 19)
	h[4] = byte(replication.ROTATE_EVENT)
	binary.LittleEndian.PutUint32(h[5:], 1)
	binary.LittleEndian.PutUint32(h[9:], uint32(19+len(body)))
	binary.LittleEndian.PutUint16(h[17:], 0x20) // LOG_EVENT_ARTIFICIAL_F
	return append(h, body...)
}

func result(names []string, rows ...[]any) (*mysql.Result, error) {
	vals := make([][]any, len(rows))
	copy(vals, rows)
	rs, err := mysql.BuildSimpleTextResultset(names, vals)
	if err != nil {
		return nil, err
	}
	return &mysql.Result{Resultset: rs}, nil
}

// DebianMySQL80File is MySQL 8.0.40's binlog from Debian's
// mariadb-test-data package (compressed transaction, partial JSON update,
// minimal metadata).
const DebianMySQL80File = "/usr/share/mysql/mysql-test/std_data/mdev35643_mysql_80_binlog.000001"

// Files lists the real MySQL 8.0/9.0 binlog files: those of
// <repo>/../shared/mysql8-binlogs (found from a package directory of the
// repository, as a test's working directory is) and Debian's.
func Files(t testing.TB) []string {
	t.Helper()
	var dir string
	for _, d := range []string{"../../shared/mysql8-binlogs", "../../../shared/mysql8-binlogs"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Fatal("no shared/mysql8-binlogs beside the repository (CI clones it as <repo>/../shared)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, "LICENSE") && !strings.HasSuffix(n, ".md") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	if _, err := os.Stat(DebianMySQL80File); err != nil {
		t.Fatalf("%v: install mariadb-test-data (.ci/run does)", err)
	}
	return append(files, DebianMySQL80File)
}
