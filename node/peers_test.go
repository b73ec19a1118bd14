package node_test

import (
	"bytes"
	"io"
	"slices"
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

// TestPeerDetailRTTTrafficTimeline runs three real nodes on loopback. A
// polls B and C: each gets a measured round trip. A stores a file that
// needs all three nodes' shards and reads it back: the bytes A sent each
// peer are the bytes that peer holds for it, each peer counted them as
// received, and the read received shard bytes from both. When C stops, its
// timeline reads up, then down.
func TestPeerDetailRTTTrafficTimeline(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	b := servertest.Start(t, servertest.Options{Name: "bee", Cluster: c})
	cc := servertest.Start(t, servertest.Options{Name: "sea", Cluster: c})
	a := servertest.Start(t, servertest.Options{Name: "ay", Cluster: c, StaticPeers: []string{b.URL, cc.URL}, PeerPollInterval: 50 * time.Millisecond})
	ctx := t.Context()

	detail := func(n *servertest.Node) node.PeerDetail {
		t.Helper()
		d, err := a.PeerDetail(ctx, n.URL)
		if err != nil {
			t.Fatalf("A.PeerDetail(%s): %v", n.URL, err)
		}
		return d
	}
	waitUntil(t, "A sees B and C up with a polled round trip", func() bool {
		for _, n := range []*servertest.Node{b, cc} {
			if p := detail(n).Peer; p.State != node.PeerUp || p.RTT <= 0 || p.RTTVia != "poll" || p.RTTAt.IsZero() {
				return false
			}
		}
		return true
	})
	for _, n := range []*servertest.Node{b, cc} {
		if rtt := detail(n).Peer.RTT; rtt > 10*time.Second {
			t.Errorf("RTT to %s = %v, want less than the poll timeout on loopback", n.URL, rtt)
		}
	}

	data := make([]byte, 96<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	as, err := a.PutAsset(ctx, bytes.NewReader(data), node.PutOptions{Name: "three.bin", Size: int64(len(data)), Mode: "ec", K: 3, N: 3})
	if err != nil {
		t.Fatalf("PutAsset k=3 n=3 on three nodes: %v", err)
	}
	rc, _, err := a.OpenAsset(ctx, as.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
	for _, n := range []*servertest.Node{b, cc} {
		d := detail(n)
		if d.HeldForUsBytes == 0 || d.Traffic.Sent != d.HeldForUsBytes {
			t.Errorf("A sent %s %d bytes, it holds %d for A; want equal and more than 0", n.URL, d.Traffic.Sent, d.HeldForUsBytes)
		}
		if d.Traffic.Received == 0 || d.Traffic.Received > d.HeldForUsBytes {
			t.Errorf("A received %d bytes from %s for a read of a file it holds %d bytes of; want 1..%d",
				d.Traffic.Received, n.URL, d.HeldForUsBytes, d.HeldForUsBytes)
		}
		u, err := n.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if u.BytesIn != d.Traffic.Sent || u.BytesOut != d.Traffic.Received {
			t.Errorf("%s counts %d in and %d out, A counts %d sent and %d received; want them to match",
				n.URL, u.BytesIn, u.BytesOut, d.Traffic.Sent, d.Traffic.Received)
		}
	}

	cc.HTTP.Close()
	// A records a change in the timeline just after the peer's state, in
	// a transaction of its own.
	waitUntil(t, "A sees C down, in its state and its timeline", func() bool {
		d := detail(cc)
		return d.Peer.State == node.PeerDown && len(d.Timeline) > 0 && d.Timeline[len(d.Timeline)-1].State == node.PeerDown
	})
	var states []node.PeerState
	for _, sp := range detail(cc).Timeline {
		states = append(states, sp.State)
	}
	if want := []node.PeerState{node.PeerUnknown, node.PeerUp, node.PeerDown}; !slices.Equal(states, want) {
		t.Errorf("C's timeline on A = %v, want %v", states, want)
	}
	if tl := detail(b).Timeline; len(tl) != 2 || tl[1].State != node.PeerUp {
		t.Errorf("B's timeline on A = %+v, want unknown then up", tl)
	}
}

// waitUntil polls ok every 20 ms for up to 10 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
