package storage

import (
	"context"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors callers act on.
var (
	// ErrNotFound: no shard is stored under that asset and index.
	ErrNotFound = errors.New("shard not found")
	// ErrHashMismatch: the bytes do not match the expected content hash.
	ErrHashMismatch = errors.New("shard content does not match its hash")
	// ErrTooLarge: the shard exceeds the store's size limit.
	ErrTooLarge = errors.New("shard too large")
	// ErrConflict: a shard with different content is already stored there.
	ErrConflict = errors.New("a different shard is already stored under this asset and index")
	// ErrCorrupt: the stored blob no longer matches its hash; it was quarantined.
	ErrCorrupt = errors.New("stored shard failed its integrity check")
	// ErrInvalid: the asset ID, index or hash is malformed.
	ErrInvalid = errors.New("invalid shard address")
)

// MaxIndex is the highest shard index (n is at most 256).
const MaxIndex = 255

var assetIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Shard is the metadata of a stored shard.
type Shard struct {
	AssetID  string
	Index    int
	Size     int64
	Hash     string // lower-case hex BLAKE3-256
	StoredBy string
	StoredAt time.Time
}

// ShardStore keeps shards in content-addressed files with their metadata in
// SQLite. It is safe for concurrent use.
type ShardStore struct {
	db  *sql.DB
	dir string
	now func() time.Time
}

// OpenShardStore migrates the store's tables and prepares dir.
func OpenShardStore(ctx context.Context, db *sql.DB, dir string, now func() time.Time) (*ShardStore, error) {
	if err := sqlitedb.Migrate(ctx, db, "storage", migrations); err != nil {
		return nil, err
	}
	for _, d := range []string{"blobs", "tmp", "quarantine"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("create shard dir: %w", err)
		}
	}
	return &ShardStore{db: db, dir: dir, now: now}, nil
}

// ValidateAddress checks an asset ID and shard index. An asset ID of dots
// alone ("." and "..") is refused: it reads as a path element.
func ValidateAddress(assetID string, index int) error {
	if !assetIDPattern.MatchString(assetID) || strings.Trim(assetID, ".") == "" {
		return fmt.Errorf("%w: asset_id must be 1-128 characters of A-Z a-z 0-9 . _ -, not only dots", ErrInvalid)
	}
	if index < 0 || index > MaxIndex {
		return fmt.Errorf("%w: index must be between 0 and %d", ErrInvalid, MaxIndex)
	}
	return nil
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func validHash(h string) bool { return hashPattern.MatchString(h) }

// Put streams r into the store under (assetID, index). At most maxSize bytes
// are accepted. When wantHash is not empty the content must hash to it.
// Storing identical content again succeeds without rewriting anything.
func (s *ShardStore) Put(ctx context.Context, assetID string, index int, r io.Reader, maxSize int64, wantHash, storedBy string) (Shard, error) {
	if err := ValidateAddress(assetID, index); err != nil {
		return Shard{}, err
	}
	if wantHash != "" && !validHash(wantHash) {
		return Shard{}, fmt.Errorf("%w: hash must be 64 lower-case hex digits", ErrInvalid)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "shard-*")
	if err != nil {
		return Shard{}, fmt.Errorf("create temp shard: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	h := blake3.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, maxSize+1))
	if err != nil {
		return Shard{}, fmt.Errorf("receive shard: %w", err)
	}
	if n > maxSize {
		return Shard{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxSize)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if wantHash != "" && got != wantHash {
		return Shard{}, fmt.Errorf("%w: got %s, want %s", ErrHashMismatch, got, wantHash)
	}
	if err := tmp.Sync(); err != nil {
		return Shard{}, fmt.Errorf("sync shard: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Shard{}, fmt.Errorf("close shard: %w", err)
	}

	existing, err := s.Stat(ctx, assetID, index)
	switch {
	case err == nil && existing.Hash == got:
		return existing, nil
	case err == nil:
		return Shard{}, fmt.Errorf("%w (stored %s, sent %s)", ErrConflict, existing.Hash, got)
	case !errors.Is(err, ErrNotFound):
		return Shard{}, err
	}

	blob := s.blobPath(got)
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		return Shard{}, fmt.Errorf("create blob dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), blob); err != nil {
		return Shard{}, fmt.Errorf("install blob: %w", err)
	}
	if err := syncDir(filepath.Dir(blob)); err != nil {
		return Shard{}, err
	}
	sh := Shard{AssetID: assetID, Index: index, Size: n, Hash: got, StoredBy: storedBy, StoredAt: s.now().UTC()}
	_, err = s.db.ExecContext(ctx, `INSERT INTO storage_shards(asset_id, idx, hash, size, stored_by, stored_at)
		VALUES (?, ?, ?, ?, ?, ?)`, sh.AssetID, sh.Index, sh.Hash, sh.Size, sh.StoredBy, sh.StoredAt.UnixMilli())
	if err != nil {
		// A concurrent Put of the same address may have won; report what is stored now.
		if cur, serr := s.Stat(ctx, assetID, index); serr == nil {
			if cur.Hash == got {
				return cur, nil
			}
			return Shard{}, fmt.Errorf("%w (stored %s, sent %s)", ErrConflict, cur.Hash, got)
		}
		return Shard{}, fmt.Errorf("record shard: %w", err)
	}
	return sh, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open blob dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync blob dir: %w", err)
	}
	return nil
}

// Stat returns the metadata of a stored shard.
func (s *ShardStore) Stat(ctx context.Context, assetID string, index int) (Shard, error) {
	if err := ValidateAddress(assetID, index); err != nil {
		return Shard{}, err
	}
	sh := Shard{AssetID: assetID, Index: index}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT hash, size, stored_by, stored_at FROM storage_shards
		WHERE asset_id = ? AND idx = ?`, assetID, index).Scan(&sh.Hash, &sh.Size, &sh.StoredBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Shard{}, fmt.Errorf("%w: %s/%d", ErrNotFound, assetID, index)
	}
	if err != nil {
		return Shard{}, fmt.Errorf("read shard %s/%d: %w", assetID, index, err)
	}
	sh.StoredAt = time.UnixMilli(at).UTC()
	return sh, nil
}

// Open checks the stored shard against its hash and returns a reader of its
// bytes, positioned at the start. A shard that fails the check is
// quarantined and ErrCorrupt returned. The caller closes the reader.
func (s *ShardStore) Open(ctx context.Context, assetID string, index int) (io.ReadCloser, Shard, error) {
	sh, err := s.Stat(ctx, assetID, index)
	if err != nil {
		return nil, Shard{}, err
	}
	f, err := os.Open(s.blobPath(sh.Hash))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Shard{}, s.quarantine(ctx, sh, "blob missing")
		}
		return nil, Shard{}, fmt.Errorf("open shard: %w", err)
	}
	h := blake3.New()
	n, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, Shard{}, fmt.Errorf("read shard: %w", err)
	}
	if n != sh.Size || hex.EncodeToString(h.Sum(nil)) != sh.Hash {
		f.Close()
		return nil, Shard{}, s.quarantine(ctx, sh, "hash mismatch")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, Shard{}, fmt.Errorf("rewind shard: %w", err)
	}
	return f, sh, nil
}

// quarantine moves a bad blob aside and forgets the shard, so later reads
// report it missing rather than serve bad bytes.
func (s *ShardStore) quarantine(ctx context.Context, sh Shard, why string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM storage_shards WHERE asset_id = ? AND idx = ?`, sh.AssetID, sh.Index); err != nil {
		return fmt.Errorf("forget corrupt shard: %w", err)
	}
	var others int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM storage_shards WHERE hash = ?`, sh.Hash).Scan(&others); err != nil {
		return fmt.Errorf("count blob users: %w", err)
	}
	if others == 0 {
		dst := filepath.Join(s.dir, "quarantine", fmt.Sprintf("%s-%d", sh.Hash, s.now().UnixNano()))
		if err := os.Rename(s.blobPath(sh.Hash), dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("quarantine blob: %w", err)
		}
	}
	return fmt.Errorf("%w: %s/%d: %s", ErrCorrupt, sh.AssetID, sh.Index, why)
}

// blobPath returns where the bytes of the shard with this hash live.
func (s *ShardStore) blobPath(hash string) string {
	return filepath.Join(s.dir, "blobs", hash[:2], hash)
}

// Count returns the number of stored shards and their total size.
func (s *ShardStore) Count(ctx context.Context) (n int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM storage_shards`).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards: %w", err)
	}
	return n, bytes, nil
}

// CountStoredBy returns the number of shards stored by one caller (a node
// ID, or "admin") and their total size.
func (s *ShardStore) CountStoredBy(ctx context.Context, storedBy string) (n int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM storage_shards WHERE stored_by = ?`, storedBy).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards stored by %s: %w", storedBy, err)
	}
	return n, bytes, nil
}
