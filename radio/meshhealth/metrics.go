package meshhealth

import (
	"context"
	"errors"
	"time"
)

// Proto values reported in Metrics.Proto.
const (
	ProtoBatman = "batman-adv" // read from batctl
	ProtoBabel  = "babel"      // read from babeld's local control socket
	ProtoFile   = "file"       // read from the manual metrics.json
	ProtoNone   = "none"       // no source could be read
)

// Thresholds of the MeshOK rule (see the package documentation).
const (
	// MinTQ is the lowest BATMAN IV transmit quality (0-255) at which a
	// neighbour counts as a working link: 51 is 20 %.
	MinTQ = 51
	// MaxLastSeen is how long ago a batman-adv neighbour may have been
	// heard and still count as a working link. batman-adv itself keeps
	// neighbours for 200 s; OGMs come every second and ELP probes every
	// 500 ms by default, so 10 s of silence means the link is gone.
	MaxLastSeen = 10 * time.Second
	// BabelInfinity is Babel's infinite metric: a neighbour or route at
	// this cost is unreachable.
	BabelInfinity = 0xFFFF
)

// Bounds on what the readers accept from outside.
const (
	maxInputBytes = 1 << 20 // batctl output, metrics.json
	maxEntries    = 4096    // neighbours or originators in one batctl table
	maxLineBytes  = 4096    // one line of babeld's control protocol
	maxBabelLines = 20000   // lines of one babeld reply
)

// Errors that callers act on.
var (
	// ErrMalformed wraps every parse failure of outside bytes.
	ErrMalformed = errors.New("meshhealth: malformed input")
	// ErrBatctlNotFound means the batctl executable is not installed.
	ErrBatctlNotFound = errors.New("meshhealth: batctl not found")
	// ErrModuleNotLoaded means batctl reported that the batman-adv kernel
	// module is not loaded.
	ErrModuleNotLoaded = errors.New("meshhealth: batman-adv module not loaded")
	// ErrNoMeshInterface means batctl reported that the mesh interface
	// does not exist or is not a batman-adv interface. batctl 2023.0
	// reports this (and not ErrModuleNotLoaded) when the module is not
	// loaded at all, because it checks the interface first.
	ErrNoMeshInterface = errors.New("meshhealth: no batman-adv mesh interface (is the batman-adv module loaded?)")
	// ErrNotBabel means the control socket did not greet with "BABEL".
	ErrNotBabel = errors.New("meshhealth: not a babeld control socket")
	// ErrBabelRefused means babeld answered a request with "no" or "bad".
	ErrBabelRefused = errors.New("meshhealth: babeld refused the request")
)

// A Neighbor is a directly reachable mesh node.
type Neighbor struct {
	// Address is the neighbour's MAC (batman-adv; or its bat-hosts name
	// in text output) or link-local IPv6 address (Babel).
	Address string
	// Iface is the local interface the neighbour is heard on.
	Iface string
	// Metric is the link quality. batman-adv: the TQ (0-255, higher is
	// better) with BATMAN IV, or the throughput in Mbit/s with BATMAN V.
	// Babel: the link cost (lower is better, BabelInfinity is unreachable).
	Metric float64
	// Reach is Babel's 16-bit hello history (bit 15 is the latest hello).
	// Zero for batman-adv.
	Reach uint16
	// RxCost and TxCost are Babel's receive and transmit costs. Zero for
	// batman-adv.
	RxCost, TxCost int
	// LastSeen is how long ago batman-adv last heard the neighbour. Zero
	// for Babel, which does not report it.
	LastSeen time.Duration
}

// A Route is a path to a mesh destination that the routing daemon uses.
type Route struct {
	// Destination is the originator MAC (batman-adv) or the IP prefix
	// (Babel).
	Destination string
	// Via is the next hop: a neighbour MAC or link-local address.
	Via string
	// Iface is the outgoing interface.
	Iface string
	// Metric is the route metric in the units of Neighbor.Metric.
	Metric float64
}

// Metrics is one reading of the mesh's health.
type Metrics struct {
	// Proto is the routing protocol: ProtoBatman or ProtoBabel when a
	// daemon was read, ProtoNone when nothing could be read, and for the
	// metrics file whatever its "proto" says (the operator knows which
	// protocol the numbers came from; ProtoFile if it says so).
	Proto string
	// FromFile says the reading came from the manual metrics file, not
	// from a routing daemon.
	FromFile bool
	// Neighbors are the direct neighbours.
	Neighbors []Neighbor
	// Routes are the routes in use.
	Routes []Route
	// InterfacesUp is the number of mesh interfaces that are up.
	InterfacesUp int
	// MeshOK is the verdict of the MeshOK rule (package documentation).
	MeshOK bool
	// ReadAt is when the reading was taken.
	ReadAt time.Time
}

// A Source reads the mesh's health once. Read must honour ctx (return soon
// after it ends) and be safe to call from one goroutine at a time; it is
// not called concurrently by Poller.
type Source interface {
	Read(ctx context.Context) (Metrics, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Metrics, error)

// Read calls f(ctx).
func (f SourceFunc) Read(ctx context.Context) (Metrics, error) { return f(ctx) }

// batmanMeshOK applies the batman-adv MeshOK rule. throughput says whether
// the metrics are BATMAN V throughputs rather than BATMAN IV TQs.
func batmanMeshOK(m Metrics, throughput bool) bool {
	if m.InterfacesUp < 1 {
		return false
	}
	for _, n := range m.Neighbors {
		if n.LastSeen > MaxLastSeen {
			continue
		}
		if throughput && n.Metric > 0 || !throughput && n.Metric >= MinTQ {
			return true
		}
	}
	return false
}

// babelMeshOK applies the Babel MeshOK rule.
func babelMeshOK(m Metrics) bool {
	if m.InterfacesUp < 1 {
		return false
	}
	for _, n := range m.Neighbors {
		if n.Reach != 0 && n.Metric < BabelInfinity {
			return true
		}
	}
	return false
}
