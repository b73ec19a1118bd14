package node_test

import (
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestStaticPeerPolling runs two real nodes on loopback. A lists B as a
// static peer: A learns B's ID and name, and when B's server stops, A
// marks it down (keeping what it learned) and publishes PeerChanged.
func TestStaticPeerPolling(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	b := servertest.Start(t, servertest.Options{Name: "bee", Cluster: c})
	a := servertest.Start(t, servertest.Options{Name: "ay", Cluster: c, StaticPeers: []string{b.URL + "/"}, PeerPollInterval: 50 * time.Millisecond})

	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ps, err := a.Peers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 {
			t.Fatalf("A.Peers() = %+v, want one static peer", ps)
		}
		if p := ps[0]; p.State == node.PeerUp {
			if p.Endpoint != b.URL || p.ID != b.Info().ID || p.Name != "bee" || !p.Active || p.Via != "static" || p.LastSeen.IsZero() {
				t.Errorf("A.Peers() = %+v, want B (%s, %s) up and active via static", p, b.URL, b.Info().ID)
			}
			break
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("A did not see B up within 10s: %+v", ps)
		}
	}

	sub := a.Subscribe(16)
	defer sub.Close()
	b.HTTP.Close()
	for {
		select {
		case env, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription dropped")
			}
			pc, isPeer := env.Event.(node.PeerChanged)
			if !isPeer {
				continue
			}
			if p := pc.Peer; p.State != node.PeerDown || p.ID != b.Info().ID || p.Name != "bee" {
				t.Errorf("PeerChanged = %+v, want B down with its ID and name kept", p)
			}
			ps, err := a.Peers(t.Context())
			if err != nil || len(ps) != 1 || ps[0].State != node.PeerDown {
				t.Errorf("A.Peers() after B stopped = %+v, %v; want B down", ps, err)
			}
			return
		case <-deadline.C:
			t.Fatal("A did not publish B going down within 10s")
		}
	}
}
