package economy

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
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

type validatorFunc func(context.Context, Tx) error

func (f validatorFunc) ValidateTx(ctx context.Context, t Tx) error { return f(ctx, t) }

// TestWitnessRefuses: each rule of the witness has its own error, and a
// refusal changes no lock.
func TestWitnessRefuses(t *testing.T) {
	ctx := context.Background()
	onlySmallIssuance := validatorFunc(func(_ context.Context, t Tx) error {
		if t.Kind == KindIssuance && t.Amount <= 100 {
			return nil
		}
		return errors.New("no")
	})
	n := newCommitteeNet(t, 2, []uint64{1, 1, 1, 1}, onlySmallIssuance)
	a, b := n.wallets[0], n.wallets[1]
	dst := string(b.ID())
	first := n.certify(t, n.transfer(t, a, dst, 100, 1), nil, n.wits...)
	w := n.wits[0]
	if _, err := w.ledger.Apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	locked := n.transfer(t, a, dst, 50, 2)
	if _, err := w.Sign(ctx, locked, nil); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*Tx)) Tx {
		tx := Tx{Cluster: n.com.Cluster, Epoch: n.com.Epoch, Src: string(b.ID()), Dst: string(a.ID()), Amount: 10,
			Fee: n.com.Fee(), Nonce: 1, Kind: KindTransfer}
		f(&tx)
		if tx.Src != System {
			tx.Sig = b.Sign(TxDomain, tx.Body()) // not SignTx: some rows are invalid on purpose
		}
		return tx
	}
	badSig := mod(func(*Tx) {})
	badSig.Sig[0] ^= 1
	tests := []struct {
		name string
		tx   Tx
		want error
	}{
		{"other cluster", mod(func(t *Tx) { t.Cluster[0] ^= 1 }), ErrWrongEpoch},
		{"other epoch", mod(func(t *Tx) { t.Epoch = 2 }), ErrWrongEpoch},
		{"fee below min", mod(func(t *Tx) { t.Fee = n.com.FeeMin - 1 }), ErrFee},
		{"fee above max", mod(func(t *Tx) { t.Fee = n.com.FeeMax + 1 }), ErrFee},
		{"second transaction of a locked nonce", n.transfer(t, a, dst, 60, 2), ErrConflict},
		{"nonce already final", n.transfer(t, a, dst, 60, 1), ErrNonceUsed},
		{"previous nonce not final", mod(func(t *Tx) { t.Nonce = 2 }), ErrPreviousNotFinal},
		{"more than the final balance", mod(func(t *Tx) { t.Amount = 1101 - n.com.Fee() }), ErrInsufficient},
		{"settle without the validator's yes", mod(func(t *Tx) { t.Kind = KindSettle }), ErrNotValidated},
		{"issuance over the policy", mod(func(t *Tx) { t.Src, t.Kind, t.Fee, t.Amount = System, KindIssuance, 0, 101 }), ErrNotValidated},
		{"bad signature", badSig, ErrInvalid},
		{"issuance with a fee", mod(func(t *Tx) { t.Src, t.Kind, t.Fee = System, KindIssuance, 1 }), ErrInvalid},
		{"transfer to itself", mod(func(t *Tx) { t.Dst = t.Src }), ErrInvalid},
		{"zero amount", mod(func(t *Tx) { t.Amount = 0 }), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.Sign(ctx, tt.tx, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Sign = %v, want %v", err, tt.want)
			}
			round, h, err := w.Lock(ctx, tt.tx.Src, tt.tx.Nonce)
			if err != nil {
				t.Fatal(err)
			}
			wantLock := [32]byte{}
			if tt.tx.Src == locked.Src && tt.tx.Nonce == locked.Nonce {
				wantLock = locked.Hash()
			} else if tt.tx.Src == first.Tx.Src && tt.tx.Nonce == first.Tx.Nonce {
				wantLock = first.Tx.Hash()
			}
			if round != 0 || h != wantLock {
				t.Errorf("after the refusal the lock is round %d %x, want round 0 %x", round, h[:4], wantLock[:4])
			}
		})
	}
	t.Run("issuance within the policy", func(t *testing.T) {
		if _, err := w.Sign(ctx, mod(func(t *Tx) { t.Src, t.Kind, t.Fee, t.Amount = System, KindIssuance, 0, 100 }), nil); err != nil {
			t.Errorf("Sign(issuance of 100) = %v", err)
		}
	})
	t.Run("the same transaction again gets the same vote", func(t *testing.T) {
		v1, err1 := w.Sign(ctx, locked, nil)
		v2, err2 := w.Sign(ctx, locked, nil)
		if err1 != nil || err2 != nil || !bytes.Equal(v1.Sig, v2.Sig) {
			t.Errorf("Sign twice = %v, %v; same signature %v", err1, err2, bytes.Equal(v1.Sig, v2.Sig))
		}
	})
}

// TestRecovery: a wallet signs two transactions for nonce 1 and splits
// four witnesses two and two: neither can be final. Reports of all four
// release the round; three do not. In round 1 either transaction becomes
// final, votes of rounds 0 and 1 never combine, and a restarted witness
// keeps its round.
func TestRecovery(t *testing.T) {
	ctx := context.Background()
	n := newCommitteeNet(t, 3, []uint64{1, 1, 1, 1}, nil)
	a := n.wallets[0]
	txA := n.transfer(t, a, string(n.wallets[1].ID()), 100, 1)
	txB := n.transfer(t, a, string(n.wallets[2].ID()), 100, 1)
	var votesA []Vote
	for i, w := range n.wits {
		tx := txA
		if i >= 2 {
			tx = txB
		}
		v, err := w.Sign(ctx, tx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			votesA = append(votesA, v)
		}
	}
	if _, err := n.wits[0].Report(ctx, txA, txA); !errors.Is(err, ErrNoEquivocation) {
		t.Errorf("Report without two transactions = %v, want ErrNoEquivocation", err)
	}
	var reports []Report
	for _, w := range n.wits {
		r, err := w.Report(ctx, txA, txB)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r)
	}
	if _, err := n.wits[0].Sign(ctx, txA, nil); !errors.Is(err, ErrRoundClosed) {
		t.Errorf("Sign after the report = %v, want ErrRoundClosed", err)
	}
	if err := CheckRelease(n.com, reports[:3]); !errors.Is(err, ErrNotReleased) {
		t.Errorf("CheckRelease(3 of 4 reports) = %v, want ErrNotReleased", err)
	}
	forged := append([]Report(nil), reports...)
	forged[0].Locked = [32]byte{}
	if err := CheckRelease(n.com, forged); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckRelease(altered report) = %v, want ErrInvalid", err)
	}
	if err := CheckRelease(n.com, reports); err != nil {
		t.Fatalf("CheckRelease(4 of 4) = %v", err)
	}
	for _, w := range n.wits {
		if err := w.Advance(ctx, reports); err != nil {
			t.Fatal(err)
		}
	}
	// A restart keeps round 1 (and Advance again changes nothing).
	n.wits[3] = openWitness(t, n.paths[3], n.witnesses[3], n.com, nil)
	if err := n.wits[3].Advance(ctx, reports); err != nil {
		t.Fatal(err)
	}
	if round, h, err := n.wits[3].Lock(ctx, txA.Src, 1); err != nil || round != 1 || h != ([32]byte{}) {
		t.Errorf("restarted witness: round %d lock %x (%v), want round 1 and no lock", round, h[:4], err)
	}
	cert := n.certify(t, txB, nil, n.wits[1], n.wits[2], n.wits[3])
	if cert.Round() != 1 {
		t.Errorf("certificate round %d, want 1", cert.Round())
	}
	if err := cert.Verify(n.com); err != nil {
		t.Fatal(err)
	}
	mixed := Certificate{Tx: txA, Votes: append(votesA, signVote(n.witnesses[2], txA.Hash(), 1, 1))}
	if err := mixed.Verify(n.com); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(votes of rounds 0 and 1) = %v, want ErrInvalid", err)
	}
	if _, err := n.wits[0].Sign(ctx, txA, nil); err != nil {
		t.Errorf("witness 0 in round 1 may vote for A (it has no lock there): %v", err)
	}
	if _, err := n.wits[1].Sign(ctx, txA, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("witness 1 locked B in round 1; Sign(A) = %v, want ErrConflict", err)
	}
}

// TestLedgerWaitsAndRestarts: certificates that arrive before their
// dependencies wait, apply when those arrive, and a restart from the file
// keeps everything, applied once.
func TestLedgerWaitsAndRestarts(t *testing.T) {
	ctx := context.Background()
	n := newCommitteeNet(t, 4, []uint64{2, 1, 1}, nil)
	a, b, c := n.wallets[0], n.wallets[1], n.wallets[2]
	fee := n.com.Fee()
	ab := n.certify(t, n.transfer(t, a, string(b.ID()), 900, 1), nil, n.wits...)
	// b spends more than its genesis: only with ab's credit.
	bc := n.certify(t, n.transfer(t, b, string(c.ID()), 1500, 1), []Certificate{ab}, n.wits...)
	ab2 := n.certify(t, n.transfer(t, a, string(c.ID()), 50, 2), []Certificate{ab}, n.wits...)

	path := filepath.Join(t.TempDir(), "applier.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, db, n.com)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Certificate{bc, ab2} {
		if ok, err := l.Apply(ctx, c); err != nil || ok {
			t.Fatalf("Apply(before its dependency) = %v, %v, want false (waiting)", ok, err)
		}
		if st, _ := l.Status(ctx, c.Tx.Hash()); st != StatusWaiting {
			t.Errorf("status %v, want waiting", st)
		}
	}
	if ok, err := l.Apply(ctx, ab); err != nil || !ok {
		t.Fatalf("Apply(ab) = %v, %v", ok, err)
	}
	want := map[string]int64{string(a.ID()): 1000 - 900 - 50 - 2*fee, string(b.ID()): 1000 + 900 - 1500 - fee,
		string(c.ID()): 1000 + 1500 + 50, System: 3 * fee}
	check := func(l *Ledger) {
		t.Helper()
		got, err := l.Balances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("balances (-want +got):\n%s", diff)
		}
		for _, c := range []Certificate{ab, bc, ab2} {
			if st, _ := l.Status(ctx, c.Tx.Hash()); st != StatusApplied {
				t.Errorf("status of %s nonce %d: %v, want applied", c.Tx.Src, c.Tx.Nonce, st)
			}
		}
	}
	check(l)
	db.Close()
	db, err = sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if l, err = Open(ctx, db, n.com); err != nil {
		t.Fatal(err)
	}
	check(l)
	if res, err := l.ApplyAll(ctx, []Certificate{ab, bc, ab2}); err != nil || res[0] || res[1] || res[2] {
		t.Errorf("ApplyAll(again after restart) = %v, %v, want nothing applied", res, err)
	}
	check(l)
	if next, _ := l.NextNonce(ctx, string(a.ID())); next != 3 {
		t.Errorf("NextNonce(a) = %d, want 3", next)
	}
}

// TestConcurrentApplyAndSign: goroutines apply the same certificates and
// ask one witness for votes on conflicting transactions at once; each
// certificate is applied exactly once and the witness votes for one
// transaction per (src, nonce).
func TestConcurrentApplyAndSign(t *testing.T) {
	ctx := context.Background()
	n := newCommitteeNet(t, 5, []uint64{1, 1, 1, 1}, nil)
	var certs []Certificate
	for i, from := range n.wallets {
		to := n.wallets[(i+1)%len(n.wallets)]
		certs = append(certs, n.certify(t, n.transfer(t, from, string(to.ID()), 10, 1), nil, n.wits...))
	}
	l := openLedger(t, n.com, "concurrent")
	const workers = 8
	applied := make([][]bool, workers)
	errs := make(chan error, 2*workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := append([]Certificate(nil), certs...)
			if g%2 == 1 {
				slices.Reverse(order)
			}
			res, err := l.ApplyAll(ctx, order)
			if g%2 == 1 {
				slices.Reverse(res)
			}
			applied[g] = res
			errs <- err
		}()
	}
	// Conflicting transactions of one fresh (src, nonce) at one witness.
	votes := make(chan [32]byte, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx := n.transfer(t, n.wallets[0], string(n.wallets[1].ID()), int64(1+g), 2)
			if v, err := n.wits[0].Sign(ctx, tx, certs[:1]); err == nil {
				votes <- v.Tx
			} else if !errors.Is(err, ErrConflict) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(votes)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range certs {
		count := 0
		for g := range workers {
			if applied[g][i] {
				count++
			}
		}
		if count != 1 {
			t.Errorf("certificate %d applied by %d of the concurrent calls, want exactly 1", i, count)
		}
	}
	distinct := map[[32]byte]bool{}
	for h := range votes {
		distinct[h] = true
	}
	if len(distinct) != 1 {
		t.Errorf("the witness voted for %d different transactions of one (src, nonce), want 1", len(distinct))
	}
}

// TestAssemble: votes for other transactions, repeated votes and votes of
// a round holding less weight do not count; the certificate forms at
// more than 2/3.
func TestAssemble(t *testing.T) {
	ctx := context.Background()
	n := newCommitteeNet(t, 6, []uint64{1, 1, 1, 1}, nil)
	tx := n.transfer(t, n.wallets[0], string(n.wallets[1].ID()), 5, 1)
	other := n.transfer(t, n.wallets[0], string(n.wallets[2].ID()), 5, 1)
	v0, err := n.wits[0].Sign(ctx, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := n.wits[1].Sign(ctx, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	stray := signVote(n.witnesses[2], other.Hash(), 1, 0)
	otherRound := signVote(n.witnesses[3], tx.Hash(), 1, 7)
	votes := []Vote{v0, v0, v1, stray, otherRound}
	if _, w, err := Assemble(n.com, tx, votes); !errors.Is(err, ErrNotFinal) || w != 2 {
		t.Errorf("Assemble(2 of 4) = weight %d, %v, want 2 and ErrNotFinal", w, err)
	}
	v2, err := n.wits[2].Sign(ctx, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, w, err := Assemble(n.com, tx, append(votes, v2))
	if err != nil || w != 3 || len(c.Votes) != 3 {
		t.Fatalf("Assemble(3 of 4) = %d votes, weight %d, %v", len(c.Votes), w, err)
	}
}
