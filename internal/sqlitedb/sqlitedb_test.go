package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := fstest.MapFS{"migrations/0001_init.sql": {Data: []byte("CREATE TABLE t_a (x INTEGER);")}}
	if err := Migrate(ctx, db, "t", v1); err != nil {
		t.Fatalf("Migrate(v1) = %v", err)
	}
	if err := Migrate(ctx, db, "t", v1); err != nil {
		t.Fatalf("Migrate(v1) again = %v, want no-op", err)
	}
	v2 := fstest.MapFS{
		"migrations/0001_init.sql": v1["migrations/0001_init.sql"],
		"migrations/0002_b.sql":    {Data: []byte("CREATE TABLE t_b (y INTEGER);")},
	}
	if err := Migrate(ctx, db, "t", v2); err != nil {
		t.Fatalf("Migrate(v2) = %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t_b(y) VALUES (1)"); err != nil {
		t.Fatalf("table from migration 2 missing: %v", err)
	}
	bad := fstest.MapFS{"migrations/0001_init.sql": {Data: []byte("CREATE TABLE t_c (z INTEGER); NOT SQL")}}
	if err := Migrate(ctx, db, "other", bad); err == nil {
		t.Fatal("Migrate(bad SQL) = nil, want error")
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t_c(z) VALUES (1)"); err == nil {
		t.Fatal("failed migration left table t_c behind")
	}
	// Files outside migrations/ are not migrations: a package that passes
	// the wrong FS fails at start instead of running with no tables.
	flat := fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE t_d (x INTEGER);")}}
	if err := Migrate(ctx, db, "flat", flat); err == nil {
		t.Fatal("Migrate(files outside migrations/) = nil, want error")
	}
	gap := fstest.MapFS{"migrations/0002_x.sql": {Data: []byte("SELECT 1;")}}
	if err := Migrate(ctx, db, "gap", gap); err == nil {
		t.Fatal("Migrate(gap) = nil, want error")
	}
}

// TestOpenFileModes: the database and its -wal and -shm files are readable
// by the node's user only.
func TestOpenFileModes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE t_modes (x INTEGER); INSERT INTO t_modes VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s = %v, want 0600", filepath.Base(f), got)
		}
	}
}

// TestPoolIsBounded takes every connection the pool allows and checks that
// one more waits (until its context ends) instead of opening a handle.
func TestPoolIsBounded(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range MaxOpenConns {
		c, err := db.Conn(t.Context())
		if err != nil {
			t.Fatalf("Conn() within the bound: %v", err)
		}
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if c, err := db.Conn(ctx); !errors.Is(err, context.DeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Errorf("Conn() beyond the bound = %v, want it to wait until its deadline", err)
	}
	if got := db.Stats().OpenConnections; got != MaxOpenConns {
		t.Errorf("OpenConnections = %d, want %d", got, MaxOpenConns)
	}
}

// TestErrorClasses provokes SQLITE_FULL (a page limit stands in for a full
// disk), SQLITE_BUSY (a writer of a second pool while the first holds the
// lock, with no busy timeout) and the writer queue's timeout, and checks
// IsFull and IsBusy on each.
func TestErrorClasses(t *testing.T) {
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t_big (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	_, full := conn.ExecContext(ctx, `INSERT INTO t_big(b) VALUES (zeroblob(1 << 20))`)

	// SQLITE_BUSY comes from a writer outside this pool (another process),
	// which waits in SQLite's busy handler, not in the pool's queue.
	tx, err := db.BeginTx(ctx, nil) // immediate: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	otherDB, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer otherDB.Close()
	other, err := otherDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	_, busy := other.ExecContext(ctx, `INSERT INTO sqlitedb_migrations(component, version) VALUES ('busy', 1)`)

	// The queue's own timeout, in a pool whose writers wait 50 ms.
	short, err := open(ctx, filepath.Join(t.TempDir(), "short.db"), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	held, err := short.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback()
	_, queued := short.ExecContext(ctx, `DELETE FROM sqlitedb_migrations`)

	tests := []struct {
		name         string
		err          error
		full, isBusy bool
	}{
		{"SQLITE_FULL", full, true, false},
		{"SQLITE_BUSY", busy, false, true},
		{"writer queue timeout", queued, false, true},
		{"wrapped SQLITE_FULL", fmt.Errorf("record shard: %w", full), true, false},
		{"other", errors.New("no such table"), false, false},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Fatalf("%s: the statement succeeded, want an error", tt.name)
		}
		if got := IsFull(tt.err); got != tt.full {
			t.Errorf("IsFull(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.full)
		}
		if got := IsBusy(tt.err); got != tt.isBusy {
			t.Errorf("IsBusy(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.isBusy)
		}
	}
}
