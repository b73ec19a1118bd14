package economy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
)

const (
	voteMagic = "OGVT"
	certMagic = "OGCT"
	// VoteSize is the size of an encoded vote.
	VoteSize = len(voteMagic) + 1 + 32 + keySize + 8 + 4 + sigSize
	// MaxCertSize is the largest encoded certificate: a transaction and a
	// vote from every witness.
	MaxCertSize = len(certMagic) + 1 + 4 + MaxTxSize + 4 + 2 + cluster.MaxWitnesses*(keySize+sigSize)
)

// Committee is one epoch's witnesses with their fixed weights, and the
// rules of money the cluster document sets for that epoch.
type Committee struct {
	Cluster cluster.ID
	Epoch   uint64
	Weights map[identity.NodeID]uint64
	// Total is the sum of Weights.
	Total          uint64
	FeeMin, FeeMax int64
	HostReserveBP  uint16
	// Genesis maps accounts to their starting micro-credits.
	Genesis map[string]int64
	// RecoveryFault is the Byzantine weight the recovery rule (doc.go)
	// tolerates: the largest f with 5f < Total.
	RecoveryFault uint64

	keys map[identity.NodeID]ed25519.PublicKey // decoded once: a did:key costs a base58 decode
}

// CommitteeOf returns the committee of d's economy.
func CommitteeOf(d cluster.Document) (Committee, error) {
	e := d.Economy
	if !e.Enabled() {
		return Committee{}, fmt.Errorf("%w: cluster %s has no economy (no witnesses)", ErrInvalid, d.ID)
	}
	c := Committee{Cluster: d.ID, Epoch: e.Epoch, Weights: map[identity.NodeID]uint64{}, FeeMin: e.TxFeeMin,
		FeeMax: e.TxFeeMax, HostReserveBP: e.HostReserveBP, Genesis: map[string]int64{}, keys: map[identity.NodeID]ed25519.PublicKey{}}
	for _, w := range e.Witnesses {
		pub, err := w.ID.PublicKey()
		if err != nil {
			return Committee{}, fmt.Errorf("%w: witness %s: %v", ErrInvalid, w.ID, err)
		}
		c.Weights[w.ID] = w.Weight
		c.keys[w.ID] = pub
		c.Total += w.Weight
	}
	for _, a := range e.Genesis {
		c.Genesis[string(a.ID)] = a.Amount
	}
	c.RecoveryFault = (c.Total - 1) / 5
	return c, nil
}

// Fee is the fee a wallet pays: the midpoint of the epoch's bounds.
func (c Committee) Fee() int64 { return c.FeeMin + (c.FeeMax-c.FeeMin)/2 }

// Quorum reports whether weight w is more than 2/3 of the total.
func (c Committee) Quorum(w uint64) bool { return 3*w > 2*c.Total }

// GenesisSupply is the sum of the genesis allocations.
func (c Committee) GenesisSupply() int64 {
	var s int64
	for _, v := range c.Genesis {
		s += v
	}
	return s
}

// Clone returns a deep copy.
func (c Committee) Clone() Committee {
	c.Weights = maps.Clone(c.Weights)
	c.Genesis = maps.Clone(c.Genesis)
	c.keys = maps.Clone(c.keys)
	return c
}

// Vote is a witness's signature of a transaction in one round of its
// (src, nonce) slot (rounds start at 0; recovery opens the next one).
type Vote struct {
	Tx      [32]byte
	Witness identity.NodeID
	Epoch   uint64
	Round   uint32
	Sig     []byte
}

func voteBody(tx [32]byte, epoch uint64, round uint32) []byte {
	b := make([]byte, 0, 44)
	b = append(b, tx[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return binary.BigEndian.AppendUint32(b, round)
}

// signVote signs a vote for tx as k.
func signVote(k *identity.Keys, tx [32]byte, epoch uint64, round uint32) Vote {
	return Vote{Tx: tx, Witness: k.ID(), Epoch: epoch, Round: round, Sig: k.Sign(VoteDomain, voteBody(tx, epoch, round))}
}

// Verify checks the vote's signature.
func (v Vote) Verify() error { return v.verify(nil) }

// verify is Verify checking the signature through memo (nil: always).
func (v Vote) verify(memo *sigMemo) error {
	pub, err := v.Witness.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: vote of %s: %v", ErrInvalid, v.Witness, err)
	}
	return v.verifyWith(pub, memo)
}

func (v Vote) verifyWith(pub ed25519.PublicKey, memo *sigMemo) error {
	if !memo.verify(pub, VoteDomain, voteBody(v.Tx, v.Epoch, v.Round), v.Sig) {
		return fmt.Errorf("%w: vote of %s does not verify", ErrInvalid, v.Witness)
	}
	return nil
}

// Encode returns the vote's canonical bytes.
func (v Vote) Encode() []byte {
	b := make([]byte, 0, VoteSize)
	b = append(b, voteMagic...)
	b = append(b, version)
	b = append(b, v.Tx[:]...)
	b = append(b, keyBytes(v.Witness)...)
	b = append(b, voteBody([32]byte{}, v.Epoch, v.Round)[32:]...)
	return append(b, v.Sig...)
}

// DecodeVote parses and verifies an encoded vote.
func DecodeVote(b []byte) (Vote, error) {
	if len(b) != VoteSize {
		return Vote{}, fmt.Errorf("%w: vote of %d bytes, want %d", ErrInvalid, len(b), VoteSize)
	}
	r := reader{b: b}
	r.magic(voteMagic)
	v := Vote{Tx: r.hash(), Witness: r.key(), Epoch: r.uint64(), Round: r.uint32(), Sig: bytes.Clone(r.take(sigSize))}
	if r.err != nil {
		return Vote{}, r.err
	}
	if err := v.Verify(); err != nil {
		return Vote{}, err
	}
	return v, nil
}

func keyBytes(id identity.NodeID) []byte {
	pub, err := id.PublicKey()
	if err != nil {
		return make([]byte, keySize)
	}
	return pub
}

// Certificate is a transaction with the votes of witnesses holding more
// than 2/3 of its epoch's weight, all in one round. It is final: every
// node applies it once, with no further vote.
type Certificate struct {
	Tx    Tx
	Votes []Vote
}

// Round is the round of the certificate's votes.
func (c Certificate) Round() uint32 {
	if len(c.Votes) == 0 {
		return 0
	}
	return c.Votes[0].Round
}

// weight sums the committee weight of the certificate's votes, checking
// that each is a valid vote of a distinct witness for transaction h in
// the certificate's epoch and round.
func (c Certificate) weight(com Committee, h [32]byte, memo *sigMemo) (uint64, error) {
	seen := make(map[identity.NodeID]bool, len(c.Votes))
	var w uint64
	for _, v := range c.Votes {
		switch {
		case v.Tx != h:
			return 0, fmt.Errorf("%w: a vote of %s is for another transaction", ErrInvalid, v.Witness)
		case v.Epoch != c.Tx.Epoch || v.Round != c.Round():
			return 0, fmt.Errorf("%w: votes of different epochs or rounds", ErrInvalid)
		case seen[v.Witness]:
			return 0, fmt.Errorf("%w: two votes of %s", ErrInvalid, v.Witness)
		case com.Weights[v.Witness] == 0:
			return 0, fmt.Errorf("%w: %s is no witness of epoch %d", ErrInvalid, v.Witness, com.Epoch)
		}
		pub, ok := com.keys[v.Witness]
		var err error
		if ok {
			err = v.verifyWith(pub, memo)
		} else {
			err = v.Verify() // a committee built by hand
		}
		if err != nil {
			return 0, err
		}
		seen[v.Witness] = true
		w += com.Weights[v.Witness]
	}
	return w, nil
}

// Verify checks that the certificate is final under committee com: its
// transaction is valid and of com's cluster and epoch, and its votes carry
// more than 2/3 of com's weight.
func (c Certificate) Verify(com Committee) error { return c.verify(com, c.Tx.Body(), nil) }

// verify is Verify given the transaction's body, checking signatures
// through memo (nil: every one).
func (c Certificate) verify(com Committee, body []byte, memo *sigMemo) error {
	if c.Tx.Cluster != com.Cluster || c.Tx.Epoch != com.Epoch {
		return fmt.Errorf("%w: certificate of cluster %s epoch %d, committee is %s epoch %d", ErrWrongEpoch,
			c.Tx.Cluster, c.Tx.Epoch, com.Cluster, com.Epoch)
	}
	if err := c.Tx.validate(body, memo); err != nil {
		return err
	}
	w, err := c.weight(com, sha256.Sum256(body), memo)
	if err != nil {
		return err
	}
	if !com.Quorum(w) {
		return fmt.Errorf("%w: witness weight %d of %d, more than 2/3 needed", ErrNotFinal, w, com.Total)
	}
	return nil
}

// Encode returns the certificate's canonical bytes: the transaction
// (length-prefixed), the round, and each vote's witness key and signature,
// in ascending key order.
func (c Certificate) Encode() []byte { return c.encode(c.Tx.Body()) }

// encode is Encode given the transaction's body.
func (c Certificate) encode(body []byte) []byte {
	tx := c.Tx.encode(body)
	votes := sortedVotes(c.Votes)
	b := make([]byte, 0, len(certMagic)+1+4+len(tx)+6+len(votes)*(keySize+sigSize))
	b = append(b, certMagic...)
	b = append(b, version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tx)))
	b = append(b, tx...)
	b = binary.BigEndian.AppendUint32(b, c.Round())
	b = binary.BigEndian.AppendUint16(b, uint16(len(votes)))
	for _, v := range votes {
		b = append(b, keyBytes(v.Witness)...)
		b = append(b, v.Sig...)
	}
	return b
}

// DecodeCertificate parses an encoded certificate, refusing anything but
// the canonical encoding. It checks the transaction and each vote's
// signature, not the committee's weight: call Verify.
func DecodeCertificate(b []byte) (Certificate, error) { return decodeCertificate(b, nil) }

// decodeCertificate is DecodeCertificate checking the votes' signatures
// through memo (nil: every one).
func decodeCertificate(b []byte, memo *sigMemo) (Certificate, error) {
	if len(b) > MaxCertSize {
		return Certificate{}, fmt.Errorf("%w: certificate of %d bytes, at most %d", ErrInvalid, len(b), MaxCertSize)
	}
	r := reader{b: b}
	r.magic(certMagic)
	n := int(r.uint32())
	if n > MaxTxSize {
		r.fail("transaction of %d bytes, at most %d", n, MaxTxSize)
	}
	txb := r.take(n)
	round := r.uint32()
	count := int(r.uint16())
	if count > cluster.MaxWitnesses {
		r.fail("%d votes, at most %d", count, cluster.MaxWitnesses)
	}
	if r.err != nil {
		return Certificate{}, r.err
	}
	tx, err := DecodeTx(txb)
	if err != nil {
		return Certificate{}, err
	}
	c := Certificate{Tx: tx}
	h := tx.Hash()
	for range count {
		c.Votes = append(c.Votes, Vote{Tx: h, Witness: r.key(), Epoch: tx.Epoch, Round: round, Sig: bytes.Clone(r.take(sigSize))})
	}
	if r.err != nil {
		return Certificate{}, r.err
	}
	if r.off != len(b) {
		return Certificate{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b)-r.off)
	}
	if !bytes.Equal(c.Encode(), b) {
		return Certificate{}, fmt.Errorf("%w: certificate not canonical", ErrInvalid)
	}
	for _, v := range c.Votes {
		if err := v.verify(memo); err != nil {
			return Certificate{}, err
		}
	}
	return c, nil
}

// Assemble builds the certificate of tx from the votes collected so far:
// of the valid votes for tx (others are ignored, one per witness), it
// takes the round holding the most weight. It returns that weight, and
// ErrNotFinal while it is not more than 2/3 of com's total.
func Assemble(com Committee, tx Tx, votes []Vote) (Certificate, uint64, error) {
	h := tx.Hash()
	byRound := map[uint32][]Vote{}
	weight := map[uint32]uint64{}
	seen := map[uint32]map[identity.NodeID]bool{}
	for _, v := range votes {
		w := com.Weights[v.Witness]
		if v.Tx != h || v.Epoch != tx.Epoch || w == 0 || seen[v.Round][v.Witness] {
			continue
		}
		pub := com.keys[v.Witness]
		if pub == nil || v.verifyWith(pub, nil) != nil {
			continue
		}
		if seen[v.Round] == nil {
			seen[v.Round] = map[identity.NodeID]bool{}
		}
		seen[v.Round][v.Witness] = true
		byRound[v.Round] = append(byRound[v.Round], v)
		weight[v.Round] += w
	}
	var best uint32
	for r, w := range weight {
		if w > weight[best] || (w == weight[best] && r > best) {
			best = r
		}
	}
	c := Certificate{Tx: tx, Votes: sortedVotes(byRound[best])}
	if !com.Quorum(weight[best]) {
		return c, weight[best], fmt.Errorf("%w: witness weight %d of %d", ErrNotFinal, weight[best], com.Total)
	}
	if err := c.Verify(com); err != nil {
		return Certificate{}, weight[best], err
	}
	return c, weight[best], nil
}
