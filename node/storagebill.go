package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// storageBillTimeout bounds each host's part of a round (the request
	// for its receipt and the acceptance handed back).
	storageBillTimeout = 15 * time.Second
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
// their receipts for the last storage window that has ended, checks and
// accepts them, and records them as owed (they are paid by Settle). Hosts
// already billed for that window since this node started are not asked
// again; asking again after a restart returns the same receipt. It returns
// how many receipts it accepted.
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
	w := ledger.LastWindow(n.cfg.Now(), n.cfg.StorageBillWindow)
	held, err := n.assets.Holdings(ctx, w.StartTime())
	if err != nil {
		return 0, err
	}
	up := n.upPeers(ctx)
	var asks []storageAsk
	for _, host := range slices.Sorted(maps.Keys(held)) {
		if len(asks) == storageBillHosts {
			break
		}
		id := identity.NodeID(host)
		endpoint, ok := up[id]
		if !ok || id == n.info.ID || n.storageBilledUntil(id) >= w.Start {
			continue
		}
		want := StorageBill{Window: w, Bytes: held[host]}
		if units, err := w.Units(want.Bytes); err != nil || units == 0 {
			continue // too little to bill this window
		}
		asks = append(asks, storageAsk{host: id, endpoint: endpoint, bill: want})
	}
	accepted, err := askHosts(ctx, asks, storageBillParallel, func(ctx context.Context, a storageAsk) error {
		return n.billStorageOn(ctx, a.host, a.endpoint, a.bill)
	})
	n.forgetStorageBills(held)
	return accepted, err
}

// storageAsk is one host a billing round asks for its storage receipt.
type storageAsk struct {
	host     identity.NodeID
	endpoint string
	bill     StorageBill
}

// askHosts runs ask for each of asks, at most parallel at once, and
// returns how many succeeded and the others' errors, in the order of asks.
// Once ctx ends, the hosts not yet asked are not asked.
func askHosts(ctx context.Context, asks []storageAsk, parallel int, ask func(context.Context, storageAsk) error) (int, error) {
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
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	return len(asks) - failed, errors.Join(errs...)
}

// billStorageOn asks one host for its receipt for want, checks that it is
// the receipt asked for, for at most the units asked and at no more than
// MaxStoragePrice, accepts it, owes it and hands the acceptance back.
func (n *Node) billStorageOn(ctx context.Context, host identity.NodeID, endpoint string, want StorageBill) error {
	ctx, cancel := context.WithTimeout(ctx, storageBillTimeout)
	defer cancel()
	r, err := n.settle.remote.StorageReceipt(ctx, endpoint, want)
	if err != nil {
		return err
	}
	if err := checkStorageReceipt(r, host, n.info.ID, want, n.cfg.MaxStoragePrice); err != nil {
		return err
	}
	acc, err := ledger.Accept(n.keys, r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if _, err := n.settle.settler.AddOwed(ctx, []ledger.Receipt{acc}); err != nil {
		return err
	}
	n.markStorageBilled(host, want.Window.Start)
	n.log.Info("Storage billed", "host", host, "window", want.Window.StartTime().UTC(), "units", fixed.Format(r.Units))
	n.bus.Publish(StorageBilled{Receipt: acc})
	if err := n.settle.remote.Accept(ctx, endpoint, acc); err != nil {
		n.log.Warn("Telling the host of an acceptance failed", "host", host, "seq", r.Seq, "err", err)
	}
	return nil
}

// checkStorageReceipt checks a host's answer to want, asked by owner: the
// host's receipt for that window and owner, for some but at most the units
// want is worth, at no more than maxPrice. The receipt's signature was
// checked when it was read.
func checkStorageReceipt(r ledger.Receipt, host, owner identity.NodeID, want StorageBill, maxPrice int64) error {
	due, err := want.Window.Units(want.Bytes)
	if err != nil {
		return err
	}
	switch {
	case r.NodeID != host:
		return fmt.Errorf("%w: the receipt is signed by %s", ErrConflict, r.NodeID)
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

// storageBilledUntil is the start of the newest window host billed this
// node for since this node started, or -1.
func (n *Node) storageBilledUntil(host identity.NodeID) int64 {
	n.storageBillMu.Lock()
	defer n.storageBillMu.Unlock()
	if start, ok := n.storageBilled[host]; ok {
		return start
	}
	return -1
}

// markStorageBilled remembers that host billed the window starting at
// start.
func (n *Node) markStorageBilled(host identity.NodeID, start int64) {
	n.storageBillMu.Lock()
	defer n.storageBillMu.Unlock()
	n.storageBilled[host] = max(n.storageBilled[host], start)
}

// forgetStorageBills drops what it remembers of hosts that hold none of
// this node's shards, so the memory holds at most one entry per host the
// node's shards are on.
func (n *Node) forgetStorageBills(held map[string]int64) {
	n.storageBillMu.Lock()
	defer n.storageBillMu.Unlock()
	maps.DeleteFunc(n.storageBilled, func(host identity.NodeID, _ int64) bool {
		_, ok := held[string(host)]
		return !ok
	})
}
