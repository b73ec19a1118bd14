package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrBadProof reports a Merkle inclusion proof, root or tree shape that does
// not check.
var ErrBadProof = errors.New("bad merkle proof")

// LeafHash returns the RFC 6962 hash of a leaf: SHA-256(0x00 || data).
func LeafHash(data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// NodeHash returns the RFC 6962 hash of an interior node:
// SHA-256(0x01 || l || r).
func NodeHash(l, r [32]byte) [32]byte {
	var buf [1 + 32 + 32]byte
	buf[0] = 0x01
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// MerkleRoot returns the RFC 6962 root of the tree whose leaf hashes are
// leaves (hashes made with LeafHash, not raw data). The root of the empty
// tree is SHA-256 of the empty string.
func MerkleRoot(leaves [][32]byte) [32]byte {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	lv := merkleLevels(leaves)
	return lv[len(lv)-1][0]
}

// merkleLevels returns every level of the tree over leaves (len > 0), from
// the leaves up to the one-element root level. Pairing neighbours level by
// level and carrying an odd last node up unhashed builds exactly the RFC 6962
// tree, whose left subtree is always the largest power of two.
func merkleLevels(leaves [][32]byte) [][][32]byte {
	levels := [][][32]byte{leaves}
	cur := leaves
	for len(cur) > 1 {
		next := make([][32]byte, (len(cur)+1)/2)
		for i := 0; i+1 < len(cur); i += 2 {
			next[i/2] = NodeHash(cur[i], cur[i+1])
		}
		if len(cur)%2 == 1 {
			next[len(next)-1] = cur[len(cur)-1]
		}
		levels = append(levels, next)
		cur = next
	}
	return levels
}

// proofFromLevels returns the inclusion proof of leaf index, leaf to root.
func proofFromLevels(levels [][][32]byte, index int) [][32]byte {
	var proof [][32]byte
	for _, level := range levels[:len(levels)-1] {
		if sib := index ^ 1; sib < len(level) {
			proof = append(proof, level[sib])
		}
		index >>= 1
	}
	return proof
}

// proofLen returns the length of the inclusion proof of leaf index in a tree
// of size leaves (0 <= index < size).
func proofLen(index, size int) int {
	n := 0
	for size > 1 {
		if index^1 < size {
			n++
		}
		index >>= 1
		size = (size + 1) / 2
	}
	return n
}

// InclusionProof returns the RFC 6962 audit path of leaves[index]: the
// sibling hashes from the leaf up to the root.
func InclusionProof(leaves [][32]byte, index int) ([][32]byte, error) {
	if index < 0 || index >= len(leaves) {
		return nil, fmt.Errorf("%w: index %d outside tree of size %d", ErrBadProof, index, len(leaves))
	}
	return proofFromLevels(merkleLevels(leaves), index), nil
}

// VerifyInclusion checks that leaf (a leaf hash) is at index in the tree of
// size leaves with the given root, using the algorithm of RFC 9162 section
// 2.1.3.2. Errors wrap ErrBadProof.
func VerifyInclusion(leaf [32]byte, index, size int, proof [][32]byte, root [32]byte) error {
	if size <= 0 || index < 0 || index >= size {
		return fmt.Errorf("%w: index %d outside tree of size %d", ErrBadProof, index, size)
	}
	fn, sn := uint64(index), uint64(size-1)
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: proof of %d hashes is too long for index %d in size %d", ErrBadProof, len(proof), index, size)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: proof of %d hashes is too short for index %d in size %d", ErrBadProof, len(proof), index, size)
	}
	if r != root {
		return fmt.Errorf("%w: computed root %x, want %x", ErrBadProof, r, root)
	}
	return nil
}
