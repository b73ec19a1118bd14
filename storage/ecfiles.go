package storage

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/internal/canon"
)

const (
	// ecMetaVersion is the only meta.json version so far.
	ecMetaVersion = 1
	// ecMetaFile is the name of the metadata file in an EC directory.
	ecMetaFile = "meta.json"
	// ecMaxMetaSize bounds meta.json; 256 shard hashes need about 17 KiB.
	ecMaxMetaSize = 1 << 20
	// ecMaxShardSize bounds the shard size of offline EC files.
	ecMaxShardSize = 64 << 20
)

// ecShardName returns the file name of shard i in an EC directory.
func ecShardName(i int) string { return fmt.Sprintf("shard_%03d.bin", i) }

// ECMeta describes an erasure-coded file: DIR/meta.json next to the shard
// files DIR/shard_000.bin … shard_{n-1}.bin. The file is cut into Stripes
// stripes of K*ShardSize bytes (the last zero-padded); each stripe is coded
// into N shards of ShardSize bytes, and shard file i is the concatenation of
// shard i of every stripe, so every shard file is Stripes*ShardSize bytes.
// Hashes are lower-case hex BLAKE3-256.
type ECMeta struct {
	Version     int      `json:"version"`      // 1
	K           int      `json:"k"`            // data shards per stripe
	N           int      `json:"n"`            // shards per stripe, k <= n <= 256
	ShardSize   int      `json:"shard_size"`   // bytes, 1 .. 64 MiB
	Size        int64    `json:"size"`         // original file size in bytes
	Stripes     int      `json:"stripes"`      // ceil(size / (k*shard_size))
	FileHash    string   `json:"file_hash"`    // hash of the original file
	ShardHashes []string `json:"shard_hashes"` // hash of shard file i at index i
}

// ecMetaFields lists the keys meta.json must have, all of them.
var ecMetaFields = []string{"version", "k", "n", "shard_size", "size", "stripes", "file_hash", "shard_hashes"}

// ParseECMeta decodes and checks meta.json: strict JSON with exactly the
// ECMeta fields (unknown or missing fields are refused), version 1, valid k
// and n, a shard size of 1 byte to 64 MiB, stripes == ceil(size /
// (k*shard_size)) (0 for an empty file), n shard hashes, and hashes of 64
// lower-case hex digits. Errors about k, n or the shard size wrap ErrParams.
func ParseECMeta(b []byte) (ECMeta, error) {
	if len(b) > ecMaxMetaSize {
		return ECMeta{}, fmt.Errorf("ec meta: %d bytes is more than %d", len(b), ecMaxMetaSize)
	}
	// encoding/json matches keys case-insensitively and tolerates missing
	// ones; check the exact key set first.
	var raw map[string]json.RawMessage
	if err := canon.DecodeJSON(b, &raw); err != nil {
		return ECMeta{}, fmt.Errorf("ec meta: %w", err)
	}
	for _, f := range ecMetaFields {
		if _, ok := raw[f]; !ok {
			return ECMeta{}, fmt.Errorf("ec meta: missing field %q", f)
		}
	}
	for f := range raw {
		if !slices.Contains(ecMetaFields, f) {
			return ECMeta{}, fmt.Errorf("ec meta: unknown field %q", f)
		}
	}
	var m ECMeta
	if err := canon.DecodeJSON(b, &m); err != nil {
		return ECMeta{}, fmt.Errorf("ec meta: %w", err)
	}
	if err := m.validate(); err != nil {
		return ECMeta{}, err
	}
	return m, nil
}

// validate checks the invariants ParseECMeta documents.
func (m *ECMeta) validate() error {
	if m.Version != ecMetaVersion {
		return fmt.Errorf("ec meta: version %d, want %d", m.Version, ecMetaVersion)
	}
	if err := checkKN(m.K, m.N); err != nil {
		return fmt.Errorf("ec meta: %w", err)
	}
	if m.ShardSize < 1 || m.ShardSize > ecMaxShardSize {
		return fmt.Errorf("ec meta: %w: shard size (%d) must be between 1 and %d", ErrParams, m.ShardSize, ecMaxShardSize)
	}
	if m.Size < 0 {
		return fmt.Errorf("ec meta: negative size (%d)", m.Size)
	}
	stripe := int64(m.K) * int64(m.ShardSize) // at most 2^34: no overflow
	want := m.Size / stripe
	if m.Size%stripe != 0 {
		want++
	}
	if int64(m.Stripes) != want {
		return fmt.Errorf("ec meta: stripes (%d) must be %d for %d bytes in stripes of %d", m.Stripes, want, m.Size, stripe)
	}
	if int64(m.Stripes) > math.MaxInt64/int64(m.ShardSize) {
		return fmt.Errorf("ec meta: shard files of %d stripes are too large", m.Stripes)
	}
	if !isHash(m.FileHash) {
		return errors.New("ec meta: file_hash must be 64 lower-case hex digits")
	}
	if len(m.ShardHashes) != m.N {
		return fmt.Errorf("ec meta: %d shard hashes, want n (%d)", len(m.ShardHashes), m.N)
	}
	for i, h := range m.ShardHashes {
		if !isHash(h) {
			return fmt.Errorf("ec meta: shard hash %d must be 64 lower-case hex digits", i)
		}
	}
	return nil
}

// isHash reports whether h is a BLAKE3-256 hash in lower-case hex.
func isHash(h string) bool { return len(h) == 64 && canon.IsLowerHex(h) }

// EncodeFile erasure-codes everything read from in into outdir (created if
// needed): shard files shard_000.bin … and, last, meta.json (written to a
// temporary name, synced and renamed, so a directory with a meta.json is
// complete). Any meta.json already in outdir is removed first. Memory use is
// one stripe, n*shardSize bytes, whatever the file size. There is no
// encryption: this is the plain offline EC tool.
func EncodeFile(in io.Reader, k, n, shardSize int, outdir string) (ECMeta, error) {
	c, err := NewCoder(k, n)
	if err != nil {
		return ECMeta{}, err
	}
	if shardSize < 1 || shardSize > ecMaxShardSize {
		return ECMeta{}, fmt.Errorf("%w: shard size (%d) must be between 1 and %d", ErrParams, shardSize, ecMaxShardSize)
	}
	if err := c.checkShardSize(shardSize); err != nil {
		return ECMeta{}, err
	}
	if err := os.MkdirAll(outdir, 0o755); err != nil {
		return ECMeta{}, fmt.Errorf("create ec dir: %w", err)
	}
	metaPath := filepath.Join(outdir, ecMetaFile)
	if err := os.Remove(metaPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ECMeta{}, fmt.Errorf("remove old ec meta: %w", err)
	}

	files := make([]*os.File, n)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	hashes := make([]hash.Hash, n)
	for i := range files {
		f, err := os.Create(filepath.Join(outdir, ecShardName(i)))
		if err != nil {
			return ECMeta{}, fmt.Errorf("create shard file: %w", err)
		}
		files[i] = f
		hashes[i] = blake3.New()
	}

	buf := make([]byte, n*shardSize)
	shards := splitShards(buf, n, shardSize)
	data := buf[:k*shardSize]
	fileHash := blake3.New()
	meta := ECMeta{Version: ecMetaVersion, K: k, N: n, ShardSize: shardSize}
	for {
		got, err := io.ReadFull(in, data)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return ECMeta{}, fmt.Errorf("read input: %w", err)
		}
		clear(data[got:])
		fileHash.Write(data[:got])
		meta.Size += int64(got)
		meta.Stripes++
		if err := c.encodeShards(shards); err != nil {
			return ECMeta{}, fmt.Errorf("encode stripe %d: %w", meta.Stripes-1, err)
		}
		for i, s := range shards {
			hashes[i].Write(s)
			if _, err := files[i].Write(s); err != nil {
				return ECMeta{}, fmt.Errorf("write %s: %w", ecShardName(i), err)
			}
		}
		if got < len(data) {
			break
		}
	}

	meta.FileHash = hex.EncodeToString(fileHash.Sum(nil))
	meta.ShardHashes = make([]string, n)
	for i, f := range files {
		meta.ShardHashes[i] = hex.EncodeToString(hashes[i].Sum(nil))
		if err := f.Sync(); err != nil {
			return ECMeta{}, fmt.Errorf("sync %s: %w", ecShardName(i), err)
		}
		if err := f.Close(); err != nil {
			return ECMeta{}, fmt.Errorf("close %s: %w", ecShardName(i), err)
		}
		files[i] = nil
	}
	if err := writeECMeta(metaPath, meta); err != nil {
		return ECMeta{}, err
	}
	return meta, nil
}

// writeECMeta writes meta to path atomically. meta.json is the commit
// marker of an EC directory: the shard files are written in place before
// it, and only a directory with a meta.json is complete.
func writeECMeta(path string, meta ECMeta) error {
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ec meta: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write ec meta: %w", err)
	}
	return nil
}

// readECMeta reads and parses DIR/meta.json, reading at most
// ecMaxMetaSize+1 bytes.
func readECMeta(indir string) (ECMeta, error) {
	f, err := os.Open(filepath.Join(indir, ecMetaFile))
	if err != nil {
		return ECMeta{}, fmt.Errorf("open ec meta: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, ecMaxMetaSize+1))
	if err != nil {
		return ECMeta{}, fmt.Errorf("read ec meta: %w", err)
	}
	return ParseECMeta(b)
}

// DecodeFiles restores the file erasure-coded in indir and writes it to
// out. It reads and checks meta.json, then checks shard files against their
// hashes, data shards first, until it has k intact ones; missing, unreadable
// or corrupt (wrong size or hash) shard files are skipped. With fewer than k
// intact it returns an error wrapping ErrTooFewShards that names each bad
// file. It then reconstructs and writes stripe by stripe, so memory stays at
// most 2*k*shard_size bytes whatever the file size, and finally checks the output against
// file_hash (ErrHashMismatch when it differs).
//
// out has received bytes by the time any late error is returned, so write
// to a temporary file and rename it into place only when DecodeFiles
// succeeds.
func DecodeFiles(indir string, out io.Writer) (ECMeta, error) {
	meta, err := readECMeta(indir)
	if err != nil {
		return ECMeta{}, err
	}
	c, err := NewCoder(meta.K, meta.N)
	if err != nil {
		return ECMeta{}, fmt.Errorf("ec meta: %w", err)
	}
	files, err := openIntactShards(indir, meta)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	if err != nil {
		return ECMeta{}, err
	}

	// One buffer holds the k shards read per stripe and the missing data
	// shards reconstructed into (passed as empty slices with capacity):
	// at most min(n, 2k) shards.
	slots := make([][]byte, meta.N)
	need := 0
	for i, f := range files {
		if f != nil || i < meta.K {
			need++
		}
	}
	buf := make([]byte, need*meta.ShardSize)
	for i, f := range files {
		if f != nil || i < meta.K {
			slots[i], buf = buf[:meta.ShardSize:meta.ShardSize], buf[meta.ShardSize:]
		}
	}
	shards := make([][]byte, meta.N)
	stripe := int64(meta.K) * int64(meta.ShardSize)
	fileHash := blake3.New()
	w := io.MultiWriter(out, fileHash)
	for j := range meta.Stripes {
		for i, f := range files {
			if f == nil {
				shards[i] = slots[i][:0]
				continue
			}
			shards[i] = slots[i]
			if _, err := io.ReadFull(f, shards[i]); err != nil {
				return ECMeta{}, fmt.Errorf("read %s stripe %d: %w", ecShardName(i), j, err)
			}
		}
		if err := c.reconstructData(shards); err != nil {
			return ECMeta{}, fmt.Errorf("reconstruct stripe %d: %w", j, err)
		}
		remaining := min(meta.Size-int64(j)*stripe, stripe)
		for _, s := range shards[:meta.K] {
			if remaining <= 0 {
				break
			}
			part := s[:min(int64(len(s)), remaining)]
			if _, err := w.Write(part); err != nil {
				return ECMeta{}, fmt.Errorf("write output: %w", err)
			}
			remaining -= int64(len(part))
		}
	}
	if got := hex.EncodeToString(fileHash.Sum(nil)); got != meta.FileHash {
		return ECMeta{}, fmt.Errorf("decoded file: %w: got %s, want %s", ErrHashMismatch, got, meta.FileHash)
	}
	return meta, nil
}

// openIntactShards opens shard files, data shards first, and keeps the first
// meta.K whose size and hash match, rewound to the start. The others are nil.
// The hash is checked on the open file, so the bytes decoded later are the
// bytes checked (barring concurrent writes, which the final file hash
// catches).
func openIntactShards(indir string, meta ECMeta) ([]*os.File, error) {
	files := make([]*os.File, meta.N)
	wantSize := int64(meta.Stripes) * int64(meta.ShardSize)
	var problems []string
	intact := 0
	for i := 0; i < meta.N && intact < meta.K; i++ {
		name := ecShardName(i)
		f, err := os.Open(filepath.Join(indir, name))
		if errors.Is(err, os.ErrNotExist) {
			problems = append(problems, "missing "+name)
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("unreadable %s (%v)", name, err))
			continue
		}
		ok, why := checkShardFile(f, wantSize, meta.ShardHashes[i])
		if !ok {
			f.Close()
			problems = append(problems, why+" "+name)
			continue
		}
		files[i] = f
		intact++
	}
	if intact < meta.K {
		return files, fmt.Errorf("%w: stripes need %d shards, only %d intact: %s",
			ErrTooFewShards, meta.K, intact, strings.Join(problems, ", "))
	}
	return files, nil
}

// checkShardFile reports whether f holds wantSize bytes hashing to wantHash
// and rewinds it; otherwise it says why not ("corrupt" or "unreadable").
func checkShardFile(f *os.File, wantSize int64, wantHash string) (ok bool, why string) {
	h := blake3.New()
	n, err := io.Copy(h, io.LimitReader(f, wantSize+1))
	if err != nil {
		return false, "unreadable"
	}
	if n != wantSize || hex.EncodeToString(h.Sum(nil)) != wantHash {
		return false, "corrupt"
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, "unreadable"
	}
	return true, ""
}
