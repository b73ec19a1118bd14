// Package computetest builds the WASI test modules under
// compute/testdata/modules (Go programs compiled with GOOS=wasip1
// GOARCH=wasm) for the tests of compute, node/jobs and cmd/offgrid. Built
// modules are kept in compute/testdata/wasm (git-ignored; `make wasm` builds
// them too) and rebuilt when their source is newer.
package computetest
