package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// listingCatalog fills a fresh catalog with assets assets of up to 3
// stripes, random shard records and audits (seeded), every third asset
// holding the content of another, and one asset without records.
func listingCatalog(tb testing.TB, seed uint64, assets int) *Catalog {
	tb.Helper()
	ctx := context.Background()
	cat, _ := auditCatalog(tb)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range assets {
		m := Manifest{AssetID: fmt.Sprintf("a%04x", rng.IntN(1<<16)) + fmt.Sprint(i), Owner: "o", Mode: "ec", K: 2, N: 4,
			ShardSize: 4096, State: StateStored, FileHash: fmt.Sprintf("%064x", i/3), Stripes: 1 + rng.IntN(3)}
		if err := cat.Create(ctx, m); err != nil {
			tb.Fatal(err)
		}
		if i == 0 {
			continue
		}
		for stripe := range m.Stripes {
			for idx := range m.N {
				r := ShardRecord{Stripe: stripe, Index: idx, Hash: fmt.Sprintf("h%d", idx), HostID: fmt.Sprintf("host%d", rng.IntN(5)),
					Endpoint: "http://e", Live: rng.IntN(4) > 0}
				if err := cat.RecordShard(ctx, m.AssetID, r); err != nil {
					tb.Fatal(err)
				}
			}
		}
		for range rng.IntN(3) {
			if err := cat.RecordAudit(ctx, "host1", m.AssetID, rng.IntN(2) == 0); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return cat
}

// listedOneByOne is what EachListed replaces: a listing by Shards and
// AssetAudits of each manifest, in ID order.
func listedOneByOne(tb testing.TB, cat *Catalog, fileHash string) []Listed {
	tb.Helper()
	ctx := context.Background()
	ms, err := cat.List(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Listed
	for _, m := range ms {
		if fileHash != "" && m.FileHash != fileHash {
			continue
		}
		recs, err := cat.Shards(ctx, m.AssetID)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range recs {
			recs[i].Hash, recs[i].Endpoint = "", ""
		}
		passed, failed, err := cat.AssetAudits(ctx, m.AssetID)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Listed{Manifest: m, Shards: recs, AuditsPassed: passed, AuditsFailed: failed})
	}
	slices.SortFunc(out, func(a, b Listed) int { return strings.Compare(a.AssetID, b.AssetID) })
	return out
}

func eachListed(tb testing.TB, cat *Catalog, fileHash string) []Listed {
	tb.Helper()
	var out []Listed
	if err := cat.EachListed(context.Background(), fileHash, func(l Listed) error {
		out = append(out, l)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestEachListedMatchesOneByOne(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		cat := listingCatalog(t, seed, 40)
		for _, fileHash := range []string{"", fmt.Sprintf("%064x", 0), fmt.Sprintf("%064x", 5), fmt.Sprintf("%064x", 999)} {
			got, want := eachListed(t, cat, fileHash), listedOneByOne(t, cat, fileHash)
			if len(got) != len(want) {
				t.Fatalf("seed %d, file hash %.8s: %d assets listed, want %d", seed, fileHash, len(got), len(want))
			}
			for i := range want {
				if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
					t.Fatalf("seed %d, file hash %.8s, asset %d:\n got %+v\nwant %+v", seed, fileHash, i, got[i], want[i])
				}
			}
		}
	}
}

func TestEachListedStopsAtError(t *testing.T) {
	t.Parallel()
	cat := listingCatalog(t, 1, 5)
	stop := fmt.Errorf("stop")
	calls := 0
	err := cat.EachListed(t.Context(), "", func(Listed) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Fatalf("EachListed = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

// BenchmarkListing lists 1,000 assets of 2 stripes of 20 shards with
// EachListed, against the per-asset listing it replaced in the same run.
//
//	go test -run='^$' -bench=Listing ./storage/
func BenchmarkListing(b *testing.B) {
	cat, _ := auditCatalog(b)
	ctx := context.Background()
	for i := range 1000 {
		m := Manifest{AssetID: fmt.Sprintf("bench%04d", i), Owner: "o", Mode: "ec", K: 12, N: 20, ShardSize: 4096,
			State: StateStored, FileHash: fmt.Sprintf("%064x", i), Stripes: 2}
		if err := cat.Create(ctx, m); err != nil {
			b.Fatal(err)
		}
		acks := make([]AckedShard, 0, 40)
		for stripe := range 2 {
			for idx := range 20 {
				acks = append(acks, AckedShard{Record: ShardRecord{Stripe: stripe, Index: idx, Hash: "h", HostID: fmt.Sprintf("host%d", idx),
					Endpoint: "http://e", Live: true}})
			}
		}
		if err := cat.RecordShards(ctx, m.AssetID, acks); err != nil {
			b.Fatal(err)
		}
	}
	report := func(b *testing.B) {
		b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
	}
	b.Run("base=per-asset", func(b *testing.B) {
		for b.Loop() {
			listedOneByOne(b, cat, "")
		}
		report(b)
	})
	b.Run("each-listed", func(b *testing.B) {
		for b.Loop() {
			eachListed(b, cat, "")
		}
		report(b)
	})
}
