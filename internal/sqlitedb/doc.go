// Package sqlitedb opens a node's SQLite database with the pure-Go modernc
// driver (so CGO_ENABLED=0 builds work), with WAL, foreign keys, a busy
// timeout and immediate write transactions, and applies each domain
// package's embedded, numbered migrations. Applied versions are tracked per
// component in the table sqlitedb_migrations.
//
// The pool is bounded (MaxOpenConns): WAL runs one writer and many readers,
// so a few connections give all the concurrency SQLite has, and a burst of
// requests queues for a connection instead of opening file handles without
// end. IsFull and IsBusy classify the driver's errors (SQLITE_FULL, and
// SQLITE_BUSY after the busy timeout) for the engine's error mapping.
package sqlitedb
