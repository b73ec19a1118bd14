package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// TestE2EHarness runs the browser tests (e2e/*.mjs) against the dashboard
// over a fake node, with a stand-in for the API's GET /announce. The fake
// keeps uploaded files in memory and serves them back. For peers.mjs,
// OFFGRID_START_PEER_CMD curls the harness's POST /e2e/start-peer, after
// which the fake "discovers" a new peer at OFFGRID_START_PEER_URL (a
// PeerChanged, as beacons cause), then sleeps like a node process would
// until the script kills it. It needs node, curl, web/node_modules
// (npm ci) and /usr/bin/chromium:
//
//	OFFGRID_E2E_HARNESS=1 go test -run TestE2EHarness -v ./web/
//	OFFGRID_E2E_HARNESS=1 go test -run 'TestE2EHarness/storage' -v ./web/
//
// OFFGRID_E2E_NO_MESH=1 gives the fake no mesh daemon, for the mesh page's
// empty state.
func TestE2EHarness(t *testing.T) {
	if os.Getenv("OFFGRID_E2E_HARNESS") != "1" {
		t.Skip("set OFFGRID_E2E_HARNESS=1 to run the browser test against a fake node")
	}
	fake := newFakeNode(time.Now)
	seedAssets(fake)
	seedPeers(fake)
	if os.Getenv("OFFGRID_E2E_NO_MESH") == "1" {
		// The mesh page's empty state, as on a node without a routing
		// daemon or metrics file.
		fake.mesh = node.MeshMetrics{Source: "none", Proto: "none", ReadAt: time.Now()}
	}
	h, err := New(Config{
		Node:   fake,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Get("/announce", func(w http.ResponseWriter, r *http.Request) {
		a, _ := fake.Announce(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"node_id":  a.NodeID,
			"name":     a.Name,
			"endpoint": a.Endpoint,
			"active":   a.Active,
			"prices": map[string]string{
				"compute": fixed.Format(a.Prices.Compute),
				"storage": fixed.Format(a.Prices.Storage),
			},
			"min_oncall_percent": a.MinOncallPercent,
			"burst_percent_max":  a.BurstPercentMax,
		})
	})
	r.Mount("/", h.Routes())
	// As server does: CSRF protection around everything.
	csrf := http.NewCrossOriginProtection().Handler(r)
	// The start command's stand-in for starting a node: the new peer is
	// heard by its beacon a moment later.
	const startPeerURL = "http://127.0.0.1:7499"
	var startWG sync.WaitGroup
	defer startWG.Wait()
	top := http.NewServeMux()
	top.HandleFunc("POST /e2e/start-peer", func(w http.ResponseWriter, r *http.Request) {
		startWG.Go(func() {
			time.Sleep(800 * time.Millisecond)
			fake.setPeer(node.Peer{Endpoint: startPeerURL, ID: "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
				Name: "node-e2e", Via: "udp", State: node.PeerUp, Active: true, LastSeen: time.Now()})
		})
		w.WriteHeader(http.StatusAccepted)
	})
	top.Handle("/", csrf)
	srv := httptest.NewServer(top)
	defer srv.Close()

	// Some engine activity, so the feed and receipts have more than
	// toggles, a peer that comes and goes, and a mesh that changes.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		seq := uint64(3)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if i%5 == 4 {
				hill := seededHill
				hill.LastSeen = time.Now()
				if i%10 == 4 {
					hill.State, hill.LastSeen = node.PeerDown, time.Now().Add(-30*time.Second)
				}
				fake.setPeer(hill)
			}
			if i%8 == 6 && os.Getenv("OFFGRID_E2E_NO_MESH") != "1" {
				m, _ := fake.Mesh(ctx)
				m.ReadAt = time.Now()
				m.Neighbors = slices.Clone(m.Neighbors)
				m.Neighbors[1].Metric = float64(150 + (i*37)%100)
				fake.setMesh(m)
			}
			switch {
			case i%2 == 0:
				fake.addReceipt(fakeReceipt(seq, ledger.ResourceCompute, time.Now()))
				seq++
			case i%7 == 3:
				fake.bus.Publish(node.ShardCorrupt{AssetID: "2f8d6b1a90c4e7d35b2a1c08", Stripe: i % 245, Index: i % 20, Host: "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf"})
			default:
				fake.bus.Publish(node.ShardStored{AssetID: "b3f1c0ffee0011223344", Index: i % 12, Size: 1 << 20, Hash: "00"})
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	scripts, err := filepath.Glob("e2e/*.mjs")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in e2e/ (%v)", err)
	}
	for _, script := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(script), ".mjs"), func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), "node", script)
			cmd.Env = append(os.Environ(), "OFFGRID_URL="+srv.URL, "OFFGRID_TOKEN="+fakeToken,
				"OFFGRID_START_PEER_CMD=curl -fsS -X POST "+srv.URL+"/e2e/start-peer && exec sleep 300",
				"OFFGRID_START_PEER_URL="+startPeerURL)
			cmd.Stdout = t.Output()
			cmd.Stderr = t.Output()
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v", script, err)
			}
		})
	}
}

// seedAssets lists a few files in every state, so the storage page's
// screenshots show what each looks like.
func seedAssets(f *fakeNode) {
	now := time.Now()
	stripes := func(n int, vals ...int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = vals[i%len(vals)]
		}
		return out
	}
	data := []byte("Clinic opening hours, spring 2025.\n")
	for _, a := range []node.Asset{
		{ID: "7c1e9a04d2b8f3a6e5c70d19", Name: "old-backup.img", Size: 3 << 30, Mode: "ec", K: 12, N: 20, Stripes: 1024,
			State: node.AssetLost, StripeShards: stripes(1024, 20, 19, 9), Hosts: 11, CreatedAt: now.Add(-40 * 24 * time.Hour)},
		{ID: "2f8d6b1a90c4e7d35b2a1c08", Name: "survey photos — Ñuñoa 2025.zip", Size: 734 << 20, Mode: "ec", K: 12, N: 20, Stripes: 245,
			Adaptive: true, State: node.AssetDegraded, StripeShards: stripes(245, 20, 15), Hosts: 17, CreatedAt: now.Add(-26 * time.Hour)},
		{ID: "c0ffee5a7d3e1b9f2a6c4d80", Name: "clinic-hours.txt", Size: int64(len(data)), Mode: "rep", K: 1, N: 5, Stripes: 1,
			State: node.AssetStored, StripeShards: []int{5}, Hosts: 5, CreatedAt: now.Add(-3 * time.Hour)},
	} {
		var d []byte
		if a.State != node.AssetLost && a.Size == int64(len(data)) {
			d = data
		}
		f.addAsset(a, d)
	}
}

// seededHill is a LoRa peer the harness takes down and brings back.
var seededHill = node.Peer{Endpoint: "http://10.42.3.1:7420", ID: "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
	Name: "hill-relay", Via: "lora", State: node.PeerUp, Active: true}

// seedPeers lists peers heard over every transport, so the peers page's
// screenshots show each badge.
func seedPeers(f *fakeNode) {
	now := time.Now()
	hill := seededHill
	hill.LastSeen = now.Add(-4 * time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = append(f.peers,
		hill,
		node.Peer{Endpoint: "http://10.42.0.21:7420", ID: "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", Name: "market-stall",
			Via: "udp", State: node.PeerUp, LastSeen: now.Add(-2 * time.Second), Gossip: 7946},
		node.Peer{Endpoint: "http://10.42.0.33:7420", ID: "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ye8dv4pQaj2", Name: "bus-stop-tablet",
			Via: "ble", State: node.PeerUp, Active: true, LastSeen: now.Add(-9 * time.Second)},
		node.Peer{Endpoint: "http://10.42.0.34:7420", ID: "did:key:z6MkmM42vxfqZQsv4ehtTjFFxQ4sQKS2w6WR7emozFAn5cxu", Name: "farm-gateway",
			Via: "bt_lr", State: node.PeerDown, LastSeen: now.Add(-6 * time.Minute)},
		node.Peer{Endpoint: "http://10.42.5.2:7420", ID: "did:key:z6MkwFKMJZRg9tCc6ZFPqXqCZDFeyrRAoUJqGm5C2xwmwYmK", Name: "usb-courier",
			Via: "file", State: node.PeerUp, LastSeen: now.Add(-95 * time.Second)},
	)
	for i := range f.peers {
		if f.peers[i].Via == "static" {
			f.peers[i].Static = true
		}
	}
	slices.SortFunc(f.peers, func(a, b node.Peer) int { return strings.Compare(a.Endpoint, b.Endpoint) })
}
