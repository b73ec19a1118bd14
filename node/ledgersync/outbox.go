package ledgersync

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// MaxPayload is the largest payload of an outbox item: a block of the
// largest size fits.
const MaxPayload = 1 << 20

// KindBlock is the kind of an item whose payload is a block's JSON; this
// part handles it (the block is offered as if pushed).
const KindBlock = "block"

// kindPattern is what an item's kind looks like.
var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}$`)

// ErrRefused is wrapped by Remote.Forward when the receiving node refused
// the item for good (a 4xx answer): the sender drops it instead of trying
// again.
var ErrRefused = errors.New("item refused")

// Item is something addressed to one node, waiting in an outbox or handed
// between nodes.
type Item struct {
	Dest    identity.NodeID
	Kind    string
	Payload []byte
	// TTL is how long the item may still wait (a remaining duration, so
	// that nodes need no common clock).
	TTL time.Duration
}

// Hash is the item's content hash, by which every node keeps one copy and
// the destination handles it once: SHA-256 of
// "offgrid/outbox/v1" 0x00 str(dest) str(kind) payload.
func (it Item) Hash() [32]byte {
	b := append([]byte("offgrid/outbox/v1"), 0)
	b = canon.AppendString(b, string(it.Dest))
	b = canon.AppendString(b, it.Kind)
	b = append(b, it.Payload...)
	return sha256.Sum256(b)
}

// Outcome says what the receiving node did with a forwarded item.
type Outcome string

// Outcomes of Accept.
const (
	// Delivered: the receiver is the destination and handled the item.
	Delivered Outcome = "delivered"
	// Carried: the receiver keeps the item for its destination.
	Carried Outcome = "carried"
	// Duplicate: the receiver had handled or delivered it already.
	Duplicate Outcome = "duplicate"
)

// A Handler takes an item delivered to this node. It must be idempotent
// where it can (a copy handled after the seen record expired comes back),
// and return an error wrapping nodeerr.ErrInvalid for a payload it will
// never take (the sender drops the item then).
type Handler func(ctx context.Context, from identity.NodeID, payload []byte) error

// Handle registers h for items of kind delivered to this node, replacing
// any earlier one. Register before Run.
func (s *Service) Handle(kind string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[kind] = h
}

func (s *Service) handler(kind string) (Handler, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.handlers[kind]
	return h, ok
}

// outbox runs the store-and-forward queue in ledgersync_outbox.
type outbox struct {
	s *Service
	// acceptMu serializes the handling of items addressed to this node, so
	// that two copies arriving at once are handled once.
	acceptMu sync.Mutex
	// queueMu serializes inserts, so the bounds hold.
	queueMu sync.Mutex
	kick    chan struct{}
}

// Flush's queries.
const (
	qExpireHanded = `DELETE FROM ledgersync_outbox_handed WHERE item IN (SELECT id FROM ledgersync_outbox WHERE expires_at <= ?)`
	qExpireItems  = `DELETE FROM ledgersync_outbox WHERE expires_at <= ?`
	qExpireSeen   = `DELETE FROM ledgersync_seen WHERE expires_at <= ?`
	qListItems    = `SELECT id, hash, dest, kind, payload, origin, expires_at FROM ledgersync_outbox ORDER BY id LIMIT ?`
)

func newOutbox(ctx context.Context, s *Service) (*outbox, error) {
	return &outbox{s: s, kick: make(chan struct{}, 1)}, nil
}

func checkItem(it Item, maxTTL time.Duration) error {
	switch {
	case !kindPattern.MatchString(it.Kind):
		return fmt.Errorf("%w: item kind %q (want %s)", nodeerr.ErrInvalid, it.Kind, kindPattern)
	case len(it.Payload) == 0 || len(it.Payload) > MaxPayload:
		return fmt.Errorf("%w: item payload of %d bytes (want 1-%d)", nodeerr.ErrInvalid, len(it.Payload), MaxPayload)
	case it.TTL <= 0 || it.TTL > maxTTL:
		return fmt.Errorf("%w: item lifetime %s (want up to %s)", nodeerr.ErrInvalid, it.TTL, maxTTL)
	}
	if _, err := it.Dest.PublicKey(); err != nil {
		return fmt.Errorf("%w: item destination: %v", nodeerr.ErrInvalid, err)
	}
	return nil
}

// Send queues payload of kind for dest, to be delivered when dest is up,
// directly or by any node that carries it. ttl 0 takes OutboxConfig.TTL;
// it is capped at MaxTTL. Queuing an item again is a no-op. A full outbox
// refuses with nodeerr.ErrBusy. This is the interface the node's other
// parts (certificates, witness requests, receipts) use.
func (s *Service) Send(ctx context.Context, dest identity.NodeID, kind string, payload []byte, ttl time.Duration) error {
	if ttl == 0 {
		ttl = s.cfg.Outbox.TTL
	}
	ttl = min(ttl, s.cfg.Outbox.MaxTTL)
	it := Item{Dest: dest, Kind: kind, Payload: payload, TTL: ttl}
	if err := checkItem(it, s.cfg.Outbox.MaxTTL); err != nil {
		return err
	}
	if dest == s.deps.Keys.ID() {
		return fmt.Errorf("%w: an item for this node itself", nodeerr.ErrInvalid)
	}
	if _, err := s.out.queue(ctx, it, s.deps.Keys.ID()); err != nil {
		return err
	}
	s.out.wake()
	return nil
}

func (o *outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// queue stores it unless a copy is queued or was handled here; it reports
// whether it stored it.
func (o *outbox) queue(ctx context.Context, it Item, origin identity.NodeID) (bool, error) {
	o.queueMu.Lock()
	defer o.queueMu.Unlock()
	h := it.Hash()
	cfg := o.s.cfg.Outbox
	now := o.s.deps.Now()
	var stored bool
	err := sqlitedb.InTx(ctx, o.s.deps.DB, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM ledgersync_outbox WHERE hash = ?
			UNION ALL SELECT 1 FROM ledgersync_seen WHERE hash = ? AND expires_at > ?`, h[:], h[:], now.UnixMilli()).Scan(&one)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up item: %w", err)
		}
		var n int
		var bytes int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(SUM(length(payload)), 0) FROM ledgersync_outbox`).Scan(&n, &bytes); err != nil {
			return fmt.Errorf("measure outbox: %w", err)
		}
		if n+1 > cfg.MaxItems || bytes+int64(len(it.Payload)) > cfg.MaxBytes {
			return fmt.Errorf("%w: the outbox holds %d items (%d bytes), at most %d (%d bytes)", nodeerr.ErrBusy, n, bytes, cfg.MaxItems, cfg.MaxBytes)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledgersync_outbox (hash, dest, kind, payload, origin, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			h[:], string(it.Dest), it.Kind, it.Payload, string(origin), now.Add(it.TTL).UnixMilli()); err != nil {
			return fmt.Errorf("queue item: %w", err)
		}
		stored = true
		return nil
	})
	return stored, err
}

// Accept takes an item another node (from, a member) forwarded: as its
// destination it hands it to the kind's handler once (by content hash);
// otherwise it carries it in the outbox. Errors wrap nodeerr.ErrInvalid
// (malformed, or no handler for the kind: the sender drops the item) or
// nodeerr.ErrBusy (the outbox is full: the sender keeps it).
func (s *Service) Accept(ctx context.Context, from identity.NodeID, it Item) (Outcome, error) {
	it.TTL = min(it.TTL, s.cfg.Outbox.MaxTTL)
	if err := checkItem(it, s.cfg.Outbox.MaxTTL); err != nil {
		return "", err
	}
	o := s.out
	h := it.Hash()
	if it.Dest != s.deps.Keys.ID() {
		stored, err := o.queue(ctx, it, from)
		if err != nil {
			return "", err
		}
		if !stored {
			return Duplicate, nil
		}
		// Never hand it back to the node it came from.
		if _, err := s.deps.DB.ExecContext(ctx, `INSERT OR IGNORE INTO ledgersync_outbox_handed (item, carrier)
			SELECT id, ? FROM ledgersync_outbox WHERE hash = ?`, string(from), h[:]); err != nil {
			return "", fmt.Errorf("record carrier: %w", err)
		}
		s.log.Info("Carrying an item", "dest", it.Dest, "kind", it.Kind, "from", from)
		o.wake()
		return Carried, nil
	}
	handle, ok := s.handler(it.Kind)
	if !ok {
		return "", fmt.Errorf("%w: this node takes no items of kind %q", nodeerr.ErrInvalid, it.Kind)
	}
	o.acceptMu.Lock()
	defer o.acceptMu.Unlock()
	seen, err := o.seen(ctx, h)
	if err != nil {
		return "", err
	}
	if seen {
		return Duplicate, nil
	}
	if err := handle(ctx, from, it.Payload); err != nil {
		return "", fmt.Errorf("item of kind %q: %w", it.Kind, err)
	}
	if err := o.markSeen(ctx, h, it.TTL); err != nil {
		return "", err
	}
	s.log.Info("Item delivered", "kind", it.Kind, "from", from)
	return Delivered, nil
}

func (o *outbox) seen(ctx context.Context, h [32]byte) (bool, error) {
	var one int
	err := o.s.deps.DB.QueryRowContext(ctx, `SELECT 1 FROM ledgersync_seen WHERE hash = ? AND expires_at > ?`,
		h[:], o.s.deps.Now().UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up seen item: %w", err)
	}
	return true, nil
}

// markSeen records h until ttl from now, keeping at most MaxSeen records
// (the soonest to expire go first).
func (o *outbox) markSeen(ctx context.Context, h [32]byte, ttl time.Duration) error {
	return sqlitedb.InTx(ctx, o.s.deps.DB, func(tx *sql.Tx) error {
		exp := o.s.deps.Now().Add(ttl).UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledgersync_seen (hash, expires_at) VALUES (?, ?)
			ON CONFLICT(hash) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, h[:], exp); err != nil {
			return fmt.Errorf("record seen item: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledgersync_seen WHERE hash IN
			(SELECT hash FROM ledgersync_seen ORDER BY expires_at DESC LIMIT -1 OFFSET ?)`, o.s.cfg.Outbox.MaxSeen); err != nil {
			return fmt.Errorf("bound seen items: %w", err)
		}
		return nil
	})
}

// flushBatch bounds the items one flush looks at.
const flushBatch = 256

func (o *outbox) loop(ctx context.Context) {
	t := time.NewTicker(o.s.cfg.Outbox.FlushInterval)
	defer t.Stop()
	for {
		if err := o.Flush(ctx); err != nil && ctx.Err() == nil {
			o.s.log.Warn("Outbox flush failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

type queued struct {
	id      int64
	hash    [32]byte
	item    Item
	origin  identity.NodeID
	expires int64
}

// Flush drops expired items, then offers each queued item to its
// destination when that is up, or else to each up peer that has not had
// it (a carrier).
func (o *outbox) Flush(ctx context.Context) error {
	now := o.s.deps.Now().UnixMilli()
	if _, err := o.s.deps.DB.ExecContext(ctx, qExpireHanded, now); err != nil {
		return fmt.Errorf("expire items: %w", err)
	}
	if res, err := o.s.deps.DB.ExecContext(ctx, qExpireItems, now); err != nil {
		return fmt.Errorf("expire items: %w", err)
	} else if n, _ := res.RowsAffected(); n > 0 {
		o.s.log.Info("Outbox items expired undelivered", "items", n)
	}
	if _, err := o.s.deps.DB.ExecContext(ctx, qExpireSeen, now); err != nil {
		return fmt.Errorf("expire seen items: %w", err)
	}
	if o.s.deps.Remote == nil || o.s.deps.Peers == nil {
		return nil
	}
	peers := o.s.deps.Peers(ctx)
	if len(peers) == 0 {
		return nil
	}
	items, err := o.list(ctx, flushBatch)
	if err != nil {
		return err
	}
	byID := map[identity.NodeID]Peer{}
	for _, p := range peers {
		byID[p.ID] = p
	}
	for _, q := range items {
		if ctx.Err() != nil {
			return nil
		}
		q.item.TTL = time.Duration(q.expires-now) * time.Millisecond
		if q.item.TTL <= 0 {
			continue
		}
		if p, ok := byID[q.item.Dest]; ok {
			out, err := o.forward(ctx, p, q.item)
			switch {
			case errors.Is(err, ErrRefused):
				o.s.log.Warn("Outbox item refused by its destination; dropped", "dest", q.item.Dest, "kind", q.item.Kind, "err", err)
				if err := o.remove(ctx, q, false); err != nil {
					return err
				}
				continue
			case err == nil:
				o.s.log.Info("Outbox item delivered", "dest", q.item.Dest, "kind", q.item.Kind, "outcome", string(out))
				if err := o.remove(ctx, q, true); err != nil {
					return err
				}
				continue
			}
			// Up in the table but not reachable from here (a one-way
			// link, a partition): carriers may still reach it.
			o.s.log.Debug("Outbox delivery failed", "dest", q.item.Dest, "err", err)
		}
		handed, err := o.handed(ctx, q.id)
		if err != nil {
			return err
		}
		for _, p := range peers {
			if handed[p.ID] || p.ID == q.origin || p.ID == q.item.Dest {
				continue
			}
			_, err := o.forward(ctx, p, q.item)
			if err != nil && !errors.Is(err, ErrRefused) {
				o.s.log.Debug("Handing an item to a carrier failed", "carrier", p.ID, "err", err)
				continue
			}
			if _, err := o.s.deps.DB.ExecContext(ctx, `INSERT OR IGNORE INTO ledgersync_outbox_handed (item, carrier) VALUES (?, ?)`, q.id, string(p.ID)); err != nil {
				return fmt.Errorf("record carrier: %w", err)
			}
		}
	}
	return nil
}

func (o *outbox) forward(ctx context.Context, p Peer, it Item) (Outcome, error) {
	fctx, cancel := o.s.timeout(ctx)
	defer cancel()
	return o.s.deps.Remote.Forward(fctx, p.Endpoint, it)
}

// remove deletes a delivered (or refused) item; a delivered one is
// remembered as seen so that a copy handed back is not carried again.
func (o *outbox) remove(ctx context.Context, q queued, delivered bool) error {
	return sqlitedb.InTx(ctx, o.s.deps.DB, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledgersync_outbox_handed WHERE item = ?`, q.id); err != nil {
			return fmt.Errorf("remove item: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledgersync_outbox WHERE id = ?`, q.id); err != nil {
			return fmt.Errorf("remove item: %w", err)
		}
		if delivered {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ledgersync_seen (hash, expires_at) VALUES (?, ?)
				ON CONFLICT(hash) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, q.hash[:], q.expires); err != nil {
				return fmt.Errorf("record delivered item: %w", err)
			}
		}
		return nil
	})
}

func (o *outbox) list(ctx context.Context, limit int) ([]queued, error) {
	rows, err := o.s.deps.DB.QueryContext(ctx, qListItems, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		var h []byte
		var dest, origin string
		if err := rows.Scan(&q.id, &h, &dest, &q.item.Kind, &q.item.Payload, &origin, &q.expires); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		copy(q.hash[:], h)
		q.item.Dest, q.origin = identity.NodeID(dest), identity.NodeID(origin)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

func (o *outbox) handed(ctx context.Context, id int64) (map[identity.NodeID]bool, error) {
	rows, err := o.s.deps.DB.QueryContext(ctx, `SELECT carrier FROM ledgersync_outbox_handed WHERE item = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("read carriers: %w", err)
	}
	defer rows.Close()
	out := map[identity.NodeID]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read carriers: %w", err)
		}
		out[identity.NodeID(c)] = true
	}
	return out, rows.Err()
}

// Queued is an item waiting in the outbox.
type Queued struct {
	Dest     identity.NodeID
	Kind     string
	Bytes    int
	Origin   identity.NodeID
	Expires  time.Time
	Carriers int
}

// Outbox returns up to limit queued items, oldest first.
func (s *Service) Outbox(ctx context.Context, limit int) ([]Queued, error) {
	qs, err := s.out.list(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Queued, len(qs))
	for i, q := range qs {
		h, err := s.out.handed(ctx, q.id)
		if err != nil {
			return nil, err
		}
		out[i] = Queued{Dest: q.item.Dest, Kind: q.item.Kind, Bytes: len(q.item.Payload), Origin: q.origin,
			Expires: time.UnixMilli(q.expires).UTC(), Carriers: len(h)}
	}
	return out, nil
}

// Flush runs one outbox flush now (Run does it every FlushInterval).
func (s *Service) Flush(ctx context.Context) error { return s.out.Flush(ctx) }
