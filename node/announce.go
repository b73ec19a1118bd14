package node

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Defaults for a fresh node's announce: prices in micro-credits.
const (
	defaultComputePrice = 1 * fixed.Scale
	defaultStoragePrice = fixed.Scale / 10
	defaultMinOncall    = 20
	defaultBurstMax     = 80
)

// Bounds of announce and quote values, in micro-units; openapi.yaml's
// Amount schema states the same range (a test compares them).
const (
	// MaxPrice bounds prices so that price x size cannot overflow int64 for
	// any size the API accepts.
	MaxPrice = 1_000_000 * fixed.Scale
	// MaxQuoteSize bounds quoted sizes: a million units or gigabyte-hours.
	MaxQuoteSize = 1_000_000 * fixed.Scale
)

func ensureSettings(ctx context.Context, db *sql.DB, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO node_settings(id, active, compute_price, storage_price,
		min_oncall_percent, burst_percent_max, updated_at) VALUES (1, 1, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO NOTHING`,
		defaultComputePrice, defaultStoragePrice, defaultMinOncall, defaultBurstMax, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("create default settings: %w", err)
	}
	return nil
}

const announceQuery = `SELECT active, compute_price, storage_price, min_oncall_percent,
	burst_percent_max, updated_at FROM node_settings WHERE id = 1`

// Announce returns the host's current status, prices and on-call settings.
func (n *Node) Announce(ctx context.Context) (Announce, error) {
	a := Announce{NodeID: n.info.ID, Name: n.info.Name, Endpoint: n.info.Endpoint}
	var updated int64
	err := n.db.QueryRowContext(ctx, announceQuery).Scan(
		&a.Active, &a.Prices.Compute, &a.Prices.Storage, &a.MinOncallPercent, &a.BurstPercentMax, &updated)
	if err != nil {
		return Announce{}, fmt.Errorf("read settings: %w", err)
	}
	a.UpdatedAt = time.UnixMilli(updated).UTC()
	return a, nil
}

// SetActive switches the host on or off and publishes ToggleChanged.
func (n *Node) SetActive(ctx context.Context, active bool) (Announce, error) {
	if err := n.checkRunning(); err != nil {
		return Announce{}, err
	}
	n.settingsMu.Lock()
	defer n.settingsMu.Unlock()
	if _, err := n.db.ExecContext(ctx, `UPDATE node_settings SET active = ?, updated_at = ? WHERE id = 1`,
		active, n.cfg.Now().UnixMilli()); err != nil {
		return Announce{}, fmt.Errorf("set active: %w", err)
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return Announce{}, err
	}
	n.metrics.active.Set(boolGauge(active))
	n.log.Info("Host toggled", "active", active)
	n.bus.Publish(ToggleChanged{Active: active})
	return a, nil
}

// UpdateAnnounce changes prices and on-call settings. Bad values change
// nothing and return an error wrapping ErrInvalid.
func (n *Node) UpdateAnnounce(ctx context.Context, u AnnounceUpdate) (Announce, error) {
	if err := n.checkRunning(); err != nil {
		return Announce{}, err
	}
	if err := u.validate(); err != nil {
		return Announce{}, err
	}
	n.settingsMu.Lock()
	defer n.settingsMu.Unlock()
	cur, err := n.Announce(ctx)
	if err != nil {
		return Announce{}, err
	}
	next := cur
	if u.ComputePrice != nil {
		next.Prices.Compute = *u.ComputePrice
	}
	if u.StoragePrice != nil {
		next.Prices.Storage = *u.StoragePrice
	}
	if u.MinOncallPercent != nil {
		next.MinOncallPercent = *u.MinOncallPercent
	}
	if u.BurstPercentMax != nil {
		next.BurstPercentMax = *u.BurstPercentMax
	}
	if next.MinOncallPercent > next.BurstPercentMax {
		return Announce{}, nodeerr.Invalidf("min_oncall_percent (%d) must not exceed burst_percent_max (%d)",
			next.MinOncallPercent, next.BurstPercentMax)
	}
	if _, err := n.db.ExecContext(ctx, `UPDATE node_settings SET compute_price = ?, storage_price = ?,
		min_oncall_percent = ?, burst_percent_max = ?, updated_at = ? WHERE id = 1`,
		next.Prices.Compute, next.Prices.Storage, next.MinOncallPercent, next.BurstPercentMax,
		n.cfg.Now().UnixMilli()); err != nil {
		return Announce{}, fmt.Errorf("update settings: %w", err)
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return Announce{}, err
	}
	n.log.Info("Announce updated", "compute", fixed.Format(a.Prices.Compute), "storage", fixed.Format(a.Prices.Storage))
	n.bus.Publish(AnnounceChanged{Announce: a})
	return a, nil
}

func (u AnnounceUpdate) validate() error {
	for _, p := range []struct {
		name string
		v    *int64
	}{{"compute price", u.ComputePrice}, {"storage price", u.StoragePrice}} {
		if p.v != nil && (*p.v < 0 || *p.v > MaxPrice) {
			return nodeerr.Invalidf("%s must be between 0 and %s", p.name, fixed.Format(MaxPrice))
		}
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"min_oncall_percent", u.MinOncallPercent}, {"burst_percent_max", u.BurstPercentMax}} {
		if p.v != nil && (*p.v < 0 || *p.v > 100) {
			return nodeerr.Invalidf("%s must be between 0 and 100", p.name)
		}
	}
	return nil
}

// Quote prices size micro-units of a resource ("compute": units of a
// million tokens; "storage": gigabyte-hours) at the host's current prices. An
// inactive host refuses with ErrInactive.
func (n *Node) Quote(ctx context.Context, kind string, size int64) (Quote, error) {
	if err := n.checkRunning(); err != nil {
		return Quote{}, err
	}
	if size < 0 || size > MaxQuoteSize {
		return Quote{}, nodeerr.Invalidf("size must be between 0 and %s", fixed.Format(MaxQuoteSize))
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return Quote{}, err
	}
	if !a.Active {
		return Quote{}, fmt.Errorf("%w: it gives no quotes", ErrInactive)
	}
	q := Quote{NodeID: n.info.ID, Type: kind, Size: size}
	switch kind {
	case "compute":
		q.UnitPrice = a.Prices.Compute
	case "storage":
		q.UnitPrice = a.Prices.Storage
	default:
		return Quote{}, nodeerr.Invalidf("type must be compute or storage, not %q", kind)
	}
	q.Price, err = fixed.MulCeil(q.UnitPrice, size)
	if err != nil {
		return Quote{}, nodeerr.Invalidf("price out of range: %v", err)
	}
	return q, nil
}
