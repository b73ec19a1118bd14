package economy

import (
	"bytes"
	"testing"
)

// The memo answers true only for a tuple that verified or that was
// remembered as signed here: a signature that does not verify is refused
// however often it is asked, and whatever verified before with another
// message, key or domain; and it stays within its bound.
func TestSigMemo(t *testing.T) {
	a, b := hostKeys(t, 1), hostKeys(t, 2)
	msg := []byte("a transfer's body")
	sig := a.Sign(TxDomain, msg)
	forged := bytes.Clone(sig)
	forged[0] ^= 1

	m := newSigMemo()
	tests := []struct {
		name string
		pub  []byte
		dom  string
		msg  []byte
		sig  []byte
		want bool
	}{
		{"valid", a.SignPublic(), TxDomain, msg, sig, true},
		{"valid again (a hit)", a.SignPublic(), TxDomain, msg, sig, true},
		{"forged signature", a.SignPublic(), TxDomain, msg, forged, false},
		{"forged signature again", a.SignPublic(), TxDomain, msg, forged, false},
		{"other key", b.SignPublic(), TxDomain, msg, sig, false},
		{"other domain", a.SignPublic(), VoteDomain, msg, sig, false},
		{"other message", a.SignPublic(), TxDomain, []byte("a transfer's bodx"), sig, false},
	}
	for _, tt := range tests {
		if got := m.verify(tt.pub, tt.dom, tt.msg, tt.sig); got != tt.want {
			t.Errorf("%s: verify = %v, want %v", tt.name, got, tt.want)
		}
	}
	var nilMemo *sigMemo
	if !nilMemo.verify(a.SignPublic(), TxDomain, msg, sig) || nilMemo.verify(a.SignPublic(), TxDomain, msg, forged) {
		t.Error("the nil memo does not verify like identity.Verify")
	}

	// Remembered signatures are this node's own; the memo is bounded.
	vote := b.Sign(VoteDomain, msg)
	m.remember(b.SignPublic(), VoteDomain, msg, vote)
	if _, ok := m.seen[memoKey(b.SignPublic(), VoteDomain, msg, vote)]; !ok {
		t.Error("a remembered signature is not in the memo")
	}
	for i := range 2 * sigMemoSize {
		m.remember(a.SignPublic(), TxDomain, []byte{byte(i), byte(i >> 8)}, sig)
	}
	if len(m.seen) > sigMemoSize {
		t.Errorf("memo holds %d entries, bound %d", len(m.seen), sigMemoSize)
	}
}
