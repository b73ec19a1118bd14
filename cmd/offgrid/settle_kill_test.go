package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/fixed"
)

// startProcess runs mesh node i as a real offgrid process on its port and
// data directory (no radio, static peers only, no auto-settle), and waits
// until it answers.
func startProcess(t *testing.T, bin string, m *testMesh, i int) *exec.Cmd {
	t.Helper()
	mn := m.nodes[i]
	var peers []string
	for j, o := range m.nodes {
		if j != i {
			peers = append(peers, o.url)
		}
	}
	cmd := exec.Command(bin, "node", "--data", mn.opts.dataDir, "--listen", mn.addr, "--name", mn.opts.name,
		"--cluster", mn.opts.cluster, "--peers", strings.Join(peers, ","), "--radio", "none",
		"--peer-poll-interval", "200ms", "--settle-interval", "0", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(mn.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("process of node %d does not answer: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill9 kills the process with SIGKILL and reaps it.
func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func settleOnce(t *testing.T, mn *meshNode) settleJSON {
	t.Helper()
	st, body := call(t, mn, "POST", "/settle", map[string]int{})
	if st != http.StatusOK {
		t.Fatalf("POST /settle = %d %s", st, body)
	}
	var r settleJSON
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSettleKill9: a consumer process signs its payments while too few
// witnesses are up to certify them, and is killed with SIGKILL, twice (once
// while a settle request is in flight). After each restart it sends the
// same payments, signs no new ones for the same receipts, and when the
// witnesses return the host is paid exactly once.
func TestSettleKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the offgrid binary")
	}
	bin := filepath.Join(t.TempDir(), "offgrid")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const host, consumer, alloc = 3, 4, 100 * fixed.Scale
	m := startEconomy(t, 5, 4, alloc)
	hostID, consumerID := nodeID(t, m.nodes[host].url), nodeID(t, m.nodes[consumer].url)
	for j := range 3 {
		st, body := call(t, m.nodes[consumer], "POST", "/run", map[string]any{
			"job_id": fmt.Sprintf("kill-%d", j), "metrics": map[string]float64{"compute_tokens_m": 1}, "host": m.nodes[host].url})
		if st != http.StatusOK {
			t.Fatalf("run on the host: %d %s", st, body)
		}
	}
	// Two of four witnesses down: nothing can be certified.
	m.kill(1)
	m.kill(2)
	m.kill(consumer)
	proc := startProcess(t, bin, m, consumer)
	first := settleOnce(t, m.nodes[consumer])
	if first.Receipts != 3 || len(first.Txs) != 2 || first.Txs[0].State == "final" {
		t.Fatalf("settle with two witnesses down = %+v, want 3 receipts in 2 payments, not final", first)
	}
	ids := func(r settleJSON) []string {
		var out []string
		for _, tx := range r.Txs {
			out = append(out, tx.TxID)
		}
		return out
	}
	kill9(t, proc)

	proc = startProcess(t, bin, m, consumer)
	// A settle in flight when the process dies: whatever it got to, the
	// next start holds the same payments.
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", m.nodes[consumer].url+"/settle", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+m.nodes[consumer].token)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(5 * time.Millisecond)
	kill9(t, proc)
	<-done

	proc = startProcess(t, bin, m, consumer)
	again := settleOnce(t, m.nodes[consumer])
	if again.Receipts != 0 || !slices.Equal(ids(again), ids(first)) {
		t.Fatalf("settle after two kills = %d receipts, payments %v; want 0 new, the same payments %v", again.Receipts, ids(again), ids(first))
	}

	m.restart(1)
	m.restart(2)
	// The auto-finalizer sends the pooled payments again once the
	// witnesses are back.
	for _, i := range []int{0, host} {
		waitBalance(t, m, i, hostID, alloc+2_970_000)
		waitBalance(t, m, i, consumerID, alloc-3*fixed.Scale-2*2000)
		waitBalance(t, m, i, "system", 30_000+2*2000)
	}
	last := settleOnce(t, m.nodes[consumer])
	if last.Receipts != 0 || len(last.Txs) != 0 {
		t.Fatalf("settle after the payments are final = %+v, want nothing", last)
	}
	var owed owedJSON
	getJSON(t, m.nodes[consumer].url+"/receipts/owed", &owed)
	if owed.Total != "0" {
		t.Errorf("owed after the payments are final = %s, want 0", owed.Total)
	}
	kill9(t, proc)
}
