package node

import (
	"time"

	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/events"
)

// Event, Envelope and Subscription are the event bus's types (package
// node/events); the engine's parts publish their own event types on it.
type (
	Event        = events.Event
	Envelope     = events.Envelope
	Subscription = events.Subscription
)

// EventHistorySize is how many of its newest events the node keeps for
// feeds opened after they happened.
const EventHistorySize = events.HistorySize

// ToggleChanged says the node was switched on or off.
type ToggleChanged struct {
	Active bool
}

// AnnounceChanged says prices or on-call settings changed.
type AnnounceChanged struct {
	Announce Announce
}

// ReceiptSigned says the node signed and stored a usage receipt.
type ReceiptSigned struct {
	Receipt ledger.Receipt
}

// ShardStored says the node stored a shard for another node.
type ShardStored struct {
	AssetID string
	Index   int
	Size    int64
	Hash    string
}

// ShardLost says a shard this node hosts was found missing or corrupt on
// its disk (by a read, a HEAD, an audit or the scrub) and quarantined: its
// owner's next audit or get finds it gone and repairs the file.
type ShardLost struct {
	AssetID string
	Index   int
	// FoundBy is what found it: "read" (a get or an audit reading it),
	// "check" (a HEAD) or "scrub".
	FoundBy string
}

// LoginRefused says the dashboard refused a login with a wrong admin
// token. The dashboard reports it (ReportLoginRefused): it owns the login
// form and its per-address back-off.
type LoginRefused struct {
	// Remote is the client address the attempt came from.
	Remote string
	// Failures is how many wrong tokens that address has sent in a row.
	Failures int
	// Backoff is how long that address is now refused without its token
	// being checked; zero while it still has free attempts.
	Backoff time.Duration
}

// Kind implements Event.
func (ToggleChanged) Kind() string { return "toggle" }

// Kind implements Event.
func (AnnounceChanged) Kind() string { return "announce" }

// Kind implements Event.
func (ReceiptSigned) Kind() string { return "receipt" }

// Kind implements Event.
func (ShardStored) Kind() string { return "shard" }

// Kind implements Event.
func (ShardLost) Kind() string { return "shard_lost" }

// Kind implements Event.
func (LoginRefused) Kind() string { return "login" }
