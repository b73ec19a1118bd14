package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// newClockStore opens a shard store whose clock the test moves.
func newClockStore(t *testing.T, now *time.Time) (*ShardStore, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	shardDir := filepath.Join(dir, "shards")
	s, err := OpenShardStore(t.Context(), db, shardDir, func() time.Time { return *now })
	if err != nil {
		t.Fatalf("OpenShardStore: %v", err)
	}
	return s, shardDir
}

func putShard(t *testing.T, s *ShardStore, asset string, idx int, data, by string) {
	t.Helper()
	if _, err := s.Put(t.Context(), asset, idx, strings.NewReader(data), 1<<20, "", by); err != nil {
		t.Fatalf("Put %s/%d: %v", asset, idx, err)
	}
}

func stored(t *testing.T, s *ShardStore) []string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT asset_id || '/' || idx FROM storage_shards ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// TestClaimAndCollect walks a lease: only the storer's claim renews a
// shard, expired shards are collected but the admin's are kept, and a
// blob shared by two shards stays until the last one goes.
func TestClaimAndCollect(t *testing.T) {
	t.Parallel()
	now := storeClock
	s, dir := newClockStore(t, &now)
	putShard(t, s, "a.0", 0, "alpha", "node-a")
	putShard(t, s, "a.0", 1, "shared", "node-a")
	putShard(t, s, "b.0", 0, "shared", "node-b") // same bytes: one blob
	putShard(t, s, "adm.0", 0, "admin", "admin")

	now = now.Add(time.Hour)
	claims := []struct {
		by    string
		addrs []Addr
		want  int
	}{
		{"node-b", []Addr{{"a.0", 0}, {"a.0", 1}}, 0}, // not b's shards: left alone
		{"node-a", []Addr{{"a.0", 1}, {"missing.0", 3}}, 1},
		{"node-a", nil, 0},
	}
	for _, c := range claims {
		got, err := s.Claim(t.Context(), c.by, c.addrs)
		if err != nil || got != c.want {
			t.Errorf("Claim(%s, %v) = %d, %v; want %d", c.by, c.addrs, got, err, c.want)
		}
	}
	if _, err := s.Claim(t.Context(), "node-a", make([]Addr, MaxClaimBatch+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Claim of %d shards = %v, want ErrInvalid", MaxClaimBatch+1, err)
	}
	if _, err := s.Claim(t.Context(), "node-a", []Addr{{"..", 0}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Claim of a bad address = %v, want ErrInvalid", err)
	}

	// Cut off just after the stores: a.0/1 was claimed an hour later.
	removed, err := s.Collect(t.Context(), storeClock.Add(time.Minute), []string{"admin"}, 10)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	var names []string
	for _, sh := range removed {
		names = append(names, fmt.Sprintf("%s/%d", sh.AssetID, sh.Index))
	}
	slices.Sort(names)
	if want := []string{"a.0/0", "b.0/0"}; !slices.Equal(names, want) {
		t.Errorf("Collect removed %v, want %v", names, want)
	}
	if want := []string{"a.0/1", "adm.0/0"}; !slices.Equal(stored(t, s), want) {
		t.Errorf("left %v, want %v", stored(t, s), want)
	}
	// The shared blob stays for a.0/1; alpha's is gone.
	if got := len(files(t, dir, "blobs")); got != 2 {
		t.Errorf("%d blobs left, want 2 (shared, admin)", got)
	}
	n, b, err := s.Count(t.Context())
	if err != nil || n != 2 || b != int64(len("shared")+len("admin")) {
		t.Errorf("Count = %d, %d, %v; want 2 shards, %d bytes", n, b, err, len("shared")+len("admin"))
	}
	rc, _, err := s.Open(t.Context(), "a.0", 1)
	if err != nil {
		t.Fatalf("Open of the shard sharing a collected shard's blob: %v", err)
	}
	rc.Close()

	// Storing the same shard again renews it like a claim, but only for
	// its storer: node-b's identical upload leaves node-a's lease alone.
	now = now.Add(time.Hour)
	putShard(t, s, "adm.0", 0, "admin", "node-b")
	putShard(t, s, "a.0", 1, "shared", "node-a")
	if removed, err := s.Collect(t.Context(), now.Add(-time.Minute), nil, 10); err != nil || len(removed) != 1 || removed[0].AssetID != "adm.0" {
		t.Errorf("Collect with no one kept = %v, %v; want only the admin's older shard", removed, err)
	}
}

// TestShardDelete removes shards and their blobs, and reports a missing one.
func TestShardDelete(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	putShard(t, s, "x.0", 0, "same", "n")
	putShard(t, s, "y.0", 0, "same", "n")
	for _, tc := range []struct {
		asset     string
		wantErr   error
		wantBlobs int
	}{
		{"x.0", nil, 1},
		{"x.0", ErrNotFound, 1},
		{"y.0", nil, 0},
	} {
		_, err := s.Delete(t.Context(), tc.asset, 0)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Delete(%s) = %v, want %v", tc.asset, err, tc.wantErr)
		}
		if got := len(files(t, dir, "blobs")); got != tc.wantBlobs {
			t.Errorf("after Delete(%s): %d blobs, want %d", tc.asset, got, tc.wantBlobs)
		}
	}
	// The address is free again.
	putShard(t, s, "x.0", 0, "other bytes", "n")
	rc, _, err := s.Open(t.Context(), "x.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if buf.String() != "other bytes" {
		t.Errorf("read %q after re-put", buf.String())
	}
}

// TestForgetQueuesDeletions forgets an asset: its manifest and shard
// records go and a deletion per acknowledged shard is queued; done ones
// leave the queue, failed ones count attempts, and old ones expire.
func TestForgetQueuesDeletions(t *testing.T) {
	t.Parallel()
	now := storeClock
	c := newClockCatalog(t, &now)
	ctx := t.Context()
	m := Manifest{AssetID: "f1", Owner: "me", Name: "f", Size: 3, FileHash: strings.Repeat("0", 64), Mode: "ec",
		K: 1, N: 2, ShardSize: 4096, Stripes: 1, Keys: []WrappedKey{}, State: StateStored}
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	for i, host := range []string{"h1", "h2"} {
		if err := c.RecordShard(ctx, "f1", ShardRecord{Stripe: 0, Index: i, Hash: strings.Repeat("a", 64), HostID: host,
			Endpoint: "http://127.0.0.1:1", Live: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Forget(ctx, "f1", true); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if err := c.Forget(ctx, "f1", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Forget = %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, "f1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Forget = %v, want ErrNotFound", err)
	}
	if recs, err := c.Shards(ctx, "f1"); err != nil || len(recs) != 0 {
		t.Errorf("Shards after Forget = %v, %v; want none", recs, err)
	}
	ds, err := c.PendingDeletions(ctx, "", now.Add(-time.Hour), 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("PendingDeletions = %v, %v; want 2", ds, err)
	}
	if other, err := c.PendingDeletions(ctx, "other", now.Add(-time.Hour), 10); err != nil || len(other) != 0 {
		t.Errorf("PendingDeletions(other) = %v, %v; want none", other, err)
	}
	if err := c.DeletionDone(ctx, ds[0], true); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletionDone(ctx, ds[1], false); err != nil {
		t.Fatal(err)
	}
	ds, err = c.PendingDeletions(ctx, "f1", now.Add(-time.Hour), 10)
	if err != nil || len(ds) != 1 || ds[0].HostID != "h2" || ds[0].Attempts != 1 || ds[0].Addr != (ShardAddr{"f1", 0, 1}) {
		t.Errorf("after one done and one failed: %+v, %v; want h2's, tried once", ds, err)
	}
	// Past the grace period the host has collected it: the deletion expires.
	now = now.Add(2 * time.Hour)
	if ds, err := c.PendingDeletions(ctx, "", now.Add(-time.Hour), 10); err != nil || len(ds) != 0 {
		t.Errorf("PendingDeletions after expiry = %v, %v; want none", ds, err)
	}
}

// TestPendingDeletionsBounded fills the queue past MaxPendingDeletions:
// the oldest go.
func TestPendingDeletionsBounded(t *testing.T) {
	t.Parallel()
	now := storeClock
	c := newClockCatalog(t, &now)
	ctx := context.Background()
	if _, err := c.db.ExecContext(ctx, `WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < ?)
		INSERT INTO storage_deletions(host_id, endpoint, asset_id, stripe, idx, created_at)
		SELECT 'h', 'http://127.0.0.1:1', 'old' || x, 0, 0, ? FROM i`, MaxPendingDeletions-1, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	m := Manifest{AssetID: "new", Owner: "me", Name: "f", Size: 3, FileHash: strings.Repeat("0", 64), Mode: "ec",
		K: 1, N: 2, ShardSize: 4096, Stripes: 1, Keys: []WrappedKey{}, State: StateStored}
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.RecordShard(ctx, "new", ShardRecord{Index: i, Hash: strings.Repeat("a", 64), HostID: "h", Endpoint: "e", Live: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Forget(ctx, "new", true); err != nil {
		t.Fatal(err)
	}
	var n, fresh int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE asset_id = 'new') FROM storage_deletions`).Scan(&n, &fresh); err != nil {
		t.Fatal(err)
	}
	if n != MaxPendingDeletions || fresh != 2 {
		t.Errorf("queue holds %d deletions (%d of the newest asset), want %d with both", n, fresh, MaxPendingDeletions)
	}
}

func newClockCatalog(t *testing.T, now *time.Time) *Catalog {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := OpenCatalog(t.Context(), db, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return c
}
