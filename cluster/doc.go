// Package cluster owns the signed cluster document: which nodes belong to a
// cluster, who may change that, and the rule that decides whether one
// version of the document may replace another. It is plain logic over
// values (no I/O, no goroutines); node/trust keeps the current document and
// spreads it.
//
// # Document
//
// A [Document] names a cluster (a random 16-byte ID, shown as 32 hex
// digits), a serial that every change raises, the admins (Ed25519 node IDs)
// with a threshold (how many of them must sign a change), the members (node
// ID and name) and the revoked node IDs. A revoked node is never a member
// and never an admin. Admins need not be members: an admin key may live on
// a laptop that stores nothing.
//
// # Canonical encoding (version 1)
//
// The document is signed over its canonical body, never over JSON. All
// integers are big-endian; a key is the 32 raw bytes of an Ed25519 public
// key (the node ID is its did:key).
//
//	size  field
//	4     magic "OGCL"
//	1     encoding version, 0x01
//	16    cluster ID
//	8     serial                 uint64, >= 1
//	1     threshold              1..admin count
//	2     admin count            1..MaxAdmins
//	32*n  admin keys             strictly ascending
//	2     member count           0..MaxMembers
//	var   members                key (32), name length (1), name (1..64 bytes
//	                             of UTF-8), strictly ascending by key
//	2     revoked count          0..MaxRevoked
//	32*n  revoked keys           strictly ascending
//
// The signed document is the body followed by
//
//	1     signature count        0..MaxSignatures
//	96*n  signer key (32), Ed25519 signature (64), strictly ascending by key
//
// Each signature is over "offgrid/cluster/v1" || 0x00 || body (see package
// identity). Because lists are sorted and unique, every field has a fixed or
// length-prefixed size and nothing may follow the last signature, one
// document has exactly one encoding: [Parse] refuses anything else (unsorted
// or repeated keys, trailing bytes, overlong input, unknown versions, a
// signature that does not verify).
//
// # Version 2: the economy
//
// A document with an economy (at least one witness) has version byte 0x02
// and, after the revoked keys, the [Economy]:
//
//	8     epoch                  uint64, >= 1
//	2     witness count          1..MaxWitnesses
//	40*n  witnesses              key (32), weight (uint64, 1..MaxWeight),
//	                             strictly ascending by key; each a member
//	8     tx_fee_min             int64 micro-credits, >= 0
//	8     tx_fee_max             int64, tx_fee_min..MaxFee
//	2     host_reserve           basis points, 0..10000 (default 100: 1 %)
//	2     allocation count       0..MaxAllocs
//	40*n  genesis allocations    key (32), amount (int64 > 0), strictly
//	                             ascending; their sum at most MaxSupply
//
// A document without an economy is still written as version 1, so every
// document signed before version 2 keeps its bytes and signatures; a
// version-2 document without witnesses is refused as not canonical. A
// version-1 parser refuses version 2 rather than dropping fields it cannot
// check.
//
// # Validity and succession
//
// A document is valid on its own ([Document.Verify]) when at least
// threshold of its own admins signed it. A proposal is a document short of
// that: it travels so that other admins can co-sign ([Document.Sign]).
//
// [CheckSuccessor] decides whether next may replace current: the same
// cluster ID, a larger serial, valid on its own, and signed by at least
// current's threshold of current's admins. For the economy it also
// requires:
//
//   - the genesis (the first version with an economy, epoch 1) is signed by
//     every one of its witnesses, since each of them stakes its vote on it
//     ([Document.Verify] requires the same of a serial-1 document);
//   - the genesis allocations never change (that would create or destroy
//     money), and the economy is never removed;
//   - a change of the witnesses, their weights, the fee bounds or the host
//     reserve raises the epoch by exactly one and is signed by witnesses
//     holding more than 2/3 of the PREVIOUS epoch's weight (the new
//     weights do not count: otherwise a minority could vote itself a
//     majority); with none of those changes the epoch stays.
//
// [Document.WithEconomy] derives the next version and sets the epoch by
// these rules. The economy package reads the committee of an epoch from
// the document; finality uses these fixed weights, never the decaying
// quorums of package quorum.
//
// # Why membership cannot be forged
//
// A node installs a first document only when its operator hands it one
// (init, join) and it admits the node; after that it installs only
// successors. By induction every installed document was signed by a
// threshold of the admins of the document before it, so a change needs the
// private keys of that many current admins: a stranger's key, a removed
// admin's key or fewer than threshold admins cannot produce one (Ed25519 is
// unforgeable, and the domain prefix keeps signatures made for receipts or
// requests from counting here). Replaying an old document fails the serial
// check; a document of another cluster fails the ID check. An admin set
// can only be replaced by a threshold of the set it replaces, so a removed
// admin cannot come back alone.
package cluster
