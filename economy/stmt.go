package economy

import (
	"context"
	"database/sql"
	"fmt"
)

// cached runs this package's queries as prepared statements, each
// prepared once per Ledger (and per connection, by database/sql): parsing
// the SQL cost as much as the rest of applying a certificate. The cache
// holds only the package's constant query strings, so it is bounded.
type cached struct {
	l  *Ledger
	tx *sql.Tx // nil: outside a transaction
}

func (l *Ledger) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if s, ok := l.stmts[query]; ok {
		return s, nil
	}
	s, err := l.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	l.stmts[query] = s
	return s, nil
}

func (c cached) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s, err := c.l.prepared(ctx, query)
	if err != nil || c.tx == nil {
		return s, err
	}
	return c.tx.StmtContext(ctx, s), nil
}

func (c cached) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return c.plain().QueryRowContext(ctx, query, args...) // reports the same error
	}
	return s.QueryRowContext(ctx, args...)
}

func (c cached) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (c cached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (c cached) plain() querier {
	if c.tx != nil {
		return c.tx
	}
	return c.l.db
}

// Close releases the ledger's prepared statements (not the database,
// which belongs to the caller).
func (l *Ledger) Close() error {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	for q, s := range l.stmts {
		s.Close()
		delete(l.stmts, q)
	}
	return nil
}
