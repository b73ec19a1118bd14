package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// layout builds the live shard records of one stripe: hostShards[i]
// shards on host "h<i>".
func layout(stripe int, hostShards ...int) []ShardRecord {
	var recs []ShardRecord
	idx := 0
	for h, c := range hostShards {
		for range c {
			recs = append(recs, ShardRecord{Stripe: stripe, Index: idx, HostID: fmt.Sprintf("h%d", h), Live: true})
			idx++
		}
	}
	return recs
}

// ones returns n ones: one shard on each of n hosts.
func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func TestSurvivableLosses(t *testing.T) {
	t.Parallel()
	ec := func(k, n, stripes int) Manifest { return Manifest{Mode: "ec", K: k, N: n, Stripes: stripes} }
	dead := func(recs []ShardRecord, idx ...int) []ShardRecord {
		for _, i := range idx {
			recs[i].Live = false
		}
		return recs
	}
	tests := []struct {
		name string
		m    Manifest
		recs []ShardRecord
		want int
	}{
		{"12 of 20 on 20 hosts", ec(12, 20, 1), layout(0, ones(20)...), 8},
		{"12 of 20 on 3 hosts", ec(12, 20, 1), layout(0, 7, 7, 6), 1},
		{"12 of 20 on 5 hosts", ec(12, 20, 1), layout(0, 4, 4, 4, 4, 4), 2},
		{"12 of 20 on 2 hosts", ec(12, 20, 1), layout(0, 10, 10), 0},
		{"uneven: the biggest host goes first", ec(4, 8, 1), layout(0, 4, 1, 1, 1, 1), 1},
		{"uneven: big hosts first", ec(3, 8, 1), layout(0, 2, 2, 1, 1, 1, 1), 3},
		{"three dead shards", ec(12, 20, 1), dead(layout(0, ones(20)...), 0, 5, 19), 5},
		{"weakest stripe decides", ec(2, 4, 2), append(layout(0, 1, 1, 1, 1), layout(1, 2, 2)...), 1},
		{"stripe below k", ec(2, 4, 2), append(layout(0, 1, 1, 1, 1), dead(layout(1, 1, 1), 0)...), 0},
		{"stripe without records", ec(2, 4, 2), layout(0, 1, 1, 1, 1), 0},
		{"running upload of unknown size", ec(2, 4, 0), append(layout(0, 1, 1, 1, 1), layout(1, 1, 1, 1)...), 1},
		{"no stripes", ec(2, 4, 0), nil, 0},
		{"5 replicas on 5 hosts", Manifest{Mode: "rep", K: 1, N: 5, Stripes: 1}, layout(0, ones(5)...), 4},
		{"5 replicas on 2 hosts", Manifest{Mode: "rep", K: 1, N: 5, Stripes: 1}, layout(0, 3, 2), 1},
		{"one host, no redundancy", ec(1, 1, 1), layout(0, 1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SurvivableLosses(tt.m, tt.recs); got != tt.want {
				t.Errorf("SurvivableLosses(%d of %d, %s) = %d, want %d", tt.m.K, tt.m.N, tt.name, got, tt.want)
			}
		})
	}
}

// TestSurvivableLossesExhaustive checks random layouts against every
// subset of lost hosts.
func TestSurvivableLossesExhaustive(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 5))
	for trial := range 300 {
		hosts := 1 + rng.IntN(7)
		n := 1 + rng.IntN(12)
		k := 1 + rng.IntN(n)
		stripes := 1 + rng.IntN(3)
		m := Manifest{Mode: "ec", K: k, N: n, Stripes: stripes}
		var recs []ShardRecord
		for s := range stripes {
			for i := range n {
				recs = append(recs, ShardRecord{Stripe: s, Index: i, HostID: fmt.Sprintf("h%d", rng.IntN(hosts)), Live: rng.IntN(6) > 0})
			}
		}
		// survivesAll reports whether every stripe keeps k shards whichever
		// `lost` hosts go.
		survivesAll := func(lost int) bool {
			for set := range 1 << hosts {
				if popcount(set) != lost {
					continue
				}
				for s := range stripes {
					left := 0
					for _, r := range recs {
						var h int
						fmt.Sscanf(r.HostID, "h%d", &h)
						if r.Stripe == s && r.Live && set&(1<<h) == 0 {
							left++
						}
					}
					if left < k {
						return false
					}
				}
			}
			return true
		}
		want := 0
		for want < hosts && survivesAll(want+1) {
			want++
		}
		if !survivesAll(0) {
			want = 0
		}
		if got := SurvivableLosses(m, recs); got != want {
			t.Fatalf("trial %d: SurvivableLosses(%d of %d on %d hosts, %v) = %d, want %d", trial, k, n, hosts, recs, got, want)
		}
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}
