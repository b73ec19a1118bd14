package economy

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// Report is a witness's signed statement, for recovery, of its lock in
// one round of a (src, nonce) slot: the transaction it voted for in that
// round (zero: none). By signing it the witness closes the round: it
// votes in it no more.
type Report struct {
	Src     string
	Nonce   uint64
	Epoch   uint64
	Round   uint32
	Witness identity.NodeID
	Locked  [32]byte
	Sig     []byte
}

func (r Report) body() []byte {
	b := appendAccount(nil, r.Src)
	b = binary.BigEndian.AppendUint64(b, r.Nonce)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = binary.BigEndian.AppendUint32(b, r.Round)
	return append(b, r.Locked[:]...)
}

// Verify checks the report's signature.
func (r Report) Verify() error {
	if err := checkAccount("source", r.Src); err != nil {
		return err
	}
	pub, err := r.Witness.PublicKey()
	if err != nil || !identity.Verify(pub, ReportDomain, r.body(), r.Sig) {
		return fmt.Errorf("%w: report of %s does not verify", ErrInvalid, r.Witness)
	}
	return nil
}

// CheckRelease decides whether reports release their round: they are
// valid reports of one (src, nonce, epoch, round) by distinct witnesses of
// com, and no transaction can be final in that round, even counting every
// witness that did not report and RecoveryFault of Byzantine weight among
// those that did as its voters:
//
//	max over T of reported(T) + unreported + RecoveryFault <= 2/3 of Total
//
// (see "Recovery" in the package comment for why that is safe).
func CheckRelease(com Committee, reports []Report) error {
	if len(reports) == 0 {
		return fmt.Errorf("%w: no reports", ErrNotReleased)
	}
	first := reports[0]
	if first.Epoch != com.Epoch {
		return fmt.Errorf("%w: reports of epoch %d, committee is of %d", ErrWrongEpoch, first.Epoch, com.Epoch)
	}
	seen := map[identity.NodeID]bool{}
	per := map[[32]byte]uint64{}
	var reported, most uint64
	for _, r := range reports {
		if r.Src != first.Src || r.Nonce != first.Nonce || r.Epoch != first.Epoch || r.Round != first.Round {
			return fmt.Errorf("%w: reports of different slots or rounds", ErrInvalid)
		}
		wt := com.Weights[r.Witness]
		if wt == 0 || seen[r.Witness] {
			return fmt.Errorf("%w: %s reports twice or is no witness", ErrInvalid, r.Witness)
		}
		if err := r.Verify(); err != nil {
			return err
		}
		seen[r.Witness] = true
		reported += wt
		if r.Locked != ([32]byte{}) {
			per[r.Locked] += wt
			most = max(most, per[r.Locked])
		}
	}
	if possible := most + (com.Total - reported) + com.RecoveryFault; 3*possible > 2*com.Total {
		return fmt.Errorf("%w: a transaction could still gather weight %d of %d", ErrNotReleased, possible, com.Total)
	}
	return nil
}

// Report closes the witness's current round of (a.Src, a.Nonce) and
// returns its signed report. a and b must prove that the source
// equivocated: two different valid transactions of one (src, nonce) in
// this epoch; without that proof anyone could stall honest wallets.
func (w *Witness) Report(ctx context.Context, a, b Tx) (Report, error) {
	for _, t := range []Tx{a, b} {
		if err := t.Validate(); err != nil {
			return Report{}, err
		}
	}
	if a.Src != b.Src || a.Nonce != b.Nonce || a.Epoch != w.com.Epoch || b.Epoch != w.com.Epoch ||
		a.Cluster != w.com.Cluster || b.Cluster != w.com.Cluster || a.Hash() == b.Hash() {
		return Report{}, fmt.Errorf("%w: want two different transactions of one source and nonce in epoch %d", ErrNoEquivocation, w.com.Epoch)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	rep := Report{Src: a.Src, Nonce: a.Nonce, Epoch: w.com.Epoch, Witness: w.keys.ID()}
	err := sqlitedb.InTx(ctx, w.db, func(tx *sql.Tx) error {
		var locked []byte
		err := tx.QueryRowContext(ctx, `SELECT round, tx_hash FROM economy_locks WHERE src = ? AND nonce = ?`,
			a.Src, int64(a.Nonce)).Scan(&rep.Round, &locked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO economy_locks (src, nonce, round, tx_hash, reported) VALUES (?, ?, 0, NULL, 1)`,
				a.Src, int64(a.Nonce))
		case err != nil:
			return fmt.Errorf("read lock: %w", err)
		default:
			copy(rep.Locked[:], locked)
			_, err = tx.ExecContext(ctx, `UPDATE economy_locks SET reported = 1 WHERE src = ? AND nonce = ?`, a.Src, int64(a.Nonce))
		}
		if err != nil {
			return fmt.Errorf("close round: %w", err)
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	rep.Sig = w.keys.Sign(ReportDomain, rep.body())
	return rep, nil
}

// Advance opens the round after the one reports release (CheckRelease),
// with no lock, if the witness is not already past it.
func (w *Witness) Advance(ctx context.Context, reports []Report) error {
	if err := CheckRelease(w.com, reports); err != nil {
		return err
	}
	r := reports[0]
	w.mu.Lock()
	defer w.mu.Unlock()
	err := sqlitedb.InTx(ctx, w.db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO economy_locks (src, nonce, round, tx_hash, reported) VALUES (?, ?, ?, NULL, 0)
			ON CONFLICT (src, nonce) DO UPDATE SET round = excluded.round, tx_hash = NULL, reported = 0
			WHERE economy_locks.round <= ?`, r.Src, int64(r.Nonce), int64(r.Round)+1, int64(r.Round))
		if err != nil {
			return fmt.Errorf("open round %d: %w", r.Round+1, err)
		}
		return nil
	})
	return err
}

// Lock returns the witness's current round and locked transaction (zero:
// none) of (src, nonce).
func (w *Witness) Lock(ctx context.Context, src string, nonce uint64) (round uint32, locked [32]byte, err error) {
	var h []byte
	err = w.db.QueryRowContext(ctx, `SELECT round, tx_hash FROM economy_locks WHERE src = ? AND nonce = ?`, src, int64(nonce)).Scan(&round, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, locked, nil
	}
	if err != nil {
		return 0, locked, fmt.Errorf("read lock: %w", err)
	}
	copy(locked[:], h)
	return round, locked, nil
}

// Encode returns the report's canonical bytes.
func (r Report) Encode() []byte {
	b := append([]byte(reportMagic), version)
	b = append(b, r.body()...)
	b = append(b, keyBytes(r.Witness)...)
	return append(b, r.Sig...)
}

const reportMagic = "OGRP"

// MaxReportSize is the largest encoded report.
const MaxReportSize = len(reportMagic) + 1 + 1 + keySize + 8 + 8 + 4 + 32 + keySize + sigSize

// DecodeReport parses and verifies an encoded report.
func DecodeReport(b []byte) (Report, error) {
	if len(b) > MaxReportSize {
		return Report{}, fmt.Errorf("%w: report of %d bytes, at most %d", ErrInvalid, len(b), MaxReportSize)
	}
	rd := reader{b: b}
	rd.magic(reportMagic)
	r := Report{Src: rd.account(), Nonce: rd.uint64(), Epoch: rd.uint64(), Round: rd.uint32(), Locked: rd.hash(), Witness: rd.key()}
	r.Sig = bytes.Clone(rd.take(sigSize))
	if rd.err != nil {
		return Report{}, rd.err
	}
	if rd.off != len(b) {
		return Report{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b)-rd.off)
	}
	if err := r.Verify(); err != nil {
		return Report{}, err
	}
	return r, nil
}
