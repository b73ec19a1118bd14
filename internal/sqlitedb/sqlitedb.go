package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// MaxOpenConns bounds the connections (and so the file handles) of one
// database. In WAL mode SQLite runs one writer and any number of readers at
// once; a writer beyond the first only waits on the busy timeout, so a few
// connections give all the concurrency there is, and more requests queue
// for a free connection (bounded by their contexts) instead of each opening
// its own handles.
const MaxOpenConns = 8

// connMaxIdleTime closes a connection unused this long, so that a burst's
// connections do not stay open for ever.
const connMaxIdleTime = time.Minute

// Open opens (creating if needed) the database file at path, with at most
// MaxOpenConns connections. A new file is created with mode 0600: it holds
// a node's private records, and SQLite gives its -wal and -shm files the
// mode of the database file.
func Open(ctx context.Context, file string) (*sql.DB, error) {
	return open(ctx, file, busyTimeout)
}

// open is Open with the writer queue's wait as a parameter, for tests.
func open(ctx context.Context, file string, wait time.Duration) (*sql.DB, error) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	f.Close()
	db := openDB(dsn(file), wait)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS sqlitedb_migrations (
		component TEXT NOT NULL PRIMARY KEY,
		version INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create migrations table: %w", err)
	}
	return db, nil
}

// dsn is the driver's name for file: WAL, foreign keys, the busy timeout
// and immediate write transactions.
func dsn(file string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()), "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + file + "?" + q.Encode()
}

// migrationsDir is the directory of the migration files in the FS given to
// Migrate: each package embeds its own with
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//
// and passes migrations as it is.
const migrationsDir = "migrations"

// IsFull reports whether err is SQLite's SQLITE_FULL: the disk (or the
// database's size limit) is full, and the write was rolled back.
func IsFull(err error) bool { return hasCode(err, sqlite3.SQLITE_FULL) }

// IsBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED, or
// the writer queue's timeout: the busy timeout passed while other writers
// held the database.
func IsBusy(err error) bool {
	return errors.Is(err, errWriteQueue) || hasCode(err, sqlite3.SQLITE_BUSY) || hasCode(err, sqlite3.SQLITE_LOCKED)
}

// hasCode reports whether err is a SQLite error whose primary result code
// (the low byte of an extended code) is code.
func hasCode(err error, code int) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == code
}

// Migrate applies, in one transaction, the migrations in fsys (files named
// NNNN_description.sql in its directory migrationsDir) that component has
// not applied yet.
func Migrate(ctx context.Context, db *sql.DB, component string, fsys fs.FS) error {
	files, err := fs.Glob(fsys, migrationsDir+"/*.sql")
	if err != nil {
		return fmt.Errorf("list %s migrations: %w", component, err)
	}
	if len(files) == 0 {
		return fmt.Errorf("%s: no migrations found in %s/", component, migrationsDir)
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, f := range files {
		num, _, _ := strings.Cut(path.Base(f), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s migration %s: name must start with a positive number", component, f)
		}
		ms = append(ms, migration{v, f})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("%s migrations: expected version %d, found %s", component, i+1, m.name)
		}
	}
	return InTx(ctx, db, func(tx *sql.Tx) error {
		var current int
		err := tx.QueryRowContext(ctx, `SELECT version FROM sqlitedb_migrations WHERE component = ?`, component).Scan(&current)
		if err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("read %s schema version: %w", component, err)
		}
		if current > len(ms) {
			return fmt.Errorf("%s schema version %d is newer than this binary (%d)", component, current, len(ms))
		}
		for _, m := range ms[current:] {
			body, err := fs.ReadFile(fsys, m.name)
			if err != nil {
				return fmt.Errorf("read %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s migration %s: %w", component, m.name, err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sqlitedb_migrations(component, version) VALUES(?, ?)
			ON CONFLICT(component) DO UPDATE SET version = excluded.version`, component, len(ms))
		return err
	})
}

// InTx runs fn in a write transaction, committing if fn returns nil and
// rolling back otherwise.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
