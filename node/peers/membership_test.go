package peers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

// newTestMembership is a started membership on a loopback port with only
// what memberlist's delegates and beacon building need (no peer table:
// its events are never applied, and the queue drops them when full).
func newTestMembership(t *testing.T, seed uint64) *membership {
	t.Helper()
	keys, err := identity.Generate(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{
		cfg:  Config{GossipAddr: "127.0.0.1:0", GossipProbeInterval: 50 * time.Millisecond},
		self: Self{Keys: keys, Name: fmt.Sprintf("n%d", seed), Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 20000+seed)},
		deps: Deps{Now: time.Now, Active: func(context.Context) bool { return true }},
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
	m := newTestMembership(t, 0)
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
			members[i] = newTestMembership(t, seed)
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
