// Package testutil holds helpers shared by tests: a goroutine-leak check
// and a clock the test moves.
// It is imported only from _test.go files.
package testutil
