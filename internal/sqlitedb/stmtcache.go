package sqlitedb

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
)

// stmtCacheSize bounds the prepared statements one connection keeps: a
// node's hot paths run a few dozen distinct queries, and each kept
// statement costs SQLite a few KiB.
const stmtCacheSize = 64

// stmtCache keeps a connection's prepared statements by query text, least
// recently used first out, so that a query run again skips SQLite's
// parser and planner: that was a third of SQLite's CPU in a put (every
// stored shard, replay check and catalog row parsed its query anew) and
// half the time of a primary-key SELECT. SQLite re-prepares a kept
// statement by itself when the schema changes under it.
//
// A statement is checked out while it runs and while its rows are open:
// a query issued again on the connection before the first one's rows are
// closed (a query inside a loop over its own rows) gets a statement of
// its own, closed after use.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (innerStmt, error)
	// mu guards byQuery and lru: database/sql serializes a connection's
	// calls, but rows may be closed from the goroutine that watches a
	// query's context.
	mu      sync.Mutex
	byQuery map[string]*list.Element // of *cachedStmt
	lru     list.List                // front: used last
}

// cachedStmt is a prepared statement, kept or one-off.
type cachedStmt struct {
	query string
	stmt  innerStmt
	// busy: checked out. kept: in the cache (a busy one that leaves it is
	// closed when released).
	busy, kept bool
}

func newStmtCache(prepare func(ctx context.Context, query string) (innerStmt, error)) *stmtCache {
	return &stmtCache{prepare: prepare, byQuery: make(map[string]*list.Element)}
}

// maxCachedQuery bounds the text of a kept query. The node's own queries
// are constants of a few hundred bytes; longer ones are generated from
// their data (a multi-row INSERT of a batch of receipts), so their text
// differs from run to run, and a statement for hundreds of rows costs
// SQLite tens of KiB to keep.
const maxCachedQuery = 1 << 10

// cacheable says whether query is worth keeping: one statement of at most
// maxCachedQuery bytes. A script of several (a migration) runs once, and
// the driver parses a script's statements at every run anyway.
func cacheable(query string) bool {
	return len(query) <= maxCachedQuery && !strings.Contains(strings.TrimRight(query, "; \t\r\n"), ";")
}

// get checks out a statement for query, preparing it if needed.
func (c *stmtCache) get(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	if e, ok := c.byQuery[query]; ok {
		s := e.Value.(*cachedStmt)
		if !s.busy {
			s.busy = true
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			return s, nil
		}
	}
	c.mu.Unlock()

	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{query: query, stmt: st, busy: true}
	if !cacheable(query) {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, taken := c.byQuery[query]; taken {
		return s, nil // the kept one is busy: this one is one-off
	}
	s.kept = true
	c.byQuery[query] = c.lru.PushFront(s)
	var evicted []*cachedStmt
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byQuery, old.query)
		old.kept = false
		if !old.busy {
			evicted = append(evicted, old)
		}
	}
	for _, old := range evicted {
		old.stmt.Close()
	}
	return s, nil
}

// release checks s back in; a statement not kept is closed.
func (c *stmtCache) release(s *cachedStmt) {
	c.mu.Lock()
	s.busy = false
	kept := s.kept
	c.mu.Unlock()
	if !kept {
		s.stmt.Close()
	}
}

// close closes every kept statement, before its connection closes. Busy
// ones are closed when released.
func (c *stmtCache) close() error {
	c.mu.Lock()
	var idle []*cachedStmt
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s := e.Value.(*cachedStmt)
		s.kept = false
		if !s.busy {
			idle = append(idle, s)
		}
	}
	c.lru.Init()
	clear(c.byQuery)
	c.mu.Unlock()
	var first error
	for _, s := range idle {
		if err := s.stmt.Close(); err != nil && first == nil {
			first = fmt.Errorf("close statement: %w", err)
		}
	}
	return first
}

// exec runs query with args on a checked-out statement.
func (c *stmtCache) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	defer c.release(s)
	return s.stmt.ExecContext(ctx, args)
}

// query runs query with args on a checked-out statement, which goes back
// when the rows are closed.
func (c *stmtCache) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	r, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		c.release(s)
		return nil, err
	}
	return &rows{Rows: r, release: sync.OnceFunc(func() { c.release(s) })}, nil
}
