package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// nextEvent returns the next event on sub, failing after waitTimeout.
func nextEvent(t *testing.T, sub *node.Subscription) node.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case env, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return env.Event
	case <-timer.C:
		t.Fatalf("no event within %v", waitTimeout)
		return nil
	}
}

// TestAPIPublishesEvents checks that API calls reach subscribers of the
// node's event bus: toggles, signed receipts and stored shards.
func TestAPIPublishesEvents(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	sub := tn.Subscribe(16)
	defer sub.Close()

	steps := []struct {
		method, path string
		body         []byte
		status       int
		want         node.Event
	}{
		{"POST", "/toggle", []byte(`{"active":false}`), http.StatusOK, node.ToggleChanged{Active: false}},
		{"POST", "/toggle", []byte(`{"active":true}`), http.StatusOK, node.ToggleChanged{Active: true}},
		{"POST", "/run", []byte(`{"job_id":"evented","metrics":{"compute_tokens_m":0.5}}`), http.StatusOK,
			node.ReceiptSigned{Receipt: ledger.Receipt{JobID: "evented", ResourceType: "compute", Units: 500000, Seq: 1}}},
		{"PUT", "/shards/evented/3", []byte("event shard"), http.StatusCreated,
			node.ShardStored{AssetID: "evented", Index: 3, Size: int64(len("event shard")), Hash: hashOf([]byte("event shard"))}},
	}
	// Receipts are compared on the fields the request decides.
	onlyRequested := cmpopts.IgnoreFields(ledger.Receipt{}, "Version", "ClusterID", "Metrics", "Proofs", "CIDs",
		"IssuedAt", "NodeID", "VerifyKey", "Signature")
	for _, s := range steps {
		if r := call(t, tn, s.method, s.path, s.body, true); r.StatusCode != s.status {
			t.Fatalf("%s %s = %d, want %d: %s", s.method, s.path, r.StatusCode, s.status, r.body)
		}
		got := nextEvent(t, sub)
		if diff := cmp.Diff(s.want, got, onlyRequested, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("event after %s %s mismatch (-want +got):\n%s", s.method, s.path, diff)
		}
	}
}
