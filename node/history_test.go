package node_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/history"
)

// TestHistoryRecordsAndTrims records samples on a real node and database:
// each holds the shard bytes moved in its own interval, the shards hosted
// for others and the file system's figures, and samples older than Keep
// are deleted.
func TestHistoryRecordsAndTrims(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testutil.NewClock(testClock)
	cfg := testConfig(dir)
	cfg.Now = clock.Now
	cfg.History.Interval = -1 // the test records
	n, err := node.New(t.Context(), cfg, testKeys(t), db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	other := string(testKeys(t).ID())
	if _, err := n.StoreShard(ctx, "a1.0", 0, bytes.NewReader(make([]byte, 3000)), "", other); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()
	if err := n.RecordHistory(ctx); err != nil {
		t.Fatal(err)
	}
	rc, _, err := n.OpenShard(ctx, "a1.0", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	clock.Advance(time.Minute)
	if err := n.RecordHistory(ctx); err != nil {
		t.Fatal(err)
	}
	hist, err := n.History(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("%d samples, want 2", len(hist))
	}
	for i, want := range []struct {
		at      time.Time
		in, out int64
	}{{t0, 3000, 0}, {t0.Add(time.Minute), 0, 3000}} {
		h := hist[i]
		if !h.At.Equal(want.at) || h.BytesIn != want.in || h.BytesOut != want.out {
			t.Errorf("sample %d: at %v in %d out %d; want at %v in %d out %d", i, h.At, h.BytesIn, h.BytesOut, want.at, want.in, want.out)
		}
		if h.ShardsHosted != 1 || h.HostedBytes != 3000 || h.PeersTotal != 0 || h.FilesOwned != 0 {
			t.Errorf("sample %d: %+v; want 1 shard of 3000 bytes hosted, no peers, no files", i, h)
		}
		if h.DiskFree <= 0 || h.DiskUsed <= 0 {
			t.Errorf("sample %d: disk used %d free %d, want both positive", i, h.DiskUsed, h.DiskFree)
		}
	}
	// A week and 30 seconds after the first sample, it is gone and the
	// second (a minute younger) is kept.
	clock.Advance(history.DefaultConfig().Keep - time.Minute + 30*time.Second)
	if err := n.RecordHistory(ctx); err != nil {
		t.Fatal(err)
	}
	hist, err = n.History(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || !hist[0].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a week: samples %v, want the second and the new one", hist)
	}
	if recent, _ := n.History(ctx, clock.Now()); len(recent) != 1 {
		t.Errorf("History(since now) has %d samples, want 1", len(recent))
	}
}
