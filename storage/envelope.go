package storage

import (
	"crypto/cipher"
	"crypto/ecdh"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/offgrid-net/offgrid/internal/canon"
)

// SegmentOverhead is the number of bytes Seal adds to a segment: the
// Poly1305 tag.
const SegmentOverhead = chacha20poly1305.Overhead

// ErrDecrypt: the sealed bytes or wrapped key do not open with this key,
// asset and position. They were tampered with, truncated, moved, or are
// meant for someone else.
var ErrDecrypt = errors.New("decryption failed")

// segmentAADLabel starts the additional data of every sealed segment.
const segmentAADLabel = "offgrid/segment/v1"

// keyWrapContext is the BLAKE3 key-derivation context for wrapped keys.
const keyWrapContext = "offgrid/keywrap/v1"

// AssetKey is the random XChaCha20-Poly1305 key that encrypts one asset's
// segments.
type AssetKey [32]byte

// NoncePrefix is the random per-asset first 16 bytes of each segment nonce;
// the last 8 bytes are the big-endian stripe index.
type NoncePrefix [16]byte

// NewAssetKey draws a fresh key and nonce prefix from rand (normally
// crypto/rand.Reader).
func NewAssetKey(rand io.Reader) (AssetKey, NoncePrefix, error) {
	var key AssetKey
	var prefix NoncePrefix
	if _, err := io.ReadFull(rand, key[:]); err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("draw asset key: %w", err)
	}
	if _, err := io.ReadFull(rand, prefix[:]); err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("draw nonce prefix: %w", err)
	}
	return key, prefix, nil
}

// SegmentCipher seals and opens the segments of one asset. The nonce of
// segment i is prefix || i (8 bytes big-endian) and its additional data is
// "offgrid/segment/v1" || assetID || i (8 bytes big-endian) || last (1 byte,
// 0 or 1), so a segment opens only under its own asset, at its own index,
// and with the right last flag: segments cannot be reordered, moved between
// assets, or the file cut short. Sealing is deterministic, so a resumed
// upload recreates identical shards. A SegmentCipher is safe for concurrent
// use.
type SegmentCipher struct {
	aead   cipher.AEAD
	prefix NoncePrefix
	aad    []byte // label || assetID; never modified after construction
}

// NewSegmentCipher returns the cipher for assetID's segments. assetID must
// be a valid shard-store asset ID (see ValidateAddress).
func NewSegmentCipher(key AssetKey, prefix NoncePrefix, assetID string) (*SegmentCipher, error) {
	if err := ValidateAddress(assetID, 0); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("segment cipher: %w", err)
	}
	aad := make([]byte, 0, len(segmentAADLabel)+len(assetID))
	aad = append(aad, segmentAADLabel...)
	aad = append(aad, assetID...)
	return &SegmentCipher{aead: aead, prefix: prefix, aad: aad}, nil
}

// nonceAAD builds the nonce and additional data of segment index.
func (s *SegmentCipher) nonceAAD(index uint64, last bool) (nonce, aad []byte) {
	nonce = make([]byte, 0, chacha20poly1305.NonceSizeX+len(s.aad)+9)
	nonce = append(nonce, s.prefix[:]...)
	nonce = binary.BigEndian.AppendUint64(nonce, index)
	aad = nonce[len(nonce):]
	aad = append(aad, s.aad...)
	aad = binary.BigEndian.AppendUint64(aad, index)
	if last {
		aad = append(aad, 1)
	} else {
		aad = append(aad, 0)
	}
	return nonce, aad
}

// Seal encrypts plaintext as segment index of the asset and appends the
// result (len(plaintext)+SegmentOverhead bytes) to dst. last marks the
// final segment of the file. dst and plaintext may overlap exactly (dst =
// plaintext[:0]) or not at all.
func (s *SegmentCipher) Seal(dst, plaintext []byte, index uint64, last bool) []byte {
	nonce, aad := s.nonceAAD(index, last)
	return s.aead.Seal(dst, nonce, plaintext, aad)
}

// Open decrypts segment index sealed by Seal and appends the plaintext to
// dst. It returns an error wrapping ErrDecrypt when the segment was altered,
// truncated, sealed under another key, prefix or asset, at another index, or
// with the other last flag.
func (s *SegmentCipher) Open(dst, sealed []byte, index uint64, last bool) ([]byte, error) {
	if len(sealed) < SegmentOverhead {
		return nil, fmt.Errorf("open segment %d: %w: %d bytes is shorter than the tag", index, ErrDecrypt, len(sealed))
	}
	nonce, aad := s.nonceAAD(index, last)
	out, err := s.aead.Open(dst, nonce, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", index, ErrDecrypt)
	}
	return out, nil
}

// WrappedKey is an asset key and nonce prefix sealed to one X25519
// recipient. All fields are lower-case hex.
type WrappedKey struct {
	Recipient string `json:"recipient"` // hex X25519 public key
	Ephemeral string `json:"ephemeral"` // hex
	Nonce     string `json:"nonce"`     // hex, 24 bytes
	Sealed    string `json:"sealed"`    // hex
}

// wrappedPlainSize is the size of what a WrappedKey seals: key || prefix.
const wrappedPlainSize = len(AssetKey{}) + len(NoncePrefix{})

// wrapKEK derives the key-encryption key: BLAKE3 DeriveKey with context
// "offgrid/keywrap/v1" over shared || ephemeralPub || recipientPub ||
// assetID.
func wrapKEK(shared, ephPub, recipientPub []byte, assetID string) []byte {
	material := make([]byte, 0, len(shared)+len(ephPub)+len(recipientPub)+len(assetID))
	material = append(material, shared...)
	material = append(material, ephPub...)
	material = append(material, recipientPub...)
	material = append(material, assetID...)
	kek := make([]byte, chacha20poly1305.KeySize)
	blake3.DeriveKey(keyWrapContext, material, kek)
	clear(material)
	return kek
}

// WrapKey seals key and prefix to the X25519 public key recipientPub (32
// bytes) for assetID. It draws a fresh ephemeral X25519 key and a 24-byte
// nonce from rand (normally crypto/rand.Reader); the ECDH shared secret is
// turned into a key with BLAKE3 DeriveKey("offgrid/keywrap/v1", shared ||
// ephemeral public key || recipientPub || assetID), which seals key ||
// prefix with XChaCha20-Poly1305.
func WrapKey(rand io.Reader, key AssetKey, prefix NoncePrefix, recipientPub []byte, assetID string) (WrappedKey, error) {
	if err := ValidateAddress(assetID, 0); err != nil {
		return WrappedKey{}, err
	}
	pub, err := ecdh.X25519().NewPublicKey(recipientPub)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap key: recipient: %w", err)
	}
	// The ephemeral key comes from rand itself: since Go 1.26
	// Curve.GenerateKey ignores its reader.
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return WrappedKey{}, fmt.Errorf("wrap key: draw ephemeral key: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed[:])
	clear(seed[:])
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap key: ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		// Only a low-order recipient key gets here.
		return WrappedKey{}, fmt.Errorf("wrap key: recipient: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	kek := wrapKEK(shared, ephPub, pub.Bytes(), assetID)
	clear(shared)
	aead, err := chacha20poly1305.NewX(kek)
	clear(kek)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap key: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return WrappedKey{}, fmt.Errorf("wrap key: draw nonce: %w", err)
	}
	plain := make([]byte, 0, wrappedPlainSize)
	plain = append(plain, key[:]...)
	plain = append(plain, prefix[:]...)
	sealed := aead.Seal(nil, nonce, plain, nil)
	clear(plain)
	return WrappedKey{
		Recipient: hex.EncodeToString(pub.Bytes()),
		Ephemeral: hex.EncodeToString(ephPub),
		Nonce:     hex.EncodeToString(nonce),
		Sealed:    hex.EncodeToString(sealed),
	}, nil
}

// UnwrapKey opens w with the recipient's X25519 private key for assetID.
// It returns an error wrapping ErrDecrypt when w is malformed (every field
// must be lower-case hex of the exact length), was wrapped to another
// recipient or for another asset, or was altered.
func UnwrapKey(priv *ecdh.PrivateKey, w WrappedKey, assetID string) (AssetKey, NoncePrefix, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return AssetKey{}, NoncePrefix{}, errors.New("unwrap key: need an X25519 private key")
	}
	recipient, err := unwrapHexField("recipient", w.Recipient, 32)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, err
	}
	ephPub, err := unwrapHexField("ephemeral", w.Ephemeral, 32)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, err
	}
	nonce, err := unwrapHexField("nonce", w.Nonce, chacha20poly1305.NonceSizeX)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, err
	}
	sealed, err := unwrapHexField("sealed", w.Sealed, wrappedPlainSize+chacha20poly1305.Overhead)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, err
	}
	myPub := priv.PublicKey().Bytes()
	if string(recipient) != string(myPub) {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("unwrap key: %w: wrapped for recipient %s", ErrDecrypt, w.Recipient)
	}
	if err := ValidateAddress(assetID, 0); err != nil {
		return AssetKey{}, NoncePrefix{}, err
	}
	eph, err := ecdh.X25519().NewPublicKey(ephPub)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("unwrap key: %w: ephemeral key: %v", ErrDecrypt, err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("unwrap key: %w: ephemeral key: %v", ErrDecrypt, err)
	}
	kek := wrapKEK(shared, ephPub, myPub, assetID)
	clear(shared)
	aead, err := chacha20poly1305.NewX(kek)
	clear(kek)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("unwrap key: %w", err)
	}
	plain, err := aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return AssetKey{}, NoncePrefix{}, fmt.Errorf("unwrap key: %w: wrong asset or altered key", ErrDecrypt)
	}
	var key AssetKey
	var prefix NoncePrefix
	copy(key[:], plain)
	copy(prefix[:], plain[len(key):])
	clear(plain)
	return key, prefix, nil
}

// unwrapHexField decodes s, which must be exactly n bytes as lower-case hex.
// Errors wrap ErrDecrypt: a malformed wrapped key cannot be opened.
func unwrapHexField(field, s string, n int) ([]byte, error) {
	b, err := canon.LowerHex(s, n)
	if err != nil {
		return nil, fmt.Errorf("unwrap key: %w: %s: %v", ErrDecrypt, field, err)
	}
	return b, nil
}
