package node

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/meshhealth"
	"github.com/offgrid-net/offgrid/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

func migrationFiles() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory exists at compile time
	}
	return sub
}

// Config configures a Node. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Name is the operator's name for the node, shown to peers and on the
	// dashboard. Required.
	Name string
	// ClusterID names the community mesh; it is written into every receipt.
	// Default "offgrid-local".
	ClusterID string
	// Endpoint is the base URL other nodes reach this node's API at, e.g.
	// "http://10.0.0.5:8081". Required.
	Endpoint string
	// DataDir holds the node's shard blobs and its mesh metrics file. Required.
	DataDir string
	// AdminToken authorizes every call on this node. Required; see
	// LoadOrCreateAdminToken.
	AdminToken string
	// StaticPeers are API base URLs of peers known without discovery.
	StaticPeers []string
	// StoreConcurrency is how many shard uploads may run at once; one more is
	// refused with ErrBusy so the sender retries elsewhere or later. Default 4.
	StoreConcurrency int
	// MaxShardBytes is the largest shard accepted. Default 16 MiB: large
	// enough for 64 KiB x segments, small enough to bound a Raspberry Pi's disk
	// writes per request.
	MaxShardBytes int64
	// PeerPollInterval is how often static peers are asked for their announce.
	// Default 5 s.
	PeerPollInterval time.Duration
	// PeerTimeout bounds one poll of one peer. Default 3 s.
	PeerTimeout time.Duration
	// PeerClient performs HTTP requests to peers. Required when StaticPeers
	// is not empty; it should carry its own overall timeout.
	PeerClient gen.HttpRequestDoer
	// ShardClient performs HTTP requests that move shards between nodes.
	// Required; it should bound idle connections, and not cap whole
	// requests below what a large shard over a slow link needs.
	ShardClient gen.HttpRequestDoer
	// Transfer bounds the shard transfers of puts, gets and repairs.
	Transfer storage.TransferConfig
	// RepairInterval is how often the node checks its own assets against
	// the peer table and repairs stripes below the threshold; a peer going
	// down also triggers a check. Default 1 min.
	RepairInterval time.Duration
	// Links are the radio transports beacons go out on and come in from
	// (UDP multicast, LoRa, BLE, FileBus). None: static peers only.
	Links []radio.Link
	// BeaconInterval is how often a signed beacon goes out on every link.
	// Default 2 s (LoRa links enforce their own airtime budget on top).
	BeaconInterval time.Duration
	// PeerDownAfter marks a peer heard only by beacons down when silent
	// this long. Default 3 beacon intervals.
	PeerDownAfter time.Duration
	// PeerExpiry forgets a discovered peer silent this long. Default 10 min.
	PeerExpiry time.Duration
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
	// MeshFile is the manual mesh metrics file. Default DataDir/mesh.json.
	// The poller tries Batctl, then BabelAddr, then this file.
	MeshFile string
	// Batctl, when set, reads BATMAN-adv neighbours and originators.
	Batctl *meshhealth.Batctl
	// BabelAddr, when set, is babeld's local control socket ("[::1]:33123"
	// for `babeld -G 33123`, or a UNIX socket path).
	BabelAddr string
	// MeshPollInterval is how often mesh metrics are read. Default 10 s.
	MeshPollInterval time.Duration
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the node's Prometheus metrics. Default: none.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults; callers fill in Name, Endpoint,
// DataDir and AdminToken.
func DefaultConfig() Config {
	return Config{
		ClusterID:        "offgrid-local",
		StoreConcurrency: 4,
		MaxShardBytes:    16 << 20,
		PeerPollInterval: 5 * time.Second,
		PeerTimeout:      3 * time.Second,
		Now:              time.Now,
	}
}

func (c *Config) fillDefaults() {
	d := DefaultConfig()
	if c.ClusterID == "" {
		c.ClusterID = d.ClusterID
	}
	if c.StoreConcurrency == 0 {
		c.StoreConcurrency = d.StoreConcurrency
	}
	if c.MaxShardBytes == 0 {
		c.MaxShardBytes = d.MaxShardBytes
	}
	if c.PeerPollInterval == 0 {
		c.PeerPollInterval = d.PeerPollInterval
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = d.PeerTimeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.RepairInterval == 0 {
		c.RepairInterval = time.Minute
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = time.Second
	}
	if c.MeshPollInterval == 0 {
		c.MeshPollInterval = 10 * time.Second
	}
	if c.BeaconInterval == 0 {
		c.BeaconInterval = 2 * time.Second
	}
	if c.PeerDownAfter == 0 {
		c.PeerDownAfter = 3 * c.BeaconInterval
	}
	if c.PeerExpiry == 0 {
		c.PeerExpiry = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MeshFile == "" && c.DataDir != "" {
		c.MeshFile = filepath.Join(c.DataDir, "mesh.json")
	}
}

func (c *Config) validate() error {
	switch {
	case c.Name == "" || len(c.Name) > 64:
		return errors.New("name must be 1-64 characters")
	case c.Endpoint == "":
		return errors.New("endpoint is required")
	case c.DataDir == "":
		return errors.New("data dir is required")
	case len(c.AdminToken) < 16:
		return errors.New("admin token must be at least 16 characters")
	case c.StoreConcurrency < 1 || c.StoreConcurrency > 1024:
		return errors.New("store concurrency must be between 1 and 1024")
	case c.MaxShardBytes < 1:
		return errors.New("max shard bytes must be positive")
	case len(c.StaticPeers) > 0 && c.PeerClient == nil:
		return errors.New("static peers need a peer client")
	case c.ShardClient == nil:
		return errors.New("a shard client is required")
	}
	return nil
}

// Node is a running Offgrid-Net node. Its methods are safe for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	keys      *identity.Keys
	db        *sql.DB
	receipts  *ledger.Store
	shards    *storage.ShardStore
	catalog   *storage.Catalog
	putter    *storage.Putter
	fetcher   *storage.Fetcher
	repairer  *storage.Repairer
	mesh      meshState
	members   *membership
	discovery *discovery
	// repairNow asks the repair loop for an early pass (a peer went down).
	repairNow chan struct{}
	bus       *Bus
	info      Info
	metrics   *metrics
	peers     *peerTable
	signer    *identity.RequestSigner

	// storeSlots holds one token per running shard upload.
	storeSlots chan struct{}
	stopped    atomic.Bool

	// settingsMu serializes changes to the announce settings so that each
	// change and its event are published in order.
	settingsMu sync.Mutex
}

// New opens the node's state in db (migrating its tables) and returns a Node
// ready to Run. It starts no goroutines.
func New(ctx context.Context, cfg Config, keys *identity.Keys, db *sql.DB) (*Node, error) {
	cfg.fillDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, "node", migrationFiles()); err != nil {
		return nil, err
	}
	receipts, err := ledger.OpenStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("open receipts: %w", err)
	}
	shards, err := storage.OpenShardStore(ctx, db, filepath.Join(cfg.DataDir, "shards"), cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("open shard store: %w", err)
	}
	catalog, err := storage.OpenCatalog(ctx, db, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("open asset catalog: %w", err)
	}
	peers, err := openPeerTable(ctx, db, cfg.StaticPeers, cfg.Now, 3*cfg.PeerPollInterval,
		min(time.Second, cfg.PeerDownAfter/3))
	if err != nil {
		return nil, err
	}
	epoch, err := nextEpoch(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := ensureSettings(ctx, db, cfg.Now()); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "node"),
		keys:     keys,
		db:       db,
		receipts: receipts,
		shards:   shards,
		bus:      NewBus(cfg.Now),
		info: Info{
			ID:        keys.ID(),
			Name:      cfg.Name,
			ClusterID: cfg.ClusterID,
			Endpoint:  cfg.Endpoint,
			VerifyKey: hex.EncodeToString(keys.SignPublic()),
			BoxKey:    hex.EncodeToString(keys.BoxPublic()),
			Epoch:     epoch,
			Started:   cfg.Now().UTC(),
		},
		metrics:    newMetrics(cfg.Registerer),
		peers:      peers,
		signer:     identity.NewRequestSigner(keys, epoch),
		storeSlots: make(chan struct{}, cfg.StoreConcurrency),
		catalog:    catalog,
		repairNow:  make(chan struct{}, 1),
	}
	transport := &shardTransport{doer: cfg.ShardClient, signer: n.signer}
	n.putter = &storage.Putter{Catalog: catalog, Transport: transport, Config: cfg.Transfer}
	n.fetcher = &storage.Fetcher{Transport: transport, Config: cfg.Transfer, OnCorrupt: n.shardCorrupt}
	n.repairer = &storage.Repairer{Catalog: catalog, Fetcher: n.fetcher, Config: cfg.Transfer}
	if cfg.GossipAddr != "" {
		n.members = newMembership(n)
	}
	n.loadMesh(ctx)
	if len(cfg.Links) > 0 {
		n.discovery = newDiscovery(n, cfg.Links)
		n.discovery.registerMetrics(cfg.Registerer)
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return nil, err
	}
	n.metrics.active.Set(boolGauge(a.Active))
	return n, nil
}

// nextEpoch raises and returns the persisted start counter. Request
// signatures carry it so replay protection needs no clock.
func nextEpoch(ctx context.Context, db *sql.DB) (uint64, error) {
	var epoch uint64
	err := sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO node_state(key, value) VALUES('epoch', 1)
			ON CONFLICT(key) DO UPDATE SET value = value + 1`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM node_state WHERE key = 'epoch'`).Scan(&epoch)
	})
	if err != nil {
		return 0, fmt.Errorf("advance epoch: %w", err)
	}
	return epoch, nil
}

// Run runs the node's background loops until ctx is cancelled, then waits
// for them and returns nil. Methods return ErrStopped afterwards.
func (n *Node) Run(ctx context.Context) error {
	start := n.cfg.Now()
	n.log.Info("Node started", "id", n.info.ID, "name", n.info.Name, "epoch", n.info.Epoch)
	defer func() {
		n.stopped.Store(true)
		n.log.Info("Node stopped", "took", n.cfg.Now().Sub(start).String())
	}()
	if n.members != nil {
		if err := n.members.start(); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	if n.members != nil {
		wg.Go(func() { n.members.run(ctx) })
	}
	if len(n.cfg.StaticPeers) > 0 {
		wg.Go(func() { n.pollPeers(ctx) })
	}
	if n.cfg.RepairInterval > 0 {
		wg.Go(func() { n.repairLoop(ctx) })
	}
	if n.discovery != nil {
		wg.Go(func() { n.discovery.run(ctx) })
	}
	wg.Go(func() { n.pollMesh(ctx) })
	<-ctx.Done()
	wg.Wait()
	return nil
}

func (n *Node) checkRunning() error {
	if n.stopped.Load() {
		return ErrStopped
	}
	return nil
}

// Info returns the node's identity.
func (n *Node) Info() Info { return n.info }

// Keys returns the node's keys, for components that sign on its behalf.
func (n *Node) Keys() *identity.Keys { return n.keys }

// RequestSigner signs this node's requests to other nodes.
func (n *Node) RequestSigner() *identity.RequestSigner { return n.signer }

// MaxShardBytes is the largest shard this node accepts.
func (n *Node) MaxShardBytes() int64 { return n.cfg.MaxShardBytes }

// CheckAdminToken reports, in constant time, whether token is the admin token.
func (n *Node) CheckAdminToken(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(n.cfg.AdminToken)) == 1
}

// Subscribe returns a subscription to the node's events; see Bus.
func (n *Node) Subscribe(buffer int) *Subscription { return n.bus.Subscribe(buffer) }

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// repairLoop checks the node's assets every RepairInterval and when a peer
// goes down.
func (n *Node) repairLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.repairNow:
		}
		n.repairAll(ctx)
	}
}

// shardCorrupt reports a shard a host served with the wrong bytes.
func (n *Node) shardCorrupt(addr storage.ShardAddr, host storage.Candidate) {
	n.metrics.shardsCorrupt.Inc()
	n.log.Warn("Host served a corrupt shard; ignored", "asset", addr.AssetID, "stripe", addr.Stripe,
		"index", addr.Index, "host", host.Endpoint)
	n.bus.Publish(ShardCorrupt{AssetID: addr.AssetID, Stripe: addr.Stripe, Index: addr.Index, Host: host.Endpoint})
}
