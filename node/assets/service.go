package assets

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/storage"
)

// Config tunes puts, gets and repairs. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// Transfer bounds the shard transfers of puts, gets and repairs.
	Transfer storage.TransferConfig
	// RepairInterval is how often the node checks its own assets against
	// the peer table and repairs stripes below the threshold; a peer going
	// down also triggers a check (RepairSoon). Default 1 min; negative:
	// only when asked (Repair).
	RepairInterval time.Duration
	// RepairGrace is how long a host may be down before the node counts
	// the shards it holds as lost and rebuilds them elsewhere: a Pi that
	// reboots or a link that drops for a few minutes keeps its shards, and
	// a mesh that lost power together comes back with its files. A repair
	// asked for by the operator does not wait. Default 10 min (Ceph marks
	// a down disk out after the same time); negative: no grace.
	RepairGrace time.Duration
	// AuditInterval is how often the node challenges the hosts of its
	// files to prove they still hold their shards (RunAudits). Default
	// 10 min; negative: never.
	AuditInterval time.Duration
	// AuditShards is how many random shards of each file a round audits.
	// Default 3.
	AuditShards int
	// AuditMax bounds the audits of one round, over all files. Default 64.
	AuditMax int
	// ClaimInterval is how often (and at start) the node renews its lease
	// on every shard of its files on their hosts; a host collects shards
	// nobody claimed for its grace period (node.Config.ShardGrace), which
	// must be at least twice this. Default 6 h.
	ClaimInterval time.Duration
	// StallAge is how long a put may read nothing from its client before
	// it raises an UploadStalled alert (once per stall; it goes on
	// waiting). Default 90 s, the jobs' stall age; negative: never.
	StallAge time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Transfer: storage.DefaultTransferConfig(), RepairInterval: time.Minute, RepairGrace: 10 * time.Minute,
		AuditInterval: 10 * time.Minute, AuditShards: 3, AuditMax: 64, ClaimInterval: 6 * time.Hour,
		StallAge: 90 * time.Second}
}

// Claim returns the claim interval, or its default when zero.
func (c Config) Claim() time.Duration {
	if c.ClaimInterval <= 0 {
		return DefaultConfig().ClaimInterval
	}
	return c.ClaimInterval
}

// Hosts lists the hosts a put or a repair may place shards on: this node
// when it is active, and every peer that is up, active and known by ID. It
// must be safe for concurrent use.
type Hosts interface {
	Candidates(ctx context.Context) ([]storage.Candidate, error)
	// Members returns the cluster's other members, each with the last
	// time it was known up: zero for one up now, else never earlier than
	// this node's start (it cannot have seen them before).
	Members(ctx context.Context) (map[string]time.Time, error)
}

// A Publisher receives the asset events. Publish must not block.
type Publisher interface {
	Publish(events.Event)
}

// Deps are what the asset service needs from the rest of the node.
type Deps struct {
	DB *sql.DB
	// Keys are the owner's: the node ID names the owner, the X25519 key
	// wraps and unwraps file keys.
	Keys *identity.Keys
	// Transport moves shards; a node's own shards should go through a
	// local transport (see LocalFirst).
	Transport storage.Transport
	Hosts     Hosts
	// PeerStates, if set, lets a get ask hosts marked down last.
	PeerStates PeerStates
	Events     Publisher
	// MaxShardBytes bounds the shard size a put may choose (the node's own
	// intake limit, which every host of the cluster shares by default).
	MaxShardBytes int64
	// ShardGrace is how long hosts keep shards nobody claims (the node's
	// own node.Config.ShardGrace, which the cluster shares by default): a
	// deletion still pending after it is dropped, the host having
	// collected the shard by then.
	ShardGrace time.Duration
	// CorruptShards counts shards a host served with the wrong bytes.
	// Optional.
	CorruptShards prometheus.Counter
	// Audits counts audits by outcome. Optional.
	Audits AuditCounter
	Logger *slog.Logger
	Now    func() time.Time
}

// Service stores files across the mesh, reads them back and keeps them
// repaired. Its methods are safe for concurrent use.
type Service struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	boxKey   string
	catalog  *storage.Catalog
	putter   *storage.Putter
	fetcher  *storage.Fetcher
	repairer *storage.Repairer
	// repairNow asks the repair loop for an early pass (a peer went down).
	repairNow chan struct{}

	// uploadsMu guards uploads.
	uploadsMu sync.Mutex
	// uploads holds the content hashes of the puts running now (see
	// claimUpload); it is bounded by the puts running at once.
	uploads map[string]bool
}

// New opens the asset catalog (migrating its tables) and returns a Service
// ready to Run. It starts no goroutines.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	d := DefaultConfig()
	if cfg.RepairInterval == 0 {
		cfg.RepairInterval = d.RepairInterval
	}
	if cfg.RepairGrace == 0 {
		cfg.RepairGrace = d.RepairGrace
	}
	if cfg.StallAge == 0 {
		cfg.StallAge = d.StallAge
	}
	if cfg.AuditInterval == 0 {
		cfg.AuditInterval = d.AuditInterval
	}
	if cfg.AuditShards <= 0 {
		cfg.AuditShards = d.AuditShards
	}
	if cfg.AuditMax <= 0 {
		cfg.AuditMax = d.AuditMax
	}
	cfg.ClaimInterval = cfg.Claim()
	if deps.DB == nil || deps.Keys == nil || deps.Transport == nil || deps.Hosts == nil || deps.Events == nil ||
		deps.Logger == nil || deps.Now == nil || deps.MaxShardBytes < 1 || deps.ShardGrace <= 0 {
		return nil, errors.New("assets: DB, Keys, Transport, Hosts, Events, Logger, Now, MaxShardBytes and ShardGrace are required")
	}
	catalog, err := storage.OpenCatalog(ctx, deps.DB, deps.Now)
	if err != nil {
		return nil, err
	}
	deps.Hosts = auditWeighted{inner: deps.Hosts, catalog: catalog}
	s := &Service{
		cfg: cfg, deps: deps, log: deps.Logger.With("component", "node/assets"),
		boxKey: hex.EncodeToString(deps.Keys.BoxPublic()), catalog: catalog, repairNow: make(chan struct{}, 1),
		uploads: map[string]bool{},
	}
	s.putter = &storage.Putter{Catalog: catalog, Transport: deps.Transport, Config: cfg.Transfer}
	s.fetcher = &storage.Fetcher{Transport: deps.Transport, Config: cfg.Transfer, OnCorrupt: s.shardCorrupt}
	s.repairer = &storage.Repairer{Catalog: catalog, Fetcher: s.fetcher, Config: cfg.Transfer}
	return s, nil
}

// Run claims the node's shards on their hosts at once and every
// ClaimInterval, and checks the node's assets every RepairInterval and when
// RepairSoon asks; both passes also retry the shard deletions hosts still
// owe. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var repairTick <-chan time.Time
	if s.cfg.RepairInterval > 0 {
		t := time.NewTicker(s.cfg.RepairInterval)
		defer t.Stop()
		repairTick = t.C
	}
	claims := time.NewTicker(s.cfg.ClaimInterval)
	defer claims.Stop()
	// graceEnds fires when the first host within its grace period runs out
	// of it, so its shards are rebuilt then rather than at the next tick.
	graceEnds := time.NewTimer(time.Hour)
	graceEnds.Stop()
	defer graceEnds.Stop()
	// shown is what the repair passes last found of each asset (repairAll).
	shown := map[string][]int{}
	repair := func() {
		if next := s.repairAll(ctx, shown); !next.IsZero() {
			graceEnds.Reset(max(next.Sub(s.deps.Now()), time.Second))
		}
	}
	s.claimAll(ctx)
	s.retryDeletions(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-claims.C:
			s.claimAll(ctx)
		case <-repairTick:
			repair()
		case <-graceEnds.C:
			repair()
		case <-s.repairNow:
			if repairTick == nil {
				continue
			}
			repair()
		}
		s.retryDeletions(ctx)
	}
}

// RepairSoon asks for an early repair pass (a peer went down). It never
// blocks: a pass already due covers it.
func (s *Service) RepairSoon() {
	select {
	case s.repairNow <- struct{}{}:
	default:
	}
}

// shardCorrupt reports a shard a host served with the wrong bytes.
func (s *Service) shardCorrupt(addr storage.ShardAddr, host storage.Candidate) {
	if s.deps.CorruptShards != nil {
		s.deps.CorruptShards.Inc()
	}
	s.log.Warn("Host served a corrupt shard; ignored", "asset", addr.AssetID, "stripe", addr.Stripe,
		"index", addr.Index, "host", host.Endpoint)
	s.deps.Events.Publish(ShardCorrupt{AssetID: addr.AssetID, Stripe: addr.Stripe, Index: addr.Index, Host: host.Endpoint})
}
