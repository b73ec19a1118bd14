// Package testutil holds helpers shared by tests: a goroutine-leak check.
// It is imported only from _test.go files.
package testutil
