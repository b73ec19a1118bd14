package economy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
)

// sigMemoSize bounds a ledger's memo of verified signatures: enough for
// the transactions and votes of a few hundred transfers in flight.
const sigMemoSize = 4096

// sigMemo remembers the signatures a node has verified or made itself, so
// that applying a certificate does not verify again the transaction
// signature its witness checked when it voted, nor the witness's own vote.
// Each node keeps its own (one per Ledger): a memo never stands in for a
// verification another node would make. Only a tuple of key, domain,
// message and signature that verified (or that this node signed) is ever
// stored, so a hit is as good as a verification; a miss costs one. When
// full it starts over, so an attacker sending valid signatures of their
// own can only cost it hits. The nil memo verifies every time.
type sigMemo struct {
	mu   sync.Mutex
	seen map[[32]byte]struct{}
}

func newSigMemo() *sigMemo { return &sigMemo{seen: make(map[[32]byte]struct{})} }

// memoKey binds every part of the tuple, each length-prefixed.
func memoKey(pub ed25519.PublicKey, domain string, msg, sig []byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	for _, part := range [][]byte{pub, []byte(domain), msg, sig} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verify is identity.Verify, answered from the memo when it holds the tuple.
func (m *sigMemo) verify(pub ed25519.PublicKey, domain string, msg, sig []byte) bool {
	if m == nil {
		return identity.Verify(pub, domain, msg, sig)
	}
	k := memoKey(pub, domain, msg, sig)
	m.mu.Lock()
	_, ok := m.seen[k]
	m.mu.Unlock()
	if ok {
		return true
	}
	if !identity.Verify(pub, domain, msg, sig) {
		return false
	}
	m.add(k)
	return true
}

// remember records a signature this node just made.
func (m *sigMemo) remember(pub ed25519.PublicKey, domain string, msg, sig []byte) {
	if m != nil {
		m.add(memoKey(pub, domain, msg, sig))
	}
}

func (m *sigMemo) add(k [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) >= sigMemoSize {
		clear(m.seen)
	}
	m.seen[k] = struct{}{}
}
