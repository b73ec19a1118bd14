package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/offgrid-net/offgrid/internal/atomicfile"
)

// KeysFile is the name of the key file inside a node's data directory.
const KeysFile = "keys.json"

// Keys is a node's key material: an Ed25519 key for signing and an X25519
// key for key agreement. It is safe for concurrent use; it never changes.
type Keys struct {
	sign ed25519.PrivateKey
	box  *ecdh.PrivateKey
	// id is the node ID of sign's public key, made once: every signed
	// record (receipts, frames) carries it, and its base58 encoding costs
	// a fifth of an Ed25519 signature.
	id NodeID
}

func newKeys(seed []byte, box *ecdh.PrivateKey) *Keys {
	sign := ed25519.NewKeyFromSeed(seed)
	return &Keys{sign: sign, box: box, id: NodeIDFromPublicKey(sign.Public().(ed25519.PublicKey))}
}

// Generate makes a fresh key pair from rand (crypto/rand.Reader outside tests).
func Generate(rand io.Reader) (*Keys, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("read ed25519 seed: %w", err)
	}
	// Read the X25519 key from rand too (GenerateKey ignores its reader),
	// so a deterministic reader gives deterministic keys in tests.
	boxSeed := make([]byte, 32)
	if _, err := io.ReadFull(rand, boxSeed); err != nil {
		return nil, fmt.Errorf("read x25519 key: %w", err)
	}
	box, err := ecdh.X25519().NewPrivateKey(boxSeed)
	if err != nil {
		return nil, fmt.Errorf("generate x25519 key: %w", err)
	}
	return newKeys(seed, box), nil
}

// ID returns the node ID of these keys.
func (k *Keys) ID() NodeID { return k.id }

// SignPublic returns the Ed25519 verify key.
func (k *Keys) SignPublic() ed25519.PublicKey { return k.sign.Public().(ed25519.PublicKey) }

// BoxPublic returns the X25519 public key.
func (k *Keys) BoxPublic() []byte { return k.box.PublicKey().Bytes() }

// BoxPrivate returns the X25519 private key, for key agreement.
func (k *Keys) BoxPrivate() *ecdh.PrivateKey { return k.box }

// Sign signs msg under domain (see the package comment).
func (k *Keys) Sign(domain string, msg []byte) []byte {
	return ed25519.Sign(k.sign, domainMessage(domain, msg))
}

// Verify reports whether sig is pub's signature of msg under domain.
func Verify(pub ed25519.PublicKey, domain string, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, domainMessage(domain, msg), sig)
}

func domainMessage(domain string, msg []byte) []byte {
	out := make([]byte, 0, len(domain)+1+len(msg))
	out = append(out, domain...)
	out = append(out, 0)
	return append(out, msg...)
}

// keysFileV1 is the on-disk form of Keys.
type keysFileV1 struct {
	Version     int    `json:"version"`
	Ed25519Seed string `json:"ed25519_seed"`
	X25519Priv  string `json:"x25519_private"`
}

// LoadOrCreate reads the keys in dir/keys.json, or creates them (file mode
// 0600) from rand when the file does not exist. created says which happened.
func LoadOrCreate(dir string, rand io.Reader) (k *Keys, created bool, err error) {
	path := filepath.Join(dir, KeysFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := parseKeys(b)
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", path, err)
		}
		return k, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read keys: %w", err)
	}
	k, err = Generate(rand)
	if err != nil {
		return nil, false, err
	}
	if err := k.Save(path); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// Save writes the keys to path with mode 0600, atomically.
func (k *Keys) Save(path string) error {
	b, err := json.MarshalIndent(keysFileV1{
		Version:     1,
		Ed25519Seed: base64.StdEncoding.EncodeToString(k.sign.Seed()),
		X25519Priv:  base64.StdEncoding.EncodeToString(k.box.Bytes()),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode keys: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	return nil
}

func parseKeys(b []byte) (*Keys, error) {
	var f keysFileV1
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode keys: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("unsupported keys version %d", f.Version)
	}
	seed, err := base64.StdEncoding.DecodeString(f.Ed25519Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("bad ed25519 seed")
	}
	boxRaw, err := base64.StdEncoding.DecodeString(f.X25519Priv)
	if err != nil {
		return nil, errors.New("bad x25519 key")
	}
	box, err := ecdh.X25519().NewPrivateKey(boxRaw)
	if err != nil {
		return nil, fmt.Errorf("bad x25519 key: %w", err)
	}
	return newKeys(seed, box), nil
}
