package storage

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

var storeClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newStore opens a shard store on a fresh database in a temp dir and
// returns it with its directory.
func newStore(t *testing.T) (*ShardStore, string) {
	t.Helper()
	return newStoreAt(t, func() time.Time { return storeClock })
}

// newStoreAt is newStore with the clock now.
func newStoreAt(t *testing.T, now func() time.Time) (*ShardStore, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	shardDir := filepath.Join(dir, "shards")
	s, err := OpenShardStore(t.Context(), db, shardDir, now)
	if err != nil {
		t.Fatalf("OpenShardStore: %v", err)
	}
	return s, shardDir
}

func hashHex(b []byte) string {
	h := blake3.Sum256(b)
	return hex.EncodeToString(h[:])
}

// files lists the files under dir/sub, relative to dir.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readShard(t *testing.T, s *ShardStore, asset string, index int) ([]byte, Shard, error) {
	t.Helper()
	rc, sh, err := s.Open(t.Context(), asset, index)
	if err != nil {
		return nil, sh, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, sh, nil
}

func TestValidateAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		asset string
		index int
		ok    bool
	}{
		{"a", 0, true},
		{"A-z_0.9", 255, true},
		{strings.Repeat("a", 128), 1, true},
		{"..a", 0, true},
		{"a.", 0, true},
		{".", 0, false}, // dots alone read as a path element
		{"..", 0, false},
		{"...", 0, false},
		{"", 0, false},
		{strings.Repeat("a", 129), 0, false},
		{"a/b", 0, false},
		{"a b", 0, false},
		{"ä", 0, false},
		{"a\n", 0, false},
		{"a", -1, false},
		{"a", 256, false},
	} {
		err := ValidateAddress(tc.asset, tc.index)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ValidateAddress(%q, %d) = %v, want ok=%v (or ErrInvalid)", tc.asset, tc.index, err, tc.ok)
		}
	}
}

func TestPutOpenStat(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	data := []byte("the bytes of one shard")
	h := hashHex(data)
	got, err := s.Put(t.Context(), "asset", 3, bytes.NewReader(data), 1024, h, "did:key:zSender")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := Shard{AssetID: "asset", Index: 3, Size: int64(len(data)), Hash: h, StoredBy: "did:key:zSender", StoredAt: storeClock}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Put() mismatch (-want +got):\n%s", diff)
	}
	st, err := s.Stat(t.Context(), "asset", 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stat() mismatch (-want +got):\n%s", diff)
	}
	b, sh, err := readShard(t, s, "asset", 3)
	if err != nil || !bytes.Equal(b, data) {
		t.Errorf("Open() = %q, %v; want %q", b, err, data)
	}
	if diff := cmp.Diff(want, sh); diff != "" {
		t.Errorf("Open() shard mismatch (-want +got):\n%s", diff)
	}
	// Layout: the blob under blobs/HH/HASH, nothing left in tmp.
	if diff := cmp.Diff([]string{"blobs/" + h[:2] + "/" + h}, files(t, dir, "blobs")); diff != "" {
		t.Errorf("blob files mismatch (-want +got):\n%s", diff)
	}
	if left := files(t, dir, "tmp"); len(left) != 0 {
		t.Errorf("tmp holds %v after Put, want nothing", left)
	}
	if n, size, err := s.Count(t.Context()); err != nil || n != 1 || size != int64(len(data)) {
		t.Errorf("Count() = %d, %d, %v; want 1, %d, nil", n, size, err, len(data))
	}
	for _, sub := range []string{"blobs", "tmp", "quarantine", "blobs/" + h[:2]} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, err %v; want a 0700 directory", sub, fi.Mode().Perm(), err)
		}
	}

	// An empty shard is a shard.
	if _, err := s.Put(t.Context(), "asset", 4, bytes.NewReader(nil), 1024, "", "admin"); err != nil {
		t.Errorf("Put(empty) = %v, want nil", err)
	}
	if b, _, err := readShard(t, s, "asset", 4); err != nil || len(b) != 0 {
		t.Errorf("Open(empty shard) = %q, %v; want no bytes", b, err)
	}
}

// failingReader returns some bytes and then an error, like a dropped upload.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestPutRefusals(t *testing.T) {
	t.Parallel()
	const maxSize = 16
	good := []byte("sixteen bytes!!!")
	for _, tc := range []struct {
		name    string
		asset   string
		index   int
		r       io.Reader
		hash    string
		wantErr error
	}{
		{"bad asset", "a/b", 0, bytes.NewReader(good), "", ErrInvalid},
		{"empty asset", "", 0, bytes.NewReader(good), "", ErrInvalid},
		{"negative index", "a", -1, bytes.NewReader(good), "", ErrInvalid},
		{"index 256", "a", 256, bytes.NewReader(good), "", ErrInvalid},
		{"upper-case hash", "a", 0, bytes.NewReader(good), strings.ToUpper(hashHex(good)), ErrInvalid},
		{"short hash", "a", 0, bytes.NewReader(good), hashHex(good)[:63], ErrInvalid},
		{"hash mismatch", "a", 0, bytes.NewReader(good), hashHex([]byte("other")), ErrHashMismatch},
		{"one byte too large", "a", 0, bytes.NewReader(append(good, '!')), "", ErrTooLarge},
		{"much too large", "a", 0, bytes.NewReader(make([]byte, 1<<20)), "", ErrTooLarge},
		{"upload fails midway", "a", 0, &failingReader{n: 8}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, dir := newStore(t)
			_, err := s.Put(t.Context(), tc.asset, tc.index, tc.r, maxSize, tc.hash, "admin")
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Put(%s) error = %v, want %v", tc.name, err, tc.wantErr)
			}
			if n, _, err := s.Count(t.Context()); err != nil || n != 0 {
				t.Errorf("Count() after a refused Put = %d, %v; want 0", n, err)
			}
			if left := append(files(t, dir, "blobs"), files(t, dir, "tmp")...); len(left) != 0 {
				t.Errorf("refused Put left files %v", left)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		if _, err := s.Put(t.Context(), "a", 0, bytes.NewReader(good), maxSize, hashHex(good), "admin"); err != nil {
			t.Errorf("Put(%d bytes, limit %d) = %v, want nil", len(good), maxSize, err)
		}
	})
}

func TestPutIdempotentAndConflict(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	data := []byte("content")
	first, err := s.Put(t.Context(), "a", 1, bytes.NewReader(data), 1024, "", "node-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Put(t.Context(), "a", 1, bytes.NewReader(data), 1024, hashHex(data), "node-2")
	if err != nil {
		t.Fatalf("Put(same content again) = %v, want nil", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("Put(same content again) returned a different record (-first +again):\n%s", diff)
	}
	if _, err := s.Put(t.Context(), "a", 1, bytes.NewReader([]byte("different")), 1024, "", "node-3"); !errors.Is(err, ErrConflict) {
		t.Errorf("Put(different content, same address) = %v, want ErrConflict", err)
	}
	if b, _, err := readShard(t, s, "a", 1); err != nil || !bytes.Equal(b, data) {
		t.Errorf("Open() after conflict = %q, %v; want %q", b, err, data)
	}
	// The same content at another address shares the blob.
	if _, err := s.Put(t.Context(), "b", 0, bytes.NewReader(data), 1024, "", "node-1"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir, "blobs"); len(got) != 1 {
		t.Errorf("blobs = %v, want one shared blob", got)
	}
	if left := files(t, dir, "tmp"); len(left) != 0 {
		t.Errorf("tmp holds %v, want nothing", left)
	}
}

func TestOpenQuarantinesCorruptBlob(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	data := []byte("bytes that rot")
	h := hashHex(data)
	for _, asset := range []string{"one", "two"} { // two addresses, one blob
		if _, err := s.Put(t.Context(), asset, 0, bytes.NewReader(data), 1024, "", "admin"); err != nil {
			t.Fatal(err)
		}
	}
	blob := filepath.Join(dir, "blobs", h[:2], h)
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if err := os.WriteFile(blob, b, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, _, err := readShard(t, s, "one", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(corrupt) = %v, want ErrCorrupt", err)
	}
	if _, err := s.Stat(t.Context(), "one", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat() after quarantine = %v, want ErrNotFound", err)
	}
	// The blob stays while another shard refers to it, and is caught there too.
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("blob shared with another shard was moved: %v", err)
	}
	if _, _, err := readShard(t, s, "two", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(second shard on the corrupt blob) = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Errorf("corrupt blob still in place (err %v), want it quarantined", err)
	}
	if q := files(t, dir, "quarantine"); len(q) != 1 || !strings.HasPrefix(q[0], "quarantine/"+h+"-") {
		t.Errorf("quarantine = %v, want the one blob", q)
	}

	// A missing blob is corrupt too.
	if _, err := s.Put(t.Context(), "gone", 0, bytes.NewReader([]byte("vanishing")), 1024, "", "admin"); err != nil {
		t.Fatal(err)
	}
	gh := hashHex([]byte("vanishing"))
	if err := os.Remove(filepath.Join(dir, "blobs", gh[:2], gh)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readShard(t, s, "gone", 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(missing blob) = %v, want ErrCorrupt", err)
	}
	if _, _, err := readShard(t, s, "gone", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open() after quarantining a missing blob = %v, want ErrNotFound", err)
	}
	if _, _, err := readShard(t, s, "never", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(never stored) = %v, want ErrNotFound", err)
	}
}

// TestConcurrentPutsOfOneAddress races Puts of the same address: one
// content wins, every Put of it succeeds, every other content gets
// ErrConflict, and the stored row and blob agree.
func TestConcurrentPutsOfOneAddress(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	const writers = 16
	contents := [][]byte{[]byte("content A"), []byte("content B"), []byte("content C")}
	type result struct {
		content int
		sh      Shard
		err     error
	}
	results := make([]result, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			c := i % len(contents)
			sh, err := s.Put(context.Background(), "race", 9, bytes.NewReader(contents[c]), 1024, "", fmt.Sprint("writer-", i))
			results[i] = result{c, sh, err}
		})
	}
	close(start)
	wg.Wait()

	stored, err := s.Stat(t.Context(), "race", 9)
	if err != nil {
		t.Fatalf("Stat() after the race: %v", err)
	}
	winner := -1
	for c, data := range contents {
		if hashHex(data) == stored.Hash {
			winner = c
		}
	}
	if winner < 0 {
		t.Fatalf("stored hash %s is none of the contents", stored.Hash)
	}
	for i, r := range results {
		switch {
		case r.content == winner && (r.err != nil || r.sh.Hash != stored.Hash):
			t.Errorf("writer %d (winning content) = %+v, %v; want success with hash %s", i, r.sh, r.err, stored.Hash)
		case r.content != winner && !errors.Is(r.err, ErrConflict):
			t.Errorf("writer %d (losing content) error = %v, want ErrConflict", i, r.err)
		}
	}
	b, sh, err := readShard(t, s, "race", 9)
	if err != nil || !bytes.Equal(b, contents[winner]) || sh.Size != int64(len(contents[winner])) {
		t.Errorf("Open() after the race = %q (%+v), %v; want %q", b, sh, err, contents[winner])
	}
	if n, _, err := s.Count(t.Context()); err != nil || n != 1 {
		t.Errorf("Count() after the race = %d, %v; want 1", n, err)
	}
	if left := files(t, dir, "tmp"); len(left) != 0 {
		t.Errorf("tmp holds %v after the race, want nothing", left)
	}
	want := []string{"blobs/" + stored.Hash[:2] + "/" + stored.Hash}
	if diff := cmp.Diff(want, files(t, dir, "blobs")); diff != "" {
		t.Errorf("blobs after the race, want only the winner's (-want +got):\n%s", diff)
	}
}

// TestPutThatCannotRecordLeavesNoBlob makes the row's INSERT fail after
// the blob is in place (as a full disk does) and checks that the blob goes
// with it, unless another shard's row uses the same bytes.
func TestPutThatCannotRecordLeavesNoBlob(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	shared := []byte("bytes two addresses share")
	if _, err := s.Put(t.Context(), "kept", 0, bytes.NewReader(shared), 1024, "", "t"); err != nil {
		t.Fatalf("Put(kept): %v", err)
	}
	if _, err := s.db.ExecContext(t.Context(), `CREATE TEMP TRIGGER full BEFORE INSERT ON storage_shards
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{[]byte("new bytes"), shared} {
		if _, err := s.Put(t.Context(), "failing", 1, bytes.NewReader(data), 1024, "", "t"); err == nil {
			t.Fatalf("Put(%q) with a failing INSERT = nil error, want one", data)
		}
	}
	want := []string{"blobs/" + hashHex(shared)[:2] + "/" + hashHex(shared)}
	if diff := cmp.Diff(want, files(t, dir, "blobs")); diff != "" {
		t.Errorf("blobs after failed Puts, want only the shared one (-want +got):\n%s", diff)
	}
	if left := files(t, dir, "tmp"); len(left) != 0 {
		t.Errorf("tmp holds %v after failed Puts, want nothing", left)
	}
	if b, _, err := readShard(t, s, "kept", 0); err != nil || !bytes.Equal(b, shared) {
		t.Errorf("Open(kept) = %q, %v; want %q", b, err, shared)
	}
}

// TestOpenRemovesLeftovers leaves what a killed process leaves (partial
// uploads in tmp/, a blob whose row was never written) and checks that
// opening the store again removes exactly those and counts them.
func TestOpenRemovesLeftovers(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	kept := []byte("a shard with its row")
	if _, err := s.Put(t.Context(), "kept", 0, bytes.NewReader(kept), 1024, "", "t"); err != nil {
		t.Fatalf("Put(kept): %v", err)
	}
	orphan := hashHex([]byte("a blob whose row was never written"))
	leftovers := map[string]string{
		"tmp/shard-123":                           "partial",
		"tmp/shard-456":                           "partial too",
		"blobs/" + orphan[:2] + "/" + orphan:      "a blob whose row was never written",
		"blobs/" + orphan[:2] + "/not-a-hash.txt": "not the store's",
	}
	for name, data := range leftovers {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reopened, err := OpenShardStore(t.Context(), s.db, dir, func() time.Time { return storeClock })
	if err != nil {
		t.Fatalf("OpenShardStore again: %v", err)
	}
	if diff := cmp.Diff(Cleanup{TempFiles: 2, Blobs: 1}, reopened.Removed()); diff != "" {
		t.Errorf("Removed() mismatch (-want +got):\n%s", diff)
	}
	want := []string{
		"blobs/" + orphan[:2] + "/not-a-hash.txt",
		"blobs/" + hashHex(kept)[:2] + "/" + hashHex(kept),
	}
	slices.Sort(want)
	got := append(files(t, dir, "blobs"), files(t, dir, "tmp")...)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files after reopening (-want +got):\n%s", diff)
	}
	if b, _, err := readShard(t, reopened, "kept", 0); err != nil || !bytes.Equal(b, kept) {
		t.Errorf("Open(kept) after reopening = %q, %v; want %q", b, err, kept)
	}
}

// A read hashes a blob it has not checked within recheckAfter, and serves
// it unhashed until then (the reader verifies what it receives); past
// recheckAfter a blob that rotted since is caught and quarantined, and the
// scrub hashes every blob whatever a read checked.
func TestOpenRechecksAfterAWhile(t *testing.T) {
	t.Parallel()
	now := storeClock
	s, shardDir := newStoreAt(t, func() time.Time { return now })
	put := func(asset string, data []byte) string {
		t.Helper()
		if _, err := s.Put(t.Context(), asset, 0, bytes.NewReader(data), 1024, "", "admin"); err != nil {
			t.Fatal(err)
		}
		h := hashHex(data)
		return filepath.Join(shardDir, "blobs", h[:2], h)
	}
	rot := func(blob string) {
		t.Helper()
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x80
		if err := os.WriteFile(blob, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	blob := put("a", []byte("checked on its first read"))
	if _, _, err := readShard(t, s, "a", 0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	rot(blob)
	now = now.Add(recheckAfter - time.Second)
	if _, _, err := readShard(t, s, "a", 0); err != nil {
		t.Fatalf("read within recheckAfter of the check = %v, want the blob served unhashed", err)
	}
	now = now.Add(2 * time.Second)
	if _, _, err := readShard(t, s, "a", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read past recheckAfter = %v, want ErrCorrupt", err)
	}

	// A truncated blob is never served from the memo.
	blob = put("b", []byte("truncated after its check"))
	if _, _, err := readShard(t, s, "b", 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blob, 3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readShard(t, s, "b", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a truncated blob = %v, want ErrCorrupt", err)
	}

	// The scrub does not rely on a read's check.
	blob = put("c", []byte("scrubbed right after a read"))
	if _, _, err := readShard(t, s, "c", 0); err != nil {
		t.Fatal(err)
	}
	rot(blob)
	res, err := s.Scrub(t.Context(), ScrubCursor{}, 10)
	if err != nil || len(res.Bad) != 1 || res.Bad[0].AssetID != "c" {
		t.Fatalf("scrub = %+v, %v, want shard c bad", res, err)
	}
}

// TestCountOthersCountsSharedBlobsOnce stores shards whose bytes repeat
// (small files' zero-padded shards do) for this node and for others: the
// bytes hosted for others count each blob once, and never go negative
// when this node's own shards share blobs with theirs.
func TestCountOthersCountsSharedBlobsOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	zeros, other := make([]byte, 4096), bytes.Repeat([]byte{7}, 1000)
	for i, put := range []struct {
		data     []byte
		storedBy string
	}{
		{zeros, "self"}, {zeros, "self"}, {zeros, "self"},
		{zeros, "did:key:a"}, {zeros, "did:key:b"}, {other, "did:key:b"},
	} {
		if _, err := s.Put(ctx, "asset", i, bytes.NewReader(put.data), 1<<20, hashHex(put.data), put.storedBy); err != nil {
			t.Fatal(err)
		}
	}
	n, b, err := s.CountOthers(ctx, "self")
	if err != nil || n != 3 || b != 4096+1000 {
		t.Fatalf("CountOthers = %d shards, %d bytes, %v; want 3 shards, %d bytes", n, b, err, 4096+1000)
	}
	all, allBytes, err := s.Count(ctx)
	if err != nil || all != 6 || allBytes != 4096+1000 {
		t.Fatalf("Count = %d shards, %d bytes, %v; want 6 shards, %d bytes", all, allBytes, err, 4096+1000)
	}
}
