package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// auditCatalog opens a catalog on a fresh database with one stored asset.
func auditCatalog(tb testing.TB) (*Catalog, Manifest) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(tb.TempDir(), "offgrid.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	cat, err := OpenCatalog(ctx, db, time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	m := Manifest{AssetID: "abook", Owner: "o", Mode: "ec", K: 12, N: 20, ShardSize: 4096, State: StateStored}
	if err := cat.Create(ctx, m); err != nil {
		tb.Fatal(err)
	}
	return cat, m
}

func TestRecordShards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cat, m := auditCatalog(t)
	shard := []byte("shard bytes")
	rec := ShardRecord{Stripe: 3, Index: 7, Hash: "h", HostID: "host", Endpoint: "http://e", Live: true}
	addr := ShardAddr{AssetID: m.AssetID, Stripe: rec.Stripe, Index: rec.Index}
	// The second time is a resumed put acknowledging the shard again: the
	// record is replaced and the challenges stay within the cap.
	for range 2 {
		chs, err := NewChallenges(rand.Reader, shard, ChallengesPerShard)
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.RecordShards(ctx, m.AssetID, []AckedShard{{Record: rec, Challenges: chs}}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := cat.Shards(ctx, m.AssetID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0] != rec {
		t.Fatalf("Shards(%s) = %+v, want [%+v]", m.AssetID, recs, rec)
	}
	for i := range ChallengesPerShard {
		ch, ok, err := cat.TakeChallenge(ctx, addr)
		if err != nil || !ok {
			t.Fatalf("TakeChallenge #%d = %v, %v; want a challenge", i, ok, err)
		}
		if got, _ := AuditProof(ch.AuditAsk, bytes.NewReader(shard)); got != ch.Expected {
			t.Errorf("challenge #%d expects %s, the shard's proof is %s", i, ch.Expected, got)
		}
	}
	if _, ok, err := cat.TakeChallenge(ctx, addr); ok || err != nil {
		t.Errorf("TakeChallenge after %d = %v, %v; want none left", ChallengesPerShard, ok, err)
	}
}

// TestConcurrentChallengesKeepTheCap adds challenges for one shard from
// several goroutines at once (a put's acknowledgement, an audit's refill):
// the shard must end with at most ChallengesPerShard.
func TestConcurrentChallengesKeepTheCap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cat, m := auditCatalog(t)
	addr := ShardAddr{AssetID: m.AssetID, Stripe: 0, Index: 1}
	const adders = 16
	var wg sync.WaitGroup
	errs := make(chan error, adders)
	for range adders {
		wg.Go(func() {
			chs, err := NewChallenges(rand.Reader, []byte("bytes"), ChallengesPerShard)
			if err == nil {
				err = cat.AddChallenges(ctx, addr, chs)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for {
		_, ok, err := cat.TakeChallenge(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		n++
	}
	if n > ChallengesPerShard {
		t.Errorf("%d concurrent AddChallenges left %d challenges, want at most %d", adders, n, ChallengesPerShard)
	}
}

// BenchmarkShardBookkeeping is what the owner writes to its catalog for
// each acknowledged shard: its record and its audit challenges (made
// beforehand, outside the timing). base=row-by-row writes them as separate
// transactions, the record then the challenges.
func BenchmarkShardBookkeeping(b *testing.B) {
	chs, err := NewChallenges(rand.Reader, []byte("bytes"), ChallengesPerShard)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		record func(context.Context, *Catalog, string, ShardRecord) error
	}{
		{"base=row-by-row", func(ctx context.Context, c *Catalog, asset string, r ShardRecord) error {
			if err := c.RecordShard(ctx, asset, r); err != nil {
				return err
			}
			return c.AddChallenges(ctx, ShardAddr{AssetID: asset, Stripe: r.Stripe, Index: r.Index}, chs)
		}},
		{"one-tx", func(ctx context.Context, c *Catalog, asset string, r ShardRecord) error {
			return c.RecordShards(ctx, asset, []AckedShard{{Record: r, Challenges: chs}})
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cat, m := auditCatalog(b)
			ctx := b.Context()
			i := 0
			for b.Loop() {
				r := ShardRecord{Stripe: i / 20, Index: i % 20, Hash: "h", HostID: "host", Endpoint: "http://e", Live: true}
				if err := bc.record(ctx, cat, m.AssetID, r); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
