package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

func TestAuditProofNeedsTheBytes(t *testing.T) {
	t.Parallel()
	shard := make([]byte, 3*ChallengeSpan+100)
	for i := range shard {
		shard[i] = byte(i * 7)
	}
	seed := make([]byte, 80) // deterministic draws: 0, 1, ... 79
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
	ch := chs[0]
	if ch.Length != ChallengeSpan || ch.Offset < 0 || ch.Offset+ch.Length > int64(len(shard)) {
		t.Fatalf("challenge range %d+%d, want %d bytes within the %d-byte shard", ch.Offset, ch.Length, ChallengeSpan, len(shard))
	}
	flip := func(at int64) []byte {
		b := bytes.Clone(shard)
		b[at] ^= 1
		return b
	}
	tests := []struct {
		name  string
		ask   AuditAsk
		bytes []byte
		want  bool // the proof matches the challenge's expected answer
	}{
		{"the shard, its challenge", ch.AuditAsk, shard, true},
		{"the other nonce", AuditAsk{Nonce: chs[1].Nonce, Offset: ch.Offset, Length: ch.Length}, shard, false},
		{"another range", AuditAsk{Nonce: ch.Nonce, Offset: ch.Offset + 1, Length: ch.Length}, shard, false},
		{"the whole shard", AuditAsk{Nonce: ch.Nonce}, shard, false},
		{"first byte of the range changed", ch.AuditAsk, flip(ch.Offset), false},
		{"last byte of the range changed", ch.AuditAsk, flip(ch.Offset + ch.Length - 1), false},
		// What a range challenge gives up: bytes outside the range are
		// not looked at (the full read, when challenges run out, is).
		{"a byte outside the range changed", ch.AuditAsk, flip((ch.Offset + ch.Length) % int64(len(shard))), true},
		{"only the range kept, at its place", ch.AuditAsk, append(make([]byte, ch.Offset), shard[ch.Offset:ch.Offset+ch.Length]...), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuditProof(tt.ask, bytes.NewReader(tt.bytes))
			if err != nil {
				t.Fatal(err)
			}
			if (got == ch.Expected) != tt.want {
				t.Errorf("AuditProof(%x... %d+%d, %d bytes) = %s, matches the expected %s: %v, want %v",
					tt.ask.Nonce[:4], tt.ask.Offset, tt.ask.Length, len(tt.bytes), got, ch.Expected, !tt.want, tt.want)
			}
		})
	}
}

// TestAuditProofRefusesBadRanges: a range the shard cannot hold, or out of
// bounds, is ErrInvalid and never a proof, whether the reader can seek or not.
func TestAuditProofRefusesBadRanges(t *testing.T) {
	t.Parallel()
	shard := bytes.Repeat([]byte{1}, 1000)
	for _, ask := range []AuditAsk{
		{Offset: 1000, Length: 1},
		{Offset: 2000, Length: 1},
		{Offset: 999, Length: 2},
		{Offset: 0, Length: 1001},
		{Offset: 5000},
		{Offset: -1, Length: 1},
		{Offset: 0, Length: -1},
		{Offset: maxAuditRange + 1, Length: 1},
		{Offset: 0, Length: maxAuditRange + 1},
	} {
		for _, r := range []io.Reader{bytes.NewReader(shard), io.MultiReader(bytes.NewReader(shard))} {
			if got, err := AuditProof(ask, r); !errors.Is(err, ErrInvalid) {
				t.Errorf("AuditProof(%d+%d) of a %d-byte shard (%T) = %q, %v; want ErrInvalid", ask.Offset, ask.Length, len(shard), r, got, err)
			}
		}
	}
	// The last byte, through a reader that cannot seek, is a proof.
	if _, err := AuditProof(AuditAsk{Offset: 999, Length: 1}, io.MultiReader(bytes.NewReader(shard))); err != nil {
		t.Errorf("AuditProof of the last byte: %v", err)
	}
}

// TestChallengesOfSmallShards: a shard shorter than ChallengeSpan is
// challenged whole; every range lies within its shard.
func TestChallengesOfSmallShards(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 4096, ChallengeSpan, ChallengeSpan + 1, 1 << 20} {
		shard := bytes.Repeat([]byte{9}, size)
		chs, err := NewChallenges(rand.Reader, shard, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			if ch.Length != int64(min(size, ChallengeSpan)) || ch.Offset < 0 || ch.Offset+ch.Length > int64(size) {
				t.Fatalf("a %d-byte shard got the range %d+%d", size, ch.Offset, ch.Length)
			}
			if got, err := AuditProof(ch.AuditAsk, bytes.NewReader(shard)); err != nil || got != ch.Expected {
				t.Fatalf("a %d-byte shard's challenge %d+%d: proof %s, %v; want %s", size, ch.Offset, ch.Length, got, err, ch.Expected)
			}
		}
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
		if got, _ := AuditProof(ch.AuditAsk, bytes.NewReader(shard)); got != ch.Expected {
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

// TestPutLeavesChallenges: every shard a put placed has ChallengesPerShard
// challenges, each answered by the bytes its host holds.
func TestPutLeavesChallenges(t *testing.T) {
	t.Parallel()
	tr := newMemTransport()
	hosts := memHosts(6)
	f := putFile(t, tr, hosts, 3, 6, 2*ChallengeSpan, 1<<20)
	if len(f.recs) != f.m.Stripes*6 {
		t.Fatalf("%d shard records, want %d", len(f.recs), f.m.Stripes*6)
	}
	byID := map[string]Candidate{}
	for _, h := range hosts {
		byID[h.ID] = h
	}
	for _, r := range f.recs {
		addr := ShardAddr{AssetID: f.m.AssetID, Stripe: r.Stripe, Index: r.Index}
		held, err := tr.GetShard(t.Context(), byID[r.HostID], addr, make([]byte, f.m.ShardSize))
		if err != nil {
			t.Fatal(err)
		}
		for i := range ChallengesPerShard {
			ch, ok, err := f.cat.TakeChallenge(t.Context(), addr)
			if err != nil || !ok {
				t.Fatalf("shard %d/%d: challenge #%d: %v, %v; want one", r.Stripe, r.Index, i, ok, err)
			}
			if got, err := AuditProof(ch.AuditAsk, bytes.NewReader(held)); err != nil || got != ch.Expected {
				t.Errorf("shard %d/%d: challenge %d+%d: the host's proof is %s (%v), want %s", r.Stripe, r.Index, ch.Offset, ch.Length, got, err, ch.Expected)
			}
		}
	}
}
