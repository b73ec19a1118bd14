// Package depcheck holds the tests that keep the code base's shape: the
// import direction of DESIGN.md (cmd -> server -> {api, web} -> node ->
// domain packages -> leaves) and one package comment per package, in doc.go.
// It has no non-test code.
package depcheck
