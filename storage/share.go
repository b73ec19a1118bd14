package storage

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
)

// ShareDomain separates share signatures from every other signature.
const ShareDomain = "offgrid/share/v1"

// Share manifest bounds (openapi.yaml's Share schema; a test compares them).
const (
	// MaxShareJSON bounds an encoded share manifest.
	MaxShareJSON = 1 << 20
	// MaxShareShards bounds the shard locations one manifest lists.
	MaxShareShards = 8192
	// maxEndpoint bounds a host endpoint in a manifest.
	maxEndpoint = 256
	// maxShareName bounds the file name in a manifest.
	maxShareName = 255
)

var (
	// ErrBadShare: the share manifest is malformed.
	ErrBadShare = errors.New("invalid share manifest")
	// ErrShareSignature: the manifest is not signed by the owner it names.
	ErrShareSignature = errors.New("share manifest signature does not verify")
)

// shareMagic starts the canonical encoding of a share manifest.
var shareMagic = []byte("OGSH")

// Share is a read capability for one file: where its shards are and its
// file key wrapped to one recipient, signed by the owner.
type Share struct {
	Version   int          `json:"version"`
	AssetID   string       `json:"asset_id"`
	Name      string       `json:"name"`
	Size      int64        `json:"size"`
	FileHash  string       `json:"file_hash"`
	Mode      string       `json:"mode"`
	K         int          `json:"k"`
	N         int          `json:"n"`
	ShardSize int          `json:"shard_size"`
	Stripes   int          `json:"stripes"`
	Owner     string       `json:"owner"`
	Recipient string       `json:"recipient"`
	Key       WrappedKey   `json:"key"`
	Shards    []ShareShard `json:"shards"`
	Signature string       `json:"signature"`
}

// ShareShard is where one shard of a shared file lives.
type ShareShard struct {
	Stripe   int    `json:"stripe"`
	Index    int    `json:"index"`
	Hash     string `json:"hash"`
	HostID   string `json:"host_id"`
	Endpoint string `json:"endpoint"`
}

// Validate checks every field's form (not the signature).
func (s Share) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadShare, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Version != 1:
		return bad("version %d, want 1", s.Version)
	case ValidateAddress(s.AssetID, 0) != nil:
		return bad("asset_id is not a valid asset ID")
	case len(s.Name) > maxShareName:
		return bad("name longer than %d bytes", maxShareName)
	case s.Size < 0:
		return bad("negative size")
	case !validHash(s.FileHash):
		return bad("file_hash must be 64 lower-case hex digits")
	case s.Mode != "ec" && s.Mode != "rep":
		return bad("mode must be ec or rep")
	case s.K < 1 || s.N < s.K || s.N > MaxShards:
		return bad("k and n must satisfy 1 <= k <= n <= %d", MaxShards)
	case s.ShardSize < 1 || s.ShardSize > 16<<20:
		return bad("shard_size must be between 1 and %d", 16<<20)
	case s.Stripes < 1 || s.Stripes > MaxShareShards:
		return bad("stripes must be between 1 and %d", MaxShareShards)
	case len(s.Shards) > MaxShareShards:
		return bad("more than %d shards", MaxShareShards)
	}
	for _, id := range []string{s.Owner, s.Recipient} {
		if _, err := identity.NodeID(id).PublicKey(); err != nil {
			return bad("owner and recipient must be node IDs: %v", err)
		}
	}
	for _, f := range []struct {
		v string
		n int
	}{{s.Key.Recipient, 32}, {s.Key.Ephemeral, 32}, {s.Key.Nonce, 24}} {
		if _, err := canon.LowerHex(f.v, f.n); err != nil {
			return bad("key: %v", err)
		}
	}
	if _, err := canon.LowerHex(s.Key.Sealed, wrappedPlainSize+16); err != nil {
		return bad("key: sealed: %v", err)
	}
	for _, sh := range s.Shards {
		switch {
		case sh.Stripe < 0 || sh.Stripe >= s.Stripes || sh.Index < 0 || sh.Index >= s.N:
			return bad("shard %d/%d outside %d stripes of %d shards", sh.Stripe, sh.Index, s.Stripes, s.N)
		case !validHash(sh.Hash):
			return bad("shard hash must be 64 lower-case hex digits")
		case sh.HostID == "" || len(sh.HostID) > 128:
			return bad("host_id must be 1-128 bytes")
		case len(sh.Endpoint) > maxEndpoint ||
			!strings.HasPrefix(sh.Endpoint, "http://") && !strings.HasPrefix(sh.Endpoint, "https://"):
			return bad("endpoint must be an http(s) URL of at most %d bytes", maxEndpoint)
		}
	}
	return nil
}

// canonical returns the bytes the owner signs: every field but Signature,
// length-prefixed strings and big-endian integers after "OGSH" and a
// format byte.
func (s Share) canonical() []byte {
	b := append([]byte{}, shareMagic...)
	b = append(b, 1)
	b = canon.AppendString(b, s.AssetID)
	b = canon.AppendString(b, s.Name)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Size))
	b = canon.AppendString(b, s.FileHash)
	b = canon.AppendString(b, s.Mode)
	for _, v := range []int{s.K, s.N, s.ShardSize, s.Stripes} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	b = canon.AppendStrings(b, []string{s.Owner, s.Recipient, s.Key.Recipient, s.Key.Ephemeral, s.Key.Nonce, s.Key.Sealed})
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Shards)))
	for _, sh := range s.Shards {
		b = binary.BigEndian.AppendUint32(b, uint32(sh.Stripe))
		b = binary.BigEndian.AppendUint32(b, uint32(sh.Index))
		b = canon.AppendStrings(b, []string{sh.Hash, sh.HostID, sh.Endpoint})
	}
	return b
}

// SignShare sets s's owner to k's node ID and returns it signed.
func SignShare(k *identity.Keys, s Share) (Share, error) {
	s.Version = 1
	s.Owner = string(k.ID())
	s.Signature = ""
	if s.Shards == nil {
		s.Shards = []ShareShard{}
	}
	if err := s.Validate(); err != nil {
		return Share{}, err
	}
	s.Signature = hex.EncodeToString(k.Sign(ShareDomain, s.canonical()))
	return s, nil
}

// DecodeShare parses a share manifest, refusing more than MaxShareJSON
// bytes, unknown fields and trailing data, and checks its fields (errors
// wrap ErrBadShare) and that the owner it names signed it (errors wrap
// ErrShareSignature).
func DecodeShare(b []byte) (Share, error) {
	if len(b) > MaxShareJSON {
		return Share{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadShare, len(b), MaxShareJSON)
	}
	var s Share
	if err := canon.DecodeJSON(b, &s); err != nil {
		return Share{}, fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	if err := s.Validate(); err != nil {
		return Share{}, err
	}
	sig, err := canon.LowerHex(s.Signature, 64)
	if err != nil {
		return Share{}, fmt.Errorf("%w: signature: %v", ErrShareSignature, err)
	}
	pub, _ := identity.NodeID(s.Owner).PublicKey() // checked by Validate
	if !identity.Verify(pub, ShareDomain, s.canonical(), sig) {
		return Share{}, fmt.Errorf("%w: not signed by its owner %s", ErrShareSignature, s.Owner)
	}
	return s, nil
}
