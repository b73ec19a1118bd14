//go:build race

package main

// raceSlowdown: the race detector slows everything several times; timing
// bounds in tests stretch by this factor.
const raceSlowdown = 4
