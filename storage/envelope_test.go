package storage

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// updateEC rewrites the golden files under testdata/ec. It is not called
// -update so that it cannot clash with another test file of the package.
var updateEC = flag.Bool("update-ec", false, "rewrite testdata/ec golden files")

// countingReader yields 0, 1, 2, … forever: a deterministic stand-in for
// crypto/rand.Reader in vectors.
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func testCipher(t *testing.T, assetID string) (*SegmentCipher, AssetKey, NoncePrefix) {
	t.Helper()
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSegmentCipher(key, prefix, assetID)
	if err != nil {
		t.Fatalf("NewSegmentCipher(%q) = %v", assetID, err)
	}
	return c, key, prefix
}

func TestSegmentRoundTrip(t *testing.T) {
	t.Parallel()
	c, _, _ := testCipher(t, "photos-2026")
	for _, size := range []int{0, 1, 15, 16, 17, 4096, 12*65536 - SegmentOverhead} {
		plain := testBytes(uint64(size), size)
		sealed := c.Seal(nil, plain, 3, size == 0)
		if len(sealed) != size+SegmentOverhead {
			t.Errorf("Seal(%d bytes) = %d bytes, want %d", size, len(sealed), size+SegmentOverhead)
		}
		if again := c.Seal(nil, plain, 3, size == 0); !bytes.Equal(again, sealed) {
			t.Errorf("Seal(%d bytes) is not deterministic", size)
		}
		got, err := c.Open(nil, sealed, 3, size == 0)
		if err != nil {
			t.Fatalf("Open(Seal(%d bytes)) = %v", size, err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open(Seal(%d bytes)) differs from the plaintext", size)
		}
	}
	// Seal appends to dst, and in place works.
	buf := []byte("head")
	buf = c.Seal(buf, []byte("body"), 0, true)
	if !bytes.HasPrefix(buf, []byte("head")) || len(buf) != 4+4+SegmentOverhead {
		t.Errorf("Seal(dst=%q) = %x, want dst followed by the sealed segment", "head", buf)
	}
	plain := []byte("in place please")
	sealed := c.Seal(plain[:0], plain, 9, false)
	got, err := c.Open(sealed[:0], sealed, 9, false)
	if err != nil || string(got) != "in place please" {
		t.Errorf("in-place Open(Seal()) = %q, %v", got, err)
	}
}

func TestSegmentOpenFails(t *testing.T) {
	t.Parallel()
	const asset = "asset-1"
	c, key, prefix := testCipher(t, asset)
	plain := []byte("the quick brown fox jumps over the lazy dog")
	sealed := c.Seal(nil, plain, 5, false)

	otherKey := key
	otherKey[0] ^= 1
	otherPrefix := prefix
	otherPrefix[15] ^= 0x80
	mk := func(k AssetKey, p NoncePrefix, id string) *SegmentCipher {
		sc, err := NewSegmentCipher(k, p, id)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	tests := []struct {
		name   string
		c      *SegmentCipher
		sealed []byte
		index  uint64
		last   bool
	}{
		{"wrong key", mk(otherKey, prefix, asset), sealed, 5, false},
		{"wrong prefix", mk(key, otherPrefix, asset), sealed, 5, false},
		{"wrong asset", mk(key, prefix, "asset-2"), sealed, 5, false},
		{"asset prefix of another", mk(key, prefix, "asset-"), sealed, 5, false},
		{"previous index", c, sealed, 4, false},
		{"next index", c, sealed, 6, false},
		{"index high bits", c, sealed, 5 | 1<<63, false},
		{"last flag flipped", c, sealed, 5, true},
		{"truncated by one", c, sealed[:len(sealed)-1], 5, false},
		{"tag only", c, sealed[len(sealed)-SegmentOverhead:], 5, false},
		{"shorter than tag", c, sealed[:SegmentOverhead-1], 5, false},
		{"empty", c, nil, 5, false},
		{"extended", c, append(bytes.Clone(sealed), 0), 5, false},
	}
	for i := range sealed {
		flipped := bytes.Clone(sealed)
		flipped[i] ^= 1 << (i % 8)
		tests = append(tests, struct {
			name   string
			c      *SegmentCipher
			sealed []byte
			index  uint64
			last   bool
		}{"flipped byte", c, flipped, 5, false})
	}
	for _, tt := range tests {
		got, err := tt.c.Open(nil, tt.sealed, tt.index, tt.last)
		if !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: Open(%x, %d, %v) = %q, %v, want ErrDecrypt", tt.name, tt.sealed, tt.index, tt.last, got, err)
		}
	}
}

func TestSegmentCipherBadAsset(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "a/b", strings.Repeat("x", 129)} {
		if _, err := NewSegmentCipher(AssetKey{}, NoncePrefix{}, id); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewSegmentCipher(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

// TestSegmentCipherConcurrent seals and opens from several goroutines
// (run it with -race).
func TestSegmentCipherConcurrent(t *testing.T) {
	t.Parallel()
	c, _, _ := testCipher(t, "shared")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				idx := uint64(g*100 + i)
				plain := testBytes(idx, 1000)
				got, err := c.Open(nil, c.Seal(nil, plain, idx, false), idx, false)
				if err != nil || !bytes.Equal(got, plain) {
					errs <- errors.New("concurrent round trip failed")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNewAssetKey(t *testing.T) {
	t.Parallel()
	k1, p1, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k2, p2, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 || p1 == p2 || k1 == (AssetKey{}) {
		t.Errorf("NewAssetKey(rand.Reader) twice gave equal or zero keys")
	}
	if _, _, err := NewAssetKey(strings.NewReader("short")); err == nil {
		t.Errorf("NewAssetKey(short reader) = nil error, want an error")
	}
}

func newX25519(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWrapKeyRoundTrip(t *testing.T) {
	t.Parallel()
	const asset = "vault.01"
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	owner, friend, stranger := newX25519(t), newX25519(t), newX25519(t)
	var wrapped []WrappedKey
	for _, r := range []*ecdh.PrivateKey{owner, friend} {
		w, err := WrapKey(rand.Reader, key, prefix, r.PublicKey().Bytes(), asset)
		if err != nil {
			t.Fatalf("WrapKey() = %v", err)
		}
		if w.Recipient != hex.EncodeToString(r.PublicKey().Bytes()) {
			t.Errorf("WrapKey().Recipient = %s, want the recipient's key", w.Recipient)
		}
		gotKey, gotPrefix, err := UnwrapKey(r, w, asset)
		if err != nil {
			t.Fatalf("UnwrapKey(WrapKey()) = %v", err)
		}
		if gotKey != key || gotPrefix != prefix {
			t.Errorf("UnwrapKey(WrapKey()) returned another key or prefix")
		}
		wrapped = append(wrapped, w)
	}
	if wrapped[0].Ephemeral == wrapped[1].Ephemeral || wrapped[0].Sealed == wrapped[1].Sealed {
		t.Errorf("two wraps share an ephemeral key or ciphertext")
	}

	// Survives JSON.
	b, err := json.Marshal(wrapped[1])
	if err != nil {
		t.Fatal(err)
	}
	var back WrappedKey
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wrapped[1], back); diff != "" {
		t.Errorf("WrappedKey JSON round trip mismatch (-want +got):\n%s", diff)
	}

	fails := []struct {
		name  string
		priv  *ecdh.PrivateKey
		w     WrappedKey
		asset string
	}{
		{"friend's key, owner's wrap", friend, wrapped[0], asset},
		{"stranger", stranger, wrapped[0], asset},
		{"wrong asset", owner, wrapped[0], "vault.02"},
		{"recipient relabelled", stranger, func() WrappedKey {
			w := wrapped[0]
			w.Recipient = hex.EncodeToString(stranger.PublicKey().Bytes())
			return w
		}(), asset},
		{"ephemeral swapped", owner, func() WrappedKey {
			w := wrapped[0]
			w.Ephemeral = wrapped[1].Ephemeral
			return w
		}(), asset},
	}
	for _, tt := range fails {
		if _, _, err := UnwrapKey(tt.priv, tt.w, tt.asset); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: UnwrapKey() = %v, want ErrDecrypt", tt.name, err)
		}
	}
}

func TestUnwrapKeyMalformed(t *testing.T) {
	t.Parallel()
	const asset = "a1"
	owner := newX25519(t)
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good, err := WrapKey(rand.Reader, key, prefix, owner.PublicKey().Bytes(), asset)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	tests := []struct {
		name string
		edit func(*WrappedKey)
	}{
		{"empty", func(w *WrappedKey) { *w = WrappedKey{} }},
		{"recipient upper-case", func(w *WrappedKey) { w.Recipient = strings.ToUpper(w.Recipient) }},
		{"recipient short", func(w *WrappedKey) { w.Recipient = w.Recipient[2:] }},
		{"recipient odd length", func(w *WrappedKey) { w.Recipient += "0" }},
		{"ephemeral not hex", func(w *WrappedKey) { w.Ephemeral = strings.Repeat("zz", 32) }},
		{"ephemeral short", func(w *WrappedKey) { w.Ephemeral = w.Ephemeral[:62] }},
		{"ephemeral all zero (low order)", func(w *WrappedKey) { w.Ephemeral = strings.Repeat("00", 32) }},
		{"ephemeral flipped", func(w *WrappedKey) { w.Ephemeral = flip(w.Ephemeral, 5) }},
		{"nonce short", func(w *WrappedKey) { w.Nonce = w.Nonce[:46] }},
		{"nonce long", func(w *WrappedKey) { w.Nonce += "00" }},
		{"nonce flipped", func(w *WrappedKey) { w.Nonce = flip(w.Nonce, 0) }},
		{"sealed truncated", func(w *WrappedKey) { w.Sealed = w.Sealed[:len(w.Sealed)-2] }},
		{"sealed extended", func(w *WrappedKey) { w.Sealed += "00" }},
		{"sealed flipped", func(w *WrappedKey) { w.Sealed = flip(w.Sealed, 40) }},
		{"sealed with space", func(w *WrappedKey) { w.Sealed = " " + w.Sealed[1:] }},
	}
	for _, tt := range tests {
		w := good
		tt.edit(&w)
		k, p, err := UnwrapKey(owner, w, asset)
		if !errors.Is(err, ErrDecrypt) || k != (AssetKey{}) || p != (NoncePrefix{}) {
			t.Errorf("%s: UnwrapKey(%+v) = %v, want ErrDecrypt and zero values", tt.name, w, err)
		}
	}
	if _, _, err := UnwrapKey(nil, good, asset); err == nil {
		t.Errorf("UnwrapKey(nil key) = nil error, want an error")
	}
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := UnwrapKey(p256, good, asset); err == nil {
		t.Errorf("UnwrapKey(P-256 key) = nil error, want an error")
	}
}

func TestWrapKeyBadInput(t *testing.T) {
	t.Parallel()
	owner := newX25519(t)
	tests := []struct {
		name  string
		rand  *strings.Reader
		pub   []byte
		asset string
	}{
		{"short public key", strings.NewReader(strings.Repeat("r", 64)), owner.PublicKey().Bytes()[:31], "a"},
		{"nil public key", strings.NewReader(strings.Repeat("r", 64)), nil, "a"},
		{"low-order public key", strings.NewReader(strings.Repeat("r", 64)), make([]byte, 32), "a"},
		{"bad asset", strings.NewReader(strings.Repeat("r", 64)), owner.PublicKey().Bytes(), "a b"},
		{"rand runs dry", strings.NewReader(strings.Repeat("r", 40)), owner.PublicKey().Bytes(), "a"},
	}
	for _, tt := range tests {
		if w, err := WrapKey(tt.rand, AssetKey{}, NoncePrefix{}, tt.pub, tt.asset); err == nil {
			t.Errorf("%s: WrapKey() = %+v, want an error", tt.name, w)
		}
	}
}

// envelopeVectors pins the segment and key-wrap formats
// (testdata/ec/envelope_vectors.json).
type envelopeVectors struct {
	Key       string          `json:"key"`
	Prefix    string          `json:"prefix"`
	AssetID   string          `json:"asset_id"`
	Segments  []segmentVector `json:"segments"`
	WrapPriv  string          `json:"wrap_recipient_private"`
	WrapRand  string          `json:"wrap_rand"` // what rand yields: counting bytes from 0
	Wrapped   WrappedKey      `json:"wrapped"`
	WrapAsset string          `json:"wrap_asset_id"`
}

type segmentVector struct {
	Index     uint64 `json:"index"`
	Last      bool   `json:"last"`
	Plaintext string `json:"plaintext"` // hex
	Sealed    string `json:"sealed"`    // hex
}

func TestEnvelopeVectors(t *testing.T) {
	t.Parallel()
	var key AssetKey
	var prefix NoncePrefix
	for i := range key {
		key[i] = byte(i)
	}
	for i := range prefix {
		prefix[i] = 0xf0 + byte(i)
	}
	got := envelopeVectors{
		Key:       hex.EncodeToString(key[:]),
		Prefix:    hex.EncodeToString(prefix[:]),
		AssetID:   "vector-asset",
		WrapRand:  "bytes 00 01 02 ... (ephemeral private key, then nonce)",
		WrapAsset: "vector-asset",
	}
	c, err := NewSegmentCipher(key, prefix, got.AssetID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		index uint64
		last  bool
		plain string
	}{
		{0, false, "offgrid segment zero"},
		{1, false, ""},
		{1, true, ""},
		{1<<40 + 7, true, "far away"},
	} {
		got.Segments = append(got.Segments, segmentVector{
			Index: s.index, Last: s.last,
			Plaintext: hex.EncodeToString([]byte(s.plain)),
			Sealed:    hex.EncodeToString(c.Seal(nil, []byte(s.plain), s.index, s.last)),
		})
	}
	privBytes := bytes.Repeat([]byte{0x42}, 32)
	priv, err := ecdh.X25519().NewPrivateKey(privBytes)
	if err != nil {
		t.Fatal(err)
	}
	got.WrapPriv = hex.EncodeToString(privBytes)
	got.Wrapped, err = WrapKey(&countingReader{}, key, prefix, priv.PublicKey().Bytes(), got.WrapAsset)
	if err != nil {
		t.Fatal(err)
	}
	k, p, err := UnwrapKey(priv, got.Wrapped, got.WrapAsset)
	if err != nil || k != key || p != prefix {
		t.Fatalf("UnwrapKey(vector) = %v, want the vector key", err)
	}

	path := filepath.Join("testdata", "ec", "envelope_vectors.json")
	if *updateEC {
		writeGolden(t, path, got)
	}
	var want envelopeVectors
	readGolden(t, path, &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envelope vectors mismatch (-want +got); the segment or key-wrap format changed:\n%s", diff)
	}
}

func writeGolden(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update-ec to create it): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
