package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type blocksJSON struct {
	Count  int `json:"count"`
	Blocks []struct {
		Name     string   `json:"name"`
		Author   string   `json:"author"`
		Height   int64    `json:"height"`
		Parents  []string `json:"parents"`
		Receipts int      `json:"receipts"`
	} `json:"blocks"`
}

func ledgerBlocks(t *testing.T, env map[string]string) blocksJSON {
	t.Helper()
	var b blocksJSON
	if err := json.Unmarshal([]byte(mustCLI(t, env, "ledger", "blocks", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLedgerCLI: blocks sealed on one node reach the other by
// anti-entropy; `ledger export` and `ledger merge DIR` move them to a
// third node that syncs with nobody; a tampered file is refused with its
// name and nothing changes; `ledger merge URL` pulls from a node.
func TestLedgerCLI(t *testing.T) {
	m := startMesh(t, 3, func(i int, o *nodeOptions) {
		o.sealInterval = 0
		o.blockSync = 200 * time.Millisecond
		// Nodes 0 and 1 know each other only (node 2 is last in their lists).
		o.peers = o.peers[:1]
		if i == 2 {
			o.peers, o.blockSync = nil, 0 // node 2 takes blocks by merge only
		}
	})
	m.waitPeers(0, 1)
	for i := range 2 {
		mustCLI(t, m.env(0), "run", fmt.Sprintf("cli-%d", i), "--metric", "compute_tokens_m=2")
	}
	if out := mustCLI(t, m.env(0), "ledger", "seal"); !strings.Contains(out, "sealed block 1") || !strings.Contains(out, "2 receipts") {
		t.Fatalf("ledger seal = %q", out)
	}
	if out := mustCLI(t, m.env(0), "ledger", "seal"); !strings.Contains(out, "nothing to seal") {
		t.Fatalf("second ledger seal = %q", out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for ledgerBlocks(t, m.env(1)).Count != 1 {
		if time.Now().After(deadline) {
			t.Fatal("node 1 never got node 0's block")
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := mustCLI(t, m.env(1), "ledger", "blocks")
	if !strings.Contains(out, "1 blocks of cluster ") || !strings.Contains(out, "RECEIPTS") {
		t.Fatalf("ledger blocks = %q", out)
	}

	dir := t.TempDir()
	if out := mustCLI(t, m.env(1), "ledger", "export", dir); !strings.Contains(out, "wrote 1 blocks") {
		t.Fatalf("ledger export = %q", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("export wrote %d files", len(files))
	}
	good, _ := os.ReadFile(files[0])
	bad := t.TempDir()
	forged := strings.Replace(string(good), `"units":"2"`, `"units":"9"`, 1)
	if forged == string(good) {
		t.Fatalf("the test's forgery changed nothing in %s", good)
	}
	if err := os.WriteFile(filepath.Join(bad, "forged.json"), []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, m.env(2), "ledger", "merge", bad); err == nil || !strings.Contains(err.Error(), "forged.json") || !strings.Contains(err.Error(), "nothing was merged") {
		t.Fatalf("merge of a forged block = %v, %q; want a refusal naming the file", err, out)
	}
	if err := os.WriteFile(filepath.Join(bad, "forged.json"), []byte(`{"version":"0.1"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, m.env(2), "ledger", "merge", bad); err == nil || !strings.Contains(err.Error(), "invalid block") {
		t.Fatalf("merge of a malformed block = %v", err)
	}
	if n := ledgerBlocks(t, m.env(2)).Count; n != 0 {
		t.Fatalf("refused merges stored %d blocks", n)
	}
	if out := mustCLI(t, m.env(2), "ledger", "merge", dir); !strings.Contains(out, "1 new blocks (of 1)") {
		t.Fatalf("ledger merge DIR = %q", out)
	}
	// A second block on node 1, pulled by URL.
	mustCLI(t, m.env(1), "run", "cli-b", "--metric", "compute_tokens_m=1")
	mustCLI(t, m.env(1), "ledger", "seal")
	if out := mustCLI(t, m.env(2), "ledger", "merge", m.nodes[1].url); !strings.Contains(out, "1 new blocks (of 2)") {
		t.Fatalf("ledger merge URL = %q", out)
	}
	if b := ledgerBlocks(t, m.env(2)); b.Count != 2 || len(b.Blocks[0].Parents) != 1 {
		t.Fatalf("node 2 after merges: %+v", b)
	}
	if out := mustCLI(t, m.env(2), "ledger", "outbox"); !strings.Contains(out, "0 items waiting") {
		t.Fatalf("ledger outbox = %q", out)
	}
}

// TestQuorumCLI: the seed's quorum and policy scripts as subcommands.
func TestQuorumCLI(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}
	if out := mustCLI(t, env, "quorum", "--kind", "job", "--id", "job-123", "--required", "2.5"); !strings.Contains(out, "weight 0.000 of 2.500 required (open), 0 acks") {
		t.Fatalf("quorum --required = %q", out)
	}
	// Without decay, so that the seconds between acks cost nothing.
	mustCLI(t, env, "quorum", "policy", "--set-weight", "node-B=1.5", "--kind", "job", "--decay-half-life", "0")
	mustCLI(t, env, "quorum", "--kind", "job", "--id", "job-123", "--ack-from", "node-A")
	out := mustCLI(t, env, "quorum", "--kind", "job", "--id", "job-123", "--ack-from", "node-B")
	if !strings.Contains(out, "weight 2.500 of 2.500 required (reached), 2 acks") {
		t.Fatalf("quorum after two acks = %q", out)
	}
	if out := mustCLI(t, env, "quorum", "--kind", "job", "--list"); !strings.Contains(out, "1 job quorums") {
		t.Fatalf("quorum --list = %q", out)
	}
	out = mustCLI(t, env, "quorum", "policy", "--kind", "job", "--decay-half-life", "30m", "--max-age", "2h")
	if !strings.Contains(out, "job    half-life 30m0s, max age 2h0m0s") || !strings.Contains(out, "weight node-B = 1.5") {
		t.Fatalf("quorum policy = %q", out)
	}
	for _, bad := range [][]string{
		{"quorum", "--kind", "coin", "--list"},
		{"quorum", "--kind", "job", "--id", "nope", "--show"},
		{"quorum", "--kind", "job", "--id", "x", "--required", "0"},
		{"quorum", "policy", "--set-weight", "node-C"},
		{"quorum", "policy", "--decay-half-life", "1h"},
	} {
		if out, err := cli(t, env, bad...); err == nil {
			t.Errorf("offgrid %s succeeded: %q", strings.Join(bad, " "), out)
		}
	}
}
