package economy

import (
	"bytes"
	"slices"
)

// sortedVotes returns votes in ascending order of the witness's key, one
// per witness (the first kept).
func sortedVotes(votes []Vote) []Vote {
	type keyed struct {
		key []byte
		v   Vote
	}
	ks := make([]keyed, len(votes))
	for i, v := range votes {
		ks[i] = keyed{keyBytes(v.Witness), v} // one base58 decode each, not one per comparison
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return bytes.Compare(a.key, b.key) })
	ks = slices.CompactFunc(ks, func(a, b keyed) bool { return a.v.Witness == b.v.Witness })
	out := make([]Vote, len(ks))
	for i, k := range ks {
		out[i] = k.v
	}
	return out
}
