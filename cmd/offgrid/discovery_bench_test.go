package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loTxBytes reads how many bytes the loopback interface has sent.
func loTxBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/sys/class/net/lo/statistics/tx_bytes")
	if err != nil {
		b.Skipf("no loopback counters: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkConvergence50 starts 50 nodes on loopback that know nothing of
// each other and measures how long until every node lists every other one
// as up (from the last node's start), then the bytes per second each node
// sends while idle (beacons and gossip, from the loopback counters).
func BenchmarkConvergence50(b *testing.B) {
	const (
		size     = 50
		interval = time.Second
	)
	for b.Loop() {
		group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
		m := startMesh(b, size, func(i int, o *nodeOptions) {
			o.peers = nil
			o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
				beaconInterval: interval, gossip: "127.0.0.1:0"}
		})
		started := time.Now()
		deadline := started.Add(60 * time.Second)
		for {
			all := true
			for i := range m.nodes {
				states, _ := m.peerStates(i)
				up := 0
				for _, st := range states {
					if st == "up" {
						up++
					}
				}
				if up != size-1 {
					all = false
					break
				}
			}
			if all {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("50 nodes did not converge within 60 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(started).Seconds(), "converge-s")
		b.ReportMetric(interval.Seconds(), "beacon-interval-s")
		before, t0 := loTxBytes(b), time.Now()
		time.Sleep(10 * time.Second)
		sent := loTxBytes(b) - before
		b.ReportMetric(float64(sent)/time.Since(t0).Seconds()/size, "idle-B/s/node")
		for _, mn := range m.nodes {
			mn.stop()
		}
	}
}
