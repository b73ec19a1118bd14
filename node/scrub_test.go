package node_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/node"
)

// TestScrubQuarantinesDamagedShards: a host's scrub pass re-reads every
// shard it holds; the ones whose blob rotted or vanished are quarantined,
// so the next read answers ErrCorrupt or ErrNotFound, never the bad bytes.
func TestScrubQuarantinesDamagedShards(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, _ := openNode(t, dir, testKeys(t))
	blob := func(data []byte) string {
		sum := blake3.Sum256(data)
		h := hex.EncodeToString(sum[:])
		return filepath.Join(dir, "shards", "blobs", h[:2], h)
	}
	shards := [][]byte{[]byte("healthy shard"), []byte("rotting shard"), []byte("vanishing shard")}
	for i, data := range shards {
		if _, err := n.StoreShard(t.Context(), "scrub.0", i, bytes.NewReader(data), "", "admin"); err != nil {
			t.Fatal(err)
		}
	}
	rotten := bytes.Clone(shards[1])
	rotten[0] ^= 1
	if err := os.WriteFile(blob(shards[1]), rotten, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(blob(shards[2])); err != nil {
		t.Fatal(err)
	}

	sub := n.Subscribe(16)
	defer sub.Close()
	checked, bad, err := n.Scrub(t.Context())
	if err != nil || checked != 3 || bad != 2 {
		t.Fatalf("Scrub() = %d checked, %d bad, %v; want 3 checked, 2 bad", checked, bad, err)
	}
	// Scrub has returned, so its events are on the bus: one per lost shard.
	var lost []node.ShardLost
	for drained := false; !drained; {
		select {
		case env := <-sub.C():
			if e, ok := env.Event.(node.ShardLost); ok {
				lost = append(lost, e)
			}
		default:
			drained = true
		}
	}
	want := []node.ShardLost{{AssetID: "scrub.0", Index: 1, FoundBy: "scrub"}, {AssetID: "scrub.0", Index: 2, FoundBy: "scrub"}}
	if !slices.Equal(lost, want) {
		t.Errorf("ShardLost events = %+v, want %+v", lost, want)
	}
	for i, wantGone := range []bool{false, true, true} {
		_, err := n.StatShard(t.Context(), "scrub.0", i)
		if gone := errors.Is(err, node.ErrNotFound); gone != wantGone || (!wantGone && err != nil) {
			t.Errorf("StatShard(%d) after scrub = %v, want gone: %v", i, err, wantGone)
		}
	}
}
