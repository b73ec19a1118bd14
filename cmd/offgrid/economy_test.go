package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/internal/fixed"
)

// startEconomy starts a mesh of size nodes whose cluster has an economy
// (installEconomy).
func startEconomy(t *testing.T, size, witnesses int, alloc int64) *testMesh {
	t.Helper()
	m := startMesh(t, size, nil)
	m.installEconomy(t, witnesses, alloc)
	return m
}

// installEconomy gives the mesh's cluster an economy: nodes
// 0..witnesses-1 witness with weight 1 each, every node starts with alloc
// micro-credits (withEconomy, as the demo makes it). The document is
// installed on every node as the successor of the mesh's first one, and
// the nodes see each other up.
func (m *testMesh) installEconomy(t testing.TB, witnesses int, alloc int64) {
	t.Helper()
	dirs := make([]string, len(m.nodes))
	for i, mn := range m.nodes {
		dirs[i] = mn.opts.dataDir
	}
	doc, err := withEconomy(m.nodes[0].opts.clusterDoc, dirs, witnesses, alloc)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(doc)
	for i, mn := range m.nodes {
		mn.opts.clusterDoc = doc // a restart installs it again: a no-op
		if st, body := call(t, mn, "POST", "/cluster/join", map[string]string{"document": b64}); st != http.StatusOK {
			t.Fatalf("node %d: join the economy's document: %d %s", i, st, body)
		}
	}
	for i := range m.nodes {
		m.waitPeers(i, len(m.nodes)-1)
	}
}

// call sends a JSON request with node mn's admin token and returns the
// status and body.
func call(t testing.TB, mn *meshNode, method, path string, body any) (int, []byte) {
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

type txJSON struct {
	TxID   string `json:"tx_id"`
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Amount string `json:"amount"`
	Fee    string `json:"fee"`
	State  string `json:"state"`
	Weight int    `json:"weight"`
	Needed int    `json:"needed"`
	Error  string `json:"error"`
}

type balancesJSON struct {
	Supply   string `json:"supply"`
	Accounts []struct {
		Account string `json:"account"`
		Balance string `json:"balance"`
	} `json:"accounts"`
}

// balances returns node i's balances by account.
func (m *testMesh) balances(t *testing.T, i int) map[string]string {
	t.Helper()
	var b balancesJSON
	getJSON(t, m.nodes[i].url+"/balances", &b)
	out := map[string]string{}
	for _, a := range b.Accounts {
		out[a.Account] = a.Balance
	}
	return out
}

// transfer posts a transfer on node i and returns the status and answer.
func (m *testMesh) transfer(t *testing.T, i int, dst string, amount string) (int, txJSON) {
	t.Helper()
	st, body := call(t, m.nodes[i], "POST", "/transfers", map[string]string{"dst": dst, "amount": amount})
	var tx txJSON
	if st == http.StatusCreated || st == http.StatusAccepted {
		if err := json.Unmarshal(body, &tx); err != nil {
			t.Fatal(err)
		}
	} else {
		tx.Error = string(body)
	}
	return st, tx
}

// waitBalances waits until every node in nodes shows want.
func (m *testMesh) waitBalances(t *testing.T, nodes []int, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, i := range nodes {
		for {
			got := m.balances(t, i)
			if cmp.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d's balances differ from the transfers made (-want +got):\n%s", i, cmp.Diff(want, got))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitFinal polls node i for transaction id until it is final, and returns
// it; it fails the test when it is refused or still not final after wait.
func (m *testMesh) waitFinal(t *testing.T, i int, id string, wait time.Duration) txJSON {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var cur txJSON
		getJSON(t, m.nodes[i].url+"/tx/"+id, &cur)
		if cur.State == "final" || cur.State == "refused" || time.Now().After(deadline) {
			return cur
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConcurrentTransfersBecomeFinal: 7 nodes, 4 witnesses. Transfers
// between random accounts, sent concurrently on every node, all become
// final, and every node ends with the balances the transfers imply. 200 by
// default; OFFGRID_TRANSFERS=1000 (make soak) sends the 1,000.
func TestConcurrentTransfersBecomeFinal(t *testing.T) {
	transfers := 200
	if v := os.Getenv("OFFGRID_TRANSFERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		transfers = n
	}
	const size, witnesses, alloc = 7, 4, 1000_000000
	m := startEconomy(t, size, witnesses, alloc)
	ids := make([]string, size)
	want := map[string]int64{}
	for i := range ids {
		ids[i] = m.nodeID(i)
		want[ids[i]] = alloc
	}
	rng := mrand.New(mrand.NewPCG(9, 9))
	type job struct {
		src, dst int
		amount   int64
	}
	jobs := make(chan job, transfers)
	for range transfers {
		src := rng.IntN(size)
		dst := (src + 1 + rng.IntN(size-1)) % size
		jobs <- job{src, dst, 1 + rng.Int64N(1_000000)}
	}
	close(jobs)
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range 4 * size {
		wg.Go(func() {
			for j := range jobs {
				st, tx := m.transfer(t, j.src, ids[j.dst], fixed.Format(j.amount))
				if st == http.StatusAccepted {
					// Signed and pooled, its witnesses slow to answer (the
					// race detector, a loaded machine): the auto-finalizer
					// must still make it final.
					tx = m.waitFinal(t, j.src, tx.TxID, 60*time.Second)
					st = http.StatusCreated
				}
				mu.Lock()
				if st != http.StatusCreated || tx.State != "final" {
					failed = append(failed, fmt.Sprintf("node %d -> %d: %d %s %s", j.src, j.dst, st, tx.State, tx.Error))
				} else {
					fee, err := fixed.Parse(tx.Fee)
					if err != nil {
						t.Error(err)
					}
					want[ids[j.src]] -= j.amount + fee
					want[ids[j.dst]] += j.amount
					want["system"] += fee
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d transfers final in %s (%.0f/s)", transfers-len(failed), took.Round(time.Millisecond), float64(transfers-len(failed))/took.Seconds())
	if len(failed) > 0 {
		t.Fatalf("%d of %d transfers did not become final, e.g. %s", len(failed), transfers, failed[0])
	}
	wantS := map[string]string{}
	var supply int64
	for a, v := range want {
		wantS[a] = fixed.Format(v)
		supply += v
	}
	if supply != size*alloc {
		t.Fatalf("the test's own books lost money: %d", supply)
	}
	all := make([]int, size)
	for i := range all {
		all[i] = i
	}
	m.waitBalances(t, all, wantS)
}

// TestTransfersWaitForWitnesses: with one witness of four down transfers
// still become final; with two down they wait ("waiting for witnesses")
// and become final on their own when one returns.
func TestTransfersWaitForWitnesses(t *testing.T) {
	const size, witnesses, alloc = 7, 4, 100_000000
	m := startEconomy(t, size, witnesses, alloc)
	dst := m.nodeID(5)

	m.kill(3)
	st, tx := m.transfer(t, 4, dst, "1")
	if st == http.StatusAccepted {
		// A live witness slow to answer (the race detector, a loaded
		// machine): the auto-finalizer must still make it final.
		tx = m.waitFinal(t, 4, tx.TxID, 60*time.Second)
	}
	if tx.State != "final" || tx.Weight != 3 {
		t.Fatalf("with 3 of 4 witnesses up: %d %+v, want final with weight 3", st, tx)
	}

	m.kill(2)
	st, tx = m.transfer(t, 4, dst, "2")
	// Weight 2 once both live witnesses answered; less if one was slow.
	if st != http.StatusAccepted || tx.State != "waiting" || tx.Weight > 2 || tx.Needed != 3 {
		t.Fatalf("with 2 of 4 witnesses up: %d %+v, want 202, waiting with weight at most 2 of the 3 needed", st, tx)
	}
	out := mustCLI(t, m.env(4), "tx", "pool")
	if !strings.Contains(out, "waiting for witnesses") || !strings.Contains(out, tx.TxID) {
		t.Errorf("offgrid tx pool does not show the transfer waiting for witnesses:\n%s", out)
	}
	// Nothing moved yet: node 5 gets the first transfer's certificate (it
	// spreads after the answer) and not the second.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := m.balances(t, 5)[dst]
		if got == "101" {
			break
		}
		if got != "100" || time.Now().After(deadline) {
			t.Fatalf("node 5's balance while the transfer waits = %s, want 101", got)
		}
	}

	m.restart(2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cur txJSON
		getJSON(t, m.nodes[4].url+"/tx/"+tx.TxID, &cur)
		if cur.State == "final" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiting transfer is still %q 30 s after a witness returned (%s)", cur.State, cur.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.waitBalances(t, []int{0, 1, 2, 4, 5, 6}, m.balances(t, 4))
	if got := m.balances(t, 5)[dst]; got != "103" {
		t.Errorf("node 5's balance after the witness returned = %s, want 103", got)
	}
}

// TestClusterInitWithWitnesses: cluster init --witness on a node running
// alone proposes the genesis; it is valid once the other witness signed
// it, and then the starting credits are there, on both nodes.
func TestClusterInitWithWitnesses(t *testing.T) {
	urlA, tokA := startNode(t, nodeOptions{name: "a"})
	urlB, tokB := startNode(t, nodeOptions{name: "b"})
	envA := map[string]string{"OFFGRID_NODE": urlA, "OFFGRID_TOKEN": tokA}
	envB := map[string]string{"OFFGRID_NODE": urlB, "OFFGRID_TOKEN": tokB}
	var a, b struct {
		NodeID string `json:"node_id"`
	}
	getJSON(t, urlA+"/pubkeys", &a)
	getJSON(t, urlB+"/pubkeys", &b)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad weight", []string{"--witness", a.NodeID + "=0"}, "whole weight of 1 or more"},
		{"alloc without witnesses", []string{"--alloc", a.NodeID + "=5"}, "--alloc needs --witness"},
		{"bad amount", []string{"--witness", a.NodeID + "=1", "--alloc", a.NodeID + "=lots"}, "positive number of credits"},
		{"fee-min above fee-max", []string{"--witness", a.NodeID + "=1", "--fee-min", "2", "--fee-max", "1"}, "400"},
		{"reserve above 100 %", []string{"--witness", a.NodeID + "=1", "--host-reserve", "101"}, "--host-reserve"},
	} {
		out, err := cli(t, envA, append([]string{"cluster", "init"}, tc.args...)...)
		if err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("%s: cluster init %v = %v, %s; want an error saying %q", tc.name, tc.args, err, out, tc.want)
		}
	}
	out := mustCLI(t, envA, "cluster", "init", "--witness", a.NodeID+"=2", "--witness", b.NodeID+"=1",
		"--alloc", a.NodeID+"=100", "--alloc", b.NodeID+"=5.5")
	if !strings.Contains(out, "proposed; 1 more signature(s) needed") {
		t.Fatalf("cluster init with another witness:\n%s\nwant a proposal waiting for one signature", out)
	}
	if _, err := cli(t, envA, "balances"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("balances before the genesis is signed: %v, want 409 (no economy yet)", err)
	}
	out = mustCLI(t, envB, "cluster", "sign", "--from", urlA)
	if !strings.Contains(out, "installed") {
		t.Fatalf("the second witness's signature did not complete the genesis:\n%s", out)
	}
	mustCLI(t, envA, "cluster", "join", "--from", urlB)
	if out := mustCLI(t, envA, "cluster", "show"); !strings.Contains(out, "economy: epoch 1, fee 0.001 to 0.003, host reserve 1.00 %") ||
		!strings.Contains(out, "witness "+b.NodeID+" weight 1") || !strings.Contains(out, "genesis "+b.NodeID+" 5.5") {
		t.Errorf("cluster show does not show the economy:\n%s", out)
	}
	for _, env := range []map[string]string{envA, envB} {
		var bal balancesJSON
		if err := json.Unmarshal([]byte(mustCLI(t, env, "balances", "--json")), &bal); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, x := range bal.Accounts {
			got[x.Account] = x.Balance
		}
		if want := map[string]string{a.NodeID: "100", b.NodeID: "5.5"}; !cmp.Equal(got, want) || bal.Supply != "105.5" {
			t.Errorf("%s: balances %v supply %s, want %v supply 105.5", env["OFFGRID_NODE"], got, bal.Supply, want)
		}
	}
}

// TestTransferCommands: offgrid transfer, and the manual flow tx send,
// tx witness (one witness at a time), tx finalize, tx show.
func TestTransferCommands(t *testing.T) {
	m := startEconomy(t, 2, 2, 10_000000)
	env, dst := m.env(0), m.nodeID(1)
	out := mustCLI(t, env, "transfer", dst, "1.25", "--memo", "for the pump")
	if !strings.Contains(out, ": final, witness weight 2 of 2") {
		t.Fatalf("offgrid transfer:\n%s\nwant final with weight 2 of 2", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"transfer", dst, "0"}, "positive number of credits"},
		{[]string{"transfer", dst, "1e3"}, "positive number of credits"},
		{[]string{"transfer", "bank", "1"}, "node ID (did:key:z...) or system"},
		{[]string{"transfer", dst, "100"}, "insufficient funds: final balance 8.748"},
		{[]string{"tx", "show", strings.Repeat("0", 64)}, "404"},
		{[]string{"tx", "show", "nope"}, "400"},
	} {
		if out, err := cli(t, env, tc.args...); err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("offgrid %v = %v, %s; want an error saying %q", tc.args, err, out, tc.want)
		}
	}

	var tx txJSON
	if err := json.Unmarshal([]byte(mustCLI(t, env, "tx", "send", dst, "2", "--json")), &tx); err != nil {
		t.Fatal(err)
	}
	if tx.State != "pending" || tx.Weight != 0 {
		t.Fatalf("tx send: %+v, want pending with no signature", tx)
	}
	if out, err := cli(t, env, "tx", "finalize", tx.TxID); err == nil || !strings.Contains(err.Error(), "a certificate needs 2") {
		t.Errorf("tx finalize before any witness signed = %v, %s; want a refusal", err, out)
	}
	out = mustCLI(t, env, "tx", "witness", tx.TxID, "--witness", dst)
	if !strings.Contains(out, "witness weight 1 of 2") {
		t.Errorf("tx witness --witness (one of two):\n%s\nwant weight 1 of 2", out)
	}
	mustCLI(t, env, "tx", "witness", tx.TxID)
	if out := mustCLI(t, env, "tx", "finalize", tx.TxID); !strings.Contains(out, ": final,") {
		t.Errorf("tx finalize:\n%s\nwant final", out)
	}
	// The certificate spreads to the other node in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := cli(t, m.env(1), "tx", "show", tx.TxID)
		if err == nil && strings.Contains(out, ": final,") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx show on the other node 10 s after finalize: %v\n%s\nwant final (the certificate spread)", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out = mustCLI(t, m.env(1), "balances")
	if !strings.Contains(out, "13.25  "+dst+"  (this node)") {
		t.Errorf("balances on the receiving node:\n%s\nwant 13.25 on its own account", out)
	}
}

// TestPoolSurvivesRestart: a transfer waiting for witnesses is kept across
// a restart of its node; the next transfer takes the next nonce (never the
// same one again), and both become final, in order, once the witness is
// back.
func TestPoolSurvivesRestart(t *testing.T) {
	m := startEconomy(t, 3, 2, 10_000000)
	dst := m.nodeID(2)
	m.kill(1) // one of two witnesses: no certificate possible
	st, first := m.transfer(t, 0, dst, "1")
	if st != http.StatusAccepted || first.State != "waiting" {
		t.Fatalf("transfer with half the witness weight: %d %+v, want 202 waiting", st, first)
	}
	m.kill(0)
	m.restart(0)
	var pool struct{ Txs []txJSON }
	getJSON(t, m.nodes[0].url+"/gossip/tx_pool", &pool)
	if len(pool.Txs) != 1 || pool.Txs[0].TxID != first.TxID {
		t.Fatalf("pool after a restart: %+v, want the waiting transfer %s", pool.Txs, first.TxID)
	}
	st, second := m.transfer(t, 0, dst, "2")
	if st != http.StatusAccepted {
		t.Fatalf("second transfer: %d %+v, want 202", st, second)
	}
	var a, b struct{ Nonce int }
	getJSON(t, m.nodes[0].url+"/tx/"+first.TxID, &a)
	getJSON(t, m.nodes[0].url+"/tx/"+second.TxID, &b)
	if a.Nonce != 1 || b.Nonce != 2 {
		t.Fatalf("nonces %d and %d after a restart, want 1 and 2", a.Nonce, b.Nonce)
	}
	m.restart(1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got := m.balances(t, 0)[dst]; got == "13" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node 2's balance on node 0 is %s 30 s after the witness returned, want 13", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	getJSON(t, m.nodes[0].url+"/gossip/tx_pool", &pool)
	if len(pool.Txs) != 0 {
		t.Errorf("pool after both are final: %+v, want empty", pool.Txs)
	}
}
