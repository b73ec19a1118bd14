package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime/debug"
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

// ownGroup is a multicast group and port that no other node on this
// machine listens on: the port is one the kernel just found free (multicast
// sockets bind the wildcard address, so the port is what separates
// groups), the address a random one of the organization-local scope.
func ownGroup(b *testing.B) string {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		b.Fatalf("find a free UDP port: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("239.255.%d.%d:%d", rand.IntN(256), 1+rand.IntN(254), port)
}

// stopWithin stops every node of m, and panics with every goroutine's stack
// if they have not all stopped within d: a node that does not stop is
// stuck (a deadlock), and the benchmark's clean-up would wait forever.
func stopWithin(m *testMesh, d time.Duration) {
	done := make(chan struct{})
	go func() {
		for _, mn := range m.nodes {
			if mn.stop != nil {
				mn.stop()
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		debug.SetTraceback("all")
		panic(fmt.Sprintf("nodes did not stop within %s: a node is stuck (the goroutines follow)", d))
	}
}

// BenchmarkConvergence50 starts 50 nodes on loopback that know nothing of
// each other and measures how long until every node lists every other one
// as up (from the last node's start), then the bytes per second each node
// sends while idle (beacons and gossip, from the loopback counters, which
// count every sender on the machine: on a busy machine the idle figure is
// an upper bound). The nodes use their own multicast group (ownGroup), so
// no other node on the machine reaches them. Convergence has 60 s and
// stopping 30 s; past either the benchmark fails saying which.
func BenchmarkConvergence50(b *testing.B) {
	const (
		size     = 50
		interval = time.Second
	)
	for b.Loop() {
		group := ownGroup(b)
		m := startMesh(b, size, func(i int, o *nodeOptions) {
			o.peers = nil
			o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
				beaconInterval: interval, gossip: "127.0.0.1:0"}
		})
		started := time.Now()
		deadline := started.Add(60 * time.Second)
		for {
			all, behind := true, ""
			for i := range m.nodes {
				states, _ := m.peerStates(i)
				up := 0
				for _, st := range states {
					if st == "up" {
						up++
					}
				}
				if up != size-1 {
					all, behind = false, fmt.Sprintf("node %d sees %d of %d peers up", i, up, size-1)
					break
				}
			}
			if all {
				break
			}
			if time.Now().After(deadline) {
				stopWithin(m, 30*time.Second)
				b.Fatalf("50 nodes did not converge within 60 s on group %s: %s", group, behind)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(started).Seconds(), "converge-s")
		b.ReportMetric(interval.Seconds(), "beacon-interval-s")
		before, t0 := loTxBytes(b), time.Now()
		time.Sleep(10 * time.Second)
		sent := loTxBytes(b) - before
		b.ReportMetric(float64(sent)/time.Since(t0).Seconds()/size, "idle-B/s/node")
		stopWithin(m, 30*time.Second)
	}
}
