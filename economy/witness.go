package economy

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// MaxCredits bounds the certificates a sender may attach to one request
// for a vote: each costs the witness a verification.
const MaxCredits = 64

// Validator decides the kinds a witness cannot judge from balances alone
// (settle, job, issuance). Settlement (h-settle) implements it for
// receipts; an operator's policy implements it for issuance.
type Validator interface {
	ValidateTx(ctx context.Context, tx Tx) error
}

// Witness co-signs transactions of one epoch under the witness rule (see
// the package comment). Its locks live in SQLite (table economy_locks), so
// a restart keeps every promise it made. It is safe for concurrent use and
// starts no goroutines.
type Witness struct {
	db        *sql.DB
	keys      *identity.Keys
	ledger    *Ledger
	com       Committee
	validator Validator

	mu sync.Mutex // serializes lock decisions
}

// NewWitness returns the witness k of committee com, keeping locks in the
// database of ledger (opened by Open: the tables exist) and judging
// balances and nonces by ledger. validator may be nil: the witness then
// signs transfers only.
func NewWitness(ledger *Ledger, k *identity.Keys, com Committee, validator Validator) (*Witness, error) {
	if com.Weights[k.ID()] == 0 {
		return nil, fmt.Errorf("%w: %s is no witness of epoch %d", ErrWrongEpoch, k.ID(), com.Epoch)
	}
	ledger.AddCommittee(com)
	return &Witness{db: ledger.db, keys: k, ledger: ledger, com: com.Clone(), validator: validator}, nil
}

// ID returns the witness's node ID.
func (w *Witness) ID() identity.NodeID { return w.keys.ID() }

// Sign votes for t if the witness rule allows it: t is valid, of this
// cluster and epoch, with a fee in bounds; the witness has voted for no
// other transaction of (src, nonce) in the current round and has not
// closed the round; src's previous nonce is final here; src can pay amount
// and fee from final certificates; a Validator accepts kinds other than
// transfer. credits are certificates the sender attaches (its previous
// nonce, money it received): they are applied first. Asking again for the
// same transaction returns the same vote.
func (w *Witness) Sign(ctx context.Context, t Tx, credits []Certificate) (Vote, error) {
	if len(credits) > MaxCredits {
		return Vote{}, fmt.Errorf("%w: %d credit certificates attached, at most %d", ErrInvalid, len(credits), MaxCredits)
	}
	body := t.Body()
	if err := w.check(ctx, t, body); err != nil {
		return Vote{}, err
	}
	if len(credits) > 0 {
		if _, err := w.ledger.ApplyAll(ctx, credits); err != nil {
			return Vote{}, fmt.Errorf("credits attached: %w", err)
		}
	}
	h := sha256.Sum256(body)
	w.mu.Lock()
	defer w.mu.Unlock()
	var round uint32
	err := sqlitedb.InTx(ctx, w.db, func(tx *sql.Tx) error {
		var locked []byte
		var reported int
		err := tx.QueryRowContext(ctx, `SELECT round, tx_hash, reported FROM economy_locks WHERE src = ? AND nonce = ?`,
			t.Src, int64(t.Nonce)).Scan(&round, &locked, &reported)
		exists := err == nil
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read lock: %w", err)
		case reported == 1:
			return fmt.Errorf("%w: %s nonce %d round %d", ErrRoundClosed, t.Src, t.Nonce, round)
		case locked != nil && string(locked) == string(h[:]):
			return nil
		}
		next, err := nextNonce(ctx, tx, t.Src)
		if err != nil {
			return err
		}
		switch {
		case t.Nonce < next:
			return fmt.Errorf("%w: %s nonce %d", ErrNonceUsed, t.Src, t.Nonce)
		case locked != nil:
			return fmt.Errorf("%w: %s nonce %d, round %d", ErrConflict, t.Src, t.Nonce, round)
		case t.Nonce > next:
			return fmt.Errorf("%w: %s nonce %d, next final nonce here is %d", ErrPreviousNotFinal, t.Src, t.Nonce, next)
		}
		if t.Src != System {
			bal, err := balance(ctx, tx, t.Src)
			if err != nil {
				return err
			}
			if bal < t.Amount+t.Fee {
				return fmt.Errorf("%w: %s has %d, needs %d", ErrInsufficient, t.Src, bal, t.Amount+t.Fee)
			}
		}
		if exists {
			_, err = tx.ExecContext(ctx, `UPDATE economy_locks SET tx_hash = ? WHERE src = ? AND nonce = ?`, h[:], t.Src, int64(t.Nonce))
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO economy_locks (src, nonce, round, tx_hash, reported) VALUES (?, ?, 0, ?, 0)`,
				t.Src, int64(t.Nonce), h[:])
		}
		if err != nil {
			return fmt.Errorf("store lock: %w", err)
		}
		return nil
	})
	if err != nil {
		return Vote{}, err
	}
	v := signVote(w.keys, h, t.Epoch, round)
	w.ledger.sigs.remember(w.keys.SignPublic(), VoteDomain, voteBody(v.Tx, v.Epoch, v.Round), v.Sig)
	return v, nil
}

// check applies the stateless part of the witness rule.
func (w *Witness) check(ctx context.Context, t Tx, body []byte) error {
	if err := t.validate(body, w.ledger.sigs); err != nil {
		return err
	}
	switch {
	case t.Cluster != w.com.Cluster || t.Epoch != w.com.Epoch:
		return fmt.Errorf("%w: transaction of cluster %s epoch %d, witness is of %s epoch %d", ErrWrongEpoch,
			t.Cluster, t.Epoch, w.com.Cluster, w.com.Epoch)
	case t.Src != System && (t.Fee < w.com.FeeMin || t.Fee > w.com.FeeMax):
		return fmt.Errorf("%w: fee %d, epoch %d allows %d to %d", ErrFee, t.Fee, w.com.Epoch, w.com.FeeMin, w.com.FeeMax)
	case t.Kind == KindTransfer:
		return nil
	case w.validator == nil:
		return fmt.Errorf("%w: this witness has no validator for %s transactions", ErrNotValidated, t.Kind)
	}
	if err := w.validator.ValidateTx(ctx, t); err != nil {
		return fmt.Errorf("%w: %v", ErrNotValidated, err)
	}
	return nil
}
