package economy

import (
	"context"
	"database/sql"
	"fmt"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// SettleFunc signs payments (package economy's Settler.Settle): it gets the
// epoch's committee, what this node may spend and its next free nonce, and
// must call pool inside its SQLite transaction with what it signs.
type SettleFunc func(ctx context.Context, com econ.Committee, funds econ.Funds, pool econ.PoolFunc) ([]econ.Tx, error)

// Pay runs settle while no other transaction of this node is signed, so
// its nonces follow the pool's; the payments enter the pool (table and
// memory) in settle's own SQLite transaction, and the witnesses are asked
// for them at once, in nonce order. After a crash the pool holds them, so
// the auto-finalizer sends the same transactions again.
func (s *Service) Pay(ctx context.Context, settle SettleFunc) ([]TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.poolMu.Lock()
	n := len(s.pool)
	var last uint64
	var spending int64
	for _, e := range s.pool {
		last = max(last, e.tx.Nonce)
		spending += e.tx.Amount + e.tx.Fee
	}
	s.poolMu.Unlock()
	bal, err := st.ledger.Balance(ctx, string(s.self))
	if err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	next, err := st.ledger.NextNonce(ctx, string(s.self))
	if err != nil {
		return nil, fmt.Errorf("next nonce: %w", err)
	}
	if n > 0 && last >= next {
		next = last + 1
	}
	now := s.deps.Now()
	pool := func(ctx context.Context, tx *sql.Tx, txs []econ.Tx) error {
		if n+len(txs) > s.cfg.MaxPool {
			return fmt.Errorf("%w: %d transactions of this node wait for witnesses, %d more would pass the bound %d",
				nodeerr.ErrBusy, n, len(txs), s.cfg.MaxPool)
		}
		for _, t := range txs {
			id := t.Hash()
			if _, err := tx.ExecContext(ctx, `INSERT INTO node_econ_pool(tx_id, nonce, tx, manual, created) VALUES (?, ?, ?, 0, ?)`,
				id[:], int64(t.Nonce), t.Encode(), now.UnixMilli()); err != nil {
				return fmt.Errorf("pool settlement: %w", err)
			}
		}
		return nil
	}
	txs, err := settle(ctx, st.committee, econ.Funds{Balance: bal - spending, NextNonce: next}, pool)
	if err != nil {
		return nil, err
	}
	entries := make([]*entry, len(txs))
	s.poolMu.Lock()
	for i, t := range txs {
		entries[i] = &entry{tx: t, id: t.Hash(), state: StateGathering, votes: map[identity.NodeID]econ.Vote{}, updated: now}
		s.pool[entries[i].id] = entries[i]
	}
	s.poolMu.Unlock()
	out := make([]TxState, 0, len(entries))
	final := true
	for _, e := range entries {
		if final && ctx.Err() == nil {
			final = s.driveLocked(ctx, st, e, "")
		}
		out = append(out, s.view(st, e))
	}
	return out, nil
}

// Ledger returns the economy ledger of the installed cluster.
func (s *Service) Ledger(ctx context.Context) (*econ.Ledger, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return st.ledger, nil
}

// LedgerCertificates lists the ledger's stored certificates (see
// econ.Ledger.Certificates); it is the certificate source of the
// witness's paid-receipt index.
func (s *Service) LedgerCertificates(ctx context.Context, after int64, limit int) ([]econ.Certificate, int64, error) {
	l, err := s.Ledger(ctx)
	if err != nil {
		return nil, after, err
	}
	return l.Certificates(ctx, after, limit)
}
