// Package ledgersync is the engine's part that spreads the cluster's blocks
// (package ledger) between nodes and runs the store-and-forward outbox.
//
// # Blocks
//
// Every SealInterval the node puts its receipts that no block carries yet
// into its next block (ledger.BlockStore.Seal) and pushes it to the peers
// up (POST /gossip/append_block). Anti-entropy does the rest: every
// SyncInterval the node asks Fanout up peers (in turn) for their heads,
// each author's highest block (GET /gossip/blocks), pulls, page by page,
// only the blocks of each author above its own head for that author
// (GET /gossip/blocks?author=&after=), and pushes the blocks the peer's
// heads show it lacks, in the order they were stored here (parents first).
// Since an author's blocks form a chain (each names the author's previous
// block), "above the head" is exactly what a side lacks of that author:
// nothing is sent twice, and the exchange costs one small request when
// both sides agree. A node that knows a peer but is not known by it (a
// one-way static peer) still brings it up to date, by the push.
//
// A block whose parents are not stored yet is not dropped: it is held (at
// most MaxOrphans, each for OrphanTTL) and its missing parents are fetched
// by name (GET /gossip/block?name=) from the node it came from; when the
// last parent arrives the held block is stored, and so on up the DAG. The
// store only ever holds a closed DAG.
//
// Every block is verified before it is stored or held: the author's
// signature and every receipt's, the Merkle root, the cluster ID (the one
// in every receipt of this node) and the author's membership. A forged,
// malformed or foreign block is refused with nodeerr.ErrInvalid (400), a
// second block by one author at one height with nodeerr.ErrConflict
// (409), and nothing changes. Merge (offgrid ledger merge) is the same
// check over a set, stored all or nothing.
//
// # Store-and-forward
//
// The outbox (table ledgersync_outbox) holds items addressed to one node:
// a kind, a payload of at most MaxPayload bytes, and a lifetime. Other
// parts queue them with Send (certificates, witness requests, receipts,
// blocks) and register a Handler for the kinds they take. Every
// FlushInterval each item goes to its destination if that is up (POST
// /gossip/forward, node-signed, members only); otherwise it is handed
// once to every up peer that has not had it and is not where it came
// from. Such a carrier keeps it in its own outbox and delivers it when
// it meets the destination, or hands it on: a laptop walking from one
// village to the other is enough.
//
// Nothing is lost: an item leaves an outbox only when its destination
// took it (or refused it for good with a 4xx, logged) or its lifetime ran
// out (logged). Nothing is applied twice: every item has a content hash
// (Item.Hash, over destination, kind and payload), an outbox holds one
// copy per hash, and the destination records the hashes it handled
// (ledgersync_seen, until the item's lifetime ends, at most MaxSeen) and
// answers "duplicate" to later copies without handling them; handlers are
// idempotent besides (blocks are stored by name, certificates applied
// once). Lifetimes travel as remaining durations, so no rule depends on
// synchronized clocks.
//
// Bounds: MaxItems and MaxBytes per outbox (a full outbox refuses new items
// with 503 rather than dropping queued ones), flushBatch items per flush,
// MaxSeen seen hashes, MaxOrphans held blocks, MaxFetch blocks per peer and
// round, PageSize blocks per request.
package ledgersync
