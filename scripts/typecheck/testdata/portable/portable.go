// Package portable compiles for every target.
package portable

// Big fits a 32-bit int.
var Big int = 1 << 30
