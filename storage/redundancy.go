package storage

import (
	"slices"
)

// SurvivableLosses returns how many host losses a file survives in the
// worst case, judged from where its live shards really are, not from the
// k and n it asked for: the largest h such that, whichever h hosts are
// lost, every stripe keeps at least m.K live shards.
//
// For each stripe the live shards are grouped by host; the worst h losses
// are the h hosts holding the most of them, so a stripe with live shards L
// and per-host counts c1 >= c2 >= ... survives h losses iff
// L - (c1 + ... + ch) >= k. The file survives the least of its stripes.
// Twenty shards of a 12-of-20 stripe on twenty hosts survive 8 losses; the
// same twenty shards on three hosts (7, 7, 6) survive 1.
//
// The stripes are m.Stripes, or as many as the records name while an
// upload of unknown size runs. A stripe with fewer than k live shards (or
// none recorded) makes the answer 0, as does a manifest with no stripes:
// the state (lost, pending) says the rest. The answer is at most the
// number of distinct hosts minus one, so below MaxShards.
func SurvivableLosses(m Manifest, recs []ShardRecord) int {
	k := max(m.K, 1)
	stripes := m.Stripes
	for _, r := range recs {
		stripes = max(stripes, r.Stripe+1)
	}
	if stripes == 0 {
		return 0
	}
	perHost := make([]map[string]int, stripes)
	for _, r := range recs {
		if !r.Live || r.Stripe < 0 {
			continue
		}
		if perHost[r.Stripe] == nil {
			perHost[r.Stripe] = map[string]int{}
		}
		perHost[r.Stripe][r.HostID]++
	}
	survives := -1
	counts := make([]int, 0, 32)
	for _, hosts := range perHost {
		counts = counts[:0]
		live := 0
		for _, c := range hosts {
			counts = append(counts, c)
			live += c
		}
		if live < k {
			return 0
		}
		slices.SortFunc(counts, func(a, b int) int { return b - a })
		h := 0
		for h < len(counts) && live-counts[h] >= k {
			live -= counts[h]
			h++
		}
		if survives < 0 || h < survives {
			survives = h
		}
	}
	return survives
}
