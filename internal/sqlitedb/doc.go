// Package sqlitedb opens a node's SQLite database with the pure-Go modernc
// driver (so CGO_ENABLED=0 builds work), with WAL, foreign keys, a busy
// timeout and immediate write transactions, and applies each domain
// package's embedded, numbered migrations. Applied versions are tracked per
// component in the table sqlitedb_migrations.
//
// The pool is bounded (MaxOpenConns): WAL runs one writer and many readers,
// so a few connections give all the concurrency SQLite has, and a burst of
// requests queues for a connection instead of opening file handles without
// end. The writers of one pool queue in Go, first come first served
// (writers.go): SQLite's busy handler only sleeps and retries, and under a
// steady stream of writes it can pass one writer over until its timeout.
// Each connection keeps the statements it ran prepared (stmtcache.go), so
// a query run again skips SQLite's parser.
// IsFull and IsBusy classify the driver's errors (SQLITE_FULL, and
// SQLITE_BUSY or the queue's own timeout) for the engine's error mapping.
package sqlitedb
