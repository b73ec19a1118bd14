package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// Asset states, as kept in the manifest.
const (
	StatePending  = "pending"
	StateStored   = "stored"
	StateDegraded = "degraded"
	StateLost     = "lost"
)

// Manifest describes a file this node stored across the mesh: how it was
// encrypted and coded, and (in its shard records) where its shards live.
type Manifest struct {
	AssetID string
	// Owner is the node ID of the node that encrypted the file.
	Owner string
	Name  string
	// Size is the plaintext size; -1 until an upload of unknown size ends.
	Size int64
	// FileHash is the hex BLAKE3-256 of the plaintext: as announced from
	// the start of a put that gave it (and checked at its end), otherwise
	// "" until the upload ends.
	FileHash  string
	Mode      string // "ec" or "rep"
	K, N      int
	ShardSize int
	// Stripes is the number of stripes (0 until an upload of unknown size ends).
	Stripes  int
	Adaptive bool
	// Keys holds the asset key wrapped to the owner and any recipients.
	Keys []WrappedKey
	// Policy is the signed asset policy attached at put, if any.
	Policy    []byte
	State     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ShardRecord says which host acknowledged a shard.
type ShardRecord struct {
	Stripe, Index int
	Hash          string
	HostID        string
	Endpoint      string
	Live          bool
}

// Catalog keeps manifests and shard records in SQLite. It is safe for
// concurrent use.
type Catalog struct {
	db  *sql.DB
	now func() time.Time
}

// OpenCatalog migrates the storage tables and returns the catalog.
func OpenCatalog(ctx context.Context, db *sql.DB, now func() time.Time) (*Catalog, error) {
	if err := sqlitedb.Migrate(ctx, db, "storage", migrations); err != nil {
		return nil, err
	}
	return &Catalog{db: db, now: now}, nil
}

// Create stores a new manifest. It fails with ErrConflict when the asset exists.
func (c *Catalog) Create(ctx context.Context, m Manifest) error {
	keys, err := json.Marshal(m.Keys)
	if err != nil {
		return fmt.Errorf("encode wrapped keys: %w", err)
	}
	now := c.now().UnixMilli()
	var policy any
	if len(m.Policy) > 0 {
		policy = string(m.Policy)
	}
	_, err = c.db.ExecContext(ctx, `INSERT INTO storage_assets(asset_id, owner, name, size, file_hash, mode, k, n,
		shard_size, stripes, adaptive, keys_json, policy, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.AssetID, m.Owner, m.Name, m.Size, m.FileHash, m.Mode, m.K, m.N, m.ShardSize, m.Stripes,
		m.Adaptive, string(keys), policy, m.State, now, now)
	if err != nil {
		if _, gerr := c.Get(ctx, m.AssetID); gerr == nil {
			return fmt.Errorf("%w: asset %s exists", ErrConflict, m.AssetID)
		}
		return fmt.Errorf("create asset %s: %w", m.AssetID, err)
	}
	return nil
}

const manifestColumns = `asset_id, owner, name, size, file_hash, mode, k, n, shard_size, stripes, adaptive,
	keys_json, coalesce(policy, ''), state, created_at, updated_at`

func scanManifest(row interface{ Scan(...any) error }) (Manifest, error) {
	var (
		m            Manifest
		keys, policy string
		created, upd int64
	)
	err := row.Scan(&m.AssetID, &m.Owner, &m.Name, &m.Size, &m.FileHash, &m.Mode, &m.K, &m.N, &m.ShardSize,
		&m.Stripes, &m.Adaptive, &keys, &policy, &m.State, &created, &upd)
	if err != nil {
		return Manifest{}, err
	}
	if err := json.Unmarshal([]byte(keys), &m.Keys); err != nil {
		return Manifest{}, fmt.Errorf("decode wrapped keys of %s: %w", m.AssetID, err)
	}
	if policy != "" {
		m.Policy = []byte(policy)
	}
	m.CreatedAt, m.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(upd).UTC()
	return m, nil
}

// Get returns the manifest of an asset.
func (c *Catalog) Get(ctx context.Context, assetID string) (Manifest, error) {
	m, err := scanManifest(c.db.QueryRowContext(ctx, `SELECT `+manifestColumns+` FROM storage_assets WHERE asset_id = ?`, assetID))
	if errors.Is(err, sql.ErrNoRows) {
		return Manifest{}, fmt.Errorf("%w: no asset %s", ErrNotFound, assetID)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read asset %s: %w", assetID, err)
	}
	return m, nil
}

// ByContent returns the newest manifest owner keeps for the plaintext
// whose hash is fileHash (a put that announced its hash records it at
// once), or ErrNotFound.
func (c *Catalog) ByContent(ctx context.Context, owner, fileHash string) (Manifest, error) {
	m, err := scanManifest(c.db.QueryRowContext(ctx, `SELECT `+manifestColumns+` FROM storage_assets
		WHERE owner = ? AND file_hash = ? ORDER BY created_at DESC, asset_id LIMIT 1`, owner, fileHash))
	if errors.Is(err, sql.ErrNoRows) {
		return Manifest{}, fmt.Errorf("%w: no asset with content %s", ErrNotFound, fileHash)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read asset with content %s: %w", fileHash, err)
	}
	return m, nil
}

// ByParams returns the owner's newest manifest of the content hashed
// fileHash with the given mode and, where not zero, k, n and shard size.
func (c *Catalog) ByParams(ctx context.Context, owner, fileHash, mode string, k, n, shardSize int) (Manifest, error) {
	m, err := scanManifest(c.db.QueryRowContext(ctx, `SELECT `+manifestColumns+` FROM storage_assets
		WHERE owner = ? AND file_hash = ? AND mode = ? AND (? = 0 OR k = ?) AND (? = 0 OR n = ?) AND (? = 0 OR shard_size = ?)
		ORDER BY created_at DESC, asset_id LIMIT 1`, owner, fileHash, mode, k, k, n, n, shardSize, shardSize))
	if errors.Is(err, sql.ErrNoRows) {
		return Manifest{}, fmt.Errorf("%w: no %s asset with content %s and these parameters", ErrNotFound, mode, fileHash)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read asset with content %s: %w", fileHash, err)
	}
	return m, nil
}

// List returns all manifests, newest first.
func (c *Catalog) List(ctx context.Context) ([]Manifest, error) {
	return listManifests(ctx, c.db, ``, `a.created_at DESC, a.asset_id`)
}

// listManifests returns the manifests the where clause (naming
// storage_assets "a") selects, in the order of the order clause.
func listManifests(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, where, order string, args ...any) ([]Manifest, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+manifestColumns+` FROM storage_assets a `+where+` ORDER BY `+order, args...)
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		m, err := scanManifest(rows)
		if err != nil {
			return nil, fmt.Errorf("list assets: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Listed is an asset as a listing of files shows it: its manifest, its
// shard records (Hash and Endpoint left empty) and its audit outcomes.
type Listed struct {
	Manifest
	Shards                     []ShardRecord
	AuditsPassed, AuditsFailed int
}

// EachListed calls fn with every asset in the order of their IDs, or,
// when fileHash is not empty, with the assets holding that content (of any
// owner, in any coding). It reads in three queries in one read
// transaction, where a listing by Shards and AssetAudits took two queries
// per asset (a second for 300 files); both main queries follow the
// tables' primary keys, so neither sorts. It holds the shard records of
// one asset at a time. fn must not use the catalog: the transaction holds
// a connection until EachListed returns.
func (c *Catalog) EachListed(ctx context.Context, fileHash string, fn func(Listed) error) error {
	where, shards, args := "", `SELECT s.asset_id, s.stripe, s.idx, s.host_id, s.live FROM storage_asset_shards s`, []any(nil)
	if fileHash != "" {
		where, args = `WHERE a.file_hash = ?`, []any{fileHash}
		shards += ` JOIN storage_assets a ON a.asset_id = s.asset_id ` + where
	}
	return sqlitedb.InTx(ctx, c.db, func(tx *sql.Tx) error {
		ms, err := listManifests(ctx, tx, where, `a.asset_id`, args...)
		if err != nil {
			return err
		}
		audits, err := auditCounts(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, shards+` ORDER BY s.asset_id, s.stripe, s.idx`, args...)
		if err != nil {
			return fmt.Errorf("list shards: %w", err)
		}
		defer rows.Close()
		var (
			next  ShardRecord
			asset string
			more  bool
		)
		advance := func() error {
			if more = rows.Next(); !more {
				return rows.Err()
			}
			return rows.Scan(&asset, &next.Stripe, &next.Index, &next.HostID, &next.Live)
		}
		if err := advance(); err != nil {
			return fmt.Errorf("list shards: %w", err)
		}
		for _, m := range ms {
			l := Listed{Manifest: m}
			l.AuditsPassed, l.AuditsFailed = audits[m.AssetID][0], audits[m.AssetID][1]
			// No record of an unlisted asset comes between: every record
			// has its asset (a foreign key), and both lists are in ID order.
			for more && asset == m.AssetID {
				l.Shards = append(l.Shards, next)
				if err := advance(); err != nil {
					return fmt.Errorf("list shards: %w", err)
				}
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	})
}

// Finish records the final size, hash and stripe count of an upload.
func (c *Catalog) Finish(ctx context.Context, assetID string, size int64, fileHash string, stripes int) error {
	_, err := c.db.ExecContext(ctx, `UPDATE storage_assets SET size = ?, file_hash = ?, stripes = ?, updated_at = ?
		WHERE asset_id = ?`, size, fileHash, stripes, c.now().UnixMilli(), assetID)
	if err != nil {
		return fmt.Errorf("finish asset %s: %w", assetID, err)
	}
	return nil
}

// SetState records an asset's state.
func (c *Catalog) SetState(ctx context.Context, assetID, state string) error {
	_, err := c.db.ExecContext(ctx, `UPDATE storage_assets SET state = ?, updated_at = ? WHERE asset_id = ?`,
		state, c.now().UnixMilli(), assetID)
	if err != nil {
		return fmt.Errorf("set state of %s: %w", assetID, err)
	}
	return nil
}

// RecordShard stores or replaces the record of one shard. A record that
// names a new host is placed now; one that keeps its host keeps its time.
func (c *Catalog) RecordShard(ctx context.Context, assetID string, r ShardRecord) error {
	return recordShard(ctx, c.db, assetID, r, c.now())
}

// execer is what recordShard needs of a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func recordShard(ctx context.Context, db execer, assetID string, r ShardRecord, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO storage_asset_shards(asset_id, stripe, idx, hash, host_id, endpoint, live, placed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(asset_id, stripe, idx) DO UPDATE SET hash = excluded.hash, host_id = excluded.host_id,
			endpoint = excluded.endpoint, live = excluded.live,
			placed_at = CASE WHEN host_id = excluded.host_id AND hash = excluded.hash THEN placed_at ELSE excluded.placed_at END`,
		assetID, r.Stripe, r.Index, r.Hash, r.HostID, r.Endpoint, r.Live, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record shard %s/%d/%d: %w", assetID, r.Stripe, r.Index, err)
	}
	return nil
}

// SetLive marks one shard live or dead.
func (c *Catalog) SetLive(ctx context.Context, assetID string, stripe, index int, live bool) error {
	_, err := c.db.ExecContext(ctx, `UPDATE storage_asset_shards SET live = ? WHERE asset_id = ? AND stripe = ? AND idx = ?`,
		live, assetID, stripe, index)
	if err != nil {
		return fmt.Errorf("mark shard %s/%d/%d: %w", assetID, stripe, index, err)
	}
	return nil
}

// Shards returns the shard records of an asset, by stripe and index.
func (c *Catalog) Shards(ctx context.Context, assetID string) ([]ShardRecord, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT stripe, idx, hash, host_id, endpoint, live FROM storage_asset_shards
		WHERE asset_id = ? ORDER BY stripe, idx`, assetID)
	if err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", assetID, err)
	}
	defer rows.Close()
	var out []ShardRecord
	for rows.Next() {
		var r ShardRecord
		if err := rows.Scan(&r.Stripe, &r.Index, &r.Hash, &r.HostID, &r.Endpoint, &r.Live); err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", assetID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LiveCounts returns, per stripe, the number of live shards (for an upload
// still running: per stripe begun so far).
func LiveCounts(m Manifest, recs []ShardRecord) []int {
	stripes := m.Stripes
	for _, r := range recs {
		stripes = max(stripes, r.Stripe+1)
	}
	counts := make([]int, stripes)
	for _, r := range recs {
		if r.Live {
			counts[r.Stripe]++
		}
	}
	return counts
}

// Health returns the state an asset is in, given its live shard counts and
// the repair threshold (live shards per stripe below which repair rebuilds).
func Health(m Manifest, counts []int, threshold int) string {
	if m.Stripes == 0 || len(counts) != m.Stripes {
		return StatePending
	}
	state := StateStored
	for _, c := range counts {
		switch {
		case c < m.K:
			return StateLost
		case c < min(threshold, m.N):
			state = StateDegraded
		}
	}
	return state
}

// MaxPendingDeletions bounds storage_deletions: past it the oldest pending
// deletions are dropped. Nothing is lost by that: a host also collects
// shards nobody claims (ShardStore.Collect), so a deletion request only
// frees the space sooner.
const MaxPendingDeletions = 100_000

// Deletion is a shard an owner asks its host to drop.
type Deletion struct {
	HostID, Endpoint string
	Addr             ShardAddr
	CreatedAt        time.Time
	Attempts         int
}

// Forget deletes an asset's manifest and shard records and, with
// dropShards (the owner's files; not a file shared with this node), queues
// in the same transaction a deletion for every shard a host acknowledged.
// It returns ErrNotFound for an unknown asset.
func (c *Catalog) Forget(ctx context.Context, assetID string, dropShards bool) error {
	now := c.now().UnixMilli()
	err := sqlitedb.InTx(ctx, c.db, func(tx *sql.Tx) error {
		if dropShards {
			if _, err := tx.ExecContext(ctx, `INSERT INTO storage_deletions(host_id, endpoint, asset_id, stripe, idx, created_at)
				SELECT host_id, endpoint, asset_id, stripe, idx, ? FROM storage_asset_shards WHERE asset_id = ?
				ON CONFLICT DO NOTHING`, now, assetID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM storage_assets WHERE asset_id = ?`, assetID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no asset %s", ErrNotFound, assetID)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM storage_deletions WHERE rowid IN (SELECT rowid FROM storage_deletions
			ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)`, MaxPendingDeletions)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("forget asset %s: %w", assetID, err)
	}
	return nil
}

// PendingDeletions returns up to limit queued deletions (of assetID only,
// when it is not empty), least tried first, after dropping those queued
// before expired (their hosts have collected the shards by then).
func (c *Catalog) PendingDeletions(ctx context.Context, assetID string, expired time.Time, limit int) ([]Deletion, error) {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM storage_deletions WHERE created_at < ?`, expired.UnixMilli()); err != nil {
		return nil, fmt.Errorf("expire deletions: %w", err)
	}
	rows, err := c.db.QueryContext(ctx, `SELECT host_id, endpoint, asset_id, stripe, idx, created_at, attempts
		FROM storage_deletions WHERE ? = '' OR asset_id = ? ORDER BY attempts, created_at LIMIT ?`, assetID, assetID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deletions: %w", err)
	}
	defer rows.Close()
	var out []Deletion
	for rows.Next() {
		var d Deletion
		var at int64
		if err := rows.Scan(&d.HostID, &d.Endpoint, &d.Addr.AssetID, &d.Addr.Stripe, &d.Addr.Index, &at, &d.Attempts); err != nil {
			return nil, fmt.Errorf("list deletions: %w", err)
		}
		d.CreatedAt = time.UnixMilli(at).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeletionDone removes a deletion from the queue (the host dropped the
// shard, had none, or will never take the request); with done false it
// counts a failed attempt instead.
func (c *Catalog) DeletionDone(ctx context.Context, d Deletion, done bool) error {
	q := `UPDATE storage_deletions SET attempts = attempts + 1`
	if done {
		q = `DELETE FROM storage_deletions`
	}
	_, err := c.db.ExecContext(ctx, q+` WHERE host_id = ? AND asset_id = ? AND stripe = ? AND idx = ?`,
		d.HostID, d.Addr.AssetID, d.Addr.Stripe, d.Addr.Index)
	if err != nil {
		return fmt.Errorf("update deletion of %s/%d/%d: %w", d.Addr.AssetID, d.Addr.Stripe, d.Addr.Index, err)
	}
	return nil
}

// Holdings returns, for each of n instants first, first+step, ..., per
// host, the bytes of this node's live shards that reached the host at or
// before that instant (each shard is its file's shard size): what the node
// owes its hosts for keeping them over the windows that start at those
// instants. One read answers all n: shards are summed per host and per
// step they were placed in, and the sums are added up in order.
func (c *Catalog) Holdings(ctx context.Context, first time.Time, step time.Duration, n int) ([]map[string]int64, error) {
	if n < 1 || step < time.Millisecond {
		return nil, fmt.Errorf("sum shards per host: %d instants %s apart", n, step)
	}
	from, ms := first.UnixMilli(), step.Milliseconds()
	// placed_step is the first instant a shard counts at: 0 for shards
	// placed at or before first, else the steps after first rounded up.
	rows, err := c.db.QueryContext(ctx, `SELECT s.host_id, max((s.placed_at - ? + ? - 1) / ?, 0) AS placed_step, sum(a.shard_size)
		FROM storage_asset_shards s JOIN storage_assets a ON a.asset_id = s.asset_id
		WHERE s.live AND s.placed_at <= ? GROUP BY s.host_id, placed_step`, from, ms, ms, from+int64(n-1)*ms)
	if err != nil {
		return nil, fmt.Errorf("sum shards per host: %w", err)
	}
	defer rows.Close()
	placed := make([]map[string]int64, n)
	for i := range placed {
		placed[i] = make(map[string]int64)
	}
	for rows.Next() {
		var host string
		var k, bytes int64
		if err := rows.Scan(&host, &k, &bytes); err != nil {
			return nil, fmt.Errorf("sum shards per host: %w", err)
		}
		if k < 0 || k >= int64(n) {
			return nil, fmt.Errorf("sum shards per host: step %d of %d", k, n)
		}
		placed[k][host] += bytes
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum shards per host: %w", err)
	}
	for i := 1; i < n; i++ {
		for host, bytes := range placed[i-1] {
			placed[i][host] += bytes
		}
	}
	return placed, nil
}

// OnHost returns how many live shards of this node's files one host holds
// and their total size (each shard is its file's shard size).
func (c *Catalog) OnHost(ctx context.Context, hostID string) (n int, bytes int64, err error) {
	err = c.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(a.shard_size), 0)
		FROM storage_asset_shards s JOIN storage_assets a ON a.asset_id = s.asset_id
		WHERE s.host_id = ? AND s.live`, hostID).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards on host %s: %w", hostID, err)
	}
	return n, bytes, nil
}
