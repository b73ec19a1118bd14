package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNeverOwnPeer gives a node its own URL in --peers, as written and under
// another name (localhost for 127.0.0.1): it never lists itself, not after
// the first polls and not after a restart.
func TestNeverOwnPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	m := &testMesh{t: t}
	mn := &meshNode{addr: ln.Addr().String(), url: "http://" + ln.Addr().String()}
	mn.opts = nodeOptions{
		dataDir: t.TempDir(), name: "narcissus", storeConcurrency: 4, maxShardBytes: 16 << 20, window: 8,
		peerPoll: 100 * time.Millisecond,
		peers:    []string{"http://localhost:" + port, mn.url + "/"},
	}
	m.nodes = append(m.nodes, mn)
	m.launch(mn, ln)
	t.Cleanup(func() {
		if mn.stop != nil {
			mn.stop()
		}
	})
	// peers returns the endpoints node 0 lists and the IDs it lists them with.
	peers := func() []string {
		t.Helper()
		resp, err := http.Get(mn.url + "/peers")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pl struct {
			Peers []struct{ Endpoint, NodeID string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&pl); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pl.Peers {
			out = append(out, p.Endpoint+" "+p.NodeID)
		}
		return out
	}
	// Before its first poll the node cannot know that localhost is itself;
	// after it, the entry must be gone for good.
	deadline := time.Now().Add(10 * time.Second)
	for len(peers()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the node lists %v, want no peers: they are all itself", peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 { // a few more polls
		if ps := peers(); len(ps) != 0 {
			t.Fatalf("the node lists %v after its polls, want no peers", ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.kill(0)
	m.restart(0)
	if ps := peers(); len(ps) != 0 {
		t.Errorf("after a restart the node lists %v, want no peers", strings.Join(ps, ", "))
	}
}
