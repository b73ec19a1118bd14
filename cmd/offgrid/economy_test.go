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

// startEconomy starts a mesh of size nodes whose cluster has an economy:
// nodes 0..witnesses-1 witness with weight 1 each, every node starts with
// alloc micro-credits (withEconomy, as the demo makes it). The document is
// installed on every node as the successor of the mesh's first one.
func startEconomy(t *testing.T, size, witnesses int, alloc int64) *testMesh {
	t.Helper()
	m := startMesh(t, size, nil)
	dirs := make([]string, size)
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
		m.waitPeers(i, size-1)
	}
	return m
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
		t.Fatalf("%d of %d transfers did not become final at once, e.g. %s", len(failed), transfers, failed[0])
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
	if st, tx := m.transfer(t, 4, dst, "1"); st != http.StatusCreated || tx.State != "final" || tx.Weight != 3 {
		t.Fatalf("with 3 of 4 witnesses up: %d %+v, want 201, final with weight 3", st, tx)
	}

	m.kill(2)
	st, tx := m.transfer(t, 4, dst, "2")
	if st != http.StatusAccepted || tx.State != "waiting" || tx.Weight != 2 || tx.Needed != 3 {
		t.Fatalf("with 2 of 4 witnesses up: %d %+v, want 202, waiting with weight 2 of the 3 needed", st, tx)
	}
	out := mustCLI(t, m.env(4), "tx", "pool")
	if !strings.Contains(out, "waiting for witnesses") || !strings.Contains(out, tx.TxID) {
		t.Errorf("offgrid tx pool does not show the transfer waiting for witnesses:\n%s", out)
	}
	// Nothing moved yet: node 5 has the first transfer only.
	if got := m.balances(t, 5)[dst]; got != "101" {
		t.Errorf("node 5's balance while the transfer waits = %s, want 101", got)
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
