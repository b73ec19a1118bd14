package sqlitedb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
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
