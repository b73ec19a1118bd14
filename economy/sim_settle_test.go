package economy

import (
	"context"
	"database/sql"
	"errors"
)

// Settlement in the simulation: some transfers are settlements naming
// receipts; honest wallets name fresh receipts, a Byzantine wallet and a
// forgetful one (honest, but it lost its record of payments) name
// receipts they already paid (a second payment) as well. Honest witnesses
// validate with the paid-receipt index, and after every schedule no
// ledger may hold two certificates of one payer paying one receipt part.

// simSettleTables are the settlement tables the harness empties between
// schedules.
var simSettleTables = []string{"settle_claims", "settle_cursor"}

func init() {
	simInvariants = append(simInvariants, func(ctx context.Context, l *Ledger) error {
		var all []Certificate
		for after := int64(0); ; {
			cs, last, err := l.Certificates(ctx, after, claimPage)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				return CheckPaidOnce(all)
			}
			all, after = append(all, cs...), last
		}
	})
}

func simValidator(ctx context.Context, db *sql.DB, l *Ledger, p issuancePolicy) (Validator, error) {
	paid, err := OpenPaidIndex(ctx, db, l)
	if err != nil {
		return nil, errors.Join(errors.New("open paid-receipt index"), err)
	}
	return Validators{KindSettle: paid, KindIssuance: p}, nil
}

// settleKind makes about one transfer in three a settlement (every one,
// for the forgetful wallet). An honest wallet names a receipt no one named
// before; a Byzantine or forgetful one names one it named before whenever
// it has one (a second payment, which
// the honest witnesses must refuse; the forgetful wallet then waits for
// ever, so the liveness check leaves it out).
func (s *simWorld) settleKind(w *simWallet, t *Tx) {
	reuse := (w.byz || w.forgetful) && len(w.named) > 0
	if !reuse && !w.forgetful && s.rng.IntN(3) != 0 {
		return
	}
	s.receipts++
	id := [32]byte{byte(s.receipts), byte(s.receipts >> 8), 0xee}
	if reuse {
		id = w.named[s.rng.IntN(len(w.named))]
	}
	w.named = append(w.named, id)
	t.Kind, t.Meta = KindSettle, EncodeSettleMeta([][32]byte{id})
}
