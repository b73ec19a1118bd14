package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// NodeID is a node's identity: the did:key of its Ed25519 public key, for
// example "did:key:z6Mk...".
type NodeID string

// ErrBadNodeID reports a string that is not the did:key of an Ed25519 key.
var ErrBadNodeID = errors.New("not an ed25519 did:key")

const didKeyPrefix = "did:key:z"

// ed25519Multicodec is the unsigned-varint multicodec prefix of an Ed25519
// public key (0xed).
var ed25519Multicodec = []byte{0xed, 0x01}

// NodeIDFromPublicKey returns the did:key of pub.
func NodeIDFromPublicKey(pub ed25519.PublicKey) NodeID {
	raw := append(append([]byte{}, ed25519Multicodec...), pub...)
	return NodeID(didKeyPrefix + base58Encode(raw))
}

// PublicKey returns the Ed25519 key the ID names.
func (id NodeID) PublicKey() (ed25519.PublicKey, error) {
	s, ok := strings.CutPrefix(string(id), didKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrBadNodeID, didKeyPrefix)
	}
	raw, err := base58Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNodeID, err)
	}
	if len(raw) != len(ed25519Multicodec)+ed25519.PublicKeySize ||
		raw[0] != ed25519Multicodec[0] || raw[1] != ed25519Multicodec[1] {
		return nil, fmt.Errorf("%w: wrong multicodec or length", ErrBadNodeID)
	}
	return ed25519.PublicKey(raw[len(ed25519Multicodec):]), nil
}

// String returns the ID as text.
func (id NodeID) String() string { return string(id) }

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in the Bitcoin base58 alphabet, as did:key requires.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b)
	radix := big.NewInt(58)
	mod := new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for range zeros {
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func base58Decode(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > 128 {
		return nil, errors.New("base58: bad length")
	}
	n := new(big.Int)
	radix := big.NewInt(58)
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	for _, c := range []byte(s) {
		i := strings.IndexByte(base58Alphabet, c)
		if i < 0 {
			return nil, fmt.Errorf("base58: invalid character %q", c)
		}
		n.Mul(n, radix)
		n.Add(n, big.NewInt(int64(i)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}
