package economy

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MaxWaiting bounds the certificates held until their dependencies arrive.
const MaxWaiting = 10_000

// Status is where a certificate is in a ledger.
type Status int

// The statuses of a certificate.
const (
	StatusUnknown Status = iota
	StatusWaiting
	StatusApplied
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Ledger applies final certificates to balances in SQLite, each exactly
// once. It is safe for concurrent use and starts no goroutines.
type Ledger struct {
	db *sql.DB

	mu         sync.Mutex // serializes applications (and guards committees)
	committees map[uint64]Committee

	// sigs are the signatures this node verified or made (its witness's
	// votes): a certificate's are not checked twice.
	sigs *sigMemo
}

// Open migrates the economy tables in db and returns a ledger that
// verifies certificates with com (AddCommittee adds later epochs). The
// first Open of a database credits the genesis allocations.
func Open(ctx context.Context, db *sql.DB, com Committee) (*Ledger, error) {
	if err := sqlitedb.Migrate(ctx, db, "economy", migrations); err != nil {
		return nil, fmt.Errorf("open economy ledger: %w", err)
	}
	l := &Ledger{db: db, committees: map[uint64]Committee{com.Epoch: com.Clone()}, sigs: newSigMemo()}
	err := sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO economy_meta (key, value) VALUES ('genesis', ?)`, com.GenesisSupply())
		if err != nil {
			return fmt.Errorf("record genesis: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		for acct, v := range com.Genesis {
			if _, err := tx.ExecContext(ctx, `INSERT INTO economy_balances (account, balance) VALUES (?, ?)`, acct, v); err != nil {
				return fmt.Errorf("credit genesis allocation of %s: %w", acct, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open economy ledger: %w", err)
	}
	return l, nil
}

// AddCommittee lets the ledger verify certificates of com's epoch.
func (l *Ledger) AddCommittee(com Committee) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.committees[com.Epoch] = com.Clone()
}

// Committee returns the committee of epoch.
func (l *Ledger) Committee(epoch uint64) (Committee, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.committees[epoch]
	return c, ok
}

// Apply verifies c and applies it if its source's previous nonce is
// applied and the source can pay; otherwise it keeps c waiting and applies
// it when a later Apply makes that true. Applying a certificate also
// applies every waiting one it unblocks, in the same SQLite transaction.
// applied reports whether c itself was applied by this call: a second
// Apply of the same certificate returns false and changes nothing.
func (l *Ledger) Apply(ctx context.Context, c Certificate) (applied bool, err error) {
	res, err := l.ApplyAll(ctx, []Certificate{c})
	if err != nil {
		return false, err
	}
	return res[0], nil
}

// ApplyAll is Apply for several certificates in one SQLite transaction.
// A certificate that does not verify fails the whole call and nothing
// changes.
func (l *Ledger) ApplyAll(ctx context.Context, cs []Certificate) ([]bool, error) {
	type item struct {
		c    Certificate
		hash [32]byte
		enc  []byte
	}
	items := make([]item, 0, len(cs))
	for _, c := range cs {
		com, ok := l.Committee(c.Tx.Epoch)
		if !ok {
			return nil, fmt.Errorf("apply certificate: %w: no committee for epoch %d", ErrWrongEpoch, c.Tx.Epoch)
		}
		body := c.Tx.Body()
		h := sha256.Sum256(body)
		st, err := l.Status(ctx, h)
		if err != nil {
			return nil, err
		}
		if st != StatusUnknown {
			items = append(items, item{hash: h})
			continue
		}
		if err := c.verify(com, body, l.sigs); err != nil {
			return nil, fmt.Errorf("apply certificate %x: %w", h[:8], err)
		}
		items = append(items, item{c: c, hash: h, enc: c.encode(body)})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]bool, len(items))
	err := sqlitedb.InTx(ctx, l.db, func(tx *sql.Tx) error {
		var waiting int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM economy_certs WHERE state = 0`).Scan(&waiting); err != nil {
			return fmt.Errorf("count waiting certificates: %w", err)
		}
		applied := false
		for i, it := range items {
			if it.enc == nil {
				continue
			}
			// Again under the lock: a concurrent call may have stored it
			// since the check that spared its verification.
			var known int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM economy_certs WHERE hash = ?`, it.hash[:]).Scan(&known); err != nil {
				return fmt.Errorf("look up certificate: %w", err)
			}
			if known > 0 {
				continue
			}
			t := it.c.Tx
			p := pendingTx{hash: it.hash[:], src: t.Src, dst: t.Dst, nonce: t.Nonce, amount: t.Amount, fee: t.Fee}
			ok, err := applyOne(ctx, tx, p)
			if err != nil {
				return fmt.Errorf("apply certificate %x: %w", it.hash[:8], err)
			}
			state := 0
			if ok {
				state, applied, out[i] = 1, true, true
			} else if waiting++; waiting > MaxWaiting {
				return fmt.Errorf("apply certificate %x: %w (%d)", it.hash[:8], ErrFull, MaxWaiting)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO economy_certs (hash, src, nonce, dst, amount, fee, epoch, state, cert)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, it.hash[:], t.Src, int64(t.Nonce), t.Dst, t.Amount, t.Fee, int64(t.Epoch), state, it.enc); err != nil {
				return fmt.Errorf("store certificate: %w", err)
			}
		}
		if !applied || waiting == 0 {
			return nil
		}
		done, err := drain(ctx, tx)
		if err != nil {
			return err
		}
		for i, it := range items {
			out[i] = out[i] || done[it.hash]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pendingTx is the part of a waiting certificate that applying needs.
type pendingTx struct {
	stored      bool // a waiting row exists (else the caller inserts it)
	hash        []byte
	src, dst    string
	nonce       uint64
	amount, fee int64
}

// drain applies waiting certificates until none can be applied, and
// returns the hashes it applied.
func drain(ctx context.Context, tx *sql.Tx) (map[[32]byte]bool, error) {
	done := map[[32]byte]bool{}
	for {
		rows, err := tx.QueryContext(ctx, `SELECT hash, src, dst, nonce, amount, fee FROM economy_certs WHERE state = 0 ORDER BY seq`)
		if err != nil {
			return nil, fmt.Errorf("list waiting certificates: %w", err)
		}
		var waiting []pendingTx
		for rows.Next() {
			p := pendingTx{stored: true}
			var nonce int64
			if err := rows.Scan(&p.hash, &p.src, &p.dst, &nonce, &p.amount, &p.fee); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read waiting certificate: %w", err)
			}
			p.nonce = uint64(nonce)
			waiting = append(waiting, p)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("list waiting certificates: %w", err)
		}
		progress := false
		for _, p := range waiting {
			ok, err := applyOne(ctx, tx, p)
			if errors.Is(err, ErrConflict) {
				continue // stays waiting: evidence that more than 1/3 of the weight lied
			}
			if err != nil {
				return nil, err
			}
			if ok {
				done[[32]byte(p.hash)] = true
				progress = true
			}
		}
		if !progress {
			return done, nil
		}
	}
}

// applyOne applies t if it can be applied now: its nonce is the source's
// next and the source can pay. A nonce already applied by another
// certificate is ErrConflict.
func applyOne(ctx context.Context, tx *sql.Tx, t pendingTx) (bool, error) {
	next, err := nextNonce(ctx, tx, t.src)
	if err != nil {
		return false, err
	}
	switch {
	case t.nonce < next:
		// Another certificate of (src, nonce) is applied (this one's hash
		// is not stored as applied): more than 1/3 of the weight lied.
		return false, fmt.Errorf("%w: %s nonce %d", ErrConflict, t.src, t.nonce)
	case t.nonce > next:
		return false, nil
	}
	if t.src != System {
		bal, err := balance(ctx, tx, t.src)
		if err != nil {
			return false, err
		}
		if bal < t.amount+t.fee {
			return false, nil
		}
		if err := credit(ctx, tx, t.src, -(t.amount + t.fee)); err != nil {
			return false, err
		}
		if t.fee > 0 {
			if err := credit(ctx, tx, System, t.fee); err != nil {
				return false, err
			}
		}
	} else if _, err := tx.ExecContext(ctx, `INSERT INTO economy_meta (key, value) VALUES ('issued', ?)
		ON CONFLICT (key) DO UPDATE SET value = value + excluded.value`, t.amount); err != nil {
		return false, fmt.Errorf("count issuance: %w", err)
	}
	if err := credit(ctx, tx, t.dst, t.amount); err != nil {
		return false, err
	}
	if t.stored {
		if _, err := tx.ExecContext(ctx, `UPDATE economy_certs SET state = 1 WHERE hash = ?`, t.hash); err != nil {
			return false, fmt.Errorf("mark certificate applied: %w", err)
		}
	}
	return true, nil
}

func credit(ctx context.Context, q querier, acct string, delta int64) error {
	// An UPDATE first: an upsert checks the CHECK on the row it would
	// insert, and a debit's delta is negative.
	res, err := q.ExecContext(ctx, `UPDATE economy_balances SET balance = balance + ? WHERE account = ?`, delta, acct)
	if err != nil {
		return fmt.Errorf("credit %d to %s: %w", delta, acct, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO economy_balances (account, balance) VALUES (?, ?)`, acct, delta); err != nil {
		return fmt.Errorf("credit %d to %s: %w", delta, acct, err)
	}
	return nil
}

func balance(ctx context.Context, q querier, acct string) (int64, error) {
	var b int64
	err := q.QueryRowContext(ctx, `SELECT balance FROM economy_balances WHERE account = ?`, acct).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read balance of %s: %w", acct, err)
	}
	return b, nil
}

func nextNonce(ctx context.Context, q querier, src string) (uint64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(nonce), 0) FROM economy_certs WHERE src = ? AND state = 1`, src).Scan(&n); err != nil {
		return 0, fmt.Errorf("read nonce of %s: %w", src, err)
	}
	return uint64(n) + 1, nil
}

// Balance returns acct's final balance in micro-credits.
func (l *Ledger) Balance(ctx context.Context, acct string) (int64, error) {
	return balance(ctx, l.db, acct)
}

// Balances returns every account's final balance.
func (l *Ledger) Balances(ctx context.Context) (map[string]int64, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT account, balance FROM economy_balances`)
	if err != nil {
		return nil, fmt.Errorf("list balances: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var a string
		var b int64
		if err := rows.Scan(&a, &b); err != nil {
			return nil, fmt.Errorf("read balance: %w", err)
		}
		out[a] = b
	}
	return out, rows.Err()
}

// NextNonce returns the nonce src's next transaction must carry: one more
// than its last applied one.
func (l *Ledger) NextNonce(ctx context.Context, src string) (uint64, error) {
	return nextNonce(ctx, l.db, src)
}

// Status returns where the certificate of transaction hash h is.
func (l *Ledger) Status(ctx context.Context, h [32]byte) (Status, error) {
	var st int
	err := l.db.QueryRowContext(ctx, `SELECT state FROM economy_certs WHERE hash = ?`, h[:]).Scan(&st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StatusUnknown, nil
	case err != nil:
		return 0, fmt.Errorf("look up certificate %x: %w", h[:8], err)
	case st == 1:
		return StatusApplied, nil
	default:
		return StatusWaiting, nil
	}
}

// Certificate returns the stored certificate of transaction hash h.
func (l *Ledger) Certificate(ctx context.Context, h [32]byte) (Certificate, Status, error) {
	var b []byte
	var st int
	err := l.db.QueryRowContext(ctx, `SELECT cert, state FROM economy_certs WHERE hash = ?`, h[:]).Scan(&b, &st)
	if errors.Is(err, sql.ErrNoRows) {
		return Certificate{}, StatusUnknown, nil
	}
	if err != nil {
		return Certificate{}, 0, fmt.Errorf("read certificate %x: %w", h[:8], err)
	}
	c, err := decodeCertificate(b, l.sigs) // see Certificates
	if err != nil {
		return Certificate{}, 0, fmt.Errorf("stored certificate %x: %w", h[:8], err)
	}
	if st == 1 {
		return c, StatusApplied, nil
	}
	return c, StatusWaiting, nil
}

// Certificates returns up to limit stored certificates (applied and
// waiting) with seq > after, in seq order, and the last seq returned: the
// cursor for anti-entropy.
func (l *Ledger) Certificates(ctx context.Context, after int64, limit int) ([]Certificate, int64, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT seq, cert FROM economy_certs WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("list certificates: %w", err)
	}
	defer rows.Close()
	var out []Certificate
	last := after
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&last, &b); err != nil {
			return nil, after, fmt.Errorf("read certificate: %w", err)
		}
		// The votes verified when the certificate was applied; the memo
		// answers for those it still holds.
		c, err := decodeCertificate(b, l.sigs)
		if err != nil {
			return nil, after, fmt.Errorf("stored certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, last, rows.Err()
}

// Supply returns the genesis supply and the issued money: the sum of all
// balances always equals their sum.
func (l *Ledger) Supply(ctx context.Context) (genesis, issued int64, err error) {
	err = l.db.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT value FROM economy_meta WHERE key = 'genesis'), 0),
		COALESCE((SELECT value FROM economy_meta WHERE key = 'issued'), 0)`).Scan(&genesis, &issued)
	if err != nil {
		return 0, 0, fmt.Errorf("read supply: %w", err)
	}
	return genesis, issued, nil
}

// Recompute returns the balances recomputed from the genesis and the
// applied certificates alone, in application order: they must equal
// Balances (the simulation checks it).
func (l *Ledger) Recompute(ctx context.Context, com Committee) (map[string]int64, error) {
	out := map[string]int64{}
	for a, v := range com.Genesis {
		out[a] = v
	}
	rows, err := l.db.QueryContext(ctx, `SELECT src, dst, amount, fee FROM economy_certs WHERE state = 1`)
	if err != nil {
		return nil, fmt.Errorf("list applied certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src, dst string
		var amount, fee int64
		if err := rows.Scan(&src, &dst, &amount, &fee); err != nil {
			return nil, fmt.Errorf("read certificate: %w", err)
		}
		if src != System {
			out[src] -= amount + fee
			if fee > 0 {
				out[System] += fee
			}
		}
		out[dst] += amount
	}
	return out, rows.Err()
}
