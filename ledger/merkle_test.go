package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The certificate-transparency reference tree (RFC 6962 test vectors, as in
// transparency-dev/merkle testonly): leaf data, the root of the first n
// leaves for n = 0..8, and two audit paths.
var (
	ctLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	ctRoots  = []string{
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	ctPaths = []struct {
		index, size int
		proof       []string
	}{
		{0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{0, 1, []string{}},
	}
)

func ctLeafHashes(t *testing.T) [][32]byte {
	t.Helper()
	out := make([][32]byte, len(ctLeaves))
	for i, s := range ctLeaves {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = LeafHash(b)
	}
	return out
}

func hexHashes(hs [][32]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

func TestMerkleRootRFC6962Vectors(t *testing.T) {
	t.Parallel()
	leaves := ctLeafHashes(t)
	for n := 0; n <= len(leaves); n++ {
		root := MerkleRoot(leaves[:n])
		if got := hex.EncodeToString(root[:]); got != ctRoots[n] {
			t.Errorf("MerkleRoot(first %d CT leaves) = %s, want %s", n, got, ctRoots[n])
		}
	}
}

func TestInclusionProofRFC6962Vectors(t *testing.T) {
	t.Parallel()
	leaves := ctLeafHashes(t)
	for _, tt := range ctPaths {
		got, err := InclusionProof(leaves[:tt.size], tt.index)
		if err != nil {
			t.Fatalf("InclusionProof(size %d, %d) = %v", tt.size, tt.index, err)
		}
		if diff := cmp.Diff(tt.proof, hexHashes(got)); diff != "" {
			t.Errorf("InclusionProof(size %d, %d) mismatch (-want +got):\n%s", tt.size, tt.index, diff)
		}
		var root [32]byte
		hex.Decode(root[:], []byte(ctRoots[tt.size]))
		if err := VerifyInclusion(leaves[tt.index], tt.index, tt.size, got, root); err != nil {
			t.Errorf("VerifyInclusion(CT leaf %d, size %d) = %v, want nil", tt.index, tt.size, err)
		}
	}
}

// referenceRoot is RFC 6962's MTH, written as the recursion in section 2.1.
func referenceRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return NodeHash(referenceRoot(leaves[:k]), referenceRoot(leaves[k:]))
}

func syntheticLeaves(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = LeafHash([]byte{byte(i), byte(i * 7), 0x5a})
	}
	return out
}

func TestMerkleExhaustive(t *testing.T) {
	t.Parallel()
	const maxSize = 40
	all := syntheticLeaves(maxSize + 1)
	for size := 1; size <= maxSize; size++ {
		leaves := all[:size]
		root := MerkleRoot(leaves)
		if want := referenceRoot(leaves); root != want {
			t.Fatalf("MerkleRoot(size %d) = %x, want %x (RFC 6962 recursion)", size, root, want)
		}
		for i := range size {
			proof, err := InclusionProof(leaves, i)
			if err != nil {
				t.Fatalf("InclusionProof(size %d, %d) = %v", size, i, err)
			}
			if len(proof) != proofLen(i, size) {
				t.Errorf("proofLen(%d, %d) = %d, want %d", i, size, proofLen(i, size), len(proof))
			}
			if err := VerifyInclusion(leaves[i], i, size, proof, root); err != nil {
				t.Fatalf("VerifyInclusion(size %d, %d) = %v, want nil", size, i, err)
			}
			checkTampered(t, leaves, all[size], i, size, proof, root)
		}
	}
}

// pathShape says, for each hash of the audit path of leaf i in a tree of
// size n, whether the sibling is on the left.
func pathShape(i, n int) []bool {
	var shape []bool
	for n > 1 {
		if i^1 < n {
			shape = append(shape, i&1 == 1)
		}
		i >>= 1
		n = (n + 1) / 2
	}
	return shape
}

// checkTampered checks that no change to a valid proof still verifies.
func checkTampered(t *testing.T, leaves [][32]byte, outsider [32]byte, i, size int, proof [][32]byte, root [32]byte) {
	t.Helper()
	fail := func(what string, leaf [32]byte, index, sz int, p [][32]byte, r [32]byte) {
		t.Helper()
		if err := VerifyInclusion(leaf, index, sz, p, r); !errors.Is(err, ErrBadProof) {
			t.Errorf("VerifyInclusion(size %d, index %d, %s) = %v, want ErrBadProof", size, i, what, err)
		}
	}
	for j := range size {
		if j != i {
			fail("other index", leaves[i], j, size, proof, root)
			fail("other leaf", leaves[j], i, size, proof, root)
		}
	}
	fail("outsider leaf", outsider, i, size, proof, root)
	fail("index = size", leaves[i], size, size, proof, root)
	fail("negative index", leaves[i], -1, size, proof, root)
	// The root does not commit to the size: a proof also verifies for another
	// size in which the leaf's path has the same shape (batches pin the size
	// with len(Items)). Any other size must fail.
	for _, sz := range []int{size - 1, size + 1, size * 2, size + 7} {
		if sz <= i {
			continue
		}
		if !cmp.Equal(pathShape(i, sz), pathShape(i, size)) {
			fail("other size", leaves[i], i, sz, proof, root)
		} else if err := VerifyInclusion(leaves[i], i, sz, proof, root); err != nil {
			t.Errorf("VerifyInclusion(size %d as %d, index %d) = %v, want nil for the same path shape", size, sz, i, err)
		}
	}
	tamperedRoot := root
	tamperedRoot[31] ^= 1
	fail("tampered root", leaves[i], i, size, proof, tamperedRoot)
	for k := range proof {
		p := append([][32]byte(nil), proof...)
		p[k][0] ^= 0x80
		fail("flipped hash", leaves[i], i, size, p, root)
		fail("dropped hash", leaves[i], i, size, append(append([][32]byte(nil), proof[:k]...), proof[k+1:]...), root)
	}
	if len(proof) >= 2 {
		p := append([][32]byte(nil), proof...)
		p[0], p[1] = p[1], p[0]
		if p[0] != p[1] {
			fail("swapped hashes", leaves[i], i, size, p, root)
		}
	}
	fail("extra hash", leaves[i], i, size, append(append([][32]byte(nil), proof...), root), root)
	fail("root as proof", root, 0, 1, nil, MerkleRoot(nil))
}

func TestInclusionProofOutOfRange(t *testing.T) {
	t.Parallel()
	leaves := syntheticLeaves(3)
	for _, i := range []int{-1, 3, 100} {
		if _, err := InclusionProof(leaves, i); !errors.Is(err, ErrBadProof) {
			t.Errorf("InclusionProof(size 3, %d) = %v, want ErrBadProof", i, err)
		}
	}
	if _, err := InclusionProof(nil, 0); !errors.Is(err, ErrBadProof) {
		t.Errorf("InclusionProof(empty, 0) = %v, want ErrBadProof", err)
	}
	if err := VerifyInclusion(leaves[0], 0, 0, nil, MerkleRoot(nil)); !errors.Is(err, ErrBadProof) {
		t.Errorf("VerifyInclusion(size 0) = %v, want ErrBadProof", err)
	}
}

func TestHashPrefixes(t *testing.T) {
	t.Parallel()
	// A leaf hash and a node hash over the same bytes must differ (second
	// preimage resistance of RFC 6962).
	l, r := LeafHash([]byte("a")), LeafHash([]byte("b"))
	asLeaf := LeafHash(append(l[:], r[:]...))
	if asLeaf == NodeHash(l, r) {
		t.Errorf("LeafHash(l||r) = NodeHash(l, r) = %x", asLeaf)
	}
	if got, want := LeafHash(nil), sha256.Sum256([]byte{0}); got != want {
		t.Errorf("LeafHash(nil) = %x, want %x", got, want)
	}
}
