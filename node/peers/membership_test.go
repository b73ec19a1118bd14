package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/offgrid-net/offgrid/identity"
)

// newTestMembership is a started membership on a loopback port with only
// what memberlist's delegates and beacon building need (no peer table:
// its events are never applied, and the queue drops them when full). gate
// decides who is a member.
func newTestMembership(t *testing.T, seed uint64, gate Gate) *membership {
	t.Helper()
	keys, err := identity.Generate(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{
		cfg:  Config{GossipAddr: "127.0.0.1:0", GossipProbeInterval: 50 * time.Millisecond},
		self: Self{Keys: keys, Name: fmt.Sprintf("n%d", seed), Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 20000+seed)},
		deps: Deps{Now: time.Now, Active: func(context.Context) bool { return true }, Gate: gate},
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	s.members = newMembership(s)
	if err := s.members.start(); err != nil {
		t.Fatal(err)
	}
	return s.members
}

// TestMemberDeathWhileBeaconing reproduces the interleaving of issue 12:
// memberlist declares members dead (and alive) while it holds its node
// lock and calls NotifyLeave/NotifyJoin, which take membership.mu, while
// other goroutines build beacons, which read the gossip port. When
// building a beacon held mu while asking memberlist for the port, the two
// locks were taken in opposite orders and both sides hung. Each round
// joins members and has them leave (memberlist's deadNode) under a steady
// stream of beacons; a beacon builder that makes no progress for
// stallAfter is the deadlock.
func TestMemberDeathWhileBeaconing(t *testing.T) {
	const (
		rounds     = 10
		perRound   = 4
		builders   = 4
		stallAfter = 10 * time.Second
	)
	m := newTestMembership(t, 0, everyone{})
	d := &discovery{s: m.s}
	self := fmt.Sprintf("127.0.0.1:%d", m.port())

	ctx, cancel := context.WithCancel(context.Background())
	var built atomic.Int64
	var wg sync.WaitGroup
	for range builders {
		wg.Go(func() {
			for ctx.Err() == nil {
				d.beacon(ctx)
				built.Add(1)
			}
		})
	}
	// The events nobody applies are drained so queue keeps taking mu
	// instead of finding the channel full.
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.events:
			}
		}
	})
	stalled := make(chan struct{})
	wg.Go(func() {
		last, since := built.Load(), time.Now()
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			if n := built.Load(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > stallAfter {
				close(stalled)
				return
			}
		}
	})

	// fail reports a deadlock rather than its symptom (a join timing out
	// against a node whose memberlist is stuck) when beacons stalled too.
	const deadlock = "beacon building stalled for %s while members joined and died: lock-order deadlock between membership.mu and memberlist's node lock"
	fail := func(format string, args ...any) {
		t.Helper()
		select {
		case <-stalled:
			// The locks are held forever: no clean-up can finish.
			t.Fatalf(deadlock+" ("+format+")", append([]any{stallAfter}, args...)...)
		case <-time.After(stallAfter):
			t.Fatalf(format, args...)
		}
	}

	seed := uint64(1)
	for round := range rounds {
		members := make([]*membership, perRound)
		for i := range members {
			members[i] = newTestMembership(t, seed, everyone{})
			seed++
			if _, err := members[i].list.Join([]string{self}); err != nil {
				fail("round %d: join: %v", round, err)
			}
		}
		// The members leave at once, so the node's memberlist declares
		// several dead back to back. Leave has it run deadNode for each;
		// Shutdown then frees the member's port. A leave not broadcast in
		// time (a loaded machine) is found dead by probes instead.
		errs := make(chan error, len(members))
		var leaving sync.WaitGroup
		for _, p := range members {
			leaving.Go(func() {
				if err := p.list.Leave(2 * time.Second); err != nil {
					t.Logf("round %d: leave: %v", round, err)
				}
				errs <- p.list.Shutdown()
			})
		}
		leaving.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				fail("round %d: shutdown: %v", round, err)
			}
		}
		select {
		case <-stalled:
			t.Fatalf("round %d: "+deadlock, round, stallAfter)
		default:
		}
	}
	// Let the node's memberlist notice the last departures under beacons.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && m.list.NumMembers() > 1 {
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-stalled:
		t.Fatalf(deadlock, stallAfter)
	default:
	}
	if n := m.list.NumMembers(); n != 1 {
		t.Errorf("members after every other one left = %d, want 1 (this node)", n)
	}
	cancel()
	wg.Wait()
	if built.Load() == 0 {
		t.Fatal("no beacon was built")
	}
	if err := m.list.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// everyone is a Gate that admits every node.
type everyone struct{}

func (everyone) IsMember(identity.NodeID) bool                       { return true }
func (everyone) NotePending(identity.NodeID, string, string, string) {}

// listGate admits the listed nodes and records the pending ones.
type listGate struct {
	members map[identity.NodeID]bool
	mu      sync.Mutex
	pending []identity.NodeID
}

func (g *listGate) IsMember(id identity.NodeID) bool { return g.members[id] }
func (g *listGate) NotePending(id identity.NodeID, _, _, _ string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, id)
}

// forgedMeta is a memberlist delegate that announces fixed meta bytes.
type forgedMeta struct{ meta []byte }

func (f forgedMeta) NodeMeta(int) []byte           { return f.meta }
func (forgedMeta) NotifyMsg([]byte)                {}
func (forgedMeta) GetBroadcasts(int, int) [][]byte { return nil }
func (forgedMeta) LocalState(bool) []byte          { return nil }
func (forgedMeta) MergeRemoteState([]byte, bool)   {}

// TestGossipAdmitsOnlySignedMembers joins gossipers to a node's memberlist
// on loopback: a member with signed meta is admitted and reported up; an
// impostor using a member's node ID with meta it could not sign (its own
// endpoint), a member's ID with no signature, and a stranger with valid
// signed meta are all kept out of memberlist's state and out of the peer
// events, and the stranger is noted as pending.
func TestGossipAdmitsOnlySignedMembers(t *testing.T) {
	keyOf := func(seed byte) *identity.Keys {
		k, err := identity.Generate(rand.NewChaCha8([32]byte{seed, 7}))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	member, victim := keyOf(1), keyOf(2)
	gate := &listGate{members: map[identity.NodeID]bool{}}
	node := newTestMembership(t, 10, gate)
	defer node.list.Shutdown()
	self := fmt.Sprintf("127.0.0.1:%d", node.port())

	signed := func(k *identity.Keys, endpoint string) []byte {
		meta := memberMeta{Endpoint: endpoint, Name: "x", Active: true}
		meta.Sig = k.Sign(metaDomain, meta.message())
		b, err := json.Marshal(meta)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unsigned, err := json.Marshal(memberMeta{Endpoint: "http://127.0.0.1:9/evil", Name: "x", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	stranger := keyOf(3)
	gossipers := []struct {
		name      string
		id        identity.NodeID
		meta      []byte
		admitted  bool
		asPending bool
	}{
		{"member with signed meta", member.ID(), signed(member, "http://127.0.0.1:9/member"), true, false},
		{"impostor signing a member's meta with its own key", victim.ID(), signed(stranger, "http://127.0.0.1:9/evil"), false, false},
		{"member's ID with unsigned meta", victim.ID(), unsigned, false, false},
		{"stranger with signed meta", stranger.ID(), signed(stranger, "http://127.0.0.1:9/stranger"), false, true},
	}
	gate.members[member.ID()] = true
	gate.members[victim.ID()] = true

	for _, g := range gossipers {
		t.Run(g.name, func(t *testing.T) {
			c := memberlist.DefaultLANConfig()
			c.Name = string(g.id)
			c.BindAddr, c.BindPort, c.AdvertiseAddr = "127.0.0.1", 0, "127.0.0.1"
			c.Delegate = forgedMeta{g.meta}
			c.LogOutput = io.Discard
			list, err := memberlist.Create(c)
			if err != nil {
				t.Fatal(err)
			}
			defer list.Shutdown()
			// The node refuses an unwanted gossiper's state during the
			// push-pull, so its join may fail; what counts is the state.
			_, _ = list.Join([]string{self})
			deadline := time.Now().Add(3 * time.Second)
			in := func() bool {
				for _, n := range node.list.Members() {
					if n.Name == string(g.id) {
						return true
					}
				}
				return false
			}
			for !in() && time.Now().Before(deadline) && g.admitted {
				time.Sleep(20 * time.Millisecond)
			}
			if !g.admitted {
				// Give a wrongly admitted gossiper time to show up.
				time.Sleep(500 * time.Millisecond)
			}
			if got := in(); got != g.admitted {
				t.Fatalf("in the node's memberlist: %v, want %v", got, g.admitted)
			}
			var ups []Peer
			for done := false; !done; {
				select {
				case ev := <-node.events:
					if ev.rtt == 0 && ev.peer.State == StateUp {
						ups = append(ups, ev.peer)
					}
				default:
					done = true
				}
			}
			switch {
			case g.admitted && (len(ups) != 1 || ups[0].ID != g.id || ups[0].Endpoint != "http://127.0.0.1:9/member"):
				t.Errorf("up events = %+v, want the member at its signed endpoint", ups)
			case !g.admitted && len(ups) != 0:
				t.Errorf("up events = %+v, want none", ups)
			}
			gate.mu.Lock()
			pending := slices.Contains(gate.pending, g.id)
			gate.mu.Unlock()
			if pending != g.asPending {
				t.Errorf("noted as pending: %v, want %v", pending, g.asPending)
			}
			if err := list.Leave(time.Second); err != nil {
				t.Log(err)
			}
		})
	}
}
