package identity

import (
	"crypto/ed25519"
	"encoding/binary"
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

// base58Decode works on 32-bit limbs, five digits at a time, not on
// math/big: every signature check and encoding of a did:key decodes it,
// and big.Int allocated per digit.
func base58Decode(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > 128 {
		return nil, errors.New("base58: bad length")
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// The value, little-endian limbs; 58^5 < 2^30, so limb*58^5 + carry
	// fits in 64 bits.
	limbs := make([]uint32, 0, len(s)/5+1)
	for i := 0; i < len(s); {
		acc, mul := uint64(0), uint64(1)
		for k := 0; k < 5 && i < len(s); k, i = k+1, i+1 {
			d := strings.IndexByte(base58Alphabet, s[i])
			if d < 0 {
				return nil, fmt.Errorf("base58: invalid character %q", s[i])
			}
			acc, mul = acc*58+uint64(d), mul*58
		}
		carry := acc
		for j := range limbs {
			carry += uint64(limbs[j]) * mul
			limbs[j] = uint32(carry)
			carry >>= 32
		}
		for ; carry != 0; carry >>= 32 {
			limbs = append(limbs, uint32(carry))
		}
	}
	out := make([]byte, zeros, zeros+4*len(limbs))
	for j := len(limbs) - 1; j >= 0; j-- {
		out = binary.BigEndian.AppendUint32(out, limbs[j])
	}
	// The top limb's leading zero bytes are not part of the value.
	lead := zeros
	for lead < len(out) && out[lead] == 0 {
		lead++
	}
	return append(out[:zeros], out[lead:]...), nil
}
