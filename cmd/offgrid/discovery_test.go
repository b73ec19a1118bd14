package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// peerStates returns node i's view: endpoint -> state, and the via of each.
func (m *testMesh) peerStates(i int) (map[string]string, map[string]string) {
	states, vias := map[string]string{}, map[string]string{}
	resp, err := http.Get(m.nodes[i].url + "/peers")
	if err != nil {
		return states, vias
	}
	defer resp.Body.Close()
	var pl struct {
		Peers []struct{ Endpoint, State, Via string }
	}
	if json.NewDecoder(resp.Body).Decode(&pl) != nil {
		return states, vias
	}
	for _, p := range pl.Peers {
		states[p.Endpoint], vias[p.Endpoint] = p.State, p.Via
	}
	return states, vias
}

// waitViews waits until every running node's view satisfies ok, or fails
// after limit.
func (m *testMesh) waitViews(limit time.Duration, what string, ok func(i int, states map[string]string) bool) {
	m.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		bad := -1
		for i, mn := range m.nodes {
			if mn.stop == nil {
				continue
			}
			if states, _ := m.peerStates(i); !ok(i, states) {
				bad = i
				break
			}
		}
		if bad < 0 {
			return
		}
		if time.Now().After(deadline) {
			states, vias := m.peerStates(bad)
			m.t.Fatalf("after %v node %d does not see %s: states %v, vias %v", limit, bad, what, states, vias)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDiscoveryByMulticastAlone(t *testing.T) {
	const size = 20
	// Under the race detector (and the rest of the suite on 2 cores) a
	// beacon can be late by a second; slower beacons keep peers from
	// flapping down.
	interval := time.Second * time.Duration(max(1, raceSlowdown/2))
	group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
	m := startMesh(t, size, func(i int, o *nodeOptions) {
		o.peers = nil        // no static peers: multicast beacons only
		o.crashOnStop = true // stopped nodes vanish without saying goodbye
		o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
			beaconInterval: interval, gossip: "127.0.0.1:0"}
	})
	started := time.Now()
	up := func(i int, states map[string]string) bool {
		n := 0
		for j, mn := range m.nodes {
			if j != i && mn.stop != nil && states[mn.url] == "up" {
				n++
			}
		}
		return n == m.running()-1
	}
	// Three beacon intervals, stretched under the race detector, which
	// slows 20 nodes in one process several times.
	m.waitViews(3*interval*raceSlowdown, "every other node up", up)
	t.Logf("%d nodes found each other by multicast in %v", size, time.Since(started).Round(time.Millisecond))
	if _, vias := m.peerStates(0); vias[m.nodes[1].url] != "udp" {
		t.Errorf("node 0 lists node 1 via %q, want udp", vias[m.nodes[1].url])
	}

	killed := []int{3, 7, 11, 15, 19}
	for _, i := range killed {
		m.kill(i)
	}
	stopped := time.Now()
	down := func(i int, states map[string]string) bool {
		for _, k := range killed {
			if states[m.nodes[k].url] != "down" {
				return false
			}
		}
		return true
	}
	// Beacons stop at once; memberlist's suspicion time for 20 nodes at a
	// 1 s probe interval is about 5 s. One node alone is seen down in about
	// 3.5 s (3 silent intervals); five at once under a loaded test process
	// took up to 9.4 s here, so the bound leaves room.
	m.waitViews(15*time.Second*raceSlowdown, "the 5 stopped nodes down", down)
	t.Logf("5 stopped nodes marked down in %v", time.Since(stopped).Round(time.Millisecond))
	m.waitViews(3*interval*raceSlowdown, "the other nodes still up", up)

	for _, i := range killed {
		m.restart(i)
	}
	// A restart opens the database and rejoins before its first beacon;
	// with five at once on a loaded 2-core machine that took over 30 s
	// under the race detector, so the bound is the one for going down.
	m.waitViews(15*time.Second*raceSlowdown, "the restarted nodes up again", up)
}

// running counts the nodes not stopped.
func (m *testMesh) running() int {
	n := 0
	for _, mn := range m.nodes {
		if mn.stop != nil {
			n++
		}
	}
	return n
}

func TestDiscoveryWithNoiseSessions(t *testing.T) {
	group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
	m := startMesh(t, 4, func(i int, o *nodeOptions) {
		o.peers = nil
		// Nodes 0-2 encrypt their frames; node 3 speaks plain frames on
		// the same group and must be refused, and must not understand them.
		o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
			beaconInterval: 300 * time.Millisecond, gossip: "off", noise: i < 3}
	})
	secure := func(i int, states map[string]string) bool {
		if i == 3 {
			return len(states) == 0
		}
		for j := range 3 {
			if j != i && states[m.nodes[j].url] != "up" {
				return false
			}
		}
		return states[m.nodes[3].url] == ""
	}
	// A node that already has a session broadcasts its handshake again
	// only every Rehandshake (30 s; radio/noise): two nodes whose first
	// exchange was lost while a third paired with both pair then.
	m.waitViews(45*time.Second, "the encrypted nodes (and only they) up", secure)
	// Keep listening a little: the plain node still hears nothing it accepts.
	time.Sleep(time.Second)
	if states, _ := m.peerStates(3); len(states) != 0 {
		t.Errorf("the plain node lists %v, want no peers: it has no session", states)
	}
	if states, _ := m.peerStates(0); states[m.nodes[3].url] != "" {
		t.Errorf("an encrypted node lists the plain node: %v", states)
	}
}

// TestDiscoveryOnOneHostByDefault: two nodes on one machine with the node
// command's default discovery flags hear each other's beacons (multicast
// loopback is on by default). Only the group (a random one, so parallel
// tests do not meet), the interface (lo: a test machine may have no
// multicast route) and a short beacon interval are set.
func TestDiscoveryOnOneHostByDefault(t *testing.T) {
	var defaults nodeOptions
	cmd := &cobra.Command{Use: "node"}
	defaults.flags(cmd)
	group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
	if err := cmd.Flags().Parse([]string{"--multicast-group", group, "--multicast-iface", "lo", "--beacon-interval", "200ms", "--gossip", "off"}); err != nil {
		t.Fatal(err)
	}
	if !defaults.radio.loopback || len(defaults.radio.radios) != 1 || defaults.radio.radios[0] != "udp" {
		t.Fatalf("default discovery flags = %+v, want udp with multicast loopback on", defaults.radio)
	}
	m := startMesh(t, 2, func(_ int, o *nodeOptions) {
		o.peers = nil // beacons alone
		o.radio = defaults.radio
	})
	m.waitViews(10*time.Second, "the other node up by beacons", func(i int, states map[string]string) bool {
		return states[m.nodes[1-i].url] == "up"
	})
}
