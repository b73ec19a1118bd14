package main

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
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
	m := startStorageMesh(t, owner, 4, window, alloc)
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

// startStorageMesh starts owner+1 nodes that bill storage every window,
// with an economy (nodes 0..witnesses-1 witness, each node starts with
// alloc micro-credits). Nodes 0..owner-1 are hosts asking 1000 credits a
// gigabyte-hour; the owner, the last node, pays up to that.
func startStorageMesh(t *testing.T, owner, witnesses int, window time.Duration, alloc int64) *testMesh {
	t.Helper()
	m := startMesh(t, owner+1, func(i int, o *nodeOptions) {
		o.storageWindow = window
		if i == owner {
			o.maxStoragePrice = 1000 * fixed.Scale
		}
	})
	m.installEconomy(t, witnesses, alloc)
	for i := range owner {
		mustCLI(t, m.env(i), "prices", "set", "storage=1000")
	}
	return m
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

// TestMissedStorageWindowsAreBilled: the storage windows that end while
// the owner or a host is down are billed when both are up again, each
// once, oldest first. Every host's receipts for the owner's shards cover
// consecutive windows, from the first that began after the shards arrived
// to the last that ended before the final settle, all accepted and paid.
func TestMissedStorageWindowsAreBilled(t *testing.T) {
	const owner, late, alloc = 3, 2, 100 * fixed.Scale
	const window = time.Second // the shortest: each host's 4 MiB is one unit a window
	m := startStorageMesh(t, owner, 2, window, alloc)
	ownerID := nodeID(t, m.nodes[owner].url)
	if a := putFile(t, m.env(owner), randomFile(t, 8<<20), "--k", "2", "--n", "4"); a.State != "stored" {
		t.Fatalf("put = %+v", a)
	}
	stored := time.Now()

	// The owner is down for three windows, one host for those and two
	// more: the owner's first settle bills the others, its second the
	// late host too.
	m.kill(owner)
	m.kill(late)
	time.Sleep(3 * window)
	m.restart(owner)
	m.waitPeers(owner, 2)
	mustCLI(t, m.env(owner), "settle")
	time.Sleep(2 * window)
	m.restart(late)
	m.waitPeers(owner, 3)
	last := ledger.LastWindow(time.Now(), window)
	mustCLI(t, m.env(owner), "settle")
	waitOwedPaid(t, m, owner)

	for i := range owner {
		var export struct {
			Items []struct {
				Receipt json.RawMessage `json:"receipt"`
			} `json:"items"`
		}
		getJSON(t, m.nodes[i].url+"/receipts/export", &export)
		var windows []ledger.StorageWindow
		for _, it := range export.Items {
			r, err := ledger.DecodeReceipt(it.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			w, by, ok := ledger.StorageWindowOf(r.JobID)
			if !ok || string(by) != ownerID {
				continue
			}
			if r.Acceptance == "" || r.VerifyAccepted() != nil {
				t.Fatalf("host %d: receipt for window %s not accepted by the owner", i, w)
			}
			windows = append(windows, w)
		}
		slices.SortFunc(windows, func(a, b ledger.StorageWindow) int { return cmp.Compare(a.Start, b.Start) })
		if len(windows) < 4 {
			t.Fatalf("host %d billed %d windows (%v), want the 4 or more that ended since the put", i, len(windows), windows)
		}
		for j := 1; j < len(windows); j++ {
			if windows[j].Start != windows[j-1].End().Unix() {
				t.Fatalf("host %d billed %s then %s: a window missed or billed twice", i, windows[j-1], windows[j])
			}
		}
		if first := windows[0]; first.StartTime().After(stored.Add(window)) {
			t.Errorf("host %d billed from %s, want from the first window after its shards arrived (before %s)", i, first, stored.Add(window).UTC())
		}
		if got := windows[len(windows)-1]; got.Start < last.Start {
			t.Errorf("host %d billed until %s, want at least until %s", i, got, last)
		}
		t.Logf("host %d: %d consecutive windows billed, %s to %s", i, len(windows), windows[0], windows[len(windows)-1])
	}
}
