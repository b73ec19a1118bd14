// Package ledger owns usage receipts: their canonical encoding, signing and
// verification, the Merkle batches (RFC 6962) that commit a node to a run of
// its receipts, the inclusion proofs that let anyone check one receipt against
// a batch root, and the SQLite table that stores a node's own receipts.
//
// The package starts no goroutines. Everything except [Store] is plain
// functions over values.
//
// # Receipts
//
// A [Receipt] says that a node provided some amount of compute or storage for
// a job. The node numbers its receipts 1, 2, 3, ... ([Receipt.Seq]; the
// [Store] assigns the numbers) and signs each one. IssuedAt is informational:
// off-grid clocks drift, so no rule may depend on it.
//
// # Canonical encoding (version 1)
//
// A receipt is signed over its canonical bytes, never over JSON. The encoding
// covers every field except Signature, in this fixed order. All integers are
// big-endian. str(s) is a 4-byte unsigned length followed by the bytes of s
// (UTF-8, no terminator); list(xs) is a 4-byte unsigned count followed by
// str(x) for each x in order.
//
//	offset  size  field
//	0       4     magic "OGRC" (0x4f 0x47 0x52 0x43)
//	4       1     encoding version, 0x01
//	5       var   str(version)          "0.1"
//	        var   str(cluster_id)
//	        var   str(resource_type)    "compute" or "storage"
//	        var   str(job_id)
//	        8     units                 int64, micro-units (1 unit = 1_000_000)
//	        4     metric count          uint32
//	        var   metrics               per metric, in ascending byte order of
//	                                    key: str(key), then the value as the
//	                                    8-byte IEEE 754 binary64 bit pattern
//	        var   list(proofs)          in the receipt's order
//	        var   list(cids)            in the receipt's order
//	        8     seq                   uint64
//	        8     issued_at             int64, unix milliseconds
//	        var   str(node_id)          the did:key text
//	        32    verify_key            raw Ed25519 public key
//
// Because every variable-length field carries its length, two different
// receipts never share an encoding. Metric values must be finite; 0 and -0 are
// different values (their bit patterns differ, and JSON keeps the sign).
// Strings must be valid UTF-8, so that a JSON round trip cannot change them.
//
// # Version 2: consumer, unit price, acceptance
//
// A version 1 receipt names no consumer, so nobody can be charged for it and
// a host could mint money by signing receipts for itself. Version 2
// (Version "0.2", format byte 0x02) appends two fields after verify_key:
//
//	var   str(consumer_id)      the did:key of the node the work was for
//	8     unit_price            int64, micro-credits per unit
//
// Everything before them is laid out as in version 1. The receipt's ID
// ([Receipt.ID]) is SHA-256 of its canonical bytes: it names the receipt for
// payment and leaves out the host's signature (Ed25519 lets a signer make
// more than one valid signature of a message; a payment must not depend on
// which one travelled). The consumer accepts a receipt by signing
//
//	"offgrid/receipt-accept/v1" || 0x00 || ID
//
// with its own key ([Accept]); the lower-case hex signature is the field
// acceptance. Neither the host's signature nor the leaf hash covers the
// acceptance, so a receipt keeps its ID and its place in a batch when it is
// accepted. [Receipt.Verify] checks an acceptance when there is one;
// [Receipt.VerifyAccepted] also demands one. Only accepted version 2
// receipts may be paid; [Receipt.Reward] is units x unit_price / 10^6
// micro-credits, rounded down. Version 1 receipts keep verifying as before.
//
// # Signature
//
// Signature is the lower-case hex Ed25519 signature, by the key in
// verify_key, of
//
//	"offgrid/receipt/v1" || 0x00 || canonical bytes
//
// (see package identity). A receipt verifies when its fields are valid,
// node_id is the did:key of verify_key, and the signature checks.
//
// # JSON
//
// Receipts travel as JSON objects with the fields version, cluster_id,
// resource_type, job_id, units, metrics, proofs, cids, seq, issued_at,
// node_id, verify_key and signature; version 2 adds consumer_id, unit_price
// (a decimal string) and, once accepted, acceptance. units is a decimal string with at most
// six fractional digits ("0.1", "12"), never a JSON number. Empty lists and
// maps are written as [] and {}. Decoding refuses unknown fields, trailing
// data and documents larger than [MaxReceiptJSON].
//
// # Merkle batches
//
// Trees follow RFC 6962 (and RFC 9162) with SHA-256:
//
//	leaf hash  = SHA-256(0x00 || leaf data)
//	node hash  = SHA-256(0x01 || left || right)
//	empty tree = SHA-256("")
//
// A tree of n > 1 leaves splits at k, the largest power of two smaller than
// n: the root is node hash(root of the first k leaves, root of the rest).
//
// The leaf data of a receipt is its canonical bytes followed by the 64 raw
// bytes of its signature, so a batch root commits to the signatures as well
// as the contents ([Receipt.Leaf]).
//
// A [Batch] holds a contiguous run of one node's receipts (seq FromSeq to
// ToSeq, in ascending order, item i at leaf index i), the tree root, and each
// receipt's inclusion proof: the sibling hashes from the leaf up to the root,
// in lower-case hex. Batches travel as JSON (at most [MaxBatchJSON] bytes).
//
// # Blocks
//
// A [Block] commits its author to a run of its own receipts and links them
// into the cluster's DAG. Fields: version "0.1", cluster_id, author (node
// ID), height (the author's block counter: 1, 2, 3, ...), parents (block
// names, strictly ascending, at most [MaxBlockParents]), root (the RFC 6962
// root over the receipts' leaves, as in a batch) and receipts (at most
// [MaxBlockReceipts], all by the author, of the block's cluster, in
// strictly ascending seq). The author signs the header
//
//	"offgrid/block/v1" || 0x00 || "OGBK" 0x01 str(version) str(cluster_id)
//	    str(author) u64(height) u32(parent count) parents (32 bytes each)
//	    root (32 bytes) u32(receipt count)
//
// (integers big-endian, str as for receipts); the receipts are covered
// through the root, whose leaves include their signatures. A block's name
// is SHA-256(header || raw signature); parents name blocks by it, so the
// DAG is hash-linked and a block cannot be changed without changing the
// names of all its descendants.
//
// Rules a stored block keeps ([BlockStore.Add], beyond what [VerifyBlock]
// checks alone): every parent is stored (a block is never stored before
// its parents, so the store holds a closed DAG); for height h > 1 exactly
// one parent is the author's block h-1, and none at another height; the
// author has no other block at h (a fork is [ErrBlockConflict]); and its
// receipts come after those of the author's earlier blocks, so each
// receipt enters the DAG once. Blocks travel as JSON (at most
// [MaxBlockJSON] bytes), decoded strictly by [DecodeBlock].
//
// [BlockStore.Seal] makes the node's next block from its receipts that no
// block carries yet; its parents are the author's previous block and the
// newest other tips (blocks nobody names yet), which is the author's view
// of the DAG's tips.
//
// # Storage
//
// [Store] keeps the node's own receipts in the table ledger_receipts: the
// receipt's JSON plus seq, job_id, resource_type, units and issued_at
// columns for queries. [BlockStore] keeps the cluster's blocks in
// ledger_blocks (with the author, height and seq range as columns), their
// edges in ledger_block_parents and the current tips in ledger_block_tips.
// Migrations live in migrations/ and are applied by [OpenStore] and
// [OpenBlockStore].
package ledger
