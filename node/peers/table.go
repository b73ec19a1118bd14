package peers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// viaRank orders transports by preference (the broker's transport factor:
// udp 1.0 < ble 1.05 < lora 1.1 < file 1.2); membership alone ("gossip") is
// replaced by any transport the peer is heard on. A peer heard on several keeps
// the best one that is still fresh.
var viaRank = map[string]int{"static": 0, "udp": 1, "ble": 2, "bt_lr": 3, "lora": 4, "file": 5, "gossip": 9}

// table is the node's view of its peers, kept in SQLite so every source
// merges atomically and a restart keeps what was learned.
type table struct {
	db  *sql.DB
	now func() time.Time
	// fresh is how long an observation keeps its transport against a worse one.
	fresh time.Duration
	// heard holds the latest last-seen and round-trip times, written to
	// SQLite at most every flushEvery per peer.
	heard      *heard
	flushEvery time.Duration
}

// openTable opens the table and adds the static peers, except self (this
// node's own endpoint, which it also removes from an older table).
func openTable(ctx context.Context, db *sql.DB, self string, static []string, now func() time.Time, fresh, flushEvery time.Duration) (*table, error) {
	t := &table{db: db, now: now, fresh: fresh, heard: newHeard(), flushEvery: flushEvery}
	// What was up before a restart has to be heard from again; its
	// timeline shows the gap as unknown.
	if _, err := db.ExecContext(ctx, `INSERT INTO node_peer_states(endpoint, at, state)
		SELECT endpoint, ?, 'unknown' FROM node_peers WHERE state = 'up'`, now().UnixMilli()); err != nil {
		return nil, fmt.Errorf("record peer states at start: %w", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE node_peers SET state = 'unknown' WHERE state = 'up'`); err != nil {
		return nil, fmt.Errorf("reset peer states: %w", err)
	}
	self = strings.TrimRight(self, "/")
	if _, err := t.db.ExecContext(ctx, qDelete, self); err != nil {
		return nil, fmt.Errorf("remove this node from its peers: %w", err)
	}
	for _, ep := range static {
		ep = strings.TrimRight(ep, "/")
		if ep == self {
			continue
		}
		_, err := t.db.ExecContext(ctx, qAddStatic, ep)
		if err != nil {
			return nil, fmt.Errorf("add static peer %s: %w", ep, err)
		}
	}
	return t, nil
}

const peerColumns = `endpoint, node_id, name, via, state, active, gossip, static, last_seen`

// selectColumns are peerColumns and the latest round-trip time, which only
// setRTT writes. Read them with scan, which overlays what heard holds.
const selectColumns = peerColumns + `, rtt_us, rtt_via, rtt_at`

// The queries the table runs while the node runs.
const (
	qGet    = `SELECT ` + selectColumns + ` FROM node_peers WHERE endpoint = ?`
	qUpsert = `INSERT INTO node_peers(` + peerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(endpoint) DO UPDATE SET node_id = excluded.node_id, name = excluded.name, via = excluded.via,
				state = excluded.state, active = excluded.active, gossip = excluded.gossip, last_seen = excluded.last_seen`
	qAddStatic = `INSERT INTO node_peers(endpoint, via, state, static) VALUES (?, 'static', 'unknown', 1)
			ON CONFLICT(endpoint) DO UPDATE SET static = 1`
	qMarkSelf      = `UPDATE node_peers SET node_id = ?, name = '', state = 'unknown', active = 0 WHERE endpoint = ?`
	qIdentified    = `SELECT ` + selectColumns + ` FROM node_peers WHERE node_id != ''`
	qDelete        = `DELETE FROM node_peers WHERE endpoint = ?`
	qForgetID      = `UPDATE node_peers SET node_id = '', name = '', state = 'down', active = 0 WHERE endpoint = ?`
	qList          = `SELECT ` + selectColumns + ` FROM node_peers ORDER BY endpoint`
	qSilent        = `SELECT ` + selectColumns + ` FROM node_peers WHERE static = 0 AND state = 'up' AND last_seen < ?`
	qMarkDown      = `UPDATE node_peers SET state = 'down', last_seen = ? WHERE endpoint = ?`
	qDropSilent    = `DELETE FROM node_peers WHERE static = 0 AND last_seen < ?`
	qRTT           = `UPDATE node_peers SET rtt_us = ?, rtt_via = ?, rtt_at = ? WHERE endpoint = ?`
	qEndpointsByID = `SELECT endpoint FROM node_peers WHERE node_id = ?`
	qLastState     = `SELECT state FROM node_peer_states WHERE endpoint = ? ORDER BY at DESC, rowid DESC LIMIT 1`
	qAddState      = `INSERT INTO node_peer_states(endpoint, at, state) VALUES (?, ?, ?)`
	qTrimStates    = `DELETE FROM node_peer_states WHERE at < ?1 AND rowid NOT IN
			(SELECT max(rowid) FROM node_peer_states WHERE at < ?1 GROUP BY endpoint)`
	qOrphanStates = `DELETE FROM node_peer_states WHERE endpoint NOT IN (SELECT endpoint FROM node_peers)`
	qCapStates    = `DELETE FROM node_peer_states WHERE endpoint = ?1 AND rowid NOT IN
			(SELECT rowid FROM node_peer_states WHERE endpoint = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2)`
	qTimeline = `SELECT at, state FROM node_peer_states WHERE endpoint = ? ORDER BY at, rowid`
)

func scanPeer(row interface{ Scan(...any) error }) (Peer, error) {
	var (
		p      Peer
		id     string
		state  string
		static bool
		seen   int64
		rttUS  int64
		rttAt  int64
	)
	if err := row.Scan(&p.Endpoint, &id, &p.Name, &p.Via, &state, &p.Active, &p.Gossip, &static, &seen, &rttUS, &p.RTTVia, &rttAt); err != nil {
		return Peer{}, err
	}
	p.ID, p.State, p.Static = identity.NodeID(id), State(state), static
	if seen > 0 {
		p.LastSeen = time.UnixMilli(seen).UTC()
	}
	p.RTT = time.Duration(rttUS) * time.Microsecond
	if rttAt > 0 {
		p.RTTAt = time.UnixMilli(rttAt).UTC()
	}
	return p, nil
}

// millis is how the table stores a time: Unix milliseconds, 0 for none.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// scan reads a peer as SQLite has it and overlays what heard holds.
func (t *table) scan(row interface{ Scan(...any) error }) (Peer, error) {
	p, err := scanPeer(row)
	if err == nil {
		t.heard.overlay(&p)
	}
	return p, err
}

// update merges one observation in one write transaction and returns the
// peer as stored and whether anything a user would notice changed. A down
// observation keeps the identity learned earlier; an up one keeps a better
// transport that is still fresh. An observation naming another node than
// the live member stored for its endpoint changes nothing: one member
// cannot take over another's endpoint.
func (t *table) update(ctx context.Context, obs Peer, isMember func(identity.NodeID) bool) (stored Peer, changed bool, err error) {
	// Most observations repeat what the table says but the time: keep that
	// in heard, and write only when something else changes or the written
	// last-seen time is flushEvery old.
	old, err := scanPeer(t.db.QueryRowContext(ctx, qGet, obs.Endpoint))
	written := old.LastSeen
	t.heard.overlay(&old)
	if err == nil && obs.Via == "gossip" && obs.State == StateUp && old.Via != "gossip" {
		// The peer is heard on a transport: its beacons, not membership
		// gossip, say it is alive (gossip lags a death by seconds).
		return old, false, nil
	}
	if err == nil && obs.State == StateUp && old.State == StateUp {
		if next := t.merge(old, obs); sameButTime(old, next) {
			t.heard.saw(obs.Endpoint, obs.LastSeen)
			if obs.LastSeen.Sub(written) < t.flushEvery {
				next.LastSeen = later(old.LastSeen, obs.LastSeen)
				return next, false, nil
			}
		}
	}
	err = sqlitedb.InTx(ctx, t.db, func(tx *sql.Tx) error {
		old, err := t.scan(tx.QueryRowContext(ctx, qGet, obs.Endpoint))
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if exists && obs.Via == "gossip" && obs.State == StateUp && old.Via != "gossip" {
			stored = old // as above, re-checked inside the transaction
			return nil
		}
		if exists && obs.ID != "" && old.ID != "" && obs.ID != old.ID && old.State == StateUp && isMember(old.ID) {
			stored = old
			return nil
		}
		next := obs
		if exists {
			next = t.merge(old, obs)
		}
		_, err = tx.ExecContext(ctx, qUpsert, next.Endpoint, string(next.ID), next.Name, next.Via, string(next.State), next.Active, next.Gossip, next.Static, millis(next.LastSeen))
		if err != nil {
			return err
		}
		if obs.State == StateUp {
			t.heard.saw(next.Endpoint, next.LastSeen)
		}
		stored = next
		changed = !exists || old.State != next.State || old.ID != next.ID || old.Name != next.Name ||
			old.Active != next.Active || old.Via != next.Via
		return nil
	})
	if err != nil {
		return Peer{}, false, fmt.Errorf("update peer %s: %w", obs.Endpoint, err)
	}
	return stored, changed, nil
}

// merge returns the peer old (as stored) becomes with observation obs. A
// down observation keeps what was learned of the peer; membership (via
// "gossip") keeps the transport the peer was heard on; a worse transport
// does not replace a better one heard within fresh.
func (t *table) merge(old, obs Peer) Peer {
	next := obs
	next.Static = old.Static
	next.RTT, next.RTTVia, next.RTTAt = old.RTT, old.RTTVia, old.RTTAt
	if obs.State == StateDown {
		next.ID, next.Name, next.Active, next.LastSeen, next.Gossip = old.ID, old.Name, old.Active, old.LastSeen, old.Gossip
	}
	switch {
	case obs.Via == "gossip" && old.Via != "":
		next.Via = old.Via
	case old.State == StateUp && obs.State == StateUp && viaRank[old.Via] < viaRank[obs.Via] &&
		obs.LastSeen.Sub(old.LastSeen) < t.fresh:
		next.Via = old.Via
	}
	if next.ID == "" {
		next.ID, next.Name = old.ID, old.Name
	}
	if next.Gossip == 0 {
		next.Gossip = old.Gossip
	}
	return next
}

// sameButTime reports whether next differs from old in its last-seen time
// at most: nothing to write but that.
func sameButTime(old, next Peer) bool {
	return old.State == next.State && old.ID == next.ID && old.Name == next.Name && old.Active == next.Active &&
		old.Via == next.Via && old.Gossip == next.Gossip && old.Static == next.Static
}

// markSelf records that the peer at endpoint answered with this node's own
// ID: it is this node under another URL, never up.
func (t *table) markSelf(ctx context.Context, endpoint string, self identity.NodeID) error {
	_, err := t.db.ExecContext(ctx, qMarkSelf, string(self), endpoint)
	if err != nil {
		return fmt.Errorf("mark peer %s as this node: %w", endpoint, err)
	}
	return nil
}

// prune forgets discovered peers whose ID is not a member and clears the
// identity of such static peers (marking them down); it returns the
// peers it changed, as they are now.
func (t *table) prune(ctx context.Context, isMember func(identity.NodeID) bool) ([]Peer, error) {
	var pruned []Peer
	err := sqlitedb.InTx(ctx, t.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, qIdentified)
		if err != nil {
			return err
		}
		for rows.Next() {
			p, err := t.scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if !isMember(p.ID) {
				pruned = append(pruned, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, p := range pruned {
			q := qDelete
			if p.Static {
				q = qForgetID
				pruned[i].ID, pruned[i].Name, pruned[i].State, pruned[i].Active = "", "", StateDown, false
			} else {
				pruned[i].State = StateDown
			}
			if _, err := tx.ExecContext(ctx, q, p.Endpoint); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune peers: %w", err)
	}
	for _, p := range pruned {
		t.heard.forget(p.Endpoint)
	}
	return pruned, nil
}

// list returns every peer, sorted by endpoint.
func (t *table) list(ctx context.Context) ([]Peer, error) {
	rows, err := t.db.QueryContext(ctx, qList)
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	defer rows.Close()
	var out []Peer
	for rows.Next() {
		p, err := t.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list peers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// expire marks discovered peers not heard from within downAfter as down
// (beacons, and membership for peers known only by gossip, refresh them),
// and forgets those silent for dropAfter. Static peers are never forgotten.
// It returns the peers whose state changed. SQLite's last-seen time may be
// up to flushEvery old, so it only picks the candidates: heard decides.
func (t *table) expire(ctx context.Context, downAfter, dropAfter time.Duration) ([]Peer, error) {
	now := t.now()
	cut := now.Add(-downAfter)
	var changed []Peer
	err := sqlitedb.InTx(ctx, t.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, qSilent, cut.UnixMilli())
		if err != nil {
			return err
		}
		for rows.Next() {
			p, err := t.scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if !p.LastSeen.Before(cut) {
				continue
			}
			p.State = StateDown
			changed = append(changed, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range changed {
			if _, err := tx.ExecContext(ctx, qMarkDown, millis(p.LastSeen), p.Endpoint); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, qDropSilent, now.Add(-dropAfter).UnixMilli())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expire peers: %w", err)
	}
	t.heard.forgetSilent(now.Add(-dropAfter))
	return changed, nil
}

// setRTT records the latest round-trip time to the peer at endpoint or,
// when endpoint is empty, to the peers with node ID id. heard keeps it; it
// is written at most every flushEvery per peer.
func (t *table) setRTT(ctx context.Context, endpoint string, id identity.NodeID, rtt time.Duration, via string) error {
	endpoints := []string{endpoint}
	if endpoint == "" {
		var err error
		if endpoints, err = t.endpointsOf(ctx, id); err != nil {
			return fmt.Errorf("record round-trip time to %s: %w", id, err)
		}
	}
	rtt = max(rtt, time.Microsecond) // 0 means never measured
	now := t.now()
	for _, ep := range endpoints {
		if !t.heard.measured(ep, rtt, via, now, t.flushEvery) {
			continue
		}
		_, err := t.db.ExecContext(ctx, qRTT, rtt.Microseconds(), via, now.UnixMilli(), ep)
		if err != nil {
			return fmt.Errorf("record round-trip time to %s: %w", ep, err)
		}
	}
	return nil
}

// endpointsOf returns the endpoints of the peers with node ID id.
func (t *table) endpointsOf(ctx context.Context, id identity.NodeID) ([]string, error) {
	rows, err := t.db.QueryContext(ctx, qEndpointsByID, string(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ep string
		if err := rows.Scan(&ep); err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// recordState adds a state change of the peer at endpoint to its timeline
// unless the timeline already ends in that state, and deletes what has
// left the window except each peer's newest older row (the state its
// window starts in).
func (t *table) recordState(ctx context.Context, endpoint string, state State, window time.Duration) error {
	now := t.now()
	err := sqlitedb.InTx(ctx, t.db, func(tx *sql.Tx) error {
		var last string
		err := tx.QueryRowContext(ctx, qLastState, endpoint).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if last == string(state) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, qAddState, endpoint, now.UnixMilli(), string(state)); err != nil {
			return err
		}
		cut := now.Add(-window).UnixMilli()
		_, err = tx.ExecContext(ctx, qTrimStates, cut)
		if err != nil {
			return err
		}
		// The timelines of forgotten peers go with them.
		if _, err := tx.ExecContext(ctx, qOrphanStates); err != nil {
			return err
		}
		// A peer flapping fast still keeps at most maxStateRows rows.
		_, err = tx.ExecContext(ctx, qCapStates, endpoint, maxStateRows)
		return err
	})
	if err != nil {
		return fmt.Errorf("record state of peer %s: %w", endpoint, err)
	}
	return nil
}

// maxStateRows bounds one peer's recorded state changes.
const maxStateRows = 512

// spans returns the states of the peer at endpoint from since to now, in
// order; time before its first recorded change is StateUnknown.
func (t *table) spans(ctx context.Context, endpoint string, since time.Time) ([]StateSpan, error) {
	now := t.now().UTC()
	rows, err := t.db.QueryContext(ctx, qTimeline, endpoint)
	if err != nil {
		return nil, fmt.Errorf("read timeline of peer %s: %w", endpoint, err)
	}
	defer rows.Close()
	out := []StateSpan{{From: since, To: now, State: StateUnknown}}
	for rows.Next() {
		var (
			at    int64
			state string
		)
		if err := rows.Scan(&at, &state); err != nil {
			return nil, fmt.Errorf("read timeline of peer %s: %w", endpoint, err)
		}
		from := time.UnixMilli(at).UTC()
		if from.Before(since) {
			from = since
		}
		last := &out[len(out)-1]
		if !from.After(last.From) {
			last.State = State(state) // replaces what began at the same instant
			continue
		}
		last.To = from
		out = append(out, StateSpan{From: from, To: now, State: State(state)})
	}
	return out, rows.Err()
}
