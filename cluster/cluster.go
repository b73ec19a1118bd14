package cluster

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
)

// Domain is the signature domain of cluster documents.
const Domain = "offgrid/cluster/v1"

// Bounds of a document. They keep a document small enough to fetch over a
// slow link and to hold in memory on every node.
const (
	MaxAdmins     = 16
	MaxMembers    = 1024
	MaxRevoked    = 4096
	MaxNameBytes  = 64
	MaxSignatures = 2 * MaxAdmins
	// MaxWitnesses bounds the witness set: every transfer carries one vote
	// per witness it needs, and a certificate must fit in one request.
	MaxWitnesses = 64
	// MaxWeight bounds one witness's weight so that a total of MaxWitnesses
	// weights, times 3, never overflows.
	MaxWeight = 1_000_000
	// MaxAllocs bounds the genesis allocations.
	MaxAllocs = 1024
	// MaxSupply bounds the sum of genesis allocations (micro-credits,
	// 10^15 credits): balances and fees added to it never overflow int64.
	MaxSupply = int64(1) << 60
	// MaxFee bounds tx_fee_max (micro-credits: one million credits).
	MaxFee = int64(1_000_000_000_000)
	// MaxHostReserveBP is host_reserve's largest value: 100 %.
	MaxHostReserveBP = 10_000
	// DefaultHostReserveBP is host_reserve when an operator sets none: 1 %.
	DefaultHostReserveBP = 100
	// MaxSize is the largest encoded document: every list full.
	MaxSize = headerSize + 2 + MaxAdmins*keySize + 2 + MaxMembers*(keySize+1+MaxNameBytes) +
		2 + MaxRevoked*keySize + economySize + 1 + MaxSignatures*(keySize+sigSize)
	economySize = 8 + 2 + MaxWitnesses*(keySize+8) + 8 + 8 + 2 + 2 + MaxAllocs*(keySize+8)
)

const (
	magic    = "OGCL"
	version1 = 0x01
	// version2 adds the economy (epoch, witnesses, fees, host reserve,
	// genesis). A document without an economy still encodes as version 1,
	// so documents signed before version 2 keep their bytes and signatures.
	version2   = 0x02
	keySize    = ed25519.PublicKeySize
	sigSize    = ed25519.SignatureSize
	headerSize = len(magic) + 1 + len(ID{}) + 8 + 1
)

// ErrInvalid reports a document that is malformed, not canonical or badly
// signed. ErrNotSuccessor reports a valid document that may not replace the
// current one.
var (
	ErrInvalid      = errors.New("invalid cluster document")
	ErrNotSuccessor = errors.New("not a successor of the current cluster document")
)

// ID names a cluster.
type ID [16]byte

// NewID returns a random cluster ID read from r (crypto/rand.Reader outside
// tests).
func NewID(r io.Reader) (ID, error) {
	var id ID
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return ID{}, fmt.Errorf("read cluster ID: %w", err)
	}
	return id, nil
}

// ParseID parses the 32 hex digits of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) || hex.EncodeToString(b) != s {
		return ID{}, fmt.Errorf("%w: cluster ID must be 32 lower-case hex digits", ErrInvalid)
	}
	copy(id[:], b)
	return id, nil
}

// String returns the ID as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Member is an admitted node.
type Member struct {
	ID   identity.NodeID
	Name string
}

// Signature is one admin's signature of a document's body.
type Signature struct {
	Signer identity.NodeID
	Sig    []byte
}

// Witness is a member that co-signs transactions, with its voting weight.
type Witness struct {
	ID     identity.NodeID
	Weight uint64
}

// Alloc is a genesis allocation: micro-credits an account starts with.
type Alloc struct {
	ID     identity.NodeID
	Amount int64
}

// Economy is the part of the document the economy package reads. It is
// absent (no witnesses) in a cluster without money.
type Economy struct {
	// Epoch numbers the witness set: it is 1 at genesis and rises by one
	// with every change of witnesses or weights.
	Epoch     uint64
	Witnesses []Witness
	// TxFeeMin and TxFeeMax bound a transaction's fee (micro-credits).
	TxFeeMin, TxFeeMax int64
	// HostReserveBP is the share of a settlement paid to the system
	// account, in basis points (100 = 1 %).
	HostReserveBP uint16
	Genesis       []Alloc
}

// Enabled reports whether the cluster has an economy.
func (e Economy) Enabled() bool { return len(e.Witnesses) > 0 }

// TotalWeight is the sum of the witnesses' weights.
func (e Economy) TotalWeight() uint64 {
	var w uint64
	for _, x := range e.Witnesses {
		w += x.Weight
	}
	return w
}

// Weight returns id's witness weight (0 when id is no witness).
func (e Economy) Weight(id identity.NodeID) uint64 {
	for _, x := range e.Witnesses {
		if x.ID == id {
			return x.Weight
		}
	}
	return 0
}

// sameEpoch reports whether e and o may be of one epoch: the same
// witnesses and weights, fee bounds and host reserve (a committee's rules
// are fixed for its epoch).
func (e Economy) sameEpoch(o Economy) bool {
	return slices.Equal(e.Witnesses, o.Witnesses) && e.TxFeeMin == o.TxFeeMin && e.TxFeeMax == o.TxFeeMax &&
		e.HostReserveBP == o.HostReserveBP
}

func (e Economy) clone() Economy {
	e.Witnesses = slices.Clone(e.Witnesses)
	e.Genesis = slices.Clone(e.Genesis)
	return e
}

// Document is one version of a cluster's membership. Lists are kept
// sorted by key (Normalize); use the With* methods to derive the next
// version.
type Document struct {
	ID         ID
	Serial     uint64
	Threshold  int
	Admins     []identity.NodeID
	Members    []Member
	Revoked    []identity.NodeID
	Economy    Economy
	Signatures []Signature
}

// New returns the first version (serial 1, unsigned) of a cluster with the
// given admins and threshold and the given members.
func New(id ID, admins []identity.NodeID, threshold int, members []Member) (Document, error) {
	d := Document{ID: id, Serial: 1, Threshold: threshold, Admins: slices.Clone(admins), Members: slices.Clone(members)}
	d.normalize()
	if _, err := d.Body(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// key returns the raw public key of id, or an error naming what.
func key(what string, id identity.NodeID) ([]byte, error) {
	pub, err := id.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %v", ErrInvalid, what, id, err)
	}
	return pub, nil
}

func keyOf(id identity.NodeID) []byte {
	pub, err := id.PublicKey()
	if err != nil {
		return []byte(id) // sorts bad IDs somewhere; Body refuses them
	}
	return pub
}

// normalize sorts the lists into their canonical order.
func (d *Document) normalize() {
	byKey := func(a, b identity.NodeID) int { return bytes.Compare(keyOf(a), keyOf(b)) }
	slices.SortFunc(d.Admins, byKey)
	slices.SortFunc(d.Revoked, byKey)
	slices.SortFunc(d.Members, func(a, b Member) int { return byKey(a.ID, b.ID) })
	slices.SortFunc(d.Signatures, func(a, b Signature) int { return byKey(a.Signer, b.Signer) })
	slices.SortFunc(d.Economy.Witnesses, func(a, b Witness) int { return byKey(a.ID, b.ID) })
	slices.SortFunc(d.Economy.Genesis, func(a, b Alloc) int { return byKey(a.ID, b.ID) })
}

// IsMember reports whether id is admitted (and not revoked).
func (d Document) IsMember(id identity.NodeID) bool {
	_, ok := d.Member(id)
	return ok
}

// Member returns the member with ID id.
func (d Document) Member(id identity.NodeID) (Member, bool) {
	for _, m := range d.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// IsAdmin reports whether id is one of the document's admins.
func (d Document) IsAdmin(id identity.NodeID) bool { return slices.Contains(d.Admins, id) }

// IsRevoked reports whether id was revoked.
func (d Document) IsRevoked(id identity.NodeID) bool { return slices.Contains(d.Revoked, id) }

// next returns an unsigned copy with the serial raised.
func (d Document) next() Document {
	return Document{ID: d.ID, Serial: d.Serial + 1, Threshold: d.Threshold, Admins: slices.Clone(d.Admins),
		Members: slices.Clone(d.Members), Revoked: slices.Clone(d.Revoked), Economy: d.Economy.clone()}
}

// WithEconomy returns the next version (unsigned) with economy e. The
// epoch is not the caller's to choose: it is 1 when the cluster had no
// economy, one more when the witnesses, their weights, the fee bounds or
// the host reserve change, and unchanged otherwise. Genesis allocations are fixed once the economy
// exists: changing them would create or destroy money.
func (d Document) WithEconomy(e Economy) (Document, error) {
	n := d.next()
	n.Economy = e.clone()
	n.normalize()
	switch {
	case !d.Economy.Enabled():
		n.Economy.Epoch = 1
	case !n.Economy.Enabled():
		return Document{}, fmt.Errorf("%w: an economy cannot be removed", ErrInvalid)
	case !slices.Equal(n.Economy.Genesis, d.Economy.Genesis):
		return Document{}, fmt.Errorf("%w: genesis allocations cannot change", ErrInvalid)
	case n.Economy.sameEpoch(d.Economy):
		n.Economy.Epoch = d.Economy.Epoch
	default:
		n.Economy.Epoch = d.Economy.Epoch + 1
	}
	if _, err := n.Body(); err != nil {
		return Document{}, err
	}
	return n, nil
}

// WithMember returns the next version (unsigned) admitting id under name,
// or renaming it. A revoked node cannot be admitted again: its key may be
// in a stranger's hands.
func (d Document) WithMember(id identity.NodeID, name string) (Document, error) {
	if d.IsRevoked(id) {
		return Document{}, fmt.Errorf("%w: %s was revoked; a revoked node needs a new key", ErrInvalid, id)
	}
	n := d.next()
	n.Members = slices.DeleteFunc(n.Members, func(m Member) bool { return m.ID == id })
	n.Members = append(n.Members, Member{ID: id, Name: name})
	n.normalize()
	if _, err := n.Body(); err != nil {
		return Document{}, err
	}
	return n, nil
}

// WithRevoked returns the next version (unsigned) without id as a member
// or admin and with id revoked. Revoking an admin lowers the threshold if
// it would exceed the remaining admins; the last admin cannot be revoked.
func (d Document) WithRevoked(id identity.NodeID) (Document, error) {
	if d.IsRevoked(id) {
		return Document{}, fmt.Errorf("%w: %s is already revoked", ErrInvalid, id)
	}
	n := d.next()
	n.Members = slices.DeleteFunc(n.Members, func(m Member) bool { return m.ID == id })
	n.Admins = slices.DeleteFunc(n.Admins, func(a identity.NodeID) bool { return a == id })
	if len(n.Admins) == 0 {
		return Document{}, fmt.Errorf("%w: cannot revoke the last admin", ErrInvalid)
	}
	n.Threshold = min(n.Threshold, len(n.Admins))
	n.Revoked = append(n.Revoked, id)
	n.normalize()
	if _, err := n.Body(); err != nil {
		return Document{}, err
	}
	return n, nil
}

// WithAdmins returns the next version (unsigned) with a new admin set and
// threshold. A threshold of the current admins must still sign it.
func (d Document) WithAdmins(admins []identity.NodeID, threshold int) (Document, error) {
	n := d.next()
	n.Admins, n.Threshold = slices.Clone(admins), threshold
	n.normalize()
	if _, err := n.Body(); err != nil {
		return Document{}, err
	}
	return n, nil
}

// Body returns the canonical bytes that admins sign, after checking every
// field against the rules of the package comment.
func (d Document) Body() ([]byte, error) {
	if err := d.checkFields(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, headerSize+6+keySize*(len(d.Admins)+len(d.Revoked))+len(d.Members)*(keySize+1+MaxNameBytes))
	b = append(b, magic...)
	if d.Economy.Enabled() {
		b = append(b, version2)
	} else {
		b = append(b, version1)
	}
	b = append(b, d.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, d.Serial)
	b = append(b, byte(d.Threshold))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Admins)))
	for _, a := range d.Admins {
		b = append(b, keyOf(a)...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Members)))
	for _, m := range d.Members {
		b = append(b, keyOf(m.ID)...)
		b = append(b, byte(len(m.Name)))
		b = append(b, m.Name...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Revoked)))
	for _, r := range d.Revoked {
		b = append(b, keyOf(r)...)
	}
	if e := d.Economy; e.Enabled() {
		b = binary.BigEndian.AppendUint64(b, e.Epoch)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Witnesses)))
		for _, w := range e.Witnesses {
			b = append(b, keyOf(w.ID)...)
			b = binary.BigEndian.AppendUint64(b, w.Weight)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(e.TxFeeMin))
		b = binary.BigEndian.AppendUint64(b, uint64(e.TxFeeMax))
		b = binary.BigEndian.AppendUint16(b, e.HostReserveBP)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Genesis)))
		for _, a := range e.Genesis {
			b = append(b, keyOf(a.ID)...)
			b = binary.BigEndian.AppendUint64(b, uint64(a.Amount))
		}
	}
	return b, nil
}

// checkEconomy checks the economy's fields (an absent economy must be all
// zero, so that it has one encoding: version 1).
func (d Document) checkEconomy() error {
	e := d.Economy
	if !e.Enabled() {
		if e.Epoch != 0 || e.TxFeeMin != 0 || e.TxFeeMax != 0 || e.HostReserveBP != 0 || len(e.Genesis) != 0 {
			return fmt.Errorf("%w: economy fields without witnesses", ErrInvalid)
		}
		return nil
	}
	switch {
	case e.Epoch == 0:
		return fmt.Errorf("%w: epoch must be at least 1", ErrInvalid)
	case len(e.Witnesses) > MaxWitnesses:
		return fmt.Errorf("%w: %d witnesses, at most %d", ErrInvalid, len(e.Witnesses), MaxWitnesses)
	case e.TxFeeMin < 0 || e.TxFeeMin > e.TxFeeMax || e.TxFeeMax > MaxFee:
		return fmt.Errorf("%w: fees %d..%d, want 0 <= tx_fee_min <= tx_fee_max <= %d", ErrInvalid, e.TxFeeMin, e.TxFeeMax, MaxFee)
	case e.HostReserveBP > MaxHostReserveBP:
		return fmt.Errorf("%w: host_reserve %d basis points, at most %d", ErrInvalid, e.HostReserveBP, MaxHostReserveBP)
	case len(e.Genesis) > MaxAllocs:
		return fmt.Errorf("%w: %d genesis allocations, at most %d", ErrInvalid, len(e.Genesis), MaxAllocs)
	}
	ws := make([]identity.NodeID, len(e.Witnesses))
	for i, w := range e.Witnesses {
		ws[i] = w.ID
		if w.Weight == 0 || w.Weight > MaxWeight {
			return fmt.Errorf("%w: witness %s: weight %d, want 1 to %d", ErrInvalid, w.ID, w.Weight, MaxWeight)
		}
	}
	if err := ascending("witness", ws); err != nil {
		return err
	}
	for _, w := range ws {
		if !d.IsMember(w) {
			return fmt.Errorf("%w: witness %s is not a member", ErrInvalid, w)
		}
	}
	as := make([]identity.NodeID, len(e.Genesis))
	var supply int64
	for i, a := range e.Genesis {
		as[i] = a.ID
		if a.Amount <= 0 || a.Amount > MaxSupply-supply {
			return fmt.Errorf("%w: allocation to %s: %d micro-credits, want more than 0 and a total of at most %d", ErrInvalid, a.ID, a.Amount, MaxSupply)
		}
		supply += a.Amount
	}
	return ascending("allocation", as)
}

func (d Document) checkFields() error {
	switch {
	case d.Serial == 0:
		return fmt.Errorf("%w: serial must be at least 1", ErrInvalid)
	case len(d.Admins) == 0 || len(d.Admins) > MaxAdmins:
		return fmt.Errorf("%w: %d admins, want 1 to %d", ErrInvalid, len(d.Admins), MaxAdmins)
	case d.Threshold < 1 || d.Threshold > len(d.Admins):
		return fmt.Errorf("%w: threshold %d, want 1 to %d (the admin count)", ErrInvalid, d.Threshold, len(d.Admins))
	case len(d.Members) > MaxMembers:
		return fmt.Errorf("%w: %d members, at most %d", ErrInvalid, len(d.Members), MaxMembers)
	case len(d.Revoked) > MaxRevoked:
		return fmt.Errorf("%w: %d revoked, at most %d", ErrInvalid, len(d.Revoked), MaxRevoked)
	case len(d.Signatures) > MaxSignatures:
		return fmt.Errorf("%w: %d signatures, at most %d", ErrInvalid, len(d.Signatures), MaxSignatures)
	}
	if err := ascending("admin", d.Admins); err != nil {
		return err
	}
	if err := ascending("revoked node", d.Revoked); err != nil {
		return err
	}
	ids := make([]identity.NodeID, len(d.Members))
	for i, m := range d.Members {
		if len(m.Name) == 0 || len(m.Name) > MaxNameBytes || !utf8.ValidString(m.Name) {
			return fmt.Errorf("%w: member %s: name must be 1 to %d bytes of UTF-8", ErrInvalid, m.ID, MaxNameBytes)
		}
		ids[i] = m.ID
	}
	if err := ascending("member", ids); err != nil {
		return err
	}
	signers := make([]identity.NodeID, len(d.Signatures))
	for i, s := range d.Signatures {
		signers[i] = s.Signer
		if len(s.Sig) != sigSize {
			return fmt.Errorf("%w: signature of %s is %d bytes, want %d", ErrInvalid, s.Signer, len(s.Sig), sigSize)
		}
	}
	if err := ascending("signer", signers); err != nil {
		return err
	}
	for _, r := range d.Revoked {
		if slices.Contains(ids, r) || d.IsAdmin(r) {
			return fmt.Errorf("%w: %s is revoked and still a member or admin", ErrInvalid, r)
		}
	}
	return d.checkEconomy()
}

// ascending checks that ids are valid node IDs in strictly ascending key
// order (sorted and unique).
func ascending(what string, ids []identity.NodeID) error {
	var prev []byte
	for _, id := range ids {
		k, err := key(what, id)
		if err != nil {
			return err
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("%w: %s keys not in strictly ascending order", ErrInvalid, what)
		}
		prev = k
	}
	return nil
}

// Sign adds (or replaces) k's signature of the document's body.
func (d Document) Sign(k *identity.Keys) (Document, error) {
	body, err := d.Body()
	if err != nil {
		return Document{}, err
	}
	out := d
	out.Signatures = slices.DeleteFunc(slices.Clone(d.Signatures), func(s Signature) bool { return s.Signer == k.ID() })
	out.Signatures = append(out.Signatures, Signature{Signer: k.ID(), Sig: k.Sign(Domain, body)})
	out.normalize()
	if len(out.Signatures) > MaxSignatures {
		return Document{}, fmt.Errorf("%w: more than %d signatures", ErrInvalid, MaxSignatures)
	}
	return out, nil
}

// Encode returns the signed document's bytes (body, then signatures).
func (d Document) Encode() ([]byte, error) {
	body, err := d.Body()
	if err != nil {
		return nil, err
	}
	b := append(body, byte(len(d.Signatures)))
	for _, s := range d.Signatures {
		b = append(b, keyOf(s.Signer)...)
		b = append(b, s.Sig...)
	}
	return b, nil
}

// signedBy counts the distinct signers of d that are in admins. Every
// signature must verify.
func (d Document) signedBy(admins []identity.NodeID) (int, error) {
	body, err := d.Body()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range d.Signatures {
		pub, err := key("signer", s.Signer)
		if err != nil {
			return 0, err
		}
		if !identity.Verify(pub, Domain, body, s.Sig) {
			return 0, fmt.Errorf("%w: bad signature by %s", ErrInvalid, s.Signer)
		}
		if slices.Contains(admins, s.Signer) {
			n++
		}
	}
	return n, nil
}

// Verify checks that the document is well formed and signed by at least
// threshold of its own admins.
func (d Document) Verify() error {
	n, err := d.signedBy(d.Admins)
	if err != nil {
		return err
	}
	if n < d.Threshold {
		return fmt.Errorf("%w: signed by %d of its admins, threshold %d", ErrInvalid, n, d.Threshold)
	}
	if d.Serial == 1 && d.Economy.Enabled() {
		return d.checkGenesis()
	}
	return nil
}

// checkGenesis checks that every witness signed d: the genesis of an
// economy (its first witness set and allocations) binds every witness.
func (d Document) checkGenesis() error {
	for _, w := range d.Economy.Witnesses {
		if !slices.ContainsFunc(d.Signatures, func(s Signature) bool { return s.Signer == w.ID }) {
			return fmt.Errorf("%w: genesis of the economy not signed by witness %s", ErrInvalid, w.ID)
		}
	}
	return nil
}

// witnessWeight sums the weight, in e, of d's signers (signatures were
// verified by signedBy).
func (d Document) witnessWeight(e Economy) uint64 {
	var w uint64
	for _, s := range d.Signatures {
		w += e.Weight(s.Signer)
	}
	return w
}

// checkEpoch applies the economy's succession rule: the genesis is signed
// by every witness; genesis allocations never change; a changed witness
// set raises the epoch by one and is signed by witnesses holding more
// than 2/3 of the previous epoch's weight; fees and host reserve change
// only with the epoch, since a committee's bounds are fixed per epoch.
func checkEpoch(current, next Document) error {
	ce, ne := current.Economy, next.Economy
	switch {
	case !ce.Enabled() && !ne.Enabled():
		return nil
	case !ce.Enabled():
		if ne.Epoch != 1 {
			return fmt.Errorf("%w: a new economy starts at epoch 1, not %d", ErrNotSuccessor, ne.Epoch)
		}
		return next.checkGenesis()
	case !ne.Enabled():
		return fmt.Errorf("%w: an economy cannot be removed", ErrNotSuccessor)
	case !slices.Equal(ce.Genesis, ne.Genesis):
		return fmt.Errorf("%w: genesis allocations cannot change", ErrNotSuccessor)
	}
	if ce.sameEpoch(ne) {
		if ne.Epoch != ce.Epoch {
			return fmt.Errorf("%w: epoch %d without a change of witnesses or fees, current is %d", ErrNotSuccessor, ne.Epoch, ce.Epoch)
		}
		return nil
	}
	if ne.Epoch != ce.Epoch+1 {
		return fmt.Errorf("%w: a change of witnesses or fees must raise the epoch to %d, not %d", ErrNotSuccessor, ce.Epoch+1, ne.Epoch)
	}
	if got, total := next.witnessWeight(ce), ce.TotalWeight(); 3*got <= 2*total {
		return fmt.Errorf("%w: epoch %d signed by witness weight %d of %d, more than 2/3 needed", ErrNotSuccessor, ne.Epoch, got, total)
	}
	return nil
}

// Missing returns how many more admin signatures d needs to be valid on
// its own (0 when it is).
func (d Document) Missing() int {
	n, err := d.signedBy(d.Admins)
	if err != nil {
		return d.Threshold
	}
	return max(0, d.Threshold-n)
}

// CheckSuccessor reports whether next may replace current: same cluster,
// larger serial, valid on its own, signed by at least current's threshold
// of current's admins, and following the economy's epoch rule (see
// checkEpoch). It wraps ErrInvalid or ErrNotSuccessor.
func CheckSuccessor(current, next Document) error {
	if next.ID != current.ID {
		return fmt.Errorf("%w: cluster %s, current is %s", ErrNotSuccessor, next.ID, current.ID)
	}
	if next.Serial <= current.Serial {
		return fmt.Errorf("%w: serial %d is not newer than %d", ErrNotSuccessor, next.Serial, current.Serial)
	}
	if err := next.Verify(); err != nil {
		return err
	}
	n, err := next.signedBy(current.Admins)
	if err != nil {
		return err
	}
	if n < current.Threshold {
		return fmt.Errorf("%w: signed by %d of the current admins, threshold %d", ErrNotSuccessor, n, current.Threshold)
	}
	return checkEpoch(current, next)
}

// Parse decodes a signed document, refusing anything that is not its
// canonical encoding, larger than MaxSize, or carries a signature that
// does not verify. It does not require the threshold (proposals parse);
// call Verify or CheckSuccessor.
func Parse(b []byte) (Document, error) {
	if len(b) > MaxSize {
		return Document{}, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(b), MaxSize)
	}
	r := reader{b: b}
	if string(r.take(len(magic))) != magic {
		return Document{}, fmt.Errorf("%w: bad magic", ErrInvalid)
	}
	v := r.byte()
	if v != version1 && v != version2 {
		return Document{}, fmt.Errorf("%w: unknown version %d", ErrInvalid, v)
	}
	var d Document
	copy(d.ID[:], r.take(len(d.ID)))
	d.Serial = r.uint64()
	d.Threshold = int(r.byte())
	for range r.count(MaxAdmins) {
		d.Admins = append(d.Admins, r.id())
	}
	for range r.count(MaxMembers) {
		id := r.id()
		name := string(r.take(int(r.byte())))
		d.Members = append(d.Members, Member{ID: id, Name: name})
	}
	for range r.count(MaxRevoked) {
		d.Revoked = append(d.Revoked, r.id())
	}
	if v == version2 {
		e := &d.Economy
		e.Epoch = r.uint64()
		for range r.count(MaxWitnesses) {
			e.Witnesses = append(e.Witnesses, Witness{ID: r.id(), Weight: r.uint64()})
		}
		e.TxFeeMin, e.TxFeeMax = int64(r.uint64()), int64(r.uint64())
		e.HostReserveBP = binary.BigEndian.Uint16(r.take(2))
		for range r.count(MaxAllocs) {
			e.Genesis = append(e.Genesis, Alloc{ID: r.id(), Amount: int64(r.uint64())})
		}
		if !e.Enabled() && r.err == nil {
			return Document{}, fmt.Errorf("%w: version 2 without witnesses", ErrInvalid)
		}
	}
	for range int(r.byte()) {
		id := r.id()
		d.Signatures = append(d.Signatures, Signature{Signer: id, Sig: bytes.Clone(r.take(sigSize))})
	}
	if r.err != nil {
		return Document{}, r.err
	}
	if r.off != len(b) {
		return Document{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b)-r.off)
	}
	enc, err := d.Encode()
	if err != nil {
		return Document{}, err
	}
	if !bytes.Equal(enc, b) {
		return Document{}, fmt.Errorf("%w: not canonical", ErrInvalid)
	}
	if _, err := d.signedBy(nil); err != nil {
		return Document{}, err
	}
	return d, nil
}

// reader reads big-endian fields; after the first short read every read
// returns zeros and err says why.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b)-r.off {
		if r.err == nil {
			r.err = fmt.Errorf("%w: truncated at byte %d", ErrInvalid, r.off)
		}
		return make([]byte, n)
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) byte() byte     { return r.take(1)[0] }
func (r *reader) uint64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
func (r *reader) id() identity.NodeID {
	return identity.NodeIDFromPublicKey(ed25519.PublicKey(bytes.Clone(r.take(keySize))))
}

// count reads a 2-byte list length, refusing one over limit before any
// item is read.
func (r *reader) count(limit int) int {
	n := int(binary.BigEndian.Uint16(r.take(2)))
	if n > limit && r.err == nil {
		r.err = fmt.Errorf("%w: list of %d, at most %d", ErrInvalid, n, limit)
	}
	if r.err != nil {
		return 0
	}
	return n
}
