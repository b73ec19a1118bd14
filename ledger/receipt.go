package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
	"github.com/offgrid-net/offgrid/internal/fixed"
)

// Receipt format versions. Version 1 names no consumer and can never be
// paid; version 2 adds the consumer and the unit price, and can carry the
// consumer's acceptance. Both verify.
const (
	// ReceiptVersion is receipt format version 1.
	ReceiptVersion = "0.1"
	// ReceiptVersion2 is receipt format version 2.
	ReceiptVersion2 = "0.2"
)

// ReceiptDomain is the signature domain of receipts (see package identity:
// the signed message is ReceiptDomain || 0x00 || canonical bytes). Both
// versions use it; the format byte of the canonical bytes tells them apart.
const ReceiptDomain = "offgrid/receipt/v1"

// AcceptDomain is the signature domain of a consumer's acceptance: the
// signed message is AcceptDomain || 0x00 || the receipt's [Receipt.ID].
const AcceptDomain = "offgrid/receipt-accept/v1"

// Resource types a receipt may account for.
const (
	// ResourceCompute is the resource type of a compute job.
	ResourceCompute = "compute"
	// ResourceStorage is the resource type of stored data.
	ResourceStorage = "storage"
)

// Limits on receipt fields, enforced by [Receipt.Validate].
const (
	// MaxIDLen is the longest job_id or cluster_id, in bytes.
	MaxIDLen = 128
	// MaxMetrics is the most metrics a receipt may carry.
	MaxMetrics = 64
	// MaxMetricKeyLen is the longest metric name, in bytes.
	MaxMetricKeyLen = 64
	// MaxListLen is the most entries in proofs or cids.
	MaxListLen = 64
	// MaxListEntryLen is the longest entry of proofs or cids, in bytes.
	MaxListEntryLen = 256
	// MaxReceiptJSON is the largest receipt JSON document DecodeReceipt reads.
	MaxReceiptJSON = 64 << 10
)

// Errors callers act on. Every error from this package about a receipt wraps
// one of them.
var (
	// ErrInvalidReceipt reports a receipt whose fields are malformed or out
	// of range.
	ErrInvalidReceipt = errors.New("invalid receipt")
	// ErrBadSignature reports a receipt that is unsigned, signed by a key
	// other than its node's, or whose signature does not verify.
	ErrBadSignature = errors.New("bad receipt signature")
	// ErrBadAcceptance reports a receipt whose acceptance is missing where
	// one is needed, or is not its consumer's signature of the receipt.
	ErrBadAcceptance = errors.New("bad receipt acceptance")
	// ErrUnknownReceipt reports an acceptance of a receipt the store does
	// not hold.
	ErrUnknownReceipt = errors.New("unknown receipt")
	// ErrDuplicateJob reports a second receipt for a job and resource the
	// node already signed one for.
	ErrDuplicateJob = errors.New("a receipt for this job already exists")
)

// canonicalMagic starts every canonical encoding; canonicalFormat follows it.
const (
	canonicalMagic   = "OGRC"
	canonicalFormat  = 0x01
	canonicalFormat2 = 0x02
)

// Receipt records that a node provided an amount of compute or storage for a
// job. The zero value is not valid; fill in the fields and sign it with
// [SignReceipt] or [Store.SignAndAppend].
type Receipt struct {
	// Version is the receipt format version, ReceiptVersion or
	// ReceiptVersion2.
	Version string `json:"version"`
	// ClusterID names the cluster the work was done for; it may be empty.
	ClusterID string `json:"cluster_id"`
	// ResourceType is ResourceCompute or ResourceStorage.
	ResourceType string `json:"resource_type"`
	// JobID identifies the job; it is never empty.
	JobID string `json:"job_id"`
	// Units is the amount provided, in micro-units. In JSON it is the
	// decimal string field "units", e.g. "0.1".
	Units int64 `json:"-"`
	// Metrics are named measurements (finite numbers only).
	Metrics map[string]float64 `json:"metrics"`
	// Proofs are opaque evidence strings, e.g. result hashes.
	Proofs []string `json:"proofs"`
	// CIDs are the content IDs the receipt concerns.
	CIDs []string `json:"cids"`
	// Seq is the node's receipt sequence number: 1, 2, 3, ...
	Seq uint64 `json:"seq"`
	// IssuedAt is the signer's clock in unix milliseconds. It is
	// informational only, because clocks drift.
	IssuedAt int64 `json:"issued_at"`
	// NodeID is the signer: the did:key of VerifyKey.
	NodeID identity.NodeID `json:"node_id"`
	// VerifyKey is the signer's Ed25519 public key in lower-case hex.
	VerifyKey string `json:"verify_key"`
	// Signature is the Ed25519 signature in lower-case hex (see the package
	// comment for what it covers).
	Signature string `json:"signature"`
	// ConsumerID is the node the work was done for, who pays for it
	// (version 2 only; empty in version 1).
	ConsumerID identity.NodeID `json:"-"`
	// UnitPrice is the price in micro-credits of one unit (1_000_000
	// micro-units), version 2 only. In JSON it is the decimal string field
	// "unit_price".
	UnitPrice int64 `json:"-"`
	// Acceptance is the consumer's Ed25519 signature in lower-case hex of
	// the receipt's ID (domain AcceptDomain), version 2 only; empty until
	// the consumer accepts. It is not covered by Signature or by the leaf
	// hash, so a receipt keeps its ID and its place in a batch when it is
	// accepted.
	Acceptance string `json:"-"`
}

// receiptJSON is the wire form of a Receipt.
type receiptJSON struct {
	Version      string             `json:"version"`
	ClusterID    string             `json:"cluster_id"`
	ResourceType string             `json:"resource_type"`
	JobID        string             `json:"job_id"`
	Units        string             `json:"units"`
	Metrics      map[string]float64 `json:"metrics"`
	Proofs       []string           `json:"proofs"`
	CIDs         []string           `json:"cids"`
	Seq          uint64             `json:"seq"`
	IssuedAt     int64              `json:"issued_at"`
	NodeID       identity.NodeID    `json:"node_id"`
	VerifyKey    string             `json:"verify_key"`
	Signature    string             `json:"signature"`
	ConsumerID   identity.NodeID    `json:"consumer_id,omitempty"`
	UnitPrice    string             `json:"unit_price,omitempty"`
	Acceptance   string             `json:"acceptance,omitempty"`
}

// MarshalJSON encodes r with units as a decimal string and nil lists and
// maps as [] and {}. The output is deterministic (map keys are sorted).
// consumer_id and unit_price appear in version 2 receipts only, and
// acceptance once there is one, so version 1 JSON is unchanged.
func (r Receipt) MarshalJSON() ([]byte, error) {
	w := receiptJSON{
		Version:      r.Version,
		ClusterID:    r.ClusterID,
		ResourceType: r.ResourceType,
		JobID:        r.JobID,
		Units:        fixed.Format(r.Units),
		Metrics:      r.Metrics,
		Proofs:       r.Proofs,
		CIDs:         r.CIDs,
		Seq:          r.Seq,
		IssuedAt:     r.IssuedAt,
		NodeID:       r.NodeID,
		VerifyKey:    r.VerifyKey,
		Signature:    r.Signature,
		ConsumerID:   r.ConsumerID,
		Acceptance:   r.Acceptance,
	}
	if r.Version != ReceiptVersion {
		w.UnitPrice = fixed.Format(r.UnitPrice)
	}
	if w.Metrics == nil {
		w.Metrics = map[string]float64{}
	}
	if w.Proofs == nil {
		w.Proofs = []string{}
	}
	if w.CIDs == nil {
		w.CIDs = []string{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the wire form strictly: unknown fields, trailing
// data and a missing or malformed units string are errors, which wrap
// ErrInvalidReceipt. It does not validate the fields; DecodeReceipt does.
func (r *Receipt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var w receiptJSON
	if err := canon.DecodeJSON(b, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidReceipt, err)
	}
	units, err := fixed.Parse(w.Units)
	if err != nil {
		return fmt.Errorf("%w: units: %w", ErrInvalidReceipt, err)
	}
	var price int64
	if w.UnitPrice != "" {
		if price, err = fixed.Parse(w.UnitPrice); err != nil {
			return fmt.Errorf("%w: unit_price: %w", ErrInvalidReceipt, err)
		}
		if w.Version == ReceiptVersion {
			return fmt.Errorf("%w: a version %s receipt has no unit_price", ErrInvalidReceipt, ReceiptVersion)
		}
	} else if w.Version == ReceiptVersion2 {
		return fmt.Errorf("%w: a version %s receipt needs unit_price", ErrInvalidReceipt, ReceiptVersion2)
	}
	*r = Receipt{
		Version:      w.Version,
		ClusterID:    w.ClusterID,
		ResourceType: w.ResourceType,
		JobID:        w.JobID,
		Units:        units,
		Metrics:      w.Metrics,
		Proofs:       w.Proofs,
		CIDs:         w.CIDs,
		Seq:          w.Seq,
		IssuedAt:     w.IssuedAt,
		NodeID:       w.NodeID,
		VerifyKey:    w.VerifyKey,
		Signature:    w.Signature,
		ConsumerID:   w.ConsumerID,
		UnitPrice:    price,
		Acceptance:   w.Acceptance,
	}
	return nil
}

// DecodeReceipt parses a receipt from JSON (strictly: at most
// MaxReceiptJSON bytes, no unknown fields, no trailing data) and validates
// it. It does not check the signature; call Verify for that.
func DecodeReceipt(b []byte) (Receipt, error) {
	if len(b) > MaxReceiptJSON {
		return Receipt{}, fmt.Errorf("%w: %d bytes of JSON, limit %d", ErrInvalidReceipt, len(b), MaxReceiptJSON)
	}
	var r Receipt
	if err := canon.DecodeJSON(b, &r); err != nil {
		if errors.Is(err, ErrInvalidReceipt) {
			return Receipt{}, fmt.Errorf("decode receipt: %w", err)
		}
		return Receipt{}, fmt.Errorf("decode receipt: %w: %w", ErrInvalidReceipt, err)
	}
	if err := r.Validate(); err != nil {
		return Receipt{}, err
	}
	return r, nil
}

// Validate checks the fields of r: the version, the resource type, the
// lengths of IDs, lists and metric names, non-negative units, finite metric
// values and valid UTF-8. NodeID, VerifyKey and Signature may be empty (an
// unsigned receipt), but when set they must be well formed. Errors wrap
// ErrInvalidReceipt.
func (r Receipt) Validate() error {
	return r.validate(true)
}

// validate is Validate; parseNodeID false skips parsing NodeID (a base58
// big-number decode) for callers that compare it with a known-good ID.
func (r Receipt) validate(parseNodeID bool) error {
	if err := r.checkFields(parseNodeID); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidReceipt, err)
	}
	return nil
}

func (r Receipt) checkFields(parseNodeID bool) error {
	switch r.Version {
	case ReceiptVersion:
		if r.ConsumerID != "" || r.UnitPrice != 0 || r.Acceptance != "" {
			return fmt.Errorf("a version %s receipt has no consumer_id, unit_price or acceptance", ReceiptVersion)
		}
	case ReceiptVersion2:
		if err := r.checkV2(parseNodeID); err != nil {
			return err
		}
	default:
		return fmt.Errorf("version %q, want %q or %q", r.Version, ReceiptVersion, ReceiptVersion2)
	}
	if r.ResourceType != ResourceCompute && r.ResourceType != ResourceStorage {
		return fmt.Errorf("resource_type %q, want %q or %q", r.ResourceType, ResourceCompute, ResourceStorage)
	}
	if r.JobID == "" {
		return errors.New("empty job_id")
	}
	if err := checkString("job_id", r.JobID, MaxIDLen); err != nil {
		return err
	}
	if err := checkString("cluster_id", r.ClusterID, MaxIDLen); err != nil {
		return err
	}
	if r.Units < 0 {
		return fmt.Errorf("negative units %s", fixed.Format(r.Units))
	}
	if len(r.Metrics) > MaxMetrics {
		return fmt.Errorf("%d metrics, limit %d", len(r.Metrics), MaxMetrics)
	}
	for k, v := range r.Metrics {
		if k == "" {
			return errors.New("empty metric name")
		}
		if err := checkString("metric name", k, MaxMetricKeyLen); err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metric %q is not finite", k)
		}
	}
	if err := checkList("proofs", r.Proofs); err != nil {
		return err
	}
	if err := checkList("cids", r.CIDs); err != nil {
		return err
	}
	if parseNodeID && r.NodeID != "" {
		if _, err := r.NodeID.PublicKey(); err != nil {
			return fmt.Errorf("node_id: %w", err)
		}
	}
	if r.VerifyKey != "" {
		if _, err := canon.LowerHex(r.VerifyKey, ed25519.PublicKeySize); err != nil {
			return fmt.Errorf("verify_key: %w", err)
		}
	}
	if r.Signature != "" {
		if _, err := canon.LowerHex(r.Signature, ed25519.SignatureSize); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
	}
	return nil
}

// checkV2 checks the fields only version 2 has.
func (r Receipt) checkV2(parseNodeID bool) error {
	if r.ConsumerID == "" {
		return errors.New("empty consumer_id")
	}
	if len(r.ConsumerID) > MaxIDLen {
		return fmt.Errorf("consumer_id is %d bytes, limit %d", len(r.ConsumerID), MaxIDLen)
	}
	if parseNodeID {
		if _, err := r.ConsumerID.PublicKey(); err != nil {
			return fmt.Errorf("consumer_id: %w", err)
		}
	}
	if r.UnitPrice < 0 {
		return fmt.Errorf("negative unit_price %s", fixed.Format(r.UnitPrice))
	}
	if r.Acceptance != "" {
		if _, err := canon.LowerHex(r.Acceptance, ed25519.SignatureSize); err != nil {
			return fmt.Errorf("acceptance: %w", err)
		}
	}
	return nil
}

func checkString(field, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes, limit %d", field, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}

func checkList(field string, xs []string) error {
	if len(xs) > MaxListLen {
		return fmt.Errorf("%d %s, limit %d", len(xs), field, MaxListLen)
	}
	for i, x := range xs {
		if err := checkString(field, x, MaxListEntryLen); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// CanonicalBytes returns the canonical encoding of r (version 1 or 2, as
// r.Version says), the message that is signed (see the package comment for the layout). It covers every
// field except Signature. r must be valid and carry a verify key; errors wrap
// ErrInvalidReceipt.
func (r Receipt) CanonicalBytes() ([]byte, error) {
	return r.canonical(true)
}

func (r Receipt) canonical(parseNodeID bool) ([]byte, error) {
	if err := r.validate(parseNodeID); err != nil {
		return nil, err
	}
	key, err := canon.LowerHex(r.VerifyKey, ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("%w: verify_key: %w", ErrInvalidReceipt, err)
	}
	return r.appendCanonical(key), nil
}

// appendCanonical encodes r, which must be valid, with the raw verify key.
func (r Receipt) appendCanonical(key []byte) []byte {
	size := len(canonicalMagic) + 1 + 4*4 + len(r.Version) + len(r.ClusterID) + len(r.ResourceType) + len(r.JobID) +
		8 + 4 + 2*4 + 2*8 + 4 + len(r.NodeID) + len(key) +
		4 + len(r.ConsumerID) + 8 + // version 2's fields
		ed25519.SignatureSize // room for Leaf to append the signature
	for k := range r.Metrics {
		size += 4 + len(k) + 8
	}
	for _, s := range r.Proofs {
		size += 4 + len(s)
	}
	for _, s := range r.CIDs {
		size += 4 + len(s)
	}
	b := make([]byte, 0, size)
	b = append(b, canonicalMagic...)
	v2 := r.Version == ReceiptVersion2
	if v2 {
		b = append(b, canonicalFormat2)
	} else {
		b = append(b, canonicalFormat)
	}
	b = canon.AppendString(b, r.Version)
	b = canon.AppendString(b, r.ClusterID)
	b = canon.AppendString(b, r.ResourceType)
	b = canon.AppendString(b, r.JobID)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Units))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Metrics)))
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		b = canon.AppendString(b, k)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Metrics[k]))
	}
	b = canon.AppendStrings(b, r.Proofs)
	b = canon.AppendStrings(b, r.CIDs)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.IssuedAt))
	b = canon.AppendString(b, string(r.NodeID))
	b = append(b, key...)
	if v2 {
		b = canon.AppendString(b, string(r.ConsumerID))
		b = binary.BigEndian.AppendUint64(b, uint64(r.UnitPrice))
	}
	return b
}

// SignReceipt validates r, sets its NodeID and VerifyKey to k's, clears any
// acceptance (it was of other bytes), and returns it signed. The result does not share maps or slices with r, so later
// changes to r's metrics or lists cannot break its signature.
func SignReceipt(k *identity.Keys, r Receipt) (Receipt, error) {
	r.NodeID = k.ID()
	r.VerifyKey = hex.EncodeToString(k.SignPublic())
	r.Signature = ""
	r.Acceptance = ""
	r.Metrics = maps.Clone(r.Metrics)
	r.Proofs = slices.Clone(r.Proofs)
	r.CIDs = slices.Clone(r.CIDs)
	msg, err := r.canonical(false) // NodeID was just derived from the key
	if err != nil {
		return Receipt{}, fmt.Errorf("sign receipt for job %q: %w", r.JobID, err)
	}
	r.Signature = hex.EncodeToString(k.Sign(ReceiptDomain, msg))
	return r, nil
}

// Verify checks that r is valid, that NodeID is the did:key of VerifyKey,
// that Signature is VerifyKey's signature of r's canonical bytes and, when r
// carries an acceptance, that it is ConsumerID's signature of r's ID. Errors
// wrap ErrInvalidReceipt, ErrBadSignature or ErrBadAcceptance.
func (r Receipt) Verify() error {
	_, err := r.verified(nil)
	return err
}

// idCache remembers the node ID of the last verify key, so that verifying a
// run of one node's receipts encodes the did:key once.
type idCache struct {
	key string
	id  identity.NodeID
}

func (c *idCache) nodeID(pub []byte) identity.NodeID {
	if c != nil && c.id != "" && c.key == string(pub) {
		return c.id
	}
	id := identity.NodeIDFromPublicKey(pub)
	if c != nil {
		c.key, c.id = string(pub), id
	}
	return id
}

// verified verifies r and returns its canonical bytes. NodeID is checked by
// comparing it with the did:key of VerifyKey, which implies it parses.
func (r Receipt) verified(ids *idCache) ([]byte, error) {
	if err := r.validate(false); err != nil {
		return nil, err
	}
	if r.Signature == "" || r.VerifyKey == "" || r.NodeID == "" {
		return nil, fmt.Errorf("%w: receipt is not signed", ErrBadSignature)
	}
	pub, err := canon.LowerHex(r.VerifyKey, ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("%w: verify_key: %w", ErrInvalidReceipt, err)
	}
	if id := ids.nodeID(pub); id != r.NodeID {
		return nil, fmt.Errorf("%w: verify_key belongs to %s, not node_id %s", ErrBadSignature, id, r.NodeID)
	}
	sig, err := canon.LowerHex(r.Signature, ed25519.SignatureSize)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrInvalidReceipt, err)
	}
	msg := r.appendCanonical(pub)
	if !identity.Verify(pub, ReceiptDomain, msg, sig) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrBadSignature)
	}
	if r.Acceptance != "" {
		if err := r.verifyAcceptance(sha256.Sum256(msg)); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// ID returns the receipt's identity for payment: SHA-256 of its canonical
// bytes. It leaves out the signature (an Ed25519 signer can make several
// valid signatures of one message, and a payment must not depend on which
// one travelled) and the acceptance. A host that signs the same job twice
// makes two IDs, but a consumer accepts only the receipts of its own
// requests.
func (r Receipt) ID() ([32]byte, error) {
	msg, err := r.canonical(true)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(msg), nil
}

// Accept returns r carrying k's acceptance: k must be r's consumer and r a
// version 2 receipt whose host signature verifies. Errors wrap
// ErrInvalidReceipt, ErrBadSignature or ErrBadAcceptance.
func Accept(k *identity.Keys, r Receipt) (Receipt, error) {
	if r.Version != ReceiptVersion2 {
		return Receipt{}, fmt.Errorf("%w: a version %s receipt names no consumer", ErrBadAcceptance, r.Version)
	}
	if r.ConsumerID != k.ID() {
		return Receipt{}, fmt.Errorf("%w: the receipt's consumer is %s, not %s", ErrBadAcceptance, r.ConsumerID, k.ID())
	}
	r.Acceptance = ""
	msg, err := r.verified(nil)
	if err != nil {
		return Receipt{}, fmt.Errorf("accept receipt %d of %s: %w", r.Seq, r.NodeID, err)
	}
	id := sha256.Sum256(msg)
	r.Acceptance = hex.EncodeToString(k.Sign(AcceptDomain, id[:]))
	return r, nil
}

// VerifyAccepted checks r as Verify does and also that it is a version 2
// receipt that carries its consumer's acceptance: a receipt that may be paid.
func (r Receipt) VerifyAccepted() error {
	if r.Version != ReceiptVersion2 || r.Acceptance == "" {
		return fmt.Errorf("%w: receipt %d of %s is not accepted by a consumer", ErrBadAcceptance, r.Seq, r.NodeID)
	}
	return r.Verify()
}

// verifyAcceptance checks that Acceptance is ConsumerID's signature of id.
func (r Receipt) verifyAcceptance(id [32]byte) error {
	pub, err := r.ConsumerID.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: consumer_id: %w", ErrInvalidReceipt, err)
	}
	sig, err := canon.LowerHex(r.Acceptance, ed25519.SignatureSize)
	if err != nil {
		return fmt.Errorf("%w: acceptance: %w", ErrInvalidReceipt, err)
	}
	if !identity.Verify(pub, AcceptDomain, id[:], sig) {
		return fmt.Errorf("%w: acceptance is not %s's signature of the receipt", ErrBadAcceptance, r.ConsumerID)
	}
	return nil
}

// Reward returns what the receipt is worth in micro-credits: units x unit
// price, rounded down (units are micro-units, so the product is divided by
// 1_000_000). It fails when the result does not fit an int64.
func (r Receipt) Reward() (int64, error) {
	if r.Units < 0 || r.UnitPrice < 0 {
		return 0, fmt.Errorf("%w: negative units or unit_price", ErrInvalidReceipt)
	}
	hi, lo := bits.Mul64(uint64(r.Units), uint64(r.UnitPrice))
	if hi >= fixed.Scale {
		return 0, fmt.Errorf("%w: reward of %s units at %s overflows", ErrInvalidReceipt, fixed.Format(r.Units), fixed.Format(r.UnitPrice))
	}
	q, _ := bits.Div64(hi, lo, fixed.Scale)
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("%w: reward of %s units at %s overflows", ErrInvalidReceipt, fixed.Format(r.Units), fixed.Format(r.UnitPrice))
	}
	return int64(q), nil
}

// Leaf returns r's Merkle leaf hash: LeafHash(canonical bytes || raw
// signature), so a batch commits to signatures too. It checks that r is
// valid and carries a well-formed signature, but not that the signature
// verifies.
func (r Receipt) Leaf() ([32]byte, error) {
	return r.leaf(true)
}

func (r Receipt) leaf(parseNodeID bool) ([32]byte, error) {
	msg, err := r.canonical(parseNodeID)
	if err != nil {
		return [32]byte{}, err
	}
	sig, err := canon.LowerHex(r.Signature, ed25519.SignatureSize)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: signature: %w", ErrInvalidReceipt, err)
	}
	return LeafHash(append(msg, sig...)), nil
}
