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
// keeps uploaded files in memory and serves them back. It needs node,
// web/node_modules (npm ci) and /usr/bin/chromium:
//
//	OFFGRID_E2E_HARNESS=1 go test -run TestE2EHarness -v ./web/
//	OFFGRID_E2E_HARNESS=1 go test -run 'TestE2EHarness/storage' -v ./web/
func TestE2EHarness(t *testing.T) {
	if os.Getenv("OFFGRID_E2E_HARNESS") != "1" {
		t.Skip("set OFFGRID_E2E_HARNESS=1 to run the browser test against a fake node")
	}
	fake := newFakeNode(time.Now)
	seedAssets(fake)
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
	srv := httptest.NewServer(http.NewCrossOriginProtection().Handler(r))
	defer srv.Close()

	// Some engine activity, so the feed and receipts have more than toggles.
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
			cmd.Env = append(os.Environ(), "OFFGRID_URL="+srv.URL, "OFFGRID_TOKEN="+fakeToken)
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
