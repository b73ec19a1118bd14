package ledger

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps a node's own signed receipts in SQLite (table
// ledger_receipts). It is safe for concurrent use; it starts no goroutines.
type Store struct {
	db *sql.DB

	// appendMu serializes this Store's appends. The write transaction alone
	// keeps seqs unique; the mutex makes concurrent appenders queue here
	// rather than in SQLite's busy handler, which sleeps in steps of
	// milliseconds.
	appendMu sync.Mutex
}

// OpenStore migrates the ledger tables in db and returns a Store over them.
// db should come from internal/sqlitedb.Open (write transactions take the
// lock at BEGIN, so concurrent appends queue instead of failing).
func OpenStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, "ledger", migrations); err != nil {
		return nil, fmt.Errorf("open ledger store: %w", err)
	}
	return &Store{db: db}, nil
}

// SignAndAppend gives r the next sequence number, signs it with k and stores
// it, all in one write transaction, and returns the stored receipt. The
// caller sets every other field (IssuedAt too: the store reads no clock).
// Concurrent callers never get the same Seq, and on error nothing is stored.
func (s *Store) SignAndAppend(ctx context.Context, k *identity.Keys, r Receipt) (Receipt, error) {
	if err := r.Validate(); err != nil {
		return Receipt{}, fmt.Errorf("append receipt: %w", err)
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	var out Receipt
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM ledger_receipts`).Scan(&last); err != nil {
			return fmt.Errorf("read last seq: %w", err)
		}
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger_receipts WHERE job_id = ? AND resource_type = ?`,
			r.JobID, r.ResourceType).Scan(&dup); err != nil {
			return fmt.Errorf("look up job: %w", err)
		}
		if dup > 0 {
			return ErrDuplicateJob
		}
		r.Seq = uint64(last) + 1
		signed, err := SignReceipt(k, r)
		if err != nil {
			return err
		}
		js, err := json.Marshal(signed)
		if err != nil {
			return fmt.Errorf("encode receipt %d: %w", signed.Seq, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_receipts
			(seq, job_id, resource_type, units, issued_at, receipt_json, consumer_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			int64(signed.Seq), signed.JobID, signed.ResourceType, signed.Units, signed.IssuedAt, string(js),
			string(signed.ConsumerID)); err != nil {
			return fmt.Errorf("insert receipt %d: %w", signed.Seq, err)
		}
		out = signed
		return nil
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("append receipt for job %q: %w", r.JobID, err)
	}
	return out, nil
}

// Accept stores the consumer's acceptance of one of the node's receipts. r
// must be the stored receipt (same ID) carrying a valid acceptance. A
// repeated acceptance changes nothing. Errors wrap ErrBadAcceptance,
// ErrBadSignature or ErrInvalidReceipt, or ErrUnknownReceipt when no stored
// receipt has r's seq and ID.
func (s *Store) Accept(ctx context.Context, r Receipt) error {
	if err := r.VerifyAccepted(); err != nil {
		return fmt.Errorf("accept receipt: %w", err)
	}
	id, err := r.ID()
	if err != nil {
		return fmt.Errorf("accept receipt: %w", err)
	}
	if r.Seq == 0 || r.Seq >= math.MaxInt64 {
		return fmt.Errorf("accept receipt %d: %w", r.Seq, ErrUnknownReceipt)
	}
	return sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var js string
		err := tx.QueryRowContext(ctx, `SELECT receipt_json FROM ledger_receipts WHERE seq = ?`, int64(r.Seq)).Scan(&js)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("accept receipt %d: %w", r.Seq, ErrUnknownReceipt)
		}
		if err != nil {
			return fmt.Errorf("accept receipt %d: %w", r.Seq, err)
		}
		var stored Receipt
		if err := json.Unmarshal([]byte(js), &stored); err != nil {
			return fmt.Errorf("decode stored receipt %d: %w", r.Seq, err)
		}
		if sid, err := stored.ID(); err != nil || sid != id {
			return fmt.Errorf("accept receipt %d: %w: it differs from the stored receipt", r.Seq, ErrUnknownReceipt)
		}
		if stored.Acceptance != "" {
			return nil
		}
		stored.Acceptance = r.Acceptance
		out, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode receipt %d: %w", r.Seq, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_receipts SET receipt_json = ?, accepted = 1 WHERE seq = ?`,
			string(out), int64(r.Seq)); err != nil {
			return fmt.Errorf("store acceptance of receipt %d: %w", r.Seq, err)
		}
		return nil
	})
}

// Accepted returns up to limit of the node's accepted receipts whose
// consumer is consumer, newest first.
func (s *Store) Accepted(ctx context.Context, consumer identity.NodeID, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("accepted receipts: limit %d is not positive", limit)
	}
	return s.query(ctx, `SELECT receipt_json FROM ledger_receipts WHERE accepted = 1 AND consumer_id = ?
		ORDER BY seq DESC LIMIT ?`, string(consumer), limit)
}

// Consumers returns up to limit consumers that accepted receipts of this
// node, the one with the newest accepted receipt first.
func (s *Store) Consumers(ctx context.Context, limit int) ([]identity.NodeID, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("consumers: limit %d is not positive", limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT consumer_id FROM ledger_receipts WHERE accepted = 1
		GROUP BY consumer_id ORDER BY MAX(seq) DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("query consumers: %w", err)
	}
	defer rows.Close()
	var out []identity.NodeID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan consumer: %w", err)
		}
		out = append(out, identity.NodeID(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query consumers: %w", err)
	}
	return out, nil
}

// Recent returns up to limit receipts, newest (highest Seq) first.
func (s *Store) Recent(ctx context.Context, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("recent receipts: limit %d is not positive", limit)
	}
	return s.query(ctx, `SELECT receipt_json FROM ledger_receipts ORDER BY seq DESC LIMIT ?`, limit)
}

// Since returns up to limit receipts with Seq > afterSeq in ascending Seq
// order, for paging through the ledger or building a Batch.
func (s *Store) Since(ctx context.Context, afterSeq uint64, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("receipts since %d: limit %d is not positive", afterSeq, limit)
	}
	if afterSeq >= math.MaxInt64 {
		return nil, nil
	}
	return s.query(ctx, `SELECT receipt_json FROM ledger_receipts WHERE seq > ? ORDER BY seq LIMIT ?`, int64(afterSeq), limit)
}

// Count returns the number of stored receipts.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_receipts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count receipts: %w", err)
	}
	return n, nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Receipt, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query receipts: %w", err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return nil, fmt.Errorf("scan receipt: %w", err)
		}
		var r Receipt
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return nil, fmt.Errorf("decode stored receipt: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query receipts: %w", err)
	}
	return out, nil
}
