package node

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/assets"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/node/peers"
	"github.com/offgrid-net/offgrid/storage"
)

// The node's tables (settings, state, peers, mesh), migrated by New. The
// node/peers part reads and writes node_peers and node_mesh.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Node. Zero fields take the values of DefaultConfig.
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
	// StoreConcurrency is how many shard uploads from other nodes may run at
	// once; one more is refused with ErrBusy so the sender retries elsewhere
	// or later. Default 4. (The node's own shards do not take a slot.)
	StoreConcurrency int
	// MaxShardBytes is the largest shard accepted. Default and most
	// MaxShardBytesLimit (16 MiB): large enough for 64 KiB x segments, small
	// enough to bound a Raspberry Pi's disk writes per request.
	MaxShardBytes int64
	// ReplaySenders bounds how many senders of signed requests the node
	// keeps replay state for (in memory and in node_replay, about 600 bytes
	// each). The state of a sender is never dropped, so a node that holds
	// this many refuses signed requests from any new sender; it must exceed
	// the number of nodes that will ever call this one. Default 1024.
	ReplaySenders int
	// Peers configures the peer table, discovery, membership and mesh health.
	Peers peers.Config
	// Assets configures puts, gets and repairs of the node's own files.
	Assets assets.Config
	// History configures the recorded history behind the overview charts.
	History HistoryConfig
	// Connect builds the transports to other nodes once the node knows the
	// epoch its request signatures carry (it is raised at every start).
	// Nil: the node reaches no other node (it stores on itself only, and
	// Peers.StaticPeers must be empty).
	Connect func(signer *identity.RequestSigner) Remote
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the node's Prometheus metrics. Default: none.
	Registerer prometheus.Registerer
	// Now is the clock of every rule that depends on time. Default time.Now.
	Now func() time.Time
}

// Remote is how the node reaches other nodes.
type Remote struct {
	// Shards moves shards to and from other hosts. Nil: other hosts are
	// unreachable.
	Shards storage.Transport
	// Announces polls static peers. Nil: static peers cannot be polled.
	Announces peers.Fetcher
}

// MaxShardBytesLimit is the most Config.MaxShardBytes may be: the largest
// shard openapi.yaml lets any node take (putShard's body, storeShard's
// data_b64, putAsset's shard_size; a test compares them), so that every
// node of a cluster can hold any shard another node cuts.
const MaxShardBytesLimit = 16 << 20

// DefaultConfig returns the defaults, which README.md's flag tables
// document (a test compares them); callers fill in Name, Endpoint, DataDir
// and AdminToken.
func DefaultConfig() Config {
	return Config{
		ClusterID:        "offgrid-local",
		StoreConcurrency: 4,
		MaxShardBytes:    MaxShardBytesLimit,
		ReplaySenders:    1024,
		Peers:            peers.DefaultConfig(),
		Assets:           assets.DefaultConfig(),
		History:          HistoryConfig{Interval: DefaultHistoryInterval, Keep: DefaultHistoryKeep},
		Now:              time.Now,
	}
}

// withDefaults fills the zero fields of the node's own settings; the parts
// fill theirs.
func (c Config) withDefaults() Config {
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
	if c.ReplaySenders == 0 {
		c.ReplaySenders = d.ReplaySenders
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.History.Interval == 0 {
		c.History.Interval = d.History.Interval
	}
	if c.History.Keep <= 0 {
		c.History.Keep = d.History.Keep
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
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
	case c.MaxShardBytes < 1 || c.MaxShardBytes > MaxShardBytesLimit:
		return fmt.Errorf("max shard bytes must be between 1 and %d", MaxShardBytesLimit)
	case c.ReplaySenders < 1 || c.ReplaySenders > 1<<20:
		return errors.New("replay senders must be between 1 and 1048576")
	}
	return nil
}

// Node is a running Offgrid-Net node. Its methods are safe for concurrent use.
type Node struct {
	cfg      Config
	log      *slog.Logger
	keys     *identity.Keys
	db       *sql.DB
	receipts *ledger.Store
	shards   *storage.ShardStore
	bus      *events.Bus
	info     Info
	metrics  *metrics
	peers    *peers.Service
	assets   *assets.Service
	replay   *identity.ReplayGuard

	// storeSlots holds one token per running shard upload from another node.
	storeSlots chan struct{}
	stopped    atomic.Bool
	traffic    traffic

	// historyMu serializes history samples: each takes its traffic delta
	// from the one before.
	historyMu sync.Mutex
	history   historyRecorder

	// settingsMu serializes changes to the announce settings so that each
	// change and its event are published in order.
	settingsMu sync.Mutex
}

// New opens the node's state in db (migrating its tables) and returns a Node
// ready to Run. It starts no goroutines.
func New(ctx context.Context, cfg Config, keys *identity.Keys, db *sql.DB) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, "node", migrations); err != nil {
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
	epoch, err := nextEpoch(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := ensureSettings(ctx, db, cfg.Now()); err != nil {
		return nil, err
	}
	replay, err := openReplayGuard(ctx, db, cfg.ReplaySenders)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "node"),
		keys:     keys,
		db:       db,
		receipts: receipts,
		shards:   shards,
		replay:   replay,
		bus:      events.NewBus(cfg.Now),
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
		storeSlots: make(chan struct{}, cfg.StoreConcurrency),
	}
	var remote Remote
	if cfg.Connect != nil {
		remote = cfg.Connect(identity.NewRequestSigner(keys, epoch))
	}
	var shardsOut storage.Transport
	if remote.Shards != nil {
		shardsOut = countingTransport{Transport: remote.Shards, t: &n.traffic}
	}
	if err := migrateHistory(ctx, n); err != nil {
		return nil, err
	}
	n.assets, err = assets.New(ctx, cfg.Assets, assets.Deps{
		DB:            db,
		Keys:          keys,
		Transport:     assets.LocalFirst(string(keys.ID()), localShards{n}, shardsOut),
		Hosts:         hostList{n},
		Events:        n.bus,
		MaxShardBytes: cfg.MaxShardBytes,
		CorruptShards: n.metrics.shardsCorrupt,
		Logger:        cfg.Logger,
		Now:           cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	n.peers, err = peers.New(ctx, cfg.Peers,
		peers.Self{Keys: keys, Name: cfg.Name, Endpoint: cfg.Endpoint, Epoch: epoch, DataDir: cfg.DataDir},
		peers.Deps{
			DB:         db,
			Fetcher:    remote.Announces,
			Events:     n.bus,
			Active:     n.active,
			PeerDown:   n.assets.RepairSoon,
			Logger:     cfg.Logger,
			Registerer: cfg.Registerer,
			Now:        cfg.Now,
		})
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
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

// Run runs the parts' loops (peer table and discovery, repair) until ctx is
// cancelled, then waits for them and returns nil, or the first part's error
// (the others are stopped then). Methods return ErrStopped afterwards.
func (n *Node) Run(ctx context.Context) error {
	start := n.cfg.Now()
	n.log.Info("Node started", "id", n.info.ID, "name", n.info.Name, "epoch", n.info.Epoch)
	defer func() {
		n.stopped.Store(true)
		n.log.Info("Node stopped", "took", n.cfg.Now().Sub(start).String())
	}()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.peers.Run(ctx) })
	g.Go(func() error { return n.assets.Run(ctx) })
	g.Go(func() error { return n.runHistory(ctx) })
	return g.Wait()
}

func (n *Node) checkRunning() error {
	if n.stopped.Load() {
		return ErrStopped
	}
	return nil
}

// Info returns the node's identity.
func (n *Node) Info() Info { return n.info }

// MaxShardBytes is the largest shard this node accepts.
func (n *Node) MaxShardBytes() int64 { return n.cfg.MaxShardBytes }

// CheckAdminToken reports, in constant time, whether token is the admin token.
func (n *Node) CheckAdminToken(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(n.cfg.AdminToken)) == 1
}

// ReportLoginRefused publishes e on the event bus, so the live feed shows
// a refused dashboard login. The dashboard reports only attempts whose
// token it checked: those are few per address (its back-off), while the
// requests it refuses unread could flood every feed.
func (n *Node) ReportLoginRefused(e LoginRefused) { n.bus.Publish(e) }

// Subscribe returns a subscription to the node's events; see events.Bus.
func (n *Node) Subscribe(buffer int) *Subscription { return n.bus.Subscribe(buffer) }

// EventHistory returns the node's last events (at most
// events.HistorySize), oldest first, for a page's feed on load.
func (n *Node) EventHistory() []Envelope { return n.bus.History() }

// SubscribeAfter is Subscribe that also returns the kept events after
// sequence number after, so a feed continues where its page's history
// ended; see events.Bus.SubscribeAfter.
func (n *Node) SubscribeAfter(buffer int, after uint64) ([]Envelope, *Subscription) {
	return n.bus.SubscribeAfter(buffer, after)
}

// active says whether the host accepts work (false when its settings cannot
// be read).
func (n *Node) active(ctx context.Context) bool {
	a, err := n.Announce(ctx)
	return err == nil && a.Active
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
