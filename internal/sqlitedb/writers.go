package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// busyTimeout is how long a write waits for the database: first in the
// database's writer queue, then (for a writer in another process) in
// SQLite's busy handler.
const busyTimeout = 10 * time.Second

// errWriteQueue is returned by a write that waited busyTimeout in the
// writer queue: the writers before it held the database all that time.
// IsBusy reports it like SQLITE_BUSY.
var errWriteQueue = errors.New("database is locked: the writers queued before this one held it for the whole busy timeout")

// writeQueue lets one writer at a time at a database, first come first
// served.
//
// Why: SQLite runs one writer at a time, and a connection that finds the
// write lock taken sleeps in its busy handler and tries again (1 ms, then
// up to 100 ms between tries). Nothing queues the waiters, so under a
// steady stream of short writes from several connections a waiter can miss
// the lock at every try until its busy timeout ends: a node busy with
// transfers answered one of them 503 "database is locked" after 10 s while
// thousands of other writes went through. Queuing the writers of this
// process in Go, in arrival order, bounds each one's wait by the writes
// queued before it (at most one per pooled connection). Readers are not
// queued: WAL lets them run beside the writer.
type writeQueue struct {
	sem  *semaphore.Weighted // weight 1; x/sync's semaphore serves waiters in FIFO order
	wait time.Duration
}

// acquire waits for the queue's turn, at most q.wait and until ctx ends.
func (q *writeQueue) acquire(ctx context.Context) error {
	if q.sem.TryAcquire(1) {
		return nil
	}
	wctx, cancel := context.WithTimeoutCause(ctx, q.wait, errWriteQueue)
	defer cancel()
	if err := q.sem.Acquire(wctx, 1); err != nil {
		return context.Cause(wctx)
	}
	return nil
}

func (q *writeQueue) release() { q.sem.Release(1) }

// connector opens the driver's connections to one database and wraps each
// so that its writes go through the database's writeQueue.
type connector struct {
	drv    driver.Driver
	dsn    string
	writes *writeQueue
}

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(innerConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite driver connection %T lacks the context methods", dc)
	}
	cn := &conn{inner: inner, writes: c.writes}
	cn.stmts = newStmtCache(cn.prepareInner)
	return cn, nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

// sqliteDriver is the registered modernc driver, looked up once.
var sqliteDriver = sync.OnceValue(func() driver.Driver {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic("sqlitedb: the sqlite driver is not registered: " + err.Error())
	}
	defer db.Close()
	return db.Driver()
})

// openDB returns a pool of connections to dsn whose writes are queued.
func openDB(dsn string, wait time.Duration) *sql.DB {
	return sql.OpenDB(&connector{
		drv:    sqliteDriver(),
		dsn:    dsn,
		writes: &writeQueue{sem: semaphore.NewWeighted(1), wait: wait},
	})
}

// innerConn is what database/sql uses of the modernc connection.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// conn queues the writes it runs outside a transaction, and every
// transaction (they are all write transactions: BEGIN IMMEDIATE), for its
// whole life. It runs queries on statements it keeps prepared (stmtCache).
// database/sql uses a connection from one goroutine at a time, so inTx
// needs no lock.
type conn struct {
	inner  innerConn
	writes *writeQueue
	stmts  *stmtCache
	inTx   bool
}

// write runs fn in the write queue unless the connection's transaction
// already holds it.
func (c *conn) write(ctx context.Context, fn func() error) error {
	if c.inTx {
		return fn()
	}
	if err := c.writes.acquire(ctx); err != nil {
		return err
	}
	defer c.writes.release()
	return fn()
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.writes.acquire(ctx); err != nil {
		return nil, err
	}
	t, err := c.inner.BeginTx(ctx, opts)
	if err != nil {
		c.writes.release()
		return nil, err
	}
	c.inTx = true
	return &tx{inner: t, c: c}, nil
}

// Begin is required by driver.Conn; database/sql calls BeginTx.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (res driver.Result, err error) {
	err = c.write(ctx, func() error {
		res, err = c.stmts.exec(ctx, query, args)
		return err
	})
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.inTx || readOnly(query) {
		return c.stmts.query(ctx, query, args)
	}
	return c.queuedRows(ctx, func() (driver.Rows, error) { return c.stmts.query(ctx, query, args) })
}

// queuedRows runs a query that may write (INSERT ... RETURNING) in the
// write queue, which it holds until its rows are closed: SQLite holds the
// write lock until the statement is reset.
func (c *conn) queuedRows(ctx context.Context, query func() (driver.Rows, error)) (driver.Rows, error) {
	if err := c.writes.acquire(ctx); err != nil {
		return nil, err
	}
	r, err := query()
	if err != nil {
		c.writes.release()
		return nil, err
	}
	return &rows{Rows: r, release: sync.OnceFunc(c.writes.release)}, nil
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	inner, err := c.prepareInner(ctx, query)
	if err != nil {
		return nil, err
	}
	return &stmt{inner: inner, c: c, readOnly: readOnly(query)}, nil
}

// prepareInner prepares query on the driver's connection.
func (c *conn) prepareInner(ctx context.Context, query string) (innerStmt, error) {
	s, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := s.(innerStmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("sqlite driver statement %T lacks the context methods", s)
	}
	return inner, nil
}

// Prepare is required by driver.Conn; database/sql calls PrepareContext.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) Close() error {
	if c.inTx {
		// database/sql rolls a transaction back before closing its
		// connection; this only keeps the queue moving if it did not.
		c.inTx = false
		c.writes.release()
	}
	return errors.Join(c.stmts.close(), c.inner.Close())
}

func (c *conn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *conn) IsValid() bool                          { return c.inner.IsValid() }

// errLegacy answers the pre-context statement methods.
var errLegacy = errors.New("sqlitedb: use the context methods")

// tx is a transaction holding its connection's place in the write queue.
type tx struct {
	inner driver.Tx
	c     *conn
}

func (t *tx) Commit() error {
	defer t.end()
	return t.inner.Commit()
}

func (t *tx) Rollback() error {
	defer t.end()
	return t.inner.Rollback()
}

func (t *tx) end() {
	if t.c.inTx {
		t.c.inTx = false
		t.c.writes.release()
	}
}

// innerStmt is what database/sql uses of the modernc statement.
type innerStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmt is a prepared statement whose executions outside a transaction are
// queued like the connection's.
type stmt struct {
	inner    innerStmt
	c        *conn
	readOnly bool
}

func (s *stmt) NumInput() int { return s.inner.NumInput() }
func (s *stmt) Close() error  { return s.inner.Close() }

// Exec and Query are required by driver.Stmt; database/sql calls the
// context methods.
func (s *stmt) Exec([]driver.Value) (driver.Result, error) { return nil, errLegacy }
func (s *stmt) Query([]driver.Value) (driver.Rows, error)  { return nil, errLegacy }

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (res driver.Result, err error) {
	err = s.c.write(ctx, func() error {
		res, err = s.inner.ExecContext(ctx, args)
		return err
	})
	return res, err
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.c.inTx || s.readOnly {
		return s.inner.QueryContext(ctx, args)
	}
	return s.c.queuedRows(ctx, func() (driver.Rows, error) { return s.inner.QueryContext(ctx, args) })
}

// rows releases the write queue when a writing query's rows are closed.
type rows struct {
	driver.Rows
	release func()
}

func (r *rows) Close() error {
	defer r.release()
	return r.Rows.Close()
}

// readOnly reports whether query certainly only reads: it is one SELECT
// (after leading blanks and comments) with no RETURNING. Anything else
// (WITH, PRAGMA, several statements) counts as a write, which costs only
// concurrency.
func readOnly(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") {
		var ok bool
		if strings.HasPrefix(q, "--") {
			_, q, ok = strings.Cut(q, "\n")
		} else {
			_, q, ok = strings.Cut(q, "*/")
		}
		if !ok {
			return false
		}
		q = strings.TrimLeft(q, " \t\r\n")
	}
	upper := strings.ToUpper(q)
	return strings.HasPrefix(upper, "SELECT") && !strings.Contains(upper, "RETURNING") && !strings.Contains(strings.TrimRight(upper, "; \t\r\n"), ";")
}
