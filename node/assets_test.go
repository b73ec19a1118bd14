package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
)

// TestLoneNodeStoresOnItself: a node with no way to reach others (no
// Connect) stores a file on itself through its local transport and reads
// it back; its own shards pass the same intake (ShardStored events).
func TestLoneNodeStoresOnItself(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	sub := n.Subscribe(64)
	defer sub.Close()

	want := make([]byte, 300<<10)
	rand.Read(want)
	a, err := n.PutAsset(t.Context(), bytes.NewReader(want), node.PutOptions{Name: "lone.bin", Size: int64(len(want)), Mode: "rep", R: 1})
	if err != nil {
		t.Fatalf("PutAsset on a lone node: %v", err)
	}
	if a.State != node.AssetStored || a.Hosts != 1 || a.MinLive() != 1 {
		t.Errorf("PutAsset() = %+v, want stored on 1 host with 1 live shard per stripe", a)
	}
	// The put has returned, so its events are already on the bus.
	stored := 0
	for stored < a.Stripes {
		select {
		case env, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription dropped before every ShardStored arrived")
			}
			if _, isShard := env.Event.(node.ShardStored); isShard {
				stored++
			}
		default:
			t.Fatalf("%d ShardStored events for %d stripes, want one per stripe (the node's own intake)", stored, a.Stripes)
		}
	}
	rc, _, err := n.OpenAsset(t.Context(), a.ID)
	if err != nil {
		t.Fatalf("OpenAsset: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("OpenAsset read %d bytes (err %v), want the %d bytes put", len(got), err, len(want))
	}

	// Switched off, the node is no host, not even for itself.
	if _, err := n.SetActive(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutAsset(t.Context(), bytes.NewReader(want[:10]), node.PutOptions{Name: "off.bin", Size: 10}); err == nil {
		t.Error("PutAsset on an inactive lone node succeeded, want an error (no hosts)")
	}
}

// TestOnePutPerContent: while a put of a file runs, a second put of the
// same content is refused with ErrConflict (both would write one
// manifest), and the first one completes.
func TestOnePutPerContent(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	data := make([]byte, 100<<10)
	rand.Read(data)
	sum := blake3.Sum256(data)
	opts := node.PutOptions{Name: "one.bin", Size: int64(len(data)), ContentHash: hex.EncodeToString(sum[:]), Mode: "rep", R: 1}

	pr, pw := io.Pipe()
	first := make(chan error, 1)
	go func() {
		_, err := n.PutAsset(t.Context(), pr, opts)
		first <- err
	}()
	// The first put is reading its body once it took these bytes.
	if _, err := pw.Write(data[:1024]); err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutAsset(t.Context(), bytes.NewReader(data), opts); !errors.Is(err, node.ErrConflict) {
		t.Errorf("second PutAsset of the same content while the first runs = %v, want ErrConflict", err)
	}
	if _, err := pw.Write(data[1024:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-first; err != nil {
		t.Fatalf("first PutAsset = %v, want success", err)
	}
	// Once it ended, the same put finds the file stored.
	a, err := n.PutAsset(t.Context(), bytes.NewReader(data), opts)
	if err != nil || a.State != node.AssetStored {
		t.Errorf("PutAsset after the first ended = %+v, %v; want the stored asset", a, err)
	}
}

// TestStalledUploadAlerts: a put whose client stops sending raises one
// UploadStalled alert on the bus after the stall age (not one per tick),
// and completes once the client goes on.
func TestStalledUploadAlerts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const age = 200 * time.Millisecond
	cfg := testConfig(dir)
	cfg.Assets.StallAge = age
	n, err := node.New(t.Context(), cfg, testKeys(t), db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	sub := n.Subscribe(256)
	defer sub.Close()
	stalls := func(within time.Duration) []node.UploadStalled {
		var out []node.UploadStalled
		end := time.After(within)
		for {
			select {
			case env := <-sub.C():
				if e, ok := env.Event.(node.UploadStalled); ok {
					out = append(out, e)
				}
			case <-end:
				return out
			}
		}
	}

	data := make([]byte, 100<<10)
	rand.Read(data)
	pr, pw := io.Pipe()
	put := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := n.PutAsset(t.Context(), pr, node.PutOptions{Name: "slow.bin", Size: int64(len(data)), Mode: "rep", R: 1})
		put <- err
	}()
	if _, err := pw.Write(data[:1024]); err != nil {
		t.Fatal(err)
	}
	got := stalls(6 * age)
	if len(got) != 1 || got[0].Name != "slow.bin" || got[0].Read != 1024 || got[0].Size != int64(len(data)) || got[0].AssetID == "" {
		t.Fatalf("alerts while the client sent nothing for %s: %+v, want one for slow.bin at 1024 bytes", time.Since(start), got)
	}
	if took := time.Since(start); took < age {
		t.Fatalf("alert after %s, before the stall age %s", took, age)
	}
	if _, err := pw.Write(data[1024:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-put; err != nil {
		t.Fatalf("the put after the client went on: %v", err)
	}
	if got := stalls(2 * age); len(got) != 0 {
		t.Fatalf("alerts after the put ended: %+v", got)
	}
}
