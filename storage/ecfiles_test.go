package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// encodeTestFile writes data to a file, encodes it into a fresh directory
// and returns that directory and the meta EncodeFile returned.
func encodeTestFile(t *testing.T, data []byte, k, n, shardSize int) (string, ECMeta) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "input.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := filepath.Join(t.TempDir(), "ec_out")
	meta, err := EncodeFile(f, k, n, shardSize, dir)
	if err != nil {
		t.Fatalf("EncodeFile(%d bytes, k=%d, n=%d, shard size %d) = %v", len(data), k, n, shardSize, err)
	}
	return dir, meta
}

// decodeTestFiles decodes dir the way a caller should: into a temporary file
// that is renamed into place on success. It returns the restored bytes.
func decodeTestFiles(t *testing.T, dir string) ([]byte, ECMeta, error) {
	t.Helper()
	outDir := t.TempDir()
	tmp, err := os.CreateTemp(outDir, "restore-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	meta, derr := DecodeFiles(dir, tmp)
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		return nil, meta, derr
	}
	final := filepath.Join(outDir, "restore.bin")
	if err := os.Rename(tmp.Name(), final); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	return got, meta, nil
}

func removeShards(t *testing.T, dir string, idx ...int) {
	t.Helper()
	for _, i := range idx {
		if err := os.Remove(filepath.Join(dir, ecShardName(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestECFilesReadmeExample follows the seed README: encode a README-sized
// file with k=12 n=20 shard size 32768, delete three shard files, decode.
func TestECFilesReadmeExample(t *testing.T) {
	t.Parallel()
	readme := []byte(strings.Repeat("# Offgrid-Net\n\nBeliebige 12 Shards behalten, Rest löschen… dann wiederherstellen.\n", 260))[:21585]
	dir, meta := encodeTestFile(t, readme, 12, 20, 32768)
	if meta.Stripes != 1 || meta.Size != int64(len(readme)) {
		t.Errorf("EncodeFile(README) meta = %+v, want 1 stripe of %d bytes", meta, len(readme))
	}
	for i := range 20 {
		st, err := os.Stat(filepath.Join(dir, fmt.Sprintf("shard_%03d.bin", i)))
		if err != nil || st.Size() != 32768 {
			t.Fatalf("shard_%03d.bin: %v, size %d, want 32768 bytes", i, err, st.Size())
		}
	}
	removeShards(t, dir, 13, 14, 15)
	got, gotMeta, err := decodeTestFiles(t, dir)
	if err != nil {
		t.Fatalf("DecodeFiles() = %v", err)
	}
	if !bytes.Equal(got, readme) {
		t.Errorf("DecodeFiles() restored %d bytes that differ from the %d-byte README", len(got), len(readme))
	}
	if diff := cmp.Diff(meta, gotMeta); diff != "" {
		t.Errorf("DecodeFiles() meta mismatch (-want +got):\n%s", diff)
	}
}

func TestECFilesRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		k, n, shard  int
		size         int
		wantStripes  int
		removeShards []int
	}{
		{"empty", 12, 20, 4096, 0, 0, nil},
		{"one byte", 12, 20, 4096, 1, 1, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"exact stripe", 4, 7, 1000, 4000, 1, []int{0, 3, 6}},
		{"stripe plus one", 4, 7, 1000, 4001, 2, []int{1}},
		{"several stripes", 4, 7, 1000, 3*4000 + 1234, 4, []int{0, 2, 5}},
		{"many stripes, data gone", 12, 20, 512, 50*12*512 - 77, 50, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"no parity", 5, 5, 100, 1234, 3, nil},
		{"k=1 code", 1, 4, 300, 1000, 4, []int{0, 1, 3}},
		{"shard size 1", 3, 5, 1, 10, 4, []int{4, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := testBytes(uint64(tt.size), tt.size)
			dir, meta := encodeTestFile(t, data, tt.k, tt.n, tt.shard)
			if meta.Stripes != tt.wantStripes {
				t.Errorf("EncodeFile(%d bytes).Stripes = %d, want %d", tt.size, meta.Stripes, tt.wantStripes)
			}
			b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
			if err != nil {
				t.Fatal(err)
			}
			onDisk, err := ParseECMeta(b)
			if err != nil {
				t.Fatalf("ParseECMeta(written meta.json) = %v", err)
			}
			if diff := cmp.Diff(meta, onDisk); diff != "" {
				t.Errorf("meta.json differs from EncodeFile's result (-want +got):\n%s", diff)
			}
			for i := range tt.n {
				st, err := os.Stat(filepath.Join(dir, ecShardName(i)))
				if err != nil || st.Size() != int64(tt.wantStripes*tt.shard) {
					t.Fatalf("%s: %v, want %d bytes", ecShardName(i), err, tt.wantStripes*tt.shard)
				}
			}
			removeShards(t, dir, tt.removeShards...)
			got, _, err := decodeTestFiles(t, dir)
			if err != nil {
				t.Fatalf("DecodeFiles(without %v) = %v", tt.removeShards, err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("DecodeFiles(without %v) restored %d bytes differing from the %d-byte original", tt.removeShards, len(got), len(data))
			}
		})
	}
}

func TestECFilesLosses(t *testing.T) {
	t.Parallel()
	const k, n, shard = 12, 20, 256
	data := testBytes(99, 7*k*shard+1000)
	tests := []struct {
		name    string
		remove  []int
		corrupt map[int]func(string) error
		wantErr string // empty: decode succeeds
	}{
		{name: "8 of 20 deleted", remove: []int{0, 2, 4, 6, 8, 10, 12, 14}},
		{name: "8 parity deleted", remove: []int{12, 13, 14, 15, 16, 17, 18, 19}},
		{
			name:    "9 deleted",
			remove:  []int{0, 1, 2, 3, 4, 5, 6, 7, 8},
			wantErr: "too few shards to reconstruct: stripes need 12 shards, only 11 intact: missing shard_000.bin, missing shard_001.bin, missing shard_002.bin, missing shard_003.bin, missing shard_004.bin, missing shard_005.bin, missing shard_006.bin, missing shard_007.bin, missing shard_008.bin",
		},
		{
			name:    "one corrupt byte, all others present",
			corrupt: map[int]func(string) error{3: flipByteAt(shard*2 + 17)},
		},
		{
			name:    "7 deleted and one corrupt",
			remove:  []int{0, 1, 2, 4, 5, 6, 19},
			corrupt: map[int]func(string) error{3: flipByteAt(0)},
		},
		{
			name:    "8 deleted and one corrupt",
			remove:  []int{0, 1, 2, 4, 5, 6, 7, 19},
			corrupt: map[int]func(string) error{3: flipByteAt(5)},
			wantErr: "too few shards to reconstruct: stripes need 12 shards, only 11 intact: missing shard_000.bin, missing shard_001.bin, missing shard_002.bin, corrupt shard_003.bin, missing shard_004.bin, missing shard_005.bin, missing shard_006.bin, missing shard_007.bin, missing shard_019.bin",
		},
		{
			name: "truncated, extended and emptied shards",
			corrupt: map[int]func(string) error{
				0: func(p string) error { return os.Truncate(p, 8*shard-1) },
				5: appendByte,
				9: func(p string) error { return os.Truncate(p, 0) },
			},
		},
		{
			name:    "shard file is a directory",
			remove:  []int{7},
			corrupt: map[int]func(string) error{7: func(p string) error { return os.Mkdir(p, 0o755) }},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := encodeTestFile(t, data, k, n, shard)
			removeShards(t, dir, tt.remove...)
			for i, f := range tt.corrupt {
				if err := f(filepath.Join(dir, ecShardName(i))); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := decodeTestFiles(t, dir)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrTooFewShards) || err.Error() != tt.wantErr {
					t.Fatalf("DecodeFiles() = %v,\nwant ErrTooFewShards %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeFiles() = %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("DecodeFiles() restored bytes differing from the original")
			}
		})
	}
}

func flipByteAt(off int64) func(string) error {
	return func(path string) error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			return err
		}
		b[0] ^= 0x01
		_, err = f.WriteAt(b, off)
		return err
	}
}

func appendByte(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte{0})
	return err
}

func TestECFilesTamperedMeta(t *testing.T) {
	t.Parallel()
	data := testBytes(5, 3*4*64+10)
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		extra string // appended to the JSON text
		want  error  // nil: any error
	}{
		{name: "unknown field", edit: func(m map[string]any) { m["mode"] = "rs" }},
		{name: "missing field", edit: func(m map[string]any) { delete(m, "stripes") }},
		{name: "version 2", edit: func(m map[string]any) { m["version"] = 2 }},
		{name: "k above n", edit: func(m map[string]any) { m["k"] = 8 }, want: ErrParams},
		{name: "n changed", edit: func(m map[string]any) { m["n"] = 7 }},
		{name: "stripes off by one", edit: func(m map[string]any) { m["stripes"] = 5 }},
		{name: "size grown past the stripes", edit: func(m map[string]any) { m["size"] = 4*4*64 + 1 }},
		{name: "size shrunk within the stripes", edit: func(m map[string]any) { m["size"] = 3*4*64 + 9 }, want: ErrHashMismatch},
		{name: "file hash changed", edit: func(m map[string]any) { m["file_hash"] = strings.Repeat("ab", 32) }, want: ErrHashMismatch},
		{name: "file hash upper-case", edit: func(m map[string]any) { m["file_hash"] = strings.ToUpper(m["file_hash"].(string)) }},
		{name: "shard hashes dropped", edit: func(m map[string]any) { m["shard_hashes"] = m["shard_hashes"].([]any)[:5] }},
		{name: "trailing data", extra: "{}"},
		{name: "shard size zero", edit: func(m map[string]any) { m["shard_size"] = 0 }, want: ErrParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := encodeTestFile(t, data, 4, 6, 64)
			path := filepath.Join(dir, "meta.json")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(m)
			}
			b, err = json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(b, tt.extra...), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err = decodeTestFiles(t, dir)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("DecodeFiles(meta %s) = %v, want error %v", b, err, tt.want)
			}
		})
	}
	t.Run("missing meta", func(t *testing.T) {
		t.Parallel()
		dir, _ := encodeTestFile(t, data, 4, 6, 64)
		if err := os.Remove(filepath.Join(dir, "meta.json")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeTestFiles(t, dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("DecodeFiles(no meta.json) = %v, want ErrNotExist", err)
		}
	})
	t.Run("huge meta", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "meta.json"), bytes.Repeat([]byte(" "), 2<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeTestFiles(t, dir); err == nil {
			t.Errorf("DecodeFiles(2 MiB meta.json) = nil error, want an error")
		}
	})
}

func TestParseECMeta(t *testing.T) {
	t.Parallel()
	valid := ECMeta{
		Version: 1, K: 2, N: 3, ShardSize: 10, Size: 41, Stripes: 3,
		FileHash:    strings.Repeat("0a", 32),
		ShardHashes: []string{strings.Repeat("1b", 32), strings.Repeat("2c", 32), strings.Repeat("3d", 32)},
	}
	b, err := json.Marshal(valid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseECMeta(b)
	if err != nil {
		t.Fatalf("ParseECMeta(%s) = %v", b, err)
	}
	if diff := cmp.Diff(valid, got); diff != "" {
		t.Errorf("ParseECMeta(%s) mismatch (-want +got):\n%s", b, diff)
	}

	tests := []struct {
		name string
		in   string
		want error // nil: any error
	}{
		{"empty input", ``, nil},
		{"null", `null`, nil},
		{"array", `[]`, nil},
		{"case-folded key", strings.Replace(string(b), `"k"`, `"K"`, 1), nil},
		{"duplicate-free but extra key", strings.Replace(string(b), `{`, `{"x":1,`, 1), nil},
		{"string number", strings.Replace(string(b), `"k":2`, `"k":"2"`, 1), nil},
		{"fractional number", strings.Replace(string(b), `"k":2`, `"k":2.5`, 1), nil},
		{"k zero", strings.Replace(string(b), `"k":2`, `"k":0`, 1), ErrParams},
		{"n too big", strings.Replace(string(b), `"n":3`, `"n":300`, 1), ErrParams},
		{"shard size too big", strings.Replace(string(b), `"shard_size":10`, `"shard_size":67108865`, 1), ErrParams},
		{"negative size", strings.Replace(string(b), `"size":41`, `"size":-1`, 1), nil},
		{"stripes wrong", strings.Replace(string(b), `"stripes":3`, `"stripes":2`, 1), nil},
		{"short hash", strings.Replace(string(b), strings.Repeat("0a", 32), strings.Repeat("0a", 31), 1), nil},
		{"null hashes", strings.Replace(string(b), `"shard_hashes":[`, `"shard_hashes":null,"x":[`, 1), nil},
		{"trailing garbage", string(b) + "x", nil},
		{"too large", string(b) + strings.Repeat(" ", 1<<20), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseECMeta([]byte(tt.in))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("ParseECMeta(%.200s) = %+v, %v, want error %v", tt.in, got, err, tt.want)
			}
		})
	}
	// An empty file: 0 stripes.
	empty := valid
	empty.Size, empty.Stripes = 0, 0
	b, err = json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseECMeta(b); err != nil {
		t.Errorf("ParseECMeta(empty file meta) = %v", err)
	}
}

// TestECFilesGolden pins the whole offline EC format: meta.json of a small
// file, including the shard hashes, which depend on the Reed-Solomon matrix.
// A change here means old EC directories no longer decode.
func TestECFilesGolden(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("offgrid erasure coding golden vector. ", 10))
	dir, _ := encodeTestFile(t, data, 3, 5, 64)
	got, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "ec", "meta.json")
	if *updateEC {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update-ec to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("EncodeFile meta.json mismatch (-want +got):\n%s", diff)
	}
}

func TestEncodeFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		k, n, shard  int
		wantParamErr bool
	}{
		{"k zero", 0, 4, 100, true},
		{"k above n", 5, 4, 100, true},
		{"n above 256", 4, 257, 100, true},
		{"shard size zero", 4, 6, 0, true},
		{"shard size too big", 4, 6, 64<<20 + 1, true},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "out")
		_, err := EncodeFile(strings.NewReader("data"), tt.k, tt.n, tt.shard, dir)
		if !errors.Is(err, ErrParams) {
			t.Errorf("%s: EncodeFile(k=%d, n=%d, shard %d) = %v, want ErrParams", tt.name, tt.k, tt.n, tt.shard, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: EncodeFile with bad params created %s", tt.name, dir)
		}
	}

	// A failing reader leaves no meta.json behind, even when one was there.
	dir, _ := encodeTestFile(t, []byte("old contents"), 2, 3, 8)
	readErr := errors.New("disk on fire")
	_, err := EncodeFile(io.MultiReader(strings.NewReader("new"), errReader{readErr}), 2, 3, 8, dir)
	if !errors.Is(err, readErr) {
		t.Errorf("EncodeFile(failing reader) = %v, want %v", err, readErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("EncodeFile(failing reader) left meta.json: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// patternReader yields size bytes of a repeating pattern without holding
// them in memory.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = byte(r.left - int64(i))
	}
	r.left -= int64(len(p))
	return len(p), nil
}

// TestECFilesBoundedMemory encodes and decodes a 32 MiB stream with 6
// shards of 64 KiB per stripe and checks that neither allocates much more
// than one stripe. Not parallel: it reads process-wide allocation counters.
func TestECFilesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 48 MiB")
	}
	const size = 32 << 20
	const limit = 4 << 20 // one stripe is 384 KiB
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	meta, err := EncodeFile(&patternReader{left: size}, 4, 6, 64<<10, dir)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("EncodeFile(32 MiB) allocated %d bytes, want at most %d", got, limit)
	}
	removeShards(t, dir, 0, 3) // force reconstruction of a data shard
	runtime.ReadMemStats(&before)
	_, err = DecodeFiles(dir, io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("DecodeFiles(32 MiB) allocated %d bytes, want at most %d", got, limit)
	}
	if meta.Size != size || meta.Stripes != size/(4*64<<10) {
		t.Errorf("EncodeFile(32 MiB) meta = %+v", meta)
	}
}

func FuzzParseECMeta(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "ec", "meta.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"version":1,"k":1,"n":1,"shard_size":1,"size":0,"stripes":0,"file_hash":"` + strings.Repeat("0", 64) + `","shard_hashes":["` + strings.Repeat("f", 64) + `"]}`))
	f.Add([]byte(`{"version":1,"k":256,"n":256,"shard_size":67108864,"size":9223372036854775807,"stripes":1,"file_hash":"","shard_hashes":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseECMeta(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("json.Marshal(%+v) = %v", m, err)
		}
		again, err := ParseECMeta(out)
		if err != nil {
			t.Fatalf("ParseECMeta(%s) = %v after ParseECMeta(%q) accepted it", out, err, b)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("ParseECMeta round trip mismatch (-want +got):\n%s", diff)
		}
	})
}
