package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
)

// memberMeta is what a node tells the cluster about itself in memberlist's
// node meta (at most memberlist.MetaMaxSize bytes). Sig is the node's
// signature of the rest under metaDomain: memberlist's messages are not
// authenticated (only encrypted, with --cluster-key), so without it anyone
// who can reach the gossip port could announce a member's node ID at an
// endpoint of their choosing.
type memberMeta struct {
	Endpoint string `json:"e"`
	Name     string `json:"n"`
	Active   bool   `json:"a"`
	Sig      []byte `json:"s"`
}

// metaDomain is the signature domain of memberMeta.
const metaDomain = "offgrid/gossip-meta/v1"

// message is what Sig signs.
func (m memberMeta) message() []byte {
	b := canon.AppendString(nil, m.Endpoint)
	b = canon.AppendString(b, m.Name)
	if m.Active {
		return append(b, 1)
	}
	return append(b, 0)
}

// verifiedMeta returns node's meta if its name is a node ID and the meta
// names an endpoint and is signed by that ID's key.
func verifiedMeta(node *memberlist.Node) (memberMeta, error) {
	pub, err := identity.NodeID(node.Name).PublicKey()
	if err != nil {
		return memberMeta{}, fmt.Errorf("gossip name %.80q is not a node ID", node.Name)
	}
	var meta memberMeta
	if err := json.Unmarshal(node.Meta, &meta); err != nil || meta.Endpoint == "" {
		return memberMeta{}, fmt.Errorf("gossip meta of %s names no endpoint", node.Name)
	}
	if !identity.Verify(pub, metaDomain, meta.message(), meta.Sig) {
		return memberMeta{}, fmt.Errorf("gossip meta of %s is not signed by its key", node.Name)
	}
	return meta, nil
}

// memberEvent is a membership change, or with rtt set a probe's round
// trip to the member peer.ID, waiting to reach the peer table.
type memberEvent struct {
	peer Peer
	rtt  time.Duration
}

// membership runs memberlist (SWIM) for IP-side membership and failure
// detection. memberlist calls its delegates from its own goroutines; they
// only queue events (bounded, newest dropped when full) for Run to apply.
type membership struct {
	s      *Service
	events chan memberEvent
	// boundPort is the gossip port, set once start has bound it. Beacons
	// read it without a lock: asking memberlist (LocalNode) would take its
	// node lock, which its own goroutines hold while calling our delegates.
	boundPort atomic.Int32

	// mu guards list, joining and alive. Lock order: memberlist's node
	// lock before mu. memberlist holds its node lock while it calls the
	// delegates (NotifyJoin/Leave/Update -> queue takes mu), so mu is never
	// held while calling into memberlist (Join, LocalNode, Members, Leave,
	// Shutdown): copy what is needed, unlock, then call.
	mu      sync.Mutex
	list    *memberlist.Memberlist
	joining map[string]time.Time // address -> last join attempt
	alive   map[string]Peer      // node ID -> the member as last reported alive
}

const (
	memberEventBuffer = 256
	// maxMembers bounds the members tracked for refreshes.
	maxMembers = 4096
	// joinRetry spaces join attempts to the same address.
	joinRetry = 10 * time.Second
)

func newMembership(s *Service) *membership {
	return &membership{s: s, events: make(chan memberEvent, memberEventBuffer), joining: map[string]time.Time{}, alive: map[string]Peer{}}
}

// start creates the memberlist on cfg.GossipAddr. It is called from Run.
func (m *membership) start() error {
	host, portStr, err := net.SplitHostPort(m.s.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("gossip address %q: %w", m.s.cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("gossip port %q: %w", portStr, err)
	}
	c := memberlist.DefaultLANConfig()
	c.Name = string(m.s.self.Keys.ID())
	c.BindAddr, c.BindPort = host, port
	c.AdvertisePort = port
	if host == "0.0.0.0" || host == "::" {
		c.AdvertiseAddr = ""
	} else {
		c.AdvertiseAddr = host
	}
	c.Delegate = memberDelegate{m}
	c.Events = memberDelegate{m}
	// Only members with signed meta enter memberlist's state, so it
	// neither probes nor gossips about anyone else.
	c.Alive = memberDelegate{m}
	// Each direct probe's round trip is the RTT of a peer known by gossip.
	c.Ping = memberDelegate{m}
	c.LogOutput = io.Discard
	c.Logger = nil
	if len(m.s.cfg.ClusterKey) > 0 {
		c.SecretKey = m.s.cfg.ClusterKey
	}
	if m.s.cfg.GossipProbeInterval > 0 {
		c.ProbeInterval = m.s.cfg.GossipProbeInterval
		c.GossipInterval = m.s.cfg.GossipProbeInterval / 5
	}
	list, err := memberlist.Create(c)
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", m.s.cfg.GossipAddr, err)
	}
	m.boundPort.Store(int32(list.LocalNode().Port))
	m.mu.Lock()
	m.list = list
	m.mu.Unlock()
	return nil
}

// port is the bound gossip port (0 before start).
func (m *membership) port() int { return int(m.boundPort.Load()) }

// join asks memberlist to join the member at addr, unless it is already a
// member or was tried recently. It does not block the caller for long: the
// join runs with memberlist's own timeouts.
func (m *membership) join(id identity.NodeID, addr string) {
	m.mu.Lock()
	list := m.list
	now := m.s.deps.Now()
	if list == nil || now.Sub(m.joining[addr]) < joinRetry {
		m.mu.Unlock()
		return
	}
	if _, ok := m.alive[string(id)]; ok {
		m.mu.Unlock()
		return
	}
	m.joining[addr] = now
	if len(m.joining) > 4096 {
		clear(m.joining)
	}
	m.mu.Unlock()
	if _, err := list.Join([]string{addr}); err != nil {
		m.s.log.Debug("Gossip join failed", "addr", addr, "err", err)
	}
}

// run applies queued membership events until ctx ends, then leaves the
// cluster and shuts memberlist down.
func (m *membership) run(ctx context.Context) {
	defer func() {
		m.mu.Lock()
		list := m.list
		m.mu.Unlock()
		if list != nil {
			if m.s.cfg.LeaveTimeout > 0 {
				list.Leave(m.s.cfg.LeaveTimeout)
			}
			list.Shutdown()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-m.events:
			if ev.rtt > 0 {
				if err := m.s.table.setRTT(ctx, "", ev.peer.ID, ev.rtt, "gossip"); err != nil && ctx.Err() == nil {
					m.s.log.Warn("Peer round-trip time not recorded", "node", ev.peer.ID, "err", err)
				}
				continue
			}
			m.s.observe(ctx, ev.peer)
		}
	}
}

// refresh re-observes every member memberlist last reported alive, so
// peers known only by gossip stay up while it holds them alive and expire
// once it does not. (memberlist's Members() hands out nodes it keeps
// mutating, so membership keeps its own copies from the events.)
func (m *membership) refresh() {
	m.mu.Lock()
	peers := make([]Peer, 0, len(m.alive))
	for _, p := range m.alive {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	now := m.s.deps.Now().UTC()
	for _, p := range peers {
		p.LastSeen = now
		m.send(p)
	}
}

// queue turns a memberlist event into a peer observation. It runs in
// memberlist's goroutine, which holds its lock on node while it calls us.
func (m *membership) queue(node *memberlist.Node, state State) {
	if node.Name == string(m.s.self.Keys.ID()) {
		return
	}
	meta, err := verifiedMeta(node)
	if err != nil {
		return
	}
	p := Peer{Endpoint: meta.Endpoint, Via: "gossip", State: state, Gossip: int(node.Port)}
	if state == StateUp {
		p.ID, p.Name, p.Active, p.LastSeen = identity.NodeID(node.Name), meta.Name, meta.Active, m.s.deps.Now().UTC()
	}
	m.mu.Lock()
	if state == StateUp {
		if len(m.alive) < maxMembers {
			m.alive[node.Name] = p
		}
	} else {
		delete(m.alive, node.Name)
	}
	m.mu.Unlock()
	m.send(p)
}

// send hands an observation to run without blocking memberlist.
func (m *membership) send(p Peer) {
	select {
	case m.events <- memberEvent{peer: p}:
	default:
		m.s.log.Warn("Membership events backed up; one dropped", "peer", p.Endpoint)
	}
}

// pinged queues the round trip of a direct probe of node. It runs in
// memberlist's probe goroutine, which holds no lock while it calls us.
func (m *membership) pinged(node *memberlist.Node, rtt time.Duration) {
	if node == nil || node.Name == string(m.s.self.Keys.ID()) || rtt <= 0 {
		return
	}
	select {
	case m.events <- memberEvent{peer: Peer{ID: identity.NodeID(node.Name)}, rtt: rtt}:
	default:
		// A round trip is only a sample; the next probe brings another.
	}
}

// memberDelegate implements memberlist's Delegate, EventDelegate and
// PingDelegate. Every
// method is called from memberlist's goroutines and returns at once.
type memberDelegate struct{ m *membership }

func (d memberDelegate) NodeMeta(limit int) []byte {
	s := d.m.s
	meta := memberMeta{Endpoint: s.self.Endpoint, Name: s.self.Name, Active: s.deps.Active(context.Background())}
	meta.Sig = s.self.Keys.Sign(metaDomain, meta.message())
	b, _ := json.Marshal(meta)
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyAlive keeps a node out of memberlist unless it is this node, or a
// member whose meta is signed by its key. A non-member with valid meta is
// noted as pending, as its beacons would be.
func (d memberDelegate) NotifyAlive(node *memberlist.Node) error {
	s := d.m.s
	if node.Name == string(s.self.Keys.ID()) {
		return nil
	}
	meta, err := verifiedMeta(node)
	if err != nil {
		return err
	}
	if id := identity.NodeID(node.Name); !s.deps.Gate.IsMember(id) {
		s.deps.Gate.NotePending(id, meta.Name, meta.Endpoint, "gossip")
		return fmt.Errorf("%s is not a member of this node's cluster", id)
	}
	return nil
}
func (memberDelegate) NotifyMsg([]byte)                           {}
func (memberDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (memberDelegate) LocalState(join bool) []byte                { return nil }
func (memberDelegate) MergeRemoteState(buf []byte, join bool)     {}
func (d memberDelegate) NotifyJoin(node *memberlist.Node)         { d.m.queue(node, StateUp) }
func (d memberDelegate) NotifyLeave(node *memberlist.Node)        { d.m.queue(node, StateDown) }
func (d memberDelegate) NotifyUpdate(node *memberlist.Node)       { d.m.queue(node, StateUp) }
func (memberDelegate) AckPayload() []byte                         { return nil }
func (d memberDelegate) NotifyPingComplete(node *memberlist.Node, rtt time.Duration, _ []byte) {
	d.m.pinged(node, rtt)
}
