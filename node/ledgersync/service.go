package ledgersync

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config tunes block sync and the outbox. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// SyncInterval is how often the node compares its heads with a few up
	// peers and pulls what it lacks. Default 5 s. Negative: never (blocks
	// then move only when pushed or forwarded; the parents of a held block
	// are still fetched).
	SyncInterval time.Duration
	// Fanout is how many up peers one round asks (in turn). Default 3.
	Fanout int
	// Timeout bounds one request to a peer. Default 10 s.
	Timeout time.Duration
	// PageSize is how many blocks one request pulls. Default 64.
	PageSize int
	// MaxFetch bounds the blocks pulled from one peer in one round.
	// Default 4096.
	MaxFetch int
	// MaxOrphans bounds the blocks held while their parents are fetched.
	// Default 1024.
	MaxOrphans int
	// OrphanTTL is how long a block waits for its parents before it is
	// dropped (a later round pulls it again). Default 10 min.
	OrphanTTL time.Duration
	// SealInterval is how often the node puts its new receipts into a
	// block. Default 30 s. Negative: never (Seal still works).
	SealInterval time.Duration
	// SealMax is the most receipts per block. Default and most
	// ledger.MaxBlockReceipts.
	SealMax int
	// Outbox bounds the store-and-forward queue.
	Outbox OutboxConfig
}

// OutboxConfig bounds the store-and-forward queue (see doc.go).
type OutboxConfig struct {
	// MaxItems and MaxBytes bound the queued items and their payload bytes;
	// a full outbox refuses new items (nothing queued is dropped for them).
	// Defaults 4096 and 64 MiB.
	MaxItems int
	MaxBytes int64
	// TTL is the lifetime of an item queued without one. Default 7 days:
	// a village cut off for a week still settles.
	TTL time.Duration
	// MaxTTL caps any item's lifetime, also one carried for another node.
	// Default 30 days.
	MaxTTL time.Duration
	// FlushInterval is how often queued items are offered to the peers up.
	// Default 3 s.
	FlushInterval time.Duration
	// MaxSeen bounds the content hashes of handled items kept to refuse
	// a second copy. Default 65536.
	MaxSeen int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SyncInterval: 5 * time.Second,
		Fanout:       3,
		Timeout:      10 * time.Second,
		PageSize:     64,
		MaxFetch:     4096,
		MaxOrphans:   1024,
		OrphanTTL:    10 * time.Minute,
		SealInterval: 30 * time.Second,
		SealMax:      ledger.MaxBlockReceipts,
		Outbox: OutboxConfig{
			MaxItems:      4096,
			MaxBytes:      64 << 20,
			TTL:           7 * 24 * time.Hour,
			MaxTTL:        30 * 24 * time.Hour,
			FlushInterval: 3 * time.Second,
			MaxSeen:       1 << 16,
		},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	setD := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	setD(&c.SyncInterval, d.SyncInterval)
	set(&c.Fanout, d.Fanout)
	setD(&c.Timeout, d.Timeout)
	set(&c.PageSize, d.PageSize)
	set(&c.MaxFetch, d.MaxFetch)
	set(&c.MaxOrphans, d.MaxOrphans)
	setD(&c.OrphanTTL, d.OrphanTTL)
	setD(&c.SealInterval, d.SealInterval)
	set(&c.SealMax, d.SealMax)
	set(&c.Outbox.MaxItems, d.Outbox.MaxItems)
	if c.Outbox.MaxBytes == 0 {
		c.Outbox.MaxBytes = d.Outbox.MaxBytes
	}
	setD(&c.Outbox.TTL, d.Outbox.TTL)
	setD(&c.Outbox.MaxTTL, d.Outbox.MaxTTL)
	setD(&c.Outbox.FlushInterval, d.Outbox.FlushInterval)
	set(&c.Outbox.MaxSeen, d.Outbox.MaxSeen)
	return c
}

func (c Config) validate() error {
	switch {
	case c.Fanout < 1 || c.Fanout > 64:
		return errors.New("ledgersync: fanout must be 1-64")
	case c.Timeout < 0:
		return errors.New("ledgersync: timeout must not be negative")
	case c.PageSize < 1 || c.PageSize > MaxPage:
		return fmt.Errorf("ledgersync: page size must be 1-%d", MaxPage)
	case c.MaxFetch < 1 || c.MaxOrphans < 1 || c.OrphanTTL < 0:
		return errors.New("ledgersync: max fetch and max orphans must be positive")
	case c.SealMax < 1 || c.SealMax > ledger.MaxBlockReceipts:
		return fmt.Errorf("ledgersync: seal max must be 1-%d", ledger.MaxBlockReceipts)
	case c.Outbox.MaxItems < 1 || c.Outbox.MaxBytes < MaxPayload || c.Outbox.MaxSeen < 1:
		return fmt.Errorf("ledgersync: outbox bounds must be positive (max bytes at least %d)", MaxPayload)
	case c.Outbox.TTL <= 0 || c.Outbox.MaxTTL < c.Outbox.TTL || c.Outbox.FlushInterval <= 0:
		return errors.New("ledgersync: outbox TTL must be positive and at most max TTL, and the flush interval positive")
	}
	return nil
}

// MaxPage is the most blocks one page of a peer's blocks may hold.
const MaxPage = 256

// Peer is an up member the node can reach.
type Peer struct {
	ID       identity.NodeID
	Endpoint string
}

// Heads is a node's summary of its blocks: each author's highest block.
type Heads struct {
	ClusterID string
	Heads     []ledger.Head
}

// Remote is how the part reaches other nodes. Implementations decode
// blocks strictly (ledger.DecodeBlock), bound what they read, honour ctx
// and are safe for concurrent use.
type Remote interface {
	// Heads asks a node for its heads.
	Heads(ctx context.Context, endpoint string) (Heads, error)
	// Blocks asks for up to limit of author's blocks above height after.
	Blocks(ctx context.Context, endpoint string, author identity.NodeID, after uint64, limit int) ([]ledger.Block, error)
	// Block asks for one block by name.
	Block(ctx context.Context, endpoint string, name ledger.BlockName) (ledger.Block, error)
	// AppendBlock pushes a block (node-signed).
	AppendBlock(ctx context.Context, endpoint string, b ledger.Block) error
	// Forward hands an item to a node (node-signed): the destination
	// itself or a carrier.
	Forward(ctx context.Context, endpoint string, it Item) (Outcome, error)
}

// Deps are what the part needs from the rest of the node.
type Deps struct {
	DB     *sql.DB
	Blocks *ledger.BlockStore
	// Keys sign the node's blocks, sealed from the node's receipts in the
	// same database.
	Keys *identity.Keys
	// ClusterID returns the cluster every block and receipt must name: it
	// changes when the node joins a cluster, so it is asked each time.
	ClusterID func() string
	// AuthorOK says whether blocks by id are accepted (members).
	AuthorOK func(id identity.NodeID) bool
	// Peers returns the up members with a known ID. Nil: none.
	Peers func(ctx context.Context) []Peer
	// Remote reaches other nodes. Nil: the node syncs with nobody.
	Remote Remote
	// Added is called after a block is stored (from the storing
	// goroutine), e.g. to publish an event. It must not block.
	Added  func(b ledger.Block)
	Logger *slog.Logger
	Now    func() time.Time
}

// Service syncs blocks with peers and runs the outbox. Its methods are safe
// for concurrent use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	kick chan struct{}
	out  *outbox

	// mu guards orphans, waiters and handlers.
	mu       sync.Mutex
	orphans  map[ledger.BlockName]*orphan
	waiters  map[ledger.BlockName][]ledger.BlockName
	handlers map[string]Handler
}

// orphan is a verified block whose parents are not stored yet.
type orphan struct {
	block   ledger.Block
	missing map[ledger.BlockName]bool
	from    string
	since   time.Time
}

// New migrates the part's tables and returns a Service ready to Run. It
// starts no goroutines.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.Blocks == nil || deps.Keys == nil || deps.ClusterID == nil ||
		deps.AuthorOK == nil || deps.Logger == nil || deps.Now == nil {
		return nil, errors.New("ledgersync: DB, Blocks, Keys, ClusterID, AuthorOK, Logger and Now are required")
	}
	if err := sqlitedb.Migrate(ctx, deps.DB, "ledgersync", migrations); err != nil {
		return nil, fmt.Errorf("ledgersync: %w", err)
	}
	s := &Service{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger.With("component", "node/ledgersync"),
		kick:     make(chan struct{}, 1),
		orphans:  map[ledger.BlockName]*orphan{},
		waiters:  map[ledger.BlockName][]ledger.BlockName{},
		handlers: map[string]Handler{},
	}
	out, err := newOutbox(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("ledgersync: %w", err)
	}
	s.out = out
	s.Handle(KindBlock, s.handleBlock)
	return s, nil
}

// Run syncs, seals and flushes the outbox until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.syncLoop(ctx) }()
	go func() { defer wg.Done(); s.sealLoop(ctx) }()
	go func() { defer wg.Done(); s.out.loop(ctx) }()
	wg.Wait()
	return nil
}

// syncLoop runs a Round every SyncInterval, and at once when a block is
// held. With SyncInterval negative it only fetches held blocks' parents.
func (s *Service) syncLoop(ctx context.Context) {
	if s.deps.Remote == nil || s.deps.Peers == nil {
		<-ctx.Done()
		return
	}
	var tick <-chan time.Time
	if s.cfg.SyncInterval > 0 {
		t := time.NewTicker(s.cfg.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	next := 0
	for {
		if tick != nil {
			next = s.Round(ctx, next)
		} else {
			s.fetchParents(ctx, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-s.kick:
		}
	}
}

func (s *Service) sealLoop(ctx context.Context) {
	if s.cfg.SealInterval < 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(s.cfg.SealInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := s.Seal(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("Sealing receipts into a block failed", "err", err)
		}
	}
}

// Seal puts the node's receipts that no block carries yet into its next
// block (at most SealMax of them), stores it and pushes it to the peers
// up. ok is false when there was nothing to seal.
func (s *Service) Seal(ctx context.Context) (ledger.Block, bool, error) {
	b, ok, err := s.deps.Blocks.Seal(ctx, s.deps.Keys, s.deps.ClusterID(), s.cfg.SealMax)
	if err != nil || !ok {
		return b, ok, err
	}
	s.log.Info("Block sealed", "height", b.Height, "receipts", len(b.Receipts), "name", b.Name().String())
	s.added(ctx, b)
	if s.deps.Remote != nil && s.deps.Peers != nil {
		for _, p := range s.deps.Peers(ctx) {
			pctx, cancel := s.timeout(ctx)
			if err := s.deps.Remote.AppendBlock(pctx, p.Endpoint, b); err != nil {
				s.log.Debug("Block push failed", "peer", p.Endpoint, "err", err)
			}
			cancel()
		}
	}
	return b, true, nil
}

func (s *Service) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.Timeout == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// Round syncs with Fanout up peers starting at index from (so that
// successive rounds go round all of them), fetches the parents the held
// blocks lack, drops held blocks older than OrphanTTL, and returns where
// the next round starts.
func (s *Service) Round(ctx context.Context, from int) int {
	if s.deps.Peers == nil || s.deps.Remote == nil {
		return 0
	}
	peers := s.deps.Peers(ctx)
	asked := map[string]bool{}
	for i := range min(s.cfg.Fanout, len(peers)) {
		p := peers[(from+i)%len(peers)]
		asked[p.Endpoint] = true
		if err := s.SyncWith(ctx, p.Endpoint); err != nil && ctx.Err() == nil {
			s.log.Debug("Block sync failed", "peer", p.Endpoint, "err", err)
		}
	}
	s.fetchParents(ctx, asked)
	if len(peers) == 0 {
		return 0
	}
	return (from + s.cfg.Fanout) % len(peers)
}

// fetchParents asks the nodes held blocks came from (but not those in
// asked, which a sync just asked) for the parents they lack.
func (s *Service) fetchParents(ctx context.Context, asked map[string]bool) {
	s.dropStaleOrphans()
	for _, ep := range s.orphanSources() {
		if !asked[ep] {
			s.fetchWanted(ctx, ep, s.cfg.MaxFetch)
		}
	}
}

// SyncWith exchanges with the node at endpoint what each side lacks: it
// compares heads, pulls each author's blocks above its own head (page by
// page), fetches by name the parents still missing, and pushes the blocks
// the other side lacks. At most MaxFetch blocks each way.
func (s *Service) SyncWith(ctx context.Context, endpoint string) error {
	hctx, cancel := s.timeout(ctx)
	theirs, err := s.deps.Remote.Heads(hctx, endpoint)
	cancel()
	if err != nil {
		return fmt.Errorf("heads of %s: %w", endpoint, err)
	}
	if theirs.ClusterID != s.deps.ClusterID() {
		return fmt.Errorf("%s keeps blocks of cluster %q, not %q", endpoint, theirs.ClusterID, s.deps.ClusterID())
	}
	heads, err := s.deps.Blocks.Heads(ctx)
	if err != nil {
		return err
	}
	mine := map[identity.NodeID]uint64{}
	for _, h := range heads {
		mine[h.Author] = h.Height
	}
	budget := s.cfg.MaxFetch
	for _, h := range theirs.Heads {
		if !s.deps.AuthorOK(h.Author) {
			continue
		}
		after := max(mine[h.Author], s.heldHeight(h.Author))
		for after < h.Height && budget > 0 {
			pctx, cancel := s.timeout(ctx)
			bs, err := s.deps.Remote.Blocks(pctx, endpoint, h.Author, after, min(s.cfg.PageSize, budget))
			cancel()
			if err != nil {
				return fmt.Errorf("blocks of %s from %s: %w", h.Author, endpoint, err)
			}
			if len(bs) == 0 {
				break
			}
			for _, b := range bs {
				if b.Author != h.Author || b.Height <= after {
					return fmt.Errorf("%s answered block %d by %s to a request for %s above %d", endpoint, b.Height, b.Author, h.Author, after)
				}
				after = b.Height
			}
			if err := s.offerPage(ctx, bs, endpoint); err != nil {
				return fmt.Errorf("blocks of %s from %s: %w", h.Author, endpoint, err)
			}
			budget -= len(bs)
		}
	}
	s.fetchWanted(ctx, endpoint, budget)
	return s.push(ctx, endpoint, theirs.Heads)
}

// push sends the node at endpoint, whose heads are theirs, the blocks it
// lacks (each author's above its head there), in the order this node
// stored them, so that parents go before children; at most MaxFetch.
func (s *Service) push(ctx context.Context, endpoint string, theirs []ledger.Head) error {
	if s.deps.Remote == nil {
		return nil
	}
	have := map[identity.NodeID]uint64{}
	for _, h := range theirs {
		have[h.Author] = h.Height
	}
	heads, err := s.deps.Blocks.Heads(ctx)
	if err != nil {
		return err
	}
	var send []ledger.StoredBlock
	for _, h := range heads {
		if h.Height <= have[h.Author] || len(send) >= s.cfg.MaxFetch {
			continue
		}
		bs, err := s.deps.Blocks.Above(ctx, h.Author, have[h.Author], s.cfg.MaxFetch-len(send))
		if err != nil {
			return err
		}
		send = append(send, bs...)
	}
	slices.SortFunc(send, func(a, b ledger.StoredBlock) int { return cmp.Compare(a.Arrival, b.Arrival) })
	for _, sb := range send {
		pctx, cancel := s.timeout(ctx)
		err := s.deps.Remote.AppendBlock(pctx, endpoint, sb.Block)
		cancel()
		if err != nil {
			return fmt.Errorf("push block %d by %s to %s: %w", sb.Block.Height, sb.Block.Author, endpoint, err)
		}
	}
	return nil
}

// fetchWanted fetches by name, from endpoint, the parents held blocks
// lack, until none is left, one fails, or budget blocks were fetched.
func (s *Service) fetchWanted(ctx context.Context, endpoint string, budget int) {
	failed := map[ledger.BlockName]bool{}
	for budget > 0 {
		want := s.wanted(failed)
		if len(want) == 0 {
			return
		}
		for _, n := range want {
			if budget == 0 {
				return
			}
			budget--
			pctx, cancel := s.timeout(ctx)
			b, err := s.deps.Remote.Block(pctx, endpoint, n)
			cancel()
			if err == nil && b.Name() != n {
				err = fmt.Errorf("asked for block %s, got %s", n, b.Name())
			}
			if err == nil {
				_, err = s.Offer(ctx, b, endpoint)
			}
			if err != nil && !errors.Is(err, ledger.ErrMissingParents) {
				failed[n] = true
				s.log.Debug("Parent fetch failed", "peer", endpoint, "block", n.String(), "err", err)
			}
		}
	}
}

// Result says what Offer did with a block.
type Result int

// Results of Offer.
const (
	// Known: the block was stored already.
	Known Result = iota
	// Added: the block was stored (with any held blocks it completed).
	Added
	// Held: the block waits for its parents, which are being fetched.
	Held
)

// Offer verifies b (signatures, cluster, author) and stores it, or holds it
// while its missing parents are fetched (Held, with an error wrapping
// ledger.ErrMissingParents). from is the endpoint it came from, where its
// parents are asked for ("" for none). Errors wrap nodeerr.ErrInvalid for a
// forged, malformed or foreign block, nodeerr.ErrConflict for a fork and
// nodeerr.ErrBusy when too many blocks are held; nothing changes then.
func (s *Service) Offer(ctx context.Context, b ledger.Block, from string) (Result, error) {
	name := b.Name()
	s.mu.Lock()
	_, held := s.orphans[name]
	s.mu.Unlock()
	if held {
		return Held, fmt.Errorf("%w: block %s is already held", ledger.ErrMissingParents, name)
	}
	if err := s.check(b); err != nil {
		return Known, err
	}
	added, err := s.deps.Blocks.Add(ctx, b)
	var mp *ledger.MissingParentsError
	switch {
	case errors.As(err, &mp):
		if err := s.hold(b, name, mp.Missing, from); err != nil {
			return Known, err
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
		return Held, err
	case errors.Is(err, ledger.ErrBlockConflict):
		return Known, fmt.Errorf("%w: %w", nodeerr.ErrConflict, err)
	case errors.Is(err, ledger.ErrInvalidBlock):
		return Known, fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	case err != nil:
		return Known, err
	case !added:
		return Known, nil
	}
	s.added(ctx, b)
	return Added, nil
}

// offerPage is Offer for a page of blocks pulled from endpoint, stored in
// one transaction. It returns the first refusal other than missing
// parents (the page's other blocks are still stored or held).
func (s *Service) offerPage(ctx context.Context, bs []ledger.Block, from string) error {
	var first error
	valid := make([]ledger.Block, 0, len(bs))
	for _, b := range bs {
		s.mu.Lock()
		_, held := s.orphans[b.Name()]
		s.mu.Unlock()
		if held {
			continue
		}
		if err := s.check(b); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		valid = append(valid, b)
	}
	refused, added, err := s.deps.Blocks.AddMany(ctx, valid)
	if err != nil {
		return err
	}
	for i, b := range valid {
		var mp *ledger.MissingParentsError
		switch err := refused[i]; {
		case errors.As(err, &mp):
			if err := s.hold(b, b.Name(), mp.Missing, from); err != nil && first == nil {
				first = err
			}
		case errors.Is(err, ledger.ErrBlockConflict) && first == nil:
			first = fmt.Errorf("%w: %w", nodeerr.ErrConflict, err)
		case err != nil && first == nil:
			first = fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
		case added[i]:
			s.added(ctx, b)
		}
	}
	return first
}

// check refuses, wrapping nodeerr.ErrInvalid, a block that is forged,
// malformed, of another cluster or by an author that is not accepted.
func (s *Service) check(b ledger.Block) error {
	if err := ledger.VerifyBlock(b); err != nil {
		return fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	}
	if b.ClusterID != s.deps.ClusterID() {
		return fmt.Errorf("%w: block of cluster %q, this node keeps %q", nodeerr.ErrInvalid, b.ClusterID, s.deps.ClusterID())
	}
	if !s.deps.AuthorOK(b.Author) {
		return fmt.Errorf("%w: block by %s, who is not a member of this cluster", nodeerr.ErrInvalid, b.Author)
	}
	return nil
}

// Merge stores bs, all or nothing: every block must verify, be of this
// cluster, by a member, and have its parents stored or among bs. It
// returns how many blocks were new. Errors wrap nodeerr.ErrInvalid or
// nodeerr.ErrConflict; the store is unchanged then.
func (s *Service) Merge(ctx context.Context, bs []ledger.Block) (int, error) {
	for i, b := range bs {
		if err := s.check(b); err != nil {
			return 0, fmt.Errorf("block %d of %d (height %d by %s): %w", i+1, len(bs), b.Height, b.Author, err)
		}
	}
	n, err := s.deps.Blocks.AddAll(ctx, bs)
	switch {
	case errors.Is(err, ledger.ErrMissingParents):
		return 0, fmt.Errorf("%w: %w (merge its ancestors too)", nodeerr.ErrInvalid, err)
	case errors.Is(err, ledger.ErrBlockConflict):
		return 0, fmt.Errorf("%w: %w", nodeerr.ErrConflict, err)
	case errors.Is(err, ledger.ErrInvalidBlock):
		return 0, fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	case err != nil:
		return 0, err
	}
	if n > 0 {
		s.log.Info("Blocks merged", "new", n, "offered", len(bs))
		for _, b := range bs {
			s.added(ctx, b)
		}
	}
	return n, nil
}

// hold keeps b until its missing parents are stored.
func (s *Service) hold(b ledger.Block, name ledger.BlockName, missing []ledger.BlockName, from string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orphans[name]; ok {
		return nil
	}
	if len(s.orphans) >= s.cfg.MaxOrphans {
		return fmt.Errorf("%w: %d blocks already wait for their parents", nodeerr.ErrBusy, len(s.orphans))
	}
	o := &orphan{block: b, missing: map[ledger.BlockName]bool{}, from: from, since: s.deps.Now()}
	for _, m := range missing {
		o.missing[m] = true
		s.waiters[m] = append(s.waiters[m], name)
	}
	s.orphans[name] = o
	return nil
}

// added tells the node about b and stores the held blocks b completes
// (and those they complete, in turn).
func (s *Service) added(ctx context.Context, b ledger.Block) {
	if s.deps.Added != nil {
		s.deps.Added(b)
	}
	stack := []ledger.BlockName{b.Name()}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var ready []ledger.Block
		s.mu.Lock()
		for _, w := range s.waiters[n] {
			o, ok := s.orphans[w]
			if !ok {
				continue
			}
			delete(o.missing, n)
			if len(o.missing) == 0 {
				delete(s.orphans, w)
				ready = append(ready, o.block)
			}
		}
		delete(s.waiters, n)
		s.mu.Unlock()
		for _, rb := range ready {
			ok, err := s.deps.Blocks.Add(ctx, rb)
			var mp *ledger.MissingParentsError
			switch {
			case errors.As(err, &mp):
				// A parent named twice; hold it again for the rest.
				_ = s.hold(rb, rb.Name(), mp.Missing, "")
			case err != nil:
				s.log.Debug("Held block refused", "block", rb.Name().String(), "err", err)
			case ok:
				if s.deps.Added != nil {
					s.deps.Added(rb)
				}
				stack = append(stack, rb.Name())
			}
		}
	}
}

// wanted returns the missing parents that are not held themselves (those
// are what to fetch), skipping skip, in a stable order, at most MaxPage.
func (s *Service) wanted(skip map[ledger.BlockName]bool) []ledger.BlockName {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ledger.BlockName
	for n := range s.waiters {
		if _, held := s.orphans[n]; !held && !skip[n] {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b ledger.BlockName) int { return compareNames(a, b) })
	if len(out) > MaxPage {
		out = out[:MaxPage]
	}
	return out
}

func compareNames(a, b ledger.BlockName) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// heldHeight is the highest height of author's blocks held (0: none), so
// that a sync does not pull them again.
func (s *Service) heldHeight(author identity.NodeID) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var h uint64
	for _, o := range s.orphans {
		if o.block.Author == author && o.block.Height > h {
			h = o.block.Height
		}
	}
	return h
}

// orphanSources returns the endpoints held blocks came from (at most
// Fanout of them).
func (s *Service) orphanSources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.orphans {
		if o.from != "" && !slices.Contains(out, o.from) {
			out = append(out, o.from)
		}
	}
	slices.Sort(out)
	if len(out) > s.cfg.Fanout {
		out = out[:s.cfg.Fanout]
	}
	return out
}

// dropStaleOrphans forgets held blocks older than OrphanTTL.
func (s *Service) dropStaleOrphans() {
	now := s.deps.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, o := range s.orphans {
		if now.Sub(o.since) > s.cfg.OrphanTTL {
			delete(s.orphans, n)
		}
	}
	for n, ws := range s.waiters {
		ws = slices.DeleteFunc(ws, func(w ledger.BlockName) bool { _, ok := s.orphans[w]; return !ok })
		if len(ws) == 0 {
			delete(s.waiters, n)
		} else {
			s.waiters[n] = ws
		}
	}
}

// Held returns how many blocks wait for their parents.
func (s *Service) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orphans)
}

// handleBlock takes a block delivered through the outbox.
func (s *Service) handleBlock(ctx context.Context, from identity.NodeID, payload []byte) error {
	b, err := ledger.DecodeBlock(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	}
	ep := ""
	if s.deps.Peers != nil {
		for _, p := range s.deps.Peers(ctx) {
			if p.ID == from {
				ep = p.Endpoint
			}
		}
	}
	_, err = s.Offer(ctx, b, ep)
	if errors.Is(err, ledger.ErrMissingParents) {
		return nil // held; its parents are fetched
	}
	return err
}

// SendBlock queues b for dest through the outbox.
func (s *Service) SendBlock(ctx context.Context, dest identity.NodeID, b ledger.Block) error {
	js, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode block: %w", err)
	}
	return s.Send(ctx, dest, KindBlock, js, 0)
}

// PullAll fetches every block the node at endpoint holds, at most max
// (more is refused with nodeerr.ErrTooLarge), without storing any. A node
// that cannot be read is nodeerr.ErrUnavailable.
func (s *Service) PullAll(ctx context.Context, endpoint string, max int) ([]ledger.Block, error) {
	if s.deps.Remote == nil {
		return nil, fmt.Errorf("%w: this node reaches no other node", nodeerr.ErrUnavailable)
	}
	hctx, cancel := s.timeout(ctx)
	theirs, err := s.deps.Remote.Heads(hctx, endpoint)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: heads of %s: %w", nodeerr.ErrUnavailable, endpoint, err)
	}
	if theirs.ClusterID != s.deps.ClusterID() {
		return nil, fmt.Errorf("%w: %s keeps blocks of cluster %q, this node %q", nodeerr.ErrInvalid, endpoint, theirs.ClusterID, s.deps.ClusterID())
	}
	var out []ledger.Block
	for _, h := range theirs.Heads {
		if uint64(len(out))+h.Height > uint64(max) {
			return nil, fmt.Errorf("%w: %s holds more than %d blocks; merge fewer at a time", nodeerr.ErrTooLarge, endpoint, max)
		}
		var after uint64
		for after < h.Height {
			pctx, cancel := s.timeout(ctx)
			bs, err := s.deps.Remote.Blocks(pctx, endpoint, h.Author, after, s.cfg.PageSize)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%w: blocks of %s from %s: %w", nodeerr.ErrUnavailable, h.Author, endpoint, err)
			}
			if len(bs) == 0 {
				break
			}
			for _, b := range bs {
				if b.Author != h.Author || b.Height <= after {
					return nil, fmt.Errorf("%w: %s answered block %d by %s to a request for %s above %d", nodeerr.ErrInvalid, endpoint, b.Height, b.Author, h.Author, after)
				}
				after = b.Height
			}
			out = append(out, bs...)
		}
	}
	return out, nil
}
