package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
)

// Statements are queries prepared once, for the paths that run them again
// and again: parsing a query can cost more than running it. They are
// prepared eagerly, outside any transaction (preparing on the pool inside
// one would wait for a second connection while holding the first), and
// close with the database.
type Statements struct {
	stmts map[string]*sql.Stmt
}

// Prepare prepares queries on db.
func Prepare(ctx context.Context, db *sql.DB, queries ...string) (*Statements, error) {
	s := &Statements{stmts: make(map[string]*sql.Stmt, len(queries))}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("prepare %.40q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return s, nil
}

// Stmt returns query q prepared, bound to tx unless tx is nil (database/sql
// prepares it again only on a connection that has not run it yet). q must
// be one of the queries given to Prepare: another is a programming error,
// and Stmt panics.
func (s *Statements) Stmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	st, ok := s.stmts[q]
	if !ok {
		panic("sqlitedb: query was not prepared: " + q)
	}
	if tx != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}
