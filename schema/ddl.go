package schema

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DEFAULT clauses
)

// DDLKind classifies a schema change.
type DDLKind string

// Kinds of schema change; they are also the event types consumers see.
const (
	DatabaseCreate DDLKind = "database-create"
	DatabaseAlter  DDLKind = "database-alter"
	DatabaseDrop   DDLKind = "database-drop"
	TableCreate    DDLKind = "table-create"
	TableAlter     DDLKind = "table-alter"
	TableRename    DDLKind = "table-rename"
	TableDrop      DDLKind = "table-drop"
	TableTruncate  DDLKind = "table-truncate"
	// Unclassified is a statement that looks like DDL but that neither the
	// parser nor the fallback could name: it is emitted with its SQL, and
	// the tables it touched get a new version at their next TABLE_MAP.
	Unclassified DDLKind = "ddl"
)

// DDL is one schema change of one object, named by ClassifyDDL. A statement
// that changes several tables (DROP TABLE a, b; RENAME TABLE a TO b, c TO d)
// yields one DDL per table.
type DDL struct {
	Kind     DDLKind
	Database string
	Table    string
	// OldDatabase and OldTable name the table before a rename.
	OldDatabase, OldTable string
	// Like names the source of CREATE TABLE ... LIKE.
	LikeDatabase, LikeTable string
	// Columns is the column list a CREATE TABLE names, when it names one.
	Columns []ColumnDef
	// JSONColumns lists columns the statement declares as JSON (CREATE, or
	// ALTER ADD/MODIFY/CHANGE), and NotJSON columns it redeclares as another
	// type: MariaDB logs JSON as LONGTEXT, so this is how sluice knows.
	JSONColumns, NotJSON []string
	// Parsed is false when the fallback classifier named the change.
	Parsed bool
}

// ColumnDef is a column as a CREATE TABLE statement declares it.
type ColumnDef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// mariadbClauses matches MariaDB syntax the parser does not know; the
// replacement keeps group 1.
var mariadbClauses = regexp.MustCompile(`(?i)(CREATE)\s+OR\s+REPLACE\b|\bWITH(?:OUT)?\s+SYSTEM\s+VERSIONING\b|\b(?:ADD|DROP)\s+SYSTEM\s+VERSIONING\b|\bINVISIBLE\b|\bPERIOD\s+FOR\s+SYSTEM_TIME\s*\([^)]*\)|\bGENERATED\s+ALWAYS\s+AS\s+ROW\s+(?:START|END)\b`)

// ClassifyDDL names what a query event changes. defaultDB is the query
// event's current database. It returns nil for statements that change no
// schema (GRANT, FLUSH, CREATE USER, ...), and never panics.
func ClassifyDDL(defaultDB, sql string) (ddls []DDL) {
	defer func() {
		if recover() != nil { // a parser bug must not stop the stream
			ddls = classifyLexical(defaultDB, sql)
		}
	}()
	p := parser.New()
	stmts, _, err := p.ParseSQL(sql)
	if err != nil {
		// MariaDB-only clauses that do not change which tables and columns
		// a statement names: parse again without them.
		if alt := mariadbClauses.ReplaceAllString(sql, "$1"); alt != sql {
			stmts, _, err = p.ParseSQL(alt)
		}
	}
	if err != nil || len(stmts) == 0 {
		return classifyLexical(defaultDB, sql)
	}
	for _, s := range stmts {
		for _, d := range classifyNode(defaultDB, s) {
			if d.Kind != DatabaseCreate && d.Kind != DatabaseAlter && d.Kind != DatabaseDrop && (d.Table == "" || d.Kind == TableRename && d.OldTable == "") {
				// the parser accepts empty names (ALTER TABLE ``): name nothing
				d = DDL{Kind: Unclassified, Database: defaultDB}
			}
			ddls = append(ddls, d)
		}
	}
	return ddls
}

func tableName(defaultDB string, t *ast.TableName) (string, string) {
	db := t.Schema.O
	if db == "" {
		db = defaultDB
	}
	return db, t.Name.O
}

func classifyNode(defaultDB string, node ast.StmtNode) []DDL {
	switch s := node.(type) {
	case *ast.CreateDatabaseStmt:
		return []DDL{{Kind: DatabaseCreate, Database: s.Name.O, Parsed: true}}
	case *ast.AlterDatabaseStmt:
		db := s.Name.O
		if db == "" {
			db = defaultDB
		}
		return []DDL{{Kind: DatabaseAlter, Database: db, Parsed: true}}
	case *ast.DropDatabaseStmt:
		return []DDL{{Kind: DatabaseDrop, Database: s.Name.O, Parsed: true}}
	case *ast.CreateTableStmt:
		d := DDL{Kind: TableCreate, Parsed: true}
		d.Database, d.Table = tableName(defaultDB, s.Table)
		if s.ReferTable != nil {
			d.LikeDatabase, d.LikeTable = tableName(defaultDB, s.ReferTable)
		}
		for _, c := range s.Cols {
			d.Columns = append(d.Columns, ColumnDef{Name: c.Name.Name.O, Type: strings.ToLower(c.Tp.String())})
			if c.Tp.GetType() == mysql.TypeJSON {
				d.JSONColumns = append(d.JSONColumns, c.Name.Name.O)
			}
		}
		return []DDL{d}
	case *ast.AlterTableStmt:
		d := DDL{Kind: TableAlter, Parsed: true}
		d.Database, d.Table = tableName(defaultDB, s.Table)
		var renamed *ast.TableName
		for _, spec := range s.Specs {
			switch spec.Tp {
			case ast.AlterTableAddColumns, ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
				for _, c := range spec.NewColumns {
					if c.Tp != nil && c.Tp.GetType() == mysql.TypeJSON {
						d.JSONColumns = append(d.JSONColumns, c.Name.Name.O)
					} else {
						d.NotJSON = append(d.NotJSON, c.Name.Name.O)
					}
				}
			case ast.AlterTableRenameTable:
				renamed = spec.NewTable
			}
		}
		if renamed != nil {
			// ALTER TABLE a RENAME TO b, possibly with other changes
			r := d
			r.Kind = TableRename
			r.OldDatabase, r.OldTable = d.Database, d.Table
			r.Database, r.Table = tableName(d.Database, renamed)
			return []DDL{r}
		}
		return []DDL{d}
	case *ast.RenameTableStmt:
		var out []DDL
		for _, t2t := range s.TableToTables {
			d := DDL{Kind: TableRename, Parsed: true}
			d.OldDatabase, d.OldTable = tableName(defaultDB, t2t.OldTable)
			d.Database, d.Table = tableName(defaultDB, t2t.NewTable)
			out = append(out, d)
		}
		return out
	case *ast.DropTableStmt:
		if s.IsView {
			return nil
		}
		var out []DDL
		for _, t := range s.Tables {
			d := DDL{Kind: TableDrop, Parsed: true}
			d.Database, d.Table = tableName(defaultDB, t)
			out = append(out, d)
		}
		return out
	case *ast.TruncateTableStmt:
		d := DDL{Kind: TableTruncate, Parsed: true}
		d.Database, d.Table = tableName(defaultDB, s.Table)
		return []DDL{d}
	case *ast.CreateIndexStmt:
		d := DDL{Kind: TableAlter, Parsed: true}
		d.Database, d.Table = tableName(defaultDB, s.Table)
		return []DDL{d}
	case *ast.DropIndexStmt:
		d := DDL{Kind: TableAlter, Parsed: true}
		d.Database, d.Table = tableName(defaultDB, s.Table)
		return []DDL{d}
	}
	return nil
}

// classifyLexical names the change from the statement's leading keywords,
// for statements the parser does not know (MariaDB's CREATE OR REPLACE,
// WITH SYSTEM VERSIONING, ...). It returns Unclassified for a statement
// that starts like DDL but that it cannot name, and nil for anything else.
func classifyLexical(defaultDB, sql string) []DDL {
	toks := lexIdents(sql, 24)
	next := func() string {
		if len(toks) == 0 {
			return ""
		}
		t := toks[0]
		toks = toks[1:]
		return t
	}
	peekIs := func(words ...string) bool {
		for i, w := range words {
			if i >= len(toks) || !strings.EqualFold(toks[i], w) {
				return false
			}
		}
		return true
	}
	skip := func(words ...string) bool {
		if peekIs(words...) {
			toks = toks[len(words):]
			return true
		}
		return false
	}
	name := func() (string, string) {
		n := next()
		if strings.HasPrefix(n, ".") { // lexIdents splits db.t into "db" ".t"
			return defaultDB, strings.TrimPrefix(n, ".")
		}
		if len(toks) > 0 && strings.HasPrefix(toks[0], ".") {
			return n, strings.TrimPrefix(next(), ".")
		}
		return defaultDB, n
	}
	unclassified := []DDL{{Kind: Unclassified, Database: defaultDB}}
	verb := strings.ToUpper(next())
	switch verb {
	case "CREATE":
		skip("OR", "REPLACE")
		skip("TEMPORARY")
		switch {
		case skip("TABLE"):
			skip("IF", "NOT", "EXISTS")
			db, t := name()
			if t == "" {
				return unclassified
			}
			return []DDL{{Kind: TableCreate, Database: db, Table: t}}
		case skip("DATABASE"), skip("SCHEMA"):
			skip("IF", "NOT", "EXISTS")
			return []DDL{{Kind: DatabaseCreate, Database: next()}}
		}
	case "ALTER":
		skip("ONLINE")
		skip("IGNORE")
		switch {
		case skip("TABLE"):
			skip("IF", "EXISTS")
			db, t := name()
			if t == "" {
				return unclassified
			}
			return []DDL{{Kind: TableAlter, Database: db, Table: t}}
		case skip("DATABASE"), skip("SCHEMA"):
			return []DDL{{Kind: DatabaseAlter, Database: defaultDB}}
		}
	case "DROP":
		skip("TEMPORARY")
		switch {
		case skip("TABLE"):
			skip("IF", "EXISTS")
			db, t := name()
			if t == "" {
				return unclassified
			}
			return []DDL{{Kind: TableDrop, Database: db, Table: t}}
		case skip("DATABASE"), skip("SCHEMA"):
			skip("IF", "EXISTS")
			return []DDL{{Kind: DatabaseDrop, Database: next()}}
		case peekIs("VIEW"), peekIs("USER"), peekIs("ROLE"), peekIs("FUNCTION"), peekIs("PROCEDURE"), peekIs("TRIGGER"), peekIs("EVENT"), peekIs("SERVER"), peekIs("SEQUENCE"):
			return nil
		}
	case "RENAME":
		if skip("TABLE") {
			skip("IF", "EXISTS")
			odb, ot := name()
			if !strings.EqualFold(next(), "TO") {
				return unclassified
			}
			db, t := name()
			if ot == "" || t == "" {
				return unclassified
			}
			return []DDL{{Kind: TableRename, OldDatabase: odb, OldTable: ot, Database: db, Table: t}}
		}
		return nil
	case "TRUNCATE":
		skip("TABLE")
		db, t := name()
		if t == "" {
			return unclassified
		}
		return []DDL{{Kind: TableTruncate, Database: db, Table: t}}
	default:
		return nil
	}
	if verb == "CREATE" || verb == "ALTER" || verb == "DROP" {
		// CREATE USER / VIEW / FUNCTION ... change no table shape
		for _, w := range []string{"USER", "ROLE", "VIEW", "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT", "SERVER", "SEQUENCE", "DEFINER", "ALGORITHM", "SQL", "AGGREGATE"} {
			if peekIs(w) {
				return nil
			}
		}
		if skip("INDEX") || skip("UNIQUE") || skip("FULLTEXT") || skip("SPATIAL") {
			for len(toks) > 0 && !strings.EqualFold(toks[0], "ON") {
				next()
			}
			if skip("ON") {
				db, t := name()
				if t != "" {
					return []DDL{{Kind: TableAlter, Database: db, Table: t}}
				}
			}
		}
	}
	return unclassified
}

// lexIdents returns up to max leading words of sql: keywords and
// identifiers (backquotes removed), skipping comments; a qualified name
// a.b comes out as "a", ".b". MySQL's executable comments /*! ... */ are read
// as code.
func lexIdents(sql string, max int) []string {
	var out []string
	s := sql
	for len(s) > 0 && len(out) < max {
		switch {
		case strings.HasPrefix(s, "/*!"):
			s = s[3:]
			for len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
				s = s[1:]
			}
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return out
			}
			s = s[i+4:]
		case strings.HasPrefix(s, "*/"):
			s = s[2:]
		case strings.HasPrefix(s, "--"), s[0] == '#':
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return out
			}
			s = s[i+1:]
		case s[0] == '`':
			i := strings.IndexByte(s[1:], '`')
			if i < 0 {
				return out
			}
			out = appendIdent(out, s[1:1+i])
			s = s[i+2:]
		case s[0] == '.':
			out = append(out, ".")
			s = s[1:]
		case isIdentByte(s[0]):
			i := 0
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			out = appendIdent(out, s[:i])
			s = s[i:]
		default:
			if s[0] < 0x80 && !unicode.IsSpace(rune(s[0])) && s[0] != ',' {
				// punctuation ends the leading words (a column list, ...)
				if s[0] == '(' || s[0] == ';' || s[0] == '=' {
					return out
				}
			}
			s = s[1:]
		}
	}
	return out
}

// appendIdent joins an identifier to a preceding lone "." token.
func appendIdent(out []string, id string) []string {
	if n := len(out); n > 0 && out[n-1] == "." {
		out[n-1] = "." + id
		return out
	}
	return append(out, id)
}

func isIdentByte(b byte) bool {
	return b == '_' || b == '$' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

// JSONCheckColumn reads the column of a MariaDB json_valid(`col`) CHECK
// clause, the constraint MariaDB adds to every JSON column (which it logs
// as LONGTEXT).
func JSONCheckColumn(clause string) (string, bool) {
	a, b := strings.IndexByte(clause, '`'), strings.LastIndexByte(clause, '`')
	if a < 0 || b <= a || strings.TrimSpace(clause[b+1:]) != ")" {
		return "", false
	}
	return strings.ReplaceAll(clause[a+1:b], "``", "`"), true
}
