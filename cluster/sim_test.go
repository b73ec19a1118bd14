package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
)

// TestSimulation drives the real code with random steps by admins and
// strangers (legitimate changes, forged, replayed, older, under-threshold,
// other-cluster and tampered documents) over many seeds, installing what
// CheckSuccessor and Parse accept as a node would. The invariant: the
// installed membership changes only when at least threshold of the then
// current admins signed the new version; and every legitimate change is
// accepted.
func TestSimulation(t *testing.T) {
	seeds, steps := 24, 60
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulate(t, seed, steps) })
	}
}

func simulate(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	keyRand := seeded(1000 + seed)
	pool := keys(t, keyRand, 8) // everyone who ever holds a key
	byID := map[identity.NodeID]*identity.Keys{}
	for _, k := range pool {
		byID[k.ID()] = k
	}
	id, err := NewID(keyRand)
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := New(id, ids(pool[0], pool[1], pool[2]), 2, []Member{{ID: pool[3].ID(), Name: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	current := signAll(t, genesis, pool[0], pool[1])
	history := []Document{current}
	pick := func(from []*identity.Keys, n int) []*identity.Keys {
		c := slices.Clone(from)
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		return c[:min(n, len(c))]
	}
	adminKeys := func(d Document) []*identity.Keys {
		var out []*identity.Keys
		for _, a := range d.Admins {
			out = append(out, byID[a])
		}
		return out
	}
	outsiders := func(d Document) []*identity.Keys {
		var out []*identity.Keys
		for _, k := range pool {
			if !d.IsAdmin(k.ID()) {
				out = append(out, k)
			}
		}
		return out
	}
	installed, refused := 0, 0
	for step := range steps {
		// A random change of membership or admins.
		target := pool[rng.IntN(len(pool))]
		var next Document
		switch rng.IntN(3) {
		case 0:
			next, err = current.WithMember(target.ID(), fmt.Sprintf("n%d", step))
		case 1:
			next, err = current.WithRevoked(target.ID())
		default:
			next = current.next()
			if !next.IsAdmin(target.ID()) && !next.IsRevoked(target.ID()) && len(next.Admins) < MaxAdmins {
				next.Admins = append(next.Admins, target.ID())
			}
			next.Threshold = 1 + rng.IntN(len(next.Admins))
			next.normalize()
			_, err = next.Body()
		}
		if err != nil {
			continue // the change itself is not allowed (e.g. re-admitting a revoked node)
		}
		admins, others := adminKeys(current), outsiders(current)
		var (
			signers []*identity.Keys
			legit   bool
			kind    string
		)
		switch rng.IntN(7) {
		case 0, 1: // a threshold of the current admins, maybe with others
			signers = append(pick(admins, current.Threshold+rng.IntN(len(admins)-current.Threshold+1)), pick(others, rng.IntN(2))...)
			kind, legit = "threshold", true
		case 2: // short of the threshold, padded with outsiders
			signers = append(pick(admins, current.Threshold-1), pick(others, len(others))...)
			kind = "under-threshold"
		case 3: // outsiders only, who also name themselves admins
			signers = pick(others, 1+rng.IntN(max(1, len(others))))
			next.Admins, next.Threshold = ids(signers...), 1
			next.Revoked = slices.DeleteFunc(next.Revoked, func(r identity.NodeID) bool { return slices.Contains(next.Admins, r) })
			next.normalize()
			kind = "forged"
		case 4: // a replay of an older version
			next = history[rng.IntN(len(history))]
			signers, kind = nil, "replay"
		case 5: // a lower serial, properly signed
			next.Serial = current.Serial - uint64(rng.IntN(int(current.Serial)))
			signers, kind = admins, "older"
		default: // a valid change with one byte flipped in transit
			signers, kind = admins, "tampered"
		}
		if signers != nil {
			next.Signatures = nil
			if next, err = trySign(next, signers); err != nil {
				continue
			}
		}
		enc, err := next.Encode()
		if err != nil {
			continue
		}
		if kind == "tampered" {
			enc[rng.IntN(len(enc))] ^= 1 << rng.IntN(8)
		}
		// What a node does with bytes from the network.
		accepted := false
		if got, err := Parse(enc); err == nil && CheckSuccessor(current, got) == nil {
			accepted = true
			next = got
		}
		if legit && next.Verify() == nil && !accepted {
			t.Fatalf("step %d: a %s change signed by a threshold of the current admins was refused", step, kind)
		}
		if !accepted {
			refused++
			continue
		}
		installed++
		// The invariant, counted independently of CheckSuccessor.
		n := 0
		for _, s := range next.Signatures {
			if current.IsAdmin(s.Signer) {
				n++
			}
		}
		if n < current.Threshold || next.Serial <= current.Serial || next.ID != current.ID {
			t.Fatalf("step %d: a %s document was installed: %d current admins signed (threshold %d), serial %d after %d",
				step, kind, n, current.Threshold, next.Serial, current.Serial)
		}
		for _, r := range next.Revoked {
			if next.IsMember(r) {
				t.Fatalf("step %d: revoked %s is a member", step, r)
			}
		}
		current = next
		history = append(history, next)
	}
	if installed == 0 || refused == 0 {
		t.Fatalf("%d documents installed and %d refused: the simulation exercised nothing", installed, refused)
	}
}

func trySign(d Document, signers []*identity.Keys) (Document, error) {
	for _, k := range signers {
		var err error
		if d, err = d.Sign(k); err != nil {
			return Document{}, err
		}
	}
	return d, nil
}
