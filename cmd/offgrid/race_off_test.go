//go:build !race

package main

// raceSlowdown: timing bounds in tests stretch by this factor under the
// race detector (see race_on_test.go).
const raceSlowdown = 1
