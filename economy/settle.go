package economy

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
)

// settleFiles holds the migrations of component "settle", apart from the
// economy ledger's own (migrations/), so that their numbers never collide.
//
//go:embed settle_migrations/migrations/*.sql
var settleFiles embed.FS

// settleMigrations is settleFiles with migrations/ at its root, where
// sqlitedb.Migrate looks.
var settleMigrations = func() fs.FS {
	sub, err := fs.Sub(settleFiles, "settle_migrations")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return sub
}()

// Bounds of settlement.
const (
	// MaxSettleReceipts is the most receipts one settlement transaction
	// pays: its Meta holds their 32-byte IDs (3 + 100*32 < MaxMeta).
	MaxSettleReceipts = 100
	// MaxOwed bounds the receipts a consumer keeps waiting to be paid;
	// beyond it AddOwed refuses more until some are settled.
	MaxOwed = 100_000
	// maxSettleBatch bounds the receipts one Settle call pays.
	maxSettleBatch = 10 * MaxSettleReceipts
	// claimPage is how many certificates the claims index reads at once.
	claimPage = 500
)

// settleMetaVersion starts a settlement's Meta.
const settleMetaVersion = 0x01

// Errors of settlement.
var (
	// ErrCannotPay: the consumer's final balance, less what its pending
	// settlements already spend, does not cover the payments (amounts and
	// fees). Nothing was signed; the receipts stay owed.
	ErrCannotPay = errors.New("cannot pay")
	// ErrReceiptPaid: a settlement names a receipt that another
	// transaction already pays (a witness refuses to sign it).
	ErrReceiptPaid = errors.New("receipt already paid by another transaction")
	// ErrOwedFull: the consumer holds MaxOwed unpaid receipts.
	ErrOwedFull = errors.New("too many unpaid receipts")
	// ErrNotConsumer: a receipt to be owed names another consumer, or is
	// not accepted.
	ErrNotConsumer = errors.New("not an accepted receipt of this consumer")
)

// Roles of a payment: each receipt is paid at most once to its host and at
// most once to the system account (its host_reserve part).
const (
	roleHost    = "host"
	roleReserve = "reserve"
)

// role is the part of its receipts a settlement transaction pays.
func role(t Tx) string {
	if t.Dst == System {
		return roleReserve
	}
	return roleHost
}

// EncodeSettleMeta returns a settlement's Meta: the version byte, a 2-byte
// count and the receipts' IDs in ascending order, each once.
func EncodeSettleMeta(ids [][32]byte) []byte {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	b := make([]byte, 0, 3+32*len(ids))
	b = append(b, settleMetaVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// DecodeSettleMeta parses a settlement's Meta, refusing anything that
// EncodeSettleMeta would not write: 1 to MaxSettleReceipts IDs, strictly
// ascending, nothing after them. Errors wrap ErrInvalid.
func DecodeSettleMeta(b []byte) ([][32]byte, error) {
	if len(b) < 3 || b[0] != settleMetaVersion {
		return nil, fmt.Errorf("%w: settlement meta must start with version %d and a count", ErrInvalid, settleMetaVersion)
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if n == 0 || n > MaxSettleReceipts {
		return nil, fmt.Errorf("%w: settlement of %d receipts, want 1 to %d", ErrInvalid, n, MaxSettleReceipts)
	}
	if len(b) != 3+32*n {
		return nil, fmt.Errorf("%w: settlement meta of %d bytes for %d receipts", ErrInvalid, len(b), n)
	}
	ids := make([][32]byte, n)
	for i := range ids {
		copy(ids[i][:], b[3+32*i:])
		if i > 0 && bytes.Compare(ids[i-1][:], ids[i][:]) >= 0 {
			return nil, fmt.Errorf("%w: settlement receipt IDs not strictly ascending", ErrInvalid)
		}
	}
	return ids, nil
}

// SplitReward divides a receipt's reward: reserveBP basis points of it
// (rounded down) go to the system account, the rest to the host.
// A reward that is not positive splits into nothing.
func SplitReward(reward int64, reserveBP uint16) (host, reserve int64) {
	if reward <= 0 {
		return 0, 0
	}
	// With reserveBP at most 10_000 the product is below 10_000 * 2^63,
	// so its high word is below the divisor and Div64 cannot panic.
	hi, lo := bits.Mul64(uint64(reward), uint64(min(reserveBP, 10_000)))
	q, _ := bits.Div64(hi, lo, 10_000)
	return reward - int64(q), int64(q)
}

// Owed is an accepted receipt the consumer has not finished paying.
type Owed struct {
	Receipt ledger.Receipt
	ID      [32]byte
	// Reward is units x unit price (micro-credits).
	Reward int64
	// Pending says the payment is signed and waits for its certificate.
	Pending bool
}

// Settler is a consumer's side of settlement: the receipts it accepted and
// owes (SQLite, component "settle"), and the settlement transactions it
// signed. It is safe for concurrent use and starts no goroutines.
type Settler struct {
	db   *sql.DB
	keys *identity.Keys

	// mu serializes Settle calls of this process, so that two never pick
	// the same receipts or nonces; the SQLite transaction makes it hold
	// across a crash.
	mu sync.Mutex
}

// OpenSettler migrates the settlement tables in db and returns the
// settler of the node with keys.
func OpenSettler(ctx context.Context, db *sql.DB, keys *identity.Keys) (*Settler, error) {
	if err := sqlitedb.Migrate(ctx, db, "settle", settleMigrations); err != nil {
		return nil, fmt.Errorf("open settlement: %w", err)
	}
	return &Settler{db: db, keys: keys}, nil
}

// AddOwed records accepted receipts this node owes for. Each must carry
// this node's valid acceptance; receipts already known are skipped, and
// receipts worth nothing (reward 0) are not owed. It returns how many were
// added. Errors wrap ErrNotConsumer, ErrOwedFull or a ledger error, and
// then nothing is added.
func (s *Settler) AddOwed(ctx context.Context, rs []ledger.Receipt) (int, error) {
	type row struct {
		id     [32]byte
		reward int64
		js     []byte
		r      ledger.Receipt
	}
	rows := make([]row, 0, len(rs))
	for _, r := range rs {
		if r.ConsumerID != s.keys.ID() {
			return 0, fmt.Errorf("%w: receipt %d of %s names consumer %s", ErrNotConsumer, r.Seq, r.NodeID, r.ConsumerID)
		}
		if err := r.VerifyAccepted(); err != nil {
			return 0, fmt.Errorf("%w: receipt %d of %s: %w", ErrNotConsumer, r.Seq, r.NodeID, err)
		}
		id, err := r.ID()
		if err != nil {
			return 0, err
		}
		reward, err := r.Reward()
		if err != nil {
			return 0, err
		}
		if reward == 0 {
			continue
		}
		js, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("encode receipt %d: %w", r.Seq, err)
		}
		rows = append(rows, row{id, reward, js, r})
	}
	added := 0
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		added = 0
		var unpaid int
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM settle_owed WHERE paid = 0), COALESCE((SELECT MAX(added) FROM settle_owed), 0)`).
			Scan(&unpaid, &last); err != nil {
			return fmt.Errorf("count owed receipts: %w", err)
		}
		put, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO settle_owed (receipt_id, host, reward, added, receipt_json)
			VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("prepare owed receipt: %w", err)
		}
		defer put.Close()
		for _, r := range rows {
			res, err := put.ExecContext(ctx, r.id[:], string(r.r.NodeID), r.reward, last+1, string(r.js))
			if err != nil {
				return fmt.Errorf("store owed receipt %d of %s: %w", r.r.Seq, r.r.NodeID, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				added++
				last++
			}
		}
		if unpaid+added > MaxOwed {
			return fmt.Errorf("%w: %d unpaid, limit %d", ErrOwedFull, unpaid+added, MaxOwed)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("add owed receipts: %w", err)
	}
	return added, nil
}

// Owed returns up to limit receipts not yet final: unpaid ones and those
// whose payment waits for its certificate, newest first, and the sum of
// their rewards.
func (s *Settler) Owed(ctx context.Context, limit int) ([]Owed, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("owed receipts: limit %d is not positive", limit)
	}
	const open = `FROM settle_owed o WHERE o.paid = 0 OR EXISTS (SELECT 1 FROM settle_paid p
		JOIN settle_txs t ON t.tx_hash = p.tx_hash WHERE p.receipt_id = o.receipt_id AND t.state = 0)`
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(reward), 0) `+open).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sum owed receipts: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT receipt_id, reward, paid, receipt_json `+open+` ORDER BY added DESC LIMIT ?`, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list owed receipts: %w", err)
	}
	defer rows.Close()
	var out []Owed
	for rows.Next() {
		var (
			o    Owed
			id   []byte
			paid int
			js   string
		)
		if err := rows.Scan(&id, &o.Reward, &paid, &js); err != nil {
			return nil, 0, fmt.Errorf("read owed receipt: %w", err)
		}
		if err := json.Unmarshal([]byte(js), &o.Receipt); err != nil {
			return nil, 0, fmt.Errorf("decode owed receipt: %w", err)
		}
		copy(o.ID[:], id)
		o.Pending = paid == 1
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list owed receipts: %w", err)
	}
	return out, total, nil
}

// Funds is what a consumer can spend.
type Funds struct {
	// Balance is what the consumer may spend: its final balance less what
	// its transactions that are not final yet (settlements included)
	// spend.
	Balance int64
	// NextNonce is the consumer's next free nonce: after its final
	// transactions and after those not final yet.
	NextNonce uint64
}

// PoolFunc records signed transactions in the caller's own tables (its
// transaction pool) inside Settle's SQLite transaction, so that the pool
// and the record of paid receipts commit together or not at all.
type PoolFunc func(ctx context.Context, tx *sql.Tx, txs []Tx) error

// Settlement is the result of a Settle call.
type Settlement struct {
	// New are the transactions this call signed.
	New []Tx
	// Pending are all signed settlement transactions not yet final
	// (New included), in nonce order: send them to the witnesses.
	Pending []Tx
	// Receipts is how many receipts New pays.
	Receipts int
	// Amount is what New pays, fees not included (micro-credits).
	Amount int64
	// Fees is what New pays in fees.
	Fees int64
}

// Settle pays up to limit of the newest unpaid receipts under com's terms:
// per host, batches of at most MaxSettleReceipts receipts become one
// transaction to the host (their rewards less host_reserve) and one to the
// system account (the reserve). The transactions are signed and recorded,
// with every receipt they pay, in one SQLite transaction, so a receipt is
// put into a payment at most once however often Settle runs, and a crash
// leaves either nothing or the complete signed payments (sent again by
// the next call, never replaced). Nonces continue after funds.NextNonce and
// after the node's own pending settlements; the caller must not give the
// same nonces to other transactions while these are pending (pool, when
// not nil, records them where the caller's nonce allocation sees them, in
// the same SQLite transaction). When the payments and fees exceed
// funds.Balance, Settle signs nothing and fails with ErrCannotPay.
func (s *Settler) Settle(ctx context.Context, com Committee, funds Funds, limit int, pool PoolFunc) (Settlement, error) {
	if limit <= 0 || limit > maxSettleBatch {
		return Settlement{}, fmt.Errorf("settle: limit %d, want 1 to %d", limit, maxSettleBatch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Settlement
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		out = Settlement{}
		var lastNonce uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(nonce), 0) FROM settle_txs WHERE state = 0`).
			Scan(&lastNonce); err != nil {
			return fmt.Errorf("read pending settlements: %w", err)
		}
		owed, err := unpaid(ctx, tx, limit)
		if err != nil {
			return err
		}
		nonce := max(funds.NextNonce, lastNonce+1)
		batches := batch(owed)
		var cost int64
		for _, b := range batches {
			txs, err := s.payments(com, b, &nonce)
			if err != nil {
				return err
			}
			for _, t := range txs {
				c := t.Amount + t.Fee
				if err := insertPayment(ctx, tx, t, c, b); err != nil {
					return err
				}
				cost, out.Fees = cost+c, out.Fees+t.Fee
				out.Amount += t.Amount
				out.New = append(out.New, t)
			}
			out.Receipts += len(b)
		}
		if cost > funds.Balance {
			return fmt.Errorf("%w: %d receipts cost %s credits with fees, and %s is free to spend",
				ErrCannotPay, out.Receipts, fixed.Format(cost), fixed.Format(max(funds.Balance, 0)))
		}
		if pool != nil && len(out.New) > 0 {
			if err := pool(ctx, tx, out.New); err != nil {
				return err
			}
		}
		mark, err := tx.PrepareContext(ctx, `UPDATE settle_owed SET paid = 1 WHERE receipt_id = ?`)
		if err != nil {
			return fmt.Errorf("prepare marking receipts paid: %w", err)
		}
		defer mark.Close()
		for _, o := range owed {
			if _, err := mark.ExecContext(ctx, o.ID[:]); err != nil {
				return fmt.Errorf("mark receipt paid: %w", err)
			}
		}
		out.Pending, err = pendingTxs(ctx, tx)
		return err
	})
	if err != nil {
		return Settlement{}, fmt.Errorf("settle: %w", err)
	}
	return out, nil
}

// Pending returns the signed settlement transactions not yet final, in
// nonce order.
func (s *Settler) Pending(ctx context.Context) ([]Tx, error) {
	return pendingTxs(ctx, s.db)
}

// Finalize marks as final the pending settlements whose certificates l
// holds, and returns how many it marked.
func (s *Settler) Finalize(ctx context.Context, l *Ledger) (int, error) {
	pending, err := s.Pending(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range pending {
		h := t.Hash()
		st, err := l.Status(ctx, h)
		if err != nil {
			return n, err
		}
		if st == StatusUnknown {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE settle_txs SET state = 1 WHERE tx_hash = ?`, h[:]); err != nil {
			return n, fmt.Errorf("mark settlement %x final: %w", h[:8], err)
		}
		n++
	}
	return n, nil
}

// unpaid returns up to limit unpaid owed receipts, newest first.
func unpaid(ctx context.Context, q querier, limit int) ([]Owed, error) {
	rows, err := q.QueryContext(ctx, `SELECT receipt_id, reward, receipt_json FROM settle_owed WHERE paid = 0
		ORDER BY added DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list unpaid receipts: %w", err)
	}
	defer rows.Close()
	var out []Owed
	for rows.Next() {
		var (
			o  Owed
			id []byte
			js string
		)
		if err := rows.Scan(&id, &o.Reward, &js); err != nil {
			return nil, fmt.Errorf("read unpaid receipt: %w", err)
		}
		if err := json.Unmarshal([]byte(js), &o.Receipt); err != nil {
			return nil, fmt.Errorf("decode unpaid receipt: %w", err)
		}
		copy(o.ID[:], id)
		out = append(out, o)
	}
	return out, rows.Err()
}

// batch groups receipts by host (hosts in ascending order) into runs of
// at most MaxSettleReceipts, so that the same owed receipts always make
// the same batches.
func batch(owed []Owed) [][]Owed {
	sorted := slices.Clone(owed)
	slices.SortFunc(sorted, func(a, b Owed) int {
		if a.Receipt.NodeID != b.Receipt.NodeID {
			if a.Receipt.NodeID < b.Receipt.NodeID {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	var out [][]Owed
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && j-i < MaxSettleReceipts && sorted[j].Receipt.NodeID == sorted[i].Receipt.NodeID {
			j++
		}
		out = append(out, sorted[i:j])
		i = j
	}
	return out
}

// payments signs the transactions that pay one batch (one host): to the
// host and to the system account, each only when it moves money.
func (s *Settler) payments(com Committee, b []Owed, nonce *uint64) ([]Tx, error) {
	var hostSum, reserveSum int64
	ids := make([][32]byte, len(b))
	for i, o := range b {
		h, r := SplitReward(o.Reward, com.HostReserveBP)
		if hostSum > math.MaxInt64-h || reserveSum > math.MaxInt64-r {
			return nil, fmt.Errorf("%w: the rewards of %d receipts overflow", ErrCannotPay, len(b))
		}
		hostSum, reserveSum = hostSum+h, reserveSum+r
		ids[i] = o.ID
	}
	meta := EncodeSettleMeta(ids)
	var txs []Tx
	for _, part := range []struct {
		dst    string
		amount int64
	}{{string(b[0].Receipt.NodeID), hostSum}, {System, reserveSum}} {
		if part.amount == 0 {
			continue
		}
		t, err := SignTx(Tx{Cluster: com.Cluster, Epoch: com.Epoch, Src: string(s.keys.ID()), Dst: part.dst,
			Amount: part.amount, Fee: com.Fee(), Nonce: *nonce, Kind: KindSettle, Meta: meta}, s.keys)
		if err != nil {
			return nil, fmt.Errorf("sign settlement of %d receipts to %s: %w", len(b), part.dst, err)
		}
		*nonce++
		txs = append(txs, t)
	}
	return txs, nil
}

// insertPayment records a signed settlement and the receipts it pays.
func insertPayment(ctx context.Context, tx *sql.Tx, t Tx, cost int64, b []Owed) error {
	h := t.Hash()
	if _, err := tx.ExecContext(ctx, `INSERT INTO settle_txs (tx_hash, nonce, cost, tx, state) VALUES (?, ?, ?, ?, 0)`,
		h[:], int64(t.Nonce), cost, t.Encode()); err != nil {
		return fmt.Errorf("store settlement %x: %w", h[:8], err)
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO settle_paid (receipt_id, role, tx_hash) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare payment record: %w", err)
	}
	defer put.Close()
	for _, o := range b {
		if _, err := put.ExecContext(ctx, o.ID[:], role(t), h[:]); err != nil {
			return fmt.Errorf("record payment of receipt %x: %w", o.ID[:8], err)
		}
	}
	return nil
}

func pendingTxs(ctx context.Context, q querier) ([]Tx, error) {
	rows, err := q.QueryContext(ctx, `SELECT tx FROM settle_txs WHERE state = 0 ORDER BY nonce`)
	if err != nil {
		return nil, fmt.Errorf("list pending settlements: %w", err)
	}
	defer rows.Close()
	var out []Tx
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read pending settlement: %w", err)
		}
		t, err := DecodeTx(b)
		if err != nil {
			return nil, fmt.Errorf("stored settlement: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PaidIndex is a witness's index of the receipts settlements pay: it is
// the Validator that refuses a settlement naming a receipt another
// transaction already pays, so a receipt is paid at most once even when a
// consumer lost its database and signs it into a new payment. It learns
// from the settlements it validates and from every certificate in the
// economy ledger. Safe for concurrent use; starts no goroutines.
type PaidIndex struct {
	db     *sql.DB
	source CertificateSource
	mu     sync.Mutex // serializes catching up with the ledger and claiming
}

var _ Validator = (*PaidIndex)(nil)

// CertificateSource lists stored certificates in the order they were
// stored, as [Ledger.Certificates] does.
type CertificateSource interface {
	Certificates(ctx context.Context, after int64, limit int) ([]Certificate, int64, error)
}

// OpenPaidIndex migrates the settlement tables in db and returns the index
// over src's certificates (the witness's ledger).
func OpenPaidIndex(ctx context.Context, db *sql.DB, src CertificateSource) (*PaidIndex, error) {
	if err := sqlitedb.Migrate(ctx, db, "settle", settleMigrations); err != nil {
		return nil, fmt.Errorf("open paid-receipt index: %w", err)
	}
	return &PaidIndex{db: db, source: src}, nil
}

// ValidateTx implements Validator. For a settlement it checks the Meta and
// claims each receipt's part (host or reserve) for t: it fails with
// ErrReceiptPaid when another transaction of the payer holds the claim.
// It judges settlements only: any other kind is refused (an issuance or a
// job needs its own validator; see Validators).
func (p *PaidIndex) ValidateTx(ctx context.Context, t Tx) error {
	if t.Kind != KindSettle {
		return fmt.Errorf("%w: the paid-receipt index judges settlements, not %s transactions", ErrNotValidated, t.Kind)
	}
	ids, err := DecodeSettleMeta(t.Meta)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.catchUp(ctx); err != nil {
		return err
	}
	h, r := t.Hash(), role(t)
	return sqlitedb.InTx(ctx, p.db, func(tx *sql.Tx) error {
		get, err := tx.PrepareContext(ctx, `SELECT tx_hash FROM settle_claims WHERE receipt_id = ? AND role = ? AND src = ?`)
		if err != nil {
			return fmt.Errorf("prepare claim lookup: %w", err)
		}
		defer get.Close()
		put, err := tx.PrepareContext(ctx, `INSERT INTO settle_claims (receipt_id, role, src, tx_hash, certified) VALUES (?, ?, ?, ?, 0)`)
		if err != nil {
			return fmt.Errorf("prepare claim: %w", err)
		}
		defer put.Close()
		for _, id := range ids {
			var by []byte
			err := get.QueryRowContext(ctx, id[:], r, t.Src).Scan(&by)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("look up receipt %x: %w", id[:8], err)
			case !bytes.Equal(by, h[:]):
				return fmt.Errorf("%w: receipt %x (%s part) is paid by %x", ErrReceiptPaid, id[:8], r, by[:8])
			default:
				continue
			}
			if _, err := put.ExecContext(ctx, id[:], r, t.Src, h[:]); err != nil {
				return fmt.Errorf("claim receipt %x: %w", id[:8], err)
			}
		}
		return nil
	})
}

// PaidBy returns the transaction of payer src that pays receipt id's host
// part (ok is false when none does), after reading the ledger's new
// certificates.
func (p *PaidIndex) PaidBy(ctx context.Context, id [32]byte, src string) (tx [32]byte, certified, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.catchUp(ctx); err != nil {
		return tx, false, false, err
	}
	var (
		b []byte
		c int
	)
	err = p.db.QueryRowContext(ctx, `SELECT tx_hash, certified FROM settle_claims WHERE receipt_id = ? AND role = ? AND src = ?`,
		id[:], roleHost, src).Scan(&b, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return tx, false, false, nil
	}
	if err != nil {
		return tx, false, false, fmt.Errorf("look up receipt %x: %w", id[:8], err)
	}
	copy(tx[:], b)
	return tx, c == 1, true, nil
}

// catchUp reads the certificates the ledger stored since the last call and
// makes their claims certified: a certificate is final, so its claim
// replaces an uncertified one. Two certificates claiming one receipt part
// would be a double payment, which the witnesses' quorum intersection
// rules out while the fault bound holds; it is reported as ErrReceiptPaid.
func (p *PaidIndex) catchUp(ctx context.Context) error {
	var after int64
	err := p.db.QueryRowContext(ctx, `SELECT after FROM settle_cursor WHERE id = 1`).Scan(&after)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read claims cursor: %w", err)
	}
	for {
		certs, last, err := p.source.Certificates(ctx, after, claimPage)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return nil
		}
		err = sqlitedb.InTx(ctx, p.db, func(tx *sql.Tx) error {
			for _, c := range certs {
				if err := claimCertified(ctx, tx, c.Tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO settle_cursor (id, after) VALUES (1, ?)
				ON CONFLICT (id) DO UPDATE SET after = excluded.after`, last)
			return err
		})
		if err != nil {
			return fmt.Errorf("index settlements: %w", err)
		}
		after = last
	}
}

func claimCertified(ctx context.Context, tx *sql.Tx, t Tx) error {
	if t.Kind != KindSettle {
		return nil
	}
	ids, err := DecodeSettleMeta(t.Meta)
	if err != nil {
		return fmt.Errorf("certified settlement %x: %w", t.Hash(), err)
	}
	h, r := t.Hash(), role(t)
	get, err := tx.PrepareContext(ctx, `SELECT tx_hash, certified FROM settle_claims WHERE receipt_id = ? AND role = ? AND src = ?`)
	if err != nil {
		return fmt.Errorf("prepare claim lookup: %w", err)
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO settle_claims (receipt_id, role, src, tx_hash, certified) VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (receipt_id, role, src) DO UPDATE SET tx_hash = excluded.tx_hash, certified = 1`)
	if err != nil {
		return fmt.Errorf("prepare certified claim: %w", err)
	}
	defer put.Close()
	for _, id := range ids {
		var (
			by        []byte
			certified int
		)
		err := get.QueryRowContext(ctx, id[:], r, t.Src).Scan(&by, &certified)
		if err == nil && certified == 1 && !bytes.Equal(by, h[:]) {
			return fmt.Errorf("%w: receipt %x (%s part) is paid by certificates %x and %x", ErrReceiptPaid, id[:8], r, by[:8], h[:8])
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up receipt %x: %w", id[:8], err)
		}
		if _, err := put.ExecContext(ctx, id[:], r, t.Src, h[:]); err != nil {
			return fmt.Errorf("record certified payment of receipt %x: %w", id[:8], err)
		}
	}
	return nil
}

// Validators sends each kind of transaction to its own validator; a kind
// without one is refused. A witness needs one Validator: this composes the
// paid-receipt index (KindSettle) with the others (issuance policy, jobs).
type Validators map[Kind]Validator

// ValidateTx implements Validator.
func (vs Validators) ValidateTx(ctx context.Context, t Tx) error {
	v, ok := vs[t.Kind]
	if !ok || v == nil {
		return fmt.Errorf("%w: no validator for %s transactions", ErrNotValidated, t.Kind)
	}
	return v.ValidateTx(ctx, t)
}

// CheckPaidOnce reports whether certs pay any receipt part twice by one
// payer: the invariant "every receipt is paid at most once" that the
// simulation checks after every schedule. Transactions that are not
// settlements are ignored.
func CheckPaidOnce(certs []Certificate) error {
	type part struct {
		id   [32]byte
		role string
		src  string
	}
	seen := map[part][32]byte{}
	for _, c := range certs {
		if c.Tx.Kind != KindSettle {
			continue
		}
		ids, err := DecodeSettleMeta(c.Tx.Meta)
		if err != nil {
			return fmt.Errorf("certified settlement %x: %w", c.Tx.Hash(), err)
		}
		h := c.Tx.Hash()
		for _, id := range ids {
			k := part{id, role(c.Tx), c.Tx.Src}
			if by, ok := seen[k]; ok && by != h {
				return fmt.Errorf("%w: receipt %x is paid by %x and %x", ErrReceiptPaid, id[:8], by[:8], h[:8])
			}
			seen[k] = h
		}
	}
	return nil
}
