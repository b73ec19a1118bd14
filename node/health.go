package node

import (
	"context"
	"fmt"
	"time"
)

// healthDBTimeout bounds the database probe of Health: a pool whose every
// connection is busy for longer counts as unhealthy.
const healthDBTimeout = 2 * time.Second

// Health is the node's state of its disk and database, which /healthz
// reports.
type Health struct {
	// DiskFreeBytes is the space left on the data directory's file system;
	// -1 when it cannot be read (DiskErr says why).
	DiskFreeBytes int64
	// MinFreeBytes is Config.MinFreeBytes: below it the disk counts as full.
	MinFreeBytes int64
	DiskErr      error
	// DBErr is why the database did not answer a query, or nil.
	DBErr error
	// DBOpen and DBInUse are the database's open and busy connections.
	DBOpen, DBInUse int
}

// DiskOK reports whether the disk has at least MinFreeBytes free.
func (h Health) DiskOK() bool { return h.DiskErr == nil && h.DiskFreeBytes >= h.MinFreeBytes }

// OK reports whether the node can take work: room on its disk and a
// database that answers.
func (h Health) OK() bool { return h.DiskOK() && h.DBErr == nil }

// Health checks the free space of the data directory and that the database
// answers a query within a short timeout.
func (n *Node) Health(ctx context.Context) Health {
	h := Health{MinFreeBytes: n.cfg.MinFreeBytes}
	h.DiskFreeBytes, h.DiskErr = n.shards.FreeBytes()
	if h.DiskErr != nil {
		h.DiskFreeBytes = -1
	}
	ctx, cancel := context.WithTimeout(ctx, healthDBTimeout)
	defer cancel()
	var one int
	if err := n.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		h.DBErr = fmt.Errorf("database: %w", err)
	}
	st := n.db.Stats()
	h.DBOpen, h.DBInUse = st.OpenConnections, st.InUse
	return h
}
