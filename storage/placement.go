package storage

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/zeebo/blake3"
)

// Errors from placement. ErrNoRedundancy comes with usable parameters; the
// others come with none.
var (
	// ErrPlacement reports invalid placement parameters, e.g. wanted k and n
	// outside 1 <= k <= n <= 256.
	ErrPlacement = errors.New("invalid placement parameters")
	// ErrNoHosts reports that there is no live host to place shards on.
	ErrNoHosts = errors.New("no live hosts to place shards on")
	// ErrNoRedundancy is returned by ChooseParams together with valid
	// parameters (k = n = 1) when only one host is live: the data can be
	// stored, but losing that host loses it. Callers should warn and go on.
	ErrNoRedundancy = errors.New("only one live host: data stored without redundancy")
)

// Candidate is a host that may receive shards.
type Candidate struct {
	// ID is the host's node ID (its did:key). It names the host in the
	// rendezvous hash, so it must be the same on every node.
	ID string
	// Endpoint is where the host is reached. Placement does not use it.
	Endpoint string
	// Name is the host's name, for people (messages naming the hosts a
	// put found). Placement does not use it.
	Name string
	// Weight is the host's preference score: reputation, mesh health and
	// transport folded into one number. It must be finite and > 0; higher
	// is preferred, in proportion (weight 2 ranks first twice as often as
	// weight 1).
	Weight float64
}

// Place returns, for the stripe named key (e.g. "assetID/stripe"), n hosts
// in preference order, chosen by weighted rendezvous (highest random weight)
// hashing:
//
//	d     = BLAKE3-256(key || 0x00 || ID)
//	v     = the first 8 bytes of d as a big-endian uint64, shifted right by
//	        11 (its top 53 bits)
//	u     = (v + 1) / 2^53, so 0 < u <= 1
//	score = -Weight / ln(u)   (+Inf when u = 1)
//
// Hosts are ranked by descending score; equal scores (vanishingly rare) are
// ordered by ascending ID bytes. Each host's score depends only on the key
// and on that host, so adding or removing a host moves only the shards that
// host gains or loses, and with weights the chance that a host ranks first
// is Weight divided by the sum of the weights. The key should not contain a
// NUL byte.
//
// While there are at least n usable hosts the n placed hosts are distinct:
// the first n of [Rank]. With m < n usable hosts Place cycles through the
// ranking (host 0, 1, ..., m-1, 0, 1, ...), so that no host holds more than
// one shard more than any other. distinct is the number of different hosts
// in placed, min(m, n): distinct < n reports that some hosts hold several
// shards of the stripe. With no usable host, or n <= 0, placed is nil.
//
// Place is deterministic: the same key and the same set of hosts give the
// same answer on every node, whatever the input order. Candidates with an
// empty ID or a Weight that is not finite and > 0 are ignored. A usable ID
// that appears more than once counts once when every copy is equal and is
// ignored altogether when the copies disagree (the peer table contradicts
// itself, and picking one copy would depend on input order). hosts is not
// modified.
//
// Scores use math.Log, so two architectures could in theory order two hosts
// differently when their scores agree to the last bit of a float64; the
// chance of that is negligible.
func Place(key string, hosts []Candidate, n int) (placed []Candidate, distinct int) {
	if n <= 0 {
		return nil, 0
	}
	ranked := Rank(key, hosts)
	if len(ranked) == 0 {
		return nil, 0
	}
	placed = make([]Candidate, n)
	for i := range placed {
		placed[i] = ranked[i%len(ranked)]
	}
	return placed, min(len(ranked), n)
}

// Rank returns every usable candidate in hosts, best first, in the
// rendezvous order for key that [Place] uses (see there for the score, and
// for which candidates are usable). Callers use it to pick replacements:
// the next host in the ranking that does not already hold a shard of the
// stripe. The result is a new slice; hosts is not modified.
func Rank(key string, hosts []Candidate) []Candidate {
	usable := Usable(hosts)
	type scored struct {
		c     Candidate
		score float64
	}
	s := make([]scored, len(usable))
	buf := make([]byte, 0, len(key)+1+64)
	for i, c := range usable {
		buf = append(append(append(buf[:0], key...), 0), c.ID...)
		s[i] = scored{c, hrwScore(buf, c.Weight)}
	}
	slices.SortFunc(s, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.c.ID, b.c.ID)
	})
	out := make([]Candidate, len(s))
	for i := range s {
		out[i] = s[i].c
	}
	return out
}

// hrwScore returns -weight / ln(u), with u drawn from BLAKE3(msg) as the
// Place comment describes.
func hrwScore(msg []byte, weight float64) float64 {
	d := blake3.Sum256(msg)
	v := binary.BigEndian.Uint64(d[:8]) >> 11
	u := float64(v+1) / (1 << 53) // exact: v+1 <= 2^53
	l := math.Log(u)
	if l == 0 {
		return math.Inf(1)
	}
	return -weight / l
}

// Usable returns the candidates of hosts that placement may use, sorted by
// ID: valid ID and weight, duplicates resolved as Place documents. Its
// length is the number of distinct hosts a stripe can be spread over.
func Usable(hosts []Candidate) []Candidate {
	valid := make([]Candidate, 0, len(hosts))
	for _, c := range hosts {
		if c.ID != "" && c.Weight > 0 && !math.IsInf(c.Weight, 1) { // NaN > 0 is false
			valid = append(valid, c)
		}
	}
	slices.SortFunc(valid, func(a, b Candidate) int { return cmp.Compare(a.ID, b.ID) })
	out := valid[:0]
	for i := 0; i < len(valid); {
		j := i + 1
		agree := true
		for ; j < len(valid) && valid[j].ID == valid[i].ID; j++ {
			agree = agree && valid[j] == valid[i]
		}
		if agree {
			out = append(out, valid[i])
		}
		i = j
	}
	return out
}

// ChooseParams picks erasure-coding parameters (k data shards out of n) for
// a stripe when liveHosts hosts are reachable and the asset asks for wantK
// of wantN. Every shard of a stripe should sit on its own host, so n may not
// exceed liveHosts. The rule:
//
//   - liveHosts >= wantN: (wantK, wantN), as asked.
//   - 2 <= liveHosts < wantN: n = liveHosts and the parity share of n stays
//     what was asked: p = max(1, round(n * (wantN-wantK) / wantN)), with
//     halves rounded up, then k = max(1, n-p). The stripe survives
//     n-k >= 1 host losses, and its expansion n/k stays at most twice the
//     asked wantN/wantK.
//   - liveHosts == 1: (1, 1) with ErrNoRedundancy: one copy, no host loss
//     survived. The parameters are valid; the error is a warning.
//   - liveHosts == 0: ErrNoHosts.
//
// For example, asked 12 of 20: 20 or more live hosts give 12/20, 10 give
// 6/10, 3 give 2/3 and 2 give 1/2. Inputs outside 1 <= wantK <= wantN <= 256
// or a negative liveHosts give an error wrapping ErrPlacement.
func ChooseParams(liveHosts, wantK, wantN int) (k, n int, err error) {
	const maxN = MaxIndex + 1
	if wantK < 1 || wantK > wantN || wantN > maxN {
		return 0, 0, fmt.Errorf("%w: want k=%d n=%d, need 1 <= k <= n <= %d", ErrPlacement, wantK, wantN, maxN)
	}
	switch {
	case liveHosts < 0:
		return 0, 0, fmt.Errorf("%w: %d live hosts", ErrPlacement, liveHosts)
	case liveHosts == 0:
		return 0, 0, ErrNoHosts
	case liveHosts >= wantN:
		return wantK, wantN, nil
	case liveHosts == 1:
		return 1, 1, ErrNoRedundancy
	}
	n = liveHosts
	// round(n*(wantN-wantK)/wantN), halves up, in integers.
	p := max(1, (2*n*(wantN-wantK)+wantN)/(2*wantN))
	k = max(1, n-p)
	return k, n, nil
}
