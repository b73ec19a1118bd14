package storage

import (
	"bytes"
	"maps"
	"testing"
	"time"
)

// TestShardsExchangedWithAHost counts, on real SQLite, the live shards of
// this node's files one host holds (dead ones and other hosts' not
// counted) and the shards this node stores for one caller.
func TestShardsExchangedWithAHost(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c, err := OpenCatalog(t.Context(), s.db, func() time.Time { return storeClock })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Manifest{
		{AssetID: "a1", Owner: "me", Mode: "ec", K: 1, N: 3, ShardSize: 4096, Stripes: 1, State: StateStored},
		{AssetID: "a2", Owner: "me", Mode: "ec", K: 1, N: 2, ShardSize: 8192, Stripes: 2, State: StateStored},
	} {
		if err := c.Create(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		asset string
		ShardRecord
	}{
		{"a1", ShardRecord{Stripe: 0, Index: 0, HostID: "peer-b", Live: true}},
		{"a1", ShardRecord{Stripe: 0, Index: 1, HostID: "peer-b", Live: false}},
		{"a1", ShardRecord{Stripe: 0, Index: 2, HostID: "peer-c", Live: true}},
		{"a2", ShardRecord{Stripe: 0, Index: 0, HostID: "peer-b", Live: true}},
		{"a2", ShardRecord{Stripe: 1, Index: 0, HostID: "peer-b", Live: true}},
	} {
		if err := c.RecordShard(t.Context(), r.asset, r.ShardRecord); err != nil {
			t.Fatal(err)
		}
	}
	for i, by := range []string{"peer-b", "peer-b", "admin"} {
		if _, err := s.Put(t.Context(), "x1", i, bytes.NewReader(make([]byte, 100*(i+1))), 1<<20, "", by); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		host          string
		onHost        int
		onHostBytes   int64
		storedBy      int
		storedByBytes int64
	}{
		{"peer-b", 3, 4096 + 2*8192, 2, 300},
		{"peer-c", 1, 4096, 0, 0},
		{"admin", 0, 0, 1, 300},
		{"nobody", 0, 0, 0, 0},
	} {
		n, b, err := c.OnHost(t.Context(), tc.host)
		if err != nil || n != tc.onHost || b != tc.onHostBytes {
			t.Errorf("OnHost(%s) = %d, %d, %v; want %d, %d", tc.host, n, b, err, tc.onHost, tc.onHostBytes)
		}
		n, b, err = s.CountStoredBy(t.Context(), tc.host)
		if err != nil || n != tc.storedBy || b != tc.storedByBytes {
			t.Errorf("CountStoredBy(%s) = %d, %d, %v; want %d, %d", tc.host, n, b, err, tc.storedBy, tc.storedByBytes)
		}
	}
}

// TestHoldingsCountFromPlacement: an owner owes a host for a window only
// for live shards the host had when the window began. A record that keeps
// its host keeps its placement time; one that moves to another host (a
// repair) is placed anew.
func TestHoldingsCountFromPlacement(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := t0
	c, err := OpenCatalog(t.Context(), s.db, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(t.Context(), Manifest{AssetID: "a1", Owner: "me", Mode: "ec", K: 1, N: 3, ShardSize: 4096, Stripes: 1, State: StateStored}); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	step := func(d time.Duration, r ShardRecord) {
		t.Helper()
		now = at(d)
		if err := c.RecordShards(t.Context(), "a1", []AckedShard{{Record: r}}); err != nil {
			t.Fatal(err)
		}
	}
	holdingsAt := func(when time.Time) map[string]int64 {
		t.Helper()
		got, err := c.Holdings(t.Context(), when, time.Second, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("Holdings(%s) = %v, %v", when.Sub(t0), got, err)
		}
		return got[0]
	}
	check := func(when time.Time, want map[string]int64) {
		t.Helper()
		if got := holdingsAt(when); !maps.Equal(got, want) {
			t.Fatalf("Holdings(%s) = %v, want %v", when.Sub(t0), got, want)
		}
		// Several instants in one read are each what one instant is,
		// placements on an instant included: a minute apart up to when,
		// and 40 s apart across it.
		for _, step := range []time.Duration{time.Minute, 40 * time.Second} {
			from := when.Add(-3 * step)
			several, err := c.Holdings(t.Context(), from, step, 5)
			if err != nil || len(several) != 5 {
				t.Fatalf("Holdings(%s, %s, 5) = %v, %v", from.Sub(t0), step, several, err)
			}
			for i, got := range several {
				at := from.Add(time.Duration(i) * step)
				if want := holdingsAt(at); !maps.Equal(got, want) {
					t.Fatalf("Holdings(%s, %s, 5)[%d] = %v, alone %v", from.Sub(t0), step, i, got, want)
				}
			}
		}
	}
	step(0, ShardRecord{Stripe: 0, Index: 0, Hash: "h0", HostID: "peer-a", Live: true})
	step(0, ShardRecord{Stripe: 0, Index: 1, Hash: "h1", HostID: "peer-b", Live: true})
	step(time.Minute, ShardRecord{Stripe: 0, Index: 2, Hash: "h2", HostID: "peer-b", Live: true})
	check(at(-time.Second), map[string]int64{})
	check(at(0), map[string]int64{"peer-a": 4096, "peer-b": 4096})
	check(at(time.Minute), map[string]int64{"peer-a": 4096, "peer-b": 8192})

	// Recorded again on the same host (a revival, a forced repair's
	// check): still placed at 0.
	step(2*time.Minute, ShardRecord{Stripe: 0, Index: 0, Hash: "h0", HostID: "peer-a", Live: true})
	check(at(0), map[string]int64{"peer-a": 4096, "peer-b": 4096})
	// Moved to another host: placed when it moved.
	step(3*time.Minute, ShardRecord{Stripe: 0, Index: 1, Hash: "h1", HostID: "peer-c", Live: true})
	check(at(2*time.Minute), map[string]int64{"peer-a": 4096, "peer-b": 4096})
	check(at(3*time.Minute), map[string]int64{"peer-a": 4096, "peer-b": 4096, "peer-c": 4096})
	// A dead shard is owed nothing.
	now = at(4 * time.Minute)
	if err := c.SetLive(t.Context(), "a1", 0, 2, false); err != nil {
		t.Fatal(err)
	}
	check(at(4*time.Minute), map[string]int64{"peer-a": 4096, "peer-c": 4096})
	// A forgotten file is owed nothing.
	if err := c.Forget(t.Context(), "a1", true); err != nil {
		t.Fatal(err)
	}
	check(at(time.Hour), map[string]int64{})
	for _, bad := range []struct {
		step time.Duration
		n    int
	}{{time.Minute, 0}, {time.Microsecond, 3}, {-time.Minute, 3}} {
		if got, err := c.Holdings(t.Context(), t0, bad.step, bad.n); err == nil {
			t.Errorf("Holdings(%s, %d) = %v, want an error", bad.step, bad.n, got)
		}
	}
}
