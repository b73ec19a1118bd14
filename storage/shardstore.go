package storage

import (
	"context"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	db      *sql.DB
	dir     string
	now     func() time.Time
	removed Cleanup

	// blobMu serializes what links blobs and rows: installing a blob with
	// its row, and removing a blob no row points to. Receiving and hashing,
	// the slow part of a Put, run outside it. Held, no other Put can
	// install a blob between a check that a hash is unreferenced and the
	// blob's removal.
	blobMu sync.Mutex

	// checked holds when each blob was last hashed by a read in this
	// process (see recheckAfter); at most maxChecked entries.
	checkedMu sync.Mutex
	checked   map[string]time.Time
}

// recheckAfter is how long a blob a read hashed and found intact is
// served again without hashing it: every reader verifies each shard it
// receives against its manifest, and the scrub re-reads every blob each
// ScrubInterval, so hashing a blob on every read (twice the reading, and
// most of a host's CPU during a get) only repeats a check made minutes
// ago. A blob not checked that recently, the first read after a restart
// included, is hashed before it is served, as the scrub always does.
const recheckAfter = 10 * time.Minute

// maxChecked bounds the memo of checked blobs; when full it starts over.
const maxChecked = 1 << 14

// Cleanup counts what OpenShardStore removed: leftovers of a process that
// died mid-receive (kill -9, power loss) or mid-install.
type Cleanup struct {
	// TempFiles are partial uploads in tmp/.
	TempFiles int
	// Blobs are blobs no shard row points to.
	Blobs int
}

// OpenShardStore migrates the store's tables, prepares dir and removes what
// an earlier process left behind: temp files and unreferenced blobs
// (Removed counts them). No Put runs yet, so none of them is in use.
func OpenShardStore(ctx context.Context, db *sql.DB, dir string, now func() time.Time) (*ShardStore, error) {
	if err := sqlitedb.Migrate(ctx, db, "storage", migrations); err != nil {
		return nil, err
	}
	for _, d := range []string{"blobs", "tmp", "quarantine"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("create shard dir: %w", err)
		}
	}
	s := &ShardStore{db: db, dir: dir, now: now, checked: make(map[string]time.Time)}
	var err error
	if s.removed.TempFiles, err = s.removeTemp(); err != nil {
		return nil, err
	}
	if s.removed.Blobs, err = s.removeOrphans(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Removed returns what OpenShardStore cleaned up.
func (s *ShardStore) Removed() Cleanup { return s.removed }

// removeTemp deletes every file in tmp/: each is an upload that never
// finished.
func (s *ShardStore) removeTemp() (int, error) {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, fmt.Errorf("list temp shards: %w", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("remove temp shard: %w", err)
		}
		n++
	}
	return n, nil
}

// removeOrphans deletes the blobs no row points to: a process that died
// between installing a blob and recording its row leaves one. Files whose
// names are not hashes are not the store's and stay.
func (s *ShardStore) removeOrphans(ctx context.Context) (int, error) {
	blobs := filepath.Join(s.dir, "blobs")
	dirs, err := os.ReadDir(blobs)
	if err != nil {
		return 0, fmt.Errorf("list blobs: %w", err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(blobs, d.Name()))
		if err != nil {
			return n, fmt.Errorf("list blobs: %w", err)
		}
		for _, f := range files {
			if f.IsDir() || !validHash(f.Name()) || f.Name()[:2] != d.Name() {
				continue
			}
			removed, err := s.removeUnreferenced(ctx, f.Name())
			if err != nil {
				return n, err
			}
			if removed {
				n++
			}
		}
	}
	return n, nil
}

// removeUnreferenced deletes the blob of hash if no row points to it, and
// reports whether it did. The caller holds blobMu or runs before any Put.
func (s *ShardStore) removeUnreferenced(ctx context.Context, hash string) (bool, error) {
	var used int
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM storage_shards WHERE hash = ?)`, hash).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("check blob users: %w", err)
	}
	if used != 0 {
		return false, nil
	}
	if err := os.Remove(s.blobPath(hash)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("remove unreferenced blob: %w", err)
	}
	return true, nil
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

// intakeBufferSize is the copy buffer of Put. io.Copy's 32 KiB meant 32
// socket reads and 32 file writes per 1 MiB shard; each system call is a
// chance for the Go scheduler to hand the goroutine's P away and wake
// another thread, which costs a host more than the copy on a busy machine.
const intakeBufferSize = 256 << 10

// intakeBuffers holds Put's copy buffers: at most one per upload running
// at once (the node bounds those), so the pool stays small.
var intakeBuffers = sync.Pool{New: func() any {
	b := make([]byte, intakeBufferSize)
	return &b
}}

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
	buf := intakeBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(r, maxSize+1), *buf)
	intakeBuffers.Put(buf)
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

	return s.install(ctx, tmp.Name(), Shard{AssetID: assetID, Index: index, Size: n, Hash: got, StoredBy: storedBy})
}

// install moves a received shard's temp file into place as its blob and
// records its row, or, if the address is taken, leaves the store as it
// was. Under blobMu, of two concurrent Puts of one address the second sees
// the first's row before it touches a blob, so a loser never leaves a blob
// behind; a row that cannot be written (a full disk) takes its new blob
// with it.
func (s *ShardStore) install(ctx context.Context, tmp string, sh Shard) (Shard, error) {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	// A shard whose blob was lost is quarantined by Stat and stored anew.
	existing, err := s.stat(ctx, sh.AssetID, sh.Index, s.quarantineLocked)
	switch {
	case err == nil && existing.Hash == sh.Hash:
		// Storing the same shard again renews its lease like a claim (only
		// its storer's: no node keeps another's shards alive).
		if _, err := s.db.ExecContext(ctx, `UPDATE storage_shards SET claimed_at = max(claimed_at, ?)
			WHERE asset_id = ? AND idx = ? AND stored_by = ?`, s.now().UnixMilli(), sh.AssetID, sh.Index, sh.StoredBy); err != nil {
			return Shard{}, fmt.Errorf("renew shard %s/%d: %w", sh.AssetID, sh.Index, err)
		}
		return existing, nil
	case err == nil:
		return Shard{}, fmt.Errorf("%w (stored %s, sent %s)", ErrConflict, existing.Hash, sh.Hash)
	case !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt):
		return Shard{}, err
	}

	blob := s.blobPath(sh.Hash)
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		return Shard{}, fmt.Errorf("create blob dir: %w", err)
	}
	if err := os.Rename(tmp, blob); err != nil {
		return Shard{}, fmt.Errorf("install blob: %w", err)
	}
	if err := syncDir(filepath.Dir(blob)); err != nil {
		return Shard{}, s.undoInstall(sh.Hash, err)
	}
	sh.StoredAt = s.now().UTC()
	_, err = s.db.ExecContext(ctx, `INSERT INTO storage_shards(asset_id, idx, hash, size, stored_by, stored_at, claimed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, sh.AssetID, sh.Index, sh.Hash, sh.Size, sh.StoredBy, sh.StoredAt.UnixMilli(), sh.StoredAt.UnixMilli())
	if err != nil {
		return Shard{}, s.undoInstall(sh.Hash, fmt.Errorf("record shard: %w", err))
	}
	return sh, nil
}

// undoInstall removes the blob of hash after its row could not be
// recorded, unless another shard's row uses the same bytes, and returns
// cause. It runs without the request's context: a cancelled request must
// not leave the blob behind.
func (s *ShardStore) undoInstall(hash string, cause error) error {
	if _, err := s.removeUnreferenced(context.Background(), hash); err != nil {
		return fmt.Errorf("%w (and: %v)", cause, err)
	}
	return cause
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

// Stat returns the metadata of a stored shard after checking that its blob
// is on disk with the recorded size (not its hash: that needs a read, see
// Open and Scrub). A shard whose blob is gone or has the wrong size is
// quarantined and ErrCorrupt returned, so a lost blob is reported at once
// rather than when someone reads it.
func (s *ShardStore) Stat(ctx context.Context, assetID string, index int) (Shard, error) {
	return s.stat(ctx, assetID, index, s.quarantine)
}

// stat is Stat with the quarantine to use: install, which holds blobMu,
// passes quarantineLocked.
func (s *ShardStore) stat(ctx context.Context, assetID string, index int,
	quarantine func(context.Context, Shard, string) error) (Shard, error) {
	sh, err := s.row(ctx, assetID, index)
	if err != nil {
		return Shard{}, err
	}
	fi, err := os.Stat(s.blobPath(sh.Hash))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Shard{}, quarantine(ctx, sh, "blob missing")
	case err != nil:
		return Shard{}, fmt.Errorf("stat shard: %w", err)
	case fi.Size() != sh.Size:
		return Shard{}, quarantine(ctx, sh, fmt.Sprintf("blob has %d bytes, %d recorded", fi.Size(), sh.Size))
	}
	return sh, nil
}

// row returns a shard's metadata as recorded, without looking at its blob.
func (s *ShardStore) row(ctx context.Context, assetID string, index int) (Shard, error) {
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

// Open checks the stored shard against its hash (unless a read checked
// its blob within recheckAfter) and returns a reader of its bytes,
// positioned at the start. A shard that fails the check is quarantined and
// ErrCorrupt returned. The caller closes the reader.
func (s *ShardStore) Open(ctx context.Context, assetID string, index int) (io.ReadCloser, Shard, error) {
	return s.open(ctx, assetID, index, false)
}

// open is Open; with always set it hashes the blob whatever the memo
// says, as the scrub needs.
func (s *ShardStore) open(ctx context.Context, assetID string, index int, always bool) (io.ReadCloser, Shard, error) {
	sh, err := s.row(ctx, assetID, index)
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
	if !always && s.checkedLately(sh.Hash) {
		if st, err := f.Stat(); err == nil && st.Size() == sh.Size {
			return f, sh, nil
		}
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
	s.markChecked(sh.Hash)
	return f, sh, nil
}

// checkedLately says whether the blob was hashed within recheckAfter.
func (s *ShardStore) checkedLately(hash string) bool {
	s.checkedMu.Lock()
	defer s.checkedMu.Unlock()
	at, ok := s.checked[hash]
	return ok && s.now().Sub(at) < recheckAfter
}

// markChecked records that the blob was just hashed and found intact.
func (s *ShardStore) markChecked(hash string) {
	s.checkedMu.Lock()
	defer s.checkedMu.Unlock()
	if len(s.checked) >= maxChecked {
		clear(s.checked)
	}
	s.checked[hash] = s.now()
}

// forgetChecked drops the blob from the memo: it was quarantined.
func (s *ShardStore) forgetChecked(hash string) {
	s.checkedMu.Lock()
	defer s.checkedMu.Unlock()
	delete(s.checked, hash)
}

// quarantine moves a bad blob aside and forgets the shard, so later reads
// report it missing rather than serve bad bytes.
func (s *ShardStore) quarantine(ctx context.Context, sh Shard, why string) error {
	// Under blobMu no Put can give the blob a new user between the count
	// and the move.
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	return s.quarantineLocked(ctx, sh, why)
}

// quarantineLocked is quarantine for a caller that holds blobMu.
func (s *ShardStore) quarantineLocked(ctx context.Context, sh Shard, why string) error {
	s.forgetChecked(sh.Hash)
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

// FreeBytes returns the space left for unprivileged writes on the file
// system holding the store.
func (s *ShardStore) FreeBytes() (int64, error) {
	free, err := freeBytes(s.dir)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", s.dir, err)
	}
	return free, nil
}

// blobPath returns where the bytes of the shard with this hash live.
func (s *ShardStore) blobPath(hash string) string {
	return filepath.Join(s.dir, "blobs", hash[:2], hash)
}

// Delete forgets the shard at (assetID, index) and removes its blob unless
// another shard has the same content. It returns the shard it removed, or
// ErrNotFound.
func (s *ShardStore) Delete(ctx context.Context, assetID string, index int) (Shard, error) {
	sh, err := s.Stat(ctx, assetID, index)
	if err != nil {
		return Shard{}, err
	}
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	return sh, s.remove(ctx, sh)
}

// remove forgets sh and its blob when no other shard shares it; the caller
// holds blobMu.
func (s *ShardStore) remove(ctx context.Context, sh Shard) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM storage_shards WHERE asset_id = ? AND idx = ? AND hash = ?`,
		sh.AssetID, sh.Index, sh.Hash)
	if err != nil {
		return fmt.Errorf("forget shard %s/%d: %w", sh.AssetID, sh.Index, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s/%d", ErrNotFound, sh.AssetID, sh.Index)
	}
	_, err = s.removeUnreferenced(ctx, sh.Hash)
	return err
}

// MaxClaimBatch bounds the shards one Claim names (openapi.yaml's
// claimShards maxItems; a test compares them).
const MaxClaimBatch = 1024

// Claim renews the lease on the shards at addrs that storedBy stored, and
// returns how many it renewed; shards another node stored, or none at all,
// are left alone.
func (s *ShardStore) Claim(ctx context.Context, storedBy string, addrs []Addr) (int, error) {
	if len(addrs) > MaxClaimBatch {
		return 0, fmt.Errorf("%w: at most %d shards per claim", ErrInvalid, MaxClaimBatch)
	}
	for _, a := range addrs {
		if err := ValidateAddress(a.AssetID, a.Index); err != nil {
			return 0, err
		}
	}
	now := s.now().UnixMilli()
	claimed := 0
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, a := range addrs {
			res, err := tx.ExecContext(ctx, `UPDATE storage_shards SET claimed_at = max(claimed_at, ?)
				WHERE asset_id = ? AND idx = ? AND stored_by = ?`, now, a.AssetID, a.Index, storedBy)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			claimed += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("claim shards: %w", err)
	}
	return claimed, nil
}

// Addr is a shard's address on its host.
type Addr struct {
	AssetID string
	Index   int
}

// Collect removes up to limit shards whose lease ended before cutoff, except
// those stored by a name in keep (the admin, this node itself), and returns
// them.
func (s *ShardStore) Collect(ctx context.Context, cutoff time.Time, keep []string, limit int) ([]Shard, error) {
	q := `SELECT asset_id, idx, hash, size, stored_by, stored_at FROM storage_shards WHERE claimed_at < ?`
	args := []any{cutoff.UnixMilli()}
	for _, k := range keep {
		q += ` AND stored_by <> ?`
		args = append(args, k)
	}
	q += ` ORDER BY claimed_at LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list expired shards: %w", err)
	}
	var expired []Shard
	for rows.Next() {
		var sh Shard
		var at int64
		if err := rows.Scan(&sh.AssetID, &sh.Index, &sh.Hash, &sh.Size, &sh.StoredBy, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list expired shards: %w", err)
		}
		sh.StoredAt = time.UnixMilli(at).UTC()
		expired = append(expired, sh)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list expired shards: %w", err)
	}
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	removed := expired[:0]
	for _, sh := range expired {
		// A claim may have renewed it since: remove only what is still expired.
		var claimed int64
		err := s.db.QueryRowContext(ctx, `SELECT claimed_at FROM storage_shards WHERE asset_id = ? AND idx = ?`,
			sh.AssetID, sh.Index).Scan(&claimed)
		if errors.Is(err, sql.ErrNoRows) || err == nil && claimed >= cutoff.UnixMilli() {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("read lease of %s/%d: %w", sh.AssetID, sh.Index, err)
		}
		if err := s.remove(ctx, sh); err != nil {
			return removed, err
		}
		removed = append(removed, sh)
	}
	return removed, nil
}

// Count returns the number of stored shards and the bytes their blobs take
// on disk (a blob shared by shards of the same content counts once), so it
// reconciles with the blobs directory.
func (s *ShardStore) Count(ctx context.Context) (n int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM storage_shards),
		(SELECT coalesce(sum(size), 0) FROM (SELECT hash, max(size) AS size FROM storage_shards GROUP BY hash))`).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards: %w", err)
	}
	return n, bytes, nil
}

// CountOthers returns the number of shards stored by callers other than
// storedBy and the bytes their blobs take on disk: a blob several of them
// share counts once, as it does in Count, so the figure is never more
// than the disk holds (nor negative when subtracted from Count's).
func (s *ShardStore) CountOthers(ctx context.Context, storedBy string) (n int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM storage_shards WHERE stored_by != ?),
		(SELECT coalesce(sum(size), 0) FROM (SELECT hash, max(size) AS size FROM storage_shards WHERE stored_by != ? GROUP BY hash))`,
		storedBy, storedBy).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards stored by others than %s: %w", storedBy, err)
	}
	return n, bytes, nil
}

// CountStoredBy returns the number of shards stored by one caller (a node
// ID, or "admin") and their total size.
func (s *ShardStore) CountStoredBy(ctx context.Context, storedBy string) (n int, bytes int64, err error) {
	return s.CountStoredBefore(ctx, storedBy, time.UnixMilli(math.MaxInt64))
}

// CountStoredBefore is CountStoredBy for the shards stored at or before t.
func (s *ShardStore) CountStoredBefore(ctx context.Context, storedBy string, t time.Time) (n int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM storage_shards WHERE stored_by = ? AND stored_at <= ?`,
		storedBy, t.UnixMilli()).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("count shards stored by %s: %w", storedBy, err)
	}
	return n, bytes, nil
}
