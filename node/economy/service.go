package economy

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/cluster"
	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config tunes the economy part. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// AskTimeout bounds one witness request. Default 5 s.
	AskTimeout time.Duration
	// RetryInterval is how often the auto-finalizer asks again for the
	// transactions that wait for witnesses. Default 2 s: a transfer
	// waiting for a witness that came back is final within about that.
	RetryInterval time.Duration
	// PullInterval is how often certificates are pulled from a few up
	// peers (anti-entropy). Default 10 s: pushes deliver certificates to
	// the up peers at once, pulls only mend what a push missed, and every
	// certificate pulled is decoded and its votes verified.
	PullInterval time.Duration
	// MaxPool bounds the node's own transactions that are not final; one
	// more transfer is refused with ErrBusy. Default 1024.
	MaxPool int
	// Fanout is how many up peers one anti-entropy round pulls
	// certificates from (chosen in turn). Default 3.
	Fanout int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{AskTimeout: 5 * time.Second, RetryInterval: 2 * time.Second, PullInterval: 10 * time.Second, MaxPool: 1024, Fanout: 3}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.AskTimeout == 0 {
		c.AskTimeout = d.AskTimeout
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = d.RetryInterval
	}
	if c.PullInterval == 0 {
		c.PullInterval = d.PullInterval
	}
	if c.MaxPool == 0 {
		c.MaxPool = d.MaxPool
	}
	if c.Fanout == 0 {
		c.Fanout = d.Fanout
	}
	return c
}

// A Remote reaches other nodes' economy endpoints. It must be safe for
// concurrent use, honour ctx and bound what it reads.
type Remote interface {
	// Witness asks the witness at endpoint to co-sign tx (encoded),
	// attaching certificates (encoded) that credit its sender; it returns
	// the encoded vote. A refusal wraps ErrRefused.
	Witness(ctx context.Context, endpoint string, tx []byte, credits [][]byte) ([]byte, error)
	// PushCertificates hands certificates (encoded) to the node at endpoint.
	PushCertificates(ctx context.Context, endpoint string, certs [][]byte) error
	// PullCertificates reads the certificates the node at endpoint logged
	// after position after (at most limit), and the position to ask after
	// next.
	PullCertificates(ctx context.Context, endpoint string, after int64, limit int) ([][]byte, int64, error)
}

// ErrRefused says a witness refused to sign (it answered, with a reason).
var ErrRefused = errors.New("witness refused")

// A Publisher receives the economy's events. Publish must not block.
type Publisher interface {
	Publish(events.Event)
}

// Deps are what the economy part needs from the rest of the node.
type Deps struct {
	DB   *sql.DB
	Keys *identity.Keys
	// Document returns the installed cluster document (ok false: the node
	// runs alone and has no economy).
	Document func() (cluster.Document, bool)
	// Peers returns the endpoints of the up members by node ID.
	Peers func(ctx context.Context) map[identity.NodeID]string
	// Remote reaches other nodes. Nil: only this node's own witness vote
	// counts and nothing spreads.
	Remote Remote
	// Validator checks kinds of transactions that need more than a
	// balance (settlement). Nil: none.
	Validator econ.Validator
	Events    Publisher
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service is the economy part of a node. Its methods are safe for
// concurrent use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	self identity.NodeID

	// stateMu guards st, rebuilt when the cluster's economy changes.
	stateMu sync.Mutex
	st      *state

	// sendMu serializes this node's own transactions: nonces are handed
	// out, and witnessed, in order.
	sendMu sync.Mutex

	// poolMu guards pool.
	poolMu sync.Mutex
	pool   map[[32]byte]*entry

	// creditsMu guards credits: the newest certificates that pay this
	// node or are its own, attached to a witness request the witness
	// refused (it may lack them). At most maxCredits.
	creditsMu sync.Mutex
	credits   []econ.Certificate

	// spreadQ holds certificates made here until the spreader pushes
	// them to the up peers, in batches. When it is full a certificate is
	// left to anti-entropy.
	spreadQ chan econ.Certificate

	// cursorMu guards cursors and turn.
	cursorMu sync.Mutex
	cursors  map[string]int64
	turn     int
}

// state is the economy of one epoch of one cluster. The ledger is one
// for all epochs (it learns each epoch's committee).
type state struct {
	key       string
	committee econ.Committee
	ledger    *econ.Ledger
	witness   *econ.Witness
}

// New migrates the part's tables and loads the node's own unfinished
// transactions. It starts no goroutines.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	switch {
	case deps.DB == nil || deps.Keys == nil || deps.Document == nil || deps.Peers == nil || deps.Events == nil ||
		deps.Logger == nil || deps.Now == nil:
		return nil, errors.New("economy: DB, Keys, Document, Peers, Events, Logger and Now are required")
	case cfg.MaxPool < 1 || cfg.Fanout < 1 || cfg.AskTimeout <= 0 || cfg.RetryInterval <= 0 || cfg.PullInterval <= 0:
		return nil, errors.New("economy: max pool, fanout, ask timeout, retry and pull intervals must be positive")
	}
	if err := sqlitedb.Migrate(ctx, deps.DB, "node-economy", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, deps: deps, log: deps.Logger.With("component", "node/economy"), self: deps.Keys.ID(),
		pool: map[[32]byte]*entry{}, cursors: map[string]int64{}, spreadQ: make(chan econ.Certificate, spreadQueue),
	}
	if err := s.loadPool(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// spreadQueue bounds the certificates waiting to be pushed.
const spreadQueue = 1024

// Run runs the auto-finalizer, the anti-entropy pulls and the spreader
// until ctx ends; it returns nil.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.spreadLoop(ctx) })
	wg.Go(func() { periodic.Run(ctx, s.cfg.PullInterval, s.ifEconomy(s.pull)) })
	return periodic.Run(ctx, s.cfg.RetryInterval, s.ifEconomy(s.finalizePool))
}

// ifEconomy runs f only while the cluster has an economy.
func (s *Service) ifEconomy(f func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		if _, err := s.current(ctx); err == nil {
			f(ctx)
		}
	}
}

// ErrNoEconomy says the node is in no cluster whose document sets up an
// economy (witnesses), so it has no balances.
var ErrNoEconomy = fmt.Errorf("%w: this node's cluster has no economy (no witnesses in its document; see offgrid cluster init --witness)", nodeerr.ErrConflict)

// current returns the economy of the installed document's epoch, opening
// its ledger and witness state when the epoch changed.
func (s *Service) current(ctx context.Context) (*state, error) {
	d, ok := s.deps.Document()
	if !ok {
		return nil, ErrNoEconomy
	}
	c, err := econ.CommitteeOf(d)
	if err != nil || len(c.Weights) == 0 {
		return nil, ErrNoEconomy
	}
	key := fmt.Sprintf("%s/%d", c.Cluster, c.Epoch)
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.st != nil && s.st.key == key {
		return s.st, nil
	}
	var l *econ.Ledger
	if s.st != nil && s.st.committee.Cluster == c.Cluster {
		l = s.st.ledger
		l.AddCommittee(c)
	} else if l, err = econ.Open(ctx, s.deps.DB, c); err != nil {
		return nil, err
	}
	var w *econ.Witness
	if c.Weights[s.self] > 0 {
		if w, err = econ.NewWitness(l, s.deps.Keys, c, s.deps.Validator); err != nil {
			return nil, fmt.Errorf("open witness: %w", err)
		}
	}
	s.st = &state{key: key, committee: c, ledger: l, witness: w}
	s.log.Info("Economy epoch opened", "cluster", c.Cluster.String(), "epoch", c.Epoch, "witness", w != nil)
	return s.st, nil
}

// needed is the least weight that exceeds 2/3 of the epoch's total.
func needed(c econ.Committee) uint64 { return c.Total*2/3 + 1 }
