package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/offgrid-net/offgrid/identity"
)

func mustBlock(t testing.TB, k *identity.Keys, cluster string, height uint64, parents []BlockName, rs []Receipt) Block {
	t.Helper()
	b, err := NewBlock(k, cluster, height, parents, rs)
	if err != nil {
		t.Fatalf("NewBlock() = %v", err)
	}
	return b
}

func TestBlockRoundTrip(t *testing.T) {
	k := testKeys(t, 1)
	rs := signedRun(t, k, 1, 5)
	b := mustBlock(t, k, "valley-1", 1, nil, rs)
	if err := VerifyBlock(b); err != nil {
		t.Fatalf("VerifyBlock(fresh block) = %v", err)
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeBlock(js)
	if err != nil {
		t.Fatalf("DecodeBlock(%s) = %v", js, err)
	}
	if diff := cmp.Diff(b, d, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("decoded block differs (-want +got):\n%s", diff)
	}
	if d.Name() != b.Name() {
		t.Fatalf("name changed in a round trip")
	}
	for i := range rs {
		proof, err := b.InclusionProof(i)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := rs[i].Leaf()
		root, _ := ParseBlockName(b.Root)
		if err := VerifyInclusion(leaf, i, len(rs), proof, root); err != nil {
			t.Fatalf("receipt %d: inclusion proof against the block root: %v", i, err)
		}
	}
}

// TestBlockRefused changes one thing in a signed block at a time: each
// change is refused with the named error.
func TestBlockRefused(t *testing.T) {
	k, other := testKeys(t, 1), testKeys(t, 2)
	good := mustBlock(t, k, "valley-1", 2, []BlockName{{0xab}}, signedRun(t, k, 1, 3))
	foreignRs := signedRun(t, other, 1, 1)
	tests := []struct {
		name   string
		change func(b *Block)
		want   error
	}{
		{"height changed", func(b *Block) { b.Height = 3 }, ErrBadBlockSignature},
		{"cluster changed", func(b *Block) { b.ClusterID = "valley-2" }, ErrInvalidBlock},
		{"receipt dropped", func(b *Block) { b.Receipts = b.Receipts[:2] }, ErrInvalidBlock},
		{"receipt of another node", func(b *Block) { b.Receipts[0] = foreignRs[0] }, ErrInvalidBlock},
		{"receipt forged", func(b *Block) { b.Receipts[1].JobID = "job-zz" }, ErrInvalidBlock},
		{"parent added", func(b *Block) { b.Parents = append(b.Parents, strings.Repeat("f", 64)) }, ErrBadBlockSignature},
		{"parents out of order", func(b *Block) {
			b.Parents = []string{strings.Repeat("f", 64), strings.Repeat("0", 64)}
		}, ErrInvalidBlock},
		{"upper-case parent", func(b *Block) { b.Parents[0] = strings.ToUpper(b.Parents[0]) }, ErrInvalidBlock},
		{"author replaced", func(b *Block) { b.Author = other.ID() }, ErrInvalidBlock},
		{"height zero", func(b *Block) { b.Height = 0 }, ErrInvalidBlock},
		{"no parent above height 1", func(b *Block) { b.Parents = []string{} }, ErrInvalidBlock},
		{"signature of another key", func(b *Block) {
			s := mustBlock(t, other, "valley-1", 2, []BlockName{{1}}, nil)
			b.Signature = s.Signature
		}, ErrBadBlockSignature},
		{"version", func(b *Block) { b.Version = "0.2" }, ErrInvalidBlock},
		{"nil receipts", func(b *Block) { b.Receipts = nil }, ErrInvalidBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := good
			b.Parents = append([]string(nil), good.Parents...)
			b.Receipts = append([]Receipt(nil), good.Receipts...)
			tt.change(&b)
			if err := VerifyBlock(b); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBlock() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeBlockStrict(t *testing.T) {
	k := testKeys(t, 1)
	js, _ := json.Marshal(mustBlock(t, k, "valley-1", 1, nil, signedRun(t, k, 1, 1)))
	for name, in := range map[string]string{
		"unknown field": strings.Replace(string(js), `{"version"`, `{"x":1,"version"`, 1),
		"trailing data": string(js) + "{}",
		"too large":     strings.Repeat(" ", MaxBlockJSON+1),
		"null":          "null",
	} {
		if _, err := DecodeBlock([]byte(in)); !errors.Is(err, ErrInvalidBlock) {
			t.Errorf("%s: DecodeBlock() = %v, want ErrInvalidBlock", name, err)
		}
	}
}

func openTestBlocks(t testing.TB) (*BlockStore, *Store) {
	t.Helper()
	db := openTestDB(t)
	rs, err := OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := OpenBlockStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return bs, rs
}

func TestBlockStoreDAG(t *testing.T) {
	ctx := context.Background()
	a, b := testKeys(t, 1), testKeys(t, 2)
	store, _ := openTestBlocks(t)
	a1 := mustBlock(t, a, "valley-1", 1, nil, signedRun(t, a, 1, 2))
	b1 := mustBlock(t, b, "valley-1", 1, nil, signedRun(t, b, 1, 1))
	a2 := mustBlock(t, a, "valley-1", 2, []BlockName{a1.Name(), b1.Name()}, signedRun(t, a, 3, 1))

	var mp *MissingParentsError
	if _, err := store.Add(ctx, a2); !errors.As(err, &mp) || len(mp.Missing) != 2 {
		t.Fatalf("Add(a2 before its parents) = %v, want both parents missing", err)
	}
	if n, _ := store.Count(ctx); n != 0 {
		t.Fatalf("a refused block was stored (%d blocks)", n)
	}
	for _, blk := range []Block{a1, b1, a2} {
		if added, err := store.Add(ctx, blk); err != nil || !added {
			t.Fatalf("Add(%d by %s) = %v, %v", blk.Height, blk.Author, added, err)
		}
	}
	if added, err := store.Add(ctx, a2); err != nil || added {
		t.Fatalf("Add(a2 again) = %v, %v; want false, nil", added, err)
	}
	tips, err := store.Tips(ctx)
	if err != nil || len(tips) != 1 || tips[0] != a2.Name() {
		t.Fatalf("Tips() = %v, %v; want only a2", tips, err)
	}
	heads, err := store.Heads(ctx)
	if err != nil || len(heads) != 2 {
		t.Fatalf("Heads() = %v, %v", heads, err)
	}
	for _, h := range heads {
		want := map[string]uint64{string(a.ID()): 2, string(b.ID()): 1}[string(h.Author)]
		if h.Height != want {
			t.Errorf("head of %s at %d, want %d", h.Author, h.Height, want)
		}
	}
	got, err := store.ByAuthor(ctx, a.ID(), 1, 10)
	if err != nil || len(got) != 1 || got[0].Name() != a2.Name() {
		t.Fatalf("ByAuthor(a, after 1) = %v, %v", got, err)
	}

	refused := []struct {
		name  string
		block Block
		want  error
	}{
		{"fork at height 2", mustBlock(t, a, "valley-1", 2, []BlockName{a1.Name()}, signedRun(t, a, 3, 1)), ErrBlockConflict},
		{"skips its own previous block", mustBlock(t, a, "valley-1", 3, []BlockName{b1.Name()}, signedRun(t, a, 4, 1)), ErrInvalidBlock},
		{"own parent at a wrong height", mustBlock(t, a, "valley-1", 3, []BlockName{a1.Name()}, signedRun(t, a, 4, 1)), ErrInvalidBlock},
		{"receipt already in the chain", mustBlock(t, a, "valley-1", 3, []BlockName{a2.Name()}, signedRun(t, a, 2, 2)), ErrInvalidBlock},
		{"height 1 naming its own block", mustBlock(t, b, "valley-1", 1, []BlockName{b1.Name()}, nil), ErrInvalidBlock},
	}
	for _, tt := range refused {
		if _, err := store.Add(ctx, tt.block); !errors.Is(err, tt.want) {
			t.Errorf("%s: Add() = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n, _ := store.Count(ctx); n != 3 {
		t.Fatalf("refused blocks changed the store: %d blocks, want 3", n)
	}
}

func TestBlockStoreAddAllIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	a := testKeys(t, 1)
	src, _ := openTestBlocks(t)
	var chain []Block
	var prev []BlockName
	for h := uint64(1); h <= 4; h++ {
		blk := mustBlock(t, a, "valley-1", h, prev, signedRun(t, a, h, 1))
		if _, err := src.Add(ctx, blk); err != nil {
			t.Fatal(err)
		}
		chain, prev = append(chain, blk), []BlockName{blk.Name()}
	}
	dst, _ := openTestBlocks(t)
	// Without block 1 nothing may be stored.
	if _, err := dst.AddAll(ctx, []Block{chain[3], chain[2], chain[1]}); !errors.Is(err, ErrMissingParents) {
		t.Fatalf("AddAll(without the root) = %v, want ErrMissingParents", err)
	}
	if n, _ := dst.Count(ctx); n != 0 {
		t.Fatalf("a refused merge stored %d blocks", n)
	}
	// Any order is fine when the set is closed.
	if n, err := dst.AddAll(ctx, []Block{chain[3], chain[1], chain[0], chain[2]}); err != nil || n != 4 {
		t.Fatalf("AddAll(closed set, shuffled) = %d, %v", n, err)
	}
	if n, err := dst.AddAll(ctx, chain); err != nil || n != 0 {
		t.Fatalf("AddAll(again) = %d, %v; want 0 new", n, err)
	}
	tips, _ := dst.Tips(ctx)
	if len(tips) != 1 || tips[0] != chain[3].Name() {
		t.Fatalf("Tips() after a shuffled merge = %v, want the last block", tips)
	}
}

func TestSealCarriesEachReceiptOnce(t *testing.T) {
	ctx := context.Background()
	k, other := testKeys(t, 1), testKeys(t, 2)
	blocks, receipts := openTestBlocks(t)
	if _, ok, err := blocks.Seal(ctx, k, "valley-1", 10); err != nil || ok {
		t.Fatalf("Seal(no receipts) = %v, %v; want nothing", ok, err)
	}
	for i := range 25 {
		r := sampleReceipt()
		r.JobID = "job-" + string(rune('a'+i))
		if _, err := receipts.SignAndAppend(ctx, k, r); err != nil {
			t.Fatal(err)
		}
	}
	ob := mustBlock(t, other, "valley-1", 1, nil, nil)
	if _, err := blocks.Add(ctx, ob); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	for h := uint64(1); ; h++ {
		b, ok, err := blocks.Seal(ctx, k, "valley-1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if b.Height != h {
			t.Fatalf("sealed height %d, want %d", b.Height, h)
		}
		if h == 1 && (len(b.Parents) != 1 || b.Parents[0] != ob.Name().String()) {
			t.Fatalf("first block's parents = %v, want the other author's tip", b.Parents)
		}
		if err := VerifyBlock(b); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Receipts {
			seen = append(seen, r.Seq)
		}
	}
	if len(seen) != 25 || seen[0] != 1 || seen[24] != 25 {
		t.Fatalf("sealed receipts %v, want 1..25 once each", seen)
	}
}

// TestAddManyStoresWhatItCan: in one call, blocks whose parents are there
// (also earlier in the call) are stored; the others are refused each with
// its reason, without undoing the rest.
func TestAddManyStoresWhatItCan(t *testing.T) {
	ctx := context.Background()
	a, b := testKeys(t, 1), testKeys(t, 2)
	store, _ := openTestBlocks(t)
	a1 := mustBlock(t, a, "valley-1", 1, nil, signedRun(t, a, 1, 1))
	a2 := mustBlock(t, a, "valley-1", 2, []BlockName{a1.Name()}, signedRun(t, a, 2, 1))
	b1 := mustBlock(t, b, "valley-1", 1, nil, signedRun(t, b, 1, 1))
	a3 := mustBlock(t, a, "valley-1", 3, []BlockName{a2.Name(), b1.Name()}, signedRun(t, a, 3, 1))
	fork := mustBlock(t, a, "valley-1", 2, []BlockName{a1.Name()}, signedRun(t, a, 5, 1))
	refused, added, err := store.AddMany(ctx, []Block{a1, a2, a3, fork, a1})
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, nil, ErrMissingParents, ErrBlockConflict, nil}
	wantAdded := []bool{true, true, false, false, false}
	for i := range want {
		if (want[i] == nil) != (refused[i] == nil) || (want[i] != nil && !errors.Is(refused[i], want[i])) || added[i] != wantAdded[i] {
			t.Errorf("block %d: refused %v added %v, want %v %v", i, refused[i], added[i], want[i], wantAdded[i])
		}
	}
	if n, _ := store.Count(ctx); n != 2 {
		t.Fatalf("stored %d blocks, want 2", n)
	}
}
