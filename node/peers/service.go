package peers

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/meshhealth"
)

// Config tunes the peer table and the loops that feed it. Zero fields take
// the values of DefaultConfig (or the derived default their comment names).
type Config struct {
	// StaticPeers are API base URLs of peers known without discovery; they
	// are polled at start, again within a fraction of a second (doubling up
	// to PollInterval) until every one has answered, then every
	// PollInterval, and never forgotten.
	StaticPeers []string
	// PollInterval is how often static peers are asked for their announce.
	// Default 5 s.
	PollInterval time.Duration
	// PollTimeout bounds one poll of one peer. Default 3 s.
	PollTimeout time.Duration
	// Links are the radio transports beacons go out on and come in from
	// (UDP multicast, LoRa, BLE, FileBus). None: static peers only.
	Links []radio.Link
	// BeaconInterval is how often a signed beacon goes out on every link.
	// Default 2 s (LoRa links enforce their own airtime budget on top).
	BeaconInterval time.Duration
	// DownAfter marks a peer heard only by beacons down when silent this
	// long. Default 3 beacon intervals.
	DownAfter time.Duration
	// Expiry forgets a discovered peer silent this long. Default 10 min.
	Expiry time.Duration
	// GossipAddr is where memberlist (SWIM membership and failure
	// detection) listens, e.g. "127.0.0.1:0" (port 0: any free port). Empty:
	// no gossip membership.
	GossipAddr string
	// ClusterKey, when set (16, 24 or 32 bytes), encrypts gossip; every node
	// of the cluster needs the same key.
	ClusterKey []byte
	// LeaveTimeout bounds announcing our departure to the cluster on stop.
	// Default 1 s; negative: leave silently, as a crash would (tests).
	LeaveTimeout time.Duration
	// GossipProbeInterval overrides memberlist's probe interval (default
	// 1 s); failure detection takes a few intervals.
	GossipProbeInterval time.Duration
	// MeshFile is the manual mesh metrics file. Default DATA/mesh.json.
	// The poller tries Batctl, then BabelAddr, then this file.
	MeshFile string
	// Batctl, when set, reads BATMAN-adv neighbours and originators.
	Batctl *meshhealth.Batctl
	// BabelAddr, when set, is babeld's local control socket ("[::1]:33123"
	// for `babeld -G 33123`, or a UNIX socket path).
	BabelAddr string
	// MeshPollInterval is how often mesh metrics are read. Default 10 s.
	MeshPollInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PollInterval:     5 * time.Second,
		PollTimeout:      3 * time.Second,
		BeaconInterval:   2 * time.Second,
		Expiry:           10 * time.Minute,
		LeaveTimeout:     time.Second,
		MeshPollInterval: 10 * time.Second,
	}
}

// withDefaults fills zero fields; dataDir gives the default mesh file.
func (c Config) withDefaults(dataDir string) Config {
	d := DefaultConfig()
	fill(&c.PollInterval, d.PollInterval)
	fill(&c.PollTimeout, d.PollTimeout)
	fill(&c.BeaconInterval, d.BeaconInterval)
	fill(&c.DownAfter, 3*c.BeaconInterval)
	fill(&c.Expiry, d.Expiry)
	fill(&c.LeaveTimeout, d.LeaveTimeout)
	fill(&c.MeshPollInterval, d.MeshPollInterval)
	fill(&c.MeshFile, filepath.Join(dataDir, "mesh.json"))
	return c
}

func fill[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Self is this node as its beacons and membership describe it.
type Self struct {
	Keys     *identity.Keys
	Name     string
	Endpoint string
	// Epoch counts the node's starts; beacons carry it for replay protection.
	Epoch uint64
	// DataDir holds the default mesh metrics file.
	DataDir string
}

// Announced is what a static peer says about itself when polled.
type Announced struct {
	ID     identity.NodeID
	Name   string
	Active bool
}

// A Fetcher asks a peer's API for its announce. It must be safe for
// concurrent use and honour ctx (the poller bounds each call with
// Config.PollTimeout).
type Fetcher interface {
	FetchAnnounce(ctx context.Context, endpoint string) (Announced, error)
}

// A Publisher receives the events of the peer table. Publish must not block.
type Publisher interface {
	Publish(events.Event)
}

// A Gate says who may be a peer: only members of the cluster enter the
// peer table; everyone else heard is handed to NotePending. Both methods
// must be safe for concurrent use and must not block.
type Gate interface {
	IsMember(id identity.NodeID) bool
	NotePending(id identity.NodeID, name, endpoint, via string)
}

// Deps are what the peer table needs from the rest of the node.
type Deps struct {
	DB *sql.DB
	// Gate admits members to the peer table. Required.
	Gate Gate
	// Fetcher polls static peers; required when Config.StaticPeers is set.
	Fetcher Fetcher
	Events  Publisher
	// Active says whether this node accepts work; beacons and membership
	// carry it. It must be safe for concurrent use and quick.
	Active func(ctx context.Context) bool
	// PeerDown is called (from the goroutine that noticed) when a peer
	// goes down, e.g. to repair early. It must not block. Optional.
	PeerDown   func()
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Service keeps the peer table and runs the loops that feed it. Its methods
// are safe for concurrent use.
type Service struct {
	cfg  Config
	self Self
	deps Deps
	log  *slog.Logger

	table     *table
	members   *membership
	discovery *discovery
	peersUp   prometheus.Gauge

	// meshMu guards mesh.
	meshMu sync.Mutex
	mesh   MeshMetrics
}

// New opens the peer table (adding the static peers) and returns a Service
// ready to Run. It starts no goroutines. The node_peers and node_mesh tables
// must exist (package node migrates them).
func New(ctx context.Context, cfg Config, self Self, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults(self.DataDir)
	switch {
	case len(cfg.StaticPeers) > 0 && deps.Fetcher == nil:
		return nil, errors.New("static peers need a fetcher")
	case deps.DB == nil || deps.Gate == nil || deps.Events == nil || deps.Active == nil || deps.Now == nil || deps.Logger == nil:
		return nil, errors.New("peers: DB, Gate, Events, Active, Now and Logger are required")
	}
	// A live peer's last-seen time reaches SQLite well before the table
	// would forget it (Expiry).
	t, err := openTable(ctx, deps.DB, self.Endpoint, cfg.StaticPeers, deps.Now, 3*cfg.PollInterval, min(maxFlushEvery, cfg.Expiry/4))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, self: self, deps: deps, log: deps.Logger.With("component", "node/peers"), table: t,
		peersUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "offgrid_peers_up", Help: "Peers that answered their last poll."})}
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(s.peersUp)
	}
	if cfg.GossipAddr != "" {
		s.members = newMembership(s)
	}
	s.loadMesh(ctx)
	if len(cfg.Links) > 0 {
		s.discovery = newDiscovery(s, cfg.Links)
		s.discovery.registerMetrics(deps.Registerer)
	}
	return s, nil
}

// Run polls static peers, beacons and listens on every link, runs
// membership and reads mesh health until ctx ends; then it leaves the
// gossip cluster, waits for its goroutines and returns nil. It returns an
// error only when membership cannot start.
func (s *Service) Run(ctx context.Context) error {
	if s.members != nil {
		if err := s.members.start(); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	if s.members != nil {
		wg.Go(func() { s.members.run(ctx) })
	}
	if len(s.cfg.StaticPeers) > 0 {
		wg.Go(func() { s.pollPeers(ctx) })
	}
	if s.discovery != nil {
		wg.Go(func() { s.discovery.run(ctx) })
	}
	wg.Go(func() { s.pollMesh(ctx) })
	wg.Wait()
	return nil
}

// List returns the peer table, sorted by endpoint, with each peer's mesh
// path from the last mesh metrics.
func (s *Service) List(ctx context.Context) ([]Peer, error) {
	all, err := s.table.list(ctx)
	if err != nil {
		return nil, err
	}
	mesh := s.Mesh()
	peers := all[:0]
	for _, p := range all {
		if p.ID == s.self.Keys.ID() {
			continue // a static peer that turned out to be this node
		}
		p.MeshNeighbor, p.PathMetric = meshPath(mesh, endpointHost(p.Endpoint))
		peers = append(peers, p)
	}
	return peers, nil
}

// Mesh returns the last mesh health read from batctl, babeld or the
// metrics file (source "none" before the first read or when none answers),
// with the notices of links running in a reduced mode.
func (s *Service) Mesh() MeshMetrics {
	s.meshMu.Lock()
	m := s.mesh
	s.meshMu.Unlock()
	for _, l := range s.cfg.Links {
		if n, ok := l.(radio.Noticer); ok && n.Notice() != "" {
			m.LinkNotices = append(m.LinkNotices, n.Notice())
		}
	}
	return m
}

// observe merges one observation of a peer from any source into the peer
// table and tells subscribers when something changed. A node that is not
// a member goes to the pending list instead; an observation that would
// give a live member's endpoint to another node is dropped.
func (s *Service) observe(ctx context.Context, obs Peer) {
	// A node is never its own peer. A static peer that answers with this
	// node's ID (its URL under another name: localhost for 127.0.0.1, a
	// proxy) keeps its row, marked with that ID, so that List hides it from
	// the start after a restart and polls still notice if another node
	// takes over that URL.
	if obs.ID == s.self.Keys.ID() {
		if err := s.table.markSelf(ctx, obs.Endpoint, obs.ID); err != nil && ctx.Err() == nil {
			s.log.Warn("Peer table update failed", "peer", obs.Endpoint, "err", err)
		}
		return
	}
	if obs.Endpoint == strings.TrimRight(s.self.Endpoint, "/") {
		return
	}
	if obs.ID != "" && !s.deps.Gate.IsMember(obs.ID) {
		s.deps.Gate.NotePending(obs.ID, obs.Name, obs.Endpoint, obs.Via)
		return
	}
	stored, changed, err := s.table.update(ctx, obs, s.deps.Gate.IsMember)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("Peer table update failed", "peer", obs.Endpoint, "err", err)
		}
		return
	}
	if !changed || stored.ID == s.self.Keys.ID() {
		return
	}
	s.log.Info("Peer changed", "peer", stored.Endpoint, "state", string(stored.State), "via", stored.Via)
	s.changed(ctx, stored)
}

// Prune removes the peers that are no longer members (revoked, or left
// out of a new cluster document): discovered ones are forgotten, static
// ones lose their identity and are marked down until a member answers
// there.
func (s *Service) Prune(ctx context.Context) error {
	pruned, err := s.table.prune(ctx, s.deps.Gate.IsMember)
	if err != nil {
		return err
	}
	for _, p := range pruned {
		s.log.Info("Peer is not a member; removed", "peer", p.Endpoint, "node", p.ID)
		s.changed(ctx, p)
	}
	return nil
}

// TimelineWindow is how far back a peer's state timeline reaches.
const TimelineWindow = 24 * time.Hour

// Timeline returns the states of the peer at endpoint over the last
// TimelineWindow, oldest first; time before its first recorded change is
// StateUnknown.
func (s *Service) Timeline(ctx context.Context, endpoint string) ([]StateSpan, error) {
	return s.table.spans(ctx, endpoint, s.deps.Now().UTC().Add(-TimelineWindow))
}

// changed publishes a changed peer, records its state in its timeline and
// recounts the peers up.
func (s *Service) changed(ctx context.Context, p Peer) {
	s.deps.Events.Publish(PeerChanged{Peer: p})
	if err := s.table.recordState(ctx, p.Endpoint, p.State, TimelineWindow); err != nil && ctx.Err() == nil {
		s.log.Warn("Peer state not recorded in its timeline", "peer", p.Endpoint, "err", err)
	}
	if p.State == StateDown && s.deps.PeerDown != nil {
		s.deps.PeerDown()
	}
	peers, err := s.table.list(ctx)
	if err != nil {
		return
	}
	up := 0
	for _, p := range peers {
		if p.State == StateUp {
			up++
		}
	}
	s.peersUp.Set(float64(up))
}
