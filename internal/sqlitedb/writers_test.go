package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func openKV(t *testing.T, wait time.Duration) *sql.DB {
	t.Helper()
	db, err := open(t.Context(), filepath.Join(t.TempDir(), "t.db"), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE kv (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// waitInUse waits until n of db's connections are in use: a writer that
// took its connection is about to queue.
func waitInUse(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); db.Stats().InUse < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections in use, want %d", db.Stats().InUse, n)
		}
		time.Sleep(time.Millisecond)
	}
	// From taking a connection to queuing is a few function calls; the
	// margin is for a loaded machine.
	time.Sleep(200 * time.Millisecond)
}

// TestWritersQueueInArrivalOrder: writers that arrive while a transaction
// holds the database write in the order they arrived, whatever kind of
// write each is. SQLite's busy handler alone lets them in in whatever order
// their sleeps end (the last to arrive sleeps the shortest), and can skip
// one at every try.
func TestWritersQueueInArrivalOrder(t *testing.T) {
	ctx := t.Context()
	db := openKV(t, busyTimeout)
	insert := `INSERT INTO kv(k) VALUES (?)`
	prepared, err := db.PrepareContext(ctx, insert)
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	writers := []func(k string) error{
		func(k string) error { _, err := db.ExecContext(ctx, insert, k); return err },
		func(k string) error {
			return InTx(ctx, db, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, insert, k); return err })
		},
		func(k string) error { _, err := prepared.ExecContext(ctx, k); return err },
		func(k string) error {
			var seq int
			return db.QueryRowContext(ctx, `INSERT INTO kv(k) VALUES (?) RETURNING seq`, k).Scan(&seq)
		},
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	// Every connection but the holder's and one for a reader.
	errs := make(chan error, MaxOpenConns-2)
	var want []string
	for i := range MaxOpenConns - 2 {
		k := fmt.Sprint(i)
		want = append(want, k)
		wg.Go(func() {
			if err := writers[i%len(writers)](k); err != nil {
				errs <- fmt.Errorf("writer %s: %w", k, err)
			}
		})
		waitInUse(t, db, i+2)
	}
	// Readers do not queue behind the writers.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(rctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
		t.Fatalf("read while writers queue: %v", err)
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT k FROM kv ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("writes landed in order %v, want arrival order %v", got, want)
	}
}

// TestWriteQueueEnds: a queued writer gives up when its context ends or
// the queue's wait passes, changes nothing, and leaves the queue working.
func TestWriteQueueEnds(t *testing.T) {
	ctx := t.Context()
	db := openKV(t, 100*time.Millisecond)
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := db.ExecContext(cctx, `INSERT INTO kv(k) VALUES ('cancelled')`); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("write whose context ends in the queue = %v, want DeadlineExceeded", err)
	}
	if err := InTx(ctx, db, func(*sql.Tx) error { return nil }); !IsBusy(err) {
		t.Errorf("transaction queued past the wait = %v, want busy", err)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO kv(k) VALUES ('after')`); err != nil {
		t.Fatalf("write after the queue emptied: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows = %d, %v; want only the write after the queue emptied", n, err)
	}
}

// TestWriteQueueSurvivesFailures: a failed statement, a rolled-back
// transaction, a transaction ended by its context and a writing query
// whose rows are closed early each give the queue back.
func TestWriteQueueSurvivesFailures(t *testing.T) {
	ctx := t.Context()
	db := openKV(t, time.Second)
	if _, err := db.ExecContext(ctx, `INSERT INTO nosuch(k) VALUES (1)`); err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	if err := InTx(ctx, db, func(tx *sql.Tx) error { return errors.New("no") }); err == nil {
		t.Fatal("InTx returned nil for a failing function")
	}
	tctx, cancel := context.WithCancel(ctx)
	tx, err := db.BeginTx(tctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(tctx, `INSERT INTO kv(k) VALUES ('gone')`); err != nil {
		t.Fatal(err)
	}
	cancel()
	rows, err := db.QueryContext(ctx, `INSERT INTO kv(k) VALUES ('a'), ('b') RETURNING seq`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for i := range MaxOpenConns * 2 {
		if _, err := db.ExecContext(ctx, `INSERT INTO kv(k) VALUES (?)`, fmt.Sprint(i)); err != nil {
			t.Fatalf("write %d after the failures: %v", i, err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{"SELECT 1", true},
		{"  \n\tselect k FROM kv", true},
		{"-- a comment\nSELECT 1", true},
		{"/* a */ SELECT 1;", true},
		{"INSERT INTO kv(k) VALUES (1)", false},
		{"UPDATE kv SET k = 1", false},
		{"WITH x AS (SELECT 1) SELECT * FROM x", false},
		{"PRAGMA page_count", false},
		{"SELECT 1; DELETE FROM kv", false},
		{"INSERT INTO kv(k) VALUES (1) RETURNING seq", false},
		{"-- unterminated", false},
		{"/* unterminated", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := readOnly(tt.query); got != tt.want {
			t.Errorf("readOnly(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

// BenchmarkContendedWrites: 32 goroutines write short transactions into
// one database at once, through the writer queue and, as the baseline,
// through the same driver and pool without it (SQLite's busy handler
// alone). The figure is the longest any one write waited: the queue bounds
// it by the writes before it, the busy handler by nothing but its timeout.
func BenchmarkContendedWrites(b *testing.B) {
	pools := []struct {
		name string
		open func(file string) (*sql.DB, error)
	}{
		{"queued", func(file string) (*sql.DB, error) { return Open(b.Context(), file) }},
		{"base=busy-handler", func(file string) (*sql.DB, error) {
			db, err := sql.Open("sqlite", dsn(file))
			db.SetMaxOpenConns(MaxOpenConns)
			return db, err
		}},
	}
	for _, p := range pools {
		b.Run(p.name, func(b *testing.B) {
			ctx := b.Context()
			db, err := p.open(filepath.Join(b.TempDir(), "t.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, `CREATE TABLE kv (seq INTEGER PRIMARY KEY AUTOINCREMENT, k BLOB NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			var (
				mu     sync.Mutex
				waits  []time.Duration
				failed int
			)
			b.SetParallelism(16) // 32 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					err := InTx(ctx, db, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, `INSERT INTO kv(k) VALUES (randomblob(100))`)
						return err
					})
					mine = append(mine, time.Since(start))
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				}
				mu.Lock()
				waits = append(waits, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(waits)
			b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max-wait-ms")
			b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-wait-ms")
			b.ReportMetric(float64(failed), "writes-failed")
		})
	}
}
