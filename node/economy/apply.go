package economy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// MaxMerge bounds the certificates of one merge request (openapi.yaml's
// MergeRequest.certificates).
const MaxMerge = 64

// MaxPage bounds one page of the certificate log (openapi.yaml's
// getCertificates limit).
const MaxPage = 256

// Apply verifies c against the epoch's witness weights and applies it to
// the ledger, exactly once; applied is false for a certificate seen
// before, or one the ledger keeps waiting until the certificates it
// depends on arrive.
func (s *Service) Apply(ctx context.Context, c econ.Certificate) (applied bool, err error) {
	res, err := s.applyAll(ctx, []econ.Certificate{c})
	if err != nil {
		return false, err
	}
	return res[0], nil
}

// applyAll applies certificates in one ledger transaction (all verify, or
// none is applied) and publishes the ones applied.
func (s *Service) applyAll(ctx context.Context, cs []econ.Certificate) ([]bool, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	res, err := st.ledger.ApplyAll(ctx, cs)
	if err != nil {
		return nil, ledgerErr(err)
	}
	for i, c := range cs {
		if !res[i] {
			continue
		}
		id := c.Tx.Hash()
		if c.Tx.Dst == string(s.self) || c.Tx.Src == string(s.self) {
			s.creditsMu.Lock()
			s.credits = append(s.credits, c)
			if len(s.credits) > maxCredits {
				s.credits = s.credits[1:]
			}
			s.creditsMu.Unlock()
		}
		if e, ok := s.entry(id); ok {
			s.drop(ctx, e, StateFinal, "")
		}
		s.deps.Events.Publish(TransferFinal{TxID: id, Src: c.Tx.Src, Dst: c.Tx.Dst, Amount: c.Tx.Amount, Fee: c.Tx.Fee, Nonce: c.Tx.Nonce})
	}
	return res, nil
}

// ledgerErr maps the economy's errors to the node's.
func ledgerErr(err error) error {
	switch {
	case errors.Is(err, econ.ErrInvalid), errors.Is(err, econ.ErrNotFinal), errors.Is(err, econ.ErrWrongEpoch):
		return fmt.Errorf("%w: %w", nodeerr.ErrInvalid, err)
	case errors.Is(err, econ.ErrFull):
		return fmt.Errorf("%w: %w", nodeerr.ErrBusy, err)
	}
	for _, refusal := range []error{econ.ErrConflict, econ.ErrPreviousNotFinal, econ.ErrNonceUsed, econ.ErrInsufficient,
		econ.ErrFee, econ.ErrNotValidated, econ.ErrRoundClosed} {
		if errors.Is(err, refusal) {
			return fmt.Errorf("%w: %w", nodeerr.ErrConflict, err)
		}
	}
	return nodeerr.FromResource(err)
}

// Merge applies certificates handed over by another node (encoded). All
// must decode and verify, or none is applied.
func (s *Service) Merge(ctx context.Context, encoded [][]byte) (applied, known int, err error) {
	if len(encoded) > MaxMerge {
		return 0, 0, nodeerr.Invalidf("%d certificates, at most %d per request", len(encoded), MaxMerge)
	}
	certs := make([]econ.Certificate, len(encoded))
	for i, b := range encoded {
		if certs[i], err = econ.DecodeCertificate(b); err != nil {
			return 0, 0, nodeerr.Invalidf("certificate %d: %v", i, err)
		}
	}
	res, err := s.applyAll(ctx, certs)
	if err != nil {
		return 0, 0, err
	}
	for _, ok := range res {
		if ok {
			applied++
		} else {
			known++
		}
	}
	return applied, known, nil
}

// Certificates returns a page of the ledger's certificates (applied and
// waiting) after position after, encoded, and the position to ask after
// next.
func (s *Service) Certificates(ctx context.Context, after int64, limit int) ([][]byte, int64, error) {
	if limit < 1 || limit > MaxPage || after < 0 {
		return nil, 0, nodeerr.Invalidf("after must not be negative and limit between 1 and %d", MaxPage)
	}
	st, err := s.current(ctx)
	if err != nil {
		return nil, 0, err
	}
	cs, next, err := st.ledger.Certificates(ctx, after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Encode()
	}
	return out, next, nil
}

// spreadLoop pushes the certificates made here to the up peers: all
// that are queued, up to MaxMerge per request, so a burst of transfers
// costs a few requests per peer.
func (s *Service) spreadLoop(ctx context.Context) {
	for {
		var batch [][]byte
		select {
		case <-ctx.Done():
			return
		case c := <-s.spreadQ:
			batch = append(batch, c.Encode())
		}
	more:
		for len(batch) < MaxMerge {
			select {
			case c := <-s.spreadQ:
				batch = append(batch, c.Encode())
			default:
				break more
			}
		}
		s.spread(ctx, batch)
	}
}

// spread pushes certificates to every up peer at once, each with a
// bounded wait; a peer that misses them pulls them later (pull).
func (s *Service) spread(ctx context.Context, certs [][]byte) {
	if s.deps.Remote == nil {
		return
	}
	var wg sync.WaitGroup
	for _, endpoint := range s.deps.Peers(ctx) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, s.cfg.AskTimeout)
			defer cancel()
			if err := s.deps.Remote.PushCertificates(ctx, endpoint, certs); err != nil {
				s.log.Debug("Pushing certificates failed", "peer", endpoint, "err", err)
			}
		}()
	}
	wg.Wait()
}

// pull is one anti-entropy round: it reads the certificate logs of a few
// up peers (in turn) from where it stopped last time, a few pages each.
func (s *Service) pull(ctx context.Context) {
	if s.deps.Remote == nil {
		return
	}
	peers := s.deps.Peers(ctx)
	endpoints := make([]string, 0, len(peers))
	for _, e := range peers {
		endpoints = append(endpoints, e)
	}
	if len(endpoints) == 0 {
		return
	}
	slices.Sort(endpoints)
	s.cursorMu.Lock()
	start := s.turn
	s.turn++
	// Forget the positions of peers no longer up: the map stays bounded by
	// the peer table.
	for e := range s.cursors {
		if !slices.Contains(endpoints, e) {
			delete(s.cursors, e)
		}
	}
	s.cursorMu.Unlock()
	for i := range min(s.cfg.Fanout, len(endpoints)) {
		s.pullFrom(ctx, endpoints[(start+i)%len(endpoints)])
	}
}

// pullPages bounds the pages one round reads from one peer.
const pullPages = 16

func (s *Service) pullFrom(ctx context.Context, endpoint string) {
	s.cursorMu.Lock()
	after := s.cursors[endpoint]
	s.cursorMu.Unlock()
	for range pullPages {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.AskTimeout)
		encoded, next, err := s.deps.Remote.PullCertificates(pctx, endpoint, after, MaxMerge)
		cancel()
		if err != nil {
			s.log.Debug("Pulling certificates failed", "peer", endpoint, "err", err)
			return
		}
		if len(encoded) == 0 {
			return
		}
		if _, _, err := s.Merge(ctx, encoded); err != nil {
			// One bad certificate must not stop the others: apply them
			// one by one, skipping what does not verify.
			for _, b := range encoded {
				c, derr := econ.DecodeCertificate(b)
				if derr != nil {
					continue
				}
				if _, err := s.Apply(ctx, c); err != nil && !errors.Is(err, nodeerr.ErrInvalid) && !errors.Is(err, nodeerr.ErrConflict) {
					s.log.Warn("Applying a pulled certificate failed", "peer", endpoint, "err", err)
					return
				}
			}
		}
		after = next
		s.cursorMu.Lock()
		s.cursors[endpoint] = after
		s.cursorMu.Unlock()
	}
}
