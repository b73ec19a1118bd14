package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// countedConn is a real driver connection to a new database whose
// statement cache counts what it prepares and closes.
type countedConn struct {
	t                  *testing.T
	inner              innerConn
	cache              *stmtCache
	prepared, finished map[string]int
}

func newCountedConn(t *testing.T) *countedConn {
	t.Helper()
	dc, err := sqliteDriver().Open(dsn(filepath.Join(t.TempDir(), "c.db")))
	if err != nil {
		t.Fatal(err)
	}
	c := &countedConn{t: t, inner: dc.(innerConn), prepared: map[string]int{}, finished: map[string]int{}}
	c.cache = newStmtCache(func(ctx context.Context, q string) (innerStmt, error) {
		s, err := c.inner.PrepareContext(ctx, q)
		if err != nil {
			return nil, err
		}
		c.prepared[q]++
		return closeCounted{innerStmt: s.(innerStmt), done: func() { c.finished[q]++ }}, nil
	})
	t.Cleanup(func() {
		c.cache.close()
		c.inner.Close()
	})
	c.exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
	return c
}

// closeCounted reports its Close.
type closeCounted struct {
	innerStmt
	done func()
}

func (s closeCounted) Close() error {
	s.done()
	return s.innerStmt.Close()
}

func (c *countedConn) exec(q string, args ...any) {
	c.t.Helper()
	if _, err := c.cache.exec(c.t.Context(), q, named(args)); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
}

// values returns the first column of every row of q.
func (c *countedConn) values(q string, args ...any) []driver.Value {
	c.t.Helper()
	r, err := c.cache.query(c.t.Context(), q, named(args))
	if err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	var out []driver.Value
	row := make([]driver.Value, len(r.Columns()))
	for r.Next(row) == nil {
		out = append(out, row[0])
	}
	return out
}

func named(args []any) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

// TestStatementsAreKept: a query run again reuses its prepared statement,
// with new arguments each time.
func TestStatementsAreKept(t *testing.T) {
	c := newCountedConn(t)
	const insert, get = `INSERT INTO kv(k, v) VALUES (?, ?)`, `SELECT v FROM kv WHERE k = ?`
	for i := range 5 {
		c.exec(insert, int64(i), fmt.Sprint("v", i))
	}
	for i := range 5 {
		if got := c.values(get, int64(i)); len(got) != 1 || got[0] != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %v", i, got)
		}
	}
	if c.prepared[insert] != 1 || c.prepared[get] != 1 {
		t.Fatalf("prepared %v, want each query once", c.prepared)
	}
	if _, err := c.cache.exec(t.Context(), insert, named([]any{int64(0), "dup"})); err == nil {
		t.Fatal("a duplicate key was inserted")
	}
	c.exec(insert, int64(9), "after a failure")
	if got := c.values(get, int64(9)); len(got) != 1 || got[0] != "after a failure" || c.prepared[insert] != 1 {
		t.Fatalf("after a failed run: %v, prepared %d times", got, c.prepared[insert])
	}
}

// TestBusyStatementIsNotShared: the same query issued while its rows are
// open (a query in a loop over its own rows) runs on a one-off statement,
// and both read what they should.
func TestBusyStatementIsNotShared(t *testing.T) {
	c := newCountedConn(t)
	for i := range 3 {
		c.exec(`INSERT INTO kv(k, v) VALUES (?, ?)`, int64(i), fmt.Sprint(i))
	}
	const q = `SELECT k FROM kv WHERE k >= ? ORDER BY k`
	outer, err := c.cache.query(t.Context(), q, named([]any{int64(0)}))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	row := make([]driver.Value, 1)
	for {
		err := outer.Next(row)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		inner := c.values(q, row[0])
		seen = append(seen, fmt.Sprintf("%v:%d", row[0], len(inner)))
	}
	outer.Close()
	if want := "[0:3 1:2 2:1]"; fmt.Sprint(seen) != want {
		t.Fatalf("outer:inner counts %v, want %s", seen, want)
	}
	// One kept statement, three one-off ones, closed after use.
	if c.prepared[q] != 4 || c.finished[q] != 3 {
		t.Fatalf("prepared %d, closed %d; want 4 and 3", c.prepared[q], c.finished[q])
	}
	c.values(q, int64(0))
	if c.prepared[q] != 4 {
		t.Fatalf("the kept statement was not reused after its rows closed: prepared %d", c.prepared[q])
	}
}

// TestStatementCacheIsBounded: past stmtCacheSize queries the least
// recently used statement is closed, one evicted while busy when its rows
// close, and close closes the rest.
func TestStatementCacheIsBounded(t *testing.T) {
	c := newCountedConn(t)
	query := func(i int) string { return fmt.Sprintf(`SELECT %d, v FROM kv`, i) }
	busy, err := c.cache.query(t.Context(), query(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= stmtCacheSize+1; i++ {
		c.values(query(i))
	}
	// Query 0 left the cache while busy, then query 1.
	if c.finished[query(0)] != 0 || c.finished[query(1)] != 1 {
		t.Fatalf("closed: query 0 %d times, query 1 %d times; want 0 and 1", c.finished[query(0)], c.finished[query(1)])
	}
	busy.Close()
	if c.finished[query(0)] != 1 {
		t.Fatal("a busy statement that left the cache was not closed with its rows")
	}
	c.values(query(stmtCacheSize + 1))
	if c.prepared[query(stmtCacheSize+1)] != 1 {
		t.Fatal("the statement used last was evicted")
	}
	if err := c.cache.close(); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= stmtCacheSize+1; i++ {
		if c.finished[query(i)] != 1 {
			t.Fatalf("query %d closed %d times after close, want 1", i, c.finished[query(i)])
		}
	}
}

// TestScriptsAndSchemaChanges: a script of several statements and an
// over-long (generated) query are not kept, and a kept statement follows a table dropped and made anew under
// it (SQLite prepares it again).
func TestScriptsAndSchemaChanges(t *testing.T) {
	c := newCountedConn(t)
	const script = `INSERT INTO kv(k, v) VALUES (1, 'a'); INSERT INTO kv(k, v) VALUES (2, 'b');`
	c.exec(script)
	if c.finished[script] != 1 {
		t.Fatal("a script's statement was kept")
	}
	long := `SELECT v FROM kv WHERE k IN (` + strings.Repeat(`?, `, maxCachedQuery/3) + `0) ORDER BY k`
	args := make([]any, maxCachedQuery/3)
	for i := range args {
		args[i] = int64(i)
	}
	if got := c.values(long, args...); fmt.Sprint(got) != "[a b]" || c.finished[long] != 1 {
		t.Fatalf("a query longer than %d bytes: %v, closed %d times; want it read and not kept", maxCachedQuery, got, c.finished[long])
	}
	const q = `SELECT v FROM kv ORDER BY k`
	if got := c.values(q); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("got %v", got)
	}
	c.exec(`DROP TABLE kv`)
	c.exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, extra TEXT, v TEXT NOT NULL)`)
	c.exec(`INSERT INTO kv(k, extra, v) VALUES (1, 'x', 'new')`)
	if got := c.values(q); fmt.Sprint(got) != "[new]" || c.prepared[q] != 1 {
		t.Fatalf("after the schema changed: %v, prepared %d times", got, c.prepared[q])
	}
}

// BenchmarkPointQuery: a primary-key SELECT through a pool, its statement
// kept against the driver alone, which parses it at every run (the
// baseline).
func BenchmarkPointQuery(b *testing.B) {
	file := filepath.Join(b.TempDir(), "b.db")
	kept, err := Open(b.Context(), file)
	if err != nil {
		b.Fatal(err)
	}
	defer kept.Close()
	if _, err := kept.ExecContext(b.Context(), `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO kv VALUES (1, 'one')`); err != nil {
		b.Fatal(err)
	}
	parsed, err := sql.Open("sqlite", dsn(file))
	if err != nil {
		b.Fatal(err)
	}
	defer parsed.Close()
	for _, db := range []struct {
		name string
		db   *sql.DB
	}{{"kept", kept}, {"base=parsed", parsed}} {
		b.Run(db.name, func(b *testing.B) {
			var v string
			for b.Loop() {
				if err := db.db.QueryRowContext(b.Context(), `SELECT v FROM kv WHERE k = ?`, 1).Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
