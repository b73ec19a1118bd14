package economy

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/offgrid-net/offgrid/cluster"
	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Tx returns a transaction of this node's pool, or one final here.
func (s *Service) Tx(ctx context.Context, id [32]byte) (TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return TxState{}, err
	}
	if e, ok := s.entry(id); ok {
		return s.view(st, e), nil
	}
	c, status, err := st.ledger.Certificate(ctx, id)
	if err != nil {
		return TxState{}, err
	}
	if status == econ.StatusUnknown {
		return TxState{}, fmt.Errorf("%w: no transaction %x here (not in the pool, not final)", nodeerr.ErrNotFound, id)
	}
	// A certificate is final wherever it is; one the ledger keeps waiting
	// for an earlier one is final too, only not applied here yet.
	out := TxState{ID: id, Tx: c.Tx, State: StateFinal, Needed: needed(st.committee), Total: st.committee.Total, Certificate: &c}
	for _, v := range c.Votes {
		out.Weight += st.committee.Weights[v.Witness]
		out.Signers = append(out.Signers, v.Witness)
	}
	return out, nil
}

func (s *Service) view(st *state, e *entry) TxState {
	w, signers := s.weight(st, e)
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	return TxState{ID: e.id, Tx: e.tx, State: e.state, Weight: w, Needed: needed(st.committee), Total: st.committee.Total,
		Signers: signers, Err: e.err, Updated: e.updated}
}

// Pool returns this node's transactions that are not final, newest first.
func (s *Service) Pool(ctx context.Context) ([]TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	es := s.ordered()
	out := make([]TxState, 0, len(es))
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, s.view(st, es[i]))
	}
	return out, nil
}

// Balances is every account's balance from the final certificates.
type Balances struct {
	Cluster cluster.ID
	Epoch   uint64
	// Supply is the genesis allocations plus the issued money: the sum of
	// every balance.
	Supply, Genesis, Issued int64
	Accounts                map[string]int64
}

// Balances returns the balances of the current epoch.
func (s *Service) Balances(ctx context.Context) (Balances, error) {
	st, err := s.current(ctx)
	if err != nil {
		return Balances{}, err
	}
	m, err := st.ledger.Balances(ctx)
	if err != nil {
		return Balances{}, fmt.Errorf("balances: %w", err)
	}
	out := Balances{Cluster: st.committee.Cluster, Epoch: st.committee.Epoch, Accounts: m}
	if out.Genesis, out.Issued, err = st.ledger.Supply(ctx); err != nil {
		return Balances{}, err
	}
	out.Supply = out.Genesis + out.Issued
	return out, nil
}

// SortedAccounts returns the accounts of b by name, `system` first.
func (b Balances) SortedAccounts() []string {
	out := make([]string, 0, len(b.Accounts))
	for a := range b.Accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y string) int {
		if (x == econ.System) != (y == econ.System) {
			if x == econ.System {
				return -1
			}
			return 1
		}
		return cmp.Compare(x, y)
	})
	return out
}

// HandleWitness is the witness's side of /gossip/tx_witness: it applies
// the attached certificates (each verified), then signs tx if the rules
// allow, and returns the encoded vote. A refusal wraps ErrConflict with the
// rule's reason.
func (s *Service) HandleWitness(ctx context.Context, txb []byte, credits [][]byte) ([]byte, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if st.witness == nil {
		return nil, fmt.Errorf("%w: this node is not a witness of epoch %d", nodeerr.ErrConflict, st.committee.Epoch)
	}
	if len(credits) > maxCredits {
		return nil, nodeerr.Invalidf("%d credit certificates, at most %d", len(credits), maxCredits)
	}
	tx, err := econ.DecodeTx(txb)
	if err != nil {
		return nil, nodeerr.Invalidf("transaction: %v", err)
	}
	certs := make([]econ.Certificate, len(credits))
	for i, b := range credits {
		if certs[i], err = econ.DecodeCertificate(b); err != nil {
			return nil, nodeerr.Invalidf("credit %d: %v", i, err)
		}
	}
	v, err := st.witness.Sign(ctx, tx, certs)
	if err != nil {
		return nil, ledgerErr(err)
	}
	return v.Encode(), nil
}

// Witnesses returns the epoch's witnesses and their weights.
func (s *Service) Witnesses(ctx context.Context) (map[identity.NodeID]uint64, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return st.committee.Weights, nil
}
