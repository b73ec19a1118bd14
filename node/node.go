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
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/assets"
	"github.com/offgrid-net/offgrid/node/economy"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/node/history"
	"github.com/offgrid-net/offgrid/node/jobs"
	"github.com/offgrid-net/offgrid/node/ledgersync"
	"github.com/offgrid-net/offgrid/node/peers"
	"github.com/offgrid-net/offgrid/node/trust"
	"github.com/offgrid-net/offgrid/quorum"
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
	// BodyGrace and BodyMinRate bound how long a request body may keep its
	// handler (and so an upload slot) waiting: reads of a body may block
	// for at most BodyGrace plus one second per BodyMinRate bytes received.
	// A slower sender gets 408. Defaults 30 s and 4096 bytes/s: a 16 MiB
	// shard may take 68 minutes, which a weak multi-hop Wi-Fi link behind a
	// LoRa-coordinated mesh still meets, while one byte every few seconds
	// holds a slot for at most about half a minute.
	BodyGrace   time.Duration
	BodyMinRate int64
	// MinFreeBytes is the free space on the data directory's file system
	// below which /healthz answers 503 (the disk is nearly full). Default
	// 64 MiB: room for four shards of the default size.
	MinFreeBytes int64
	// ScrubInterval is how often the node re-reads every shard it hosts and
	// quarantines the lost or corrupt ones (see Scrub). Default 6 h: a pass
	// reads the whole store. Negative: never.
	ScrubInterval time.Duration
	// ShardGrace is how long this node keeps a shard another node stored
	// that nobody claims (see assets.Config.ClaimInterval): long, so that
	// an owner away for days loses nothing, but finite, so that shards of
	// deleted or abandoned files do not stay for ever. Shards the admin
	// stored are never collected. It must be at least twice the claim
	// interval. Default 7 days.
	ShardGrace time.Duration
	// SettleInterval is how often the node settles: as a host it sends its
	// newest accepted receipts to their consumers that are up, and as a
	// consumer it pays the receipts it owes (see Settle). Default 5 min.
	// Negative: never.
	SettleInterval time.Duration
	// StorageBillWindow is the length of the windows an owner pays its
	// hosts for keeping its shards: at each settle round, the owner asks
	// each host for a receipt for every window that ended since the host
	// last billed it (see billStorage); as a host, the node bills no
	// shorter windows. Whole seconds, at most 31 days; default 1 h.
	StorageBillWindow time.Duration
	// MaxStoragePrice is the highest storage price (micro-credits per
	// gigabyte-hour) this node pays its hosts: a host that raises its
	// price above it after taking the node's shards is not paid. Default 1
	// credit, ten times the default price.
	MaxStoragePrice int64
	// Peers configures the peer table, discovery, membership and mesh health.
	Peers peers.Config
	// Assets configures puts, gets and repairs of the node's own files.
	Assets assets.Config
	// Trust configures the spreading of the cluster document and the
	// pending list.
	Trust trust.Config
	// Economy configures the witness service, the auto-finalizer and the
	// spreading of certificates.
	Economy economy.Config
	// History configures the recorded history behind the overview charts.
	History history.Config
	// Ledger configures block sync and the store-and-forward outbox.
	Ledger ledgersync.Config
	// Jobs configures the WebAssembly jobs this node runs as a host and
	// brokers to others.
	Jobs jobs.Config
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
	// Clusters fetches other nodes' cluster documents. Nil: the document
	// changes only when the operator installs one.
	Clusters trust.Fetcher
	// Ledger syncs blocks and forwards outbox items. Nil: neither leaves
	// the node.
	Ledger ledgersync.Remote
	// Economy asks witnesses and spreads certificates. Nil: only this
	// node's own witness vote counts and nothing spreads.
	Economy economy.Remote
	// Receipts runs jobs on other hosts, returns acceptances and bills
	// consumers. Nil: this node neither asks other hosts nor bills.
	Receipts ReceiptPeers
	// Jobs reaches other hosts' job endpoints. Nil: jobs run on this node
	// only.
	Jobs jobs.Transport
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
		ClusterID:         "offgrid-local",
		StoreConcurrency:  4,
		MaxShardBytes:     MaxShardBytesLimit,
		ReplaySenders:     1024,
		BodyGrace:         30 * time.Second,
		BodyMinRate:       4096,
		MinFreeBytes:      64 << 20,
		ScrubInterval:     6 * time.Hour,
		ShardGrace:        7 * 24 * time.Hour,
		SettleInterval:    5 * time.Minute,
		StorageBillWindow: time.Hour,
		MaxStoragePrice:   fixed.Scale,
		Peers:             peers.DefaultConfig(),
		Assets:            assets.DefaultConfig(),
		Trust:             trust.DefaultConfig(),
		Ledger:            ledgersync.DefaultConfig(),
		Economy:           economy.DefaultConfig(),
		History:           history.DefaultConfig(),
		Jobs:              jobs.DefaultConfig(),
		Now:               time.Now,
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
	if c.BodyGrace == 0 {
		c.BodyGrace = d.BodyGrace
	}
	if c.BodyMinRate == 0 {
		c.BodyMinRate = d.BodyMinRate
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = d.MinFreeBytes
	}
	if c.ScrubInterval == 0 {
		c.ScrubInterval = d.ScrubInterval
	}
	if c.ShardGrace == 0 {
		c.ShardGrace = d.ShardGrace
	}
	if c.SettleInterval == 0 {
		c.SettleInterval = d.SettleInterval
	}
	if c.StorageBillWindow == 0 {
		c.StorageBillWindow = d.StorageBillWindow
	}
	if c.MaxStoragePrice == 0 {
		c.MaxStoragePrice = d.MaxStoragePrice
	}
	if c.Now == nil {
		c.Now = d.Now
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
	case c.BodyGrace < 0:
		return errors.New("body grace must not be negative")
	case c.BodyMinRate < 1 || c.BodyMinRate > 1<<30:
		return errors.New("body min rate must be between 1 and 1073741824 bytes/s")
	case c.MinFreeBytes < 0:
		return errors.New("min free bytes must not be negative")
	case c.StorageBillWindow < ledger.MinStorageWindow || c.StorageBillWindow > ledger.MaxStorageWindow || c.StorageBillWindow%time.Second != 0:
		return fmt.Errorf("storage bill window must be whole seconds from %s to %s", ledger.MinStorageWindow, ledger.MaxStorageWindow)
	case c.MaxStoragePrice < 0 || c.MaxStoragePrice > MaxPrice:
		return fmt.Errorf("max storage price must be between 0 and %s", fixed.Format(MaxPrice))
	case c.ShardGrace < 2*c.Assets.Claim():
		return fmt.Errorf("shard grace (%s) must be at least twice the claim interval (%s)", c.ShardGrace, c.Assets.Claim())
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
	trust    *trust.Service
	blocks   *ledger.BlockStore
	quorum   *quorum.Store
	ledger   *ledgersync.Service
	economy  *economy.Service
	settle   settlement

	// storageSignMu makes a host check and sign one storage window at a
	// time; storageBillMu is held by the billing round that runs.
	storageSignMu sync.Mutex
	storageBillMu sync.Mutex
	jobs          *jobs.Service

	// storeSlots holds one token per running shard upload from another node.
	storeSlots chan struct{}
	stopped    atomic.Bool
	traffic    traffic

	history *history.Recorder
	// started is when New ran: hosts this node has not seen since count
	// as gone since then (hostList.Members).
	started time.Time

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
		started:  cfg.Now(),
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
	removed := shards.Removed()
	n.metrics.startupRemoved.WithLabelValues("tmp").Set(float64(removed.TempFiles))
	n.metrics.startupRemoved.WithLabelValues("blob").Set(float64(removed.Blobs))
	if removed != (storage.Cleanup{}) {
		n.log.Info("Removed leftovers of an earlier run from the shard store", "temp_files", removed.TempFiles, "blobs", removed.Blobs)
	}
	if cfg.Registerer != nil {
		// The pool's open, busy and idle connections and its waits.
		cfg.Registerer.MustRegister(collectors.NewDBStatsCollector(db, "offgrid"))
	}
	var remote Remote
	if cfg.Connect != nil {
		remote = cfg.Connect(identity.NewRequestSigner(keys, epoch))
	}
	var shardsOut storage.Transport
	if remote.Shards != nil {
		shardsOut = countingTransport{Transport: remote.Shards, t: &n.traffic}
	}
	if n.history, err = history.New(ctx, cfg.History, history.Deps{DB: db, Sample: n.Usage, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	n.assets, err = assets.New(ctx, cfg.Assets, assets.Deps{
		DB:            db,
		Keys:          keys,
		Transport:     assets.LocalFirst(string(keys.ID()), localShards{n}, shardsOut),
		Hosts:         hostList{n},
		PeerStates:    hostList{n},
		Events:        n.bus,
		MaxShardBytes: cfg.MaxShardBytes,
		ShardGrace:    cfg.ShardGrace,
		CorruptShards: n.metrics.shardsCorrupt,
		Audits:        func(result string) { n.metrics.audits.WithLabelValues(result).Inc() },
		Logger:        cfg.Logger,
		Now:           cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	n.trust, err = trust.New(ctx, cfg.Trust, trust.Deps{
		DB:      db,
		Self:    keys.ID(),
		Fetcher: remote.Clusters,
		Sources: n.clusterSources,
		Changed: n.clusterChanged,
		Logger:  cfg.Logger,
		Now:     cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if err := n.openSettlement(ctx, remote.Receipts); err != nil {
		return nil, err
	}
	n.economy, err = economy.New(ctx, cfg.Economy, economy.Deps{
		DB:        db,
		Keys:      keys,
		Document:  n.trust.Document,
		Peers:     n.upPeers,
		Remote:    remote.Economy,
		Validator: n.validators(),
		Events:    n.bus,
		Logger:    cfg.Logger,
		Now:       cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	n.peers, err = peers.New(ctx, cfg.Peers,
		peers.Self{Keys: keys, Name: cfg.Name, Endpoint: cfg.Endpoint, Epoch: epoch, DataDir: cfg.DataDir},
		peers.Deps{
			DB:         db,
			Gate:       n.trust,
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
	if err := n.newLedgerSync(ctx, remote.Ledger); err != nil {
		return nil, err
	}
	if n.quorum, err = quorum.Open(ctx, db, quorumFeed{n}, cfg.Now); err != nil {
		return nil, err
	}
	n.jobs, err = jobs.New(ctx, cfg.Jobs, n.jobDeps(db, keys, remote.Jobs))
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

// Run runs the parts' loops (peer table and discovery, repair and claims,
// collection of unclaimed shards) until ctx is cancelled, then waits for
// them and returns nil, or the first part's error (the others are stopped
// then). Methods return ErrStopped afterwards.
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
	g.Go(func() error { return n.scrubLoop(ctx) })
	g.Go(func() error { return n.assets.RunAudits(ctx) })
	g.Go(func() error { return n.trust.Run(ctx) })
	g.Go(func() error { return n.economy.Run(ctx) })
	g.Go(func() error { return n.settleLoop(ctx) })
	g.Go(func() error { return n.collectLoop(ctx) })
	g.Go(func() error { return n.history.Run(ctx) })
	g.Go(func() error { return n.ledger.Run(ctx) })
	g.Go(func() error { return n.jobs.Run(ctx) })
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

// BodyLimits returns how long reads of a request body may block: grace,
// plus one second per minRate bytes received (Config.BodyGrace and
// BodyMinRate).
func (n *Node) BodyLimits() (grace time.Duration, minRate int64) {
	return n.cfg.BodyGrace, n.cfg.BodyMinRate
}

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
