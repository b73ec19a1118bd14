package quorum

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Kind is what a quorum is about.
type Kind string

// The kinds of quorum.
const (
	Upload Kind = "upload"
	Job    Kind = "job"
	Token  Kind = "token"
)

// Kinds lists every kind.
var Kinds = []Kind{Upload, Job, Token}

// Limits.
const (
	// MaxIDLen is the longest quorum ID and node name, in bytes.
	MaxIDLen = 128
	// MaxRequired is the largest required weight.
	MaxRequired = 1e6
	// MaxWeight is the largest weight of one node.
	MaxWeight = 1e3
	// MaxWeights bounds the per-node weights of a policy.
	MaxWeights = 1024
	// MaxQuorums bounds the quorums kept; a full store refuses new ones.
	MaxQuorums = 100_000
	// MaxAcks bounds the acks of one quorum.
	MaxAcks = 1024
)

// Errors callers act on.
var (
	// ErrInvalid reports a bad kind, ID, weight, required or policy.
	ErrInvalid = errors.New("invalid quorum input")
	// ErrNotFound reports an unknown quorum.
	ErrNotFound = errors.New("no such quorum")
	// ErrFull reports a store or quorum at its bound.
	ErrFull = errors.New("quorum store full")
)

// idPattern is what a quorum ID and a node name look like.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,127}$`)

// Decay is a kind's age rule: an ack's weight halves every HalfLife (0:
// never) and counts nothing once older than MaxAge (0: never).
type Decay struct {
	HalfLife time.Duration `json:"half_life"`
	MaxAge   time.Duration `json:"max_age"`
}

// Policy weighs acks.
type Policy struct {
	// DefaultWeight is the weight of a node that has neither a weight of
	// its own nor a fed one. Default 1.
	DefaultWeight float64 `json:"default_weight"`
	// Weights are per-node weights set by the operator; they win over fed
	// weights.
	Weights map[string]float64 `json:"weights"`
	// Decay is each kind's age rule.
	Decay map[Kind]Decay `json:"decay"`
}

// DefaultPolicy is the policy of a fresh store: weight 1 for everyone, no
// decay for uploads, a 1 h half-life and 6 h maximum age for jobs and
// tokens (the seed's defaults).
func DefaultPolicy() Policy {
	return Policy{
		DefaultWeight: 1,
		Weights:       map[string]float64{},
		Decay: map[Kind]Decay{
			Upload: {},
			Job:    {HalfLife: time.Hour, MaxAge: 6 * time.Hour},
			Token:  {HalfLife: time.Hour, MaxAge: 6 * time.Hour},
		},
	}
}

// Validate checks p's bounds.
func (p Policy) Validate() error {
	if !(p.DefaultWeight >= 0 && p.DefaultWeight <= MaxWeight) {
		return fmt.Errorf("%w: default weight %v (want 0-%v)", ErrInvalid, p.DefaultWeight, MaxWeight)
	}
	if len(p.Weights) > MaxWeights {
		return fmt.Errorf("%w: %d node weights, at most %d", ErrInvalid, len(p.Weights), MaxWeights)
	}
	for n, w := range p.Weights {
		if !idPattern.MatchString(n) {
			return fmt.Errorf("%w: node %q", ErrInvalid, n)
		}
		if !(w >= 0 && w <= MaxWeight) {
			return fmt.Errorf("%w: weight %v of %s (want 0-%v)", ErrInvalid, w, n, MaxWeight)
		}
	}
	for k, d := range p.Decay {
		if err := checkKind(k); err != nil {
			return err
		}
		if d.HalfLife < 0 || d.MaxAge < 0 {
			return fmt.Errorf("%w: %s decay must not be negative", ErrInvalid, k)
		}
	}
	return nil
}

func checkKind(k Kind) error {
	if !slices.Contains(Kinds, k) {
		return fmt.Errorf("%w: kind %q (want upload, job or token)", ErrInvalid, k)
	}
	return nil
}

func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s %q (letters, digits and ._:/@+=-, at most %d bytes)", ErrInvalid, what, id, MaxIDLen)
	}
	return nil
}

// Feed gives the weight the node's own view assigns a node (from the
// transport it is heard on and its reputation); ok false: no view.
type Feed interface {
	FedWeight(node string) (w float64, ok bool)
}

// TransportWeight is how much an ack heard over a link counts, by the
// peer table's "via": the mesh and static links fully, BLE a little
// less, LoRa and a shared file half (slow, easily replayed or stale).
func TransportWeight(via string) float64 {
	switch via {
	case "static", "udp", "gossip", "bt_lr":
		return 1
	case "ble":
		return 0.8
	case "lora", "file":
		return 0.5
	}
	return 0.5
}

// FedWeight combines a transport and a reputation in [0, 1] into a fed
// weight.
func FedWeight(via string, reputation float64) float64 {
	return TransportWeight(via) * math.Min(1, math.Max(0, reputation))
}

// Store keeps quorums and their acks in SQLite (tables quorum_*). It is
// safe for concurrent use and starts no goroutines.
type Store struct {
	db   *sql.DB
	feed Feed
	now  func() time.Time

	mu     sync.Mutex // serializes writes (bounds hold)
	policy Policy
}

// Open migrates the quorum tables in db and loads the policy. feed may be
// nil (no fed weights).
func Open(ctx context.Context, db *sql.DB, feed Feed, now func() time.Time) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, "quorum", migrations); err != nil {
		return nil, fmt.Errorf("open quorum store: %w", err)
	}
	s := &Store{db: db, feed: feed, now: now, policy: DefaultPolicy()}
	var js string
	err := db.QueryRowContext(ctx, `SELECT policy FROM quorum_policy WHERE id = 1`).Scan(&js)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("load quorum policy: %w", err)
	default:
		var p Policy
		if err := json.Unmarshal([]byte(js), &p); err != nil {
			return nil, fmt.Errorf("load quorum policy: %w", err)
		}
		s.policy = p
	}
	return s, nil
}

// Policy returns the policy in force.
func (s *Store) Policy() Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clonePolicy(s.policy)
}

func clonePolicy(p Policy) Policy {
	q := p
	q.Weights = map[string]float64{}
	for k, v := range p.Weights {
		q.Weights[k] = v
	}
	q.Decay = map[Kind]Decay{}
	for _, k := range Kinds {
		q.Decay[k] = p.Decay[k]
	}
	return q
}

// SetPolicy validates and stores p.
func (s *Store) SetPolicy(ctx context.Context, p Policy) error {
	if p.Weights == nil {
		p.Weights = map[string]float64{}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	js, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO quorum_policy (id, policy) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET policy = excluded.policy`, string(js)); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	s.policy = clonePolicy(p)
	return nil
}

// Create opens the quorum (kind, id) needing required weight, or changes
// the required weight of an open one.
func (s *Store) Create(ctx context.Context, kind Kind, id string, required float64) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if err := checkID("quorum ID", id); err != nil {
		return err
	}
	if !(required > 0 && required <= MaxRequired) {
		return fmt.Errorf("%w: required %v (want more than 0, at most %v)", ErrInvalid, required, float64(MaxRequired))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM quorum_quorums`).Scan(&n); err != nil {
			return fmt.Errorf("count quorums: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE quorum_quorums SET required = ? WHERE kind = ? AND id = ?`, required, string(kind), id)
		if err != nil {
			return fmt.Errorf("update quorum: %w", err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			return nil
		}
		if n >= MaxQuorums {
			return fmt.Errorf("%w: %d quorums kept", ErrFull, n)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO quorum_quorums (kind, id, required, created_at) VALUES (?, ?, ?, ?)`,
			string(kind), id, required, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("create quorum: %w", err)
		}
		return nil
	})
}

// Ack records node's ack of (kind, id) now; a repeated ack refreshes its
// time (it counts once).
func (s *Store) Ack(ctx context.Context, kind Kind, id, node string) (Status, error) {
	if err := checkKind(kind); err != nil {
		return Status{}, err
	}
	if err := checkID("quorum ID", id); err != nil {
		return Status{}, err
	}
	if err := checkID("node", node); err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var one, acks int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM quorum_quorums WHERE kind = ? AND id = ?`, string(kind), id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s %s", ErrNotFound, kind, id)
		}
		if err != nil {
			return fmt.Errorf("look up quorum: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM quorum_acks WHERE kind = ? AND id = ? AND node != ?`, string(kind), id, node).Scan(&acks); err != nil {
			return fmt.Errorf("count acks: %w", err)
		}
		if acks >= MaxAcks {
			return fmt.Errorf("%w: %s %s has %d acks", ErrFull, kind, id, acks)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO quorum_acks (kind, id, node, at) VALUES (?, ?, ?, ?)
			ON CONFLICT(kind, id, node) DO UPDATE SET at = excluded.at`, string(kind), id, node, s.now().UnixMilli())
		if err != nil {
			return fmt.Errorf("record ack: %w", err)
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return Status{}, err
	}
	return s.Status(ctx, kind, id)
}

// Ack is one node's ack with the weight it counts for now.
type Ack struct {
	Node   string
	At     time.Time
	Weight float64
}

// Status is a quorum's state now.
type Status struct {
	Kind     Kind
	ID       string
	Required float64
	// Weight is the sum of the acks' weights, decayed by age.
	Weight float64
	// Reached says Weight >= Required.
	Reached bool
	Created time.Time
	Acks    []Ack
}

// weight is node's weight by the policy: its own weight, else the fed
// one, else the default.
func (s *Store) weight(p Policy, node string) float64 {
	if w, ok := p.Weights[node]; ok {
		return w
	}
	if s.feed != nil {
		if w, ok := s.feed.FedWeight(node); ok {
			return w
		}
	}
	return p.DefaultWeight
}

// decayed is w after age under d.
func decayed(w float64, age time.Duration, d Decay) float64 {
	if age < 0 {
		age = 0 // an ack "from the future" (clock drift) counts as new
	}
	if d.MaxAge > 0 && age > d.MaxAge {
		return 0
	}
	if d.HalfLife > 0 {
		w *= math.Exp2(-age.Seconds() / d.HalfLife.Seconds())
	}
	return w
}

// Status returns the quorum's state now.
func (s *Store) Status(ctx context.Context, kind Kind, id string) (Status, error) {
	if err := checkKind(kind); err != nil {
		return Status{}, err
	}
	if err := checkID("quorum ID", id); err != nil {
		return Status{}, err
	}
	st := Status{Kind: kind, ID: id}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT required, created_at FROM quorum_quorums WHERE kind = ? AND id = ?`, string(kind), id).Scan(&st.Required, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Status{}, fmt.Errorf("%w: %s %s", ErrNotFound, kind, id)
	}
	if err != nil {
		return Status{}, fmt.Errorf("read quorum: %w", err)
	}
	st.Created = time.UnixMilli(created).UTC()
	rows, err := s.db.QueryContext(ctx, `SELECT node, at FROM quorum_acks WHERE kind = ? AND id = ? ORDER BY at, node`, string(kind), id)
	if err != nil {
		return Status{}, fmt.Errorf("read acks: %w", err)
	}
	defer rows.Close()
	p := s.Policy()
	now := s.now()
	for rows.Next() {
		var a Ack
		var at int64
		if err := rows.Scan(&a.Node, &at); err != nil {
			return Status{}, fmt.Errorf("read acks: %w", err)
		}
		a.At = time.UnixMilli(at).UTC()
		a.Weight = decayed(s.weight(p, a.Node), now.Sub(a.At), p.Decay[kind])
		st.Weight += a.Weight
		st.Acks = append(st.Acks, a)
	}
	if err := rows.Err(); err != nil {
		return Status{}, fmt.Errorf("read acks: %w", err)
	}
	st.Reached = st.Weight >= st.Required
	return st, nil
}

// List returns up to limit quorums of kind, newest first.
func (s *Store) List(ctx context.Context, kind Kind, limit int) ([]Status, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM quorum_quorums WHERE kind = ? ORDER BY created_at DESC, id LIMIT ?`, string(kind), limit)
	if err != nil {
		return nil, fmt.Errorf("list quorums: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list quorums: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quorums: %w", err)
	}
	out := make([]Status, 0, len(ids))
	for _, id := range ids {
		st, err := s.Status(ctx, kind, id)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
