package storage

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
)

// PolicyDomain is the signature domain of asset policies (see package
// identity: the signed message is PolicyDomain || 0x00 || canonical bytes).
const PolicyDomain = "offgrid/policy/v1"

// PolicyVersion is the policy format version this package writes and
// accepts.
const PolicyVersion = "1"

// Distribution modes of a policy.
const (
	// ModeReplication stores R whole copies of the asset.
	ModeReplication = "replication"
	// ModeEC erasure-codes the asset into N shards, any K of which rebuild
	// it.
	ModeEC = "ec"
)

// MaxPolicyJSON is the largest policy JSON document DecodePolicy reads.
const MaxPolicyJSON = 16 << 10

// Limits on policy fields, enforced by Policy.Validate.
const (
	maxPolicyWidth  = MaxIndex + 1 // largest r or n
	maxLicenseLen   = 64
	maxSafetyTags   = 32
	maxSafetyTagLen = 64
)

// Errors callers act on. Every error from this file about a policy wraps
// one of them.
var (
	// ErrBadPolicy reports a policy whose fields are missing, malformed or
	// out of range, or JSON that is not a policy.
	ErrBadPolicy = errors.New("invalid asset policy")
	// ErrPolicySignature reports a policy that is not signed, whose
	// verify_key does not belong to its node_id, or whose signature does
	// not verify.
	ErrPolicySignature = errors.New("bad asset policy signature")
)

// policyMagic starts every canonical encoding; policyFormat follows it.
const (
	policyMagic  = "OGPL"
	policyFormat = 0x01
)

var (
	policyAssetIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	safetyTagPattern     = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)
)

// Distribution says how an asset is to be stored.
type Distribution struct {
	// Mode is ModeReplication or ModeEC.
	Mode string `json:"mode"`
	// R is the number of copies in replication mode, 1 to 256; 0 in ec
	// mode.
	R int `json:"r,omitempty"`
	// K is the number of data shards in ec mode, 1 <= K <= N; 0 in
	// replication mode.
	K int `json:"k,omitempty"`
	// N is the total number of shards in ec mode, at most 256; 0 in
	// replication mode.
	N int `json:"n,omitempty"`
}

// Policy is an asset's policy, signed by the node that published the asset.
// The zero value is not valid: fill in Version, AssetID, License,
// Distribution and SafetyTags and sign it with SignPolicy.
type Policy struct {
	// Version is the format version, PolicyVersion.
	Version string `json:"version"`
	// AssetID names the asset: 1 to 128 characters of A-Z a-z 0-9 . _ : -
	// (e.g. "CID:abc123").
	AssetID string `json:"asset_id"`
	// License is the asset's license, an SPDX identifier or expression
	// such as "MIT" or "MIT OR Apache-2.0": 1 to 64 printable ASCII
	// characters, not starting or ending with a space.
	License string `json:"license"`
	// Distribution says how the asset is stored.
	Distribution Distribution `json:"distribution"`
	// SafetyTags are content labels: at most 32, each 1 to 64 characters
	// of a-z 0-9 . _ -, no tag twice. Their order is kept and signed.
	SafetyTags []string `json:"safety_tags"`
	// NodeID is the signer: the did:key of VerifyKey.
	NodeID identity.NodeID `json:"node_id"`
	// VerifyKey is the signer's Ed25519 public key in lower-case hex.
	VerifyKey string `json:"verify_key"`
	// Signature is the Ed25519 signature in lower-case hex over
	// PolicyDomain and the canonical bytes.
	Signature string `json:"signature"`
}

// Validate checks the fields of p: the version, the asset ID, the license,
// the distribution (replication: 1 <= r <= 256 and k = n = 0; ec:
// 1 <= k <= n <= 256 and r = 0) and the safety tags. NodeID, VerifyKey and
// Signature may be empty (an unsigned policy), but when set they must be
// well formed: a did:key, 64 and 128 lower-case hex digits. Errors wrap
// ErrBadPolicy.
func (p Policy) Validate() error {
	if err := p.checkFields(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	return nil
}

func (p Policy) checkFields() error {
	if p.Version != PolicyVersion {
		return fmt.Errorf("version %q, want %q", p.Version, PolicyVersion)
	}
	if !policyAssetIDPattern.MatchString(p.AssetID) {
		return fmt.Errorf("asset_id %q: want 1-128 characters of A-Z a-z 0-9 . _ : -", p.AssetID)
	}
	if err := checkLicense(p.License); err != nil {
		return err
	}
	if err := p.Distribution.check(); err != nil {
		return err
	}
	if len(p.SafetyTags) > maxSafetyTags {
		return fmt.Errorf("%d safety_tags, limit %d", len(p.SafetyTags), maxSafetyTags)
	}
	for i, tag := range p.SafetyTags {
		if !safetyTagPattern.MatchString(tag) {
			return fmt.Errorf("safety_tags[%d] %q: want 1-%d characters of a-z 0-9 . _ -", i, tag, maxSafetyTagLen)
		}
		if slices.Contains(p.SafetyTags[:i], tag) {
			return fmt.Errorf("safety_tags[%d] %q appears twice", i, tag)
		}
	}
	if p.NodeID != "" {
		if _, err := p.NodeID.PublicKey(); err != nil {
			return fmt.Errorf("node_id: %w", err)
		}
	}
	if p.VerifyKey != "" {
		if _, err := canon.LowerHex(p.VerifyKey, ed25519.PublicKeySize); err != nil {
			return fmt.Errorf("verify_key: %w", err)
		}
	}
	if p.Signature != "" {
		if _, err := canon.LowerHex(p.Signature, ed25519.SignatureSize); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
	}
	return nil
}

func checkLicense(s string) error {
	if len(s) == 0 || len(s) > maxLicenseLen {
		return fmt.Errorf("license is %d bytes, want 1-%d", len(s), maxLicenseLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("license %q: byte %d is not printable ASCII", s, i)
		}
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("license %q starts or ends with a space", s)
	}
	return nil
}

func (d Distribution) check() error {
	switch d.Mode {
	case ModeReplication:
		if d.R < 1 || d.R > maxPolicyWidth {
			return fmt.Errorf("replication r=%d, want 1-%d", d.R, maxPolicyWidth)
		}
		if d.K != 0 || d.N != 0 {
			return fmt.Errorf("replication with k=%d n=%d, want none", d.K, d.N)
		}
	case ModeEC:
		if d.K < 1 || d.K > d.N || d.N > maxPolicyWidth {
			return fmt.Errorf("ec k=%d n=%d, want 1 <= k <= n <= %d", d.K, d.N, maxPolicyWidth)
		}
		if d.R != 0 {
			return fmt.Errorf("ec with r=%d, want none", d.R)
		}
	default:
		return fmt.Errorf("distribution mode %q, want %q or %q", d.Mode, ModeReplication, ModeEC)
	}
	return nil
}

// CanonicalBytes returns the version 1 canonical encoding of p, the message
// that is signed (see the layout at the top of this file). It covers every
// field except Signature. p must be valid and carry NodeID and VerifyKey;
// errors wrap ErrBadPolicy.
func (p Policy) CanonicalBytes() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.NodeID == "" || p.VerifyKey == "" {
		return nil, fmt.Errorf("%w: canonical bytes need node_id and verify_key", ErrBadPolicy)
	}
	key, _ := hex.DecodeString(p.VerifyKey) // checked by Validate
	return p.appendCanonical(key), nil
}

// appendCanonical encodes p, which must be valid, with the raw verify key.
func (p Policy) appendCanonical(key []byte) []byte {
	size := len(policyMagic) + 1 + 4*4 + len(p.Version) + len(p.AssetID) + len(p.License) + len(p.Distribution.Mode) +
		3*4 + 4 + 4 + len(p.NodeID) + len(key)
	for _, tag := range p.SafetyTags {
		size += 4 + len(tag)
	}
	b := make([]byte, 0, size)
	b = append(b, policyMagic...)
	b = append(b, policyFormat)
	b = canon.AppendString(b, p.Version)
	b = canon.AppendString(b, p.AssetID)
	b = canon.AppendString(b, p.License)
	b = canon.AppendString(b, p.Distribution.Mode)
	b = binary.BigEndian.AppendUint32(b, uint32(p.Distribution.R))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Distribution.K))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Distribution.N))
	b = canon.AppendStrings(b, p.SafetyTags)
	b = canon.AppendString(b, string(p.NodeID))
	return append(b, key...)
}

// SignPolicy validates p, sets its NodeID and VerifyKey to k's, and returns
// it signed. Any NodeID, VerifyKey or Signature already in p is replaced.
// The result does not share SafetyTags with p, and a nil SafetyTags becomes
// an empty list (so the JSON says [] rather than null). Errors wrap
// ErrBadPolicy.
func SignPolicy(k *identity.Keys, p Policy) (Policy, error) {
	pub := k.SignPublic()
	p.NodeID = k.ID()
	p.VerifyKey = hex.EncodeToString(pub)
	p.Signature = ""
	p.SafetyTags = append([]string{}, p.SafetyTags...)
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("sign policy for asset %q: %w", p.AssetID, err)
	}
	p.Signature = hex.EncodeToString(k.Sign(PolicyDomain, p.appendCanonical(pub)))
	return p, nil
}

// Verify checks that p is valid (errors wrap ErrBadPolicy), and that it is
// signed, NodeID is the did:key of VerifyKey and Signature is VerifyKey's
// signature of p's canonical bytes under PolicyDomain (errors wrap
// ErrPolicySignature).
func (p Policy) Verify() error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Signature == "" || p.VerifyKey == "" || p.NodeID == "" {
		return fmt.Errorf("%w: policy for asset %q is not signed", ErrPolicySignature, p.AssetID)
	}
	pub, _ := hex.DecodeString(p.VerifyKey) // checked by Validate
	sig, _ := hex.DecodeString(p.Signature)
	if id := identity.NodeIDFromPublicKey(pub); id != p.NodeID {
		return fmt.Errorf("%w: verify_key belongs to %s, not node_id %s", ErrPolicySignature, id, p.NodeID)
	}
	if !identity.Verify(pub, PolicyDomain, p.appendCanonical(pub), sig) {
		return fmt.Errorf("%w: signature does not verify", ErrPolicySignature)
	}
	return nil
}

// DecodePolicy parses a policy from JSON and validates it (Validate, not
// Verify: call Verify before trusting it). It refuses documents larger than
// MaxPolicyJSON, unknown fields, field names that differ from the documented
// ones only in case, repeated fields and trailing data. A missing or null
// safety_tags means no tags. Errors wrap ErrBadPolicy.
func DecodePolicy(b []byte) (Policy, error) {
	if len(b) > MaxPolicyJSON {
		return Policy{}, fmt.Errorf("decode policy: %w: %d bytes of JSON, limit %d", ErrBadPolicy, len(b), MaxPolicyJSON)
	}
	if err := checkPolicyKeys(b); err != nil {
		return Policy{}, fmt.Errorf("decode policy: %w: %w", ErrBadPolicy, err)
	}
	var p Policy
	if err := canon.DecodeJSON(b, &p); err != nil {
		return Policy{}, fmt.Errorf("decode policy: %w: %w", ErrBadPolicy, err)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("decode policy: %w", err)
	}
	return p, nil
}

// jsonFields lists the keys an object may have, each with the fields of
// its value when that is an object too (nil: not an object).
type jsonFields map[string]jsonFields

var policyJSONFields = jsonFields{
	"version":      nil,
	"asset_id":     nil,
	"license":      nil,
	"distribution": {"mode": nil, "r": nil, "k": nil, "n": nil},
	"safety_tags":  nil,
	"node_id":      nil,
	"verify_key":   nil,
	"signature":    nil,
}

// checkPolicyKeys walks the JSON in b and refuses repeated keys in any
// object and, in the policy and distribution objects, keys other than the
// documented ones, compared exactly. encoding/json alone would take the last
// of repeated keys and match names regardless of case, so a document could
// mean one thing to this decoder and another to a stricter one. Value types
// are left to encoding/json.
func checkPolicyKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return walkJSON(dec, policyJSONFields, 0)
}

// maxJSONDepth bounds walkJSON's recursion; a policy nests two levels deep.
const maxJSONDepth = 4

func walkJSON(dec *json.Decoder, fields jsonFields, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar; its type is checked when decoding
	}
	if depth >= maxJSONDepth {
		return errors.New("JSON nested too deeply")
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string) // object keys are strings, or Token fails
			if seen[key] {
				return fmt.Errorf("field %q appears twice", key)
			}
			seen[key] = true
			var sub jsonFields
			if fields != nil {
				var ok bool
				if sub, ok = fields[key]; !ok {
					return fmt.Errorf("unknown field %q", key)
				}
			}
			if err := walkJSON(dec, sub, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walkJSON(dec, nil, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
