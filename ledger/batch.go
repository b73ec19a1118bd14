package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
)

// BatchVersion is the batch format version this package writes and accepts.
const BatchVersion = "0.1"

// MaxBatchJSON is the largest batch JSON document DecodeBatch reads.
const MaxBatchJSON = 64 << 20

// ErrInvalidBatch reports a batch whose shape is wrong: version, size,
// indices, sequence numbers or signer do not fit together.
var ErrInvalidBatch = errors.New("invalid batch")

// BatchItem is one receipt of a batch with its inclusion proof.
type BatchItem struct {
	// Receipt is the signed receipt.
	Receipt Receipt `json:"receipt"`
	// LeafIndex is the receipt's position in the tree, equal to its
	// position in Batch.Items.
	LeafIndex int `json:"leaf_index"`
	// Proof is the audit path in lower-case hex, leaf to root.
	Proof []string `json:"proof"`
}

// Batch commits one node to a contiguous run of its receipts (FromSeq to
// ToSeq) with an RFC 6962 Merkle root over their leaves (see Receipt.Leaf).
type Batch struct {
	// Version is the batch format version, BatchVersion.
	Version string `json:"version"`
	// NodeID is the node that signed every receipt.
	NodeID identity.NodeID `json:"node_id"`
	// Root is the Merkle root in lower-case hex.
	Root string `json:"root"`
	// Size is the number of leaves, len(Items).
	Size int `json:"size"`
	// FromSeq is the Seq of the first receipt.
	FromSeq uint64 `json:"from_seq"`
	// ToSeq is the Seq of the last receipt.
	ToSeq uint64 `json:"to_seq"`
	// Items are the receipts in ascending Seq order with their proofs.
	Items []BatchItem `json:"items"`
}

// NewBatch builds the batch of receipts, which must all be signed by node,
// valid, and have consecutive Seq numbers in ascending order. NewBatch does
// not verify the signatures (they are usually the node's own, fresh from the
// Store); VerifyBatch does.
func NewBatch(node identity.NodeID, receipts []Receipt) (Batch, error) {
	if len(receipts) == 0 {
		return Batch{}, fmt.Errorf("%w: no receipts", ErrInvalidBatch)
	}
	if _, err := node.PublicKey(); err != nil {
		return Batch{}, fmt.Errorf("%w: node: %w", ErrInvalidBatch, err)
	}
	leaves := make([][32]byte, len(receipts))
	for i, r := range receipts {
		if r.NodeID != node {
			return Batch{}, fmt.Errorf("%w: receipt %d (seq %d) is by %s, not %s", ErrInvalidBatch, i, r.Seq, r.NodeID, node)
		}
		if want := receipts[0].Seq + uint64(i); r.Seq != want {
			return Batch{}, fmt.Errorf("%w: receipt %d has seq %d, want %d (seqs must be consecutive and ascending)", ErrInvalidBatch, i, r.Seq, want)
		}
		leaf, err := r.leaf(false) // r.NodeID == node, which parses
		if err != nil {
			return Batch{}, fmt.Errorf("batch receipt %d (seq %d): %w", i, r.Seq, err)
		}
		leaves[i] = leaf
	}
	levels := merkleLevels(leaves)
	root := levels[len(levels)-1][0]
	b := Batch{
		Version: BatchVersion,
		NodeID:  node,
		Root:    hex.EncodeToString(root[:]),
		Size:    len(receipts),
		FromSeq: receipts[0].Seq,
		ToSeq:   receipts[len(receipts)-1].Seq,
		Items:   make([]BatchItem, len(receipts)),
	}
	// Hex-encode each level once; proof entries are substrings of it.
	hexLevels := make([]string, len(levels))
	for l, level := range levels {
		raw := make([]byte, 0, 32*len(level))
		for _, h := range level {
			raw = append(raw, h[:]...)
		}
		hexLevels[l] = hex.EncodeToString(raw)
	}
	for i, r := range receipts {
		var path []string
		for l, index := 0, i; l < len(levels)-1; l, index = l+1, index>>1 {
			if sib := index ^ 1; sib < len(levels[l]) {
				path = append(path, hexLevels[l][sib*64:sib*64+64])
			}
		}
		if path == nil {
			path = []string{}
		}
		b.Items[i] = BatchItem{Receipt: r, LeafIndex: i, Proof: path}
	}
	return b, nil
}

// DecodeBatch parses a batch from JSON (strictly: at most MaxBatchJSON
// bytes, no unknown fields, no trailing data) and checks its structure:
// version, node ID, size, indices, seq range, proof lengths and that every
// receipt is valid and by the batch's node. It does not check signatures or
// proofs; call VerifyBatch for that.
func DecodeBatch(b []byte) (Batch, error) {
	if len(b) > MaxBatchJSON {
		return Batch{}, fmt.Errorf("%w: %d bytes of JSON, limit %d", ErrInvalidBatch, len(b), MaxBatchJSON)
	}
	var batch Batch
	if err := canon.DecodeJSON(b, &batch); err != nil {
		if errors.Is(err, ErrInvalidReceipt) {
			return Batch{}, fmt.Errorf("decode batch: %w", err)
		}
		return Batch{}, fmt.Errorf("decode batch: %w: %w", ErrInvalidBatch, err)
	}
	if _, err := checkBatch(batch); err != nil {
		return Batch{}, err
	}
	return batch, nil
}

// VerifyBatch checks everything about b: its structure (as DecodeBatch),
// every receipt's signature, and every inclusion proof against Root. The
// error names the first item that failed and wraps ErrInvalidBatch,
// ErrInvalidReceipt, ErrBadSignature or ErrBadProof.
func VerifyBatch(b Batch) error {
	root, err := checkBatch(b)
	if err != nil {
		return err
	}
	var ids idCache
	for i, it := range b.Items {
		msg, err := it.Receipt.verified(&ids)
		if err != nil {
			return fmt.Errorf("batch item %d (seq %d): %w", i, it.Receipt.Seq, err)
		}
		sig, _ := hex.DecodeString(it.Receipt.Signature) // verified checked the form
		proof, err := decodeProof(it.Proof)
		if err != nil {
			return fmt.Errorf("batch item %d (seq %d): %w", i, it.Receipt.Seq, err)
		}
		if err := VerifyInclusion(LeafHash(append(msg, sig...)), i, b.Size, proof, root); err != nil {
			return fmt.Errorf("batch item %d (seq %d): %w", i, it.Receipt.Seq, err)
		}
	}
	return nil
}

// checkBatch checks the structure of b and returns its decoded root.
func checkBatch(b Batch) ([32]byte, error) {
	var root [32]byte
	if b.Version != BatchVersion {
		return root, fmt.Errorf("%w: version %q, want %q", ErrInvalidBatch, b.Version, BatchVersion)
	}
	if _, err := b.NodeID.PublicKey(); err != nil {
		return root, fmt.Errorf("%w: node_id: %w", ErrInvalidBatch, err)
	}
	raw, err := canon.LowerHex(b.Root, 32)
	if err != nil {
		return root, fmt.Errorf("%w: root: %w", ErrInvalidBatch, err)
	}
	copy(root[:], raw)
	if len(b.Items) == 0 {
		return root, fmt.Errorf("%w: no items", ErrInvalidBatch)
	}
	if b.Size != len(b.Items) {
		return root, fmt.Errorf("%w: size %d but %d items", ErrInvalidBatch, b.Size, len(b.Items))
	}
	if b.ToSeq < b.FromSeq || b.ToSeq-b.FromSeq != uint64(b.Size-1) {
		return root, fmt.Errorf("%w: seq range %d..%d does not hold %d items", ErrInvalidBatch, b.FromSeq, b.ToSeq, b.Size)
	}
	for i, it := range b.Items {
		r := it.Receipt
		if it.LeafIndex != i {
			return root, fmt.Errorf("%w: item %d has leaf_index %d", ErrInvalidBatch, i, it.LeafIndex)
		}
		if want := b.FromSeq + uint64(i); r.Seq != want {
			return root, fmt.Errorf("%w: item %d has seq %d, want %d", ErrInvalidBatch, i, r.Seq, want)
		}
		if r.NodeID != b.NodeID {
			return root, fmt.Errorf("%w: item %d (seq %d) is by %s, not %s", ErrInvalidBatch, i, r.Seq, r.NodeID, b.NodeID)
		}
		if err := r.validate(false); err != nil { // r.NodeID == b.NodeID, which parses
			return root, fmt.Errorf("batch item %d (seq %d): %w", i, r.Seq, err)
		}
		if want := proofLen(i, b.Size); len(it.Proof) != want {
			return root, fmt.Errorf("batch item %d (seq %d): %w: %d proof hashes, want %d", i, r.Seq, ErrBadProof, len(it.Proof), want)
		}
		if _, err := decodeProof(it.Proof); err != nil {
			return root, fmt.Errorf("batch item %d (seq %d): %w", i, r.Seq, err)
		}
	}
	return root, nil
}

func decodeProof(p []string) ([][32]byte, error) {
	out := make([][32]byte, len(p))
	for i, s := range p {
		raw, err := canon.LowerHex(s, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: proof hash %d: %w", ErrBadProof, i, err)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}
