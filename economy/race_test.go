//go:build race

package economy

const raceEnabled = true
