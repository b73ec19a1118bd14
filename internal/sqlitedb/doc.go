// Package sqlitedb opens a node's SQLite database with the pure-Go modernc
// driver (so CGO_ENABLED=0 builds work), with WAL, foreign keys, a busy
// timeout and immediate write transactions, and applies each domain
// package's embedded, numbered migrations. Applied versions are tracked per
// component in the table sqlitedb_migrations.
package sqlitedb
