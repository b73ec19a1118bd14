package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// ChallengesPerShard is how many audit challenges the owner keeps per
// shard. Each is used once; when they run out, the next audit reads the
// whole shard instead and stores fresh ones.
const ChallengesPerShard = 2

// ChallengeSpan is how many bytes of a shard one challenge covers: a random
// range that long, or the whole shard when it is shorter. Making a
// challenge, at put, and answering it, at audit, hash that range instead of
// the shard, so a put of a large file pays a few percent of a hash pass for
// its challenges rather than ChallengesPerShard whole passes (on a Raspberry
// Pi that is most of a put's CPU). The range is unknown to the host until
// the audit: a host that kept none of the shard fails every audit, and one
// that kept part of it fails each audit whose range touches what it dropped.
// The audit that reads the whole shard back, when the challenges run out,
// checks every byte.
const ChallengeSpan = 64 << 10

// An AuditAsk is what an audit sends a host: a nonce, used once, and the
// range of the shard's bytes to prove. Length 0 asks for the whole shard,
// as challenges made before ranges existed do.
type AuditAsk struct {
	Nonce          [32]byte
	Offset, Length int64
}

// A Challenge is one audit of one shard: the host must answer
// AuditProof(AuditAsk, shard bytes), which equals Expected only if it holds
// the bytes of the range.
type Challenge struct {
	AuditAsk
	Expected string
}

// An Auditor asks hosts to prove they hold a shard. Implementations must
// be safe for concurrent use, honour ctx and wrap their errors as a
// Transport does.
type Auditor interface {
	// AuditShard sends ask to host and returns its proof for the shard.
	AuditShard(ctx context.Context, host Candidate, addr ShardAddr, ask AuditAsk) (string, error)
}

// ValidateAuditAsk checks an audit's range: offsets and lengths within the
// largest shard there can be, and offset 0 for the whole shard.
func ValidateAuditAsk(ask AuditAsk) error {
	if ask.Offset < 0 || ask.Length < 0 || ask.Offset > maxAuditRange || ask.Length > maxAuditRange {
		return fmt.Errorf("%w: audit offset and length must be between 0 and %d", ErrInvalid, int64(maxAuditRange))
	}
	if ask.Length == 0 && ask.Offset != 0 {
		return fmt.Errorf("%w: an audit of the whole shard (length 0) starts at offset 0", ErrInvalid)
	}
	return nil
}

// maxAuditRange bounds an audit's offset and length: the largest shard
// the API carries.
const maxAuditRange = 16 << 20

// AuditProof is a host's answer to an audit: the lower-case hex
// BLAKE3-256, keyed with the 32-byte nonce, of the asked range of the
// shard's bytes (all of them for Length 0). Without the bytes it cannot be
// computed, and a fresh nonce makes an old answer useless. A shard too
// short to hold the range is ErrInvalid.
func AuditProof(ask AuditAsk, shard io.Reader) (string, error) {
	if err := ValidateAuditAsk(ask); err != nil {
		return "", err
	}
	h, err := blake3.NewKeyed(ask.Nonce[:])
	if err != nil {
		return "", fmt.Errorf("audit key: %w", err)
	}
	short := fmt.Errorf("%w: the range %d+%d is beyond the shard", ErrInvalid, ask.Offset, ask.Length)
	if ask.Offset > 0 {
		if sk, ok := shard.(io.Seeker); ok {
			_, err = sk.Seek(ask.Offset, io.SeekCurrent)
		} else {
			_, err = io.CopyN(io.Discard, shard, ask.Offset)
		}
		if errors.Is(err, io.EOF) {
			return "", short
		}
		if err != nil {
			return "", fmt.Errorf("read shard for audit: %w", err)
		}
	}
	if ask.Length == 0 {
		_, err = io.Copy(h, shard)
	} else {
		_, err = io.CopyN(h, shard, ask.Length)
	}
	if errors.Is(err, io.EOF) {
		return "", short
	}
	if err != nil {
		return "", fmt.Errorf("read shard for audit: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NewChallenges makes count challenges for shard, each over a random range
// of ChallengeSpan bytes, with nonces and offsets from rnd
// (crypto/rand.Reader outside tests).
func NewChallenges(rnd io.Reader, shard []byte, count int) ([]Challenge, error) {
	out := make([]Challenge, count)
	span := min(len(shard), ChallengeSpan)
	for i := range out {
		var draw [40]byte
		if _, err := io.ReadFull(rnd, draw[:]); err != nil {
			return nil, fmt.Errorf("audit nonce: %w", err)
		}
		ch := &out[i]
		copy(ch.Nonce[:], draw[:32])
		ch.Offset = int64(binary.BigEndian.Uint64(draw[32:]) % uint64(len(shard)-span+1))
		ch.Length = int64(span)
		h, err := blake3.NewKeyed(ch.Nonce[:])
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		h.Write(shard[ch.Offset : ch.Offset+ch.Length])
		ch.Expected = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// ErrWrongProof: a host answered an audit challenge with the wrong proof.
var ErrWrongProof = errors.New("wrong audit proof")

// Prove checks that host holds the shard of rec under its recorded hash.
// With a challenge left for the shard in the catalog it sends that
// challenge (spending it) and compares the host's proof, which reads one
// challenge span on the host; with none it reads the whole shard through
// f, which checks its hash, and stores fresh challenges made from the
// checked bytes. A wrong proof is ErrWrongProof; a host without the shard
// answers ErrNotFound, and bytes read that do not match their hash give
// ErrHashMismatch. Any other error says nothing about the shard (no answer, a
// transport that cannot audit).
func Prove(ctx context.Context, cat *Catalog, f *Fetcher, m Manifest, rec ShardRecord, host Candidate) error {
	addr := ShardAddr{AssetID: m.AssetID, Stripe: rec.Stripe, Index: rec.Index}
	ch, ok, err := cat.TakeChallenge(ctx, addr)
	if err != nil {
		return err
	}
	if !ok {
		// The host as it is now: its endpoint may have changed since
		// the record was written (a host that comes back on a new address).
		rec.Endpoint = host.Endpoint
		data, err := f.FetchShard(ctx, m, rec)
		if err != nil {
			return err
		}
		return cat.Challenge(ctx, addr, data)
	}
	au, isAuditor := f.Transport.(Auditor)
	if !isAuditor {
		return fmt.Errorf("%w: the transport cannot audit", ErrHostRefused)
	}
	proof, err := au.AuditShard(ctx, host, addr, ch.AuditAsk)
	if err != nil {
		return err
	}
	if proof != ch.Expected {
		return fmt.Errorf("%w from %s", ErrWrongProof, host.Endpoint)
	}
	return nil
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

// An AckedShard is a shard a host acknowledged, with the challenges made
// from its bytes (NewChallenges).
type AckedShard struct {
	Record     ShardRecord
	Challenges []Challenge
}

// RecordShards records acknowledged shards and their challenges in one
// transaction: a put records each stripe in one write, not one per row, and
// a shard is never recorded without the challenges made for it.
func (c *Catalog) RecordShards(ctx context.Context, assetID string, acks []AckedShard) error {
	if len(acks) == 0 {
		return nil
	}
	now := c.now()
	return sqlitedb.InTx(ctx, c.db, func(tx *sql.Tx) error {
		for _, a := range acks {
			if err := recordShard(ctx, tx, assetID, a.Record, now); err != nil {
				return err
			}
			addr := ShardAddr{AssetID: assetID, Stripe: a.Record.Stripe, Index: a.Record.Index}
			if err := addChallengesTx(ctx, tx, addr, a.Challenges); err != nil {
				return err
			}
		}
		return nil
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
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO storage_audit_challenges(asset_id, stripe, idx, nonce, range_offset, range_length, expected)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, addr.AssetID, addr.Stripe, addr.Index, hex.EncodeToString(ch.Nonce[:]), ch.Offset, ch.Length, ch.Expected); err != nil {
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
		RETURNING nonce, range_offset, range_length, expected`, addr.AssetID, addr.Stripe, addr.Index).Scan(&nonce, &ch.Offset, &ch.Length, &ch.Expected)
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

// auditCounts returns the passed and failed audits of every asset with any.
func auditCounts(ctx context.Context, tx *sql.Tx) (map[string][2]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT asset_id, passed, failed FROM storage_audit_assets`)
	if err != nil {
		return nil, fmt.Errorf("read audits: %w", err)
	}
	defer rows.Close()
	out := map[string][2]int{}
	for rows.Next() {
		var (
			id             string
			passed, failed int
		)
		if err := rows.Scan(&id, &passed, &failed); err != nil {
			return nil, fmt.Errorf("read audits: %w", err)
		}
		out[id] = [2]int{passed, failed}
	}
	return out, rows.Err()
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
