package economy

import (
	"bytes"
	"slices"
)

// sortedVotes returns votes in ascending order of the witness's key, one
// per witness (the first kept).
func sortedVotes(votes []Vote) []Vote {
	out := slices.Clone(votes)
	slices.SortStableFunc(out, func(a, b Vote) int { return bytes.Compare(keyBytes(a.Witness), keyBytes(b.Witness)) })
	return slices.CompactFunc(out, func(a, b Vote) bool { return a.Witness == b.Witness })
}
