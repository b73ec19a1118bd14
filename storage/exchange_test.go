package storage

import (
	"bytes"
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
