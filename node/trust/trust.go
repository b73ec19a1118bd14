package trust

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Config tunes the spreading of the cluster document and the pending list.
// Zero fields take the values of DefaultConfig.
type Config struct {
	// PollInterval is how often a few up members are asked for their
	// document. Default 10 s: membership changes are rare, and a fetch is
	// one small request.
	PollInterval time.Duration
	// Fanout is how many members are asked per round (chosen in turn).
	// Default 3.
	Fanout int
	// PollTimeout bounds one fetch. Default 5 s.
	PollTimeout time.Duration
	// MaxPending bounds the pending list. Default 64.
	MaxPending int
	// Join, when set, is the ID of a cluster this node (holding no
	// document) joins on its own: the first valid document of that ID that
	// admits it, fetched from a static peer or a pending node, is installed.
	Join string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{PollInterval: 10 * time.Second, Fanout: 3, PollTimeout: 5 * time.Second, MaxPending: 64}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if c.Fanout == 0 {
		c.Fanout = d.Fanout
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = d.PollTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	return c
}

// A Fetcher asks another node for its cluster document (its canonical
// bytes). It must be safe for concurrent use, honour ctx and read at most
// cluster.MaxSize bytes.
type Fetcher interface {
	FetchCluster(ctx context.Context, endpoint string) ([]byte, error)
}

// Deps are what the trust part needs from the rest of the node.
type Deps struct {
	DB *sql.DB
	// Self is this node's ID.
	Self identity.NodeID
	// Fetcher fetches other nodes' documents. Nil: the document spreads
	// only by Install.
	Fetcher Fetcher
	// Sources returns the endpoints to ask for a document: up members (and,
	// for Config.Join, static peers). It must be safe for concurrent use.
	Sources func(ctx context.Context) []string
	// Changed is called after a new document is installed, from the
	// installing goroutine (e.g. to prune revoked peers and publish an
	// event). It must not call Install.
	Changed func(ctx context.Context, d cluster.Document)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Pending is a non-member that was heard.
type Pending struct {
	ID        identity.NodeID
	Name      string
	Endpoint  string
	Via       string
	FirstSeen time.Time
	LastSeen  time.Time
}

// Service holds the installed document and the pending list. Its methods
// are safe for concurrent use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	join cluster.ID

	// installMu serializes installs (read, check, write, publish).
	installMu sync.Mutex

	// mu guards doc, proposal and pending.
	mu       sync.RWMutex
	doc      *cluster.Document
	proposal *cluster.Document
	pending  map[identity.NodeID]Pending
}

// New loads the installed document from node_cluster (which package node
// migrates) and returns a Service ready to Run. It starts no goroutines.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	switch {
	case deps.DB == nil || deps.Self == "" || deps.Logger == nil || deps.Now == nil:
		return nil, errors.New("trust: DB, Self, Logger and Now are required")
	case cfg.MaxPending < 1 || cfg.Fanout < 1 || cfg.PollInterval < 0:
		return nil, errors.New("trust: max pending and fanout must be positive")
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger.With("component", "node/trust"), pending: map[identity.NodeID]Pending{}}
	if cfg.Join != "" {
		id, err := cluster.ParseID(cfg.Join)
		if err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
		s.join = id
	}
	var b []byte
	err := deps.DB.QueryRowContext(ctx, `SELECT document FROM node_cluster WHERE id = 1`).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("load cluster document: %w", err)
	default:
		d, err := cluster.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("load cluster document: %w", err)
		}
		s.doc = &d
	}
	return s, nil
}

// Document returns the installed document; ok is false when the node runs
// alone.
func (s *Service) Document() (d cluster.Document, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.doc == nil {
		return cluster.Document{}, false
	}
	return *s.doc, true
}

// IsMember reports whether id is a member of the installed document. With
// none, nobody is.
func (s *Service) IsMember(id identity.NodeID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.doc != nil && s.doc.IsMember(id)
}

// Install installs d, given by the node's operator: as the first document
// when the node holds none and d admits it (or names it an admin), or as a
// successor of the installed one. Installing the installed version again
// is a no-op. It returns an error wrapping nodeerr.ErrInvalid for a
// document not valid on its own and nodeerr.ErrConflict for one that may
// not replace the installed one.
func (s *Service) Install(ctx context.Context, d cluster.Document) error {
	return s.install(ctx, d, func(d cluster.Document) bool {
		return d.IsMember(s.deps.Self) || d.IsAdmin(s.deps.Self)
	})
}

// Offer installs d, heard from another node, if it is a successor of the
// installed document or (holding none) a document of the cluster named by
// Config.Join, or of the new cluster this node proposed, that admits this
// node. It reports whether d was installed.
func (s *Service) Offer(ctx context.Context, b []byte) (bool, error) {
	d, err := cluster.Parse(b)
	if err != nil {
		return false, fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	}
	if cur, ok := s.Document(); ok && d.Serial <= cur.Serial {
		return false, nil // the usual answer: nothing new
	}
	err = s.install(ctx, d, func(d cluster.Document) bool {
		prop, proposed := s.Proposal()
		wanted := s.cfg.Join != "" && d.ID == s.join || proposed && prop.Serial == 1 && d.ID == prop.ID
		return wanted && (d.IsMember(s.deps.Self) || d.IsAdmin(s.deps.Self))
	})
	return err == nil, err
}

func (s *Service) install(ctx context.Context, d cluster.Document, first func(cluster.Document) bool) error {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	if err := d.Verify(); err != nil {
		return fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	}
	cur, ok := s.Document()
	switch {
	case ok && d.ID == cur.ID && d.Serial == cur.Serial:
		a, _ := d.Encode()
		b, _ := cur.Encode()
		if string(a) == string(b) {
			return nil
		}
		return fmt.Errorf("%w: another document with serial %d is installed", nodeerr.ErrConflict, d.Serial)
	case ok:
		if err := cluster.CheckSuccessor(cur, d); err != nil {
			return fmt.Errorf("%w: %w", nodeerr.ErrConflict, err)
		}
	case !first(d):
		return fmt.Errorf("%w: the document does not admit this node (%s)", nodeerr.ErrConflict, s.deps.Self)
	}
	enc, err := d.Encode()
	if err != nil {
		return fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	}
	_, err = s.deps.DB.ExecContext(ctx, `INSERT INTO node_cluster(id, document, serial) VALUES (1, ?, ?)
		ON CONFLICT(id) DO UPDATE SET document = excluded.document, serial = excluded.serial`, enc, int64(d.Serial))
	if err != nil {
		return fmt.Errorf("store cluster document: %w", err)
	}
	s.mu.Lock()
	s.doc = &d
	if s.proposal != nil && s.proposal.Serial <= d.Serial {
		s.proposal = nil
	}
	for id := range s.pending {
		if d.IsMember(id) || d.IsRevoked(id) {
			delete(s.pending, id)
		}
	}
	s.mu.Unlock()
	s.log.Info("Cluster document installed", "cluster", d.ID.String(), "serial", d.Serial, "members", len(d.Members))
	if s.deps.Changed != nil {
		s.deps.Changed(ctx, d)
	}
	return nil
}

// Propose keeps d as the change waiting for more admins' signatures (one
// at a time: a newer proposal replaces an older one).
func (s *Service) Propose(d cluster.Document) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proposal = &d
}

// Proposal returns the change waiting for signatures, if any.
func (s *Service) Proposal() (cluster.Document, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.proposal == nil {
		return cluster.Document{}, false
	}
	return *s.proposal, true
}

// NotePending records a non-member that was heard. Members and revoked
// nodes are not recorded. When the list is full the entry silent longest
// makes room. It does not block.
func (s *Service) NotePending(id identity.NodeID, name, endpoint, via string) {
	now := s.deps.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doc != nil && (s.doc.IsMember(id) || s.doc.IsRevoked(id)) || id == s.deps.Self {
		return
	}
	p, ok := s.pending[id]
	if !ok {
		if len(s.pending) >= s.cfg.MaxPending {
			var oldest identity.NodeID
			for k, v := range s.pending {
				if oldest == "" || v.LastSeen.Before(s.pending[oldest].LastSeen) {
					oldest = k
				}
			}
			delete(s.pending, oldest)
		}
		p = Pending{ID: id, FirstSeen: now}
	}
	p.Name, p.Endpoint, p.Via, p.LastSeen = name, endpoint, via, now
	s.pending[id] = p
}

// PendingNodes returns the pending list, most recently heard first.
func (s *Service) PendingNodes() []Pending {
	s.mu.RLock()
	out := make([]Pending, 0, len(s.pending))
	for _, p := range s.pending {
		out = append(out, p)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Pending) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return compare(a.ID, b.ID)
	})
	return out
}

func compare(a, b identity.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Run asks a few sources for their document every PollInterval (the first
// round at once) and installs newer valid ones, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.Fetcher == nil || s.deps.Sources == nil || s.cfg.PollInterval < 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	next := 0
	for {
		next = s.round(ctx, next)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round asks Fanout sources, starting at index from (so that successive
// rounds go round all of them), one at a time, and returns where the next
// round starts.
func (s *Service) round(ctx context.Context, from int) int {
	sources := s.deps.Sources(ctx)
	if _, ok := s.Document(); !ok && s.cfg.Join != "" {
		for _, p := range s.PendingNodes() {
			sources = append(sources, p.Endpoint)
		}
	}
	if len(sources) == 0 {
		return 0
	}
	for i := range min(s.cfg.Fanout, len(sources)) {
		ep := sources[(from+i)%len(sources)]
		fctx, cancel := context.WithTimeout(ctx, s.cfg.PollTimeout)
		b, err := s.deps.Fetcher.FetchCluster(fctx, ep)
		cancel()
		if err != nil {
			s.log.Debug("Cluster document fetch failed", "peer", ep, "err", err)
			continue
		}
		if _, err := s.Offer(ctx, b); err != nil {
			s.log.Debug("Cluster document refused", "peer", ep, "err", err)
		}
	}
	return (from + s.cfg.Fanout) % len(sources)
}
