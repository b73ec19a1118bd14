package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nodeID returns node i's ID from its GET /pubkeys.
func (m *testMesh) nodeID(i int) string {
	m.t.Helper()
	resp, err := http.Get(m.nodes[i].url + "/pubkeys")
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var k struct {
		NodeID string `json:"node_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		m.t.Fatal(err)
	}
	return k.NodeID
}

// TestShareBetweenNodes shares a file from node 0 with node 1: node 1
// imports the manifest and reads byte-identical bytes from the hosts;
// node 2 cannot use it, and a manifest altered after signing is refused.
func TestShareBetweenNodes(t *testing.T) {
	m := startMesh(t, 3, nil)
	m.waitPeers(0, 2)
	src := randomFile(t, 300_000)
	a := putFile(t, m.env(0), src, "--k", "2", "--n", "3")
	to := m.nodeID(1)
	manifest := filepath.Join(t.TempDir(), "share.json")
	out := mustCLI(t, m.env(0), "share", a.AssetID, "--to", to, "-o", manifest)
	if want := "share of " + a.AssetID + " for " + to + " written to " + manifest + "\n"; out != want {
		t.Errorf("share printed %q, want %q", out, want)
	}

	out = mustCLI(t, m.env(1), "import", manifest)
	if !strings.HasPrefix(out, "imported "+a.AssetID+" (random.bin)") {
		t.Errorf("import printed %q", out)
	}
	back := filepath.Join(t.TempDir(), "back.bin")
	mustCLI(t, m.env(1), "get", a.AssetID, "-o", back)
	sameBytes(t, src, back)

	raw, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(raw), `"random.bin"`, `"invoice.pdf"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		node       int
		want       string
	}{
		{"third node", manifest, 2, "not for this node"},
		{"altered", tampered, 2, "signature"},
		{"altered, for the recipient", tampered, 1, "signature"},
		{"imported twice", manifest, 1, "exists"},
	}
	for _, tt := range tests {
		out, err := cli(t, m.env(tt.node), "import", tt.file)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: import on node %d: %v (output %q); want an error saying %q", tt.name, tt.node, err, out, tt.want)
		}
	}
	if out, err := cli(t, m.env(2), "get", a.AssetID, "-o", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Errorf("node 2 read the file without a share: %q", out)
	}
	// The recipient deleting its copy forgets the manifest only: the
	// owner's shards are not its to drop.
	mustCLI(t, m.env(1), "rm", a.AssetID)
	again := filepath.Join(t.TempDir(), "again.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", again)
	sameBytes(t, src, again)
	if _, err := cli(t, m.env(0), "share", a.AssetID, "--to", "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"); err == nil ||
		!strings.Contains(err.Error(), "not in this node's peer table") {
		t.Errorf("share to an unknown node: %v", err)
	}
}
