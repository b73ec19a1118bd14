package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/ledgersync"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Block sync and store-and-forward types (package node/ledgersync).
type (
	OutboxItem    = ledgersync.Item
	OutboxOutcome = ledgersync.Outcome
	QueuedItem    = ledgersync.Queued
	OutboxHandler = ledgersync.Handler
	BlockResult   = ledgersync.Result
)

// What AppendBlock did with a block.
const (
	BlockKnown  = ledgersync.Known
	BlockStored = ledgersync.Added
	BlockHeld   = ledgersync.Held
)

// MaxMergeBlocks bounds the blocks one merge takes (and one merge from a
// node's URL pulls).
const MaxMergeBlocks = 10000

// BlockAdded says a block was stored (sealed here, pulled, pushed,
// forwarded or merged).
type BlockAdded struct {
	Name     string
	Author   identity.NodeID
	Height   uint64
	Receipts int
}

// Kind implements Event.
func (BlockAdded) Kind() string { return "block" }

func (n *Node) newLedgerSync(ctx context.Context, remote ledgersync.Remote) error {
	blocks, err := ledger.OpenBlockStore(ctx, n.db)
	if err != nil {
		return err
	}
	n.blocks = blocks
	n.ledger, err = ledgersync.New(ctx, n.cfg.Ledger, ledgersync.Deps{
		DB:        n.db,
		Blocks:    blocks,
		Keys:      n.keys,
		ClusterID: n.receiptCluster,
		AuthorOK:  n.blockAuthorOK,
		Peers:     n.upMembers,
		Remote:    remote,
		Added: func(b ledger.Block) {
			n.bus.Publish(BlockAdded{Name: b.Name().String(), Author: b.Author, Height: b.Height, Receipts: len(b.Receipts)})
		},
		Logger: n.cfg.Logger,
		Now:    n.cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	return nil
}

// blockAuthorOK accepts blocks by this node and, in a cluster, by its
// members. A node running alone takes blocks of its cluster ID by anyone
// (only its admin can hand it blocks: it serves no node-signed request).
func (n *Node) blockAuthorOK(id identity.NodeID) bool {
	if id == n.info.ID {
		return true
	}
	if _, ok := n.trust.Document(); !ok {
		return true
	}
	return n.trust.IsMember(id)
}

// upMembers are the peers up whose ID is known (members, by construction
// of the peer table).
func (n *Node) upMembers(ctx context.Context) []ledgersync.Peer {
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil
	}
	var out []ledgersync.Peer
	for _, p := range ps {
		if p.State == PeerUp && p.ID != "" && p.ID != n.info.ID {
			out = append(out, ledgersync.Peer{ID: p.ID, Endpoint: p.Endpoint})
		}
	}
	return out
}

// BlockHeads returns the cluster ID the node keeps blocks of and each
// author's highest block.
func (n *Node) BlockHeads(ctx context.Context) (string, []ledger.Head, error) {
	if err := n.checkRunning(); err != nil {
		return "", nil, err
	}
	h, err := n.blocks.Heads(ctx)
	return n.receiptCluster(), h, err
}

// BlocksByAuthor returns up to limit (1-ledgersync.MaxPage) of author's
// blocks above height after, ascending.
func (n *Node) BlocksByAuthor(ctx context.Context, author identity.NodeID, after uint64, limit int) ([]ledger.Block, error) {
	if limit < 1 || limit > ledgersync.MaxPage {
		return nil, nodeerr.Invalidf("limit must be between 1 and %d", ledgersync.MaxPage)
	}
	if _, err := author.PublicKey(); err != nil {
		return nil, nodeerr.Invalidf("author: %v", err)
	}
	return n.blocks.ByAuthor(ctx, author, after, limit)
}

// Block returns the block named name (lower-case hex).
func (n *Node) Block(ctx context.Context, name string) (ledger.Block, error) {
	bn, err := ledger.ParseBlockName(name)
	if err != nil {
		return ledger.Block{}, nodeerr.Invalidf("%v", err)
	}
	b, err := n.blocks.Get(ctx, bn)
	if errors.Is(err, ledger.ErrBlockNotFound) {
		return ledger.Block{}, fmt.Errorf("%w: block %s", ErrNotFound, name)
	}
	return b, err
}

// RecentBlocks returns up to limit (1-1000) blocks stored before arrival
// number before (0: the newest), newest first, and the number of blocks.
func (n *Node) RecentBlocks(ctx context.Context, before int64, limit int) ([]ledger.StoredBlock, int, error) {
	if limit < 1 || limit > 1000 {
		return nil, 0, nodeerr.Invalidf("limit must be between 1 and 1000")
	}
	bs, err := n.blocks.Recent(ctx, before, limit)
	if err != nil {
		return nil, 0, err
	}
	count, err := n.blocks.Count(ctx)
	return bs, count, err
}

// AppendBlock takes a block pushed by the member from: it is stored, or
// held while its parents are fetched from from (ledgersync.Held).
func (n *Node) AppendBlock(ctx context.Context, from identity.NodeID, b ledger.Block) (BlockResult, error) {
	if err := n.checkRunning(); err != nil {
		return ledgersync.Known, err
	}
	ep := ""
	for _, p := range n.upMembers(ctx) {
		if p.ID == from {
			ep = p.Endpoint
		}
	}
	res, err := n.ledger.Offer(ctx, b, ep)
	if errors.Is(err, ledger.ErrMissingParents) {
		return ledgersync.Held, nil
	}
	return res, err
}

// MergeBlocks stores blocks (at most MaxMergeBlocks), all or nothing; see
// ledgersync.Service.Merge. It returns how many were new.
func (n *Node) MergeBlocks(ctx context.Context, blocks []ledger.Block) (int, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	if len(blocks) > MaxMergeBlocks {
		return 0, fmt.Errorf("%w: %d blocks, at most %d per merge", ErrTooLarge, len(blocks), MaxMergeBlocks)
	}
	return n.ledger.Merge(ctx, blocks)
}

// SealBlock puts the node's unsealed receipts into its next block now.
func (n *Node) SealBlock(ctx context.Context) (ledger.Block, bool, error) {
	if err := n.checkRunning(); err != nil {
		return ledger.Block{}, false, err
	}
	return n.ledger.Seal(ctx)
}

// SyncBlocks pulls from the node at endpoint the blocks this node lacks
// (one anti-entropy exchange, as the background rounds do).
func (n *Node) SyncBlocks(ctx context.Context, endpoint string) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	return n.ledger.SyncWith(ctx, endpoint)
}

// AcceptForward takes an outbox item forwarded by the member from.
func (n *Node) AcceptForward(ctx context.Context, from identity.NodeID, it OutboxItem) (OutboxOutcome, error) {
	if err := n.checkRunning(); err != nil {
		return "", err
	}
	return n.ledger.Accept(ctx, from, it)
}

// SendLater queues payload of kind for dest in the outbox: it is delivered
// when dest is up, directly or by a node that carries it. ttl 0 takes the
// default lifetime.
func (n *Node) SendLater(ctx context.Context, dest identity.NodeID, kind string, payload []byte, ttl time.Duration) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	return n.ledger.Send(ctx, dest, kind, payload, ttl)
}

// HandleForwarded registers the handler of outbox items of kind delivered
// to this node. Call it before Run.
func (n *Node) HandleForwarded(kind string, h OutboxHandler) { n.ledger.Handle(kind, h) }

// Outbox returns up to limit (1-1000) items waiting in the outbox.
func (n *Node) Outbox(ctx context.Context, limit int) ([]QueuedItem, error) {
	if limit < 1 || limit > 1000 {
		return nil, nodeerr.Invalidf("limit must be between 1 and 1000")
	}
	return n.ledger.Outbox(ctx, limit)
}

// MergeFrom pulls every block the node at endpoint holds (at most
// MaxMergeBlocks) and merges them as MergeBlocks does: all or nothing. It
// returns how many were new and how many were pulled.
func (n *Node) MergeFrom(ctx context.Context, endpoint string) (added, pulled int, err error) {
	if err := n.checkRunning(); err != nil {
		return 0, 0, err
	}
	bs, err := n.ledger.PullAll(ctx, endpoint, MaxMergeBlocks)
	if err != nil {
		return 0, 0, err
	}
	added, err = n.ledger.Merge(ctx, bs)
	return added, len(bs), err
}
