//go:build arm64

package wide

// Only64 type-checks wrongly, on arm64 alone.
func Only64() int { return "sixty-four" }
