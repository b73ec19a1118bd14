package economy

import (
	"context"
	"errors"
	"testing"
)

// TestTransferBecomesFinal: four equal witnesses; three votes make a
// certificate, two do not; the certificate applies once; a conflicting
// transaction of the same nonce gets no vote from a witness that locked.
func TestTransferBecomesFinal(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1, []uint64{1, 1, 1, 1}, 2, 1000)
	var wits []*Witness
	for i, k := range w.witnesses {
		l := openLedger(t, w.com, "w"+string(rune('0'+i)))
		wt, err := NewWitness(l, k, w.com, nil)
		if err != nil {
			t.Fatal(err)
		}
		wits = append(wits, wt)
	}
	a, b := w.wallets[0], w.wallets[1]
	tx := w.transfer(t, a, string(b.ID()), 500, 1)
	var votes []Vote
	for _, wt := range wits[:3] {
		v, err := wt.Sign(ctx, tx, nil)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		votes = append(votes, v)
	}
	if err := (Certificate{Tx: tx, Votes: votes[:2]}).Verify(w.com); !errors.Is(err, ErrNotFinal) {
		t.Errorf("Verify(2 of 4 votes) = %v, want ErrNotFinal", err)
	}
	cert := Certificate{Tx: tx, Votes: votes}
	if err := cert.Verify(w.com); err != nil {
		t.Fatalf("Verify(3 of 4) = %v", err)
	}
	back, err := DecodeCertificate(cert.Encode())
	if err != nil {
		t.Fatalf("DecodeCertificate: %v", err)
	}
	other := w.transfer(t, a, string(b.ID()), 400, 1)
	if _, err := wits[0].Sign(ctx, other, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("Sign(conflicting) = %v, want ErrConflict", err)
	}
	l := openLedger(t, w.com, "applier")
	for i, want := range []bool{true, false} {
		got, err := l.Apply(ctx, back)
		if err != nil || got != want {
			t.Fatalf("Apply #%d = %v, %v, want %v", i+1, got, err, want)
		}
	}
	fee := w.com.Fee()
	for acct, want := range map[string]int64{string(a.ID()): 500 - fee, string(b.ID()): 1500, System: fee} {
		if got, err := l.Balance(ctx, acct); err != nil || got != want {
			t.Errorf("Balance(%s) = %d, %v, want %d", acct, got, err, want)
		}
	}
	// The next nonce needs the previous one final at the witness: the
	// fourth witness has not seen it until the certificate is attached.
	next := w.transfer(t, a, string(b.ID()), 100, 2)
	if _, err := wits[3].Sign(ctx, next, nil); !errors.Is(err, ErrPreviousNotFinal) {
		t.Errorf("Sign(nonce 2 without nonce 1) = %v, want ErrPreviousNotFinal", err)
	}
	if _, err := wits[3].Sign(ctx, next, []Certificate{cert}); err != nil {
		t.Errorf("Sign(nonce 2 with nonce 1 attached) = %v", err)
	}
	broke := w.transfer(t, a, string(b.ID()), 1000, 2)
	if _, err := wits[0].Sign(ctx, broke, []Certificate{cert}); !errors.Is(err, ErrInsufficient) {
		t.Errorf("Sign(more than the balance) = %v, want ErrInsufficient", err)
	}
}
