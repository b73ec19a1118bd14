//go:build race

package main

// raceEnabled says whether the test binary runs under the race detector,
// which slows everything several times: timing bounds in tests stretch by
// raceSlowdown.
const (
	raceEnabled  = true
	raceSlowdown = 4
)
