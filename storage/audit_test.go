package storage

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

func TestAuditProofNeedsTheBytes(t *testing.T) {
	t.Parallel()
	shard := bytes.Repeat([]byte{0x5a}, 70_000)
	seed := make([]byte, 64) // deterministic nonces: 0, 1, ... 63
	for i := range seed {
		seed[i] = byte(i)
	}
	chs, err := NewChallenges(bytes.NewReader(seed), shard, 2)
	if err != nil {
		t.Fatal(err)
	}
	if chs[0].Nonce == chs[1].Nonce {
		t.Fatal("two challenges share a nonce")
	}
	flipped := bytes.Clone(shard)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name  string
		nonce [32]byte
		bytes []byte
		want  bool // the proof matches the challenge's expected answer
	}{
		{"the shard, its nonce", chs[0].Nonce, shard, true},
		{"the shard, the other nonce", chs[1].Nonce, shard, false},
		{"one bit changed", chs[0].Nonce, flipped, false},
		{"cut short", chs[0].Nonce, shard[:len(shard)-1], false},
		{"nothing", chs[0].Nonce, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuditProof(tt.nonce, bytes.NewReader(tt.bytes))
			if err != nil {
				t.Fatal(err)
			}
			if (got == chs[0].Expected) != tt.want {
				t.Errorf("AuditProof(%x..., %d bytes) = %s, matches the expected %s: %v, want %v",
					tt.nonce[:4], len(tt.bytes), got, chs[0].Expected, !tt.want, tt.want)
			}
		})
	}
}

func TestChallengesAreUsedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := OpenCatalog(ctx, db, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{AssetID: "aaudit", Owner: "o", Mode: "ec", K: 1, N: 2, ShardSize: 4096, State: StateStored}
	if err := cat.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	addr := ShardAddr{AssetID: m.AssetID, Stripe: 0, Index: 1}
	shard := []byte("the shard's bytes")
	// Twice: the store keeps at most ChallengesPerShard.
	for range 2 {
		if err := cat.Challenge(ctx, addr, shard); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[[32]byte]bool{}
	for i := range ChallengesPerShard {
		ch, ok, err := cat.TakeChallenge(ctx, addr)
		if err != nil || !ok {
			t.Fatalf("TakeChallenge #%d = %v, %v; want a challenge", i, ok, err)
		}
		if seen[ch.Nonce] {
			t.Fatalf("TakeChallenge #%d returned a nonce already used", i)
		}
		seen[ch.Nonce] = true
		if got, _ := AuditProof(ch.Nonce, bytes.NewReader(shard)); got != ch.Expected {
			t.Errorf("challenge #%d expects %s, the shard's proof is %s", i, ch.Expected, got)
		}
	}
	if _, ok, err := cat.TakeChallenge(ctx, addr); ok || err != nil {
		t.Errorf("TakeChallenge after %d = %v, %v; want none left", ChallengesPerShard, ok, err)
	}
	// Other shards have their own.
	if _, ok, _ := cat.TakeChallenge(ctx, ShardAddr{AssetID: m.AssetID, Index: 0}); ok {
		t.Error("TakeChallenge(other shard) found a challenge never made for it")
	}
}

func TestAuditWeight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		failed int
		want   float64
	}{{0, 1}, {1, 0.5}, {3, 0.125}, {10, 1.0 / 1024}, {1000, 1.0 / 1024}} {
		if got := AuditWeight(tt.failed); got != tt.want {
			t.Errorf("AuditWeight(%d) = %v, want %v", tt.failed, got, tt.want)
		}
	}
}
