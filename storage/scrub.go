package storage

import (
	"context"
	"errors"
	"fmt"
)

// ScrubCursor is where a scrub pass stands: the last shard address it
// checked (the zero value: before the first).
type ScrubCursor struct {
	AssetID string
	Index   int
}

// ScrubResult says what one Scrub call did.
type ScrubResult struct {
	// Checked counts the shards re-read.
	Checked int
	// Bad lists the shards whose blob was missing or did not match its
	// hash; they were quarantined.
	Bad []Shard
	// Next is the cursor to continue the pass from.
	Next ScrubCursor
	// Done says the pass reached the last stored shard.
	Done bool
}

// Scrub re-reads up to limit stored shards after cur, in address order,
// hashing each blob and checking it against its recorded hash (always,
// where Open may rely on a recent check); a shard that
// fails is quarantined (its row removed, its blob moved aside) and listed
// in Bad. A pass is a sequence of calls, each continuing from the last
// one's Next, so a large store is checked in bounded steps.
func (s *ShardStore) Scrub(ctx context.Context, cur ScrubCursor, limit int) (ScrubResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT asset_id, idx FROM storage_shards
		WHERE asset_id > ? OR (asset_id = ? AND idx > ?) ORDER BY asset_id, idx LIMIT ?`,
		cur.AssetID, cur.AssetID, cur.Index, limit)
	if err != nil {
		return ScrubResult{}, fmt.Errorf("list shards to scrub: %w", err)
	}
	var addrs []ScrubCursor
	for rows.Next() {
		var a ScrubCursor
		if err := rows.Scan(&a.AssetID, &a.Index); err != nil {
			rows.Close()
			return ScrubResult{}, fmt.Errorf("list shards to scrub: %w", err)
		}
		addrs = append(addrs, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ScrubResult{}, fmt.Errorf("list shards to scrub: %w", err)
	}
	res := ScrubResult{Next: cur, Done: len(addrs) < limit}
	for _, a := range addrs {
		res.Next = a
		sh, err := s.row(ctx, a.AssetID, a.Index)
		if errors.Is(err, ErrNotFound) {
			continue // removed since the listing: nothing to check
		}
		if err != nil {
			return res, err
		}
		res.Checked++
		rc, _, err := s.open(ctx, a.AssetID, a.Index, true)
		switch {
		case err == nil:
			rc.Close()
		case errors.Is(err, ErrCorrupt):
			res.Bad = append(res.Bad, sh)
		case !errors.Is(err, ErrNotFound):
			return res, fmt.Errorf("scrub %s/%d: %w", a.AssetID, a.Index, err)
		}
	}
	return res, nil
}
