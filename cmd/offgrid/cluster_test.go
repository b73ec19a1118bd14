package main

import (
	"crypto/rand"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

func nodeID(t *testing.T, url string) string {
	t.Helper()
	var h struct {
		NodeID string `json:"node_id"`
	}
	getJSON(t, url+"/healthz", &h)
	return h.NodeID
}

// TestClusterCommands walks the cluster commands: a node alone starts a
// cluster, admits a second node, which joins with the document; a third
// node started with --join-cluster picks the document up by itself once
// admitted; a revocation is refused twice.
func TestClusterCommands(t *testing.T) {
	aURL, aToken := startNode(t, nodeOptions{name: "alpha"})
	bURL, bToken := startNode(t, nodeOptions{name: "beta"})
	a := map[string]string{"OFFGRID_NODE": aURL, "OFFGRID_TOKEN": aToken}
	b := map[string]string{"OFFGRID_NODE": bURL, "OFFGRID_TOKEN": bToken}

	if out := mustCLI(t, a, "cluster", "show"); !strings.Contains(out, "runs alone") {
		t.Errorf("cluster show on a new node = %q, want it to say it runs alone", out)
	}
	out := mustCLI(t, a, "cluster", "init")
	m := regexp.MustCompile(`cluster ([0-9a-f]{32}): version 1 installed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cluster init = %q, want version 1 installed", out)
	}
	clusterID := m[1]
	if out, err := cli(t, a, "cluster", "init"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("a second cluster init = %v %q, want a 409", err, out)
	}

	bID := nodeID(t, bURL)
	if out := mustCLI(t, a, "cluster", "admit", bID); !strings.Contains(out, "version 2 installed (2 members)") {
		t.Errorf("cluster admit = %q", out)
	}
	if out, err := cli(t, a, "cluster", "admit", "did:key:nope"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("cluster admit of a bad ID = %v %q, want a 400", err, out)
	}
	if out := mustCLI(t, b, "cluster", "join", "--from", aURL); !strings.Contains(out, "version 2 installed") {
		t.Errorf("cluster join = %q", out)
	}
	if out := mustCLI(t, b, "cluster", "show"); !strings.Contains(out, "alpha") || !strings.Contains(out, bID) {
		t.Errorf("cluster show on the joined node = %q, want both members", out)
	}

	// A third node joins by itself: its key exists before it starts, an
	// admin admits it, and --join-cluster takes the first valid document.
	cDir := t.TempDir()
	cKeys, _, err := identity.LoadOrCreate(cDir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, a, "cluster", "admit", string(cKeys.ID()), "--name", "gamma")
	cURL, _ := startNode(t, nodeOptions{name: "gamma", dataDir: cDir, peers: []string{aURL},
		joinCluster: clusterID, peerPoll: 100 * time.Millisecond, clusterPoll: 100 * time.Millisecond})
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st struct{ Alone bool }
		getJSON(t, cURL+"/cluster", &st)
		if !st.Alone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node started with --join-cluster did not install the cluster's document")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if out := mustCLI(t, a, "cluster", "revoke", bID); !strings.Contains(out, "version 4 installed (2 members)") {
		t.Errorf("cluster revoke = %q", out)
	}
	if out, err := cli(t, a, "cluster", "revoke", bID); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a second revoke = %v %q, want a 400", err, out)
	}
	var pending struct{ Pending []json.RawMessage }
	getJSON(t, aURL+"/cluster/pending", &pending)
	if out := mustCLI(t, a, "cluster", "pending"); len(pending.Pending) == 0 && !strings.Contains(out, "no pending nodes") {
		t.Errorf("cluster pending = %q", out)
	}
}
