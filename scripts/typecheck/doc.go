// Typecheck type-checks packages and all their dependencies from source
// for another GOOS/GOARCH, as the compiler's front end does, without
// generating code: make test's check that the Raspberry Pi builds compile,
// at about a tenth of a cold cross build's time. It catches what differs
// between targets: files chosen by build constraints, constants that
// overflow a 32-bit int or uintptr, and every type error, unused import
// and unused variable in them. It exits 1 and lists the errors when any
// package fails.
//
//	go run ./scripts/typecheck -target linux/arm ./cmd/offgrid
package main
