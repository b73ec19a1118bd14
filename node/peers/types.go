package peers

import (
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

// State says how this node last found a peer.
type State string

// Peer states.
const (
	StateUnknown State = "unknown"
	StateUp      State = "up"
	StateDown    State = "down"
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
	State    State
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
	// RTT is the latest round-trip time measured to the peer (0 before
	// any), RTTVia how ("poll": a static peer's announce request, "gossip":
	// a memberlist probe), RTTAt when.
	RTT    time.Duration
	RTTVia string
	RTTAt  time.Time
}

// StateSpan is a stretch of time a peer spent in one state.
type StateSpan struct {
	From, To time.Time
	State    State
}

// MeshMetrics is the mesh health the node reads from a routing daemon or a
// metrics file (schema of the seed's mesh/metrics.json).
type MeshMetrics struct {
	// Source says where the metrics came from: "daemon", "file" or "none".
	Source       string
	Proto        string
	Neighbors    []MeshNeighbor
	Routes       []MeshRoute
	MeshOK       bool
	InterfacesUp int
	ReadAt       time.Time
	// LinkNotices are one line per radio link that runs in a reduced mode
	// (radio.Noticer), such as a BLE adapter without extended advertising.
	LinkNotices []string
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

// PeerChanged says a peer came up, went down or changed its announce.
type PeerChanged struct {
	Peer Peer
}

// Kind implements events.Event.
func (PeerChanged) Kind() string { return "peer" }

// MeshChanged says fresh mesh metrics were read (from batctl, babeld or the
// metrics file) and differ from the last ones.
type MeshChanged struct {
	Mesh MeshMetrics
}

// Kind implements events.Event.
func (MeshChanged) Kind() string { return "mesh" }
