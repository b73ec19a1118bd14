// Package servertest starts a real node for tests: a SQLite database in a
// temporary directory, fresh keys, node.Run in a goroutine the test owns,
// and the full server handler on a loopback httptest server. It is imported
// only from _test.go files.
package servertest
