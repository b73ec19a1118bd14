// Package wide compiles only where int has 64 bits.
package wide

// Big overflows a 32-bit int.
var Big int = 1 << 40
