package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// TestE2EHarness runs the browser test (e2e/dashboard.mjs) against the
// dashboard over a fake node, with a stand-in for the API's GET /announce.
// It needs node, web/node_modules (npm ci) and /usr/bin/chromium:
//
//	OFFGRID_E2E_HARNESS=1 go test -run TestE2EHarness -v ./web/
func TestE2EHarness(t *testing.T) {
	if os.Getenv("OFFGRID_E2E_HARNESS") != "1" {
		t.Skip("set OFFGRID_E2E_HARNESS=1 to run the browser test against a fake node")
	}
	fake := newFakeNode(time.Now)
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
			if i%2 == 0 {
				fake.addReceipt(fakeReceipt(seq, ledger.ResourceCompute, time.Now()))
				seq++
			} else {
				fake.bus.Publish(node.ShardStored{AssetID: "b3f1c0ffee0011223344", Index: i % 12, Size: 1 << 20, Hash: "00"})
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	cmd := exec.CommandContext(t.Context(), "node", "e2e/dashboard.mjs")
	cmd.Env = append(os.Environ(), "OFFGRID_URL="+srv.URL, "OFFGRID_TOKEN="+fakeToken)
	cmd.Stdout = t.Output()
	cmd.Stderr = t.Output()
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e/dashboard.mjs: %v", err)
	}
}
