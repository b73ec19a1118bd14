package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
)

// startSettleMesh starts size nodes whose cluster has an economy: nodes
// 0..witnesses-1 witness with weight 1, node i starts with alloc[i]
// micro-credits, fees are 0.001 to 0.003 credits and host_reserve 1 %.
// Auto-settle is off (nodeOptions' zero interval): the tests settle by hand.
func startSettleMesh(t *testing.T, size, witnesses int, alloc map[int]int64) *testMesh {
	t.Helper()
	m := startMesh(t, size, nil)
	doc, err := cluster.Parse(m.nodes[0].opts.clusterDoc)
	if err != nil {
		t.Fatal(err)
	}
	var keys []*identity.Keys
	var e cluster.Economy
	for i, mn := range m.nodes {
		k, _, err := identity.LoadOrCreate(mn.opts.dataDir, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if i < witnesses {
			e.Witnesses = append(e.Witnesses, cluster.Witness{ID: k.ID(), Weight: 1})
		}
		if a := alloc[i]; a > 0 {
			e.Genesis = append(e.Genesis, cluster.Alloc{ID: k.ID(), Amount: a})
		}
	}
	e.TxFeeMin, e.TxFeeMax, e.HostReserveBP = 1000, 3000, 100
	d, err := doc.WithEconomy(e)
	if err != nil {
		t.Fatal(err)
	}
	// The admin (node 0) and every genesis witness sign.
	for _, k := range keys[:max(witnesses, 1)] {
		if d, err = d.Sign(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i, mn := range m.nodes {
		mn.opts.clusterDoc = b
		st, body := adminCall(t, mn, "POST", "/cluster/join", map[string]string{"document": base64.StdEncoding.EncodeToString(b)})
		if st != http.StatusOK {
			t.Fatalf("node %d: join the economy's document: %d %s", i, st, body)
		}
	}
	for i := range m.nodes {
		m.waitPeers(i, size-1)
	}
	return m
}

// adminCall sends a JSON request with node mn's admin token and returns
// the status and body.
func adminCall(t testing.TB, mn *meshNode, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, mn.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+mn.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

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
		State string `json:"state"`
		Dst   string `json:"dst"`
	} `json:"txs"`
}

// accountBalance returns account's balance on node i (0 when absent).
func accountBalance(t *testing.T, m *testMesh, i int, account string) int64 {
	t.Helper()
	var b struct {
		Accounts []struct {
			Account string `json:"account"`
			Balance string `json:"balance"`
		} `json:"accounts"`
	}
	getJSON(t, m.nodes[i].url+"/balances", &b)
	for _, a := range b.Accounts {
		if a.Account == account {
			v, err := fixed.Parse(a.Balance)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}

// waitBalance waits until account's balance on node i is want.
func waitBalance(t *testing.T, m *testMesh, i int, account string, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := accountBalance(t, m, i, account)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: balance of %s = %s, want %s", i, account, fixed.Format(got), fixed.Format(want))
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
	m := startSettleMesh(t, 7, 4, map[int]int64{consumer: 100 * fixed.Scale, poor: fixed.Scale / 10})
	hostID, consumerID := nodeID(t, m.nodes[host].url), nodeID(t, m.nodes[consumer].url)

	for j := range 5 {
		st, body := adminCall(t, m.nodes[consumer], "POST", "/run", map[string]any{
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
		waitBalance(t, m, i, hostID, 9_900_000)
		waitBalance(t, m, i, "system", 100_000+2*2000)
		waitBalance(t, m, i, consumerID, 100*fixed.Scale-10*fixed.Scale-2*2000)
	}

	// A consumer with 0.1 credits owes 2.
	st, body := adminCall(t, m.nodes[poor], "POST", "/run", map[string]any{
		"job_id": "poor-1", "metrics": map[string]float64{"compute_tokens_m": 2}, "host": m.nodes[host].url})
	if st != http.StatusOK {
		t.Fatalf("run on the host: %d %s", st, body)
	}
	out, err := cli(t, m.env(poor), "settle")
	if err == nil || !strings.Contains(out+err.Error(), "cannot pay") {
		t.Fatalf("offgrid settle by a poor consumer = %v\n%s\nwant a 'cannot pay' error", err, out)
	}
	getJSON(t, m.nodes[poor].url+"/receipts/owed", &owed)
	if owed.Total != "2" || len(owed.Receipts) != 1 || owed.Receipts[0].Pending {
		t.Errorf("poor consumer's owed = %+v, want 2 credits in 1 unpaid receipt", owed)
	}
}
