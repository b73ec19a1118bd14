package node

import (
	"time"

	"github.com/offgrid-net/offgrid/identity"
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
	// Size is the quantity in micro-units (compute units or gigabytes).
	Size int64
	// UnitPrice and Price are in micro-credits; Price = UnitPrice*Size, rounded up.
	UnitPrice int64
	Price     int64
}

// PeerState says how this node last found a peer.
type PeerState string

// Peer states.
const (
	PeerUnknown PeerState = "unknown"
	PeerUp      PeerState = "up"
	PeerDown    PeerState = "down"
)

// Peer is an entry in the node's peer table.
type Peer struct {
	// Endpoint is the peer's API base URL.
	Endpoint string
	// ID and Name are learned from the peer's announce; empty until first contact.
	ID   identity.NodeID
	Name string
	// Via says how the peer was last heard: "static" (configured and
	// polled), "udp", "lora", "ble", "bt_lr", "file" (beacons) or "gossip"
	// (membership).
	Via      string
	State    PeerState
	Active   bool
	LastSeen time.Time
	// Gossip is the peer's membership (memberlist) port, 0 if unknown.
	Gossip int
	// Static says the peer is configured, so it is polled and never forgotten.
	Static bool
	// MeshNeighbor says the peer's address is a direct neighbour in the
	// mesh routing daemon's view; PathMetric is the daemon's route metric
	// to it (lower is better), or -1 when the daemon knows no route. The
	// broker scores hosts with these, with the node's MeshOK.
	MeshNeighbor bool
	PathMetric   float64
}

// Shard describes a stored shard.
type Shard struct {
	AssetID string
	Index   int
	Size    int64
	// Hash is the lower-case hex BLAKE3-256 of the shard's bytes.
	Hash     string
	StoredAt time.Time
}

// MeshMetrics is the mesh health the node reads from a routing daemon or a
// metrics file (schema of the seed's mesh/metrics.json).
type MeshMetrics struct {
	// Source says where the metrics came from: "file" or "none".
	Source       string
	Proto        string
	Neighbors    []MeshNeighbor
	Routes       []MeshRoute
	MeshOK       bool
	InterfacesUp int
	ReadAt       time.Time
}

// MeshNeighbor is a directly reachable mesh node.
type MeshNeighbor struct {
	Address string
	Iface   string
	Metric  float64
}

// MeshRoute is a route to a mesh destination.
type MeshRoute struct {
	Destination string
	Via         string
	Metric      float64
}
