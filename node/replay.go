package node

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
)

// replayWindow is how many seqs behind a sender's newest one a signed
// request may arrive: a node sends at most Window shard transfers at once
// per operation, so a few thousand covers reordering with room to spare.
// Each remembered sender costs replayWindow/8 bytes in memory and on disk.
const replayWindow = 4096

// CheckReplay accepts each signed request (sender, epoch, seq) once, for
// good: the sender's new replay state is saved in node_replay before it
// returns nil, and New loads the table, so a restart forgets nothing. It
// returns an error wrapping identity.ErrReplay for a request seen before
// (or too old), identity.ErrTooManySenders for a new sender when
// Config.ReplaySenders senders are remembered (none is ever forgotten to
// make room). Call it only for a request whose signature verified.
func (n *Node) CheckReplay(ctx context.Context, r identity.SignedRequest) error {
	return n.replay.Check(ctx, r)
}

// openReplayGuard returns a guard that saves into node_replay, with every
// state saved there restored.
func openReplayGuard(ctx context.Context, db *sql.DB, maxSenders int) (*identity.ReplayGuard, error) {
	g := identity.NewReplayGuard(replayWindow, maxSenders, func(ctx context.Context, st identity.ReplayState) error {
		_, err := db.ExecContext(ctx, `INSERT INTO node_replay(sender, epoch, top, window, seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(sender) DO UPDATE SET epoch = excluded.epoch, top = excluded.top, window = excluded.window, seen = excluded.seen`,
			string(st.ID), int64(st.Epoch), int64(st.Top), int64(st.Window), st.Seen)
		return err
	})
	rows, err := db.QueryContext(ctx, `SELECT sender, epoch, top, window, seen FROM node_replay`)
	if err != nil {
		return nil, fmt.Errorf("load replay state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                 string
			epoch, top, window int64
			seen               []byte
		)
		if err := rows.Scan(&id, &epoch, &top, &window, &seen); err != nil {
			return nil, fmt.Errorf("load replay state: %w", err)
		}
		g.Restore(identity.ReplayState{ID: identity.NodeID(id), Epoch: uint64(epoch), Top: uint64(top), Window: uint64(window), Seen: seen})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load replay state: %w", err)
	}
	return g, nil
}
