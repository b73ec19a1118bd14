package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestPeerPageGossipRTT runs two real nodes that know each other only by
// beacons and gossip (no static peers, so nothing polls): each one's page
// for the other shows the round trip of memberlist's probes.
func TestPeerPageGossipRTT(t *testing.T) {
	group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
	m := startMesh(t, 2, func(_ int, o *nodeOptions) {
		o.peers = nil
		o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
			beaconInterval: 300 * time.Millisecond, gossip: "127.0.0.1:0"}
	})
	m.waitViews(10*time.Second*raceSlowdown, "the other node up", func(i int, states map[string]string) bool {
		return states[m.nodes[1-i].url] == "up"
	})

	c := m.dashboard(t, 0)
	page := m.nodes[0].url + "/network/peers/" + url.PathEscape(m.nodes[1].url)
	rtt := regexp.MustCompile(`data-testid="peer-rtt" data-rtt-us="(\d+)" data-rtt-via="(\w*)"`)
	deadline := time.Now().Add(15 * time.Second * raceSlowdown)
	for {
		resp, err := c.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d, %v", page, resp.StatusCode, err)
		}
		match := rtt.FindSubmatch(body)
		if match == nil {
			t.Fatalf("the peer page has no round trip:\n%s", body)
		}
		us, _ := strconv.Atoi(string(match[1]))
		if us > 0 {
			if via := string(match[2]); via != "gossip" {
				t.Errorf("round trip measured by %q, want gossip (no static peers to poll)", via)
			}
			if us > 5_000_000 {
				t.Errorf("round trip %d µs on loopback, want under the probe timeout", us)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gossip round trip on %s after 15 s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
