package sqlitedb

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// TestStatements runs prepared queries outside and inside a transaction
// (a rolled-back insert leaves nothing), refuses a query that does not
// parse at Prepare, and panics on a query that was not prepared.
func TestStatements(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const put, get = `INSERT INTO kv(k, v) VALUES (?, ?)`, `SELECT v FROM kv WHERE k = ?`
	st, err := Prepare(ctx, db, put, get)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stmt(ctx, nil, put).ExecContext(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stmt(ctx, tx, put).ExecContext(ctx, "b", 2); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := st.Stmt(ctx, tx, get).QueryRowContext(ctx, "b").Scan(&v); err != nil || v != 2 {
		t.Fatalf("read in the transaction = %d, %v; want 2", v, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := st.Stmt(ctx, nil, get).QueryRowContext(ctx, "a").Scan(&v); err != nil || v != 1 {
		t.Fatalf("read a = %d, %v; want 1", v, err)
	}
	if err := st.Stmt(ctx, nil, get).QueryRowContext(ctx, "b").Scan(&v); err != sql.ErrNoRows {
		t.Fatalf("read of a rolled-back row = %v, want no rows", err)
	}
	if _, err := Prepare(ctx, db, `SELEKT 1`); err == nil {
		t.Error("Prepare of a query that does not parse succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("Stmt of a query that was not prepared did not panic")
		}
	}()
	st.Stmt(ctx, nil, `SELECT 1`)
}
