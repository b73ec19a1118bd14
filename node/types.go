package node

import (
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/assets"
	"github.com/offgrid-net/offgrid/node/peers"
)

// Info is a node's public identity.
type Info struct {
	// ID is the did:key of the node's Ed25519 key.
	ID identity.NodeID
	// Name is the human-readable name the operator chose.
	Name string
	// ClusterID names the community mesh this node belongs to.
	ClusterID string
	// Endpoint is the base URL other nodes use to reach this node's API.
	Endpoint string
	// VerifyKey is the lower-case hex Ed25519 public key.
	VerifyKey string
	// BoxKey is the lower-case hex X25519 public key.
	BoxKey string
	// Epoch counts this node's starts; node-to-node request signatures carry it.
	Epoch uint64
	// Started is when this run of the node began.
	Started time.Time
}

// Prices are what a host charges, in micro-credits.
type Prices struct {
	// Compute is the price of one compute unit (a million tokens).
	Compute int64
	// Storage is the price of storing one gigabyte.
	Storage int64
}

// Announce is what a host tells the mesh about its availability and prices.
type Announce struct {
	NodeID           identity.NodeID
	Name             string
	Endpoint         string
	Active           bool
	Prices           Prices
	MinOncallPercent int
	BurstPercentMax  int
	// UpdatedAt is when an operator last changed the settings.
	UpdatedAt time.Time
}

// AnnounceUpdate changes some announce settings; nil fields stay as they are.
type AnnounceUpdate struct {
	ComputePrice     *int64
	StoragePrice     *int64
	MinOncallPercent *int
	BurstPercentMax  *int
}

// Quote is a host's price for a job or a stored amount.
type Quote struct {
	NodeID identity.NodeID
	// Type is "compute" or "storage".
	Type string
	// Size is the quantity in micro-units (compute units or gigabyte-hours).
	Size int64
	// UnitPrice and Price are in micro-credits; Price = UnitPrice*Size, rounded up.
	UnitPrice int64
	Price     int64
}

// The peer table's and the asset service's types, as the API and the
// dashboard see them (packages node/peers and node/assets define them).
type (
	Peer         = peers.Peer
	PeerState    = peers.State
	PeerChanged  = peers.PeerChanged
	MeshMetrics  = peers.MeshMetrics
	MeshNeighbor = peers.MeshNeighbor
	MeshRoute    = peers.MeshRoute
	// PeerStateSpan is a stretch of time a peer spent in one state.
	PeerStateSpan = peers.StateSpan
	MeshChanged   = peers.MeshChanged
	Asset         = assets.Asset
	AssetState    = assets.State
	AssetChanged  = assets.AssetChanged
	AssetDeleted  = assets.AssetDeleted
	ShardCorrupt  = assets.ShardCorrupt
	UploadStalled = assets.UploadStalled
	PutOptions    = assets.PutOptions
	RepairReport  = assets.RepairReport
	DeleteReport  = assets.DeleteReport
	ShardPlace    = assets.ShardPlace
)

// Peer states.
const (
	PeerUnknown = peers.StateUnknown
	PeerUp      = peers.StateUp
	PeerDown    = peers.StateDown
)

// Asset states.
const (
	AssetPending  = assets.StatePending
	AssetStored   = assets.StateStored
	AssetDegraded = assets.StateDegraded
	AssetLost     = assets.StateLost
)
