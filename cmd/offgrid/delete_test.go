package main

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shardsOn counts the shards of asset's first stripe, indexes 0..n-1, that
// node i holds, asking it over HTTP with its admin token.
func (m *testMesh) shardsOn(i int, asset string, n int) int {
	m.t.Helper()
	mn := m.nodes[i]
	found := 0
	for idx := range n {
		req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("%s/shards/%s.0/%d", mn.url, asset, idx), nil)
		if err != nil {
			m.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+mn.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			m.t.Fatalf("HEAD shard on node %d: %v", i, err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			found++
		case http.StatusNotFound:
		default:
			m.t.Fatalf("HEAD shard %s.0/%d on node %d = %d", asset, idx, i, resp.StatusCode)
		}
	}
	return found
}

// waitShards waits until node i holds want shards of asset's first stripe.
func (m *testMesh) waitShards(i int, asset string, n, want int, within time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := m.shardsOn(i, asset, n)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("node %d holds %d shards of %s after %s, want %d", i, got, asset, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRmDropsShardsOnEveryHost deletes a file stored on four hosts while
// one of them is down: the live hosts drop their shards at once, the one
// that was down drops its shard after it comes back, and the owner no
// longer lists the file.
func TestRmDropsShardsOnEveryHost(t *testing.T) {
	m := startMesh(t, 4, func(i int, o *nodeOptions) {
		// Pending deletions are retried on the repair loop's schedule.
		o.repairInterval = 200 * time.Millisecond
	})
	m.waitPeers(0, 3)
	env := m.env(0)
	a := putFile(t, env, randomFile(t, 10_000), "--k", "2", "--n", "4")
	if a.Stripes != 1 || a.N != 4 || a.Hosts != 4 {
		t.Fatalf("put: %+v, want one stripe of 4 shards on 4 hosts", a)
	}
	total := 0
	for i := range 4 {
		total += m.shardsOn(i, a.AssetID, 4)
	}
	if total != 4 {
		t.Fatalf("hosts hold %d shards before rm, want 4", total)
	}
	held := m.shardsOn(3, a.AssetID, 4)
	if held != 1 {
		t.Fatalf("node 3 holds %d shards, want 1", held)
	}

	m.kill(3)
	out := mustCLI(t, env, "rm", a.AssetID)
	if want := fmt.Sprintf("deleted %s: 3 shards dropped, 1 on hosts that did not answer (asked again later)\n", a.AssetID); out != want {
		t.Errorf("rm printed %q, want %q", out, want)
	}
	for i := range 3 {
		if got := m.shardsOn(i, a.AssetID, 4); got != 0 {
			t.Errorf("node %d still holds %d shards right after rm", i, got)
		}
	}
	for _, args := range [][]string{{"assets", a.AssetID}, {"rm", a.AssetID}} {
		if _, err := cli(t, env, args...); err == nil || !strings.Contains(err.Error(), a.AssetID) {
			t.Errorf("offgrid %s after rm: %v; want an error naming the unknown file", strings.Join(args, " "), err)
		}
	}

	m.restart(3)
	m.waitShards(3, a.AssetID, 4, 0, 20*time.Second)
}

// TestUnclaimedShardsCollected checks the lease: a host keeps the shards
// of an owner away for less than the grace period (and the owner's claim
// at its restart renews them), drops them once the owner has been away
// longer, and keeps those of a live owner and those the admin stored.
func TestUnclaimedShardsCollected(t *testing.T) {
	const grace = 4 * time.Second
	m := startMesh(t, 3, func(i int, o *nodeOptions) {
		o.shardGrace = grace
		o.claimInterval = 400 * time.Millisecond
	})
	m.waitPeers(0, 2)
	m.waitPeers(1, 2)
	gone := putFile(t, m.env(0), randomFile(t, 5_000), "--k", "1", "--n", "3")
	live := putFile(t, m.env(1), randomFile(t, 5_000), "--k", "1", "--n", "3")
	for _, a := range []assetJSON{gone, live} {
		if a.Hosts != 3 {
			t.Fatalf("put: %+v, want a shard on each of the 3 hosts", a)
		}
	}
	adminShard := strings.Repeat("admin's own bytes ", 100)
	req, err := http.NewRequest(http.MethodPut, m.nodes[2].url+"/shards/admin-kept.0/0", strings.NewReader(adminShard))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.nodes[2].token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin PUT shard = %d", resp.StatusCode)
	}

	// The owner is away for the grace period minus a margin: nothing goes.
	m.kill(0)
	away := time.Now()
	time.Sleep(grace - 1500*time.Millisecond)
	for _, i := range []int{1, 2} {
		if got := m.shardsOn(i, gone.AssetID, 3); got != 1 {
			t.Fatalf("node %d holds %d shards of the away owner's file after %s, want 1", i, got, time.Since(away))
		}
	}
	// Back in time, it claims its shards at start, and they stay past the
	// end of the lease they had when it left.
	m.restart(0)
	time.Sleep(time.Until(away.Add(grace + 1500*time.Millisecond)))
	for _, i := range []int{1, 2} {
		if got := m.shardsOn(i, gone.AssetID, 3); got != 1 {
			t.Fatalf("node %d holds %d shards of the returned owner's file, want 1", i, got)
		}
	}

	// Gone for good, the owner abandons its file: its hosts collect the
	// shards after the grace period; the live owner's and the admin's stay.
	m.kill(0)
	for _, i := range []int{1, 2} {
		m.waitShards(i, gone.AssetID, 3, 0, grace+10*time.Second)
	}
	for _, i := range []int{1, 2} {
		if got := m.shardsOn(i, live.AssetID, 3); got != 1 {
			t.Errorf("node %d holds %d shards of the live owner's file, want 1", i, got)
		}
	}
	if got := m.shardsOn(2, "admin-kept", 1); got != 1 {
		t.Errorf("node 2 holds %d admin shards, want 1: the admin's shards are never collected", got)
	}
	if got := blobBytes(t, m.nodes[2].opts.dataDir); got == 0 {
		t.Error("node 2 has no shard blobs left")
	}
	if out := mustCLI(t, m.env(1), "get", live.AssetID, "-o", filepath.Join(t.TempDir(), "back")); out == "" {
		t.Error("get of the live owner's file printed nothing")
	}
}

// blobBytes sums the sizes of the shard blobs in a node's data dir.
func blobBytes(t *testing.T, dataDir string) int64 {
	t.Helper()
	var sum int64
	err := filepath.WalkDir(filepath.Join(dataDir, "shards", "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestStressLeavesNothingBehind runs offgrid stress against a mesh: the
// random file comes back, and afterwards no node lists it or holds a
// shard of it.
func TestStressLeavesNothingBehind(t *testing.T) {
	m := startMesh(t, 3, nil)
	m.waitPeers(0, 2)
	out := mustCLI(t, m.env(0), "stress", "--size", "100000", "--k", "2", "--n", "3")
	if !strings.HasPrefix(out, "ok: 100000 random bytes as ") {
		t.Fatalf("stress printed %q", out)
	}
	if list := mustCLI(t, m.env(0), "assets", "--json"); strings.Contains(list, `"asset_id"`) {
		t.Errorf("the node still lists a file after stress: %s", list)
	}
	for i := range 3 {
		if n := blobCount(t, m.nodes[i].opts.dataDir); n != 0 {
			t.Errorf("node %d holds %d shard blobs after stress, want 0", i, n)
		}
	}
}

// blobCount counts the shard blobs in a node's data dir.
func blobCount(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dataDir, "shards", "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
