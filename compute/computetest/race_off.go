//go:build !race

package computetest

// Race is true in a test binary built with -race: tests then run modules
// with wazero's interpreter (compute.Config.Interpreter), since compiling a
// Go module under the race detector takes half a minute.
const Race = false
