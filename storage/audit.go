package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// ChallengesPerShard is how many audit challenges the owner keeps per
// shard. Each is used once; when they run out, the next audit reads the
// whole shard instead and stores fresh ones. Each costs one more BLAKE3
// pass over the shard at put, so it stays small (a Raspberry Pi hashes a
// few hundred MB/s).
const ChallengesPerShard = 2

// A Challenge is one audit of one shard: the host must answer
// AuditProof(Nonce, shard bytes), which equals Expected only if it holds
// the bytes.
type Challenge struct {
	Nonce    [32]byte
	Expected string
}

// An Auditor asks hosts to prove they hold a shard. Implementations must
// be safe for concurrent use, honour ctx and wrap their errors as a
// Transport does.
type Auditor interface {
	// AuditShard sends nonce to host and returns its proof for the shard.
	AuditShard(ctx context.Context, host Candidate, addr ShardAddr, nonce [32]byte) (string, error)
}

// AuditProof is a host's answer to an audit: the lower-case hex BLAKE3-256
// of the shard's bytes, keyed with the 32-byte nonce. Without the bytes it
// cannot be computed, and a fresh nonce makes an old answer useless.
func AuditProof(nonce [32]byte, shard io.Reader) (string, error) {
	h, err := blake3.NewKeyed(nonce[:])
	if err != nil {
		return "", fmt.Errorf("audit key: %w", err)
	}
	if _, err := io.Copy(h, shard); err != nil {
		return "", fmt.Errorf("read shard for audit: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NewChallenges makes count challenges for shard, with nonces from rnd
// (crypto/rand.Reader outside tests).
func NewChallenges(rnd io.Reader, shard []byte, count int) ([]Challenge, error) {
	out := make([]Challenge, count)
	for i := range out {
		if _, err := io.ReadFull(rnd, out[i].Nonce[:]); err != nil {
			return nil, fmt.Errorf("audit nonce: %w", err)
		}
		h, err := blake3.NewKeyed(out[i].Nonce[:])
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		h.Write(shard)
		out[i].Expected = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// Challenge makes and stores fresh challenges for a shard whose bytes the
// caller holds and has checked against the shard's hash.
func (c *Catalog) Challenge(ctx context.Context, addr ShardAddr, shard []byte) error {
	chs, err := NewChallenges(rand.Reader, shard, ChallengesPerShard)
	if err != nil {
		return err
	}
	return c.AddChallenges(ctx, addr, chs)
}

// AddChallenges stores challenges for one shard, keeping at most
// ChallengesPerShard of them (extra ones are dropped).
func (c *Catalog) AddChallenges(ctx context.Context, addr ShardAddr, chs []Challenge) error {
	return sqlitedb.InTx(ctx, c.db, func(tx *sql.Tx) error { return addChallengesTx(ctx, tx, addr, chs) })
}

// RecordShardChallenged records an acknowledged shard and the challenges
// made from its bytes (NewChallenges) in one transaction: an upload's
// bookkeeping is one write, not one per row, and a shard is never recorded
// without the challenges its put made for it.
func (c *Catalog) RecordShardChallenged(ctx context.Context, assetID string, r ShardRecord, chs []Challenge) error {
	return sqlitedb.InTx(ctx, c.db, func(tx *sql.Tx) error {
		if err := recordShard(ctx, tx, assetID, r); err != nil {
			return err
		}
		return addChallengesTx(ctx, tx, ShardAddr{AssetID: assetID, Stripe: r.Stripe, Index: r.Index}, chs)
	})
}

// addChallengesTx is AddChallenges within tx. Counting and inserting in
// one transaction keeps concurrent adds for one shard within the cap.
func addChallengesTx(ctx context.Context, tx *sql.Tx, addr ShardAddr, chs []Challenge) error {
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM storage_audit_challenges WHERE asset_id = ? AND stripe = ? AND idx = ?`,
		addr.AssetID, addr.Stripe, addr.Index).Scan(&have); err != nil {
		return fmt.Errorf("count challenges of %s/%d/%d: %w", addr.AssetID, addr.Stripe, addr.Index, err)
	}
	for _, ch := range chs[:max(0, min(len(chs), ChallengesPerShard-have))] {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO storage_audit_challenges(asset_id, stripe, idx, nonce, expected)
			VALUES (?, ?, ?, ?, ?)`, addr.AssetID, addr.Stripe, addr.Index, hex.EncodeToString(ch.Nonce[:]), ch.Expected); err != nil {
			return fmt.Errorf("record challenge of %s/%d/%d: %w", addr.AssetID, addr.Stripe, addr.Index, err)
		}
	}
	return nil
}

// TakeChallenge removes and returns one unused challenge for a shard; ok is
// false when none is left.
func (c *Catalog) TakeChallenge(ctx context.Context, addr ShardAddr) (ch Challenge, ok bool, err error) {
	var nonce string
	err = c.db.QueryRowContext(ctx, `DELETE FROM storage_audit_challenges WHERE rowid = (
			SELECT rowid FROM storage_audit_challenges WHERE asset_id = ? AND stripe = ? AND idx = ? LIMIT 1)
		RETURNING nonce, expected`, addr.AssetID, addr.Stripe, addr.Index).Scan(&nonce, &ch.Expected)
	if errors.Is(err, sql.ErrNoRows) {
		return Challenge{}, false, nil
	}
	if err != nil {
		return Challenge{}, false, fmt.Errorf("take challenge of %s/%d/%d: %w", addr.AssetID, addr.Stripe, addr.Index, err)
	}
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != len(ch.Nonce) {
		return Challenge{}, false, fmt.Errorf("%w: stored audit nonce %q", ErrCorrupt, nonce)
	}
	copy(ch.Nonce[:], raw)
	return ch, true, nil
}

// RecordAudit counts one audit of a host's shard of an asset, passed or
// failed, against both.
func (c *Catalog) RecordAudit(ctx context.Context, hostID, assetID string, passed bool) error {
	p, f := 1, 0
	if !passed {
		p, f = 0, 1
	}
	for _, q := range []struct{ table, key, id string }{
		{"storage_audit_hosts", "host_id", hostID}, {"storage_audit_assets", "asset_id", assetID},
	} {
		_, err := c.db.ExecContext(ctx, `INSERT INTO `+q.table+`(`+q.key+`, passed, failed) VALUES (?, ?, ?)
			ON CONFLICT(`+q.key+`) DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed`, q.id, p, f)
		if err != nil {
			return fmt.Errorf("record audit of %s: %w", q.id, err)
		}
	}
	return nil
}

// AssetAudits returns how many audits of an asset's shards passed and failed.
func (c *Catalog) AssetAudits(ctx context.Context, assetID string) (passed, failed int, err error) {
	err = c.db.QueryRowContext(ctx, `SELECT passed, failed FROM storage_audit_assets WHERE asset_id = ?`, assetID).Scan(&passed, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read audits of %s: %w", assetID, err)
	}
	return passed, failed, nil
}

// FailedAudits returns, per host with any, how many audits it failed.
func (c *Catalog) FailedAudits(ctx context.Context) (map[string]int, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT host_id, failed FROM storage_audit_hosts WHERE failed > 0`)
	if err != nil {
		return nil, fmt.Errorf("read audit outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("read audit outcomes: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// AuditWeight is the placement weight factor of a host that failed
// failed audits: halved for each, so a host that lost data is chosen ever
// more rarely but never excluded (it may have been a disk since replaced).
// At least 1/1024.
func AuditWeight(failed int) float64 {
	return 1 / float64(uint64(1)<<min(failed, 10))
}
