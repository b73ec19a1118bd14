package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/economy"
	"github.com/offgrid-net/offgrid/node/nodeerr"
	"golang.org/x/sync/errgroup"
)

// Storage billing. An owner pays each host for keeping its shards, one
// window at a time: after a window ends, the owner counts the bytes of its
// live shards the host held since before the window began, asks the host
// to sign a receipt for that window (the host signs for at most the bytes
// it holds for the owner), checks the receipt, accepts it and owes it.
// Settlement then pays it as it pays any accepted receipt.
//
// Why the owner asks: only the owner knows which of a host's shards are
// still its files' (a deleted file's shards linger on hosts until they
// hear of it) and which passed their audits, so only the owner can say
// what it should pay; the host's cap keeps the owner's count honest the
// other way. A window is billed at most once per owner at each host (the
// receipt's job ID names owner and window, and the host signs no window
// that overlaps one it billed), and a receipt is paid at most once
// (economy.PaidIndex), so nothing is paid twice however often either side
// asks or restarts.
//
// Why every window since the last bill, oldest first: an owner that was
// down, or that found a host down, would otherwise never pay the host for
// those windows. Oldest first because a host refuses a window before one
// it billed. A window the host refused, or whose receipt the owner
// refused, is not asked again: the host signs one receipt per window and
// returns it when asked again, and its refusals stand (the window is
// too old, too short, overlaps one billed, or it kept nothing through it).
// Refusals that may pass come from clocks: a host whose clock runs behind
// loses the windows it refused meanwhile; an owner whose clock ran ahead
// drops the record of bills that end in its future once the clock is set
// right (forgetStorageBills), and bills those windows again.

// Bounds of storage billing.
const (
	// maxStorageBillAge is how long after its start a window may still be
	// billed.
	maxStorageBillAge = ledger.MaxStorageWindow + 24*time.Hour
	// storageClockSkew is how far past this host's clock a window may end:
	// off-grid clocks drift.
	storageClockSkew = 10 * time.Minute
	// storageBillHosts is the most hosts one billing round asks.
	storageBillHosts = 64
	// storageBillParallel is how many hosts a round asks at once, so that
	// hosts that do not answer hold it up by about one timeout, not one
	// each.
	storageBillParallel = 8
	// storageBillTimeout bounds each window's part of a round (the
	// request for the host's receipt and the acceptance handed back).
	storageBillTimeout = 15 * time.Second
	// storageBillRound bounds one billing round: hosts not asked by then
	// are asked in the next.
	storageBillRound = time.Minute
	// storageLookback is how many windows back a billing round looks for
	// windows a host has not billed: a week of the default hour-long
	// windows. Windows older than that, or than a host still signs
	// (maxStorageBillAge), are not billed.
	storageLookback = 7 * 24
)

// StorageBill asks a host for a storage receipt: the window and the bytes
// of the owner's shards the owner counts on the host.
type StorageBill struct {
	Window ledger.StorageWindow
	Bytes  int64
}

// SignStorageReceipt signs this host's receipt for keeping owner's shards
// over a window that has ended, for at most the bytes of the shards this
// host still holds for owner and stored before the window began, or
// returns the receipt it signed for that window before. Windows
// shorter than this node's own, windows that overlap one already billed,
// and windows that have not ended by this node's clock are refused.
func (n *Node) SignStorageReceipt(ctx context.Context, owner identity.NodeID, bill StorageBill) (ledger.Receipt, error) {
	if err := n.checkRunning(); err != nil {
		return ledger.Receipt{}, err
	}
	if owner == "" {
		return ledger.Receipt{}, fmt.Errorf("%w: only a node that stored shards here can be billed for them", ErrForbidden)
	}
	w := bill.Window
	if err := w.Validate(); err != nil {
		return ledger.Receipt{}, nodeerr.Invalidf("%v", err)
	}
	if shortest := n.cfg.StorageBillWindow; w.Seconds < int64(shortest/time.Second) {
		return ledger.Receipt{}, nodeerr.Invalidf("this host bills windows of at least %s, not %d s", shortest, w.Seconds)
	}
	if bill.Bytes < 1 {
		return ledger.Receipt{}, nodeerr.Invalidf("bytes must be positive")
	}
	now := n.cfg.Now()
	switch {
	case w.End().After(now.Add(storageClockSkew)):
		return ledger.Receipt{}, fmt.Errorf("%w: the window ends at %s, after this host's clock (%s)",
			ErrConflict, w.End().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case w.StartTime().Before(now.Add(-maxStorageBillAge)):
		return ledger.Receipt{}, fmt.Errorf("%w: the window started more than %s ago", ErrConflict, maxStorageBillAge)
	}

	// Windows are checked and signed one at a time, so two requests for
	// one owner cannot both pass the overlap check.
	n.storageSignMu.Lock()
	defer n.storageSignMu.Unlock()
	job := w.JobID(owner)
	if r, ok, err := n.receipts.Job(ctx, job, ledger.ResourceStorage); err != nil || ok {
		return r, err
	}
	if last, ok, err := n.receipts.Newest(ctx, owner, ledger.ResourceStorage); err != nil {
		return ledger.Receipt{}, err
	} else if lw, _, isWindow := ledger.StorageWindowOf(last.JobID); ok && isWindow && lw.End().After(w.StartTime()) {
		return ledger.Receipt{}, fmt.Errorf("%w: this host billed you until %s", ErrConflict, lw.End().UTC().Format(time.RFC3339))
	}
	// What this host kept for owner through the window: the shards it
	// still has that it stored before the window began (by its clock,
	// which may run ahead of the owner's).
	_, held, err := n.shards.CountStoredBefore(ctx, string(owner), w.StartTime().Add(storageClockSkew))
	if err != nil {
		return ledger.Receipt{}, err
	}
	if held == 0 {
		return ledger.Receipt{}, fmt.Errorf("%w: this host kept no shards of yours through the window", ErrConflict)
	}
	bytes := min(bill.Bytes, held)
	units, err := w.Units(bytes)
	if err != nil {
		return ledger.Receipt{}, nodeerr.Invalidf("%v", err)
	}
	if units == 0 {
		return ledger.Receipt{}, fmt.Errorf("%w: %d bytes for %d s round to no units", ErrConflict, bytes, w.Seconds)
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	return n.appendReceipt(ctx, n.newReceipt(ledger.Receipt{
		ResourceType: ledger.ResourceStorage,
		JobID:        job,
		Units:        units,
		Metrics: map[string]float64{
			ledger.MetricBytes:         float64(bytes),
			ledger.MetricWindowStart:   float64(w.Start),
			ledger.MetricWindowSeconds: float64(w.Seconds),
		},
		IssuedAt: now.UnixMilli(),
	}, owner, a.Prices.Storage))
}

// StorageBilled says this node accepted a host's storage receipt: it owes
// the host for keeping its shards over a window.
type StorageBilled struct {
	Receipt ledger.Receipt
}

// Kind implements Event.
func (StorageBilled) Kind() string { return "storage_billed" }

// billStorage asks the hosts that are up and hold this node's shards for
// their receipts for the windows that have ended since each last billed
// this node (back at most storageLookback windows), oldest first, checks
// and accepts them, and records them as owed (they are paid by Settle).
// So windows missed while this node or a host was down are billed once
// both are up again. Where each host's bills end is kept in the database:
// a restarted node asks for no window twice, and a window asked twice
// anyway returns the same receipt, owed once. One round runs at a time; a
// Settle that finds one running does not wait for it. It returns how many
// receipts it accepted.
func (n *Node) billStorage(ctx context.Context) (int, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	if n.settle.remote == nil {
		return 0, nil
	}
	if _, err := n.economy.Ledger(ctx); errors.Is(err, economy.ErrNoEconomy) {
		return 0, nil // a cluster without an economy pays nothing for storage
	} else if err != nil {
		return 0, err
	}
	if !n.storageBillMu.TryLock() {
		return 0, nil
	}
	defer n.storageBillMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, storageBillRound)
	defer cancel()

	now := n.cfg.Now()
	round := storageRound(now, n.cfg.StorageBillWindow)
	if round.windows == 0 {
		return 0, nil
	}
	if err := n.forgetStorageBills(ctx, round.first.Start, now.Add(storageClockSkew).Unix()); err != nil {
		return 0, err
	}
	billed, err := n.storageBills(ctx)
	if err != nil {
		return 0, err
	}
	held, err := n.assets.Holdings(ctx, round.first.StartTime(), n.cfg.StorageBillWindow, round.windows)
	if err != nil {
		return 0, err
	}
	up := n.upPeers(ctx)
	var asks []storageAsk
	for _, host := range slices.Sorted(maps.Keys(held[round.windows-1])) {
		if len(asks) == storageBillHosts {
			break
		}
		id := identity.NodeID(host)
		endpoint, ok := up[id]
		if !ok || id == n.info.ID {
			continue
		}
		if bills := round.bills(host, billed[id], held); len(bills) > 0 {
			asks = append(asks, storageAsk{host: id, endpoint: endpoint, bills: bills})
		}
	}
	var accepted atomic.Int64
	err = askHosts(ctx, asks, storageBillParallel, func(ctx context.Context, a storageAsk) error {
		// One log line per host and round, however many windows it
		// catches up on.
		var billed, refused windowSpan
		defer func() {
			if billed.windows > 0 {
				n.log.Info("Storage billed", "host", a.host, "windows", billed.windows, "from", billed.from.StartTime().UTC(),
					"until", billed.until.End().UTC(), "units", fixed.Format(billed.units))
			}
			if refused.windows > 0 {
				n.log.Warn("Storage windows not billed", "host", a.host, "windows", refused.windows, "from", refused.from.StartTime().UTC(),
					"until", refused.until.End().UTC(), "err", refused.err)
			}
		}()
		for _, bill := range a.bills {
			units, err := n.billStorageOn(ctx, a.host, a.endpoint, bill)
			switch {
			case err == nil:
				accepted.Add(1)
				billed.add(bill.Window, units, nil)
			case !errors.Is(err, ErrConflict):
				return err // asked again next round
			default:
				// The host refused the window, or this node its receipt:
				// the host returns the same receipt when asked again, and
				// refuses a window before one it billed, so this window
				// is settled as it is.
				refused.add(bill.Window, 0, err)
			}
			if err := n.markStorageBilled(ctx, a.host, bill.Window); err != nil {
				return err
			}
		}
		return nil
	})
	return int(accepted.Load()), err
}

// windowSpan sums what a round did with one host's windows of one kind:
// how many, from which to which, their units, and the last error.
type windowSpan struct {
	windows     int
	from, until ledger.StorageWindow
	units       int64
	err         error
}

func (s *windowSpan) add(w ledger.StorageWindow, units int64, err error) {
	if s.windows == 0 {
		s.from = w
	}
	s.windows++
	s.until, s.units, s.err = w, s.units+units, err
}

// billingRound is the windows one billing round may bill: a run of
// consecutive windows from first to the last that has ended.
type billingRound struct {
	first   ledger.StorageWindow
	windows int
}

// storageRound returns the windows a round at now may bill with windows of
// length d: the last storageLookback that have ended, but none older than
// a host signs or than 1970 (none at all on a clock that reads before the
// end of 1970's first window).
func storageRound(now time.Time, d time.Duration) billingRound {
	last := ledger.LastWindow(now, d)
	n := int64(storageLookback)
	if oldest := now.Add(-maxStorageBillAge).Unix(); oldest > last.Start-(n-1)*last.Seconds {
		n = 0 // even the last began too long ago (windows of weeks)
		if last.Start >= oldest {
			n = (last.Start-oldest)/last.Seconds + 1
		}
	}
	n = min(n, last.Start/last.Seconds+1) // no window before 1970
	if last.Start < 0 {
		n = 0 // a clock before 1970 and one window
	}
	return billingRound{
		first:   ledger.StorageWindow{Start: last.Start - (n-1)*last.Seconds, Seconds: last.Seconds},
		windows: int(n),
	}
}

// bills returns what the round asks host for, oldest first: each window
// that starts at or after until (the end of the newest window the host
// billed this node for or refused; 0 if none), with the bytes of this
// node's shards the host held when it began (held[i] for the round's i-th
// window), where that is worth at least one unit.
func (r billingRound) bills(host string, until int64, held []map[string]int64) []StorageBill {
	var out []StorageBill
	for i := range r.windows {
		w := ledger.StorageWindow{Start: r.first.Start + int64(i)*r.first.Seconds, Seconds: r.first.Seconds}
		if w.Start < until {
			continue
		}
		bill := StorageBill{Window: w, Bytes: held[i][host]}
		if units, err := w.Units(bill.Bytes); err != nil || units == 0 {
			continue // too little to bill this window
		}
		out = append(out, bill)
	}
	return out
}

// storageAsk is one host a billing round asks for its storage receipts.
type storageAsk struct {
	host     identity.NodeID
	endpoint string
	bills    []StorageBill
}

// askHosts runs ask for each of asks, at most parallel at once, and
// returns the errors of those that failed, in the order of asks. Once ctx
// ends, the hosts not yet asked are not asked.
func askHosts(ctx context.Context, asks []storageAsk, parallel int, ask func(context.Context, storageAsk) error) error {
	errs := make([]error, len(asks))
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, a := range asks {
		g.Go(func() error {
			err := ctx.Err()
			if err == nil {
				err = ask(ctx, a)
			}
			if err != nil {
				errs[i] = fmt.Errorf("host %s: %w", a.host, err)
			}
			return nil
		})
	}
	_ = g.Wait() // the functions return nil: their errors are in errs
	return errors.Join(errs...)
}

// billStorageOn asks one host for its receipt for want, checks that it is
// the receipt asked for, for at most the units asked and at no more than
// MaxStoragePrice, accepts it, owes it and hands the acceptance back. It
// returns the receipt's units.
func (n *Node) billStorageOn(ctx context.Context, host identity.NodeID, endpoint string, want StorageBill) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, storageBillTimeout)
	defer cancel()
	r, err := n.settle.remote.StorageReceipt(ctx, endpoint, want)
	if err != nil {
		return 0, err
	}
	if err := checkStorageReceipt(r, host, n.info.ID, want, n.cfg.MaxStoragePrice); err != nil {
		return 0, err
	}
	acc, err := ledger.Accept(n.keys, r)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if _, err := n.settle.settler.AddOwed(ctx, []ledger.Receipt{acc}); err != nil {
		return 0, err
	}
	n.bus.Publish(StorageBilled{Receipt: acc})
	if err := n.settle.remote.Accept(ctx, endpoint, acc); err != nil {
		n.log.Warn("Telling the host of an acceptance failed", "host", host, "seq", r.Seq, "err", err)
	}
	return r.Units, nil
}

// checkStorageReceipt checks a host's answer to want, asked by owner: the
// host's receipt for that window and owner, for some but at most the units
// want is worth, at no more than maxPrice. The receipt's signature was
// checked when it was read. A receipt the host signed but owner must not
// accept is ErrConflict: the host answers the same when asked again. One
// another node signed is not the host's answer at all (the endpoint is
// someone else's now, or someone answers in its place): ErrUnavailable.
func checkStorageReceipt(r ledger.Receipt, host, owner identity.NodeID, want StorageBill, maxPrice int64) error {
	due, err := want.Window.Units(want.Bytes)
	if err != nil {
		return err
	}
	switch {
	case r.NodeID != host:
		return fmt.Errorf("%w: the answer is signed by %s, not the host", ErrUnavailable, r.NodeID)
	case r.ConsumerID != owner:
		return fmt.Errorf("%w: the receipt names consumer %q, not this node", ErrConflict, r.ConsumerID)
	case r.ResourceType != ledger.ResourceStorage || r.JobID != want.Window.JobID(owner):
		return fmt.Errorf("%w: the receipt is for %s job %q, not this window", ErrConflict, r.ResourceType, r.JobID)
	case r.Units < 1 || r.Units > due:
		return fmt.Errorf("%w: the receipt asks for %s units, at most %s are due", ErrConflict, fixed.Format(r.Units), fixed.Format(due))
	case r.UnitPrice > maxPrice:
		return fmt.Errorf("%w: the host's storage price %s is above this node's most, %s (--max-storage-price)",
			ErrConflict, fixed.Format(r.UnitPrice), fixed.Format(maxPrice))
	}
	return nil
}

// storageBills returns, per host, the end (unix seconds) of the newest
// window the host billed this node for or refused.
func (n *Node) storageBills(ctx context.Context) (map[identity.NodeID]int64, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT host, until FROM node_storage_billed`)
	if err != nil {
		return nil, fmt.Errorf("read storage bills: %w", err)
	}
	defer rows.Close()
	out := make(map[identity.NodeID]int64)
	for rows.Next() {
		var host string
		var until int64
		if err := rows.Scan(&host, &until); err != nil {
			return nil, fmt.Errorf("read storage bills: %w", err)
		}
		out[identity.NodeID(host)] = until
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read storage bills: %w", err)
	}
	return out, nil
}

// markStorageBilled records that host billed this node for w, or refused
// to: the next round asks for the windows after it.
func (n *Node) markStorageBilled(ctx context.Context, host identity.NodeID, w ledger.StorageWindow) error {
	if _, err := n.db.ExecContext(ctx, `INSERT INTO node_storage_billed (host, until) VALUES (?, ?)
		ON CONFLICT (host) DO UPDATE SET until = max(until, excluded.until)`, string(host), w.End().Unix()); err != nil {
		return fmt.Errorf("record storage bill of %s: %w", host, err)
	}
	return nil
}

// forgetStorageBills deletes what this node recorded of hosts whose bills
// end before start, the first window a round looks at, or after latest
// (this node's clock and the drift allowed): a round asks them as it asks
// a host it has no record of. So the table holds at most one row per host
// billed within the lookback, and a bill recorded while this node's clock
// ran ahead (a host refuses windows that have not ended by its clock) does
// not hold up the windows after it once the clock is set right.
func (n *Node) forgetStorageBills(ctx context.Context, start, latest int64) error {
	if _, err := n.db.ExecContext(ctx, `DELETE FROM node_storage_billed WHERE until < ? OR until > ?`, start, latest); err != nil {
		return fmt.Errorf("forget storage bills: %w", err)
	}
	return nil
}
