package economy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// States of a transaction (TxState.State).
const (
	StatePending   = "pending"
	StateGathering = "gathering"
	StateWaiting   = "waiting"
	StateFinal     = "final"
	StateRefused   = "refused"
)

// MaxMemo bounds a transfer's memo (openapi.yaml's TransferRequest.memo).
const MaxMemo = 256

// maxCredits bounds the certificates attached to one witness request
// (openapi.yaml's WitnessRequest.credits).
const maxCredits = 16

// entry is one of this node's own transactions in the pool.
type entry struct {
	tx      econ.Tx
	id      [32]byte
	manual  bool
	state   string
	err     string
	votes   map[identity.NodeID]econ.Vote
	updated time.Time
}

// TxState is a transaction and how far it is.
type TxState struct {
	ID [32]byte
	Tx econ.Tx
	// State is one of the State constants.
	State string
	// Weight is the witness weight of the signatures so far, Needed what a
	// certificate needs, Total the epoch's.
	Weight, Needed, Total uint64
	Signers               []identity.NodeID
	Err                   string
	// Certificate is set when final.
	Certificate *econ.Certificate
	Updated     time.Time
}

// TransferRequest is a transfer from this node's account.
type TransferRequest struct {
	Dst    string
	Amount int64
	Memo   string
	// Manual only signs and pools the transaction (the manual flow).
	Manual bool
}

func (s *Service) loadPool(ctx context.Context) error {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT tx, manual, created FROM node_econ_pool ORDER BY nonce`)
	if err != nil {
		return fmt.Errorf("load tx pool: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		var manual bool
		var created int64
		if err := rows.Scan(&b, &manual, &created); err != nil {
			return fmt.Errorf("load tx pool: %w", err)
		}
		tx, err := econ.DecodeTx(b)
		if err != nil {
			return fmt.Errorf("load tx pool: %w", err)
		}
		state := StateWaiting
		if manual {
			state = StatePending
		}
		s.pool[tx.Hash()] = &entry{tx: tx, id: tx.Hash(), manual: manual, state: state,
			votes: map[identity.NodeID]econ.Vote{}, updated: time.UnixMilli(created)}
	}
	return rows.Err()
}

// Transfer signs a transaction from this node's account with the next
// nonce and, unless it is manual, gathers witness signatures for it. The
// answer says whether it became final or waits in the pool.
func (s *Service) Transfer(ctx context.Context, req TransferRequest) (TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return TxState{}, err
	}
	switch {
	case req.Amount <= 0:
		return TxState{}, nodeerr.Invalidf("amount must be more than 0")
	case len(req.Memo) > MaxMemo:
		return TxState{}, nodeerr.Invalidf("memo longer than %d bytes", MaxMemo)
	case req.Dst == string(s.self):
		return TxState{}, nodeerr.Invalidf("a transfer to this node's own account changes nothing")
	}
	if req.Dst != econ.System {
		if _, err := identity.NodeID(req.Dst).PublicKey(); err != nil {
			return TxState{}, nodeerr.Invalidf("destination: %v", err)
		}
	}
	s.sendMu.Lock()
	e, err := s.sign(ctx, st, req)
	if err != nil {
		s.sendMu.Unlock()
		return TxState{}, err
	}
	if !req.Manual {
		s.driveLocked(ctx, st, e, "")
	}
	s.sendMu.Unlock()
	// The transaction is signed and pooled whatever happens to ctx now:
	// the caller learns its state even when its deadline ran out while
	// witnesses were asked (the auto-finalizer goes on with it).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AskTimeout)
	defer cancel()
	return s.Tx(rctx, e.id)
}

// sign makes, persists and pools the next transaction. Called with sendMu
// held.
func (s *Service) sign(ctx context.Context, st *state, req TransferRequest) (*entry, error) {
	fee := st.committee.Fee()
	s.poolMu.Lock()
	n := len(s.pool)
	var last uint64
	var spending int64
	for _, e := range s.pool {
		last = max(last, e.tx.Nonce)
		spending += e.tx.Amount + e.tx.Fee
	}
	s.poolMu.Unlock()
	if n >= s.cfg.MaxPool {
		return nil, fmt.Errorf("%w: %d transactions of this node wait for witnesses", nodeerr.ErrBusy, n)
	}
	// Refuse here what no witness would sign: a transaction the witnesses
	// refuse holds its nonce, and every later one, until it is final.
	bal, err := st.ledger.Balance(ctx, string(s.self))
	if err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	if req.Amount > econ.MaxAmount || bal-spending < req.Amount+fee {
		return nil, fmt.Errorf("%w: insufficient funds: final balance %s, %s in transactions not final yet, this one needs %s (amount + fee)",
			nodeerr.ErrConflict, fixed.Format(bal), fixed.Format(spending), fixed.Format(req.Amount+fee))
	}
	next, err := st.ledger.NextNonce(ctx, string(s.self))
	if err != nil {
		return nil, fmt.Errorf("next nonce: %w", err)
	}
	if n > 0 && last >= next {
		next = last + 1
	}
	tx, err := econ.SignTx(econ.Tx{
		Cluster: st.committee.Cluster, Epoch: st.committee.Epoch,
		Src: string(s.self), Dst: req.Dst, Amount: req.Amount, Fee: fee, Nonce: next,
		Kind: econ.KindTransfer, Meta: []byte(req.Memo),
	}, s.deps.Keys)
	if err != nil {
		return nil, nodeerr.Invalidf("%v", err)
	}
	now := s.deps.Now()
	// Persist before any witness sees it: after a restart this nonce is
	// taken, so the node never signs a conflicting transaction for it.
	id := tx.Hash()
	if _, err := s.deps.DB.ExecContext(ctx, `INSERT INTO node_econ_pool(tx_id, nonce, tx, manual, created) VALUES (?, ?, ?, ?, ?)`,
		id[:], int64(tx.Nonce), tx.Encode(), req.Manual, now.UnixMilli()); err != nil {
		return nil, nodeerr.FromResource(fmt.Errorf("pool transaction: %w", err))
	}
	state := StateGathering
	if req.Manual {
		state = StatePending
	}
	e := &entry{tx: tx, id: id, manual: req.Manual, state: state, votes: map[identity.NodeID]econ.Vote{}, updated: now}
	s.poolMu.Lock()
	s.pool[id] = e
	s.poolMu.Unlock()
	return e, nil
}

// Witness asks the witnesses (only, if given) for their votes on a pool
// transaction, and forms its certificate when they are enough (the manual
// flow's `tx witness`).
func (s *Service) Witness(ctx context.Context, id [32]byte, only identity.NodeID) (TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return TxState{}, err
	}
	if only != "" {
		if _, ok := st.committee.Weights[only]; !ok {
			return TxState{}, nodeerr.Invalidf("%s is not a witness of epoch %d", only, st.committee.Epoch)
		}
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	e, ok := s.entry(id)
	if !ok {
		return s.Tx(ctx, id)
	}
	s.askLocked(ctx, st, e, only)
	return s.Tx(ctx, id)
}

// Finalize forms, applies and spreads the certificate of a pool
// transaction whose votes exceed 2/3 of the witness weight.
func (s *Service) Finalize(ctx context.Context, id [32]byte) (TxState, error) {
	st, err := s.current(ctx)
	if err != nil {
		return TxState{}, err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	e, ok := s.entry(id)
	if !ok {
		return s.Tx(ctx, id)
	}
	w, _ := s.weight(st, e)
	if w < needed(st.committee) {
		return TxState{}, fmt.Errorf("%w: signatures of weight %d, a certificate needs %d (ask more witnesses: offgrid tx witness)",
			nodeerr.ErrConflict, w, needed(st.committee))
	}
	if err := s.certify(ctx, st, e); err != nil {
		return TxState{}, err
	}
	return s.Tx(ctx, id)
}

func (s *Service) entry(id [32]byte) (*entry, bool) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	e, ok := s.pool[id]
	return e, ok
}

// finalizePool is the auto-finalizer: it asks again for every non-manual
// pool transaction, in nonce order (a witness signs nonce n only once n-1
// is final), stopping at the first that stays short.
func (s *Service) finalizePool(ctx context.Context) {
	st, err := s.current(ctx)
	if err != nil {
		return
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for _, e := range s.ordered() {
		if ctx.Err() != nil {
			return
		}
		if status, err := st.ledger.Status(ctx, e.id); err == nil && status == econ.StatusApplied {
			s.drop(ctx, e, StateFinal, "")
			continue
		}
		if e.manual {
			continue
		}
		if !s.driveLocked(ctx, st, e, "") {
			return
		}
	}
}

// ordered returns the pool's entries by nonce.
func (s *Service) ordered() []*entry {
	s.poolMu.Lock()
	out := make([]*entry, 0, len(s.pool))
	for _, e := range s.pool {
		out = append(out, e)
	}
	s.poolMu.Unlock()
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.tx.Nonce, b.tx.Nonce) })
	return out
}

// driveLocked asks the witnesses and certifies e when enough signed; it
// reports whether e is final. Called with sendMu held.
func (s *Service) driveLocked(ctx context.Context, st *state, e *entry, only identity.NodeID) bool {
	if e.tx.Epoch != st.committee.Epoch || e.tx.Cluster != st.committee.Cluster {
		s.drop(ctx, e, StateRefused, fmt.Sprintf("signed for epoch %d; the cluster is at epoch %d (send it again)", e.tx.Epoch, st.committee.Epoch))
		return true
	}
	s.askLocked(ctx, st, e, only)
	w, _ := s.weight(st, e)
	if w >= needed(st.committee) {
		if err := s.certify(ctx, st, e); err != nil {
			s.setState(e, StateWaiting, err.Error())
			return false
		}
		return true
	}
	s.setState(e, StateWaiting, e.err)
	s.deps.Events.Publish(WaitingForWitnesses{TxID: e.id, Weight: w, Needed: needed(st.committee), Reason: e.err})
	return false
}

// askLocked asks every witness (or only one) that has not voted on e yet,
// concurrently, each with a bounded wait.
func (s *Service) askLocked(ctx context.Context, st *state, e *entry, only identity.NodeID) {
	s.setState(e, StateGathering, e.err)
	endpoints := s.deps.Peers(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for id := range st.committee.Weights {
		s.poolMu.Lock()
		_, voted := e.votes[id]
		s.poolMu.Unlock()
		if voted || only != "" && id != only {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.askOne(ctx, st, e, id, endpoints[id])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", short(id), err))
				return
			}
			s.poolMu.Lock()
			e.votes[id] = v
			s.poolMu.Unlock()
		}()
	}
	wg.Wait()
	w, _ := s.weight(st, e)
	s.deps.Events.Publish(TxProgress{TxID: e.id, Weight: w, Needed: needed(st.committee), Total: st.committee.Total})
	slices.Sort(errs)
	if len(errs) > 0 {
		s.setState(e, StateGathering, joinErrs(errs))
	}
}

// askOne gets one witness's vote: this node's own witness directly, another
// over the network, once more with the certificates that credit the sender
// when the witness refuses the first time (it may lack them).
func (s *Service) askOne(ctx context.Context, st *state, e *entry, id identity.NodeID, endpoint string) (econ.Vote, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AskTimeout)
	defer cancel()
	if id == s.self {
		if st.witness == nil {
			return econ.Vote{}, errors.New("this node's witness state is not open")
		}
		return st.witness.Sign(ctx, e.tx, nil)
	}
	if s.deps.Remote == nil {
		return econ.Vote{}, errors.New("no transport to other nodes")
	}
	if endpoint == "" {
		return econ.Vote{}, errors.New("not up")
	}
	// The sender's previous certificate goes along at once: the witness
	// needs it final, and it may not have reached the witness yet.
	b, err := s.deps.Remote.Witness(ctx, endpoint, e.tx.Encode(), s.previous(e))
	if errors.Is(err, ErrRefused) {
		if credits := s.creditsFor(); len(credits) > 0 {
			b, err = s.deps.Remote.Witness(ctx, endpoint, e.tx.Encode(), credits)
		}
	}
	if err != nil {
		return econ.Vote{}, err
	}
	v, err := econ.DecodeVote(b)
	if err != nil {
		return econ.Vote{}, fmt.Errorf("vote: %w", err)
	}
	if v.Witness != id || v.Tx != e.id {
		return econ.Vote{}, errors.New("vote by another witness or for another transaction")
	}
	if err := v.Verify(); err != nil {
		return econ.Vote{}, fmt.Errorf("vote: %w", err)
	}
	return v, nil
}

// previous returns e's sender's certificate for the nonce before e's,
// encoded, if it is the newest kept.
func (s *Service) previous(e *entry) [][]byte {
	s.creditsMu.Lock()
	defer s.creditsMu.Unlock()
	for i := len(s.credits) - 1; i >= 0; i-- {
		if c := s.credits[i]; c.Tx.Src == e.tx.Src && c.Tx.Nonce+1 == e.tx.Nonce {
			return [][]byte{c.Encode()}
		}
	}
	return nil
}

// creditsFor returns the kept certificates that pay e's sender (this
// node) or are its own, encoded.
func (s *Service) creditsFor() [][]byte {
	s.creditsMu.Lock()
	defer s.creditsMu.Unlock()
	out := make([][]byte, len(s.credits))
	for i, c := range s.credits {
		out[i] = c.Encode()
	}
	return out
}

// votes returns e's votes so far.
func (s *Service) votes(e *entry) []econ.Vote {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	out := make([]econ.Vote, 0, len(e.votes))
	for _, v := range e.votes {
		out = append(out, v)
	}
	return out
}

// weight is the witness weight of e's votes that can make one certificate
// (one round: econ.Assemble), and their witnesses.
func (s *Service) weight(st *state, e *entry) (uint64, []identity.NodeID) {
	c, w, _ := econ.Assemble(st.committee, e.tx, s.votes(e))
	signers := make([]identity.NodeID, 0, len(c.Votes))
	for _, v := range c.Votes {
		signers = append(signers, v.Witness)
	}
	slices.Sort(signers)
	return w, signers
}

// certify forms e's certificate, applies it, drops e from the pool and
// queues it for the spreader.
func (s *Service) certify(ctx context.Context, st *state, e *entry) error {
	c, _, err := econ.Assemble(st.committee, e.tx, s.votes(e))
	if err != nil {
		return err
	}
	applied, err := s.Apply(ctx, c)
	if err != nil {
		return fmt.Errorf("apply certificate: %w", err)
	}
	if !applied {
		// Final, but waiting here for an earlier certificate (it spends
		// credits this node has not applied); it leaves the pool when it
		// applies.
		s.setState(e, StateWaiting, "final; waiting here for the certificates it depends on")
	}
	select {
	case s.spreadQ <- c:
	default:
		s.log.Debug("Spread queue full; the certificate spreads by anti-entropy", "tx", fmt.Sprintf("%x", e.id[:8]))
	}
	return nil
}

func (s *Service) setState(e *entry, state, err string) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	e.state, e.err, e.updated = state, err, s.deps.Now()
}

// drop removes e from the pool for good.
func (s *Service) drop(ctx context.Context, e *entry, state, reason string) {
	s.setState(e, state, reason)
	if _, err := s.deps.DB.ExecContext(ctx, `DELETE FROM node_econ_pool WHERE tx_id = ?`, e.id[:]); err != nil {
		s.log.Warn("Dropping a pool transaction failed", "tx", fmt.Sprintf("%x", e.id), "err", err)
		return
	}
	s.poolMu.Lock()
	delete(s.pool, e.id)
	s.poolMu.Unlock()
}

func short(id identity.NodeID) string {
	if len(id) > 8 {
		return "…" + string(id[len(id)-8:])
	}
	return string(id)
}

func joinErrs(errs []string) string {
	out := ""
	for i, e := range errs {
		if i > 0 {
			out += "; "
		}
		out += e
	}
	if len(out) > 1024 {
		out = out[:1024]
	}
	return out
}
