package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/fixed"
)

type owedJSON struct {
	Total    string `json:"total"`
	Receipts []struct {
		Pending bool   `json:"pending"`
		Reward  string `json:"reward"`
	} `json:"receipts"`
}

type settleJSON struct {
	Receipts int    `json:"receipts"`
	Amount   string `json:"amount"`
	Fees     string `json:"fees"`
	Txs      []struct {
		TxID  string `json:"tx_id"`
		State string `json:"state"`
		Dst   string `json:"dst"`
	} `json:"txs"`
}

// waitBalance waits until account's balance on node i is want.
func waitBalance(t *testing.T, m *testMesh, i int, account string, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := m.balances(t, i)[account]
		if got == fixed.Format(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: balance of %s = %q, want %s", i, account, got, fixed.Format(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSettleEndToEnd: a consumer runs jobs on a host (signed requests),
// accepts their version 0.2 receipts and owes their price; offgrid settle
// pays them in batched certified payments, once: a second settle pays
// nothing, the host gets the rewards less host_reserve, system the
// reserve and the fees. A consumer that cannot pay gets a clear error and
// its receipts stay owed.
func TestSettleEndToEnd(t *testing.T) {
	const consumer, host, poor = 4, 5, 6
	const alloc = 100 * fixed.Scale
	m := startEconomy(t, 7, 4, alloc)
	hostID, consumerID := nodeID(t, m.nodes[host].url), nodeID(t, m.nodes[consumer].url)

	for j := range 5 {
		st, body := call(t, m.nodes[consumer], "POST", "/run", map[string]any{
			"job_id": fmt.Sprintf("e2e-%d", j), "metrics": map[string]float64{"compute_tokens_m": 2}, "host": m.nodes[host].url})
		if st != http.StatusOK {
			t.Fatalf("run on the host: %d %s", st, body)
		}
		var res struct {
			Receipt struct {
				Version    string `json:"version"`
				ConsumerID string `json:"consumer_id"`
				ClusterID  string `json:"cluster_id"`
				Acceptance string `json:"acceptance"`
			} `json:"receipt"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if r := res.Receipt; r.Version != "0.2" || r.ConsumerID != consumerID || r.Acceptance == "" || len(r.ClusterID) != 32 {
			t.Fatalf("receipt = %+v; want version 0.2 naming the consumer, accepted, labelled with the cluster document's ID", r)
		}
	}
	// The host holds the acceptances: its export shows them.
	var export struct {
		Items []struct {
			Receipt struct {
				Acceptance string `json:"acceptance"`
			} `json:"receipt"`
		} `json:"items"`
	}
	getJSON(t, m.nodes[host].url+"/receipts/export", &export)
	if len(export.Items) != 5 || export.Items[0].Receipt.Acceptance == "" {
		t.Fatalf("host exports %d receipts (first acceptance %q), want 5 accepted", len(export.Items), export.Items[0].Receipt.Acceptance)
	}

	var owed owedJSON
	getJSON(t, m.nodes[consumer].url+"/receipts/owed", &owed)
	// The default compute price is 1 credit per unit; 2 units each.
	if owed.Total != "10" || len(owed.Receipts) != 5 {
		t.Fatalf("owed = %s in %d receipts, want 10 in 5", owed.Total, len(owed.Receipts))
	}

	env := m.env(consumer)
	out := mustCLI(t, env, "settle")
	if !strings.Contains(out, "paying 5 receipts: 10 credits plus 0.004 in fees") || strings.Count(out, "final") != 2 {
		t.Fatalf("offgrid settle printed:\n%s\nwant 5 receipts paid by 2 final transactions", out)
	}
	out = mustCLI(t, env, "settle", "--json")
	var again settleJSON
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	if again.Receipts != 0 || len(again.Txs) != 0 {
		t.Fatalf("second offgrid settle = %+v, want nothing paid and nothing pending", again)
	}
	getJSON(t, m.nodes[consumer].url+"/receipts/owed", &owed)
	if owed.Total != "0" || len(owed.Receipts) != 0 {
		t.Errorf("owed after settlement = %s in %d receipts, want nothing", owed.Total, len(owed.Receipts))
	}
	for _, i := range []int{consumer, host, 0} {
		waitBalance(t, m, i, hostID, alloc+9_900_000)
		waitBalance(t, m, i, "system", 100_000+2*2000)
		waitBalance(t, m, i, consumerID, alloc-10*fixed.Scale-2*2000)
	}

	// A consumer with 100 credits owes 1000.
	st, body := call(t, m.nodes[poor], "POST", "/run", map[string]any{
		"job_id": "poor-1", "metrics": map[string]float64{"compute_tokens_m": 1000}, "host": m.nodes[host].url})
	if st != http.StatusOK {
		t.Fatalf("run on the host: %d %s", st, body)
	}
	out, err := cli(t, m.env(poor), "settle")
	if err == nil || !strings.Contains(out+err.Error(), "cannot pay") {
		t.Fatalf("offgrid settle by a poor consumer = %v\n%s\nwant a 'cannot pay' error", err, out)
	}
	getJSON(t, m.nodes[poor].url+"/receipts/owed", &owed)
	if owed.Total != "1000" || len(owed.Receipts) != 1 || owed.Receipts[0].Pending {
		t.Errorf("poor consumer's owed = %+v, want 1000 credits in 1 unpaid receipt", owed)
	}
}
