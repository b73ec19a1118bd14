package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex.DecodeString(%q): %v", s, err)
	}
	return b
}

// newTestKeys returns keys whose Ed25519 seed is seed repeated.
func newTestKeys(t testing.TB, seed byte) *Keys {
	t.Helper()
	k, err := Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, created, err := LoadOrCreate(dir, rand.Reader)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate(empty dir) = _, %v, %v, want _, true, nil", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeysFile))
	if err != nil {
		t.Fatalf("stat keys file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("keys file mode = %v, want -rw-------", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (temp file left behind?)", len(entries), KeysFile)
	}

	k2, created, err := LoadOrCreate(dir, rand.Reader)
	if err != nil || created {
		t.Fatalf("LoadOrCreate(dir with keys) = _, %v, %v, want _, false, nil", created, err)
	}
	if k2.ID() != k1.ID() {
		t.Errorf("reloaded ID = %s, want %s", k2.ID(), k1.ID())
	}
	if diff := cmp.Diff(k1.BoxPublic(), k2.BoxPublic()); diff != "" {
		t.Errorf("reloaded BoxPublic mismatch (-want +got):\n%s", diff)
	}
	// The reloaded key signs like the original.
	sig := k2.Sign("offgrid/test/v1", []byte("hello"))
	if !Verify(k1.SignPublic(), "offgrid/test/v1", []byte("hello"), sig) {
		t.Error("signature by reloaded keys does not verify under original public key")
	}
}

func TestLoadOrCreateBadFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, contents string
	}{
		{"not json", "garbage"},
		{"version 2", `{"version":2,"ed25519_seed":"","x25519_private":""}`},
		{"short seed", `{"version":1,"ed25519_seed":"AAAA","x25519_private":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, KeysFile), []byte(tt.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			if k, created, err := LoadOrCreate(dir, rand.Reader); err == nil {
				t.Errorf("LoadOrCreate(%q) = %v, %v, nil, want error", tt.contents, k.ID(), created)
			}
		})
	}
}

// TestGenerateRFC8032 checks that Generate uses the first 32 bytes from rand
// as the Ed25519 seed, against RFC 8032 section 7.1, test 1.
func TestGenerateRFC8032(t *testing.T) {
	t.Parallel()
	seed := mustHex(t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	want := mustHex(t, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	k, err := Generate(bytes.NewReader(append(seed, make([]byte, 32)...)))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if diff := cmp.Diff(ed25519.PublicKey(want), k.SignPublic()); diff != "" {
		t.Errorf("Generate(RFC 8032 test 1 seed).SignPublic() mismatch (-want +got):\n%s", diff)
	}
}

func TestNodeIDRoundTrip(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		k, err := Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id := k.ID()
		pub, err := id.PublicKey()
		if err != nil {
			t.Fatalf("%s.PublicKey() error: %v", id, err)
		}
		if diff := cmp.Diff(k.SignPublic(), pub); diff != "" {
			t.Errorf("%d: %s.PublicKey() mismatch (-want +got):\n%s", i, id, diff)
		}
		if got := NodeIDFromPublicKey(pub); got != id {
			t.Errorf("NodeIDFromPublicKey(%x) = %s, want %s", pub, got, id)
		}
	}
}

// TestNodeIDVectors checks published did:key examples. The public keys were
// decoded independently of this package.
func TestNodeIDVectors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		id     NodeID
		pubHex string
	}{
		{
			// did:key spec example and the key of its DID document
			// (publicKeyBase58 B12NYF8RrR3h41TDCTJojY59usg3mbtbjnFs7Eud1Y6u).
			name:   "spec document example",
			id:     "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
			pubHex: "94966b7c08e405775f8de6cc1c4508f6eb227403e1025b2c8ad2d7477398c5b2",
		},
		{
			name:   "spec example z6MkhaXg",
			id:     "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
			pubHex: "2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := ed25519.PublicKey(mustHex(t, tt.pubHex))
			got, err := tt.id.PublicKey()
			if err != nil {
				t.Fatalf("%s.PublicKey() error: %v", tt.id, err)
			}
			if len(got) != ed25519.PublicKeySize {
				t.Errorf("%s.PublicKey() has %d bytes, want %d", tt.id, len(got), ed25519.PublicKeySize)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s.PublicKey() mismatch (-want +got):\n%s", tt.id, diff)
			}
			if back := NodeIDFromPublicKey(got); back != tt.id {
				t.Errorf("NodeIDFromPublicKey(%x) = %s, want %s", got, back, tt.id)
			}
		})
	}
}

func TestNodeIDPublicKeyRejects(t *testing.T) {
	t.Parallel()
	pub := newTestKeys(t, 7).SignPublic()
	withCodec := func(codec []byte, key []byte) NodeID {
		return NodeID(didKeyPrefix + base58Encode(append(append([]byte{}, codec...), key...)))
	}
	for _, tt := range []struct {
		name string
		id   NodeID
	}{
		{"empty", ""},
		{"prefix only", "did:key:z"},
		{"did:web", "did:web:example.com"},
		{"no multibase z", "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
		{"upper-case method", "DID:KEY:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
		{"base58 0", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0"},
		{"base58 O", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doO"},
		{"base58 I", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doI"},
		{"base58 l", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2dol"},
		{"space", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do K"},
		{"trailing fragment", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#x"},
		{"too long for base58", NodeID(didKeyPrefix + string(bytes.Repeat([]byte{'2'}, 129)))},
		// did:key spec secp256k1 and X25519 examples.
		{"secp256k1 multicodec", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"},
		{"x25519 multicodec", "did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F"},
		{"x25519 codec, ed25519 key", withCodec([]byte{0xec, 0x01}, pub)},
		{"short key", withCodec(ed25519Multicodec, pub[:31])},
		{"long key", withCodec(ed25519Multicodec, append(append([]byte{}, pub...), 0))},
		{"leading zero byte", withCodec(append([]byte{0}, ed25519Multicodec...), pub)},
		{"no codec", withCodec(nil, pub)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.id.PublicKey()
			if !errors.Is(err, ErrBadNodeID) {
				t.Errorf("%q.PublicKey() = %x, %v, want error %v", tt.id, got, err, ErrBadNodeID)
			}
		})
	}
}

func TestBase58(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		// Vectors from draft-msporny-base58, section 5.
		{[]byte("Hello World!"), "2NEpo7TZRRrLZSi2U"},
		{[]byte("The quick brown fox jumps over the lazy dog."), "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"},
		{[]byte{0, 0, 0x28, 0x7f, 0xb4, 0xcd}, "11233QC4"},
		{[]byte{0}, "1"},
	} {
		if got := base58Encode(tt.in); got != tt.want {
			t.Errorf("base58Encode(%x) = %q, want %q", tt.in, got, tt.want)
		}
		got, err := base58Decode(tt.want)
		if err != nil {
			t.Errorf("base58Decode(%q) error: %v", tt.want, err)
			continue
		}
		if diff := cmp.Diff(tt.in, got); diff != "" {
			t.Errorf("base58Decode(%q) mismatch (-want +got):\n%s", tt.want, diff)
		}
	}
}

func TestSignDomainSeparation(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t, 1)
	other := newTestKeys(t, 2)
	msg := []byte("message")
	sig := k.Sign("offgrid/receipt/v1", msg)
	for _, tt := range []struct {
		name   string
		pub    ed25519.PublicKey
		domain string
		msg    []byte
		sig    []byte
		want   bool
	}{
		{"same domain", k.SignPublic(), "offgrid/receipt/v1", msg, sig, true},
		{"other domain", k.SignPublic(), RequestDomain, msg, sig, false},
		{"other version", k.SignPublic(), "offgrid/receipt/v2", msg, sig, false},
		{"empty domain", k.SignPublic(), "", msg, sig, false},
		{"domain without separator", k.SignPublic(), "offgrid/receipt/v1\x00message", nil, sig, false},
		{"plain ed25519 message", k.SignPublic(), "", append([]byte("offgrid/receipt/v1\x00"), msg...), sig, false},
		{"other message", k.SignPublic(), "offgrid/receipt/v1", []byte("massage"), sig, false},
		{"other key", other.SignPublic(), "offgrid/receipt/v1", msg, sig, false},
		{"short key", k.SignPublic()[:31], "offgrid/receipt/v1", msg, sig, false},
		{"short sig", k.SignPublic(), "offgrid/receipt/v1", msg, sig[:63], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Verify(tt.pub, tt.domain, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify(%q, %q) = %v, want %v", tt.domain, tt.msg, got, tt.want)
			}
		})
	}
	// The signature is plain Ed25519 over domain || 0x00 || msg.
	if !ed25519.Verify(k.SignPublic(), append([]byte("offgrid/receipt/v1\x00"), msg...), sig) {
		t.Error("ed25519.Verify(domain || 0 || msg) = false, want true")
	}
}
