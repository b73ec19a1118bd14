package economy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
)

// System is the system account: fees and host reserves are paid to it, and
// issuance is the only transaction it is the source of. No key signs for
// it; an issuance is authorised by its certificate alone.
const System = "system"

// Amount is an amount of money in micro-credits (JSON carries it as a
// decimal string through internal/fixed).
type Amount = int64

// Kind says what a transaction is for. Kinds other than KindTransfer are
// only signed by a witness whose Validator accepts them.
type Kind string

// The kinds of transaction.
const (
	// KindTransfer moves money from one node to another.
	KindTransfer Kind = "transfer"
	// KindSettle pays accepted receipts (Meta names them); a Validator
	// checks that each is paid at most once.
	KindSettle Kind = "settle"
	// KindJob pays for a brokered job (Meta names it).
	KindJob Kind = "job"
	// KindIssuance creates money: its source is System, it carries no
	// signature and no fee, and a witness votes for it only when its
	// Validator approves.
	KindIssuance Kind = "issuance"
)

var kinds = []Kind{KindTransfer, KindSettle, KindJob, KindIssuance}

// Domains of the signatures this package makes (see package identity).
const (
	TxDomain     = "offgrid/tx/v1"
	VoteDomain   = "offgrid/tx-vote/v1"
	ReportDomain = "offgrid/tx-lock/v1"
)

// Bounds of the encodings.
const (
	// MaxMeta bounds a transaction's Meta.
	MaxMeta = 4 << 10
	// MaxTxSize is the largest encoded transaction.
	MaxTxSize = len(txMagic) + 1 + 16 + 8 + 2*(1+keySize) + 8 + 8 + 8 + 1 + 2 + MaxMeta + 1 + sigSize
	// MaxAmount bounds an amount or a fee (cluster.MaxSupply): sums of a
	// balance and an amount never overflow int64.
	MaxAmount = cluster.MaxSupply
)

const (
	txMagic = "OGTX"
	version = 0x01
	keySize = ed25519.PublicKeySize
	sigSize = ed25519.SignatureSize
)

// ErrInvalid reports a transaction, vote, certificate or report that is
// malformed, not canonical, or badly signed.
var ErrInvalid = errors.New("invalid economy message")

// Tx is a transaction. Src signs its canonical body (everything but Sig);
// its identity is Hash, so a second signature of the same body is the
// same transaction.
type Tx struct {
	Cluster cluster.ID
	Epoch   uint64
	// Src and Dst are node IDs or System.
	Src, Dst    string
	Amount, Fee int64
	// Nonce counts Src's transactions from 1; each needs the one before it
	// final.
	Nonce uint64
	Kind  Kind
	Meta  []byte
	Sig   []byte
}

// Body returns the canonical bytes Src signs and Hash hashes. It does
// not check the fields (Validate does).
func (t Tx) Body() []byte {
	b := make([]byte, 0, 128+len(t.Meta))
	b = append(b, txMagic...)
	b = append(b, version)
	b = append(b, t.Cluster[:]...)
	b = binary.BigEndian.AppendUint64(b, t.Epoch)
	b = appendAccount(b, t.Src)
	b = appendAccount(b, t.Dst)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Amount))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Fee))
	b = binary.BigEndian.AppendUint64(b, t.Nonce)
	b = append(b, kindCode(t.Kind))
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Meta)))
	return append(b, t.Meta...)
}

// Encode returns the body followed by the signature (a length byte, 0 or
// 64, then the signature).
func (t Tx) Encode() []byte { return t.encode(t.Body()) }

func (t Tx) encode(body []byte) []byte {
	b := append(body[:len(body):len(body)], byte(len(t.Sig)))
	return append(b, t.Sig...)
}

// Hash identifies the transaction: SHA-256 of its body.
func (t Tx) Hash() [32]byte { return sha256.Sum256(t.Body()) }

// appendAccount writes 0x00 for System, or 0x01 and the 32 key bytes.
func appendAccount(b []byte, acct string) []byte {
	if acct == System {
		return append(b, 0)
	}
	pub, err := identity.NodeID(acct).PublicKey()
	if err != nil {
		return append(b, 0xff) // not an account; Validate refuses it
	}
	return append(append(b, 1), pub...)
}

func kindCode(k Kind) byte {
	i := slices.Index(kinds, k)
	if i < 0 {
		return 0xff
	}
	return byte(i + 1)
}

// checkAccount refuses a string that is neither System nor the canonical
// form of a node ID.
func checkAccount(what, acct string) error {
	if acct == System {
		return nil
	}
	pub, err := identity.NodeID(acct).PublicKey()
	if err != nil || string(identity.NodeIDFromPublicKey(pub)) != acct {
		return fmt.Errorf("%w: %s %q is neither %q nor a node ID", ErrInvalid, what, acct, System)
	}
	return nil
}

// Validate checks the fields and the signature: known kind, accounts,
// amounts in range, Meta bounded, issuance from System unsigned and free,
// everything else signed by Src.
func (t Tx) Validate() error { return t.validate(t.Body(), nil) }

// validate is Validate given t's body (computing it decodes two base58
// node IDs: callers that have it pass it), checking the signature through
// memo (nil: always).
func (t Tx) validate(body []byte, memo *sigMemo) error {
	if err := checkAccount("source", t.Src); err != nil {
		return err
	}
	if err := checkAccount("destination", t.Dst); err != nil {
		return err
	}
	switch {
	case kindCode(t.Kind) == 0xff:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, t.Kind)
	case t.Src == t.Dst:
		return fmt.Errorf("%w: source and destination are both %s", ErrInvalid, t.Src)
	case t.Amount <= 0 || t.Amount > MaxAmount:
		return fmt.Errorf("%w: amount %d, want 1 to %d micro-credits", ErrInvalid, t.Amount, MaxAmount)
	case t.Fee < 0 || t.Fee > cluster.MaxFee:
		return fmt.Errorf("%w: fee %d, want 0 to %d micro-credits", ErrInvalid, t.Fee, cluster.MaxFee)
	case t.Nonce == 0:
		return fmt.Errorf("%w: nonce must be at least 1", ErrInvalid)
	case t.Epoch == 0:
		return fmt.Errorf("%w: epoch must be at least 1", ErrInvalid)
	case len(t.Meta) > MaxMeta:
		return fmt.Errorf("%w: meta of %d bytes, at most %d", ErrInvalid, len(t.Meta), MaxMeta)
	case (t.Kind == KindIssuance) != (t.Src == System):
		return fmt.Errorf("%w: an issuance, and only an issuance, comes from %s", ErrInvalid, System)
	}
	if t.Src == System {
		if t.Fee != 0 || len(t.Sig) != 0 {
			return fmt.Errorf("%w: an issuance carries no fee and no signature", ErrInvalid)
		}
		return nil
	}
	pub, _ := identity.NodeID(t.Src).PublicKey()
	if !memo.verify(pub, TxDomain, body, t.Sig) {
		return fmt.Errorf("%w: signature of %s does not verify", ErrInvalid, t.Src)
	}
	return nil
}

// SignTx signs t as k (which must be t.Src) and returns it signed.
func SignTx(t Tx, k *identity.Keys) (Tx, error) {
	if t.Src != string(k.ID()) {
		return Tx{}, fmt.Errorf("%w: %s cannot sign for source %s", ErrInvalid, k.ID(), t.Src)
	}
	t.Meta = bytes.Clone(t.Meta)
	t.Sig = k.Sign(TxDomain, t.Body())
	if err := t.Validate(); err != nil {
		return Tx{}, err
	}
	return t, nil
}

// Verify is Validate: a transaction that passes it is well formed and
// signed by its source.
func (t Tx) Verify() error { return t.Validate() }

// DecodeTx parses an encoded transaction, refusing anything but the
// canonical encoding of a valid, signed transaction.
func DecodeTx(b []byte) (Tx, error) {
	if len(b) > MaxTxSize {
		return Tx{}, fmt.Errorf("%w: transaction of %d bytes, at most %d", ErrInvalid, len(b), MaxTxSize)
	}
	r := reader{b: b}
	t := r.tx()
	if r.err != nil {
		return Tx{}, r.err
	}
	if r.off != len(b) {
		return Tx{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b)-r.off)
	}
	if err := t.Validate(); err != nil {
		return Tx{}, err
	}
	if !bytes.Equal(t.Encode(), b) {
		return Tx{}, fmt.Errorf("%w: transaction not canonical", ErrInvalid)
	}
	return t, nil
}

// reader reads big-endian fields; after the first short read every read
// returns zeros and err says why.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b)-r.off {
		r.fail("truncated at byte %d", r.off)
		// Zeros for the fixed-size fields that follow a failure; never a
		// buffer of a length read from the input.
		return make([]byte, min(n, 64))
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) byte() byte         { return r.take(1)[0] }
func (r *reader) uint16() uint16     { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) uint32() uint32     { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) uint64() uint64     { return binary.BigEndian.Uint64(r.take(8)) }
func (r *reader) hash() (h [32]byte) { copy(h[:], r.take(32)); return h }
func (r *reader) key() identity.NodeID {
	return identity.NodeIDFromPublicKey(ed25519.PublicKey(bytes.Clone(r.take(keySize))))
}

func (r *reader) magic(m string) {
	if string(r.take(len(m))) != m {
		r.fail("bad magic, want %q", m)
	}
	if v := r.byte(); v != version && r.err == nil {
		r.fail("unknown version %d", v)
	}
}

func (r *reader) account() string {
	switch tag := r.byte(); tag {
	case 0:
		return System
	case 1:
		return string(r.key())
	default:
		r.fail("unknown account tag %d", tag)
		return ""
	}
}

// tx reads an encoded transaction (body and signature).
func (r *reader) tx() Tx {
	var t Tx
	r.magic(txMagic)
	copy(t.Cluster[:], r.take(len(t.Cluster)))
	t.Epoch = r.uint64()
	t.Src, t.Dst = r.account(), r.account()
	t.Amount, t.Fee = int64(r.uint64()), int64(r.uint64())
	t.Nonce = r.uint64()
	if k := int(r.byte()); k >= 1 && k <= len(kinds) {
		t.Kind = kinds[k-1]
	} else {
		r.fail("unknown kind %d", k)
	}
	n := int(r.uint16())
	if n > MaxMeta {
		r.fail("meta of %d bytes, at most %d", n, MaxMeta)
		return Tx{}
	}
	if n > 0 {
		t.Meta = bytes.Clone(r.take(n))
	}
	if n := int(r.byte()); n > 0 {
		t.Sig = bytes.Clone(r.take(n))
	}
	return t
}
