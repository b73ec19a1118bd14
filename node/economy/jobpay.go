package economy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// JobMemo is the memo of the transfer that pays a host for job jobID.
func JobMemo(jobID string) string { return "job " + jobID }

// CanSpend says whether this node's final balance, less what its
// transactions that are not final yet spend, covers amount and the fees of
// payments transactions. It fails with ErrNoEconomy when the cluster has
// no economy, and with ErrConflict naming the amounts when it cannot pay.
func (s *Service) CanSpend(ctx context.Context, amount int64, payments int) error {
	st, err := s.current(ctx)
	if err != nil {
		return err
	}
	s.poolMu.Lock()
	var spending int64
	for _, e := range s.pool {
		spending += e.tx.Amount + e.tx.Fee
	}
	s.poolMu.Unlock()
	bal, err := st.ledger.Balance(ctx, string(s.self))
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	need := amount + int64(payments)*st.committee.Fee()
	if bal-spending < need {
		return fmt.Errorf("%w: insufficient funds: final balance %s, %s in transactions not final yet, %s needed (prices + fees)",
			nodeerr.ErrConflict, fixed.Format(bal), fixed.Format(spending), fixed.Format(need))
	}
	return nil
}

// PayJob pays host amount for job jobID with a transfer whose memo is
// JobMemo(jobID), unless this node paid that host for that job before: the
// (job, host) row and the signed transfer enter the database in one SQLite
// transaction, so a second call, before or after a restart, signs nothing
// (the pool resends the first transfer until it is final). fresh says
// whether this call signed it. ErrNoEconomy when the cluster has none;
// ErrConflict when the node cannot pay (nothing is signed then).
func (s *Service) PayJob(ctx context.Context, jobID, host string, amount int64) (txID [32]byte, fresh bool, err error) {
	switch {
	case amount <= 0 || amount > econ.MaxAmount:
		return txID, false, nodeerr.Invalidf("a job payment must be more than 0 and at most %s", fixed.Format(econ.MaxAmount))
	case jobID == "" || len(JobMemo(jobID)) > MaxMemo:
		return txID, false, nodeerr.Invalidf("job ID must be 1 to %d bytes", MaxMemo-len(JobMemo("")))
	case host == string(s.self):
		return txID, false, nodeerr.Invalidf("this node does not pay itself for a job")
	}
	if _, err := identity.NodeID(host).PublicKey(); err != nil {
		return txID, false, nodeerr.Invalidf("host: %v", err)
	}
	_, err = s.Pay(ctx, func(ctx context.Context, com econ.Committee, funds econ.Funds, pool econ.PoolFunc) ([]econ.Tx, error) {
		var signed []econ.Tx
		err := sqlitedb.InTx(ctx, s.deps.DB, func(tx *sql.Tx) error {
			var prev []byte
			err := tx.QueryRowContext(ctx, `SELECT tx_id FROM node_econ_job_paid WHERE job_id = ? AND host = ?`, jobID, host).Scan(&prev)
			switch {
			case err == nil:
				copy(txID[:], prev)
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("look up job payment: %w", err)
			}
			fee := com.Fee()
			if funds.Balance < amount+fee {
				return fmt.Errorf("%w: insufficient funds: %s spendable, the payment needs %s (price + fee)",
					nodeerr.ErrConflict, fixed.Format(max(funds.Balance, 0)), fixed.Format(amount+fee))
			}
			t, err := econ.SignTx(econ.Tx{
				Cluster: com.Cluster, Epoch: com.Epoch, Src: string(s.self), Dst: host, Amount: amount, Fee: fee,
				Nonce: funds.NextNonce, Kind: econ.KindTransfer, Meta: []byte(JobMemo(jobID)),
			}, s.deps.Keys)
			if err != nil {
				return nodeerr.Invalidf("%v", err)
			}
			txID = t.Hash()
			if _, err := tx.ExecContext(ctx, `INSERT INTO node_econ_job_paid(job_id, host, tx_id, amount, created) VALUES (?, ?, ?, ?, ?)`,
				jobID, host, txID[:], amount, s.deps.Now().UnixMilli()); err != nil {
				return fmt.Errorf("record job payment: %w", err)
			}
			signed, fresh = []econ.Tx{t}, true
			return pool(ctx, tx, signed)
		})
		if err != nil {
			fresh = false
			return nil, err
		}
		return signed, nil
	})
	if err != nil {
		return [32]byte{}, false, err
	}
	return txID, fresh, nil
}
