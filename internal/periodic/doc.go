// Package periodic runs a piece of work at a fixed interval for as long as
// its context lives: the one loop behind the engine's scrub, audit and
// history schedules.
package periodic
