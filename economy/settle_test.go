package economy

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
)

// hostKeys returns deterministic keys for a host: 64 bytes of b.
func hostKeys(t testing.TB, b byte) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// accepted returns host's receipt seq for consumer (units micro-units at
// price micro-credits per unit), accepted by consumer.
func accepted(t testing.TB, host, consumer *identity.Keys, seq uint64, units, price int64) ledger.Receipt {
	t.Helper()
	r, err := ledger.SignReceipt(host, ledger.Receipt{Version: ledger.ReceiptVersion2, ResourceType: ledger.ResourceCompute,
		JobID: fmt.Sprintf("job-%d", seq), Units: units, Seq: seq, ConsumerID: consumer.ID(), UnitPrice: price})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = ledger.Accept(consumer, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// settleNode is a database with a settler, and the node's own ledger.
type settleNode struct {
	path    string
	db      *sql.DB
	settler *Settler
	ledger  *Ledger
}

func openSettleNode(t testing.TB, path string, com Committee, k *identity.Keys) *settleNode {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := Open(ctx, db, com)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSettler(ctx, db, k)
	if err != nil {
		t.Fatal(err)
	}
	return &settleNode{path: path, db: db, settler: s, ledger: l}
}

func (n *settleNode) funds(t testing.TB, k *identity.Keys) Funds {
	t.Helper()
	ctx := context.Background()
	bal, err := n.ledger.Balance(ctx, string(k.ID()))
	if err != nil {
		t.Fatal(err)
	}
	next, err := n.ledger.NextNonce(ctx, string(k.ID()))
	if err != nil {
		t.Fatal(err)
	}
	// The settler's pending payments are this node's only transactions
	// that are not final.
	pending, err := n.settler.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range pending {
		if st, _ := n.ledger.Status(ctx, tx.Hash()); st == StatusUnknown {
			bal -= tx.Amount + tx.Fee
			next = max(next, tx.Nonce+1)
		}
	}
	return Funds{Balance: bal, NextNonce: next}
}

// witnessSet is a committee's witnesses, each with its own database,
// ledger and paid-receipt index.
type witnessSet struct {
	wits    []*Witness
	ledgers []*Ledger
}

func newWitnessSet(t testing.TB, w world) witnessSet {
	t.Helper()
	ctx := context.Background()
	var ws witnessSet
	for i, k := range w.witnesses {
		db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), fmt.Sprintf("w%d.db", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		l, err := Open(ctx, db, w.com)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := OpenPaidIndex(ctx, db, l)
		if err != nil {
			t.Fatal(err)
		}
		wt, err := NewWitness(l, k, w.com, idx)
		if err != nil {
			t.Fatal(err)
		}
		ws.wits = append(ws.wits, wt)
		ws.ledgers = append(ws.ledgers, l)
	}
	return ws
}

// certify asks every witness to sign t and returns the certificate when
// more than 2/3 of the weight did, with the first refusal.
func (ws witnessSet) certify(t testing.TB, com Committee, tx Tx, credits []Certificate) (Certificate, error) {
	t.Helper()
	ctx := context.Background()
	var votes []Vote
	var firstErr error
	for _, w := range ws.wits {
		v, err := w.Sign(ctx, tx, credits)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		votes = append(votes, v)
	}
	c := Certificate{Tx: tx, Votes: votes}
	if err := c.Verify(com); err != nil {
		return Certificate{}, errors.Join(err, firstErr)
	}
	return c, nil
}

// refusedPaid reports whether err is a witness's refusal of a settlement
// because a receipt is already paid. The witness keeps only the text of
// its validator's error (ErrNotValidated wraps it with %v).
func refusedPaid(err error) bool {
	return errors.Is(err, ErrReceiptPaid) ||
		(errors.Is(err, ErrNotValidated) && strings.Contains(err.Error(), ErrReceiptPaid.Error()))
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func TestSettlePaysOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 3, []uint64{1, 1, 1, 1}, 1, 10_000_000)
	consumer := w.wallets[0]
	hostA, hostB := hostKeys(t, 0xa1), hostKeys(t, 0xb2)
	ws := newWitnessSet(t, w)
	cn := openSettleNode(t, filepath.Join(t.TempDir(), "consumer.db"), w.com, consumer)

	var rs []ledger.Receipt
	var want = map[string]int64{}
	for i := range 150 {
		host := hostA
		if i%3 == 0 {
			host = hostB
		}
		r := accepted(t, host, consumer, uint64(i+1), 250_000, 40_000) // reward 10_000
		rs = append(rs, r)
		h, res := SplitReward(10_000, w.com.HostReserveBP)
		want[string(host.ID())] += h
		want[System] += res
	}
	if n, err := cn.settler.AddOwed(ctx, rs); err != nil || n != len(rs) {
		t.Fatalf("AddOwed = %d, %v, want %d", n, err, len(rs))
	}
	if n, err := cn.settler.AddOwed(ctx, rs[:10]); err != nil || n != 0 {
		t.Fatalf("AddOwed(again) = %d, %v, want 0 added", n, err)
	}
	owed, total, err := cn.settler.Owed(ctx, 1000)
	if err != nil || len(owed) != 150 || total != 150*10_000 {
		t.Fatalf("Owed = %d receipts, total %d, %v; want 150, %d", len(owed), total, err, 150*10_000)
	}

	s, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 1000, nil)
	if err != nil {
		t.Fatalf("Settle = %v", err)
	}
	// Host A: 100 receipts -> 1 batch; host B: 50 -> 1 batch; 2 txs each.
	if len(s.New) != 4 || s.Receipts != 150 || len(s.Pending) != 4 {
		t.Fatalf("Settle made %d txs for %d receipts (%d pending), want 4 for 150", len(s.New), s.Receipts, len(s.Pending))
	}
	again, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 1000, nil)
	if err != nil || len(again.New) != 0 || len(again.Pending) != 4 {
		t.Fatalf("Settle again = %d new, %d pending, %v; want 0 new, the same 4 pending", len(again.New), len(again.Pending), err)
	}

	var certs []Certificate
	for _, tx := range s.Pending {
		c, err := ws.certify(t, w.com, tx, certs)
		if err != nil {
			t.Fatalf("certify nonce %d: %v", tx.Nonce, err)
		}
		certs = append(certs, c)
	}
	if err := CheckPaidOnce(certs); err != nil {
		t.Fatalf("CheckPaidOnce = %v", err)
	}
	if _, err := cn.ledger.ApplyAll(ctx, certs); err != nil {
		t.Fatal(err)
	}
	if n, err := cn.settler.Finalize(ctx, cn.ledger); err != nil || n != 4 {
		t.Fatalf("Finalize = %d, %v, want 4", n, err)
	}
	if owed, total, _ := cn.settler.Owed(ctx, 1000); len(owed) != 0 || total != 0 {
		t.Errorf("Owed after settlement = %d receipts, %d; want none", len(owed), total)
	}
	want[System] += 4 * w.com.Fee()
	want[string(consumer.ID())] = 10_000_000 - 150*10_000 - 4*w.com.Fee()
	for acct, v := range want {
		if got, err := cn.ledger.Balance(ctx, acct); err != nil || got != v {
			t.Errorf("Balance(%s) = %d, %v, want %d", acct, got, err, v)
		}
	}
	last, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 1000, nil)
	if err != nil || len(last.New) != 0 || len(last.Pending) != 0 {
		t.Errorf("Settle after final = %d new, %d pending, %v; want nothing", len(last.New), len(last.Pending), err)
	}

	// The consumer loses its database and owes the same receipts again:
	// it signs new payments, and the witnesses refuse them.
	lost := openSettleNode(t, filepath.Join(t.TempDir(), "lost.db"), w.com, consumer)
	if _, err := lost.ledger.ApplyAll(ctx, certs); err != nil {
		t.Fatal(err)
	}
	if _, err := lost.settler.AddOwed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	dup, err := lost.settler.Settle(ctx, w.com, lost.funds(t, consumer), 1000, nil)
	if err != nil || len(dup.New) != 4 {
		t.Fatalf("Settle on a fresh database = %d new, %v; want 4", len(dup.New), err)
	}
	for _, tx := range dup.New[:1] {
		if _, err := ws.certify(t, w.com, tx, certs); !refusedPaid(err) {
			t.Errorf("certify a second payment of paid receipts = %v, want ErrReceiptPaid", err)
		}
	}
	// A witness that never voted for the first payments knows them from
	// its ledger's certificates.
	fresh := newWitnessSet(t, w)
	for i, l := range fresh.ledgers {
		if _, err := l.ApplyAll(ctx, certs); err != nil {
			t.Fatalf("witness %d: %v", i, err)
		}
	}
	if _, err := fresh.certify(t, w.com, dup.New[0], nil); !refusedPaid(err) {
		t.Errorf("fresh witnesses certify a second payment = %v, want ErrReceiptPaid", err)
	}
}

// TestSettleCrashResendsSameTx: a settler reopened on the same database
// (what a restart after kill -9 sees) sends the very transactions it
// signed, and signs no others for the same receipts.
func TestSettleCrashResendsSameTx(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 4, []uint64{1, 1, 1, 1}, 1, 1_000_000)
	consumer, host := w.wallets[0], hostKeys(t, 0xc3)
	path := filepath.Join(t.TempDir(), "consumer.db")
	first := openSettleNode(t, path, w.com, consumer)
	rs := []ledger.Receipt{accepted(t, host, consumer, 1, 1_000_000, 5_000), accepted(t, host, consumer, 2, 2_000_000, 5_000)}
	if _, err := first.settler.AddOwed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	s, err := first.settler.Settle(ctx, w.com, first.funds(t, consumer), 10, nil)
	if err != nil || len(s.New) != 2 {
		t.Fatalf("Settle = %d txs, %v", len(s.New), err)
	}
	first.db.Close()

	again := openSettleNode(t, path, w.com, consumer)
	if _, err := again.settler.AddOwed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	s2, err := again.settler.Settle(ctx, w.com, again.funds(t, consumer), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.New) != 0 || len(s2.Pending) != 2 {
		t.Fatalf("after restart: %d new, %d pending; want 0 new and the 2 signed before", len(s2.New), len(s2.Pending))
	}
	for i := range s.New {
		if !bytes.Equal(s.New[i].Encode(), s2.Pending[i].Encode()) {
			t.Errorf("pending tx %d differs after restart", i)
		}
	}
}

func TestSettleCannotPay(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 5, []uint64{1, 1, 1, 1}, 1, 50_000)
	consumer, host := w.wallets[0], hostKeys(t, 0xd4)
	cn := openSettleNode(t, filepath.Join(t.TempDir(), "c.db"), w.com, consumer)
	rs := []ledger.Receipt{accepted(t, host, consumer, 1, 1_000_000, 30_000), accepted(t, host, consumer, 2, 1_000_000, 30_000)}
	if _, err := cn.settler.AddOwed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 10, nil); !errors.Is(err, ErrCannotPay) {
		t.Fatalf("Settle(60000 owed, 50000 held) = %v, want ErrCannotPay", err)
	}
	owed, total, err := cn.settler.Owed(ctx, 10)
	if err != nil || len(owed) != 2 || total != 60_000 || owed[0].Pending {
		t.Errorf("Owed after a failed settlement = %d receipts, %d, %v; want both, unpaid", len(owed), total, err)
	}
	if p, _ := cn.settler.Pending(ctx); len(p) != 0 {
		t.Errorf("%d pending txs after a failed settlement, want 0", len(p))
	}
	// A pool that fails rolls the whole settlement back.
	boom := errors.New("pool full")
	if _, err := cn.settler.Settle(ctx, w.com, Funds{Balance: 1 << 40, NextNonce: 1}, 10,
		func(context.Context, *sql.Tx, []Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Settle(failing pool) = %v, want its error", err)
	}
	if p, _ := cn.settler.Pending(ctx); len(p) != 0 {
		t.Errorf("%d pending txs after a failed pool, want 0", len(p))
	}
	// One receipt is affordable: settle the newest only.
	s, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 1, nil)
	if err != nil || s.Receipts != 1 {
		t.Fatalf("Settle(limit 1) = %d receipts, %v", s.Receipts, err)
	}
	if _, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 10, nil); !errors.Is(err, ErrCannotPay) {
		t.Errorf("Settle with the first payment pending = %v, want ErrCannotPay (its cost is spoken for)", err)
	}
}

func TestAddOwedRejects(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 6, []uint64{1, 1, 1, 1}, 2, 1)
	consumer, other, host := w.wallets[0], w.wallets[1], hostKeys(t, 0xe5)
	cn := openSettleNode(t, filepath.Join(t.TempDir(), "c.db"), w.com, consumer)
	good := accepted(t, host, consumer, 1, 1_000_000, 1)
	unaccepted := good
	unaccepted.Acceptance = ""
	forged := good
	forged.UnitPrice = 2
	v1, err := ledger.SignReceipt(host, ledger.Receipt{Version: ledger.ReceiptVersion, ResourceType: ledger.ResourceCompute, JobID: "v1", Seq: 9})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    ledger.Receipt
	}{
		{"other consumer", accepted(t, host, other, 2, 1, 1)},
		{"not accepted", unaccepted},
		{"price changed", forged},
		{"version 1", v1},
	}
	for _, tt := range tests {
		if n, err := cn.settler.AddOwed(ctx, []ledger.Receipt{good, tt.r}); !errors.Is(err, ErrNotConsumer) || n != 0 {
			t.Errorf("%s: AddOwed = %d, %v, want 0, ErrNotConsumer", tt.name, n, err)
		}
	}
	if owed, _, _ := cn.settler.Owed(ctx, 10); len(owed) != 0 {
		t.Errorf("a refused AddOwed stored %d receipts", len(owed))
	}
	free := accepted(t, host, consumer, 3, 1, 1) // reward rounds to 0
	if n, err := cn.settler.AddOwed(ctx, []ledger.Receipt{free}); err != nil || n != 0 {
		t.Errorf("AddOwed(worthless) = %d, %v, want 0, nil", n, err)
	}
}

func TestSettleMeta(t *testing.T) {
	id := func(b byte) [32]byte { return [32]byte{b} }
	good := EncodeSettleMeta([][32]byte{id(3), id(1), id(2), id(1)})
	got, err := DecodeSettleMeta(good)
	if err != nil || len(got) != 3 || got[0] != id(1) || got[2] != id(3) {
		t.Fatalf("DecodeSettleMeta(Encode(3,1,2,1)) = %x, %v; want 1,2,3", got, err)
	}
	unsorted := append([]byte{1, 0, 2}, append(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32)...)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{2}, good[1:]...)},
		{"zero count", []byte{1, 0, 0}},
		{"too many", EncodeSettleMeta(make([][32]byte, 1))[:1]},
		{"short", good[:len(good)-1]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"unsorted", unsorted},
		{"over the limit", append([]byte{1, 0, MaxSettleReceipts + 1}, make([]byte, 32*(MaxSettleReceipts+1))...)},
	}
	for _, tt := range tests {
		if _, err := DecodeSettleMeta(tt.b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: DecodeSettleMeta = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestSplitReward(t *testing.T) {
	tests := []struct {
		reward        int64
		bp            uint16
		host, reserve int64
	}{
		{10_000, 100, 9_900, 100},
		{99, 100, 99, 0}, // the reserve rounds down
		{1 << 62, 10_000, 0, 1 << 62},
		{1<<63 - 1, 10_000, 0, 1<<63 - 1},
		{1<<63 - 1, 65_535, 0, 1<<63 - 1}, // clamped to 100 %
		{0, 100, 0, 0},
		{-5, 100, 0, 0},
	}
	for _, tt := range tests {
		h, r := SplitReward(tt.reward, tt.bp)
		if h != tt.host || r != tt.reserve {
			t.Errorf("SplitReward(%d, %d) = %d, %d; want %d, %d", tt.reward, tt.bp, h, r, tt.host, tt.reserve)
		}
	}
}

func TestCheckPaidOnce(t *testing.T) {
	w := newWorld(t, 7, []uint64{1}, 2, 1_000_000)
	c := w.wallets[0]
	host := string(hostKeys(t, 0xf6).ID())
	mk := func(dst string, nonce uint64, ids ...byte) Certificate {
		var list [][32]byte
		for _, b := range ids {
			list = append(list, [32]byte{b})
		}
		tx, err := SignTx(Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: string(c.ID()), Dst: dst, Amount: 1,
			Fee: w.com.Fee(), Nonce: nonce, Kind: KindSettle, Meta: EncodeSettleMeta(list)}, c)
		if err != nil {
			t.Fatal(err)
		}
		return Certificate{Tx: tx}
	}
	transfer := Certificate{Tx: w.transfer(t, c, host, 5, 9)}
	other := func(dst string, nonce uint64, id byte) Certificate {
		tx, err := SignTx(Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: string(w.wallets[1].ID()), Dst: dst, Amount: 1,
			Fee: w.com.Fee(), Nonce: nonce, Kind: KindSettle, Meta: EncodeSettleMeta([][32]byte{{id}})}, w.wallets[1])
		if err != nil {
			t.Fatal(err)
		}
		return Certificate{Tx: tx}
	}
	tests := []struct {
		name  string
		certs []Certificate
		ok    bool
	}{
		{"host and reserve parts", []Certificate{mk(host, 1, 1, 2), mk(System, 2, 1, 2)}, true},
		{"the same certificate twice", []Certificate{mk(host, 1, 1), mk(host, 1, 1), transfer}, true},
		{"paid twice", []Certificate{mk(host, 1, 1, 2), mk(host, 3, 2, 3)}, false},
		{"reserve twice", []Certificate{mk(System, 1, 4), mk(System, 2, 4)}, false},
		{"another payer", []Certificate{mk(host, 1, 5), other(host, 1, 5)}, true},
	}
	for _, tt := range tests {
		if err := CheckPaidOnce(tt.certs); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrReceiptPaid)) {
			t.Errorf("%s: CheckPaidOnce = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestSettleOtherPayer: a node that names another consumer's receipts in a
// settlement of its own pays the host out of its own pocket; the
// consumer's payment of the same receipts is still certified, once.
func TestSettleOtherPayer(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 8, []uint64{1, 1, 1, 1}, 2, 1_000_000)
	consumer, meddler, host := w.wallets[0], w.wallets[1], hostKeys(t, 0x77)
	ws := newWitnessSet(t, w)
	cn := openSettleNode(t, filepath.Join(t.TempDir(), "c.db"), w.com, consumer)
	rs := []ledger.Receipt{accepted(t, host, consumer, 1, 1_000_000, 10_000)}
	id, _ := rs[0].ID()
	front, err := SignTx(Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: string(meddler.ID()), Dst: string(host.ID()),
		Amount: 1, Fee: w.com.Fee(), Nonce: 1, Kind: KindSettle, Meta: EncodeSettleMeta([][32]byte{id})}, meddler)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := ws.certify(t, w.com, front, nil)
	if err != nil {
		t.Fatalf("certify the meddler's payment: %v", err)
	}
	if _, err := cn.settler.AddOwed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	s, err := cn.settler.Settle(ctx, w.com, cn.funds(t, consumer), 10, nil)
	if err != nil || len(s.New) != 2 {
		t.Fatalf("Settle = %d txs, %v", len(s.New), err)
	}
	certs := []Certificate{fc}
	for _, tx := range s.New {
		c, err := ws.certify(t, w.com, tx, certs[1:])
		if err != nil {
			t.Fatalf("certify the consumer's payment after a meddler's: %v", err)
		}
		certs = append(certs, c)
	}
	if err := CheckPaidOnce(certs); err != nil {
		t.Errorf("CheckPaidOnce = %v", err)
	}
}

// TestPaidIndexJudgesSettlementsOnly: the index refuses kinds it cannot
// judge (a witness with only it must not sign an issuance), and
// Validators sends each kind to its own validator.
func TestPaidIndexJudgesSettlementsOnly(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 9, []uint64{1}, 1, 1000)
	ws := newWitnessSet(t, w)
	issue := Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: System, Dst: string(w.wallets[0].ID()), Amount: 5, Nonce: 1, Kind: KindIssuance}
	if _, err := ws.wits[0].Sign(ctx, issue, nil); !errors.Is(err, ErrNotValidated) {
		t.Errorf("a witness with the paid-receipt index signs an issuance: %v, want ErrNotValidated", err)
	}
	paid := ws.wits[0].validator
	allow := issuancePolicy{max: 10}
	vs := Validators{KindSettle: paid, KindIssuance: allow}
	if err := vs.ValidateTx(ctx, issue); err != nil {
		t.Errorf("Validators(issuance within policy) = %v", err)
	}
	if err := vs.ValidateTx(ctx, Tx{Kind: KindJob}); !errors.Is(err, ErrNotValidated) {
		t.Errorf("Validators(job, no validator) = %v, want ErrNotValidated", err)
	}
}
