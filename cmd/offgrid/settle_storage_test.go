package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
)

// TestStorageSettled: an owner pays the hosts of its file for keeping its
// shards, window by window, through `offgrid settle` and through
// auto-settle. Every host is paid exactly what its accepted storage
// receipts are worth, each window once, across repeated settles and a
// restart of the owner; a host that raises its price above the owner's
// most is not paid; a node outside the cluster cannot get a storage
// receipt signed.
func TestStorageSettled(t *testing.T) {
	const owner, greedy, alloc = 4, 3, 100 * fixed.Scale
	const window = 2 * time.Second
	m := startMesh(t, 5, func(i int, o *nodeOptions) {
		o.storageWindow = window
		if i == owner {
			o.maxStoragePrice = 1000 * fixed.Scale
		}
	})
	m.installEconomy(t, 4, alloc)
	for i := range owner {
		mustCLI(t, m.env(i), "prices", "set", "storage=1000")
	}
	ownerID := nodeID(t, m.nodes[owner].url)
	a := putFile(t, m.env(owner), randomFile(t, 8<<20), "--k", "2", "--n", "4")
	if a.State != "stored" {
		t.Fatalf("put = %+v", a)
	}
	// One host raises its price above what the owner pays, after the put.
	mustCLI(t, m.env(greedy), "prices", "set", "storage=1000.5")

	// Settle by hand over three windows that began after the put, twice
	// in a row, and once more after a restart of the owner: the restarted
	// owner asks again for a window it was billed for and gets the same
	// receipt, which it does not owe twice.
	settle := func() {
		t.Helper()
		mustCLI(t, m.env(owner), "settle")
		mustCLI(t, m.env(owner), "settle")
	}
	for range 3 {
		time.Sleep(window)
		settle()
	}
	m.kill(owner)
	m.restart(owner)
	m.waitPeers(owner, 4)
	settle()
	waitOwedPaid(t, m, owner)

	// Each host's accepted storage receipts, and what they pay it.
	paidTo := make(map[string]int64)
	for i := range owner {
		hostID := nodeID(t, m.nodes[i].url)
		var export struct {
			Items []struct {
				Receipt json.RawMessage `json:"receipt"`
			} `json:"items"`
		}
		getJSON(t, m.nodes[i].url+"/receipts/export", &export)
		windows := make(map[ledger.StorageWindow]bool)
		for _, it := range export.Items {
			r, err := ledger.DecodeReceipt(it.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			w, by, ok := ledger.StorageWindowOf(r.JobID)
			if r.ResourceType != ledger.ResourceStorage || !ok || string(by) != ownerID || string(r.ConsumerID) != ownerID {
				t.Fatalf("host %d signed %s receipt %q for %s", i, r.ResourceType, r.JobID, r.ConsumerID)
			}
			if i == greedy {
				if r.Acceptance != "" {
					t.Fatalf("the owner accepted a receipt at %s, above its most", fixed.Format(r.UnitPrice))
				}
				continue
			}
			if r.Acceptance == "" || r.VerifyAccepted() != nil {
				t.Fatalf("host %d: receipt for window %+v not accepted by the owner", i, w)
			}
			if windows[w] || w.Seconds != int64(window/time.Second) {
				t.Fatalf("host %d billed window %+v twice or of the wrong length", i, w)
			}
			windows[w] = true
			reward, err := r.Reward()
			if err != nil || reward <= 0 {
				t.Fatalf("host %d: receipt worth %d (%v)", i, reward, err)
			}
			host, _ := econ.SplitReward(reward, 100)
			paidTo[hostID] += host
		}
		if i == greedy {
			paidTo[hostID] = 0
			continue
		}
		if len(windows) < 2 {
			t.Fatalf("host %d billed %d windows over three settles, want at least 2", i, len(windows))
		}
		t.Logf("host %d: %d windows billed, %s credits to the host", i, len(windows), fixed.Format(paidTo[hostID]))
	}
	for hostID, paid := range paidTo {
		waitBalance(t, m, owner, hostID, alloc+paid)
		waitBalance(t, m, 0, hostID, alloc+paid)
	}

	// Auto-settle bills and pays the next windows with no command.
	m.kill(owner)
	m.nodes[owner].opts.settleInterval = 300 * time.Millisecond
	m.restart(owner)
	deadline := time.Now().Add(30 * time.Second)
	for hostID, paid := range paidTo {
		if paid == 0 {
			continue // the greedy host
		}
		for {
			got, err := fixed.Parse(m.balances(t, 0)[hostID])
			if err != nil {
				t.Fatal(err)
			}
			if got > alloc+paid {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("auto-settle paid host %s nothing more than %s", hostID, fixed.Format(paid))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// A node outside the cluster with a fresh key cannot be billed.
	keys, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"window_start":0,"window_seconds":2,"bytes":1}`)
	req, err := http.NewRequest("POST", m.nodes[0].url+"/receipts/storage", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := identity.NewRequestSigner(keys, 1).Sign(req, identity.BodyDigest(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a stranger's storage bill = %d, want 403", resp.StatusCode)
	}
}

// waitOwedPaid waits until node i owes nothing: its payments are final.
func waitOwedPaid(t *testing.T, m *testMesh, i int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var owed owedJSON
		getJSON(t, m.nodes[i].url+"/receipts/owed", &owed)
		if owed.Total == "0" && len(owed.Receipts) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d still owes %s in %d receipts", i, owed.Total, len(owed.Receipts))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
