package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/udp"
)

type peerEntry struct {
	Endpoint string `json:"endpoint"`
	NodeID   string `json:"node_id"`
	Name     string `json:"name"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// peerTable returns node i's peers by endpoint (ID and name).
func (m *testMesh) peerTable(t *testing.T, i int) map[string]peerEntry {
	var pl struct{ Peers []peerEntry }
	getJSON(t, m.nodes[i].url+"/peers", &pl)
	out := map[string]peerEntry{}
	for _, p := range pl.Peers {
		out[p.Endpoint] = p
	}
	return out
}

// TestForgedBeaconFlood: beacons from hundreds of fresh keys on the
// multicast group leave the peer table as it was; the strangers land in
// the pending list, which stays bounded, and a forged beacon claiming a
// member's endpoint changes nothing.
func TestForgedBeaconFlood(t *testing.T) {
	const strangers = 300
	group := fmt.Sprintf("239.23.0.7:%d", 40000+mrand.IntN(20000))
	m := startMesh(t, 2, func(i int, o *nodeOptions) {
		o.peers = nil
		o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
			beaconInterval: 300 * time.Millisecond, gossip: "off"}
	})
	m.waitViews(15*time.Second, "the other node up", func(i int, states map[string]string) bool {
		return states[m.nodes[1-i].url] == "up"
	})
	before := m.peerTable(t, 0)

	link, err := udp.New(udp.Config{Group: group, Interface: "lo", Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	send := func(k *identity.Keys, endpoint, name string) {
		frame, err := radio.EncodeFrame(k, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: 1,
			Endpoint: endpoint, Name: name, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := link.Send(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
	}
	// A stranger claims node 1's endpoint and name, again and again.
	impostor, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range strangers {
		k, err := identity.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		send(k, fmt.Sprintf("http://127.0.0.1:%d", 20000+i), fmt.Sprintf("ghost-%d", i))
		if i%50 == 0 {
			frame, err := radio.EncodeFrame(impostor, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: uint32(i + 1),
				Endpoint: m.nodes[1].url, Name: "node-1", Active: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := link.Send(t.Context(), frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	var pending struct{ Pending []peerEntry }
	deadline := time.Now().Add(15 * time.Second)
	for {
		getJSON(t, m.nodes[0].url+"/cluster/pending", &pending)
		if len(pending.Pending) >= 64 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(pending.Pending) != 64 {
		t.Errorf("pending list has %d entries after %d strangers, want the bound, 64", len(pending.Pending), strangers)
	}
	// Let the node hear node 1's own beacons again, then compare.
	time.Sleep(time.Second)
	if diff := cmp.Diff(before, m.peerTable(t, 0)); diff != "" {
		t.Errorf("the flood changed the peer table (-before +after):\n%s", diff)
	}
	if got := m.peerTable(t, 0)[m.nodes[1].url].NodeID; got == string(impostor.ID()) {
		t.Errorf("node 1's endpoint now belongs to the impostor")
	}
}
