package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
)

// TestAutoSettle: a receipt the consumer accepted but never recorded as
// owed (its acceptance reached the host only) is billed by the host's
// auto-settle round and paid by the consumer's, with no command: the host
// ends up paid once.
func TestAutoSettle(t *testing.T) {
	const host, consumer, alloc = 4, 5, 100 * fixed.Scale
	m := startEconomy(t, 6, 4, alloc)
	for _, i := range []int{host, consumer} {
		m.kill(i)
		m.nodes[i].opts.settleInterval = 300 * time.Millisecond
		m.restart(i)
	}
	for _, i := range []int{host, consumer} {
		m.waitPeers(i, 5)
	}
	hostID := nodeID(t, m.nodes[host].url)
	keys, _, err := identity.LoadOrCreate(m.nodes[consumer].opts.dataDir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's key signs outside its node (an epoch of its own,
	// above the node's), as another process of the consumer's would.
	signer := identity.NewRequestSigner(keys, uint64(time.Now().Unix()))
	post := func(path string, body []byte) []byte {
		t.Helper()
		req, err := http.NewRequest("POST", m.nodes[host].url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if err := signer.Sign(req, identity.BodyDigest(body)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s = %d %s", path, resp.StatusCode, out.Bytes())
		}
		return out.Bytes()
	}
	var run struct {
		Receipt ledger.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(post("/run", []byte(`{"job_id":"auto-1","metrics":{"compute_tokens_m":3}}`)), &run); err != nil {
		t.Fatal(err)
	}
	acc, err := ledger.Accept(keys, run.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(acc)
	post("/receipts/accept", b)

	for _, i := range []int{0, host, consumer} {
		waitBalance(t, m, i, hostID, alloc+2_970_000)
	}
	var owed owedJSON
	getJSON(t, m.nodes[consumer].url+"/receipts/owed", &owed)
	if owed.Total != "0" {
		t.Errorf("owed after auto-settle = %s, want 0", owed.Total)
	}
	// More rounds pay nothing more.
	time.Sleep(time.Second)
	waitBalance(t, m, 0, hostID, alloc+2_970_000)
}
