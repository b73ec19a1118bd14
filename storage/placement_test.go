package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"
)

// testHosts returns m hosts "host-00", "host-01", ... with weight 1.
func testHosts(m int) []Candidate {
	hosts := make([]Candidate, m)
	for i := range hosts {
		hosts[i] = Candidate{ID: fmt.Sprintf("host-%02d", i), Endpoint: fmt.Sprintf("10.0.0.%d:7946", i), Weight: 1}
	}
	return hosts
}

func ids(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// TestRankVector pins the ranking for one key, so that a change to the
// hash input or the score formula (which would move every stored shard)
// cannot pass unnoticed.
func TestRankVector(t *testing.T) {
	t.Parallel()
	hosts := []Candidate{
		{ID: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", Weight: 1},
		{ID: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH", Weight: 1},
		{ID: "host-a", Weight: 0.5},
		{ID: "host-b", Weight: 2},
		{ID: "host-c", Weight: 1},
	}
	got := ids(Rank("CID:abc123/0", hosts))
	want := []string{
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		"host-c",
		"did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
		"host-b",
		"host-a",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rank(%q) mismatch (-want +got):\n%s", "CID:abc123/0", diff)
	}
}

// TestRankMatchesFormula recomputes the documented score independently and
// checks that Rank orders by it.
func TestRankMatchesFormula(t *testing.T) {
	t.Parallel()
	hosts := testHosts(12)
	for i := range hosts {
		hosts[i].Weight = float64(i%4) + 0.25
	}
	score := func(key string, c Candidate) float64 {
		h := blake3.New()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(c.ID))
		d := h.Sum(nil)
		v := binary.BigEndian.Uint64(d) >> 11
		u := (float64(v) + 1) / math.Pow(2, 53)
		return -c.Weight / math.Log(u)
	}
	for i := range 200 {
		key := fmt.Sprintf("asset-%d/%d", i, i%3)
		want := slices.Clone(hosts)
		slices.SortFunc(want, func(a, b Candidate) int {
			sa, sb := score(key, a), score(key, b)
			switch {
			case sa > sb:
				return -1
			case sa < sb:
				return 1
			}
			t.Fatalf("tie between %s and %s for %q", a.ID, b.ID, key)
			return 0
		})
		if diff := cmp.Diff(ids(want), ids(Rank(key, hosts))); diff != "" {
			t.Fatalf("Rank(%q) mismatch (-want +got):\n%s", key, diff)
		}
	}
}

func TestPlaceDeterministic(t *testing.T) {
	t.Parallel()
	hosts := testHosts(15)
	for i := range hosts {
		hosts[i].Weight = 1 + float64(i)/10
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		key := fmt.Sprintf("asset-%d/0", i)
		want, wantDistinct := Place(key, hosts, 10)
		for range 5 {
			shuffled := slices.Clone(hosts)
			rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			got, gotDistinct := Place(key, shuffled, 10)
			if diff := cmp.Diff(want, got); diff != "" || gotDistinct != wantDistinct {
				t.Fatalf("Place(%q, shuffled, 10) = _, %d, want _, %d; mismatch (-want +got):\n%s", key, gotDistinct, wantDistinct, diff)
			}
		}
	}
	// The input is left alone.
	before := slices.Clone(hosts)
	Rank("k", hosts)
	if diff := cmp.Diff(before, hosts); diff != "" {
		t.Errorf("Rank modified its input (-before +after):\n%s", diff)
	}
}

func TestPlaceDistinct(t *testing.T) {
	t.Parallel()
	hosts := testHosts(20)
	for _, n := range []int{1, 5, 12, 19, 20} {
		for i := range 200 {
			key := fmt.Sprintf("asset-%d/%d", i, n)
			placed, distinct := Place(key, hosts, n)
			if distinct != n || len(placed) != n {
				t.Fatalf("Place(%q, 20 hosts, %d) = %d hosts, %d distinct, want %d, %d", key, n, len(placed), distinct, n, n)
			}
			seen := map[string]bool{}
			for _, c := range placed {
				if seen[c.ID] {
					t.Fatalf("Place(%q, 20 hosts, %d) = %v, want distinct hosts", key, n, ids(placed))
				}
				seen[c.ID] = true
			}
			if diff := cmp.Diff(Rank(key, hosts)[:n], placed); diff != "" {
				t.Fatalf("Place(%q, 20 hosts, %d) is not the top of Rank (-rank +place):\n%s", key, n, diff)
			}
		}
	}
}

func TestPlaceFewHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ m, n int }{
		{1, 1}, {1, 5}, {2, 3}, {3, 10}, {5, 12}, {7, 20}, {19, 20}, {20, 256},
	} {
		t.Run(fmt.Sprintf("%d hosts n=%d", tt.m, tt.n), func(t *testing.T) {
			t.Parallel()
			hosts := testHosts(tt.m)
			for i := range 50 {
				key := fmt.Sprintf("asset-%d/0", i)
				placed, distinct := Place(key, hosts, tt.n)
				if want := min(tt.m, tt.n); distinct != want || len(placed) != tt.n {
					t.Fatalf("Place(%q, %d hosts, %d) = %d hosts, %d distinct, want %d, %d", key, tt.m, tt.n, len(placed), distinct, tt.n, want)
				}
				rank := Rank(key, hosts)
				counts := map[string]int{}
				for j, c := range placed {
					counts[c.ID]++
					if c != rank[j%tt.m] {
						t.Fatalf("Place(%q, %d hosts, %d)[%d] = %s, want %s (rank %d)", key, tt.m, tt.n, j, c.ID, rank[j%tt.m].ID, j%tt.m)
					}
				}
				lo, hi := tt.n, 0
				for _, c := range hosts {
					lo, hi = min(lo, counts[c.ID]), max(hi, counts[c.ID])
				}
				if tt.n >= tt.m && hi-lo > 1 {
					t.Fatalf("Place(%q, %d hosts, %d) gives hosts between %d and %d shards, want a spread of at most 1", key, tt.m, tt.n, lo, hi)
				}
			}
		})
	}
}

func TestPlaceNothing(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		hosts []Candidate
		n     int
	}{
		{"no hosts", nil, 3},
		{"only unusable hosts", []Candidate{{ID: "a"}, {ID: "b", Weight: -1}}, 3},
		{"n zero", testHosts(3), 0},
		{"n negative", testHosts(3), -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			placed, distinct := Place("k", tt.hosts, tt.n)
			if placed != nil || distinct != 0 {
				t.Errorf("Place(k, %v, %d) = %v, %d, want nil, 0", tt.hosts, tt.n, placed, distinct)
			}
		})
	}
}

// TestRankWeights checks that the chance of ranking first is proportional
// to weight.
func TestRankWeights(t *testing.T) {
	t.Parallel()
	const keys = 20000
	hosts := testHosts(10)
	hosts[3].Weight = 2
	first := map[string]int{}
	for i := range keys {
		first[Rank(fmt.Sprintf("asset-%d/0", i), hosts)[0].ID]++
	}
	heavy := float64(first[hosts[3].ID])
	light := float64(keys-first[hosts[3].ID]) / 9
	if ratio := heavy / light; math.Abs(ratio-2) > 0.2 {
		t.Errorf("weight 2 host ranked first %v times, weight 1 hosts %v times on average: ratio %.3f, want 2 ± 10%%", heavy, light, ratio)
	}
	// Each weight-1 host alone is also near its share, 1/11.
	for _, c := range hosts {
		if c.Weight != 1 {
			continue
		}
		if got, want := float64(first[c.ID]), keys/11.0; math.Abs(got-want) > 0.1*want {
			t.Errorf("weight 1 host %s ranked first %v times, want %.0f ± 10%%", c.ID, got, want)
		}
	}
	// Two hosts, weights 2 and 1: the heavy one wins 2/3 of the time.
	two := []Candidate{{ID: "heavy", Weight: 2}, {ID: "light", Weight: 1}}
	wins := 0
	for i := range keys {
		if Rank(fmt.Sprintf("asset-%d/0", i), two)[0].ID == "heavy" {
			wins++
		}
	}
	if got, want := float64(wins), keys*2/3.0; math.Abs(got-want) > 0.05*want {
		t.Errorf("weight 2 vs weight 1: heavy ranked first %v times of %d, want %.0f ± 5%%", got, keys, want)
	}
}

// TestRankMinimalDisruption checks the rendezvous property: removing a host
// leaves the relative order of the others unchanged, so only stripes that
// used the removed host change placement.
func TestRankMinimalDisruption(t *testing.T) {
	t.Parallel()
	hosts := testHosts(20)
	for i := range hosts {
		hosts[i].Weight = 1 + float64(i%5)/2
	}
	removed := hosts[7]
	rest := slices.Delete(slices.Clone(hosts), 7, 8)
	const n = 6
	moved := 0
	for i := range 1000 {
		key := fmt.Sprintf("asset-%d/0", i)
		before := Rank(key, hosts)
		want := slices.DeleteFunc(slices.Clone(before), func(c Candidate) bool { return c.ID == removed.ID })
		if diff := cmp.Diff(ids(want), ids(Rank(key, rest))); diff != "" {
			t.Fatalf("Rank(%q) without %s mismatch (-want +got):\n%s", key, removed.ID, diff)
		}
		oldPlaced, _ := Place(key, hosts, n)
		newPlaced, _ := Place(key, rest, n)
		if !slices.Contains(oldPlaced, removed) {
			if diff := cmp.Diff(oldPlaced, newPlaced); diff != "" {
				t.Fatalf("Place(%q, %d) changed although %s held no shard (-before +after):\n%s", key, n, removed.ID, diff)
			}
			continue
		}
		moved++
		// Only the removed host's shard moves, to the next host in line.
		changed := 0
		for j := range oldPlaced {
			if oldPlaced[j] != newPlaced[j] {
				changed++
			}
		}
		if newPlaced[n-1] != before[n] || changed > n {
			t.Fatalf("Place(%q, %d) after removing %s = %v, want the old placement minus it plus %s", key, n, removed.ID, ids(newPlaced), before[n].ID)
		}
		if diff := cmp.Diff(want[:n], newPlaced); diff != "" {
			t.Fatalf("Place(%q, %d) after removing %s mismatch (-want +got):\n%s", key, n, removed.ID, diff)
		}
	}
	if moved == 0 || moved == 1000 {
		t.Errorf("%s held a shard in %d of 1000 stripes; the test needs some of each", removed.ID, moved)
	}
}

func TestRankIgnoresBadCandidates(t *testing.T) {
	t.Parallel()
	good := testHosts(3)
	for _, tt := range []struct {
		name string
		add  []Candidate
		want []string // IDs usable besides the good hosts
	}{
		{"zero weight", []Candidate{{ID: "x", Weight: 0}}, nil},
		{"negative weight", []Candidate{{ID: "x", Weight: -1}}, nil},
		{"negative zero weight", []Candidate{{ID: "x", Weight: math.Copysign(0, -1)}}, nil},
		{"NaN weight", []Candidate{{ID: "x", Weight: math.NaN()}}, nil},
		{"+Inf weight", []Candidate{{ID: "x", Weight: math.Inf(1)}}, nil},
		{"-Inf weight", []Candidate{{ID: "x", Weight: math.Inf(-1)}}, nil},
		{"empty ID", []Candidate{{ID: "", Weight: 1}}, nil},
		{"tiny weight", []Candidate{{ID: "x", Weight: math.SmallestNonzeroFloat64}}, []string{"x"}},
		{"huge weight", []Candidate{{ID: "x", Weight: math.MaxFloat64}}, []string{"x"}},
		{"identical duplicates count once", []Candidate{{ID: "x", Weight: 1}, {ID: "x", Weight: 1}}, []string{"x"}},
		{"conflicting duplicates ignored", []Candidate{{ID: "x", Weight: 1}, {ID: "x", Weight: 2}}, nil},
		{"duplicate endpoints differ", []Candidate{{ID: "x", Endpoint: "a", Weight: 1}, {ID: "x", Endpoint: "b", Weight: 1}}, nil},
		{"duplicate of a good host", []Candidate{{ID: good[1].ID, Weight: 5}}, []string{"-" + good[1].ID}},
		{"unusable copy of a duplicate", []Candidate{{ID: "x", Weight: 1}, {ID: "x", Weight: 0}}, []string{"x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := ids(good)
			for _, id := range tt.want {
				if id[0] == '-' {
					want = slices.DeleteFunc(want, func(s string) bool { return s == id[1:] })
				} else {
					want = append(want, id)
				}
			}
			in := append(slices.Clone(good), tt.add...)
			for i := range 20 {
				key := fmt.Sprintf("asset-%d/0", i)
				got := ids(Rank(key, in))
				if diff := cmp.Diff(want, got, cmp.Transformer("sort", func(s []string) []string { return slices.Sorted(slices.Values(s)) })); diff != "" {
					t.Fatalf("Rank(%q, %v) hosts mismatch (-want +got):\n%s", key, tt.add, diff)
				}
				// Reversed input, same answer.
				rev := slices.Clone(in)
				slices.Reverse(rev)
				if diff := cmp.Diff(got, ids(Rank(key, rev))); diff != "" {
					t.Fatalf("Rank(%q, reversed) mismatch (-forward +reversed):\n%s", key, diff)
				}
			}
		})
	}
}

func TestChooseParams(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		live, wantK, wantN int
		k, n               int
		err                error
	}{
		{live: 20, wantK: 12, wantN: 20, k: 12, n: 20},
		{live: 50, wantK: 12, wantN: 20, k: 12, n: 20},
		{live: 19, wantK: 12, wantN: 20, k: 11, n: 19}, // p = round(7.6) = 8
		{live: 10, wantK: 12, wantN: 20, k: 6, n: 10},
		{live: 5, wantK: 12, wantN: 20, k: 3, n: 5},
		{live: 3, wantK: 12, wantN: 20, k: 2, n: 3},
		{live: 2, wantK: 12, wantN: 20, k: 1, n: 2},
		{live: 1, wantK: 12, wantN: 20, k: 1, n: 1, err: ErrNoRedundancy},
		{live: 0, wantK: 12, wantN: 20, err: ErrNoHosts},
		{live: 3, wantK: 4, wantN: 6, k: 2, n: 3},  // p = round(1) = 1
		{live: 5, wantK: 4, wantN: 6, k: 3, n: 5},  // p = round(1.67) = 2
		{live: 4, wantK: 2, wantN: 8, k: 1, n: 4},  // p = round(3) = 3
		{live: 3, wantK: 1, wantN: 5, k: 1, n: 3},  // p = round(2.4) = 2
		{live: 5, wantK: 9, wantN: 10, k: 4, n: 5}, // p = max(1, round(0.5) = 1)
		{live: 4, wantK: 9, wantN: 10, k: 3, n: 4}, // p = max(1, round(0.4) = 0)
		{live: 2, wantK: 3, wantN: 3, k: 1, n: 2},  // no parity asked, one added
		{live: 3, wantK: 3, wantN: 3, k: 3, n: 3},  // as asked
		{live: 1, wantK: 1, wantN: 1, k: 1, n: 1},  // no redundancy was asked for
		{live: 7, wantK: 1, wantN: 1, k: 1, n: 1},  // replication-like
		{live: 2, wantK: 1, wantN: 3, k: 1, n: 2},  // three copies wanted, two possible
		{live: 300, wantK: 200, wantN: 256, k: 200, n: 256},
		{live: 128, wantK: 200, wantN: 256, k: 100, n: 128},
		{live: 0, wantK: 0, wantN: 20, err: ErrPlacement}, // bad wants are checked first
		{live: 5, wantK: 0, wantN: 20, err: ErrPlacement},
		{live: 5, wantK: -1, wantN: 20, err: ErrPlacement},
		{live: 5, wantK: 21, wantN: 20, err: ErrPlacement},
		{live: 5, wantK: 12, wantN: 257, err: ErrPlacement},
		{live: 5, wantK: 0, wantN: 0, err: ErrPlacement},
		{live: -1, wantK: 12, wantN: 20, err: ErrPlacement},
	} {
		t.Run(fmt.Sprintf("%d live %d of %d", tt.live, tt.wantK, tt.wantN), func(t *testing.T) {
			t.Parallel()
			k, n, err := ChooseParams(tt.live, tt.wantK, tt.wantN)
			if k != tt.k || n != tt.n || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("ChooseParams(%d, %d, %d) = %d, %d, %v, want %d, %d, %v", tt.live, tt.wantK, tt.wantN, k, n, err, tt.k, tt.n, tt.err)
			}
		})
	}
}

// TestChooseParamsInvariants checks the documented guarantees for every
// wanted (k, n) with n <= 64 (and a sample up to 256) and every host count.
func TestChooseParamsInvariants(t *testing.T) {
	t.Parallel()
	check := func(live, wantK, wantN int) {
		k, n, err := ChooseParams(live, wantK, wantN)
		switch {
		case live == 0:
			if !errors.Is(err, ErrNoHosts) {
				t.Fatalf("ChooseParams(0, %d, %d) = %d, %d, %v, want ErrNoHosts", wantK, wantN, k, n, err)
			}
			return
		case live >= wantN:
			if k != wantK || n != wantN || err != nil {
				t.Fatalf("ChooseParams(%d, %d, %d) = %d, %d, %v, want %d, %d, nil", live, wantK, wantN, k, n, err, wantK, wantN)
			}
			return
		case live == 1:
			if k != 1 || n != 1 || !errors.Is(err, ErrNoRedundancy) {
				t.Fatalf("ChooseParams(1, %d, %d) = %d, %d, %v, want 1, 1, ErrNoRedundancy", wantK, wantN, k, n, err)
			}
			return
		}
		if err != nil || n != live || k < 1 || k >= n {
			t.Fatalf("ChooseParams(%d, %d, %d) = %d, %d, %v, want n = %d and 1 <= k < n", live, wantK, wantN, k, n, err, live)
		}
		// Expansion n/k <= 2 * wantN/wantK, in integers.
		if n*wantK > 2*wantN*k {
			t.Fatalf("ChooseParams(%d, %d, %d) = %d, %d: expansion %.2f exceeds twice the wanted %.2f", live, wantK, wantN, k, n, float64(n)/float64(k), float64(wantN)/float64(wantK))
		}
		// Parity share within half a shard of the asked one, unless
		// clamped to keep one loss survivable or one data shard.
		p := n - k
		exact := float64(n) * float64(wantN-wantK) / float64(wantN)
		if math.Abs(float64(p)-exact) > 0.5 && p != 1 && k != 1 {
			t.Fatalf("ChooseParams(%d, %d, %d) = %d, %d: parity %d, want round(%.2f)", live, wantK, wantN, k, n, p, exact)
		}
	}
	for wantN := 1; wantN <= 64; wantN++ {
		for wantK := 1; wantK <= wantN; wantK++ {
			for live := 0; live <= wantN+1; live++ {
				check(live, wantK, wantN)
			}
		}
	}
	for wantN := 65; wantN <= 256; wantN += 7 {
		for wantK := 1; wantK <= wantN; wantK += 5 {
			for live := 0; live <= wantN+1; live++ {
				check(live, wantK, wantN)
			}
		}
	}
}
