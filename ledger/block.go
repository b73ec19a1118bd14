package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
)

// BlockVersion is the block format version this package writes and accepts.
const BlockVersion = "0.1"

// BlockDomain is the signature domain of blocks (see package identity).
const BlockDomain = "offgrid/block/v1"

// Limits on blocks, enforced by DecodeBlock and VerifyBlock.
const (
	// MaxBlockParents is the most parents a block names. An author names
	// its own previous block and the other tips it knows, newest first, up
	// to this many; older tips are still reachable through later blocks.
	MaxBlockParents = 32
	// MaxBlockReceipts is the most receipts one block carries.
	MaxBlockReceipts = 256
	// MaxBlockJSON is the largest block JSON document DecodeBlock reads:
	// one block fits in one request body of the API (1 MiB).
	MaxBlockJSON = 1 << 20
)

// Errors about blocks. Every error from this package about a block wraps
// ErrInvalidBlock, ErrBadBlockSignature, ErrMissingParents or
// ErrBlockConflict (or a receipt's error for a bad receipt inside it).
var (
	// ErrInvalidBlock reports a block whose fields are malformed, out of
	// range or inconsistent (root, heights, receipts by another node).
	ErrInvalidBlock = errors.New("invalid block")
	// ErrBadBlockSignature reports a block not signed by its author.
	ErrBadBlockSignature = errors.New("bad block signature")
	// ErrMissingParents reports a block whose parents are not stored yet;
	// the caller fetches them and tries again (see MissingParentsError).
	ErrMissingParents = errors.New("block parents missing")
	// ErrBlockConflict reports a second, different block by one author at
	// one height: the author forked its own chain.
	ErrBlockConflict = errors.New("conflicting block")
)

// blockMagic starts the canonical encoding of a block header.
const (
	blockMagic  = "OGBK"
	blockFormat = 0x01
)

// A BlockName is the SHA-256 of a block's signed header; parents name
// blocks by it.
type BlockName [32]byte

// String returns the name in lower-case hex, as blocks and the API carry it.
func (n BlockName) String() string { return hex.EncodeToString(n[:]) }

// ParseBlockName parses a lower-case hex block name.
func ParseBlockName(s string) (BlockName, error) {
	var n BlockName
	raw, err := canon.LowerHex(s, 32)
	if err != nil {
		return n, fmt.Errorf("%w: block name: %w", ErrInvalidBlock, err)
	}
	copy(n[:], raw)
	return n, nil
}

// Block commits its author to a run of its own receipts and links them into
// the cluster's DAG: Height counts the author's blocks (1, 2, 3, ...),
// Parents name the author's previous block (for Height > 1) and the other
// tips it knew, and Root is the RFC 6962 root over the receipts' leaves.
type Block struct {
	Version   string          `json:"version"`
	ClusterID string          `json:"cluster_id"`
	Author    identity.NodeID `json:"author"`
	Height    uint64          `json:"height"`
	// Parents are block names in lower-case hex, strictly ascending.
	Parents []string `json:"parents"`
	// Root is the Merkle root of the receipts in lower-case hex.
	Root     string    `json:"root"`
	Receipts []Receipt `json:"receipts"`
	// Signature is the author's Ed25519 signature of the header, hex.
	Signature string `json:"signature"`
}

// NewBlock builds and signs the block of k's receipts (which must be valid,
// signed by k, of cluster and in ascending Seq order) at height with the
// given parents. It does not verify the receipts' signatures: they are the
// node's own, fresh from its Store.
func NewBlock(k *identity.Keys, cluster string, height uint64, parents []BlockName, receipts []Receipt) (Block, error) {
	ps := make([]string, len(parents))
	for i, p := range parents {
		ps[i] = p.String()
	}
	slices.Sort(ps)
	ps = slices.Compact(ps)
	b := Block{
		Version:   BlockVersion,
		ClusterID: cluster,
		Author:    k.ID(),
		Height:    height,
		Parents:   ps,
		Receipts:  slices.Clone(receipts),
	}
	if b.Receipts == nil {
		b.Receipts = []Receipt{}
	}
	root, err := receiptsRoot(b.Author, cluster, b.Receipts)
	if err != nil {
		return Block{}, err
	}
	b.Root = hex.EncodeToString(root[:])
	hdr, err := b.header()
	if err != nil {
		return Block{}, err
	}
	b.Signature = hex.EncodeToString(k.Sign(BlockDomain, hdr))
	return b, nil
}

// DecodeBlock parses a block from JSON (strictly: at most MaxBlockJSON
// bytes, no unknown fields, no trailing data) and checks its structure and
// Merkle root. It does not check signatures; VerifyBlock does.
func DecodeBlock(b []byte) (Block, error) {
	if len(b) > MaxBlockJSON {
		return Block{}, fmt.Errorf("%w: %d bytes of JSON, limit %d", ErrInvalidBlock, len(b), MaxBlockJSON)
	}
	var blk Block
	if err := canon.DecodeJSON(b, &blk); err != nil {
		return Block{}, fmt.Errorf("decode block: %w: %w", ErrInvalidBlock, err)
	}
	if err := blk.check(); err != nil {
		return Block{}, err
	}
	return blk, nil
}

// VerifyBlock checks everything about b that needs no other block: its
// structure, its root, the author's signature, and every receipt's
// signature. Errors wrap ErrInvalidBlock or ErrBadBlockSignature (and the
// receipt's error for a bad receipt).
func VerifyBlock(b Block) error {
	if err := b.check(); err != nil {
		return err
	}
	pub, err := b.Author.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: author: %w", ErrInvalidBlock, err)
	}
	hdr, err := b.header()
	if err != nil {
		return err
	}
	sig, err := canon.LowerHex(b.Signature, ed25519.SignatureSize)
	if err != nil {
		return fmt.Errorf("%w: signature: %w", ErrInvalidBlock, err)
	}
	if !identity.Verify(pub, BlockDomain, hdr, sig) {
		return fmt.Errorf("%w: block %d by %s", ErrBadBlockSignature, b.Height, b.Author)
	}
	var ids idCache
	for i, r := range b.Receipts {
		if _, err := r.verified(&ids); err != nil {
			return fmt.Errorf("%w: receipt %d (seq %d): %w", ErrInvalidBlock, i, r.Seq, err)
		}
	}
	return nil
}

// Name returns the block's name: SHA-256 of its header and raw signature.
// It is meaningful only for a block that passed DecodeBlock or NewBlock.
func (b Block) Name() BlockName {
	hdr, _ := b.header()
	sig, _ := hex.DecodeString(b.Signature)
	h := sha256.New()
	h.Write(hdr)
	h.Write(sig)
	var n BlockName
	h.Sum(n[:0])
	return n
}

// ParentNames returns the decoded parents (the block must have passed
// DecodeBlock or NewBlock).
func (b Block) ParentNames() []BlockName {
	out := make([]BlockName, len(b.Parents))
	for i, p := range b.Parents {
		raw, _ := hex.DecodeString(p)
		copy(out[i][:], raw)
	}
	return out
}

// Seqs returns the first and last receipt Seq of b (0, 0 when empty).
func (b Block) Seqs() (first, last uint64) {
	if len(b.Receipts) == 0 {
		return 0, 0
	}
	return b.Receipts[0].Seq, b.Receipts[len(b.Receipts)-1].Seq
}

// InclusionProof returns the audit path of receipt i against b.Root.
func (b Block) InclusionProof(i int) ([][32]byte, error) {
	leaves := make([][32]byte, len(b.Receipts))
	for j, r := range b.Receipts {
		l, err := r.Leaf()
		if err != nil {
			return nil, err
		}
		leaves[j] = l
	}
	return InclusionProof(leaves, i)
}

// header returns the canonical bytes the author signs:
//
//	"OGBK" 0x01 str(version) str(cluster_id) str(author) u64(height)
//	u32(parent count) 32-byte names... 32-byte root u32(receipt count)
func (b Block) header() ([]byte, error) {
	root, err := canon.LowerHex(b.Root, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: root: %w", ErrInvalidBlock, err)
	}
	out := make([]byte, 0, 128+32*len(b.Parents))
	out = append(out, blockMagic...)
	out = append(out, blockFormat)
	out = canon.AppendString(out, b.Version)
	out = canon.AppendString(out, b.ClusterID)
	out = canon.AppendString(out, string(b.Author))
	out = binary.BigEndian.AppendUint64(out, b.Height)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Parents)))
	for i, p := range b.Parents {
		raw, err := canon.LowerHex(p, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: parent %d: %w", ErrInvalidBlock, i, err)
		}
		out = append(out, raw...)
	}
	out = append(out, root...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Receipts)))
	return out, nil
}

// check checks everything but signatures: fields, bounds, parents in
// strictly ascending order, receipts by the author of the block's cluster
// in strictly ascending Seq order, and the root over them.
func (b Block) check() error {
	switch {
	case b.Version != BlockVersion:
		return fmt.Errorf("%w: version %q, want %q", ErrInvalidBlock, b.Version, BlockVersion)
	case b.ClusterID == "" || len(b.ClusterID) > MaxIDLen || !utf8.ValidString(b.ClusterID):
		return fmt.Errorf("%w: cluster_id must be 1-%d bytes of UTF-8", ErrInvalidBlock, MaxIDLen)
	case b.Height == 0 || b.Height > 1<<62:
		return fmt.Errorf("%w: height %d out of range", ErrInvalidBlock, b.Height)
	case len(b.Parents) > MaxBlockParents:
		return fmt.Errorf("%w: %d parents, at most %d", ErrInvalidBlock, len(b.Parents), MaxBlockParents)
	case len(b.Receipts) > MaxBlockReceipts:
		return fmt.Errorf("%w: %d receipts, at most %d", ErrInvalidBlock, len(b.Receipts), MaxBlockReceipts)
	case b.Parents == nil || b.Receipts == nil:
		return fmt.Errorf("%w: parents and receipts must be lists (possibly empty)", ErrInvalidBlock)
	case b.Height > 1 && len(b.Parents) == 0:
		return fmt.Errorf("%w: block %d names no parent (its author's previous block is one)", ErrInvalidBlock, b.Height)
	}
	if _, err := b.Author.PublicKey(); err != nil {
		return fmt.Errorf("%w: author: %w", ErrInvalidBlock, err)
	}
	if _, err := canon.LowerHex(b.Signature, ed25519.SignatureSize); err != nil {
		return fmt.Errorf("%w: signature: %w", ErrInvalidBlock, err)
	}
	for i, p := range b.Parents {
		if _, err := canon.LowerHex(p, 32); err != nil {
			return fmt.Errorf("%w: parent %d: %w", ErrInvalidBlock, i, err)
		}
		if i > 0 && p <= b.Parents[i-1] {
			return fmt.Errorf("%w: parents must be strictly ascending", ErrInvalidBlock)
		}
	}
	want, err := canon.LowerHex(b.Root, 32)
	if err != nil {
		return fmt.Errorf("%w: root: %w", ErrInvalidBlock, err)
	}
	root, err := receiptsRoot(b.Author, b.ClusterID, b.Receipts)
	if err != nil {
		return err
	}
	if string(root[:]) != string(want) {
		return fmt.Errorf("%w: root %s does not match the receipts (%x)", ErrInvalidBlock, b.Root, root)
	}
	return nil
}

// receiptsRoot checks that receipts are valid, by author, of cluster, in
// strictly ascending Seq order, and returns the Merkle root over them.
func receiptsRoot(author identity.NodeID, cluster string, receipts []Receipt) ([32]byte, error) {
	leaves := make([][32]byte, len(receipts))
	for i, r := range receipts {
		switch {
		case r.NodeID != author:
			return [32]byte{}, fmt.Errorf("%w: receipt %d (seq %d) is by %s, not the author %s", ErrInvalidBlock, i, r.Seq, r.NodeID, author)
		case r.ClusterID != cluster:
			return [32]byte{}, fmt.Errorf("%w: receipt %d (seq %d) is of cluster %q, not %q", ErrInvalidBlock, i, r.Seq, r.ClusterID, cluster)
		case i > 0 && r.Seq <= receipts[i-1].Seq:
			return [32]byte{}, fmt.Errorf("%w: receipt seqs must be strictly ascending", ErrInvalidBlock)
		}
		l, err := r.leaf(true)
		if err != nil {
			return [32]byte{}, fmt.Errorf("%w: receipt %d: %w", ErrInvalidBlock, i, err)
		}
		leaves[i] = l
	}
	return MerkleRoot(leaves), nil
}

// MissingParentsError lists the parents of a block that are not stored.
type MissingParentsError struct {
	Block   BlockName
	Missing []BlockName
}

func (e *MissingParentsError) Error() string {
	return fmt.Sprintf("%v: block %s lacks %d parent(s), first %s", ErrMissingParents, e.Block, len(e.Missing), e.Missing[0])
}

// Unwrap makes errors.Is(err, ErrMissingParents) hold.
func (e *MissingParentsError) Unwrap() error { return ErrMissingParents }
